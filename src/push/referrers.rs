//! The artifacts a push attaches to the images it sends (the SBOMs), and how the
//! registry learns that they refer to them.
//!
//! In: the [`Attached`] artifacts the archive's [`crate::oci::Peek`] found
//! (artifact manifests whose `subject` is an image being pushed and whose blobs
//! the archive holds) and, after the images are in the registry, the registry
//! ([`Job::put_referrers`]). Out: each artifact's blobs and manifest (PUT by
//! digest), listed as a referrer of its subject: a registry with the OCI 1.1 referrers API lists a manifest with a
//! `subject` by itself; on one without it (Debian's distribution 2.8, GHCR) the
//! distribution spec's fallback is used — the tag `sha256-<subject hex>` holding
//! an image index of the referrers, read first and merged with, so referrers
//! another tool attached stay listed. Why apart: the image push is about blobs
//! and tags; this is about a second kind of document and a second index.

use anyhow::Result;
use serde_json::{json, Value};

use super::client::Client;
use super::transport::{gave_up, retry, Attempt};
use super::{short, Job};
use crate::error::Failure;
use crate::oci::canonical::canonical_json;
use crate::oci::media::MEDIA_TYPE_INDEX;
pub(super) use crate::oci::ARTIFACT_BLOB;
use crate::oci::{Attached, SbomFormat};

/// Per subject digest: the digests the registry lists as its referrers.
#[derive(Debug, Clone, Default)]
pub struct Listed(std::collections::HashMap<String, Vec<String>>);

impl Listed {
    /// Whether every one of `attached` is listed for its subject.
    pub fn has_all(&self, attached: &[Attached]) -> bool {
        attached.iter().all(|a| {
            self.0
                .get(&a.subject)
                .is_some_and(|l| l.contains(&a.doc.digest))
        })
    }
}

/// The descriptor of `a` in a referrers index (what the distribution spec lists).
fn referrer_descriptor(a: &Attached) -> Value {
    let annotations = serde_json::from_slice::<Value>(&a.doc.bytes)
        .ok()
        .and_then(|m| m.get("annotations").cloned());
    let mut d = json!({
        "mediaType": a.doc.media_type,
        "digest": a.doc.digest,
        "size": a.doc.bytes.len(),
        "artifactType": a.artifact_type,
    });
    if let Some(ann) = annotations {
        d["annotations"] = ann;
    }
    d
}

/// `sha256:<hex>` → the referrers tag `sha256-<hex>`.
pub fn referrers_tag(subject: &str) -> String {
    subject.replacen(':', "-", 1)
}

/// The referrers index after adding `ours` to what the tag held (`None`: it did
/// not exist); `None` back when everything of ours is listed already.
pub fn merged_index(held: Option<&Value>, ours: &[&Attached]) -> Option<Value> {
    let mut manifests: Vec<Value> = held
        .and_then(|v| v.get("manifests"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let before = manifests.len();
    for a in ours {
        if !manifests
            .iter()
            .any(|m| m["digest"] == a.doc.digest.as_str())
        {
            manifests.push(referrer_descriptor(a));
        }
    }
    (manifests.len() > before || held.is_none()).then(|| {
        json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": manifests,
        })
    })
}

impl Job<'_> {
    /// PUT every attached artifact by digest, then make sure the registry lists
    /// each as a referrer of its subject (the API, else the tag fallback).
    pub(super) async fn put_referrers(
        &self,
        client: &Client,
        base: &str,
        known: Listed,
    ) -> Result<()> {
        let (shell, policy) = (self.shell, &self.opts.retry);
        let repo = &self.target.repository;
        for subject in self.subjects() {
            let ours: Vec<&Attached> = self
                .peek
                .attached
                .iter()
                .filter(|a| a.subject == subject)
                .collect();
            // What the registry lists already (its referrers API, else the tag):
            // an unchanged re-push writes nothing.
            let before = match known.0.get(subject) {
                Some(l) => l.clone(),
                None => self.listed(client, subject).await,
            };
            for a in ours.iter().filter(|a| !before.contains(&a.doc.digest)) {
                retry(
                    policy,
                    &format!("PUT artifact {}", short(&a.doc.digest)),
                    shell,
                    Attempt::clone,
                    || client.put_manifest(&a.doc.digest, &a.doc.media_type, &a.doc.bytes),
                )
                .await
                .map_err(|g| gave_up(g, &format!("push the artifact {}", a.doc.digest), base))?;
            }
            // A registry with the referrers API now lists the new ones by their
            // `subject`; without one, the tag does not have them yet.
            let listed = if ours.iter().all(|a| before.contains(&a.doc.digest)) {
                before
            } else {
                self.listed(client, subject).await
            };
            let (done, missing): (Vec<&Attached>, Vec<&Attached>) =
                ours.iter().partition(|a| listed.contains(&a.doc.digest));
            for a in done {
                shell.status(
                    "Attached",
                    format!(
                        "{} {} to {} (listed as its referrer)",
                        kind(a),
                        short(&a.doc.digest),
                        short(subject)
                    ),
                );
            }
            if missing.is_empty() {
                continue;
            }
            let tag = referrers_tag(subject);
            let held = self
                .read_tag(client, base, &tag, MEDIA_TYPE_INDEX)
                .await
                .map_err(|f| f.help("the tag is reserved for the referrers of that digest (OCI distribution spec); delete it or push to another repository"))?;
            if let Some(index) = merged_index(held.as_ref(), &missing) {
                let bytes = canonical_json(&index);
                retry(
                    policy,
                    &format!("PUT {repo}:{tag}"),
                    shell,
                    Attempt::clone,
                    || client.put_manifest(&tag, MEDIA_TYPE_INDEX, &bytes),
                )
                .await
                .map_err(|g| gave_up(g, &format!("push the referrers tag `{tag}`"), base))?;
            }
            for a in missing {
                shell.status(
                    "Attached",
                    format!(
                        "{} {} to {} (referrers tag {}…)",
                        kind(a),
                        short(&a.doc.digest),
                        short(subject),
                        short_tag(&tag)
                    ),
                );
            }
        }
        Ok(())
    }

    /// The JSON document under `tag` (`accept`ed as), `None` when there is no
    /// such tag; a document that is not JSON is a failure naming the tag.
    pub(super) async fn read_tag(
        &self,
        client: &Client,
        base: &str,
        tag: &str,
        accept: &str,
    ) -> Result<Option<Value>, Failure> {
        let repo = &self.target.repository;
        let held = retry(
            &self.opts.retry,
            &format!("GET {repo}:{tag}"),
            self.shell,
            Attempt::clone,
            || client.manifest(tag, accept),
        )
        .await
        .map_err(|g| gave_up(g, &format!("read the tag `{tag}`"), base))?;
        held.map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| {
                Failure::new(format!(
                    "`{repo}:{tag}` is not a JSON {accept} document: {e}"
                ))
            })
        })
        .transpose()
    }

    /// The subjects of the attached artifacts, each once, in their order.
    fn subjects(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for a in &self.peek.attached {
            if !out.contains(&a.subject.as_str()) {
                out.push(&a.subject);
            }
        }
        out
    }

    /// [`Job::listed`] for every subject of the attached artifacts.
    pub(super) async fn listed_all(&self, client: &Client) -> Listed {
        let mut out = Listed::default();
        for subject in self.subjects() {
            let l = self.listed(client, subject).await;
            out.0.insert(subject.to_string(), l);
        }
        out
    }

    /// The digests the registry lists as referrers of `subject`: its referrers
    /// API, or (where it has none) what the referrers tag holds. Nothing when it
    /// cannot be read: the artifacts are then sent, and a tag that cannot be read
    /// fails the push when it is merged with.
    async fn listed(&self, client: &Client, subject: &str) -> Vec<String> {
        retry(
            &self.opts.retry,
            &format!("GET referrers of {}", short(subject)),
            self.shell,
            Attempt::clone,
            || client.referrers(subject),
        )
        .await
        .unwrap_or_default()
    }
}

/// `SBOM (spdx)` and the like, for the status line.
fn kind(a: &Attached) -> String {
    match SbomFormat::from_media_type(&a.artifact_type) {
        Some(SbomFormat::Spdx) => "SPDX SBOM".into(),
        Some(SbomFormat::CycloneDx) => "CycloneDX SBOM".into(),
        None if a.artifact_type == crate::oci::media::MEDIA_TYPE_COSIGN_SIGNATURE => {
            "cosign signature".into()
        }
        None => format!("artifact ({})", a.artifact_type),
    }
}

fn short_tag(tag: &str) -> &str {
    &tag[..tag.len().min(19)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::media::MEDIA_TYPE_MANIFEST;
    use crate::oci::Document;

    fn attached(digest: &str) -> Attached {
        Attached {
            doc: Document {
                digest: digest.into(),
                media_type: MEDIA_TYPE_MANIFEST.into(),
                bytes: br#"{"schemaVersion":2}"#.to_vec(),
                platform: None,
            },
            subject: "sha256:aa".into(),
            artifact_type: "application/spdx+json".into(),
        }
    }

    #[test]
    fn the_fallback_index_keeps_what_the_tag_held_and_adds_ours_once() {
        let a = attached("sha256:01");
        let b = attached("sha256:02");
        let fresh = merged_index(None, &[&a]).unwrap();
        assert_eq!(fresh["mediaType"], MEDIA_TYPE_INDEX);
        assert_eq!(fresh["manifests"][0]["digest"], "sha256:01");
        assert_eq!(
            fresh["manifests"][0]["artifactType"],
            "application/spdx+json"
        );
        assert_eq!(fresh["manifests"][0]["size"], 19);
        let theirs = json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": [
            {"mediaType": MEDIA_TYPE_MANIFEST, "digest": "sha256:ff",
             "size": 5, "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"},
            fresh["manifests"][0].clone(),
        ]});
        let merged = merged_index(Some(&theirs), &[&a, &b]).unwrap();
        let digests: Vec<&str> = merged["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap())
            .collect();
        assert_eq!(digests, ["sha256:ff", "sha256:01", "sha256:02"]);
        assert!(
            merged_index(Some(&merged), &[&a, &b]).is_none(),
            "nothing new: no PUT"
        );
        assert_eq!(referrers_tag("sha256:abc"), "sha256-abc");
    }
}
