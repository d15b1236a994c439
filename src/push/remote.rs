//! An image already in a registry: read what it is and what is attached to it,
//! and attach more (signatures of a pushed image or index).
//!
//! In: a reference `REPO[:TAG]` or `REPO@sha256:<hex>` ([`RemoteRef`]), push's
//! options (TLS, `--insecure`, timeouts) and credentials. Out: [`inspect`] — the
//! top document (image manifest or index) and each platform manifest of an
//! index, and per digest the [`Trust`] the registry holds: cosign's `.sig`
//! payloads with their signatures, the `.att` envelopes, and what the referrers
//! list (cosign signature and in-toto artifacts); [`attach`] — artifact
//! manifests (with their small blobs) PUT and listed as referrers of their
//! subject, signatures and signed attestations merged into cosign's tags, by
//! the very code a push uses (the same retries, caps and merges). Why: `cargo
//! slim sign REF` / `verify REF` work on what a registry holds, and a
//! multi-platform index can only be signed once it is there (the tarball's
//! index lists the attached artifacts, so its digest would change).
//!
//! Bounds: every document and blob read is capped (4 MiB), and at most
//! [`MAX_ITEMS`] layers or referrers are read per digest.

use std::io::Write as _;
use std::time::Instant;

use anyhow::Result;
use serde_json::Value;

use super::client::Client;
use super::referrers::Listed;
use super::transport::{gave_up, retry, Attempt, Tls};
use super::{credentials, runtime, short, Job, PushOptions};
use crate::error::Failure;
use crate::oci::media::{
    ANNOTATION_COSIGN_SIGNATURE, MEDIA_TYPE_COSIGN_SIGNATURE, MEDIA_TYPE_DOCKER_LIST,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_IN_TOTO, MEDIA_TYPE_MANIFEST, MEDIA_TYPE_SIGSTORE_BUNDLE,
};
use crate::oci::{Attached, BlobRef, Document, Peek, ARTIFACT_BLOB};
use crate::reference::Reference;
use crate::shell::Shell;

/// The most signature layers, attestation layers or referrers read per digest
/// (and the most manifests an index may list).
pub const MAX_ITEMS: usize = 64;
/// The most bytes of signatures, attestations and bundles read for one
/// reference, all digests together: a registry that serves more is refused.
pub const MAX_TRUST_BYTES: usize = 64 << 20;

/// The docker manifest media type (accepted when reading a tag).
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A reference to an image in a registry: by tag, or pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// Registry and repository (the tag is `latest` when pinned by digest).
    pub target: Reference,
    /// `sha256:<hex>` of `REPO@sha256:<hex>`.
    pub digest: Option<String>,
}

impl RemoteRef {
    /// `REPO[:TAG]` or `REPO@sha256:<hex>`.
    pub fn parse(input: &str) -> Result<RemoteRef, Failure> {
        let (name, digest) = match input.split_once('@') {
            Some((name, d)) => {
                let hex = d.strip_prefix("sha256:").unwrap_or("");
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Failure::new(format!(
                        "`{d}` is not a sha256 digest (sha256: and 64 hex digits)"
                    )));
                }
                (name, Some(d.to_ascii_lowercase()))
            }
            None => (input, None),
        };
        Ok(RemoteRef {
            target: Reference::parse(name)?,
            digest,
        })
    }

    /// What the registry is asked for: the digest, else the tag.
    fn reference(&self) -> &str {
        self.digest.as_deref().unwrap_or(&self.target.tag)
    }

    /// `registry/repository:tag` or `registry/repository@sha256:…`, as given.
    pub fn shown(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", self.repository()),
            None => format!("{}:{}", self.repository(), self.target.tag),
        }
    }

    /// `registry/repository`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.target.registry, self.target.repository)
    }
}

/// What a reference names in the registry.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The image manifest or index the reference names.
    pub top: Document,
    /// With an index on top: each platform's image manifest (artifacts left out).
    pub children: Vec<Document>,
}

impl Remote {
    /// Every image document: the index (if any) and each platform's manifest,
    /// or the one manifest.
    pub fn documents(&self) -> Vec<&Document> {
        std::iter::once(&self.top).chain(&self.children).collect()
    }
}

/// What the registry holds that vouches for one digest.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub digest: String,
    /// Simple-signing payloads and the base64 signature of each (cosign's
    /// `.sig` tag, and signature artifacts among the referrers).
    pub signatures: Vec<(Vec<u8>, String)>,
    /// In-toto attestations: whether in a DSSE envelope, and the layer's bytes
    /// (cosign's `.att` tag, and in-toto artifacts among the referrers).
    pub attestations: Vec<(bool, Vec<u8>)>,
    /// Sigstore bundles among the referrers, as stored.
    pub bundles: Vec<Vec<u8>>,
}

/// An artifact to attach: its manifest, its subject, and its blobs.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub manifest: Document,
    pub subject: String,
    pub artifact_type: String,
    /// `(digest, bytes)` of each blob the manifest names (config, layer).
    pub blobs: Vec<(String, Vec<u8>)>,
}

/// A session on the repository of `r`: what connect needs, and the job shape.
struct Session<'a> {
    r: &'a RemoteRef,
    opts: &'a PushOptions,
    shell: &'a Shell,
    cred: Option<super::auth::Credential>,
    tls: Tls,
}

impl<'a> Session<'a> {
    fn new(r: &'a RemoteRef, opts: &'a PushOptions, shell: &'a Shell) -> Result<Session<'a>> {
        let (cred, tls) = credentials(&r.target, opts, shell)?;
        Ok(Session {
            r,
            opts,
            shell,
            cred,
            tls,
        })
    }

    /// A push job over `peek` (blobs read from `blob_file`).
    fn job<'j>(&'j self, peek: &'j Peek, blob_file: &'j std::path::Path) -> Job<'j> {
        Job {
            tarball: blob_file,
            target: &self.r.target,
            tags: std::slice::from_ref(&self.r.target.tag),
            peek,
            cred: self.cred.as_ref(),
            tls: &self.tls,
            opts: self.opts,
            shell: self.shell,
        }
    }
}

/// Read what `r` names, and (with `trust`) what vouches for each of its digests.
pub fn inspect(
    r: &RemoteRef,
    trust: bool,
    opts: &PushOptions,
    shell: &Shell,
) -> Result<(Remote, Vec<Trust>)> {
    let session = Session::new(r, opts, shell)?;
    let empty = Peek::of_attachments(empty_doc(), Vec::new(), Vec::new());
    let nowhere = std::path::Path::new("");
    let job = session.job(&empty, nowhere);
    runtime()?.block_on(async {
        let (client, base) = job.connect(Instant::now()).await?;
        let remote = read_remote(&job, &client, &base, r).await?;
        let mut found = Vec::new();
        if trust {
            let mut budget = MAX_TRUST_BYTES;
            for doc in remote.documents() {
                let t = read_trust(&job, &client, &base, &doc.digest, &mut budget).await?;
                found.push(t);
            }
        }
        Ok((remote, found))
    })
}

fn empty_doc() -> Document {
    Document {
        digest: String::new(),
        media_type: String::new(),
        bytes: Vec::new(),
        platform: None,
    }
}

/// GET a document (`reference`: a tag or digest), retried; `None`: 404.
async fn get(
    job: &Job<'_>,
    client: &Client,
    base: &str,
    reference: &str,
    accept: &str,
) -> Result<Option<Vec<u8>>> {
    let what = format!("GET {}:{reference}", job.target.repository);
    Ok(
        retry(&job.opts.retry, &what, job.shell, Attempt::clone, || {
            client.manifest(reference, accept)
        })
        .await
        .map_err(|g| gave_up(g, &format!("read `{reference}`"), base))?,
    )
}

/// The top document `r` names and, for an index, its platform manifests.
async fn read_remote(job: &Job<'_>, client: &Client, base: &str, r: &RemoteRef) -> Result<Remote> {
    let accept = [
        MEDIA_TYPE_INDEX,
        MEDIA_TYPE_MANIFEST,
        MEDIA_TYPE_DOCKER_LIST,
        DOCKER_MANIFEST,
    ]
    .join(", ");
    let shown = format!("{}/{}", r.target.registry, r.target.repository);
    let Some(bytes) = get(job, client, base, r.reference(), &accept).await? else {
        return Err(
            Failure::new(format!("{} is not in the registry", r.shown()))
                .help("push it first (cargo slim push), or check the tag")
                .into(),
        );
    };
    let digest = crate::digest::sha256_digest(&bytes);
    if let Some(want) = &r.digest {
        if *want != digest {
            return Err(Failure::new(format!(
                "the registry answered {shown}@{want} with a document whose digest is {digest}"
            ))
            .into());
        }
    }
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::new(format!("{shown}@{digest} is not JSON: {e}")))?;
    // `mediaType` is optional in an OCI index: a `manifests` list makes one.
    let index = v["manifests"].is_array();
    let media_type = v["mediaType"]
        .as_str()
        .unwrap_or(if index {
            MEDIA_TYPE_INDEX
        } else {
            MEDIA_TYPE_MANIFEST
        })
        .to_string();
    let mut children = Vec::new();
    if index || crate::oci::media::is_index_media_type(&media_type) {
        let listed = v["manifests"].as_array().map_or(0, Vec::len);
        if listed > MAX_ITEMS {
            return Err(Failure::new(format!(
                "{shown}@{digest} lists {listed} manifests, more than the {MAX_ITEMS} read"
            ))
            .into());
        }
        for m in v["manifests"].as_array().into_iter().flatten() {
            let (os, arch) = (
                m["platform"]["os"].as_str(),
                m["platform"]["architecture"].as_str(),
            );
            // Attached artifacts (platform unknown/unknown) are not images.
            if m.get("artifactType").is_some() || os == Some("unknown") {
                continue;
            }
            let Some(d) = m["digest"].as_str() else {
                continue;
            };
            let Some(bytes) = get(job, client, base, d, &accept).await? else {
                return Err(Failure::new(format!(
                    "{shown}@{digest} lists {d}, which the registry does not have"
                ))
                .into());
            };
            if crate::digest::sha256_digest(&bytes) != d {
                return Err(
                    Failure::new(format!("the registry sent {d} with another digest")).into(),
                );
            }
            let mut platform = format!("{}/{}", os.unwrap_or("?"), arch.unwrap_or("?"));
            if let Some(variant) = m["platform"]["variant"].as_str() {
                platform = format!("{platform}/{variant}");
            }
            children.push(Document {
                digest: d.to_string(),
                media_type: m["mediaType"]
                    .as_str()
                    .unwrap_or(MEDIA_TYPE_MANIFEST)
                    .to_string(),
                bytes,
                platform: Some(platform),
            });
        }
    }
    Ok(Remote {
        top: Document {
            digest,
            media_type,
            bytes,
            platform: None,
        },
        children,
    })
}

/// The signatures and attestations the registry holds for `digest`.
async fn read_trust(
    job: &Job<'_>,
    client: &Client,
    base: &str,
    digest: &str,
    budget: &mut usize,
) -> Result<Trust> {
    let mut trust = Trust {
        digest: digest.to_string(),
        ..Trust::default()
    };
    for suffix in ["sig", "att"] {
        let tag = super::signatures::cosign_tag(digest, suffix);
        let Some(m) = job
            .read_tag(client, base, &tag, MEDIA_TYPE_MANIFEST)
            .await?
        else {
            continue;
        };
        for layer in m["layers"].as_array().into_iter().flatten().take(MAX_ITEMS) {
            collect(
                job,
                (client, base),
                layer,
                suffix == "att",
                &mut trust,
                budget,
            )
            .await?;
        }
    }
    let listed = retry(
        &job.opts.retry,
        &format!("GET referrers of {}", short(digest)),
        job.shell,
        Attempt::clone,
        || client.referrers(digest),
    )
    .await
    .map_err(|g| gave_up(g, &format!("list the referrers of {digest}"), base))?;
    for d in listed.iter().take(MAX_ITEMS) {
        let Some(bytes) = get(job, client, base, d, MEDIA_TYPE_MANIFEST).await? else {
            continue;
        };
        let m: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let t = m["artifactType"].as_str().unwrap_or("");
        let Some(layer) = m["layers"].get(0) else {
            continue;
        };
        if t == MEDIA_TYPE_COSIGN_SIGNATURE || t == MEDIA_TYPE_IN_TOTO {
            let attestation = t == MEDIA_TYPE_IN_TOTO;
            collect(job, (client, base), layer, attestation, &mut trust, budget).await?;
        } else if t == MEDIA_TYPE_SIGSTORE_BUNDLE {
            if let Some(b) = blob(job, client, base, layer, budget).await? {
                trust.bundles.push(b);
            }
        }
    }
    Ok(trust)
}

/// One layer (of a cosign tag or a referrer): its blob, as a signature or an
/// attestation of `trust` (each once, however many places list it).
async fn collect(
    job: &Job<'_>,
    (client, base): (&Client, &str),
    layer: &Value,
    attestation: bool,
    trust: &mut Trust,
    budget: &mut usize,
) -> Result<()> {
    let Some(bytes) = blob(job, client, base, layer, budget).await? else {
        return Ok(());
    };
    if attestation {
        let enveloped = layer["mediaType"] == crate::oci::media::MEDIA_TYPE_DSSE;
        if !trust.attestations.iter().any(|(_, b)| *b == bytes) {
            trust.attestations.push((enveloped, bytes));
        }
    } else {
        let sig = layer["annotations"][ANNOTATION_COSIGN_SIGNATURE]
            .as_str()
            .unwrap_or("")
            .to_string();
        if !trust
            .signatures
            .iter()
            .any(|(p, s)| *p == bytes && *s == sig)
        {
            trust.signatures.push((bytes, sig));
        }
    }
    Ok(())
}

/// The blob a layer descriptor names; `None`: no digest, or not in the
/// registry. Its bytes come out of `budget` (an error when it runs out).
async fn blob(
    job: &Job<'_>,
    client: &Client,
    base: &str,
    layer: &Value,
    budget: &mut usize,
) -> Result<Option<Vec<u8>>> {
    let Some(d) = layer["digest"].as_str() else {
        return Ok(None);
    };
    let what = format!("GET blob {}", short(d));
    let got = retry(&job.opts.retry, &what, job.shell, Attempt::clone, || {
        client.blob(d)
    })
    .await
    .map_err(|g| gave_up(g, &format!("read the blob {d}"), base))?;
    if let Some(b) = &got {
        *budget = budget.checked_sub(b.len()).ok_or_else(|| {
            Failure::new(format!(
                "the registry holds more than {} of signatures and attestations for this image: not read further",
                crate::units::human(MAX_TRUST_BYTES as u64)
            ))
        })?;
    }
    Ok(got)
}

/// Attach `attachments` to the image `top` that `r` names: each artifact's
/// blobs uploaded where missing, its manifest PUT and listed as a referrer of
/// its subject, signatures and signed attestations merged into cosign's tags.
pub fn attach(
    r: &RemoteRef,
    top: &Document,
    attachments: &[Attachment],
    opts: &PushOptions,
    shell: &Shell,
) -> Result<()> {
    let session = Session::new(r, opts, shell)?;
    // The blobs wait in an unnamed file (unlinked from its creation, so even a
    // killed run leaves nothing behind) that the upload streams from, as a push
    // streams from the tarball, reopened through /proc/self/fd.
    let mut file = tempfile::tempfile()?;
    let (mut attached, mut blobs, mut offset) = (Vec::new(), Vec::<BlobRef>::new(), 0u64);
    for a in attachments {
        for (digest, bytes) in &a.blobs {
            if blobs.iter().any(|b| b.digest == *digest) {
                continue;
            }
            file.write_all(bytes)?;
            blobs.push(BlobRef {
                kind: ARTIFACT_BLOB,
                digest: digest.clone(),
                range: crate::oci::Range {
                    offset,
                    size: bytes.len() as u64,
                },
            });
            offset += bytes.len() as u64;
        }
        attached.push(Attached {
            doc: a.manifest.clone(),
            subject: a.subject.clone(),
            artifact_type: a.artifact_type.clone(),
        });
    }
    file.flush()?;
    let peek = Peek::of_attachments(top.clone(), attached, blobs);
    let path = std::path::PathBuf::from(format!("/proc/self/fd/{}", {
        use std::os::fd::AsRawFd as _;
        file.as_raw_fd()
    }));
    let job = session.job(&peek, &path);
    runtime()?.block_on(async {
        let (client, base) = job.connect(Instant::now()).await?;
        let mut missing = Vec::new();
        for b in &peek.blobs {
            let there = retry(
                &opts.retry,
                &format!("HEAD {}", short(&b.digest)),
                shell,
                Attempt::clone,
                || client.blob_exists(&b.digest),
            )
            .await
            .map_err(|g| gave_up(g, &format!("check {}", b.digest), &base))?;
            if !there {
                missing.push(b);
            }
        }
        job.upload(&client, &base, &missing).await?;
        job.put_referrers(&client, &base, Listed::default()).await?;
        job.put_signature_tags(&client, &base).await
    })
}
