//! Any bytes → one layer tar of a well-formed image, so every input reaches the
//! layer readers past the outer checks: PAX extended headers (`path`, `uid`,
//! `mtime`, …), GNU long names, the path checks on the long name (`..`,
//! absolute), in the lenient reader (verify) and the strict one (validate).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let image = cargo_slim::testing::image_with_layer(data);
    let report =
        cargo_slim::verify::verify_archive("fuzz", std::io::Cursor::new(&image), Some("amd64"));
    let _ = report.to_json().to_string();
    let _ = cargo_slim::validate::validate_reader(image.as_slice());
});
