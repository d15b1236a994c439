//! Digests: bytes → `sha256:<hex>`, the one content address every OCI document,
//! blob name and cache key in cargo-slim uses.
//!
//! In: bytes, or a stream of them ([`Sha256Writer`]). Out: lowercase hex and the
//! `sha256:<hex>` form of the OCI image spec. Why one module: the image writer, the
//! archive reader, the validator, push and the tests must agree on the spelling
//! byte for byte, so there is exactly one way to make and to check a digest.

use sha2::{Digest as _, Sha256};

/// Lowercase hex of any bytes (a digest, usually).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Lowercase hex sha256 of `bytes` (a blob's file name under `blobs/sha256/`).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// `sha256:<hex>` of `bytes`: an OCI descriptor's `digest`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// Whether `s` is 64 lowercase hex digits (what follows `sha256:`).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The hex part of a well-formed `sha256:<hex>` digest, else `None`.
pub fn sha256_hex_of(digest: &str) -> Option<&str> {
    digest.strip_prefix("sha256:").filter(|h| is_sha256_hex(h))
}

/// A running sha256 over a stream, with the byte count.
#[derive(Default, Clone)]
pub struct Sha256Writer {
    hash: Sha256,
    len: u64,
}

impl Sha256Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `sha256:<hex>` of everything written.
    pub fn digest(self) -> String {
        format!("sha256:{}", hex(&self.hash.finalize()))
    }
}

impl std::io::Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // sha256("") and sha256("abc") from FIPS 180-2.
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut w = Sha256Writer::new();
        w.update(b"a");
        w.update(b"bc");
        assert_eq!(w.len(), 3);
        assert_eq!(w.digest(), format!("sha256:{}", sha256_hex(b"abc")));
        assert_eq!(hex(&[0, 0x0f, 0xf0, 0xff]), "000ff0ff");
    }

    #[test]
    fn digest_shapes() {
        let good = sha256_hex(b"x");
        assert!(is_sha256_hex(&good));
        assert_eq!(
            sha256_hex_of(&format!("sha256:{good}")),
            Some(good.as_str())
        );
        for bad in [
            "",
            "sha256:",
            "sha512:00",
            &format!("sha256:{}", good.to_uppercase()),
        ] {
            assert_eq!(sha256_hex_of(bad), None, "{bad}");
        }
        assert!(!is_sha256_hex(&good[1..]));
    }
}
