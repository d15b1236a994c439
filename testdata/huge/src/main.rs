//! cargo-slim's memory-benchmark fixture (scripts/bench-pack --memory).
//!
//! A tiny program over a large embedded payload (written by `build.rs`), so its
//! static release binary is ~128 MiB of read-only data that `strip` keeps and
//! gzip cannot shrink. `huge` prints the payload's size and a checksum, so the
//! data really is part of the program.

static PAYLOAD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/payload.bin"));

fn main() {
    let data = std::hint::black_box(PAYLOAD);
    let sum = data
        .iter()
        .fold(0u64, |a, &b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
    println!("{} bytes, checksum {sum:016x}", data.len());
}
