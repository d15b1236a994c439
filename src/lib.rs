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
pub mod compile;
pub mod config;
pub mod digest;
pub mod elf;
pub mod error;
pub mod gzip;
pub mod image;
pub mod interrupt;
pub mod io;
pub mod merge;
pub mod oci;
pub mod preflight;
pub mod push;
pub mod reference;
pub mod report;
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
use elf::Inspection;
use image::Image;
use report::BuildReport;
use shell::Shell;

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub path: PathBuf,
    pub image: Image,
    pub inspection: Inspection,
    pub report: BuildReport,
    /// Budget failures, one sentence each (empty when within budget).
    pub over_budget: Vec<String>,
}

/// `cargo slim build`: the whole pipeline.
pub fn build(plan: &Plan, shell: &Shell) -> Result<BuildOutcome> {
    let mut clock = pipeline::Clock::start(shell);
    let compiled = pipeline::compile(plan, shell)?;
    clock.lap("compile");
    let unstripped = pipeline::read_binary(&compiled.path)?;
    let inspection = pipeline::inspect(&unstripped, &compiled, shell)?;
    clock.lap("inspect");
    let attribution = pipeline::attribute(&unstripped, &compiled, &plan.report, shell);
    clock.lap("attribute");
    let stripped = pipeline::strip(unstripped, &compiled, io::output_dir(&plan.output)?, shell)?;
    clock.lap("strip");
    let final_binary = pipeline::upx(plan, stripped, &inspection, shell)?;
    clock.lap("upx");
    let image = pipeline::image(plan, &final_binary.binary, &inspection, shell)?;
    clock.lap("image");
    shell.status("Writing", plan.output.display());
    let tarball = image::tarball::prepare(&image, &plan.output, plan.epoch)?;
    clock.lap("write");
    let (report, over_budget, sidecar) = pipeline::report(
        plan,
        &image,
        pipeline::sizes(&final_binary, &image, tarball.size()),
        final_binary.upx.clone(),
        attribution,
        shell,
    )?;
    for stale in tarball.swept() {
        shell.note(format!(
            "removed `{}`, a temporary file left by an earlier run that was killed",
            stale.display()
        ));
    }
    // Both files are complete: only now do they replace the old ones, in one step
    // a signal cannot split.
    io::commit_all(vec![sidecar, tarball])?;
    clock.lap("report");
    shell.status(
        "Finished",
        format!(
            "{} ({}, {}) {} in {:.2}s",
            image.reference,
            image.platform,
            inspection.kind.as_str(),
            image.manifest.digest,
            clock.total()
        ),
    );
    Ok(BuildOutcome {
        path: plan.output.clone(),
        image,
        inspection,
        report,
        over_budget,
    })
}

/// `cargo slim report TARBALL`: the image-level numbers recomputed from the file
/// (any OCI or docker archive), plus the per-crate figures stored beside it by the
/// build that wrote it. A multi-platform archive prints one table per platform and
/// checks the budget of each; the report returned is the first platform's (see
/// [`report_archive`] for all of them).
pub fn report_tarball(
    tarball: &std::path::Path,
    plan: &config::ReportPlan,
    shell: &Shell,
) -> Result<(BuildReport, Vec<String>)> {
    let (reports, over) = archive_report::report(tarball, plan, shell)?;
    let first = reports
        .into_iter()
        .next()
        .ok_or_else(|| error::Failure::new("the archive holds no image to report on"))?;
    Ok((first, over))
}

/// `cargo slim report TARBALL`, one report per platform of the archive.
pub fn report_archive(
    tarball: &std::path::Path,
    plan: &config::ReportPlan,
    shell: &Shell,
) -> Result<(Vec<BuildReport>, Vec<String>)> {
    archive_report::report(tarball, plan, shell)
}
