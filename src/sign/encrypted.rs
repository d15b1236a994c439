//! cosign's encrypted private key format: the body of an `ENCRYPTED SIGSTORE PRIVATE
//! KEY` (or older `ENCRYPTED COSIGN PRIVATE KEY`) PEM block.
//!
//! In: that body (JSON) and a password; or a PKCS#8 DER key and a password. Out: the
//! PKCS#8 DER key (zeroized on drop); or the JSON body, byte for byte as cosign
//! writes it:
//!
//! ```text
//! {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<base64>"},
//!  "cipher":{"name":"nacl/secretbox","nonce":"<base64>"},"ciphertext":"<base64>"}
//! ```
//!
//! (one line). The secretbox (XSalsa20-Poly1305, the tag before the ciphertext as
//! NaCl lays it out) key is scrypt(password, salt, N, r, p) of 32 bytes. Source: the
//! `encrypted` package of secure-systems-lab/go-securesystemslib, which cosign's
//! `pkg/cosign/keys.go` calls (`encrypted.Encrypt` / `encrypted.Decrypt`).
//! Why: teams keep the key `cosign generate-key-pair` gave them, and a key made
//! here works with cosign. Only the three parameter sets that package accepts are
//! read (N = 2^15, 2^16, 2^17 with r = 8, p = 1): the cost of a key file a user
//! hands us stays bounded (at most 128 MiB and about a second), and a file asking
//! for more is refused, naming what it asked.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use p256::elliptic_curve::zeroize::Zeroizing;
use serde::{Deserialize, Serialize};

use crate::error::Failure;

/// scrypt's log2(N) for keys written here: cosign's default (`N` = 65536).
pub const DEFAULT_LOG_N: u8 = 16;
/// The (log2 N, r, p) sets read: go-securesystemslib's legacy, standard and OWASP.
const ACCEPTED: [(u8, u32, u32); 3] = [(15, 8, 1), (16, 8, 1), (17, 8, 1)];
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
const KDF_NAME: &str = "scrypt";
const CIPHER_NAME: &str = "nacl/secretbox";

/// The JSON document, fields in cosign's order (Go's encoder keeps struct order).
#[derive(Serialize, Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: Params,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct Params {
    #[serde(rename = "N")]
    n: u64,
    r: u64,
    p: u64,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// Encrypt a PKCS#8 DER key with `password` (empty allowed): the JSON body of the
/// PEM block, with a fresh random salt (32 bytes) and nonce (24 bytes).
pub fn seal(pkcs8_der: &[u8], password: &[u8], log_n: u8) -> Result<Vec<u8>, Failure> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut salt)?;
    random(&mut nonce)?;
    let key = derive(password, &salt, log_n)?;
    let ciphertext = XSalsa20Poly1305::new(key.as_slice().into())
        .encrypt(&nonce.into(), pkcs8_der)
        .map_err(|_| Failure::new("could not encrypt the new private key"))?;
    let sealed = Sealed {
        kdf: Kdf {
            name: KDF_NAME.into(),
            params: Params {
                n: 1 << log_n,
                r: 8,
                p: 1,
            },
            salt: STANDARD.encode(salt),
        },
        cipher: Cipher {
            name: CIPHER_NAME.into(),
            nonce: STANDARD.encode(nonce),
        },
        ciphertext: STANDARD.encode(ciphertext),
    };
    serde_json::to_vec(&sealed).map_err(|e| Failure::new(format!("could not encode the key: {e}")))
}

/// Decrypt the JSON body of a cosign key named `name` (for messages) with
/// `password`: the PKCS#8 DER bytes inside.
pub fn open(body: &[u8], password: &[u8], name: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let malformed = |why: &str| {
        Failure::new(format!(
            "`{name}` is not a readable cosign private key: {why}"
        ))
        .help("regenerate it with `cargo slim keygen` or `cosign generate-key-pair`")
    };
    let sealed: Sealed = serde_json::from_slice(body).map_err(|e| malformed(&e.to_string()))?;
    if sealed.kdf.name != KDF_NAME || sealed.cipher.name != CIPHER_NAME {
        return Err(malformed(&format!(
            "it uses {} with {}, not scrypt with nacl/secretbox",
            sealed.kdf.name, sealed.cipher.name
        )));
    }
    let log_n = accepted_log_n(&sealed.kdf.params).ok_or_else(|| {
        let Params { n, r, p } = sealed.kdf.params;
        Failure::new(format!(
            "`{name}` asks for scrypt parameters N={n} r={r} p={p}, which cargo slim does not accept"
        ))
        .detail("accepted: N = 32768, 65536 or 131072 with r = 8 and p = 1 (what cosign writes)")
        .help("re-encrypt the key with `cosign import-key-pair`, or make a new one with `cargo slim keygen`")
    })?;
    let decode = |field: &str, text: &str| {
        STANDARD
            .decode(text)
            .map_err(|_| malformed(&format!("its {field} is not base64")))
    };
    let salt = decode("salt", &sealed.kdf.salt)?;
    let nonce = decode("nonce", &sealed.cipher.nonce)?;
    let ciphertext = decode("ciphertext", &sealed.ciphertext)?;
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| malformed("its nonce is not 24 bytes"))?;
    let key = derive(password, &salt, log_n)?;
    XSalsa20Poly1305::new(key.as_slice().into())
        .decrypt(&nonce.into(), ciphertext.as_slice())
        .map(Zeroizing::new)
        .map_err(|_| {
            Failure::new(format!("wrong password for `{name}`, or not a cosign key"))
                .help("set COSIGN_PASSWORD (or CARGO_SLIM_KEY_PASSWORD) to the key's password; an empty value is a valid password")
        })
}

/// log2(N) when (N, r, p) is one of the accepted sets.
fn accepted_log_n(params: &Params) -> Option<u8> {
    ACCEPTED.iter().find_map(|&(log_n, r, p)| {
        (params.n == 1 << log_n && params.r == u64::from(r) && params.p == u64::from(p))
            .then_some(log_n)
    })
}

/// scrypt(password, salt, 2^log_n, 8, 1) → the 32-byte secretbox key.
fn derive(password: &[u8], salt: &[u8], log_n: u8) -> Result<Zeroizing<[u8; KEY_LEN]>, Failure> {
    let bad = || Failure::new("scrypt refused its parameters (a bug in cargo slim)");
    let params = scrypt::Params::new(log_n, 8, 1).map_err(|_| bad())?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    scrypt::scrypt(password, salt, &params, key.as_mut_slice()).map_err(|_| bad())?;
    Ok(key)
}

/// Fill `buf` from the operating system's random source.
fn random(buf: &mut [u8]) -> Result<(), Failure> {
    getrandom::fill(buf)
        .map_err(|e| Failure::new(format!("the system's random source failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(n: u64, r: u64, p: u64) -> Params {
        Params { n, r, p }
    }

    #[test]
    fn only_cosigns_three_parameter_sets_are_accepted() {
        for (n, r, p, want) in [
            (32768, 8, 1, Some(15)),
            (65536, 8, 1, Some(16)),
            (131072, 8, 1, Some(17)),
            (1 << 20, 8, 1, None),
            (16384, 8, 1, None),
            (65536, 16, 1, None),
            (65536, 8, 2, None),
            (65537, 8, 1, None),
            (0, 0, 0, None),
        ] {
            assert_eq!(accepted_log_n(&params(n, r, p)), want, "N={n} r={r} p={p}");
        }
    }

    #[test]
    fn the_json_is_cosigns_byte_layout() {
        // Smallest accepted cost: the layout does not depend on N.
        let body = seal(b"der", b"pw", 15).unwrap();
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(
            text.starts_with(
                r#"{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":""#
            ),
            "{text}"
        );
        assert!(text.contains(r#""},"cipher":{"name":"nacl/secretbox","nonce":""#));
        assert!(text.contains(r#""},"ciphertext":""#) && text.ends_with("\"}"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let b64 = |p: &str| {
            STANDARD
                .decode(v.pointer(p).unwrap().as_str().unwrap())
                .unwrap()
        };
        assert_eq!(b64("/kdf/salt").len(), 32);
        assert_eq!(b64("/cipher/nonce").len(), 24);
        // The Poly1305 tag (16 bytes) comes with the ciphertext.
        assert_eq!(b64("/ciphertext").len(), 3 + 16);
        assert_eq!(&*open(&body, b"pw", "k").unwrap(), b"der");
    }

    #[test]
    fn a_wrong_password_is_named_and_never_echoed() {
        let body = seal(b"secret der", b"right-password", 15).unwrap();
        let e = open(&body, b"wrong-password", "cosign.key").unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(
            text.contains("wrong password for `cosign.key`, or not a cosign key"),
            "{text}"
        );
        assert!(!text.contains("right-password") && !text.contains("wrong-password"));
        assert!(!text.contains("secret der"));
        // The empty password is a password like any other.
        let empty = seal(b"x", b"", 15).unwrap();
        assert_eq!(&*open(&empty, b"", "k").unwrap(), b"x");
        assert!(open(&empty, b" ", "k").is_err());
    }

    #[test]
    fn an_expensive_or_foreign_kdf_is_refused_before_any_work() {
        let body = seal(b"x", b"", 15).unwrap();
        let text = String::from_utf8(body).unwrap();
        let costly = text.replace(r#""N":32768"#, r#""N":1073741824"#);
        let e = open(costly.as_bytes(), b"", "k.key").unwrap_err();
        assert!(e.to_string().contains("N=1073741824 r=8 p=1"), "{e}");
        let r16 = text.replace(r#""r":8"#, r#""r":16"#);
        assert!(open(r16.as_bytes(), b"", "k.key").is_err());
        let argon = text.replace(r#""name":"scrypt""#, r#""name":"argon2""#);
        let e = open(argon.as_bytes(), b"", "k.key").unwrap_err();
        assert!(e.to_string().contains("argon2"), "{e}");
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        let body = seal(b"0123456789", b"", 15).unwrap();
        for cut in [0, 1, 10, body.len() / 2, body.len() - 1] {
            assert!(open(&body[..cut], b"", "k").is_err(), "cut at {cut}");
        }
        let text = String::from_utf8(body).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let nonce = v["cipher"]["nonce"].as_str().unwrap();
        let short = text.replace(nonce, &STANDARD.encode([0u8; 8]));
        let e = open(short.as_bytes(), b"", "k").unwrap_err();
        assert!(e.to_string().contains("nonce is not 24 bytes"), "{e}");
        let not_b64 = text.replace(nonce, "!!!");
        assert!(open(not_b64.as_bytes(), b"", "k").is_err());
        let ct = v["ciphertext"].as_str().unwrap();
        let flipped = text.replace(ct, &STANDARD.encode(vec![7u8; 26]));
        let e = open(flipped.as_bytes(), b"", "k").unwrap_err();
        assert!(e.to_string().contains("wrong password"), "{e}");
    }
}
