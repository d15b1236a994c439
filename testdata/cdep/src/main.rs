//! cargo-slim's C fixture: prints what a C function compiled by build.rs returns.

extern "C" {
    fn slim_answer() -> i32;
}

fn main() {
    // SAFETY: slim_answer takes nothing and returns an int.
    let n = unsafe { slim_answer() };
    println!("the C function says {n}");
}
