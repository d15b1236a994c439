//! Any bytes → the image-archive reader directly (no sniffing), so inputs
//! that no longer look like a tar still reach `oci::Archive::open`: the
//! lenient reader (verify), the strict one (validate), and the listing of
//! every manifest an `index.json` reaches, in both modes.
#![no_main]

use cargo_slim::oci::{Archive, Strictness};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report =
        cargo_slim::verify::verify_archive("fuzz", std::io::Cursor::new(data), Some("amd64"));
    let _ = report.to_json().to_string();
    let _ = cargo_slim::validate::validate_reader(data);
    for mode in [Strictness::Strict, Strictness::Lenient] {
        if let Ok(mut ar) = Archive::open(std::io::Cursor::new(data), mode) {
            let _ = ar.list();
        }
    }
});
