//! `cargo slim verify --key` / `--require-provenance`: the signatures and SLSA
//! provenance attached to each image of a tarball, checked against the image's
//! digest and the key.
//!
//! In: a tarball and, optionally, the public key the provenance must be signed
//! with. Out: one [`ProvenanceCheck`] per platform image — who built it, from
//! what, when (the [`Summary`]), whether a key's signature covers it, or why no
//! attestation passed. Why: a policy admits an image by its provenance only if
//! the statement is about that very image (its subject digest) and, with a key,
//! signed by it; a statement copied from another image, or a signature by
//! another key, proves nothing.
//!
//! Rules, per image: an attestation whose statement names another digest, or
//! that is not an in-toto Statement v1 with a SLSA v1 predicate, fails; with a
//! key, a signed one must verify with it over DSSE's PAE (one by another key is
//! passed over, as `verify --key` passes over another key's signatures) and an
//! unsigned one does not count; without a key, the statement is read as it is
//! (unsigned, or an envelope whose signature nobody checked — said so).

use std::path::Path;

use anyhow::Result;

use super::input::{read_input, Input};
use super::sign::{Evidence, SignatureCheck};
use crate::provenance::{self, Summary};
use crate::sign::{dsse, PublicKey};

/// What `verify` found of one image's provenance.
#[derive(Debug, Clone)]
pub struct ProvenanceCheck {
    /// `sha256:<hex>` of the image manifest.
    pub digest: String,
    pub platform: String,
    /// `Ok`: a statement about this image (`signed`: by the key given); `Err`:
    /// why none passed.
    pub verdict: std::result::Result<Found, String>,
}

/// A statement that passed.
#[derive(Debug, Clone)]
pub struct Found {
    pub summary: Summary,
    /// Signed with the key `verify` was given (false: unsigned, or no key given).
    pub signed_by_key: bool,
    /// Whether it came in a DSSE envelope at all.
    pub enveloped: bool,
}

/// What `verify` checks of a tarball beyond the image: per platform image, its
/// signatures by `key` (when a key is given) and its provenance — one read of
/// the tarball for both.
pub fn check(
    path: &Path,
    key: Option<&PublicKey>,
) -> Result<(Option<Vec<SignatureCheck>>, Vec<ProvenanceCheck>)> {
    let mut signatures = Vec::new();
    let mut provenance = Vec::new();
    for Input {
        image, artifacts, ..
    } in read_input(path)?
    {
        let found = Evidence::of(&artifacts)?;
        let (digest, platform) = (&image.manifest.digest, image.platform.to_string());
        if let Some(k) = key {
            signatures.push(SignatureCheck {
                digest: digest.clone(),
                platform: platform.clone(),
                verdict: super::sign::judge(digest, &found, k),
            });
        }
        provenance.push(ProvenanceCheck {
            verdict: judge(digest, &found.attestations, key),
            digest: digest.clone(),
            platform,
        });
    }
    Ok((key.map(|_| signatures), provenance))
}

/// The first of `docs` (in a DSSE envelope or not, the layer's bytes) that
/// proves how the image `digest` was built (with `key`: signed by it); else why
/// none does.
pub fn judge(
    digest: &str,
    docs: &[(bool, Vec<u8>)],
    key: Option<&PublicKey>,
) -> std::result::Result<Found, String> {
    let mut verdict = Err(match docs.len() {
        0 => "no provenance is attached to it".to_string(),
        n => format!("none of its {n} provenance attestation(s) is signed by the key"),
    });
    for (enveloped, bytes) in docs {
        match one(*enveloped, bytes, digest, key) {
            Some(Ok(found)) => return Ok(found),
            Some(Err(why)) => verdict = Err(why),
            None => {}
        }
    }
    verdict
}

/// One attestation: `None` when it is not for `key` (signed by another key, or
/// unsigned while a key is asked for), else what it proves or why it fails.
fn one(
    enveloped: bool,
    bytes: &[u8],
    digest: &str,
    key: Option<&PublicKey>,
) -> Option<std::result::Result<Found, String>> {
    let statement = match (enveloped, key) {
        (false, Some(_)) => return None,
        (false, None) => bytes.to_vec(),
        (true, Some(k)) => dsse::verify(bytes, dsse::IN_TOTO_PAYLOAD_TYPE, k).ok()?,
        (true, None) => match unverified_payload(bytes) {
            Ok(body) => body,
            Err(why) => return Some(Err(why)),
        },
    };
    let summary = match provenance::summary(&statement) {
        Ok(s) => s,
        Err(f) => return Some(Err(f.what)),
    };
    if !summary.subject.eq_ignore_ascii_case(digest) {
        return Some(Err(format!(
            "its provenance is about another image, {}",
            summary.subject
        )));
    }
    Some(Ok(Found {
        summary,
        signed_by_key: enveloped && key.is_some(),
        enveloped,
    }))
}

/// The payload of a DSSE envelope, its signatures not checked (no key given).
fn unverified_payload(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    use base64::Engine as _;
    let envelope = dsse::parse(bytes).map_err(|f| f.what)?;
    base64::engine::general_purpose::STANDARD
        .decode(&envelope.payload)
        .map_err(|_| "the DSSE envelope's payload is not base64".to_string())
}
