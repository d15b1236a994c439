//! cargo-slim's bundled example: a program that prints one known line, so the
//! tests can prove the image really starts in an empty scratch filesystem.

fn main() {
    println!("Hello from a FROM-scratch image!");
    // Lets the tests prove that the user's own rustflags reached the build.
    if cfg!(slim_user_flag) {
        println!("user rustflags applied");
    }
    // Hooks for the UPX smoke-run tests: a failing and a hanging program.
    match std::env::args().nth(1).as_deref() {
        Some("--fail") => std::process::exit(3),
        Some("--hang") => std::thread::sleep(std::time::Duration::from_secs(600)),
        _ => {}
    }
}
