//! cargo-slim: a Rust binary crate → the smallest correct container image.
//!
//! The library is the pipeline; `main.rs` only parses arguments and renders
//! results and errors. Each stage is one module with one job and hands a typed
//! value to the next, and [`build`] below reads as that list:
//!
//! config → preflight → compile → inspect → bloat → strip → upx → image → write → report

pub mod arch;
pub mod bloat;
pub mod budget;
pub mod cli;
pub mod compile;
pub mod config;
pub mod digest;
pub mod elf;
pub mod error;
pub mod image;
pub mod io;
pub mod oci;
pub mod preflight;
pub mod push;
pub mod reference;
pub mod report;
pub mod shell;
pub mod strip;
pub mod upx;
pub mod validate;
pub mod verify;

mod stages;

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
    let mut clock = stages::Clock::start(shell);
    let compiled = stages::compile(plan, shell)?;
    clock.lap("compile");
    let unstripped = stages::read_binary(&compiled.path)?;
    let inspection = stages::inspect(&unstripped, &compiled, shell)?;
    clock.lap("inspect");
    let attribution = stages::attribute(&unstripped, &compiled, &plan.report, shell);
    clock.lap("attribute");
    let stripped = stages::strip(unstripped, &compiled, shell)?;
    clock.lap("strip");
    let final_binary = stages::upx(plan, stripped, &inspection, shell)?;
    clock.lap("upx");
    let image = stages::image(plan, &final_binary.binary, &inspection, shell)?;
    clock.lap("image");
    shell.status("Writing", plan.output.display());
    let tarball = image::tarball::write(&image, &plan.output, plan.epoch)?;
    clock.lap("write");
    let (report, over_budget) = stages::report(
        plan,
        &image,
        stages::sizes(&final_binary, &image, tarball),
        final_binary.upx.clone(),
        attribution,
        shell,
    )?;
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

/// `cargo slim report TARBALL`: the image-level numbers recomputed from the file,
/// plus the per-crate figures stored beside it by the build that wrote it.
pub fn report_tarball(
    tarball: &std::path::Path,
    plan: &config::ReportPlan,
    shell: &Shell,
) -> Result<(BuildReport, Vec<String>)> {
    stages::report_existing(tarball, plan, shell)
}
