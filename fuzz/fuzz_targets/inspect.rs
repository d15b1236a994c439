//! ELF bytes → `inspect()` and the verify verdict. Any panic is a finding:
//! libfuzzer-sys's panic hook aborts even inside `inspect`'s `catch_unwind`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cargo_slim::elf::inspect(data);
    let v = cargo_slim::elf::verify_elf_bytes("fuzz", data, Some("amd64"));
    assert_eq!(v.passed(), v.errors.is_empty());
});
