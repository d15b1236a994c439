//! cargo-slim's bundled example: a program that prints one known line, so the
//! tests can prove the image really starts in an empty scratch filesystem.

fn main() {
    println!("Hello from a FROM-scratch image!");
    // Lets the tests prove that the user's own rustflags reached the build.
    if cfg!(slim_user_flag) {
        println!("user rustflags applied");
    }
}
