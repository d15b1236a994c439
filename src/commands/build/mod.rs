//! `cargo slim build`: a crate (or `--binary`) in, one image tarball out, with its
//! SBOMs and size report beside it.
//!
//! In: the resolved [`Plan`]. Out: a [`BuildOutcome`] (the tarball's path, one
//! report per platform, the budget verdicts). Why here: this file is the build
//! read as its list of stages — per platform compile → inspect → attribute →
//! strip → upx → image, then for the set SBOM → write → report — and
//! `stages` holds the body of each step (status lines, error context, the glue
//! between the stage modules' types), so neither the stages nor the CLI know
//! how the others are called.

use std::path::PathBuf;

use anyhow::Result;

use crate::config::Plan;
use crate::image::{self, Image};
use crate::report::BuildReport;
use crate::shell::Shell;
use crate::{io, oci, sbom};

mod provenance;
mod stages;
pub mod summary;

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub path: PathBuf,
    /// One report per platform, in canonical platform order.
    pub reports: Vec<BuildReport>,
    /// Budget failures, one sentence each (empty when within budget).
    pub over_budget: Vec<String>,
    /// The output's lock (`io::lock_output`), held while the outcome lives, so
    /// a `--push` reads this build's tarball, not a later run's.
    pub lock: Option<std::sync::Arc<io::OutputLock>>,
}

/// `cargo slim build`: the whole pipeline, once per platform up to the image,
/// then one tarball for all of them.
pub fn build(plan: &Plan, shell: &Shell) -> Result<BuildOutcome> {
    build_with(plan, shell, |target| stages::compile(plan, target, shell))
}

/// What became of one image of a multi-image build.
#[derive(Debug)]
pub struct ImageOutcome {
    /// The image's name (its binary's).
    pub name: String,
    /// Its outputs, all written; or why none of them was.
    pub result: Result<BuildOutcome>,
}

/// Several images: each platform's binaries with as few cargo runs as the
/// plans allow (`stages::compile_all`, over [`crate::compile::group`]), then each image's own pipeline. An
/// image that fails (its crate does not compile, a check refuses its binary)
/// writes nothing and does not stop the others, whose outputs are written in
/// full. Only an error of the run itself (cargo could not be started) is an
/// `Err`.
pub fn build_all(plans: &[Plan], shell: &Shell) -> Result<Vec<ImageOutcome>> {
    let targets: Vec<Vec<Option<String>>> = plans.iter().map(Plan::targets).collect();
    let mut compiled: Vec<Vec<Option<Result<stages::Compiled>>>> = targets
        .iter()
        .map(|t| t.iter().map(|_| None).collect())
        .collect();
    let mut distinct: Vec<&Option<String>> = Vec::new();
    for t in targets.iter().flatten() {
        if !distinct.contains(&t) {
            distinct.push(t);
        }
    }
    for target in distinct {
        let which: Vec<(usize, usize)> = targets
            .iter()
            .enumerate()
            .filter_map(|(p, ts)| Some((p, ts.iter().position(|t| t == target)?)))
            .collect();
        let members: Vec<&Plan> = which.iter().map(|&(p, _)| &plans[p]).collect();
        let results = stages::compile_all(&members, target.as_deref(), shell)?;
        for ((p, t), r) in which.into_iter().zip(results) {
            compiled[p][t] = Some(r);
        }
    }
    let jobs: Vec<(&Plan, &Vec<Option<String>>, Compiled)> = plans
        .iter()
        .zip(&targets)
        .zip(compiled)
        .map(|((p, t), c)| (p, t, c))
        .collect();
    Ok(pack_all(jobs, shell))
}

/// Each platform's compile results of one image, in its targets' order.
type Compiled = Vec<Option<Result<stages::Compiled>>>;

/// The rest of each image's pipeline (verify, strip, pack, write, report), the
/// images side by side on the machine's cores. Each image's lines wait in a
/// [`Shell::deferred`] and are shown together, in the images' order, as soon
/// as it and every image before it are done.
fn pack_all(
    jobs: Vec<(&Plan, &Vec<Option<String>>, Compiled)>,
    shell: &Shell,
) -> Vec<ImageOutcome> {
    let count = jobs.len();
    let queue = std::sync::Mutex::new(jobs.into_iter().enumerate());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..workers {
            let (queue, tx) = (&queue, tx.clone());
            s.spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some((i, (plan, targets, mut done))) = next else {
                    break;
                };
                let own = shell.deferred();
                let result = build_with(plan, &own, |target| {
                    let t = targets
                        .iter()
                        .position(|x| x.as_deref() == target)
                        .expect("a target of the plan");
                    done[t].take().expect("each platform is compiled once")
                })
                .map_err(|e| e.context(format!("image `{}`", plan.name())));
                if let Err(e) = &result {
                    own.error(e);
                }
                let outcome = ImageOutcome {
                    name: plan.name(),
                    result,
                };
                if tx.send((i, outcome, own)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut waiting = std::collections::BTreeMap::new();
        let mut outcomes = Vec::with_capacity(count);
        for (i, outcome, own) in rx {
            waiting.insert(i, (outcome, own));
            while let Some((outcome, own)) = waiting.remove(&outcomes.len()) {
                shell.replay(&own);
                outcomes.push(outcome);
            }
        }
        outcomes
    })
}

/// [`build`] with each platform's binary from `compile`.
fn build_with(
    plan: &Plan,
    shell: &Shell,
    mut compile: impl FnMut(Option<&str>) -> Result<stages::Compiled>,
) -> Result<BuildOutcome> {
    // One run at a time writes this output, so its files always come from one build.
    let lock = io::lock_output(&plan.output, shell)?.map(std::sync::Arc::new);
    let mut clock = stages::Clock::start(shell);
    if let Some(p) = plan.preset() {
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
    for target in plan.targets() {
        let compiled = compile(target.as_deref())?;
        builds.push(build_platform(plan, compiled, shell, &mut clock)?);
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
    let documents = sbom::documents(&plan.sbom, &described, &plan.output, plan.layers.epoch)?;
    let mut artifacts = stages::attach(&set, &documents)?;
    artifacts.extend(signatures(plan, &set, shell)?);
    let recipes: Vec<_> = builds
        .iter()
        .map(|b| (&b.image, b.recipe.as_ref()))
        .collect();
    artifacts.extend(provenance::attestations(plan, &recipes, shell)?);
    let set = set.with_artifacts(artifacts)?;
    shell.status("Writing", plan.output.display());
    let tarball = image::tarball::prepare_set(&set, &plan.output, plan.layers.epoch)?;
    clock.lap("write");
    for b in &mut builds {
        b.sizes.tarball = tarball.size();
    }
    let (reports, over_budget, sidecar) = stages::report(plan, &builds, &set, shell)?;
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

/// With `--sign`: each platform image's signatures (cosign's, and a Sigstore
/// bundle), to attach.
fn signatures(plan: &Plan, set: &image::ImageSet, shell: &Shell) -> Result<Vec<image::Artifact>> {
    let Some(signer) = &plan.signer else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for image in &set.images {
        let repository = super::sign::repository_of(&image.reference)?;
        out.extend(super::sign::signatures(
            &image.manifest,
            &repository,
            signer,
        )?);
        shell.status(
            "Signed",
            format!("{} ({})", image.manifest.digest, image.platform),
        );
    }
    Ok(out)
}

/// What an SBOM of `image` names as its subject.
fn sbom_subject(image: &Image) -> sbom::Subject {
    sbom::Subject {
        reference: image.reference.clone(),
        digest: image.manifest.digest.clone(),
        platform: image.platform.to_string(),
    }
}

/// One platform, its binary compiled: inspect → attribute → strip (or reuse all
/// three) → upx → image.
fn build_platform(
    plan: &Plan,
    mut compiled: stages::Compiled,
    shell: &Shell,
    clock: &mut stages::Clock<'_>,
) -> Result<stages::PlatformBuild> {
    clock.lap("compile");
    let prepared = stages::prepare(&compiled, plan, shell, clock)?;
    let pie = stages::PieInput::of(plan, &compiled, &prepared);
    let stages::Prepared {
        inspection,
        attribution,
        stripped,
        ..
    } = prepared;
    let also = stages::prepare_also(&compiled, plan, shell)?;
    let final_binary = stages::upx(plan, stripped, &inspection, shell)?;
    let mut also_packed = Vec::new();
    for a in also {
        let binary = stages::upx(plan, a.binary, &a.inspection, shell)?;
        also_packed.push(stages::Also { binary, ..a });
    }
    clock.lap("upx");
    let (image, system) = stages::image(
        plan,
        &compiled.system_data,
        (&final_binary, &also_packed),
        &inspection,
        shell,
    )?;
    clock.lap("image");
    let pie_baseline = stages::pie_baseline(plan, &compiled, pie, &final_binary, &image, shell)?;
    let sbom = compiled.sbom.take();
    let recipe = compiled.recipe.take();
    let allocator =
        stages::allocator_report(compiled.allocator.as_ref(), &inspection, &compiled.path)?;
    Ok(stages::PlatformBuild {
        sizes: stages::sizes(&final_binary, &image, 0),
        upx: final_binary.upx,
        image,
        inspection,
        attribution,
        sbom,
        pie_baseline,
        allocator,
        ca_certificates: system.ca_certificates,
        zoneinfo: system.zoneinfo,
        also: also_packed.iter().map(stages::Also::report).collect(),
        recipe,
    })
}
