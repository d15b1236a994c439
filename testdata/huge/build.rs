//! Writes the fixture's payload into OUT_DIR: `HUGE_MIB` MiB (default 128) of
//! xorshift64* noise from a fixed seed, so every build embeds the same bytes and
//! gzip cannot shrink them (the layer is as big as the binary, the worst case for
//! memory). The payload is generated, never committed.

use std::env;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HUGE_MIB");
    let mib: u64 = match env::var("HUGE_MIB") {
        Ok(v) => v.parse().expect("HUGE_MIB must be a whole number of MiB"),
        Err(_) => 128,
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("payload.bin");
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&out).expect("create payload.bin"));
    let mut x: u64 = 0x5eed_0128_cafe_f00d;
    for _ in 0..(mib << 20) / 8 {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        w.write_all(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes())
            .expect("write payload.bin");
    }
    w.flush().expect("write payload.bin");
}
