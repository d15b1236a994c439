//! What `static-pie = false` saved: the same crate built once more as a
//! static-pie (the default), stripped and compressed exactly like the image's
//! binary, so the report states a measured saving instead of a guess.
//!
//! In: the plan, the non-PIE binary cargo built and its prepared (stripped)
//! form. Out: a [`PieBaseline`] for the report, or `None` with a warning when the
//! static-pie build fails (the image is still built). Why a second build: the
//! difference is more than the `.rela.dyn` section (code generation differs
//! too), so only a real static-pie build gives a true figure. Its cost is paid
//! once per binary: the figures are kept in the rebuild cache under the non-PIE
//! binary's digest, and the static-pie build keeps its own target dir
//! (`<target-dir>/slim-pie/`), so it is incremental like the first.

use anyhow::Result;

use super::binary::{dep_v0_section, read_binary, strip};
use super::{Compiled, Prepared};
use crate::config::{Plan, Source};
use crate::report::PieBaseline;
use crate::shell::{Shell, Verbosity};

/// The folder under the target dir where the static-pie baseline is built.
pub const TARGET_SUBDIR: &str = "slim-pie";

/// The static-pie build's figures beside ours, when `static-pie = false` asked for
/// them (and `--no-pie-baseline` did not turn them off).
pub fn baseline(
    plan: &Plan,
    compiled: &Compiled,
    prepared: &Prepared,
    shell: &Shell,
) -> Option<PieBaseline> {
    let Source::Cargo(build) = &plan.source else {
        return None;
    };
    let non_pie = build
        .rustflags
        .iter()
        .any(|f| f == crate::compile::preset::NON_PIE_FLAG);
    if !non_pie || !plan.pie_baseline {
        return None;
    }
    let ours = prepared.stripped.binary.as_slice();
    let key = crate::cache::key(&[
        b"pie",
        prepared.unstripped_digest.as_bytes(),
        &prepared.stripped.dep_v0.to_le_bytes(),
        plan.compression.name().as_bytes(),
        &plan.epoch.to_le_bytes(),
        plan.image.path.as_bytes(),
    ]);
    if let Some(b) = plan
        .cache
        .load("pie", &key)
        .and_then(|e| serde_json::from_slice::<(u64, u64)>(&e.meta).ok())
    {
        shell.verbose("Reused", "the static-pie baseline's sizes from the cache");
        return compare(b, ours, plan).ok();
    }
    shell.status(
        "Measuring",
        format!(
            "what static-pie = false saves: a static-pie build of {} in {}",
            build.bin,
            build.target_dir.join(TARGET_SUBDIR).display()
        ),
    );
    match measure(build, compiled, plan, shell).and_then(|b| {
        let _ = plan.cache.store_meta("pie", &key, &serde_json::to_vec(&b)?);
        compare(b, ours, plan)
    }) {
        Ok(b) => Some(b),
        Err(e) => {
            shell.warn(format!(
                "could not measure what static-pie = false saves (the image is built all the same): {e:#}"
            ));
            None
        }
    }
}

/// Build, strip and compress the static-pie: its stripped size and layer size.
fn measure(
    build: &crate::compile::CargoBuild,
    compiled: &Compiled,
    plan: &Plan,
    shell: &Shell,
) -> Result<(u64, u64)> {
    let Some((choice, link)) = &compiled.how else {
        anyhow::bail!("the binary was not built by cargo");
    };
    let mut pie = build.clone();
    pie.rustflags
        .retain(|f| f != crate::compile::preset::NON_PIE_FLAG);
    pie.target_dir = build.target_dir.join(TARGET_SUBDIR);
    pie.target_dir_given = true;
    let artifact = crate::compile::build(&pie, choice, link, shell)?;
    let bytes = read_binary(&artifact.path)?;
    // Our own status lines for the baseline's strip would only repeat the image's.
    let quiet = Shell::buffer(Verbosity::Quiet);
    let spool = crate::io::output_dir(&plan.output)?;
    let stripped = strip(
        bytes,
        compiled,
        dep_v0_section(compiled, &quiet),
        spool,
        &quiet,
    )?;
    let layer = layer_size(&stripped.binary, plan)?;
    Ok((stripped.stripped_size, layer))
}

/// The static-pie's `(stripped, layer)` sizes beside ours.
fn compare(pie: (u64, u64), ours: &[u8], plan: &Plan) -> Result<PieBaseline> {
    Ok(PieBaseline::new(
        pie,
        (ours.len() as u64, layer_size(ours, plan)?),
    ))
}

/// The compressed size of the image's binary layer if it held `binary` (the
/// same layer, from the cache, when no UPX changes the bytes after this).
fn layer_size(binary: &[u8], plan: &Plan) -> Result<u64> {
    Ok(super::binary_layer(plan, binary)?.0.blob.size())
}
