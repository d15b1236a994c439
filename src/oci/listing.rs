//! Every manifest an OCI archive's `index.json` reaches, sorted into images and
//! artifacts.
//!
//! In: an [`Archive`] with an `index.json`. Out: a [`Listing`]: the image
//! manifests (one per platform of a multi-platform index, nested indexes
//! followed) and, kept apart, the artifact manifests (an SBOM or signature with
//! `artifactType` or `subject`, a buildx attestation), so no reader mistakes an
//! SBOM for an image. Why a cycle check on top of the depth limit: blob names
//! are not proven to match their content here (the lenient reader hashes only
//! layers), so an index may list itself.

use serde_json::Value;

use super::documents::{Descriptor, Index, Manifest};
use super::{blob_path, Archive, MAX_INDEX_DEPTH};
use crate::error::Failure;
use std::io::{Read, Seek};

/// An image manifest found through the index.
#[derive(Debug, Clone)]
pub struct ImageEntry {
    /// Entry name of the manifest blob, e.g. `blobs/sha256/<hex>`.
    pub blob: String,
    /// The descriptor that named it (platform, annotations).
    pub descriptor: Descriptor,
    /// The nearest image name on the way (descriptor annotations).
    pub reference: Option<String>,
    pub manifest: Manifest,
    /// The manifest as parsed JSON.
    pub value: Value,
}

impl ImageEntry {
    /// `os/arch[/variant]` from the descriptor, `?/?` without a platform.
    pub fn platform(&self) -> String {
        self.descriptor
            .platform
            .as_ref()
            .map_or_else(|| "?/?".to_string(), |p| p.to_string())
    }
}

/// An artifact manifest (SBOM, signature, attestation) found through the index.
#[derive(Debug, Clone)]
pub struct ArtifactEntry {
    pub blob: String,
    pub descriptor: Descriptor,
    /// `artifactType`, else the config media type.
    pub artifact_type: Option<String>,
    /// The manifest it is attached to, when it says.
    pub subject: Option<Descriptor>,
}

/// The manifests reachable from `index.json`.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub images: Vec<ImageEntry>,
    pub artifacts: Vec<ArtifactEntry>,
    /// Descriptors whose blob is not in the archive (`docker save` of a
    /// multi-platform image lists every platform but may carry one).
    pub absent: Vec<Descriptor>,
}

impl<R: Read + Seek> Archive<R> {
    /// Follow `index.json` through nested indexes to every manifest.
    pub fn list(&mut self) -> Result<Listing, Failure> {
        let index = self.read_json("index.json")?;
        let mut out = Listing::default();
        let mut path = vec!["index.json".to_string()];
        self.collect(&index, &mut path, None, &mut out)?;
        Ok(out)
    }

    fn collect(
        &mut self,
        doc: &Value,
        path: &mut Vec<String>,
        reference: Option<String>,
        out: &mut Listing,
    ) -> Result<(), Failure> {
        let name = path.last().cloned().unwrap_or_default();
        if path.len() > MAX_INDEX_DEPTH + 1 {
            return Err(Failure::new(format!(
                "image indexes nest deeper than {MAX_INDEX_DEPTH} levels (at `{name}`)"
            )));
        }
        let Some(manifests) = Index::from_value(doc).manifests else {
            return Err(Failure::new(format!("`{name}` has no `manifests` list")));
        };
        for d in manifests {
            let reference = d.reference().or_else(|| reference.clone());
            let blob = blob_path(&d.digest, &name)?;
            if path.contains(&blob) {
                return Err(Failure::new(format!(
                    "the image index `{name}` refers back to `{blob}`, an index it is nested in: the indexes form a cycle"
                ))
                .detail(format!("path: {} → {blob}", path.join(" → "))));
            }
            if !self.has(&blob) {
                out.absent.push(d);
                continue;
            }
            let value = self.read_json(&blob)?;
            if d.says_attestation() {
                // buildx attestations and SBOMs (`unknown/unknown`): listed, never
                // read as an image.
                let manifest = Manifest::from_value(&value);
                out.artifacts.push(ArtifactEntry {
                    blob,
                    artifact_type: d.artifact_type.clone().or(manifest.artifact_type),
                    subject: manifest.subject,
                    descriptor: d,
                });
                continue;
            }
            if Index::is_index(&d, &value) {
                path.push(blob);
                self.collect(&value, path, reference, out)?;
                path.pop();
                continue;
            }
            let manifest = Manifest::from_value(&value);
            if manifest.is_artifact() || d.artifact_type.is_some() {
                out.artifacts.push(ArtifactEntry {
                    blob,
                    artifact_type: manifest
                        .artifact_type
                        .clone()
                        .or_else(|| d.artifact_type.clone())
                        .or_else(|| manifest.config.as_ref().and_then(|c| c.media_type.clone())),
                    subject: manifest.subject.clone(),
                    descriptor: d,
                });
            } else {
                out.images.push(ImageEntry {
                    blob,
                    descriptor: d,
                    reference,
                    manifest,
                    value,
                });
            }
        }
        Ok(())
    }
}
