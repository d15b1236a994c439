//! What `static-pie = false` saved: the same crate built once more as a
//! static-pie (the default), stripped and compressed exactly like the image's
//! binary, so the report states a measured saving instead of a guess.
//!
//! In: the plan, the non-PIE binary cargo built ([`PieInput`], taken before UPX)
//! and the image made of it. Out: a [`PieBaseline`] for the report, or `None`
//! with a warning when the static-pie build fails or is not a static-pie (the
//! image is still built); an interrupt during that build ends the run. Why a
//! second build: the difference is more than the `.rela.dyn` section (code
//! generation differs too), so only a real static-pie build gives a true figure.
//! Its cost is paid once per binary: the figures are kept in the rebuild cache
//! under the non-PIE binary's digest, and the static-pie build keeps its own
//! target and build dirs (`<target-dir>/slim-pie/`), so it is incremental too.

use anyhow::Result;

use super::binary::{dep_v0_section, read_binary, strip};
use super::{Compiled, ImageBinary, Prepared};
use crate::compile::preset::Relocation;
use crate::compile::{CargoBuild, CargoRun, PackageBuild};
use crate::config::{Plan, Source};
use crate::elf::LinkKind;
use crate::image::Image;
use crate::report::PieBaseline;
use crate::shell::{Shell, Verbosity};
use crate::strip::Added;

/// The folder under the target dir where the static-pie baseline is built.
pub const TARGET_SUBDIR: &str = "slim-pie";

/// What the baseline needs of the non-PIE build, taken before UPX packs it.
pub struct PieInput {
    /// `sha256:<hex>` of the unstripped non-PIE binary.
    digest: String,
    /// The `.dep-v0` section strip added to it (and adds to the static-pie).
    dep_v0: Option<Added<'static>>,
    /// The stripped bytes, kept only when UPX may replace them in the image.
    unpacked: Option<Vec<u8>>,
}

impl PieInput {
    /// `Some` when `static-pie = false` asks for a baseline (and
    /// `--no-pie-baseline` did not turn it off).
    pub fn of(plan: &Plan, compiled: &Compiled, prepared: &Prepared) -> Option<PieInput> {
        let Source::Cargo(cargo) = &plan.source else {
            return None;
        };
        let baseline = cargo.package.relocation == Relocation::Static { baseline: true };
        baseline.then(|| PieInput {
            digest: prepared.unstripped_digest.clone(),
            dep_v0: dep_v0_section(compiled, &Shell::buffer(Verbosity::Quiet)),
            unpacked: plan
                .upx
                .as_ref()
                .and(prepared.stripped.bytes())
                .map(<[u8]>::to_vec),
        })
    }
}

/// The static-pie build's figures beside ours: `ours` is the binary as packed
/// (maybe by UPX) and `image` the image made of it. A failed static-pie build is
/// a warning and no figures; an interrupt during it ends the run.
pub fn baseline(
    plan: &Plan,
    compiled: &Compiled,
    input: Option<PieInput>,
    ours: &ImageBinary,
    image: &Image,
    shell: &Shell,
) -> Result<Option<PieBaseline>> {
    let (Some(input), Source::Cargo(cargo)) = (input, &plan.source) else {
        return Ok(None);
    };
    // Ours, compressed like the image's binary layer: that very layer, unless
    // UPX replaced the stripped bytes in it.
    let ours_layer = match (&input.unpacked, ours.upx.as_ref().is_some_and(|u| u.packed)) {
        (Some(unpacked), true) => layer_size(unpacked, plan)?,
        _ => image.layers.last().map_or(0, |l| l.blob.size()),
    };
    let ours = (ours.stripped_size, ours_layer);
    let key = crate::cache::key(&[
        b"pie",
        input.digest.as_bytes(),
        input.dep_v0.as_ref().map_or(&[][..], |d| &d.data[..]),
        plan.layers.compression.name().as_bytes(),
        &plan.layers.epoch.to_le_bytes(),
        plan.image.path.as_bytes(),
    ]);
    if let Some(pie) = plan
        .layers
        .cache
        .load("pie", &key)
        .and_then(|e| serde_json::from_slice::<(u64, u64)>(&e.meta).ok())
    {
        shell.verbose("Reused", "the static-pie baseline's sizes from the cache");
        return Ok(Some(PieBaseline::new(pie, ours)));
    }
    shell.status(
        "Measuring",
        format!(
            "what static-pie = false saves: a second, static-pie build of {} in {} \
             (once per change of the binary; --no-pie-baseline skips it)",
            cargo.package.bin,
            cargo.run.target_dir.join(TARGET_SUBDIR).display()
        ),
    );
    let build = cargo.build(compiled.target.as_deref(), &plan.layers.cache);
    match measure(build, compiled, input.dep_v0, plan, shell) {
        Ok(pie) => {
            if let Ok(json) = serde_json::to_vec(&pie) {
                let _ = plan.layers.cache.store_meta("pie", &key, &json);
            }
            Ok(Some(PieBaseline::new(pie, ours)))
        }
        // Ctrl-C or SIGTERM during the second build ends the run like any other.
        Err(e) if crate::interrupt::received().is_some() => Err(e),
        Err(e) => {
            shell.warn(format!(
                "could not measure what static-pie = false saves (the image is built all the same): {e:#}"
            ));
            Ok(None)
        }
    }
}

/// Build, strip and compress the static-pie: its stripped size and layer size.
fn measure(
    build: CargoBuild<'_>,
    compiled: &Compiled,
    dep_v0: Option<Added<'static>>,
    plan: &Plan,
    shell: &Shell,
) -> Result<(u64, u64)> {
    let Some((choice, link, linkage)) = &compiled.how else {
        anyhow::bail!("the binary was not built by cargo");
    };
    let package = PackageBuild {
        relocation: Relocation::StaticPie,
        ..build.package.clone()
    };
    let dir = build.run.target_dir.join(TARGET_SUBDIR);
    let mut run = CargoRun {
        target_dir: dir.clone(),
        target_dir_given: true,
        ..build.run.clone()
    };
    // A `build.build-dir` of the user's would otherwise hold both builds'
    // intermediate files, each invalidating the other's.
    let build_dir = toml::Value::String(dir.join("build").display().to_string());
    run.cargo_args.extend([
        "--config".to_string(),
        format!("build.build-dir={build_dir}"),
    ]);
    let pie = CargoBuild {
        run: &run,
        package: &package,
        ..build
    };
    // cargo's own progress lines only with -v: the image's build showed them.
    let quiet = Shell::buffer(Verbosity::Quiet);
    let cargo_shell = if shell.verbosity == Verbosity::Verbose {
        shell
    } else {
        &quiet
    };
    let artifact = crate::compile::build(&pie, choice, link, linkage, cargo_shell)?;
    let bytes = read_binary(&artifact.path)?;
    let kind = crate::elf::inspect(&bytes).map(|i| i.kind);
    if !matches!(kind, Ok(LinkKind::StaticPie)) {
        anyhow::bail!(
            "the baseline build `{}` is not a static-pie ({}), so there is nothing to compare with",
            artifact.path.display(),
            kind.map_or_else(|e| e.to_string(), |k| k.as_str().to_string())
        );
    }
    let spool = crate::io::output_dir(&plan.output)?;
    let stripped = strip(bytes, &compiled.path, dep_v0, spool, &quiet)?;
    Ok((
        stripped.bytes.len() as u64,
        layer_size(&stripped.bytes, plan)?,
    ))
}

/// The compressed size of the image's binary layer if it held `binary`.
fn layer_size(binary: &[u8], plan: &Plan) -> Result<u64> {
    Ok(super::binary::binary_layer(plan, binary)?.layer.blob.size())
}
