//! `cargo slim sign TARBALL --key KEY`: cosign signatures of the images in a
//! tarball, attached inside it.
//!
//! In: a tarball `cargo slim build` or `cargo slim index` wrote, and a
//! [`Signer`] (the key file, read by the binary with its password). Out: the same
//! tarball, rewritten atomically, with one cosign signature artifact
//! ([`Artifact::signature`]) per platform image manifest, and the
//! [`SignOutcome`] listing the digests signed. Why: a tarball carried into an
//! air-gapped site carries its signatures, and `push` writes them where
//! `cosign verify --key` looks (`sha256-<hex>.sig`).
//!
//! What is signed: each image manifest's digest, over cosign's simple-signing
//! payload whose `docker-reference` is the image's repository as the tarball
//! names it (`localhost/hello` for `localhost/hello:0.1.0`): the name the image
//! was built as, whatever registry it is later pushed to (`cosign verify` checks
//! the digest, not this name). The multi-platform image index is not signed: the
//! tarball's index lists the attached artifacts, so a signature attached to it
//! would change the digest it signs; sign the pushed index with cosign.
//!
//! A re-sign with the same key replaces that key's signature (ECDSA nonces are
//! deterministic, so an unchanged image gives the same bytes and the file is not
//! rewritten); a signature of another key is kept beside it. The result is
//! validated like every tarball before it replaces the input.

use std::path::{Path, PathBuf};

use anyhow::Result;
use base64::Engine as _;

use super::input::{read_input, Input};
use crate::error::Failure;
use crate::image::{tarball, Artifact, ImageSet};
use crate::oci::media::ANNOTATION_COSIGN_SIGNATURE;
use crate::reference::Reference;
use crate::shell::Shell;
use crate::sign::{dsse, payload, verify, PublicKey, Signer};

/// What `cargo slim sign` did.
#[derive(Debug, Clone)]
pub struct SignOutcome {
    pub path: PathBuf,
    /// The `docker-reference` of the payloads (the repository).
    pub repository: String,
    /// `sha256:<hex>` of each image manifest signed, in the tarball's order.
    pub digests: Vec<String>,
    /// SHA-256 (hex) of the signing key's public key.
    pub fingerprint: String,
    /// Whether the file changed (false: the same signatures were there).
    pub changed: bool,
}

impl SignOutcome {
    /// The `signed` JSON line of `--message-format json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "reason": "signed",
            "tarball": self.path,
            "repository": self.repository,
            "digests": self.digests,
            "key": self.fingerprint,
            "changed": self.changed,
        })
    }
}

/// Sign every platform image of the tarball `path` with `signer`.
pub fn sign(path: &Path, signer: &dyn Signer, shell: &Shell) -> Result<SignOutcome> {
    let real = crate::io::check_output(path, false)?;
    let _lock = crate::io::lock_output(&real, shell)?;
    shell.status("Reading", path.display());
    let inputs = read_input(path)?;
    let epoch = inputs[0].mtime;
    let repository = repository_of(&inputs[0].image.reference)?;
    let public = signer.public_key();
    let mut digests = Vec::new();
    let mut images = Vec::new();
    let mut artifacts = Vec::new();
    let mut changed = false;
    for Input {
        image,
        artifacts: own,
        ..
    } in inputs
    {
        let digest = image.manifest.digest.clone();
        let ours = signatures(&image.manifest, &repository, signer)?;
        // This key's signatures go (replaced by `ours`); every other artifact stays.
        let mut kept = Vec::new();
        let mut theirs = Vec::new();
        for a in own {
            if signed_by(&a, &public)? {
                theirs.push(a.manifest.digest.clone());
            } else {
                kept.push(a);
            }
        }
        let mut mine: Vec<String> = ours.iter().map(|a| a.manifest.digest.clone()).collect();
        mine.sort();
        theirs.sort();
        changed |= mine != theirs;
        kept.extend(ours);
        shell.status("Signed", format!("{digest} ({})", image.platform));
        artifacts.extend(kept);
        digests.push(digest);
        images.push(image);
    }
    let set = ImageSet::new(images)?.with_artifacts(artifacts)?;
    let outcome = SignOutcome {
        path: path.to_path_buf(),
        repository,
        digests,
        fingerprint: public.fingerprint(),
        changed,
    };
    if !outcome.changed {
        shell.status("Unchanged", format!("{} is signed already", path.display()));
        return Ok(outcome);
    }
    shell.status("Writing", path.display());
    let pending = tarball::prepare_set(&set, &real, epoch)?;
    crate::validate::validate_set(pending.path()).map_err(|e| {
        Failure::new("the signed tarball does not validate; the input is left as it was")
            .detail(format!("{e:#}"))
    })?;
    crate::io::commit_all(vec![pending])?;
    Ok(outcome)
}

/// Reads a key file with its password (the binary's: it reads the environment).
pub type KeyReader = fn(&Path) -> Result<crate::sign::KeySigner, Failure>;

/// Give each plan its signer before anything is built: the key `given`
/// (`--sign`, `$CARGO_SLIM_SIGN_KEY`), else the plan's own `sign` key; each key
/// file read once with `read` (a wrong password stops here). Then each plan's
/// provenance setting is checked against it (`signed` needs a key).
pub fn set_signers(
    plans: &mut [crate::config::Plan],
    given: Option<&Path>,
    read: KeyReader,
) -> Result<()> {
    let mut read_once: Vec<(PathBuf, crate::sign::KeySigner)> = Vec::new();
    for plan in plans.iter_mut() {
        let Some(key) = given
            .map(Path::to_path_buf)
            .or_else(|| plan.sign_key.clone())
        else {
            continue;
        };
        let signer = match read_once.iter().find(|(k, _)| *k == key) {
            Some((_, s)) => s.clone(),
            None => {
                let s = read(&key)?;
                read_once.push((key, s.clone()));
                s
            }
        };
        plan.signer = Some(signer);
    }
    for plan in plans.iter() {
        plan.provenance
            .decide(plan.signer.is_some())
            .map_err(|f| f.detail(format!("image `{}`", plan.name())).usage())?;
    }
    Ok(())
}

/// The cosign signature artifact of the image manifest `manifest`, by `signer`,
/// over the simple-signing payload naming `repository` and the manifest's digest.
pub fn signature(
    manifest: &crate::image::Blob,
    repository: &str,
    signer: &dyn Signer,
) -> Result<Artifact> {
    let body = payload::payload(repository, &manifest.digest, None)?;
    let sig = signer.sign(&body)?;
    Artifact::signature(manifest, body, &sig)
}

/// An image's signatures by `signer`: cosign's ([`signature`]) and the same in
/// a Sigstore bundle (cosign's new bundle format), both attached to `manifest`.
pub fn signatures(
    manifest: &crate::image::Blob,
    repository: &str,
    signer: &dyn Signer,
) -> Result<Vec<Artifact>> {
    let bundle = crate::sign::bundle::image_signature(repository, &manifest.digest, signer)?;
    Ok(vec![
        signature(manifest, repository, signer)?,
        Artifact::bundle(manifest, bundle, crate::sign::bundle::SIGN_PREDICATE)?,
    ])
}

/// `registry/repository` of an image reference: the payload's `docker-reference`.
pub fn repository_of(reference: &str) -> Result<String> {
    let r = Reference::parse(reference)?;
    Ok(format!("{}/{}", r.registry, r.repository))
}

/// Whether `a` is an image signature made by `public`: a cosign signature (over
/// its own payload), or a bundle of an image-signature statement.
fn signed_by(a: &Artifact, public: &PublicKey) -> Result<bool> {
    if a.is_bundle() {
        let Ok((envelope, predicate)) = crate::sign::bundle::envelope_of(&a.layer.bytes()?) else {
            return Ok(false);
        };
        return Ok(predicate == crate::sign::bundle::SIGN_PREDICATE
            && crate::sign::dsse::verify(
                &envelope,
                crate::sign::dsse::IN_TOTO_PAYLOAD_TYPE,
                public,
            )
            .is_ok());
    }
    if !a.is_signature() {
        return Ok(false);
    }
    let Some(sig) = signature_of(a)? else {
        return Ok(false);
    };
    Ok(verify(public, &a.layer.bytes()?, &sig).is_ok())
}

/// The DER signature a signature artifact carries in its layer's annotation.
fn signature_of(a: &Artifact) -> Result<Option<Vec<u8>>> {
    let manifest: serde_json::Value = serde_json::from_slice(&a.manifest.bytes()?)?;
    let b64 = manifest["layers"][0]["annotations"][ANNOTATION_COSIGN_SIGNATURE]
        .as_str()
        .unwrap_or_default();
    Ok(base64::engine::general_purpose::STANDARD.decode(b64).ok())
}

/// What `verify --key` found for one image of a tarball.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    /// `sha256:<hex>` of the image manifest.
    pub digest: String,
    pub platform: String,
    /// `Ok`: a signature by the key over this very digest; `Err`: why not.
    pub verdict: std::result::Result<(), String>,
}

/// The signatures and attestations found for one image, in either form.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// cosign's: simple-signing payloads and their DER signatures (if readable).
    pub cosign: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// DSSE envelopes of image-signature statements (from Sigstore bundles).
    pub statements: Vec<Vec<u8>>,
    /// In-toto attestations: whether in a DSSE envelope, and the bytes.
    pub attestations: Vec<(bool, Vec<u8>)>,
}

impl Evidence {
    /// What `artifacts` (one image's, from a tarball) hold: cosign signatures,
    /// in-toto attestations, Sigstore bundles.
    pub fn of(artifacts: &[Artifact]) -> Result<Evidence> {
        let mut found = Evidence::default();
        for a in artifacts {
            if a.is_signature() {
                found
                    .cosign
                    .push((a.layer.bytes()?.into_owned(), signature_of(a)?));
            } else if a.is_attestation() {
                let doc = (a.is_signed_attestation(), a.layer.bytes()?.into_owned());
                if !found.attestations.contains(&doc) {
                    found.attestations.push(doc);
                }
            } else if a.is_bundle() {
                found.add_bundle(&a.layer.bytes()?);
            }
        }
        Ok(found)
    }

    /// A Sigstore bundle's envelope, sorted by its statement's predicate (an
    /// unreadable bundle adds nothing).
    pub fn add_bundle(&mut self, bundle: &[u8]) {
        let Ok((envelope, predicate)) = crate::sign::bundle::envelope_of(bundle) else {
            return;
        };
        if predicate == crate::sign::bundle::SIGN_PREDICATE {
            self.statements.push(envelope);
        } else if predicate == crate::provenance::PREDICATE_TYPE
            && !self.attestations.iter().any(|(_, b)| *b == envelope)
        {
            self.attestations.push((true, envelope));
        }
    }
}

/// Whether one of the signatures `found` is `public`'s over a payload naming
/// `digest`; else why not.
pub fn judge(
    digest: &str,
    found: &Evidence,
    public: &PublicKey,
) -> std::result::Result<(), String> {
    let n = found.cosign.len() + found.statements.len();
    let mut verdict = Err(match n {
        0 => "no signature is attached to it".to_string(),
        n => format!(
            "none of its {n} signature(s) verifies with the key sha256:{}",
            &public.fingerprint()[..12]
        ),
    });
    let other = |what: String| Err(format!("the key signed another image: {what}"));
    for (body, sig) in &found.cosign {
        let Some(sig) = sig else { continue };
        if verify(public, body, sig).is_err() {
            continue;
        }
        verdict = match payload::parse(body).and_then(|p| p.check_digest(digest)) {
            Ok(()) => return Ok(()),
            Err(f) => other(f.what),
        };
    }
    for envelope in &found.statements {
        let Ok(body) = dsse::verify(envelope, dsse::IN_TOTO_PAYLOAD_TYPE, public) else {
            continue;
        };
        let named: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if named["_type"] != "https://in-toto.io/Statement/v1" {
            continue;
        }
        let hex = named["subject"][0]["digest"]["sha256"]
            .as_str()
            .unwrap_or("");
        if format!("sha256:{hex}").eq_ignore_ascii_case(digest) {
            return Ok(());
        }
        verdict = other(format!("a bundle names sha256:{hex}"));
    }
    verdict
}
