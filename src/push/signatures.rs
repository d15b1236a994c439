//! cosign's signature tag: where `cosign verify --key` looks for an image's
//! signatures, written from the signature artifacts the tarball carries.
//!
//! In: the [`Attached`] artifacts of type [`MEDIA_TYPE_COSIGN_SIGNATURE`] (each
//! one signature: a simple-signing payload layer with its
//! `dev.cosignproject.cosign/signature` annotation; its blobs already pushed with
//! the image) and what the registry holds under `sha256-<subject hex>.sig`. Out:
//! that tag holding an OCI image manifest (config
//! `application/vnd.oci.image.config.v1+json` describing the layers, as
//! go-containerregistry writes it for cosign; one layer per signature), merged:
//! every layer already there is kept (another key's signature survives a
//! re-push), ours are added unless the very same layer (payload and signature) is
//! there. Signatures are deterministic (RFC 6979), so a re-push of an unchanged
//! signature writes nothing. Why apart from the referrers: cosign (without its
//! experimental OCI 1.1 mode), policy-controller and Kyverno read this tag.
//!
//! Signed attestations (SLSA provenance in a DSSE envelope) go the same way to
//! cosign's attestation tag `sha256-<hex>.att`, one layer per envelope
//! (`application/vnd.dsse.envelope.v1+json`, annotated with `predicateType` and an
//! empty `dev.cosignproject.cosign/signature`), where `cosign verify-attestation`
//! looks. Unsigned statements go only as referrers: cosign takes nothing unsigned.

use anyhow::Result;
use serde_json::{json, Value};

use super::client::Client;
use super::referrers::referrers_tag;
use super::transport::{gave_up, retry, Attempt};
use super::{short, Job};
use crate::oci::canonical::canonical_json;
use crate::oci::media::{
    MEDIA_TYPE_CONFIG, MEDIA_TYPE_COSIGN_SIGNATURE, MEDIA_TYPE_DSSE, MEDIA_TYPE_IN_TOTO,
    MEDIA_TYPE_MANIFEST,
};
use crate::oci::Attached;

/// `sha256:<hex>` → cosign's tag `sha256-<hex>.<suffix>` (`sig`, `att`).
pub fn cosign_tag(subject: &str, suffix: &str) -> String {
    format!("{}.{suffix}", referrers_tag(subject))
}

/// The two tags cosign reads: what goes in each, and its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Simple-signing payloads, `sha256-<hex>.sig`.
    Signatures,
    /// DSSE envelopes of attestations, `sha256-<hex>.att`.
    Attestations,
}

impl Kind {
    fn suffix(self) -> &'static str {
        match self {
            Kind::Signatures => "sig",
            Kind::Attestations => "att",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Signatures => "signature(s)",
            Kind::Attestations => "attestation(s)",
        }
    }

    /// Whether the artifact `a`, its layer `layer`, goes to this tag.
    fn takes(self, a: &Attached, layer: &Value) -> bool {
        match self {
            Kind::Signatures => a.artifact_type == MEDIA_TYPE_COSIGN_SIGNATURE,
            Kind::Attestations => {
                a.artifact_type == MEDIA_TYPE_IN_TOTO && layer["mediaType"] == MEDIA_TYPE_DSSE
            }
        }
    }
}

/// The signature layer (payload descriptor with its annotation) of a signature artifact.
fn signature_layer(a: &Attached) -> Option<Value> {
    let m: Value = serde_json::from_slice(&a.doc.bytes).ok()?;
    m["layers"].get(0).cloned()
}

/// The layers of the `.sig` manifest after adding `ours` to what the tag held;
/// `None` when every one of ours is there already.
pub fn merged_layers(held: Option<&Value>, ours: &[Value]) -> Option<Vec<Value>> {
    let mut layers: Vec<Value> = held
        .and_then(|m| m["layers"].as_array())
        .cloned()
        .unwrap_or_default();
    let same =
        |a: &Value, b: &Value| a["digest"] == b["digest"] && a["annotations"] == b["annotations"];
    let before = layers.len();
    for layer in ours {
        if !layers.iter().any(|l| same(l, layer)) {
            layers.push(layer.clone());
        }
    }
    (layers.len() > before).then_some(layers)
}

/// The config of a `.sig` manifest of `layers`: go-containerregistry's empty
/// image with the layers appended (their blobs are not compressed: diff_id = digest).
pub fn signature_config(layers: &[Value]) -> Vec<u8> {
    let zero = "0001-01-01T00:00:00Z";
    canonical_json(&json!({
        "architecture": "",
        "config": {},
        "created": zero,
        "history": layers.iter().map(|_| json!({"created": zero})).collect::<Vec<_>>(),
        "os": "",
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l["digest"].clone()).collect::<Vec<_>>(),
        },
    }))
}

impl Job<'_> {
    /// Write each signed image's signatures to its `.sig` tag and its signed
    /// attestations to its `.att` tag (module header).
    pub(super) async fn put_signature_tags(&self, client: &Client, base: &str) -> Result<()> {
        for kind in [Kind::Signatures, Kind::Attestations] {
            let ours: Vec<(&str, Value)> = self
                .peek
                .attached
                .iter()
                .filter_map(|a| Some((a, signature_layer(a)?)))
                .filter(|(a, layer)| kind.takes(a, layer))
                .map(|(a, layer)| (a.subject.as_str(), layer))
                .collect();
            let mut subjects: Vec<&str> = Vec::new();
            for (s, _) in &ours {
                if !subjects.contains(s) {
                    subjects.push(s);
                }
            }
            for subject in subjects {
                let layers: Vec<Value> = ours
                    .iter()
                    .filter(|(s, _)| *s == subject)
                    .map(|(_, l)| l.clone())
                    .collect();
                self.put_signature_tag(client, base, subject, kind, &layers)
                    .await?;
            }
        }
        Ok(())
    }

    /// Merge `ours` into the `.sig` (or `.att`) tag of `subject`.
    async fn put_signature_tag(
        &self,
        client: &Client,
        base: &str,
        subject: &str,
        kind: Kind,
        ours: &[Value],
    ) -> Result<()> {
        let (shell, policy) = (self.shell, &self.opts.retry);
        let repo = &self.target.repository;
        let tag = cosign_tag(subject, kind.suffix());
        let held = self
            .read_tag(client, base, &tag, MEDIA_TYPE_MANIFEST)
            .await
            .map_err(|f| f.help("the tag is where cosign keeps the signatures (or attestations) of that digest; delete it or push to another repository"))?;
        let Some(layers) = merged_layers(held.as_ref(), ours) else {
            shell.status(
                "Unchanged",
                format!("{} (tag {tag} holds ours)", short(subject)),
            );
            return Ok(());
        };
        let config = signature_config(&layers);
        let config_digest = crate::digest::sha256_digest(&config);
        let there = retry(
            policy,
            "HEAD signature config",
            shell,
            Attempt::clone,
            || client.blob_exists(&config_digest),
        )
        .await
        .map_err(|g| gave_up(g, "check the signature config", base))?;
        if !there {
            let body = bytes::Bytes::from(config.clone());
            retry(
                policy,
                "upload signature config",
                shell,
                Attempt::clone,
                || client.upload_blob(&config_digest, config.len() as u64, || body.clone().into()),
            )
            .await
            .map_err(|g| gave_up(g, "upload the signature config", base))?;
        }
        let manifest = canonical_json(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": {"mediaType": MEDIA_TYPE_CONFIG, "size": config.len(), "digest": config_digest},
            "layers": layers,
        }));
        retry(
            policy,
            &format!("PUT {repo}:{tag}"),
            shell,
            Attempt::clone,
            || client.put_manifest(&tag, MEDIA_TYPE_MANIFEST, &manifest),
        )
        .await
        .map_err(|g| gave_up(g, &format!("push the tag `{tag}`"), base))?;
        shell.status(
            "Tagged",
            format!(
                "{} (tag {tag}, {} {})",
                short(subject),
                layers.len(),
                kind.noun()
            ),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(digest: &str, sig: &str) -> Value {
        json!({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": digest,
               "size": 3, "annotations": {"dev.cosignproject.cosign/signature": sig}})
    }

    #[test]
    fn the_sig_tag_keeps_other_signatures_and_adds_ours_once() {
        let ours = [layer("sha256:01", "AAA")];
        let fresh = merged_layers(None, &ours).unwrap();
        assert_eq!(fresh, ours);
        let held = json!({"layers": [layer("sha256:01", "BBB")]});
        let merged = merged_layers(Some(&held), &ours).unwrap();
        assert_eq!(
            merged,
            [layer("sha256:01", "BBB"), layer("sha256:01", "AAA")]
        );
        let again = json!({ "layers": merged });
        assert!(
            merged_layers(Some(&again), &ours).is_none(),
            "nothing new: no PUT"
        );
        assert_eq!(cosign_tag("sha256:ab", "sig"), "sha256-ab.sig");
        assert_eq!(
            cosign_tag("sha256:ab", Kind::Attestations.suffix()),
            "sha256-ab.att"
        );
        let config: Value = serde_json::from_slice(&signature_config(&fresh)).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"], json!(["sha256:01"]));
    }
}
