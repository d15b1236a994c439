//! Fixture for the pre-build check: `openssl-sys` without its `vendored` feature.

fn main() {
    // SAFETY: OpenSSL_version_num takes no arguments and only returns a number.
    println!("{:x}", unsafe { openssl_sys::OpenSSL_version_num() });
}
