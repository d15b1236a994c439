//! cargo-slim: a Rust binary crate → the smallest correct container image.
//!
//! The library is the pipeline; `main.rs` (with its `cli` module, the only place
//! the argument parser lives) parses arguments into requests and renders results and errors.
//! The library prints nothing to stdout. Each stage is one module with one job and hands a typed
//! value to the next, and [`build`] below reads as that list:
//!
//! config → preflight → compile → inspect → bloat → strip → upx → image → write → report

pub mod arch;
pub mod bloat;
pub mod budget;
pub mod cache;
pub mod compile;
pub mod compress;
pub mod config;
pub mod digest;
pub mod dirfd;
pub mod elf;
pub mod engine;
pub mod error;
pub mod gzip;
pub mod image;
pub mod init;
pub mod interrupt;
pub mod io;
pub mod merge;
pub mod oci;
pub mod preflight;
pub mod push;
pub mod reference;
pub mod report;
pub mod resolve;
pub mod sbom;
pub mod shell;
pub mod strip;
#[doc(hidden)]
pub mod testing;
pub mod units;
pub mod upx;
pub mod validate;
pub mod verify;

mod archive_report;
mod pipeline;

use std::path::PathBuf;

use anyhow::Result;

use config::Plan;
use image::Image;
use report::BuildReport;
use shell::Shell;

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub path: PathBuf,
    /// One report per platform, in canonical platform order.
    pub reports: Vec<BuildReport>,
    /// Budget failures, one sentence each (empty when within budget).
    pub over_budget: Vec<String>,
    /// The output's lock ([`io::lock_output`]), held while the outcome lives, so
    /// a `--push` reads this build's tarball, not a later run's.
    pub lock: Option<std::sync::Arc<io::OutputLock>>,
}

/// `cargo slim build`: the whole pipeline, once per platform up to the image,
/// then one tarball for all of them.
pub fn build(plan: &Plan, shell: &Shell) -> Result<BuildOutcome> {
    // One run at a time writes this output, so its files always come from one build.
    let lock = io::lock_output(&plan.output, shell)?.map(std::sync::Arc::new);
    let mut clock = pipeline::Clock::start(shell);
    if let Some(p) = &plan.preset {
        shell.note(p.preset.trade_off());
        for kept in &p.kept {
            shell.note(format!(
                "your profile sets `{kept}`: it wins over the {} preset",
                p.preset.name()
            ));
        }
    }
    if oci::runtime::root_user(&plan.image.user) {
        shell.warn(format!(
            "`user` = \"{}\": the image runs as root; prefer an unprivileged numeric user \
             such as 65532:65532 (the default)",
            plan.image.user
        ));
    }
    let mut builds = Vec::new();
    for one in plan.per_platform() {
        builds.push(build_platform(&one, shell, &mut clock)?);
    }
    let set = image::ImageSet::new(builds.iter().map(|b| b.image.clone()).collect())?;
    // The set is in canonical order: report in the same order.
    builds.sort_by_key(|b| image::platform_rank(&b.image.platform));
    // SBOMs: one per platform image, beside the tarball and attached inside it.
    let described: Vec<_> = builds
        .iter()
        .filter_map(|b| Some((b.sbom.as_ref()?, sbom_subject(&b.image))))
        .collect();
    if described.is_empty() && !plan.sbom.formats.is_empty() {
        shell.verbose(
            "Skipping",
            "SBOM: a --binary input has no known dependency graph",
        );
    }
    let documents = sbom::documents(&plan.sbom, &described, &plan.output, plan.epoch)?;
    let artifacts = pipeline::attach(&set, &documents)?;
    let set = set.with_artifacts(artifacts)?;
    shell.status("Writing", plan.output.display());
    let tarball = image::tarball::prepare_set(&set, &plan.output, plan.epoch)?;
    clock.lap("write");
    for b in &mut builds {
        b.sizes.tarball = tarball.size();
    }
    let (reports, over_budget, sidecar) = pipeline::report(plan, &builds, &set, shell)?;
    for stale in tarball.swept() {
        shell.note(format!(
            "removed `{}`, a temporary file left by an earlier run that was killed",
            stale.display()
        ));
    }
    let mut pending = vec![sidecar, tarball];
    for doc in &documents {
        shell.status("Writing", doc.path.display());
        pending.push(io::prepare(&doc.path, &doc.bytes)?);
    }
    // Whatever an earlier build left beside the tarball and this one does not
    // rewrite (an SBOM of another image, another format, other platforms) goes.
    let written: Vec<&std::path::Path> = pending.iter().map(|p| p.path()).collect();
    let stale = sbom::stale_sidecars(&plan.output, &written, shell);
    // All files are complete: only now do they replace the old ones, in one step
    // a signal cannot split.
    io::commit_replacing(pending, &stale)?;
    clock.lap("report");
    let first = &builds[0];
    let platforms: Vec<String> = reports.iter().map(|r| r.platform.clone()).collect();
    shell.status(
        "Finished",
        format!(
            "{} ({}, {}) {} in {:.2}s",
            set.reference,
            platforms.join(", "),
            first.inspection.kind.as_str(),
            set.digest(),
            clock.total()
        ),
    );
    Ok(BuildOutcome {
        path: plan.output.clone(),
        reports,
        over_budget,
        lock,
    })
}

/// What an SBOM of `image` names as its subject.
fn sbom_subject(image: &Image) -> sbom::Subject {
    sbom::Subject {
        reference: image.reference.clone(),
        digest: image.manifest.digest.clone(),
        platform: image.platform.to_string(),
    }
}

/// One platform: compile → inspect → attribute → strip (or reuse all three) → upx → image.
fn build_platform(
    plan: &Plan,
    shell: &Shell,
    clock: &mut pipeline::Clock<'_>,
) -> Result<pipeline::PlatformBuild> {
    let mut compiled = pipeline::compile(plan, shell)?;
    clock.lap("compile");
    let prepared = pipeline::prepare(&compiled, plan, shell, clock)?;
    let pie = pipeline::PieInput::of(plan, &compiled, &prepared);
    let pipeline::Prepared {
        inspection,
        attribution,
        stripped,
        ..
    } = prepared;
    let final_binary = pipeline::upx(plan, stripped, &inspection, shell)?;
    clock.lap("upx");
    let (image, system) = pipeline::image(
        plan,
        &compiled.system_data,
        &final_binary,
        &inspection,
        shell,
    )?;
    clock.lap("image");
    let pie_baseline = pipeline::pie_baseline(plan, &compiled, pie, &final_binary, &image, shell)?;
    let sbom = compiled.sbom.take();
    let allocator =
        pipeline::allocator_report(compiled.allocator.as_ref(), &inspection, &compiled.path)?;
    Ok(pipeline::PlatformBuild {
        sizes: pipeline::sizes(&final_binary, &image, 0),
        upx: final_binary.upx,
        image,
        inspection,
        attribution,
        sbom,
        pie_baseline,
        allocator,
        ca_certificates: system.ca_certificates,
        zoneinfo: system.zoneinfo,
    })
}

/// `cargo slim report TARBALL`, one report per platform of the archive.
pub fn report_archive(
    tarball: &std::path::Path,
    plan: &config::ReportPlan,
    shell: &Shell,
) -> Result<(Vec<BuildReport>, Vec<String>)> {
    archive_report::report(tarball, plan, shell)
}
