//! The option plans of single stages, resolved from flags and metadata: where
//! and how to push (`--push`, `repository`, `tags`), UPX (`--upx`, `upx`), the
//! size preset (`--opt`, `opt`), `static-pie = false` (`--no-static-pie`), the
//! allocator, and layer compression (`--compression`, `compression`).
//!
//! In: the flag group of the request each reads, and the package's
//! [`SlimMetadata`]. Out: each stage's own option type, or an error naming the
//! flag (exit 2) or the key and the manifest (exit 1). Why apart from `mod.rs`:
//! resolving the package and the image is one job; these small per-stage rules
//! are another.

use std::path::Path;

use anyhow::Result;

use super::{ImageRequest, PushRequest, SizeRequest, UpxRequest};
use super::{SlimMetadata, DEFAULT_PUSH_TAGS};
use super::{UpxSetting, UpxTable};
use crate::compile::preset::Relocation;
use crate::error::Failure;
use crate::push::{PushOptions, RetryPolicy};
use crate::reference::Reference;
use crate::upx::{UpxPlan, DEFAULT_ARGS, DEFAULT_TIMEOUT};

/// `--push [REF]` against `repository` / `tags`.
pub fn push_plan(
    args: &PushRequest,
    meta: &SlimMetadata,
    name: &str,
    version: Option<&str>,
    manifest: &Path,
) -> Result<Option<PushOptions>> {
    let Some(cli_ref) = &args.reference else {
        return Ok(None);
    };
    let fill = |t: &str| {
        t.replace("{name}", name)
            .replace("{version}", version.unwrap_or("latest"))
    };
    let named = args
        .repository
        .as_ref()
        .map(|r| format!("{}/{name}", r.trim_end_matches('/')));
    let (reference, extra_tags) = if !cli_ref.is_empty() {
        if named.is_some() {
            return Err(Failure::new("`--push REF` names the image's place; `--repository` too")
                .help("give one of them: --push REF for one image, --repository REPO for REPO/<binary name>")
                .usage()
                .into());
        }
        (fill(cli_ref), Vec::new())
    } else {
        let Some(repo) = named.as_ref().or(meta.repository.as_ref()) else {
            return Err(Failure::new("`--push` was given without a REF, and no `repository` is configured")
                .detail(format!("manifest: {}", manifest.display()))
                .help("pass --push ghcr.io/acme/app:1.0.0, or set `repository = \"ghcr.io/acme/app\"` (and optionally `tags = [\"{version}\", \"latest\"]`) in [package.metadata.slim]")
                .into());
        };
        let tags: Vec<String> = meta
            .tags
            .clone()
            .unwrap_or_else(|| DEFAULT_PUSH_TAGS.iter().map(|s| s.to_string()).collect())
            .iter()
            .map(|t| fill(t))
            .collect();
        let Some((first, rest)) = tags.split_first() else {
            return Err(Failure::new(format!(
                "`tags` in [package.metadata.slim] of `{}` is empty",
                manifest.display()
            ))
            .help("list at least one tag, e.g. tags = [\"{version}\"]")
            .into());
        };
        (
            format!("{}:{first}", repo.trim_end_matches('/')),
            rest.to_vec(),
        )
    };
    // Fail before a long build when the reference or a tag cannot be pushed.
    Reference::parse(&reference)?;
    for t in &extra_tags {
        crate::reference::check_tag(t).map_err(|f| {
            f.detail(format!(
                "`tags` in [package.metadata.slim] of `{}`",
                manifest.display()
            ))
        })?;
    }
    Ok(Some(PushOptions {
        reference,
        extra_tags,
        insecure: args.insecure,
        ca_file: args.ca_file.clone(),
        retry: RetryPolicy::with_timeout(args.timeout),
        image_refs: args.image_refs.clone(),
        ..PushOptions::default()
    }))
}

/// UPX: `--upx` or the `upx` key turns it on; the table's settings apply either way.
pub fn upx_plan(
    args: &UpxRequest,
    meta: &SlimMetadata,
    manifest: &Path,
) -> Result<Option<UpxPlan>> {
    let (enabled, table) = match &meta.upx {
        None => (false, UpxTable::default()),
        Some(UpxSetting::Enabled(on)) => (*on, UpxTable::default()),
        Some(UpxSetting::Table(t)) => (t.enabled.unwrap_or(true), t.clone()),
    };
    if !(enabled || args.upx) {
        return Ok(None);
    }
    let timeout = match table.timeout {
        Some(t) if t.is_finite() && t > 0.0 => std::time::Duration::from_secs_f64(t),
        Some(t) => {
            return Err(Failure::new(format!(
                "invalid `upx.timeout` in [package.metadata.slim] of `{}`: {t}",
                manifest.display()
            ))
            .help("give the smoke run's time limit in seconds, e.g. 10")
            .into())
        }
        None => DEFAULT_TIMEOUT,
    };
    Ok(Some(UpxPlan {
        path: args.path.clone().or(meta.upx_path.clone()),
        args: table
            .args
            .unwrap_or_else(|| DEFAULT_ARGS.iter().map(|s| s.to_string()).collect()),
        smoke: table.smoke,
        allow_brute: table.allow_brute.unwrap_or(false),
        fallback: args.fallback,
        timeout,
    }))
}

/// `--opt` over `opt`: a size preset, planned against the user's own profile.
pub(super) fn preset_plan(
    args: &SizeRequest,
    meta: &SlimMetadata,
    profile: &str,
    root_manifest: &Path,
    manifest: &Path,
) -> Result<Option<crate::compile::preset::PresetPlan>> {
    use crate::compile::preset::{plan, Preset};
    let preset = match (&args.opt, &meta.opt) {
        (Some(cli), _) => {
            Preset::parse(cli).map_err(|e| Failure::new(format!("--opt: {e}")).usage())?
        }
        (None, Some(key)) => Preset::parse(key).map_err(|e| {
            Failure::new(format!(
                "`opt` in [package.metadata.slim] of `{}`: {e}",
                manifest.display()
            ))
        })?,
        (None, None) => return Ok(None),
    };
    Ok(Some(plan(preset, profile, root_manifest)?))
}

/// `--no-static-pie` or `static-pie = false`: a static non-PIE binary, measured
/// against a static-pie unless `--no-pie-baseline`.
pub(super) fn relocation(args: &SizeRequest, meta: &SlimMetadata) -> Relocation {
    if args.no_static_pie || meta.static_pie == Some(false) {
        Relocation::Static {
            baseline: !args.no_pie_baseline,
        }
    } else {
        Relocation::StaticPie
    }
}

/// `--allocator` over `allocator` over `auto`; a bad value names where it came from.
pub(super) fn allocator(
    args: &SizeRequest,
    meta: &SlimMetadata,
    manifest: &Path,
) -> Result<crate::compile::alloc::Choice> {
    use crate::compile::alloc::Choice;
    if let Some(a) = &args.allocator {
        return Choice::parse(a)
            .map_err(|e| Failure::new(format!("--allocator: {e}")).usage().into());
    }
    match &meta.allocator {
        Some(a) => Choice::parse(a).map_err(|e| {
            Failure::new(format!(
                "`allocator` in [package.metadata.slim] of `{}`: {e}",
                manifest.display()
            ))
            .into()
        }),
        None => Ok(Choice::Auto),
    }
}

/// `--compression` over `compression` over gzip; a bad value names where it came from.
pub(super) fn compression(
    args: &ImageRequest,
    meta: &SlimMetadata,
    manifest: &Path,
) -> Result<crate::compress::Compression> {
    use crate::compress::Compression;
    if let Some(c) = &args.compression {
        return Compression::parse(c).map_err(|e| {
            Failure::new(format!("--compression: {e}"))
                .help("containerd >= 1.5, Docker >= 23 and podman >= 4.3 read zstd layers; gzip is read everywhere")
                .usage()
                .into()
        });
    }
    match &meta.compression {
        Some(c) => Compression::parse(c).map_err(|e| {
            Failure::new(format!(
                "`compression` in [package.metadata.slim] of `{}`: {e}",
                manifest.display()
            ))
            .into()
        }),
        None => Ok(Compression::Gzip),
    }
}
