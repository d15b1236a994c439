//! Any bytes → the image-archive reader directly (no sniffing), so inputs
//! that no longer look like a tar still reach `Archive::open`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report =
        cargo_slim::verify::verify_archive("fuzz", std::io::Cursor::new(data), Some("amd64"));
    let _ = report.to_json().to_string();
});
