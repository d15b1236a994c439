//! The fleet's one-shot job: prints `worker done` (with its version and the value of
//! $JOB_NAME, if set, on the line before) and exits 0.

fn main() {
    if let Ok(name) = std::env::var("JOB_NAME") {
        println!("worker {} running job {name}", env!("CARGO_PKG_VERSION"));
    }
    println!("worker done");
}
