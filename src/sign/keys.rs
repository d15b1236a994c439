//! ECDSA P-256 keys: read a signing key and a public key, make a new pair.
//!
//! In: PEM text (or a file of it) and, for an encrypted key, a password. Out: a
//! [`SigningKey`] or a [`PublicKey`]; [`generate`] gives a new [`KeyPair`] as
//! `cosign generate-key-pair` writes it (`cosign.key` in cosign's encrypted format,
//! `cosign.pub` as a PEM `PUBLIC KEY`).
//! Why: a signature is only as good as the key handling. Private keys are read from
//! the three forms teams have — PEM PKCS#8 `PRIVATE KEY` (unencrypted), PEM SEC1 `EC
//! PRIVATE KEY` (what `openssl ecparam -genkey` prints, its `EC PARAMETERS` block
//! skipped) and cosign's `ENCRYPTED SIGSTORE PRIVATE KEY` / `ENCRYPTED COSIGN PRIVATE
//! KEY` ([`super::encrypted`]) — and public keys from PEM SPKI. Only P-256 is
//! accepted (cosign's default; an RSA, Ed25519 or other-curve key is refused,
//! naming what it is). No error message, `Debug` output or panic ever contains key
//! material or the password: the types here implement `Debug` by hand and show
//! only the public key's fingerprint.

use std::io::Read;
use std::path::Path;

use p256::elliptic_curve::zeroize::Zeroizing;
use p256::elliptic_curve::Generate;
use p256::pkcs8::der::pem;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};

use crate::error::{io_failure, Failure};

use super::encrypted;

/// PEM label of the keys cosign writes (since v2).
pub const SIGSTORE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// PEM label of the keys older cosign versions wrote; read, never written.
pub const COSIGN_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
const PKCS8_LABEL: &str = "PRIVATE KEY";
const SEC1_LABEL: &str = "EC PRIVATE KEY";
const PUBLIC_LABEL: &str = "PUBLIC KEY";
/// A key file is a few hundred bytes; anything past this is not one.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// An ECDSA P-256 private key, ready to sign.
#[derive(Clone)]
pub struct SigningKey {
    secret: p256::SecretKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public_key().fingerprint())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// A new random key from the operating system's random source.
    pub fn generate() -> Result<Self, Failure> {
        p256::SecretKey::try_generate()
            .map(|secret| SigningKey { secret })
            .map_err(|e| Failure::new(format!("the system's random source failed: {e}")))
    }

    /// Read a private key from PEM text: PKCS#8, SEC1, or cosign's encrypted form
    /// (decrypted with `password`; the others ignore it). `name` (usually the
    /// path) names the key in errors.
    pub fn from_pem(text: &[u8], password: &[u8], name: &str) -> Result<Self, Failure> {
        let (label, der) = first_block(text, name, "a private key")?;
        let secret = match label.as_str() {
            SIGSTORE_LABEL | COSIGN_LABEL => {
                let pkcs8 = encrypted::open(&der, password, name)?;
                p256::SecretKey::from_pkcs8_der(&pkcs8).map_err(|_| not_p256(name, &pkcs8))?
            }
            PKCS8_LABEL => {
                p256::SecretKey::from_pkcs8_der(&der).map_err(|_| not_p256(name, &der))?
            }
            SEC1_LABEL => p256::SecretKey::from_sec1_der(&der).map_err(|_| {
                Failure::new(format!("`{name}` is not an ECDSA P-256 key (a SEC1 EC key on another curve, or damaged)"))
                    .help("cargo slim signs with P-256 keys, as `cosign generate-key-pair` makes them")
            })?,
            other => return Err(unexpected_label(name, other, "a private key")),
        };
        Ok(SigningKey { secret })
    }

    /// [`SigningKey::from_pem`] of the file at `path` (a regular file of at most 64 KiB).
    pub fn read(path: &Path, password: &[u8]) -> Result<Self, Failure> {
        let text = read_key_file(path, "a private key file")?;
        Self::from_pem(&text, password, &path.display().to_string())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.secret.public_key(),
        }
    }

    /// The key for `p256::ecdsa` signing.
    pub(crate) fn ecdsa(&self) -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from(&self.secret)
    }

    /// PKCS#8 DER of the key (zeroized on drop): what cosign's format encrypts.
    fn pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Failure> {
        self.secret
            .to_pkcs8_der()
            .map(|doc| Zeroizing::new(doc.as_bytes().to_vec()))
            .map_err(|e| Failure::new(format!("could not encode the private key: {e}")))
    }
}

/// An ECDSA P-256 public key, to verify with.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: p256::PublicKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PublicKey")
            .field(&self.fingerprint())
            .finish()
    }
}

impl PublicKey {
    /// Read a PEM `PUBLIC KEY` (SPKI). `name` names it in errors.
    pub fn from_pem(text: &[u8], name: &str) -> Result<Self, Failure> {
        let (label, der) = first_block(text, name, "a public key")?;
        if label != PUBLIC_LABEL {
            return Err(unexpected_label(name, &label, "a public key"));
        }
        p256::PublicKey::from_public_key_der(&der)
            .map(|key| PublicKey { key })
            .map_err(|_| {
                Failure::new(format!(
                    "`{name}` is not an ECDSA P-256 public key ({})",
                    algorithm_of_spki(&der)
                ))
                .help("cargo slim verifies P-256 keys, as `cosign generate-key-pair` makes them")
            })
    }

    /// [`PublicKey::from_pem`] of the file at `path`.
    pub fn read(path: &Path) -> Result<Self, Failure> {
        let text = read_key_file(path, "a public key file")?;
        Self::from_pem(&text, &path.display().to_string())
    }

    /// PEM `PUBLIC KEY`, 64-column lines, `\n` line ends (as cosign writes it).
    pub fn to_pem(&self) -> String {
        pem::encode_string(PUBLIC_LABEL, LineEnding::LF, &self.to_der())
            .expect("a P-256 SPKI document always encodes as PEM")
    }

    /// The SubjectPublicKeyInfo DER bytes.
    pub fn to_der(&self) -> Vec<u8> {
        self.key
            .to_public_key_der()
            .expect("a P-256 public key always encodes as SPKI")
            .into_vec()
    }

    /// Lowercase hex SHA-256 of [`PublicKey::to_der`]: a name for the key in
    /// messages, safe to print.
    pub fn fingerprint(&self) -> String {
        crate::digest::sha256_hex(&self.to_der())
    }

    /// The key for `p256::ecdsa` verification.
    pub(crate) fn ecdsa(&self) -> p256::ecdsa::VerifyingKey {
        p256::ecdsa::VerifyingKey::from(&self.key)
    }
}

/// A new key pair as PEM text; `Debug` never shows the private part.
pub struct KeyPair {
    /// `ENCRYPTED SIGSTORE PRIVATE KEY` PEM (zeroized on drop).
    pub private_pem: Zeroizing<String>,
    /// `PUBLIC KEY` PEM.
    pub public_pem: String,
    /// The public key itself.
    pub public: PublicKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("private_pem", &"<redacted>")
            .field("public", &self.public)
            .finish()
    }
}

/// A new P-256 key pair: the private key in cosign's encrypted format under
/// `password` (empty allowed; scrypt N=65536 r=8 p=1, random salt and nonce), the
/// public key as PEM — what `cosign generate-key-pair` writes.
pub fn generate(password: &[u8]) -> Result<KeyPair, Failure> {
    generate_with(password, encrypted::DEFAULT_LOG_N)
}

/// [`generate`] with scrypt N = 2^`log_n` (tests use the cheapest accepted cost).
pub(crate) fn generate_with(password: &[u8], log_n: u8) -> Result<KeyPair, Failure> {
    let key = SigningKey::generate()?;
    let body = Zeroizing::new(encrypted::seal(&key.pkcs8_der()?, password, log_n)?);
    let private_pem = pem::encode_string(SIGSTORE_LABEL, LineEnding::LF, &body)
        .map(Zeroizing::new)
        .map_err(|e| Failure::new(format!("could not encode the private key: {e}")))?;
    let public = key.public_key();
    Ok(KeyPair {
        private_pem,
        public_pem: public.to_pem(),
        public,
    })
}

/// Read a key file: a regular file, at most [`MAX_KEY_FILE`] bytes.
fn read_key_file(path: &Path, expected: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let (file, size) = crate::io::open_regular(path, expected)?;
    if size > MAX_KEY_FILE {
        return Err(Failure::new(format!(
            "`{}` is {size} bytes: too large for a key file",
            path.display()
        ))
        .help("pass the PEM file of the key (a few hundred bytes)"));
    }
    let mut text = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE)
        .read_to_end(&mut text)
        .map_err(|e| io_failure("read", path, &e))?;
    Ok(text)
}

/// The first PEM block of `text` that is not `EC PARAMETERS`: its label and DER
/// bytes (zeroized on drop). Text around and between blocks is skipped, as Go's
/// `pem.Decode` (which cosign uses) skips it.
fn first_block(
    text: &[u8],
    name: &str,
    expected: &str,
) -> Result<(String, Zeroizing<Vec<u8>>), Failure> {
    let not_pem = |why: &str| {
        Failure::new(format!("`{name}` is not {expected} in PEM form: {why}")).help(
            "pass the PEM file (it starts with a `-----BEGIN ...-----` line), e.g. cosign.key or cosign.pub",
        )
    };
    let text = std::str::from_utf8(text).map_err(|_| not_pem("it is not text"))?;
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let label_end = block["-----BEGIN ".len()..]
            .find("-----")
            .ok_or_else(|| not_pem("a BEGIN line is cut short"))?;
        let label = &block["-----BEGIN ".len()..][..label_end];
        let end_line = format!("-----END {label}-----");
        let end = block
            .find(&end_line)
            .ok_or_else(|| not_pem(&format!("the `{label}` block has no END line")))?;
        let (whole, after) = block.split_at(end + end_line.len());
        rest = after;
        if label == "EC PARAMETERS" {
            continue;
        }
        let der =
            pem_body(whole).ok_or_else(|| not_pem(&format!("the `{label}` block is damaged")))?;
        return Ok((label.to_string(), der));
    }
    Err(not_pem("no PEM block found"))
}

/// The DER inside one PEM block (its BEGIN and END lines included), read as
/// Go's `pem.Decode` (cosign's reader) reads it: any line length (64 columns
/// is what writers use; other tools wrap at 76), `\r\n` or `\n`, RFC 1421
/// headers (`Key: value` lines) skipped; the base64 must be well-formed.
fn pem_body(block: &str) -> Option<Zeroizing<Vec<u8>>> {
    use base64::Engine as _;
    let mut lines = block.lines();
    lines.next()?; // BEGIN
                   // Sized up front: no reallocation leaves a copy of a key's base64 behind.
    let mut b64 = Zeroizing::new(String::with_capacity(block.len()));
    for line in lines {
        let line = line.trim();
        if line.starts_with("-----END ") {
            break;
        }
        if line.contains(':') {
            continue;
        }
        b64.push_str(line);
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .ok()?;
    (!der.is_empty()).then(|| Zeroizing::new(der))
}

/// An error for a PEM block of another kind than `expected`.
fn unexpected_label(name: &str, label: &str, expected: &str) -> Failure {
    let f = Failure::new(format!("`{name}` holds a `{label}`, not {expected}"));
    match label {
        PUBLIC_LABEL => f.help("sign with the private key (e.g. cosign.key); cosign.pub is for verifying"),
        SIGSTORE_LABEL | COSIGN_LABEL | PKCS8_LABEL | SEC1_LABEL => {
            f.help("verify with the public key (e.g. cosign.pub), never the private one")
        }
        "ENCRYPTED PRIVATE KEY" => f.help(
            "PKCS#8 with a password is not read: convert it with `cosign import-key-pair --key FILE`",
        ),
        _ => f.help("cargo slim reads P-256 keys: cosign's encrypted key, PEM `PRIVATE KEY` or `EC PRIVATE KEY`, and `PUBLIC KEY`"),
    }
}

/// The "not P-256" error for a PKCS#8 document, naming the algorithm it holds.
fn not_p256(name: &str, pkcs8: &[u8]) -> Failure {
    use p256::pkcs8::der::Decode as _;
    if p256::SecretKey::from_sec1_der(pkcs8).is_ok() {
        // cosign refuses these too (the `pemcosigneckey` vector of its keys_test.go).
        return Failure::new(format!(
            "`{name}` encrypts a SEC1 `EC PRIVATE KEY` where cosign's format holds PKCS#8"
        ))
        .help("re-encrypt it with `cosign import-key-pair`, or make a new pair with `cargo slim keygen`");
    }
    let what = p256::pkcs8::PrivateKeyInfoRef::from_der(pkcs8)
        .map(|info| describe_algorithm(&info.algorithm))
        .unwrap_or("a damaged PKCS#8 document");
    Failure::new(format!("`{name}` is not an ECDSA P-256 key ({what})"))
        .help("cargo slim signs with P-256 keys, as `cosign generate-key-pair` makes them")
}

/// What a SubjectPublicKeyInfo that is not P-256 holds.
fn algorithm_of_spki(der: &[u8]) -> &'static str {
    use p256::pkcs8::der::Decode as _;
    p256::pkcs8::spki::SubjectPublicKeyInfoRef::from_der(der)
        .map(|info| describe_algorithm(&info.algorithm))
        .unwrap_or("a damaged SPKI document")
}

/// A key algorithm in words, for errors.
fn describe_algorithm(alg: &p256::pkcs8::AlgorithmIdentifierRef<'_>) -> &'static str {
    match alg.oid.to_string().as_str() {
        "1.2.840.10045.2.1" => match alg.parameters_oid().map(|o| o.to_string()).as_deref() {
            Ok("1.2.840.10045.3.1.7") => "a damaged P-256 key",
            Ok("1.3.132.0.34") => "an ECDSA P-384 key",
            Ok("1.3.132.0.35") => "an ECDSA P-521 key",
            _ => "an EC key on another curve",
        },
        "1.2.840.113549.1.1.1" => "an RSA key",
        "1.3.101.112" => "an Ed25519 key",
        _ => "a key of another algorithm",
    }
}

#[cfg(test)]
mod tests;
