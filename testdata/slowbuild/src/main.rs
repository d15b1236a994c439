//! cargo-slim's signal fixture: the program is trivial, its build script is slow.

fn main() {
    println!("slowbuild");
}
