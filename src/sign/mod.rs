//! Signing: keys, the payloads cosign signs, and DSSE envelopes — no network, no CLI.
//!
//! In: bytes to sign and a [`Signer`]; or bytes, a signature and a [`PublicKey`]
//! to check. Out: ASN.1 DER ECDSA P-256 / SHA-256 signatures (what cosign stores,
//! base64, in its `dev.cosignproject.cosign/signature` annotation, and what
//! `openssl dgst -sha256 -verify` checks), and verdicts.
//! Why: images are signed and their provenance attested so a deployment policy
//! (sigstore policy-controller, Kyverno, a CI gate) can admit them; cosign's
//! formats are followed byte for byte so `cosign verify --key` accepts what we
//! write. The modules:
//!
//! - [`keys`]: read a P-256 signing key (PKCS#8, SEC1, cosign's encrypted form,
//!   [`encrypted`]) and a public key; make a new pair as cosign does;
//! - [`payload`]: cosign's simple-signing payload for an image digest;
//! - [`dsse`]: DSSE envelopes (the wrapper of in-toto attestations);
//! - [`bundle`]: Sigstore bundles v0.3 around them (cosign's new bundle format).
//!
//! The key-file signer is one [`Signer`]; a keyless one (a Fulcio certificate for
//! an OIDC identity, the signature logged in Rekor) needs the internet and is not
//! here, but can be added as another implementation without touching the callers:
//! they only ask a `Signer` to sign bytes and for the public key to verify with.

pub mod bundle;
pub mod dsse;
pub mod encrypted;
pub mod keys;
pub mod payload;

use p256::ecdsa::signature::{Signer as _, Verifier as _};

use crate::error::Failure;

pub use keys::{generate, KeyPair, PublicKey, SigningKey};

/// Something that signs bytes: the key-file signer ([`KeySigner`]) now, a keyless
/// (Fulcio) signer later.
pub trait Signer {
    /// An ASN.1 DER ECDSA P-256 signature over SHA-256 of `bytes`.
    fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, Failure>;

    /// The public key a verifier checks the signatures with.
    fn public_key(&self) -> PublicKey;
}

/// A signer holding a private key read from a file (or made in memory).
#[derive(Debug, Clone)]
pub struct KeySigner {
    key: SigningKey,
}

impl KeySigner {
    pub fn new(key: SigningKey) -> Self {
        KeySigner { key }
    }
}

impl Signer for KeySigner {
    fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, Failure> {
        // Deterministic (RFC 6979) nonces: no randomness needed per signature.
        let sig: p256::ecdsa::Signature = self.key.ecdsa().sign(bytes);
        Ok(sig.to_der().as_bytes().to_vec())
    }

    fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }
}

/// Check an ASN.1 DER ECDSA P-256 / SHA-256 signature `sig` over `bytes` with
/// `public`. A signature over other bytes, by another key, or that is not DER is
/// refused.
pub fn verify(public: &PublicKey, bytes: &[u8], sig: &[u8]) -> Result<(), Failure> {
    let sig = p256::ecdsa::Signature::from_der(sig)
        .map_err(|_| Failure::new("the signature is not an ASN.1 DER ECDSA P-256 signature"))?;
    public.ecdsa().verify(bytes, &sig).map_err(|_| {
        Failure::new(format!(
            "the signature does not match: not made by key {} over these bytes",
            short(&public.fingerprint())
        ))
    })
}

/// The first 12 hex digits of a fingerprint, as messages show it.
pub(crate) fn short(fingerprint: &str) -> &str {
    fingerprint.get(..12).unwrap_or(fingerprint)
}

/// A signer with a new random key, for tests.
#[cfg(test)]
pub(crate) fn test_signer() -> KeySigner {
    KeySigner::new(SigningKey::generate().unwrap())
}

#[cfg(test)]
mod tests {
    use super::test_signer as signer;
    use super::*;

    #[test]
    fn a_signature_verifies_over_its_bytes_only() {
        let s = signer();
        let sig = s.sign(b"payload").unwrap();
        verify(&s.public_key(), b"payload", &sig).unwrap();
        let e = verify(&s.public_key(), b"payloaD", &sig).unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
        let other = signer();
        assert!(verify(&other.public_key(), b"payload", &sig).is_err());
        let mut flipped = sig.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(verify(&s.public_key(), b"payload", &flipped).is_err());
        let e = verify(&s.public_key(), b"payload", b"not der").unwrap_err();
        assert!(e.to_string().contains("not an ASN.1 DER"), "{e}");
        assert!(verify(&s.public_key(), b"payload", &[]).is_err());
    }

    #[test]
    fn signatures_are_der_sequences() {
        let sig = signer().sign(b"x").unwrap();
        assert_eq!(sig[0], 0x30, "a DER SEQUENCE");
        assert!((8..=72).contains(&sig.len()), "{}", sig.len());
        assert_eq!(usize::from(sig[1]), sig.len() - 2);
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let key = SigningKey::generate().unwrap();
        let secret_hex = crate::digest::hex(&key.ecdsa().to_bytes());
        let shown = format!("{:?} {:?}", KeySigner::new(key.clone()), key);
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains(&secret_hex), "{shown}");
        assert!(shown.contains(&key.public_key().fingerprint()));
    }
}
