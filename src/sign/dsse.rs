//! DSSE envelopes: the signed wrapper of in-toto attestations (SLSA provenance).
//!
//! In: a payload type (e.g. `application/vnd.in-toto+json`), the payload bytes and
//! a [`Signer`]; or envelope JSON and a [`PublicKey`]. Out: the envelope JSON; or
//! the verified payload bytes.
//!
//! ```text
//! {"payloadType":T,"payload":B64,"signatures":[{"keyid":"","sig":B64}]}
//! ```
//!
//! The signature is over PAE(type, body) =
//! `DSSEv1 SP len(type) SP type SP len(body) SP body` (lengths in ASCII decimal,
//! bytes) — the DSSE protocol (secure-systems-lab/dsse `protocol.md`). The JSON is
//! what cosign writes (sigstore/sigstore `pkg/signature/dsse/dsse.go` marshals
//! go-securesystemslib's `dsse.Envelope`): fields in that order, standard base64
//! with padding. `keyid` is always written and always empty, as cosign writes it:
//! go-securesystemslib's verifier skips a signature whose non-empty keyid differs
//! from the keyid it computes for its key (an SSH-style fingerprint), so any
//! keyid of ours could only make `cosign verify-attestation` miss the signature.
//! Reading accepts standard or URL-safe base64, as go-securesystemslib does.
//! Why: attestations are DSSE-wrapped everywhere (cosign's `.att` tags, Sigstore
//! bundles, the in-toto tools), and PAE binds the payload type to the payload.

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{PublicKey, Signer};
use crate::error::Failure;

/// The payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Larger envelopes are refused unread (a provenance statement is a few hundred KiB
/// at most, even with every crate of a big graph).
pub const MAX_ENVELOPE: usize = 16 << 20;

/// A DSSE envelope, fields in cosign's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Base64 of the payload.
    pub payload: String,
    pub signatures: Vec<Signature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Always written; empty (see the module docs).
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the ASN.1 DER signature over the PAE.
    pub sig: String,
}

/// The Pre-Authentication Encoding of `payload_type` and `body`: the bytes signed.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Sign `body` of type `payload_type`: the envelope's JSON.
pub fn sign(payload_type: &str, body: &[u8], signer: &dyn Signer) -> Result<Vec<u8>, Failure> {
    let sig = signer.sign(&pae(payload_type, body))?;
    let envelope = Envelope {
        payload_type: payload_type.to_string(),
        payload: STANDARD.encode(body),
        signatures: vec![Signature {
            keyid: String::new(),
            sig: STANDARD.encode(sig),
        }],
    };
    serde_json::to_vec(&envelope)
        .map_err(|e| Failure::new(format!("could not encode the DSSE envelope: {e}")))
}

/// Parse envelope JSON (no signature checked).
pub fn parse(json: &[u8]) -> Result<Envelope, Failure> {
    if json.len() > MAX_ENVELOPE {
        return Err(Failure::new(format!(
            "the DSSE envelope is {} bytes: more than the {MAX_ENVELOPE} accepted",
            json.len()
        )));
    }
    serde_json::from_slice(json).map_err(|e| Failure::new(format!("not a DSSE envelope: {e}")))
}

/// Check that one signature of the envelope `json` is `public`'s over the PAE of
/// its payload, and that its payload type is `payload_type`: the payload bytes.
pub fn verify(json: &[u8], payload_type: &str, public: &PublicKey) -> Result<Vec<u8>, Failure> {
    let envelope = parse(json)?;
    if envelope.payload_type != payload_type {
        return Err(Failure::new(format!(
            "the DSSE envelope holds `{}`, not `{payload_type}`",
            envelope.payload_type
        )));
    }
    let body = decode_b64(&envelope.payload)
        .ok_or_else(|| Failure::new("the DSSE envelope's payload is not base64"))?;
    if envelope.signatures.is_empty() {
        return Err(Failure::new("the DSSE envelope has no signature"));
    }
    let signed = pae(&envelope.payload_type, &body);
    let matched = envelope.signatures.iter().any(|s| {
        decode_b64(&s.sig).is_some_and(|sig| super::verify(public, &signed, &sig).is_ok())
    });
    if matched {
        Ok(body)
    } else {
        Err(Failure::new(format!(
            "no signature of the DSSE envelope ({} found) is by key {} over its payload",
            envelope.signatures.len(),
            super::short(&public.fingerprint())
        )))
    }
}

/// Standard base64, else URL-safe (both padded), as go-securesystemslib reads it.
fn decode_b64(text: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::test_signer as signer;

    #[test]
    fn pae_follows_the_dsse_protocol() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
        // Lengths count bytes, not characters.
        assert_eq!(pae("t", "é".as_bytes()), "DSSEv1 1 t 2 é".as_bytes());
    }

    #[test]
    fn an_envelope_round_trips_in_cosigns_layout() {
        let s = signer();
        let json = sign(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}", &s).unwrap();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(
            text.starts_with(
                r#"{"payloadType":"application/vnd.in-toto+json","payload":"eyJhIjoxfQ==","signatures":[{"keyid":"","sig":""#
            ),
            "{text}"
        );
        let body = verify(&json, IN_TOTO_PAYLOAD_TYPE, &s.public_key()).unwrap();
        assert_eq!(body, b"{\"a\":1}");
        // The signature is over the PAE, checkable with the plain verifier.
        let env = parse(&json).unwrap();
        let sig = STANDARD.decode(&env.signatures[0].sig).unwrap();
        crate::sign::verify(
            &s.public_key(),
            &pae(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}"),
            &sig,
        )
        .unwrap();
    }

    #[test]
    fn tampering_another_key_or_type_is_refused() {
        let s = signer();
        let json = sign(IN_TOTO_PAYLOAD_TYPE, b"statement", &s).unwrap();
        let mut env = parse(&json).unwrap();
        let e = verify(&json, "text/plain", &s.public_key()).unwrap_err();
        assert!(e.to_string().contains("not `text/plain`"), "{e}");
        let e = verify(&json, IN_TOTO_PAYLOAD_TYPE, &signer().public_key()).unwrap_err();
        assert!(e.to_string().contains("no signature"), "{e}");
        // Another payload under the same signature.
        env.payload = STANDARD.encode(b"statemenT");
        let forged = serde_json::to_vec(&env).unwrap();
        assert!(verify(&forged, IN_TOTO_PAYLOAD_TYPE, &s.public_key()).is_err());
        // The type is bound by the PAE: changing it breaks the signature.
        let mut retyped = parse(&json).unwrap();
        retyped.payload_type = "text/plain".into();
        let retyped = serde_json::to_vec(&retyped).unwrap();
        assert!(verify(&retyped, "text/plain", &s.public_key()).is_err());
        env.signatures.clear();
        let unsigned = serde_json::to_vec(&env).unwrap();
        let e = verify(&unsigned, IN_TOTO_PAYLOAD_TYPE, &s.public_key()).unwrap_err();
        assert!(e.to_string().contains("has no signature"), "{e}");
        for cut in [0, 1, json.len() / 2, json.len() - 1] {
            assert!(verify(&json[..cut], IN_TOTO_PAYLOAD_TYPE, &s.public_key()).is_err());
        }
    }

    #[test]
    fn url_safe_base64_and_a_missing_keyid_are_read() {
        let s = signer();
        let body = b"\xfb\xff\xfe payload with bytes that differ in the two alphabets";
        let sig = s.sign(&pae(IN_TOTO_PAYLOAD_TYPE, body)).unwrap();
        let json = serde_json::json!({
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "payload": URL_SAFE.encode(body),
            "signatures": [{"sig": URL_SAFE.encode(sig)}],
        });
        let got = verify(
            json.to_string().as_bytes(),
            IN_TOTO_PAYLOAD_TYPE,
            &s.public_key(),
        );
        assert_eq!(got.unwrap(), body);
    }
}
