//! `cargo slim report ARCHIVE`: the size report recomputed from any image archive.
//!
//! In: the path of an image archive — cargo-slim's tarball, an OCI archive from
//! skopeo or `docker save`, a docker-archive, a multi-platform OCI archive — and
//! the report plan (budgets, baseline, chart). Out: one [`BuildReport`] per
//! platform (a single-platform archive has one), with the image-level figures read
//! from the archive itself, every layer hashed and unpacked as it is measured; the
//! per-crate figures come from the sidecar report beside the tarball when it
//! belongs to the same manifest.
//!
//! Why through the model ([`crate::oci::peek`] and the lenient
//! [`crate::oci::Archive`]), not `validate` (strict): `report` used to refuse
//! every archive cargo-slim did not write. It reads what `push` reads, so the
//! manifest digest a report shows is the one a push prints (for a docker-archive:
//! the OCI manifest written for it), and what is not an image archive gets the
//! same sentence from both. The report itself is made and finished by
//! [`crate::report`], as `build`'s is.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::Result;

use crate::config::ReportPlan;
use crate::error::io_failure;
use crate::oci::{self, Archive, Document, ImageRef, Strictness};
use crate::report::{self, BuildFacts, BuildReport, ImageFigures, LayerReport, Sizes};
use crate::shell::Shell;

type Ar = Archive<BufReader<File>>;

/// One report per platform of `tarball`, each through the budget, baseline and
/// outputs of `plan`; and every budget failure, one sentence each (prefixed with
/// the platform when there are several).
pub fn report(
    tarball: &Path,
    plan: &ReportPlan,
    shell: &Shell,
) -> Result<(Vec<BuildReport>, Vec<String>)> {
    crate::io::open_regular(tarball, "an image tarball")?;
    let peek = oci::peek(tarball)?;
    let tar_size = std::fs::metadata(tarball)
        .map_err(|e| io_failure("read", tarball, &e))?
        .len();
    let file = File::open(tarball).map_err(|e| io_failure("open", tarball, &e))?;
    let mut ar = Archive::open(BufReader::new(file), Strictness::Lenient)?;
    let platforms = peek.images();
    let several = platforms.len() > 1;
    let (mut reports, mut over) = (Vec::new(), Vec::new());
    for doc in platforms {
        let arch = several
            .then_some(doc.platform.as_deref())
            .flatten()
            .and_then(|p| p.split('/').nth(1));
        let image = ar.image(arch)?;
        let mut r = measure(&mut ar, &image, doc, tarball, tar_size, shell)?;
        if r.reference.is_empty() {
            r.reference = peek.name.clone().unwrap_or_default();
        }
        if several {
            shell.status(
                "Platform",
                format!("{} ({})", r.platform, r.manifest_digest),
            );
        }
        let (r, o) = report::finish(
            r,
            &plan.budget,
            plan.baseline.as_deref(),
            plan.chart.as_deref(),
            shell,
        )?;
        if several {
            over.extend(o.into_iter().map(|s| format!("{}: {s}", r.platform)));
        } else {
            over.extend(o);
        }
        reports.push(r);
    }
    Ok((reports, over))
}

/// The report of one image: its own figures, and the sidecar's when it matches.
fn measure(
    ar: &mut Ar,
    image: &ImageRef,
    doc: &Document,
    tarball: &Path,
    tar_size: u64,
    shell: &Shell,
) -> Result<BuildReport> {
    let (layers, binary_final) = walk_layers(ar, image)?;
    let compressed = layers.iter().map(|l| l.compressed).sum();
    // The config descriptor's size: checked against the archive by `oci::peek`.
    let config_size = serde_json::from_slice::<serde_json::Value>(&doc.bytes)
        .ok()
        .and_then(|m| m["config"]["size"].as_u64())
        .unwrap_or(0);
    let sizes = Sizes {
        binary_unstripped: None,
        binary_stripped: None,
        dep_v0: None,
        binary_packed: None,
        binary_final,
        layer_compressed: compressed,
        layer_uncompressed: layers.iter().map(|l| l.uncompressed).sum(),
        image_pull: report::pull_size(doc.bytes.len() as u64, config_size, [compressed]),
        tarball: tar_size,
    };
    let (sizes, build) = sidecar(tarball, &doc.digest, sizes, shell);
    let platform = oci::Platform {
        os: image.os().unwrap_or("?").to_string(),
        architecture: image.architecture().unwrap_or("?").to_string(),
        variant: image.variant().map(str::to_string),
    };
    let (sbom, attached) = match &image.manifest_digest {
        Some(digest) => (
            ar.sboms_of(digest).into_iter().map(Into::into).collect(),
            ar.trust_of(digest)
                .into_iter()
                .map(|(kind, digest)| report::AttachedReport {
                    kind: kind.to_string(),
                    digest,
                })
                .collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let figures = ImageFigures {
        path: tarball.display().to_string(),
        reference: image.reference.clone().unwrap_or_default(),
        manifest_digest: doc.digest.clone(),
        index_digest: None,
        platform: platform.to_string(),
        sizes,
        layers,
        sbom,
        attached,
    };
    Ok(BuildReport::new("image-report", figures, build))
}

/// Every layer of `image`, hashed and unpacked: its report, and the size of the
/// entrypoint's file (0 when no layer holds it).
fn walk_layers(ar: &mut Ar, image: &ImageRef) -> Result<(Vec<LayerReport>, u64)> {
    let entry = image
        .run_list("Entrypoint")
        .into_iter()
        .next()
        .or_else(|| image.run_list("Cmd").into_iter().next())
        .unwrap_or_default();
    let entry = oci::normalize(&entry);
    let mut binary_final = 0;
    let holds = image.layer_comments();
    let mut layers = Vec::new();
    for (layer, holds) in image.layers.iter().zip(holds) {
        let sizes = ar.walk_layer_sized(layer, |e, _| {
            if !entry.is_empty() && e.path == entry {
                binary_final = e.size;
            }
            Ok(())
        })?;
        layers.push(LayerReport {
            holds,
            digest: layer.digest.clone().unwrap_or_default(),
            compressed: sizes.blob,
            uncompressed: sizes.uncompressed,
        });
    }
    Ok((layers, binary_final))
}

/// The build facts of the sidecar report beside `tarball`, when it belongs to
/// the manifest `digest` (its binary sizes put in `sizes`); else none, saying why.
fn sidecar(tarball: &Path, digest: &str, sizes: Sizes, shell: &Shell) -> (Sizes, BuildFacts) {
    let sidecar = report::sidecar_path(tarball);
    let stored = report::load_reports(&sidecar)
        .map(|all| all.into_iter().find(|r| r.manifest_digest == digest));
    match stored {
        Ok(Some(stored)) => (sizes.with_binary_of(&stored.sizes), BuildFacts::of(stored)),
        Ok(_) => {
            shell.note(format!(
                "{} belongs to another build (different manifest digest); showing image-level figures only",
                sidecar.display()
            ));
            (sizes, BuildFacts::default())
        }
        Err(_) => {
            shell.note(format!(
                "no report beside the tarball ({}); showing image-level figures only",
                sidecar.display()
            ));
            (sizes, BuildFacts::default())
        }
    }
}
