//! Sigstore bundles (v0.3): a signature and what verifies it, in one document, as
//! cosign's new bundle format attaches them to images as OCI 1.1 referrers.
//!
//! In: a DSSE envelope signed with a key ([`super::dsse`]) and that key's public
//! half; or, for an image signature, the image (repository, digest) and a
//! [`Signer`], which signs an in-toto statement about it (predicate
//! [`SIGN_PREDICATE`], cosign's for `cosign sign --new-bundle-format`). Out: the
//! bundle's JSON — `mediaType` [`MEDIA_TYPE_BUNDLE`], `verificationMaterial`
//! naming the key (`publicKey.hint`: the SHA-256 of its DER, hex) with no
//! transparency-log entry (none can be made offline), and the `dsseEnvelope` —
//! canonical JSON, so the same inputs give the same bytes. Why: Sigstore clients
//! that read bundles (cosign v3, sigstore-go, policy-controller in bundle mode)
//! find the signature as a referrer without cosign's tag layout, and a bundle
//! carries everything a verifier needs besides the trusted key.

use serde_json::{json, Value};

use super::dsse::{self, IN_TOTO_PAYLOAD_TYPE};
use super::{PublicKey, Signer};
use crate::error::Failure;
use crate::oci::canonical::canonical_json;

/// `mediaType` of a Sigstore bundle v0.3, also its OCI `artifactType`.
pub const MEDIA_TYPE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// `_type` of an in-toto Statement v1.
const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate of the statement a bundle-format image signature signs.
pub const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// The bundle of the signed DSSE envelope `envelope`, verified by `public`.
pub fn of_envelope(envelope: &[u8], public: &PublicKey) -> Result<Vec<u8>, Failure> {
    // Only a bundle whose signature the key makes good is written.
    dsse::verify(envelope, IN_TOTO_PAYLOAD_TYPE, public)?;
    let env: Value = serde_json::from_slice(envelope)
        .map_err(|e| Failure::new(format!("not a DSSE envelope: {e}")))?;
    Ok(canonical_json(&json!({
        "mediaType": MEDIA_TYPE_BUNDLE,
        "verificationMaterial": {
            "publicKey": {"hint": public.fingerprint()},
            "tlogEntries": [],
        },
        "dsseEnvelope": env,
    })))
}

/// An image signature as a bundle: `signer` signs (DSSE) an in-toto statement
/// naming the image `repository` at `digest`, predicate [`SIGN_PREDICATE`].
pub fn image_signature(
    repository: &str,
    digest: &str,
    signer: &dyn Signer,
) -> Result<Vec<u8>, Failure> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| Failure::new(format!("`{digest}` is not a sha256 digest")))?;
    let statement = canonical_json(&json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": repository, "digest": {"sha256": hex}}],
        "predicateType": SIGN_PREDICATE,
        "predicate": {},
    }));
    let envelope = dsse::sign(IN_TOTO_PAYLOAD_TYPE, &statement, signer)?;
    of_envelope(&envelope, &signer.public_key())
}

/// The DSSE envelope inside a bundle, and the predicate type of its statement.
pub fn envelope_of(bundle: &[u8]) -> Result<(Vec<u8>, String), Failure> {
    let v: Value = serde_json::from_slice(bundle)
        .map_err(|e| Failure::new(format!("the bundle is not JSON: {e}")))?;
    if v["mediaType"] != MEDIA_TYPE_BUNDLE {
        return Err(Failure::new(format!(
            "not a Sigstore bundle v0.3 (`mediaType` {})",
            v["mediaType"]
        )));
    }
    let env = &v["dsseEnvelope"];
    if !env.is_object() {
        return Err(Failure::new("the bundle holds no DSSE envelope"));
    }
    let envelope = serde_json::to_vec(env).unwrap_or_default();
    let payload = dsse::parse(&envelope)?;
    let body = base64_decode(&payload.payload)
        .ok_or_else(|| Failure::new("the bundle's DSSE payload is not base64"))?;
    let statement: Value = serde_json::from_slice(&body).unwrap_or_default();
    let predicate = statement["predicateType"]
        .as_str()
        .unwrap_or("")
        .to_string();
    Ok((envelope, predicate))
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::test_signer;

    #[test]
    fn an_image_signature_bundle_verifies_with_its_key_only() {
        let s = test_signer();
        let digest = format!("sha256:{}", "ab".repeat(32));
        let b = image_signature("localhost/hello", &digest, &s).unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["mediaType"], MEDIA_TYPE_BUNDLE);
        assert_eq!(
            v["verificationMaterial"]["publicKey"]["hint"],
            s.public_key().fingerprint()
        );
        assert_eq!(v["dsseEnvelope"]["payloadType"], IN_TOTO_PAYLOAD_TYPE);
        let (envelope, predicate) = envelope_of(&b).unwrap();
        assert_eq!(predicate, SIGN_PREDICATE);
        let body = dsse::verify(&envelope, IN_TOTO_PAYLOAD_TYPE, &s.public_key()).unwrap();
        let st: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(st["subject"][0]["digest"]["sha256"], "ab".repeat(32));
        assert!(
            dsse::verify(&envelope, IN_TOTO_PAYLOAD_TYPE, &test_signer().public_key()).is_err()
        );
        // Deterministic: the same inputs, the same bytes.
        assert_eq!(image_signature("localhost/hello", &digest, &s).unwrap(), b);
        // Another key's envelope is refused, not bundled.
        let other = dsse::sign(IN_TOTO_PAYLOAD_TYPE, b"{}", &test_signer()).unwrap();
        assert!(of_envelope(&other, &s.public_key()).is_err());
        assert!(envelope_of(b"{\"mediaType\":\"x\"}").is_err());
    }
}
