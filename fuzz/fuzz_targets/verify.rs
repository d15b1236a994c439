//! Any bytes → `verify_bytes` (sniffs gzip / tar / ELF like `cargo slim
//! verify PATH`), then the JSON rendering.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = cargo_slim::verify::verify_bytes_uncaught("fuzz", data, None);
    let _ = report.to_json().to_string();
});
