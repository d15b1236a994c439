//! The pipeline layer: the body of each stage as `build` calls it — status lines,
//! error context, and the glue between the typed values of the stage modules —
//! and the `report` command's recomputation from a tarball.
//!
//! In: the resolved `Plan` and each stage's output. Out: the next stage's input,
//! and the `BuildReport`. Why here: this is the one layer allowed to import every
//! stage; stages never import it (nor each other's glue), and `lib.rs` stays a
//! list of calls that reads as the pipeline.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;

use crate::bloat::{self, Attribution};
use crate::budget::{self, Verdict};
use crate::compile;
use crate::config::{Plan, ReportPlan, Source};
use crate::elf::Inspection;
use crate::error::Failure;
use crate::image::{self, files, BuiltLayer, Image, LayerBuilder, Platform};
use crate::preflight::{self, Level};
use crate::report::{self, BuildReport, LayerReport, NamedSize, Sizes};
use crate::shell::Shell;

mod binary;
mod pie;
mod system;
pub use binary::{prepare, BinaryContent, ImageBinary, Prepared};
pub use pie::{baseline as pie_baseline, PieInput};
pub use system::{system_layer, SystemData, SystemLayer};

/// Per-stage wall time, printed with `-v`.
pub struct Clock<'a> {
    shell: &'a Shell,
    start: Instant,
    last: Instant,
}

impl<'a> Clock<'a> {
    pub fn start(shell: &'a Shell) -> Self {
        let now = Instant::now();
        Clock {
            shell,
            start: now,
            last: now,
        }
    }

    pub fn lap(&mut self, stage: &str) {
        let now = Instant::now();
        self.shell.verbose(
            "Timing",
            format!("{stage}: {:.3}s", (now - self.last).as_secs_f64()),
        );
        self.last = now;
    }

    pub fn total(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// The binary to pack and how it was made.
pub struct Compiled {
    pub path: PathBuf,
    pub target: Option<String>,
    pub rlibs: Vec<PathBuf>,
    /// The dependency graph of the build, for the SBOM (`None` for `--binary`).
    pub sbom: Option<crate::sbom::Graph>,
    /// How cargo built it (`None` for `--binary`): a second build (the
    /// static-pie baseline) uses the same target, linker and allocator.
    pub how: Option<(
        compile::TargetChoice,
        compile::Linker,
        compile::alloc::Linkage,
    )>,
    /// The allocator decided for the build (`None` for `--binary`).
    pub allocator: Option<compile::alloc::Decision>,
    /// The CA bundle and zoneinfo choices, decided by the dependency graph
    /// where the manifest left them unset.
    pub system_data: SystemData,
}

/// Preflight the dependency graph, then compile (or take `--binary`).
pub fn compile(plan: &Plan, shell: &Shell) -> Result<Compiled> {
    match &plan.source {
        Source::Cargo(b) => {
            let choice = compile::choose_target(b, shell)?;
            let (metadata, reused) = preflight::metadata_reused(b, &choice.triple)?;
            if reused {
                shell.verbose("Reused", "`cargo metadata` from the cache");
            }
            let graph = preflight::graph_of(&metadata, &b.package_id);
            // `--sbom none`: no SBOM and no `.dep-v0` either.
            let sbom = (!plan.sbom.formats.is_empty())
                .then(|| crate::sbom::graph_of_build(&metadata, &b.package_id))
                .transpose()?;
            let mut fatal = None;
            for f in preflight::check(&graph.crates, &choice.triple, &plan.image) {
                match f.level {
                    Level::Error => {
                        let mut e = Failure::new(f.message);
                        if let Some(h) = f.help {
                            e = e.help(h);
                        }
                        fatal.get_or_insert(e);
                    }
                    Level::Warning => shell.warn(with_help(&f.message, f.help.as_deref())),
                    Level::Note => shell.note(with_help(&f.message, f.help.as_deref())),
                }
            }
            if let Some(e) = fatal {
                return Err(e.into());
            }
            let (decision, linkage) = allocator(b, &graph, &choice, shell)?;
            let (ca_certificates, zoneinfo) =
                preflight::decide_system_data(&graph.crates, &plan.image);
            let system_data = SystemData {
                ca_certificates,
                zoneinfo,
            };
            let dir = b.manifest_path.parent().unwrap_or(Path::new("."));
            let link = compile::linker::choose(&choice.triple, &graph.native, &b.cargo_args, dir)?;
            shell.status(
                "Building",
                format!(
                    "{} for {} ({}), linking with {}",
                    b.bin,
                    platform_of(&choice.triple),
                    choice.triple,
                    link.describe()
                ),
            );
            let artifact = compile::build(b, &choice, &link, &linkage, shell)?;
            let mut rlibs = artifact.rlibs;
            // The sysroot's rlibs let symbols like `memcpy` be placed in std.
            if let Ok(sysroot) = compile::sysroot(dir, &b.cache) {
                rlibs.extend(bloat::sysroot_rlibs(&sysroot, &choice.triple).unwrap_or_default());
            }
            Ok(Compiled {
                path: artifact.path,
                target: Some(choice.triple.clone()),
                rlibs,
                sbom,
                how: Some((choice, link, linkage)),
                allocator: Some(decision),
                system_data,
            })
        }
        Source::Binary(p) => Ok(Compiled {
            path: p.clone(),
            target: None,
            rlibs: Vec::new(),
            sbom: None,
            how: None,
            allocator: None,
            system_data: SystemData::without_graph(plan),
        }),
    }
}

/// The allocator for the build: the decision (`preflight::allocator`), and what
/// cargo needs for it — mimalloc's archive built for the target, build-script
/// environment. Under `auto`, a target whose C toolchain cannot build mimalloc
/// keeps musl's malloc, with a warning saying why.
fn allocator(
    b: &compile::CargoBuild,
    graph: &preflight::Graph,
    choice: &compile::TargetChoice,
    shell: &Shell,
) -> Result<(compile::alloc::Decision, compile::alloc::Linkage)> {
    let mut decision = preflight::allocator(b.allocator, &graph.crates, &choice.triple)?;
    if let Some(n) = &decision.note {
        shell.note(n);
    }
    let mut linkage = compile::alloc::Linkage {
        archive: None,
        env: decision.env.clone(),
    };
    if decision.mimalloc {
        match compile::alloc::mimalloc(b, choice, shell) {
            Ok(a) => linkage.archive = Some(a),
            Err(e) if b.allocator == compile::alloc::Choice::Auto => {
                let why = match e.downcast_ref::<Failure>() {
                    Some(f) => f.what.clone(),
                    None => format!("{e:#}"),
                };
                shell.warn(format!(
                    "keeping musl's malloc (allocator = \"auto\"): {why}"
                ));
                decision.mimalloc = false;
                decision.expected = "musl".into();
                decision.why = "musl's own; auto could not build mimalloc for the target".into();
            }
            Err(e) => return Err(e),
        }
    }
    shell.verbose(
        "Allocator",
        format!("{} ({})", decision.expected, decision.why),
    );
    Ok((decision, linkage))
}

/// `linux/arm64/v8` for a target triple (the triple itself when it is unknown).
fn platform_of(triple: &str) -> String {
    match crate::arch::from_triple(triple) {
        Some(a) => format!("linux/{}", a.platform_suffix()),
        None => triple.to_string(),
    }
}

fn with_help(msg: &str, help: Option<&str>) -> String {
    match help {
        Some(h) => format!("{msg}\n  help: {h}"),
        None => msg.to_string(),
    }
}

/// Optional UPX packing of the stripped binary.
pub fn upx(
    plan: &Plan,
    stripped: ImageBinary,
    insp: &Inspection,
    shell: &Shell,
) -> Result<ImageBinary> {
    let Some(upx_plan) = &plan.upx else {
        return Ok(stripped);
    };
    let BinaryContent::Bytes(bytes) = stripped.content else {
        // The rebuild cache stands in for the bytes only when UPX is off.
        anyhow::bail!("internal error: the binary to pack with UPX was not read");
    };
    let runnable = crate::arch::host().is_some_and(|h| h.goarch == insp.arch);
    let packed = crate::upx::pack(bytes, upx_plan, runnable, shell)?;
    if stripped.dep_v0 > 0 && packed.report.packed {
        shell.warn(
            "the UPX-packed binary hides its `.dep-v0` crate list from image scanners (Trivy, \
             syft); the SBOM beside the tarball still lists the crates",
        );
    }
    Ok(ImageBinary {
        content: BinaryContent::Bytes(packed.binary),
        upx: Some(packed.report),
        ..stripped
    })
}

/// The layers — system files, then the user's `files`, then the binary, each only
/// when it holds something — and the image around them. Ordered by how often they
/// change, so a new binary leaves the other layers' digests as they were.
pub fn image(
    plan: &Plan,
    data: &SystemData,
    binary: &ImageBinary,
    insp: &Inspection,
    shell: &Shell,
) -> Result<(Image, SystemLayer)> {
    let platform = Platform {
        os: "linux".into(),
        architecture: insp.arch.to_string(),
        variant: insp.variant.map(str::to_string),
    };
    let (spec, notes) = plan.image_with_revision();
    for n in &notes {
        shell.note(n);
    }
    shell.status("Packing", format!("{} ({platform})", plan.image.reference));
    let contents = &plan.contents;
    let mut sys = system_layer(plan, data)?;
    let (system, held) = (std::mem::take(&mut sys.nodes), &sys.held);
    // What the system layer and the binary hold: no user file may land there.
    let mut taken: Vec<String> = system
        .iter()
        .map(|n| n.path.clone())
        .filter(|p| !p.starts_with(files::IMAGE_ZONEINFO))
        .collect();
    if sys.zoneinfo.is_some() {
        taken.push(files::IMAGE_ZONEINFO.to_string());
    }
    taken.push(plan.image.path.clone());
    let user = contents.user_nodes(&taken)?;
    // The compressed layers wait for the tarball writer in unnamed files beside
    // the output, not in memory: the peak RSS stays near the binary's size.
    let spool = crate::io::output_dir(&plan.output)?;
    let mut built = Vec::new();
    let options = binary::layer_options(plan);
    if !system.is_empty() {
        let layer = LayerBuilder::nodes(&system)?.build(&options, Some(spool))?;
        built.push((
            reused(layer, shell),
            format!("system files: {}", held.join(", ")),
        ));
    }
    if !user.is_empty() {
        let dests: Vec<&str> = contents.files.iter().map(|f| f.dest.as_str()).collect();
        let layer = LayerBuilder::nodes(&user)?.build(&options, Some(spool))?;
        built.push((reused(layer, shell), format!("files: {}", dests.join(", "))));
    }
    let layer = match &binary.content {
        BinaryContent::CachedLayer(layer) => BuiltLayer {
            layer: layer.clone(),
            reused: true,
        },
        BinaryContent::Bytes(bytes) => binary::binary_layer(plan, bytes)?,
    };
    built.push((reused(layer, shell), image::binary_comment(&plan.image)));
    let image = image::build_image_with(&spec, contents, &platform, built, plan.epoch)?;
    Ok((image, sys))
}

/// The layer, saying so when it came from the rebuild cache.
fn reused(built: BuiltLayer, shell: &Shell) -> image::Layer {
    if built.reused {
        shell.status(
            "Reused",
            format!("layer {} from the cache", built.layer.blob.digest),
        );
    }
    built.layer
}

/// The figures of one platform; `tarball` is the size of the whole file.
pub fn sizes(stripped: &ImageBinary, image: &Image, tarball: u64) -> Sizes {
    Sizes {
        binary_unstripped: Some(stripped.unstripped_size),
        binary_stripped: Some(stripped.stripped_size),
        dep_v0: (stripped.dep_v0 > 0).then_some(stripped.dep_v0),
        binary_packed: stripped
            .upx
            .as_ref()
            .filter(|u| u.packed)
            .map(|u| u.binary_after),
        binary_final: stripped.final_size(),
        layer_compressed: image.layers.iter().map(|l| l.blob.size()).sum(),
        layer_uncompressed: image.layers.iter().map(|l| l.uncompressed_size).sum(),
        image_pull: image.pull_size(),
        tarball,
    }
}

fn named<T>(items: &[T], f: impl Fn(&T) -> (String, u64)) -> Vec<NamedSize> {
    items
        .iter()
        .map(|i| {
            let (name, bytes) = f(i);
            NamedSize { name, bytes }
        })
        .collect()
}

/// One platform's image and the figures measured on the way to it.
pub struct PlatformBuild {
    pub image: Image,
    pub inspection: Inspection,
    /// Sizes, with `tarball` filled in once the tarball is written.
    pub sizes: Sizes,
    pub upx: Option<crate::report::UpxReport>,
    pub attribution: Option<Attribution>,
    /// The crates in the binary (`None` for `--binary`).
    pub sbom: Option<crate::sbom::Graph>,
    /// With `static-pie = false`: the static-pie build it is measured against.
    pub pie_baseline: Option<report::PieBaseline>,
    /// The allocator, as decided and as the symbol table shows it.
    pub allocator: Option<report::AllocatorReport>,
    /// Where the CA bundle and zoneinfo came from (`None`: not in the image).
    pub ca_certificates: Option<report::DataReport>,
    pub zoneinfo: Option<report::DataReport>,
}

/// The allocator of the binary for the report: the build's decision checked
/// against the unstripped symbol table. Linking mimalloc and still finding musl's
/// (or glibc's) `malloc` is an error: the report would claim what is not so.
pub fn allocator_report(
    decision: Option<&compile::alloc::Decision>,
    inspection: &Inspection,
    path: &Path,
) -> Result<Option<report::AllocatorReport>> {
    let found = inspection.allocator.as_ref();
    let (malloc, present) = match found {
        Some(f) => (f.malloc.clone(), f.present.clone()),
        None => (None, Vec::new()),
    };
    let Some(d) = decision else {
        // `--binary`: only what the file says.
        return Ok(found.and_then(|f| {
            Some(report::AllocatorReport {
                name: f.malloc.clone()?,
                why: "read from the symbol table".into(),
                malloc: f.malloc.clone(),
                present: f.present.clone(),
            })
        }));
    };
    if let Some(f) = found.filter(|_| d.mimalloc) {
        if f.malloc.as_deref() != Some("mimalloc") || f.has("musl") {
            return Err(Failure::new(format!(
                "mimalloc was linked into `{}`, but its symbol table says otherwise: {}",
                path.display(),
                f.describe()
            ))
            .help("set `allocator = \"musl\"` to build without it, and report this as a cargo-slim bug")
            .into());
        }
    }
    Ok(Some(report::AllocatorReport {
        name: d.expected.clone(),
        why: d.why.clone(),
        malloc,
        present,
    }))
}

/// The SBOM `documents` as artifacts attached to the images of `set` they describe.
pub fn attach(
    set: &image::ImageSet,
    documents: &[crate::sbom::Document],
) -> Result<Vec<image::Artifact>> {
    documents
        .iter()
        .map(|d| {
            let Some(image) = set.images.iter().find(|i| i.manifest.digest == d.subject) else {
                return Err(Failure::new(format!(
                    "the {} SBOM `{}` describes {}, which is not an image of this build",
                    d.format.name(),
                    d.path.display(),
                    d.subject
                ))
                .into());
            };
            image::Artifact::attach(
                image,
                d.format.media_type(),
                d.format.name(),
                &format!("sbom.{}", d.format.extension()),
                d.bytes.clone(),
            )
        })
        .collect()
}

/// The SBOMs of `set` attached to `image`, for its report.
fn sbom_reports(set: &image::ImageSet, image: &Image) -> Vec<report::SbomReport> {
    set.artifacts
        .iter()
        .filter(|a| a.subject == image.manifest.digest)
        .map(|a| report::SbomReport {
            format: a.format.clone(),
            digest: a.manifest.digest.clone(),
            packages: crate::sbom::Format::parse(&a.format)
                .and_then(|f| crate::sbom::crate_count(f, &a.layer.bytes().ok()?)),
        })
        .collect()
}

/// Build a report per platform, compare with the baseline, check the budget of
/// each, and prepare the sidecar (a JSON line per platform).
pub fn report(
    plan: &Plan,
    builds: &[PlatformBuild],
    set: &image::ImageSet,
    shell: &Shell,
) -> Result<(Vec<BuildReport>, Vec<String>, crate::io::Pending)> {
    let index_digest = set.index_digest();
    let mut reports = Vec::new();
    for b in builds {
        let (crates, sections) = match &b.attribution {
            Some(a) => (
                named(&a.crates, |c| (c.name.clone(), c.bytes)),
                named(&a.sections, |s| (s.name.clone(), s.bytes)),
            ),
            None => (Vec::new(), Vec::new()),
        };
        reports.push(BuildReport {
            reason: "image-built".into(),
            path: plan.output.display().to_string(),
            reference: b.image.reference.clone(),
            manifest_digest: b.image.manifest.digest.clone(),
            index_digest: index_digest.map(str::to_string),
            platform: b.image.platform.to_string(),
            sizes: b.sizes.clone(),
            layers: image::layer_comments(&b.image)
                .into_iter()
                .zip(&b.image.layers)
                .map(|(holds, l)| LayerReport {
                    holds,
                    digest: l.blob.digest.clone(),
                    compressed: l.blob.size(),
                    uncompressed: l.uncompressed_size,
                })
                .collect(),
            crates,
            sections,
            upx: b.upx.clone(),
            budget: Default::default(),
            baseline: None,
            preset: plan.preset.as_ref().map(|p| crate::report::PresetReport {
                name: p.preset.name().to_string(),
                set: p
                    .preset
                    .settings()
                    .iter()
                    .filter(|(k, _)| {
                        !p.kept
                            .iter()
                            .any(|kept| kept.starts_with(&format!("{k} =")))
                    })
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect(),
                kept: p.kept.clone(),
            }),
            linkage: Some(b.inspection.kind.as_str().to_string()),
            pie_baseline: b.pie_baseline.clone(),
            sbom: sbom_reports(set, &b.image),
            allocator: b.allocator.clone(),
            ca_certificates: b.ca_certificates.clone(),
            zoneinfo: b.zoneinfo.clone(),
        });
    }
    // The sidecar records the measured figures, before any budget verdict; it goes
    // into place together with the tarball.
    let mut lines = Vec::new();
    for r in &reports {
        lines.extend(serde_json::to_vec(r)?);
        lines.push(b'\n');
    }
    let sidecar = crate::io::prepare(&report::sidecar_path(&plan.output), &lines)?;
    let several = reports.len() > 1;
    let mut finished = Vec::new();
    let mut over = Vec::new();
    for r in reports {
        let platform = r.platform.clone();
        if several {
            shell.status("Platform", &platform);
        }
        let (r, failures) = finish_report(r, &plan.report, shell)?;
        over.extend(failures.into_iter().map(|f| {
            if several {
                format!("{platform}: {f}")
            } else {
                f
            }
        }));
        finished.push(r);
    }
    Ok((finished, over, sidecar))
}

/// Baseline diff, budget, outputs — shared by `build` and `report`.
pub(crate) fn finish_report(
    mut report: BuildReport,
    plan: &ReportPlan,
    shell: &Shell,
) -> Result<(BuildReport, Vec<String>)> {
    // A multi-platform baseline has a line per platform: compare like with like.
    let baseline = match &plan.baseline {
        Some(p) => {
            let mut all = report::load_reports(p)?;
            let i = all
                .iter()
                .position(|b| b.platform == report.platform)
                .unwrap_or(all.len() - 1);
            Some((all.swap_remove(i), p.clone()))
        }
        None => None,
    };
    if let Some((base, path)) = &baseline {
        report.baseline = Some(report::diff(base, path, &report));
    }
    let verdict = budget::evaluate(
        &plan.budget,
        report.sizes.image_pull,
        report.sizes.binary_final,
        baseline.as_ref().map(|(b, _)| b.sizes.image_pull),
    )?;
    report.budget = (&verdict).into();
    shell.print_err(&report::table(&report));
    if let Some(chart) = &plan.chart {
        crate::io::write_atomic(chart, report::svg::render(&report).as_bytes())?;
        shell.status("Charted", chart.display());
    }
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        report::markdown::append(Path::new(&summary), &report)?;
    }
    Ok((report, budget_failures(&verdict)))
}

/// One sentence per failed check: which, limit, actual, by how much, set where.
fn budget_failures(v: &Verdict) -> Vec<String> {
    v.checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| {
            let what = match c.name.as_str() {
                "image" => "image pull size",
                "binary" => "binary size",
                _ => "image pull size (vs baseline)",
            };
            let over = c.actual - c.limit;
            let origin = c.origin.as_ref().map(|o| o.to_string()).unwrap_or_default();
            let extra = if c.detail.is_empty() {
                String::new()
            } else {
                format!(", {}", c.detail)
            };
            // A percentage of a zero limit means nothing: say what the limit is.
            let share = if c.limit == 0 {
                "the limit is 0".to_string()
            } else {
                format!("{:.1}%", over as f64 * 100.0 / c.limit as f64)
            };
            format!(
                "{what} {} ({} bytes) exceeds the `{}` budget of {} ({} bytes{extra}) by {} ({share}); limit set by {origin}",
                crate::units::human(c.actual),
                c.actual,
                c.name,
                crate::units::human(c.limit),
                c.limit,
                crate::units::human(over),
            )
        })
        .collect()
}
