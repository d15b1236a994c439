//! The SBOMs attached to an image of an OCI archive.
//!
//! In: an [`Archive`], the artifacts the listing of its `index.json` found (or
//! nothing: [`Archive::sboms_of`] lists them), and the digest of an image
//! manifest. Out: each SBOM artifact whose `subject` is that manifest, as a
//! [`SbomFound`]: its format, its manifest's digest, and the crates its
//! document lists when it can be read. Why in the model: `verify` and `report`
//! both say which SBOMs an image carries, and must say the same. The
//! signatures and provenance beside them are listed too ([`Archive::trust_of`]),
//! for `report`.

use std::io::{Read, Seek};

use super::{blob_path, Archive, ArtifactEntry, Manifest, SbomFormat, MAX_JSON};

/// An SBOM artifact attached to an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomFound {
    /// `spdx`, `cyclonedx`.
    pub format: String,
    /// The artifact manifest's digest.
    pub digest: String,
    /// Crates (`pkg:cargo/` purls) the document lists, when it could be read.
    pub packages: Option<usize>,
}

impl<R: Read + Seek> Archive<R> {
    /// The signatures, provenance and bundles attached to the manifest
    /// `subject`: each artifact's kind ([`super::media::trust_kind`]) and its
    /// manifest's digest, sorted (as the build's report lists them).
    pub fn trust_of(&mut self, subject: &str) -> Vec<(&'static str, String)> {
        let Ok(listing) = self.list() else {
            return Vec::new();
        };
        let mut out: Vec<(&'static str, String)> = listing
            .artifacts
            .iter()
            .filter(|a| a.subject.as_ref().map(|s| s.digest.as_str()) == Some(subject))
            .filter_map(|a| {
                let kind = super::media::trust_kind(a.artifact_type.as_deref()?)?;
                Some((kind, a.descriptor.digest.clone()))
            })
            .collect();
        out.sort();
        out
    }

    /// The SBOM artifacts whose subject is the manifest `subject`, found by
    /// listing `index.json` (none when it cannot be listed).
    pub fn sboms_of(&mut self, subject: &str) -> Vec<SbomFound> {
        match self.list() {
            Ok(listing) => self.sboms_in(&listing.artifacts, subject),
            Err(_) => Vec::new(),
        }
    }

    /// The SBOM artifacts among `artifacts` (from the listing of this
    /// archive's `index.json`) whose subject is the manifest `subject`.
    pub fn sboms_in(&mut self, artifacts: &[ArtifactEntry], subject: &str) -> Vec<SbomFound> {
        let mut out = Vec::new();
        for a in artifacts {
            if a.subject.as_ref().map(|s| s.digest.as_str()) != Some(subject) {
                continue;
            }
            let Some(format) = a
                .artifact_type
                .as_deref()
                .and_then(SbomFormat::from_media_type)
            else {
                continue;
            };
            out.push(SbomFound {
                format: format.name().to_string(),
                digest: a.descriptor.digest.clone(),
                packages: self
                    .sbom_document(&a.blob)
                    .and_then(|doc| format.crate_count(&doc)),
            });
        }
        out
    }

    /// The one layer (the document) of the artifact manifest `blob`.
    fn sbom_document(&mut self, blob: &str) -> Option<Vec<u8>> {
        let manifest = Manifest::from_value(&self.read_json(blob).ok()?);
        let layer = manifest.layers?.into_iter().next()?;
        let name = blob_path(&layer.digest, blob).ok()?;
        self.read_small(&name, MAX_JSON, "an SBOM document").ok()
    }
}
