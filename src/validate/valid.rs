//! What the checker returns: a [`ValidSet`] of [`ValidImage`]s (each with its
//! [`ValidLayer`]s and their [`LayerEntry`]s) and the [`ValidArtifact`]s
//! attached to them, plus the platform order both the writer and the checker
//! follow.
//!
//! In: nothing but the values the checks found. Out: the types callers read
//! (`push`, `index`, `report`, the tests). Why apart: every check builds these,
//! so they sit below the checks and import nothing of them but the error.

use anyhow::Result;
use serde_json::Value;

use super::errors::Violation;
use crate::oci::Platform;

/// A validated image tarball.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidImage {
    /// Full reference, e.g. `localhost/hello:0.1.0` (from the index.json annotations).
    pub reference: String,
    /// `sha256:<hex>` of the OCI manifest blob.
    pub manifest_digest: String,
    pub manifest_size: u64,
    /// `sha256:<hex>` of the image config blob.
    pub config_digest: String,
    pub config_size: u64,
    /// Layers in manifest order.
    pub layers: Vec<ValidLayer>,
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
    /// The mtime of every outer tar entry (and of every layer entry).
    pub mtime: u64,
    /// The parsed image config.
    pub config: Value,
    pub manifest_bytes: Vec<u8>,
    pub config_bytes: Vec<u8>,
}

impl ValidImage {
    /// `os/architecture[/variant]`.
    pub fn platform(&self) -> String {
        let mut s = format!("{}/{}", self.os, self.architecture);
        if let Some(v) = &self.variant {
            s = format!("{s}/{v}");
        }
        s
    }

    /// The entry for `path` in the topmost layer that has it (leading `/` or
    /// `./` and a trailing `/` are ignored). Whiteouts are not interpreted.
    pub fn find(&self, path: &str) -> Option<&LayerEntry> {
        let want = normalize_lookup(path);
        self.layers
            .iter()
            .rev()
            .find_map(|l| l.files.iter().find(|e| e.path == want))
    }
}

/// A validated tarball: one image, or several platforms of one reference.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSet {
    /// Full reference, e.g. `localhost/hello:0.1.0` (from the index.json annotations).
    pub reference: String,
    /// `sha256:<hex>` of the OCI image index blob (several platforms, or one
    /// with attached SBOMs).
    pub index_digest: Option<String>,
    pub index_bytes: Option<Vec<u8>>,
    /// One image per platform, in the tarball's (canonical) order.
    pub images: Vec<ValidImage>,
    /// The SBOM artifacts attached to the images, in image order.
    pub artifacts: Vec<ValidArtifact>,
    /// The mtime of every outer tar entry (and of every layer entry).
    pub mtime: u64,
}

impl ValidSet {
    /// The digest a user pulls: the image index's for several platforms, else
    /// the one manifest's (an index that only adds SBOMs is not pushed).
    pub fn digest(&self) -> &str {
        match &self.index_digest {
            Some(d) if self.images.len() > 1 => d,
            _ => &self.images[0].manifest_digest,
        }
    }

    /// The artifacts attached to image `i`.
    pub fn artifacts_of(&self, i: usize) -> impl Iterator<Item = &ValidArtifact> {
        let digest = self.images.get(i).map(|m| m.manifest_digest.clone());
        self.artifacts
            .iter()
            .filter(move |a| Some(&a.subject) == digest.as_ref())
    }

    /// `linux/amd64, linux/arm64/v8`: the platforms, for messages.
    pub fn platforms(&self) -> String {
        self.images
            .iter()
            .map(ValidImage::platform)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The one image, or an error naming the platforms of a multi-platform tarball.
    pub fn single(mut self, what: &str) -> Result<ValidImage> {
        if self.images.len() == 1 {
            return Ok(self.images.remove(0));
        }
        Err(anyhow::Error::new(Violation {
            entry: "index.json".into(),
            detail: format!(
                "{what} is a multi-platform image tarball ({}), but a single-platform one is                  expected here",
                self.platforms()
            ),
        }))
    }
}

/// Where a platform sorts in a multi-platform tarball: by the row of its
/// architecture in [`crate::arch::ARCHES`] (so amd64 before arm64; unknown
/// ones after every known one, by name), then os and variant. The writer
/// (`image::ImageSet`) sorts by it, and the checker requires it.
pub fn platform_order(p: &Platform) -> (usize, &str, &str, &str) {
    let row = crate::arch::ARCHES
        .iter()
        .position(|a| a.goarch == p.architecture)
        .unwrap_or(crate::arch::ARCHES.len());
    (
        row,
        p.architecture.as_str(),
        p.os.as_str(),
        p.variant.as_deref().unwrap_or_default(),
    )
}

/// One validated layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidLayer {
    /// `sha256:<hex>` of the compressed blob.
    pub digest: String,
    /// Compressed size.
    pub size: u64,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    pub uncompressed_size: u64,
    /// Entries in tar order.
    pub files: Vec<LayerEntry>,
}

/// One entry of a layer tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    /// Relative path without a trailing `/` (directories too), e.g. `etc`, `etc/passwd`.
    pub path: String,
    /// `'f'` regular file, `'d'` directory, `'l'` symlink.
    pub kind: char,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    pub size: u64,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

/// A checked artifact manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidArtifact {
    /// `sha256:<hex>` of the artifact manifest.
    pub manifest_digest: String,
    /// `sha256:<hex>` of the image manifest it is attached to.
    pub subject: String,
    /// `application/spdx+json`, `application/vnd.cyclonedx+json`.
    pub artifact_type: String,
    /// `spdx`, `cyclonedx`.
    pub format: String,
    /// The document's blob and size.
    pub layer_digest: String,
    pub layer_size: u64,
    /// The layer's media type (a signed attestation's is a DSSE envelope).
    pub layer_media_type: String,
    /// The artifact manifest, byte for byte.
    pub manifest_bytes: Vec<u8>,
    /// Entry names, in the order the blobs must come: config, layer, manifest.
    pub(super) blob_names: [String; 3],
}

/// A lookup path as layers store it: no leading `/` or `./`, no trailing `/`.
pub(super) fn normalize_lookup(path: &str) -> String {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            break;
        }
    }
    p.trim_end_matches('/').to_string()
}
