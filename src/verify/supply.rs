//! Supply-chain facts of `cargo slim verify`: the SBOMs attached to an image and
//! the `.dep-v0` dependency list in its entrypoint.
//!
//! In: the archive, the image being checked (its manifest digest), the
//! artifacts the listing of its `index.json` found (`verify` lists it once, for
//! the image and its SBOMs alike), and the entrypoint's [`FileVerdict`]. Out:
//! the [`SbomFound`]s of the image (format, artifact digest, crates listed, as
//! the model reads them) and notes when scanners would find
//! nothing: no SBOM attached, no `.dep-v0` section, or a UPX-packed entrypoint
//! that hides it.
//! Why apart: these never fail a verify (an image without an SBOM still runs), so
//! they are facts for the report, not checks.

use std::io::{Read, Seek};

use super::{FileVerdict, Report};
pub use crate::oci::SbomFound;
use crate::oci::{Archive, ArtifactEntry, ImageRef};

/// The SBOM artifacts among `artifacts` (from the listing of `ar`'s
/// `index.json`) whose subject is `img`.
pub fn sboms_in<R: Read + Seek>(
    ar: &mut Archive<R>,
    artifacts: &[ArtifactEntry],
    img: &ImageRef,
) -> Vec<SbomFound> {
    match &img.manifest_digest {
        Some(digest) => ar.sboms_in(artifacts, digest),
        None => Vec::new(),
    }
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
