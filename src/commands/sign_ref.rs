//! `cargo slim sign REF` and `cargo slim verify REF`: signatures and provenance
//! of an image that is already in a registry.
//!
//! In: a [`RemoteRef`] (`REPO:TAG` or `REPO@sha256:…`), push's options, and a
//! [`Signer`] (sign) or a public key (verify). Out: sign — a cosign signature of
//! every image document the reference names (an index and each of its platform
//! manifests, as `cosign sign --recursive` does; one manifest for a
//! single-platform image), attached in the registry ([`push::remote::attach`]:
//! a referrer and cosign's `.sig` tag, merged with what is there); verify — a
//! [`SignatureCheck`] per document and a [`ProvenanceCheck`] per platform
//! manifest, judged by the same rules as a tarball's
//! ([`super::sign::judge`], [`super::attest::judge`]). Why: a multi-platform
//! index can only be signed where it is pushed (the tarball's own index lists
//! the attached artifacts, so a signature inside it would change its digest),
//! and a deployment gate checks what the registry serves, not a local file.

use anyhow::Result;
use base64::Engine as _;
use oci_spec::image::MediaType;

use super::attest::{self, ProvenanceCheck};
use super::sign::{judge, signatures, Evidence, SignOutcome, SignatureCheck};
use crate::image::{Artifact, Blob};
use crate::oci::media::MEDIA_TYPE_MANIFEST;
use crate::oci::Document;
use crate::push::remote::{self, Attachment, RemoteRef};
use crate::push::{self, PushOptions};
use crate::shell::Shell;
use crate::sign::{PublicKey, Signer};

/// Sign every image document `r` names (the index and its platform manifests).
pub fn sign_ref(
    r: &RemoteRef,
    signer: &dyn Signer,
    opts: &PushOptions,
    shell: &Shell,
) -> Result<SignOutcome> {
    shell.status("Reading", r.shown());
    let (found, _) = remote::inspect(r, false, opts, shell)?;
    sign_documents(r, &found, &found.documents(), signer, opts, shell)
}

/// After a push with a key (`build --sign --push`, `resolve --sign`, `push
/// --sign`): every image document that does not carry a signature by the key
/// over its own digest yet is signed where it now is — above all a
/// multi-platform index, which its tarball cannot carry a signature of. The
/// platform manifests signed in the tarball arrived with it and are left alone
/// (whatever repository their payload names: only the digest is checked, as
/// `cosign verify` checks it).
pub fn sign_pushed(
    pushed: &push::Pushed,
    signer: &dyn Signer,
    opts: &PushOptions,
    shell: &Shell,
) -> Result<()> {
    let r = RemoteRef::parse(&pushed.pinned())?;
    let (found, trust) = remote::inspect(&r, true, opts, shell)?;
    let public = signer.public_key();
    let unsigned: Vec<&Document> = found
        .documents()
        .into_iter()
        .zip(&trust)
        .filter(|(doc, t)| judge(&doc.digest, &found_in(t), &public).is_err())
        .map(|(doc, _)| doc)
        .collect();
    if unsigned.is_empty() {
        shell.status("Signed", format!("{} already", pushed.pinned()));
        return Ok(());
    }
    sign_documents(&r, &found, &unsigned, signer, opts, shell)?;
    Ok(())
}

/// Push the tarball; with `signer`, then sign what was pushed where it is
/// ([`sign_pushed`]).
pub fn push_and_sign(
    tarball: &std::path::Path,
    opts: &PushOptions,
    signer: Option<&dyn Signer>,
    shell: &Shell,
) -> Result<push::Pushed> {
    let pushed = push::push(tarball, opts, shell)?;
    if let Some(s) = signer {
        sign_pushed(&pushed, s, opts, shell)?;
    }
    Ok(pushed)
}

/// Sign `docs` (of what `r` names, `found`) and attach the signatures there.
fn sign_documents(
    r: &RemoteRef,
    found: &remote::Remote,
    docs: &[&Document],
    signer: &dyn Signer,
    opts: &PushOptions,
    shell: &Shell,
) -> Result<SignOutcome> {
    let repository = r.repository();
    let mut attachments = Vec::new();
    let mut digests = Vec::new();
    for doc in docs {
        let subject = Blob::new(MediaType::from(doc.media_type.as_str()), doc.bytes.clone());
        for a in signatures(&subject, &repository, signer)? {
            attachments.push(attachment(&a)?);
        }
        shell.status("Signed", format!("{} ({})", doc.digest, label(doc, found)));
        digests.push(doc.digest.clone());
    }
    remote::attach(r, &found.top, &attachments, opts, shell)?;
    Ok(SignOutcome {
        path: std::path::PathBuf::from(format!("{repository}@{}", found.top.digest)),
        repository,
        digests,
        fingerprint: signer.public_key().fingerprint(),
        changed: true,
    })
}

/// How a document is named in messages: its platform, `index`, or `image` for
/// a single-platform image's manifest.
fn label(doc: &Document, found: &remote::Remote) -> String {
    match (&doc.platform, found.children.is_empty()) {
        (Some(p), _) => p.clone(),
        (None, false) => "index".into(),
        (None, true) => "image".into(),
    }
}

/// An artifact of ours as an [`Attachment`] for the registry.
pub fn attachment(a: &Artifact) -> Result<Attachment> {
    Ok(Attachment {
        manifest: Document {
            digest: a.manifest.digest.clone(),
            media_type: MEDIA_TYPE_MANIFEST.to_string(),
            bytes: a.manifest.bytes()?.into_owned(),
            platform: None,
        },
        subject: a.subject.clone(),
        artifact_type: a.artifact_type.clone(),
        blobs: vec![
            (a.config.digest.clone(), a.config.bytes()?.into_owned()),
            (a.layer.digest.clone(), a.layer.bytes()?.into_owned()),
        ],
    })
}

/// What `verify REF` found.
#[derive(Debug, Clone)]
pub struct RemoteChecks {
    /// `registry/repository@sha256:…` of what the reference names.
    pub pinned: String,
    /// Per image document (the index first, then each platform): its signatures
    /// (`None`: no key given).
    pub signatures: Option<Vec<SignatureCheck>>,
    /// Per platform manifest: its provenance.
    pub provenance: Vec<ProvenanceCheck>,
}

/// Check what the registry holds for every image document `r` names.
pub fn check_ref(
    r: &RemoteRef,
    key: Option<&PublicKey>,
    opts: &PushOptions,
    shell: &Shell,
) -> Result<RemoteChecks> {
    let (found, trust) = remote::inspect(r, true, opts, shell)?;
    let docs = found.documents();
    let seen: Vec<Evidence> = trust.iter().map(found_in).collect();
    let signatures = key.map(|k| {
        docs.iter()
            .zip(&seen)
            .map(|(doc, f)| SignatureCheck {
                digest: doc.digest.clone(),
                platform: label(doc, &found),
                verdict: judge(&doc.digest, f, k),
            })
            .collect()
    });
    // Provenance is about the platform images (the index is none of them).
    let provenance = docs
        .iter()
        .zip(&seen)
        .filter(|(d, _)| found.children.is_empty() || d.platform.is_some())
        .map(|(doc, f)| ProvenanceCheck {
            digest: doc.digest.clone(),
            platform: label(doc, &found),
            verdict: attest::judge(&doc.digest, &f.attestations, key),
        })
        .collect();
    Ok(RemoteChecks {
        pinned: format!("{}@{}", r.repository(), found.top.digest),
        signatures,
        provenance,
    })
}

/// What the registry holds for one digest, in the form the judges take.
fn found_in(t: &remote::Trust) -> Evidence {
    let mut f = Evidence {
        cosign: t
            .signatures
            .iter()
            .map(|(p, s)| {
                (
                    p.clone(),
                    base64::engine::general_purpose::STANDARD.decode(s).ok(),
                )
            })
            .collect(),
        attestations: t.attestations.clone(),
        ..Evidence::default()
    };
    for b in &t.bundles {
        f.add_bundle(b);
    }
    f
}

/// The options `sign REF` / `verify REF` reach the registry with: push's.
pub fn options(insecure: bool, ca_file: Option<std::path::PathBuf>) -> PushOptions {
    push::PushOptions {
        insecure,
        ca_file,
        progress: false,
        ..PushOptions::default()
    }
}
