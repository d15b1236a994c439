//! Supply-chain facts of `cargo slim verify`: the SBOMs attached to an image and
//! the `.dep-v0` dependency list in its entrypoint.
//!
//! In: the archive, the image being checked (its manifest digest), the
//! artifacts the listing of its `index.json` found (`verify` lists it once, for
//! the image and its SBOMs alike; [`sboms_of`] lists it for other callers), and
//! the entrypoint's [`FileVerdict`]. Out: the [`SbomFound`]s of the image
//! (format, artifact digest, crates listed) and notes when scanners would find
//! nothing: no SBOM attached, no `.dep-v0` section, or a UPX-packed entrypoint
//! that hides it.
//! Why apart: these never fail a verify (an image without an SBOM still runs), so
//! they are facts for the report, not checks.

use std::io::{Read, Seek};

use super::{FileVerdict, Report};
use crate::oci::{blob_path, Archive, ArtifactEntry, ImageRef, SbomFormat, MAX_JSON};
use crate::sbom;

/// An SBOM artifact attached to the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomFound {
    /// `spdx`, `cyclonedx`.
    pub format: String,
    /// The artifact manifest's digest.
    pub digest: String,
    /// Crates (`pkg:cargo/` purls) the document lists, when it could be read.
    pub packages: Option<usize>,
}

/// The SBOM artifacts of `archive` whose subject is `img`, found by listing
/// its `index.json` (a caller that has listed it already calls [`sboms_in`]).
pub fn sboms_of<R: Read + Seek>(ar: &mut Archive<R>, img: &ImageRef) -> Vec<SbomFound> {
    if img.manifest_digest.is_none() {
        return Vec::new();
    }
    match ar.list() {
        Ok(listing) => sboms_in(ar, &listing.artifacts, img),
        Err(_) => Vec::new(),
    }
}

/// The SBOM artifacts among `artifacts` (from the listing of `ar`'s
/// `index.json`) whose subject is `img`.
pub fn sboms_in<R: Read + Seek>(
    ar: &mut Archive<R>,
    artifacts: &[ArtifactEntry],
    img: &ImageRef,
) -> Vec<SbomFound> {
    let Some(digest) = &img.manifest_digest else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in artifacts {
        if a.subject.as_ref().map(|s| &s.digest) != Some(digest) {
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
            packages: document(ar, &a.blob).and_then(|doc| sbom::crate_count(format, &doc)),
        });
    }
    out
}

/// The one layer (the document) of the artifact manifest `blob`.
fn document<R: Read + Seek>(ar: &mut Archive<R>, blob: &str) -> Option<Vec<u8>> {
    let manifest = crate::oci::Manifest::from_value(&ar.read_json(blob).ok()?);
    let layer = manifest.layers?.into_iter().next()?;
    let name = blob_path(&layer.digest, blob).ok()?;
    ar.read_small(&name, MAX_JSON, "an SBOM document").ok()
}

/// Record the supply-chain facts of the image in `report`.
pub fn record(report: &mut Report, sboms: Vec<SbomFound>, entry: Option<&FileVerdict>) {
    if sboms.is_empty() {
        report.notes.push(
            "no SBOM is attached to the image (build with `--sbom spdx` to attach one)".into(),
        );
    }
    report.sbom = sboms;
    let Some(entry) = entry else {
        return;
    };
    match (&entry.dep_v0, entry.verdict.packer) {
        (Some(Ok(_)), _) => {}
        (Some(Err(why)), _) => report.warnings.push(format!(
            "`{}`: its `.dep-v0` section cannot be read ({why}): scanners will not see its crates",
            entry.path
        )),
        (None, Some(packer)) => report.notes.push(format!(
            "`{}` is {packer}-packed: a scanner cannot see a `.dep-v0` dependency list in it (the SBOM still describes it)",
            entry.path
        )),
        (None, None) => report.notes.push(format!(
            "`{}` has no `.dep-v0` section: image scanners (Trivy, syft) find no Rust crates in it",
            entry.path
        )),
    }
}
