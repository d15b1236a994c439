//! The body of each step of `cargo slim build`, as [`super::build`] calls it:
//! status lines, error context, and the glue between the stage modules' types.
//!
//! In: the resolved `Plan` and each stage's output. Out: the next stage's input,
//! and the `BuildReport`. Why here: the build command is the one place allowed to
//! import every stage; stages never import it (nor each other's glue), and
//! [`super::build`] stays a list of calls that reads as the pipeline.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use crate::bloat::Attribution;
use crate::compile;
use crate::config::Plan;
use crate::elf::Inspection;
use crate::error::Failure;
use crate::image::{self, files, BuiltLayer, Image, LayerBuilder, Platform};
use crate::report::{self, BuildFacts, BuildReport, ImageFigures, LayerReport, NamedSize, Sizes};
use crate::shell::Shell;

mod binary;
mod compiled;
mod pie;
mod system;
pub use binary::{prepare, prepare_also, Also, BinaryContent, ImageBinary, Prepared};
pub use compiled::{compile, compile_all, Compiled, Recipe};
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
    (binary, also): (&ImageBinary, &[binary::Also]),
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
    taken.extend(also.iter().map(|a| a.path.clone()));
    let user = contents.user_nodes(&taken)?;
    // The compressed layers wait for the tarball writer in unnamed files beside
    // the output, not in memory: the peak RSS stays near the binary's size.
    let spool = crate::io::output_dir(&plan.output)?;
    let mut built = Vec::new();
    let options = &plan.layers;
    if !system.is_empty() {
        let layer = LayerBuilder::nodes(&system)?.build(options, Some(spool))?;
        built.push((
            reused(layer, shell),
            format!("system files: {}", held.join(", ")),
        ));
    }
    if !user.is_empty() {
        let dests: Vec<&str> = contents.files.iter().map(|f| f.dest.as_str()).collect();
        let layer = LayerBuilder::nodes(&user)?.build(options, Some(spool))?;
        built.push((reused(layer, shell), format!("files: {}", dests.join(", "))));
    }
    let layer = match &binary.content {
        BinaryContent::CachedLayer(layer) => BuiltLayer {
            layer: layer.clone(),
            reused: true,
        },
        BinaryContent::Bytes(bytes) => {
            let mut others = Vec::new();
            for a in also {
                let Some(b) = a.binary.bytes() else {
                    anyhow::bail!("internal error: the binary `{}` was not read", a.name);
                };
                others.push((a.path.as_str(), b));
            }
            binary::binaries_layer(plan, bytes, &others)?
        }
    };
    let comment = match also {
        [] => image::binary_comment(&plan.image),
        _ => {
            let others: Vec<&str> = also.iter().map(|a| a.path.as_str()).collect();
            format!("static binaries {}, {}", plan.image.path, others.join(", "))
        }
    };
    built.push((reused(layer, shell), comment));
    let image = image::build_image_with(&spec, contents, &platform, built, plan.layers.epoch)?;
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
    /// With `bins = [...]`: the image's other binaries.
    pub also: Vec<report::BinaryReport>,
    /// How cargo made the binary, for its provenance.
    pub recipe: Option<Recipe>,
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
        .filter(|a| a.is_sbom())
        .map(|a| report::SbomReport {
            format: a.format.clone(),
            digest: a.manifest.digest.clone(),
            packages: crate::sbom::Format::parse(&a.format)
                .and_then(|f| f.crate_count(&a.layer.bytes().ok()?)),
        })
        .collect()
}

/// The signatures, provenance and bundles of `set` attached to `image`.
fn attached_reports(set: &image::ImageSet, image: &Image) -> Vec<report::AttachedReport> {
    let mut out: Vec<report::AttachedReport> = set
        .artifacts
        .iter()
        .filter(|a| a.subject == image.manifest.digest)
        .filter_map(|a| {
            Some(report::AttachedReport {
                kind: crate::oci::media::trust_kind(&a.artifact_type)?.to_string(),
                digest: a.manifest.digest.clone(),
            })
        })
        .collect();
    // The order `cargo slim report` gives too.
    out.sort_by(|a, b| (&a.kind, &a.digest).cmp(&(&b.kind, &b.digest)));
    out
}

/// Each layer of `image`: what it holds and its two sizes.
fn layer_reports(image: &Image) -> Vec<LayerReport> {
    image::layer_comments(image)
        .into_iter()
        .zip(&image.layers)
        .map(|(holds, l)| LayerReport {
            holds,
            digest: l.blob.digest.clone(),
            compressed: l.blob.size(),
            uncompressed: l.uncompressed_size,
        })
        .collect()
}

/// What the `--opt` preset set, less what the user's profile kept.
fn preset_report(p: &crate::compile::preset::PresetPlan) -> report::PresetReport {
    report::PresetReport {
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
    }
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
        let figures = ImageFigures {
            path: plan.output.display().to_string(),
            reference: b.image.reference.clone(),
            manifest_digest: b.image.manifest.digest.clone(),
            index_digest: index_digest.map(str::to_string),
            platform: b.image.platform.to_string(),
            sizes: b.sizes.clone(),
            layers: layer_reports(&b.image),
            sbom: sbom_reports(set, &b.image),
            attached: attached_reports(set, &b.image),
        };
        let facts = BuildFacts {
            crates,
            sections,
            upx: b.upx.clone(),
            preset: plan.preset().map(preset_report),
            linkage: Some(b.inspection.kind.as_str().to_string()),
            pie_baseline: b.pie_baseline.clone(),
            allocator: b.allocator.clone(),
            ca_certificates: b.ca_certificates.clone(),
            zoneinfo: b.zoneinfo.clone(),
            binaries: b.also.clone(),
        };
        reports.push(BuildReport::new("image-built", figures, facts));
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
        let (r, failures) = report::finish(
            r,
            &plan.report.budget,
            plan.report.baseline.as_deref(),
            plan.report.chart.as_deref(),
            shell,
        )?;
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
