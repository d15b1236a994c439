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
//! Why through [`crate::push::source`] and [`crate::oci::Archive`] (lenient), not
//! `validate` (strict): `report` used to refuse every archive cargo-slim did not
//! write. It now reads what `push` reads, so the manifest digest a report shows is
//! the one a push prints (for a docker-archive: the OCI manifest push writes for
//! it), and what is not an image archive gets the same sentence from both.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::Result;

use crate::config::ReportPlan;
use crate::error::io_failure;
use crate::oci::{Archive, ImageRef, Strictness};
use crate::push::source::{self, Document};
use crate::report::{self, BuildReport, LayerReport, Sizes};
use crate::shell::Shell;

/// One report per platform of `tarball`, each through the budget, baseline and
/// outputs of `plan`; and every budget failure, one sentence each (prefixed with
/// the platform when there are several).
pub fn report(
    tarball: &Path,
    plan: &ReportPlan,
    shell: &Shell,
) -> Result<(Vec<BuildReport>, Vec<String>)> {
    crate::io::open_regular(tarball, "an image tarball")?;
    let peek = source::peek(tarball)?;
    let tar_size = std::fs::metadata(tarball)
        .map_err(|e| io_failure("read", tarball, &e))?
        .len();
    let file = File::open(tarball).map_err(|e| io_failure("open", tarball, &e))?;
    let mut ar = Archive::open(BufReader::new(file), Strictness::Lenient)?;
    let platforms: Vec<&Document> = if peek.children.is_empty() {
        vec![&peek.top]
    } else {
        peek.children.iter().collect()
    };
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
        let (r, o) = crate::pipeline::finish_report(r, plan, shell)?;
        if several {
            over.extend(o.into_iter().map(|s| format!("{}: {s}", r.platform)));
        } else {
            over.extend(o);
        }
        reports.push(r);
    }
    Ok((reports, over))
}

/// The image-level figures of one image, and the sidecar's when it matches.
fn measure(
    ar: &mut Archive<BufReader<File>>,
    image: &ImageRef,
    doc: &Document,
    tarball: &Path,
    tar_size: u64,
    shell: &Shell,
) -> Result<BuildReport> {
    let entry = image
        .run_list("Entrypoint")
        .into_iter()
        .next()
        .or_else(|| image.run_list("Cmd").into_iter().next())
        .unwrap_or_default();
    let entry = crate::oci::normalize(&entry);
    let (mut compressed, mut uncompressed, mut binary_final) = (0, 0, 0);
    let holds = crate::image::history_comments(&image.config, image.layers.len());
    let mut layers = Vec::new();
    for (layer, holds) in image.layers.iter().zip(holds) {
        let sizes = ar.walk_layer_sized(layer, |e, _| {
            if !entry.is_empty() && e.path == entry {
                binary_final = e.size;
            }
            Ok(())
        })?;
        compressed += sizes.blob;
        uncompressed += sizes.uncompressed;
        layers.push(LayerReport {
            holds,
            digest: layer.digest.clone().unwrap_or_default(),
            compressed: sizes.blob,
            uncompressed: sizes.uncompressed,
        });
    }
    // The config descriptor's size: checked against the archive by `source::peek`.
    let config_size = serde_json::from_slice::<serde_json::Value>(&doc.bytes)
        .ok()
        .and_then(|m| m["config"]["size"].as_u64())
        .unwrap_or(0);
    let mut sizes = Sizes {
        binary_unstripped: None,
        binary_stripped: None,
        dep_v0: None,
        binary_packed: None,
        binary_final,
        layer_compressed: compressed,
        layer_uncompressed: uncompressed,
        image_pull: report::pull_size(doc.bytes.len() as u64, config_size, [compressed]),
        tarball: tar_size,
    };
    let (mut crates, mut sections, mut upx, mut preset) = (Vec::new(), Vec::new(), None, None);
    let (mut linkage, mut pie_baseline, mut allocator) = (None, None, None);
    let (mut ca_certificates, mut zoneinfo) = (None, None);
    let sidecar = report::sidecar_path(tarball);
    let stored = report::load_reports(&sidecar)
        .map(|all| all.into_iter().find(|r| r.manifest_digest == doc.digest));
    match stored {
        Ok(Some(stored)) => {
            sizes.binary_unstripped = stored.sizes.binary_unstripped;
            sizes.binary_stripped = stored.sizes.binary_stripped;
            sizes.dep_v0 = stored.sizes.dep_v0;
            sizes.binary_packed = stored.sizes.binary_packed;
            crates = stored.crates;
            sections = stored.sections;
            upx = stored.upx;
            preset = stored.preset;
            linkage = stored.linkage;
            pie_baseline = stored.pie_baseline;
            allocator = stored.allocator;
            ca_certificates = stored.ca_certificates;
            zoneinfo = stored.zoneinfo;
        }
        Ok(_) => shell.note(format!(
            "{} belongs to another build (different manifest digest); showing image-level figures only",
            sidecar.display()
        )),
        Err(_) => shell.note(format!(
            "no report beside the tarball ({}); showing image-level figures only",
            sidecar.display()
        )),
    }
    let platform = crate::image::Platform {
        os: image.os().unwrap_or("?").to_string(),
        architecture: image.architecture().unwrap_or("?").to_string(),
        variant: image.variant().map(str::to_string),
    }
    .to_string();
    Ok(BuildReport {
        reason: "image-report".into(),
        path: tarball.display().to_string(),
        reference: image.reference.clone().unwrap_or_default(),
        manifest_digest: doc.digest.clone(),
        index_digest: None,
        platform,
        sizes,
        layers,
        crates,
        sections,
        upx,
        budget: Default::default(),
        baseline: None,
        preset,
        linkage,
        pie_baseline,
        sbom: crate::verify::sboms_of(ar, image)
            .into_iter()
            .map(|s| report::SbomReport {
                format: s.format,
                digest: s.digest,
                packages: s.packages,
            })
            .collect(),
        allocator,
        ca_certificates,
        zoneinfo,
    })
}
