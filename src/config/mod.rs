//! Resolve what to build: `[package.metadata.slim]` + CLI flags → [`Plan`].
//!
//! Every metadata field is optional; the CLI overrides the manifest, which overrides
//! the defaults, in one place (`cli.or(meta).unwrap_or(default)`). An unknown key or
//! a value of the wrong type is an error naming the key and the manifest path, so a
//! typo never silently changes the image. Nothing after this stage reads CLI structs.

mod contents;
mod labels;
mod options;
mod package;
mod platform;
mod request;
mod sbom;
mod schema;
mod spec;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::budget::{Budget, BudgetTable, Origin};
use crate::compile::CargoBuild;
use crate::error::{io_failure, Failure};
use crate::image::{Contents, ImageSpec};
use crate::oci::runtime as checks;
use crate::push::PushOptions;
use crate::upx::UpxPlan;

pub use contents::{parse_mode, parse_owner, passwd_user, signal};
pub use labels::{revision, PendingRevision, Revision};
use options::{allocator, compression, preset_plan, preset_rustflags};
pub use options::{push_plan, upx_plan};
pub use package::{load_metadata, matches_spec, select_bin, select_package, Selector};
pub use platform::{parse_platforms, Targets, BUILDABLE};
pub use request::{BudgetRequest, BuildRequest};
pub use schema::{
    parse_slim_table, read_slim_metadata, BoolOrPath, FileEntry, SlimMetadata, StopSignal,
    UpxSetting, UpxTable,
};
use spec::image_spec;

/// Everything later stages need, resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    pub source: Source,
    pub image: ImageSpec,
    /// What the layers besides the binary's hold, `StopSignal`, annotations.
    pub contents: Contents,
    /// The git checkout's `revision` label (or a note on a dirty tree), on its way.
    pub revision: PendingRevision,
    pub output: PathBuf,
    /// Timestamp for every file and the image `created` field (SOURCE_DATE_EPOCH or 0).
    pub epoch: u64,
    pub report: ReportPlan,
    /// UPX packing, when turned on.
    pub upx: Option<UpxPlan>,
    /// `--push`: where the image goes after a successful build.
    pub push: Option<PushOptions>,
    /// `--sbom` / `sbom = [...]`: the SBOM documents to write.
    pub sbom: crate::sbom::SbomPlan,
    /// How every layer is compressed.
    pub compression: crate::compress::Compression,
    /// `--opt size`: the profile settings added for a small binary.
    pub preset: Option<crate::compile::preset::PresetPlan>,
    /// The rebuild cache under the target dir (off with `--no-cache`).
    pub cache: crate::cache::Cache,
    /// With `static-pie = false`: build a static-pie too, to report what the
    /// non-PIE build saved (off with `--no-pie-baseline`).
    pub pie_baseline: bool,
}

impl Plan {
    /// One plan per platform to build: each with one explicit target (a
    /// multi-platform build), or this plan itself.
    pub fn per_platform(&self) -> Vec<Plan> {
        match &self.source {
            Source::Cargo(b) if !b.platforms.is_empty() => b
                .platforms
                .iter()
                .map(|arch| {
                    let mut one = (**b).clone();
                    one.target = Some(arch.musl_triple());
                    one.platforms = Vec::new();
                    Plan {
                        source: Source::Cargo(Box::new(one)),
                        ..self.clone()
                    }
                })
                .collect(),
            _ => vec![self.clone()],
        }
    }

    /// The image spec with the git `revision` label once git has answered, and
    /// the notes to show (a dirty tree).
    pub fn image_with_revision(&self) -> (ImageSpec, Vec<String>) {
        let mut spec = self.image.clone();
        let notes = self.revision.finish(&mut spec.labels);
        (spec, notes)
    }
}

/// Default `tags` when `repository` is set.
pub const DEFAULT_PUSH_TAGS: [&str; 1] = ["{version}"];

/// What to report and which limits to enforce.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportPlan {
    pub split_std: bool,
    pub chart: Option<PathBuf>,
    pub baseline: Option<PathBuf>,
    pub budget: Budget,
}

/// Where the binary comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Cargo(Box<CargoBuild>),
    /// `--binary PATH`: an ELF built elsewhere.
    Binary(PathBuf),
}

pub const DEFAULT_PROFILE: &str = "release";

/// Resolve the CLI arguments (and the manifest they point at) into a plan.
pub fn resolve(args: &BuildRequest) -> Result<Plan> {
    let epoch = source_date_epoch()?;
    match &args.binary {
        Some(binary) => resolve_binary(args, binary, epoch),
        None => resolve_cargo(args, epoch),
    }
}

fn resolve_cargo(args: &BuildRequest, epoch: u64) -> Result<Plan> {
    let cargo_args = cargo_args(args);
    let metadata = crate::preflight::workspace_metadata(
        args.manifest_path.as_deref(),
        &cargo_args,
        args.target_dir.as_deref(),
        !args.no_cache,
        || load_metadata(args.manifest_path.as_deref(), &cargo_args),
    )?;
    let cwd = std::env::current_dir().ok();
    let package = select_package(
        &metadata,
        Selector {
            spec: args.package.as_deref(),
            bin: args.bin.as_deref(),
            manifest: args.manifest_path.as_deref(),
            cwd: cwd.as_deref(),
        },
    )?;
    let meta = read_slim_metadata(&metadata, package)?;
    let report = report_plan(
        &args.budget,
        args.split_std,
        meta.budget.as_ref(),
        package.manifest_path.as_std_path(),
    )?;
    let bin = select_bin(package, args.bin.as_deref().or(meta.bin.as_deref()))?;
    let version = package.version.to_string();
    let manifest = package.manifest_path.as_std_path();
    let mut image = image_spec(&meta, args.tag.as_deref(), &bin, Some(&version), manifest)?;
    let (labels, revision) = labels::labels(package, &bin, epoch_given(epoch), &image.labels);
    image.labels = labels;
    let contents = contents::contents(
        &meta,
        manifest.parent().unwrap_or(Path::new(".")),
        manifest,
        &image.path,
        args.stop_signal.as_deref(),
    )?;
    let bin_for_push = bin.clone();
    let target_dir = match &args.target_dir {
        Some(d) => std::path::absolute(d).map_err(|e| io_failure("use", d, &e))?,
        None => metadata.target_directory.clone().into_std_path_buf(),
    };
    let targets = platform::resolve_targets(
        args.target.as_deref(),
        &args.platforms,
        meta.target.as_deref(),
        meta.platforms.as_deref(),
        package.manifest_path.as_std_path(),
    )?;
    let output_name = match targets.name_suffix() {
        Some(arch) => format!("{bin}-{version}-{arch}"),
        None => format!("{bin}-{version}"),
    };
    let output = output_path(args, default_output(&target_dir, &output_name, None))?;
    let (target, platforms) = match targets {
        Targets::Host => (None, Vec::new()),
        Targets::Triple(t) => (Some(t), Vec::new()),
        Targets::Platforms(p) if p.len() == 1 => (Some(p[0].musl_triple()), Vec::new()),
        Targets::Platforms(p) => (None, p),
    };
    let mut build_args = Vec::new();
    if let Some(j) = &args.jobs {
        build_args.extend(["--jobs".to_string(), j.clone()]);
    }
    if args.timings {
        build_args.push("--timings".into());
    }
    let profile = args
        .profile
        .clone()
        .or(meta.profile.clone())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    let preset = preset_plan(
        args,
        &meta,
        &profile,
        metadata.workspace_root.join("Cargo.toml").as_std_path(),
        package.manifest_path.as_std_path(),
    )?;
    if let Some(p) = &preset {
        build_args.extend(p.cargo_flags.iter().cloned());
    }
    let (rustflags, nightly) = (
        preset_rustflags(preset.as_ref(), args, &meta),
        preset.as_ref().is_some_and(|p| p.nightly),
    );
    let cache = crate::cache::Cache::under(&target_dir, !args.no_cache);
    Ok(Plan {
        pie_baseline: !args.no_pie_baseline,
        cache: cache.clone(),
        preset,
        source: Source::Cargo(Box::new(CargoBuild {
            manifest_path: package.manifest_path.clone().into_std_path_buf(),
            package_id: package.id.repr.clone(),
            package_name: package.name.to_string(),
            bin,
            target,
            platforms,
            profile,
            features: args.features.clone(),
            all_features: args.all_features,
            no_default_features: args.no_default_features,
            locked: args.locked,
            offline: args.offline,
            frozen: args.frozen,
            install_target: !args.no_install_target,
            target_dir,
            target_dir_given: args.target_dir.is_some(),
            cargo_args,
            build_args,
            rustflags,
            nightly,
            allocator: allocator(args, &meta, package.manifest_path.as_std_path())?,
            workspace_root: metadata.workspace_root.clone().into_std_path_buf(),
            cache,
        })),
        image,
        contents,
        revision,
        output,
        epoch,
        report,
        upx: upx_plan(args, &meta, package.manifest_path.as_std_path())?,
        sbom: sbom::resolve(args, &meta, package.manifest_path.as_std_path())?,
        compression: compression(args, &meta, package.manifest_path.as_std_path())?,
        push: push_plan(
            args,
            &meta,
            &bin_for_push,
            Some(&version),
            package.manifest_path.as_std_path(),
        )?,
    })
}

/// `--binary`: the manifest is optional. When one is given (or `./Cargo.toml` has a
/// package), its `[package.metadata.slim]` and version still apply.
fn resolve_binary(args: &BuildRequest, binary: &Path, epoch: u64) -> Result<Plan> {
    let manifest = args
        .manifest_path
        .clone()
        .or_else(|| Some(PathBuf::from("Cargo.toml")).filter(|p| p.is_file()));
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Failure::new(format!("`{}` is not a file name", binary.display())))?;
    let (meta, version, target_dir, manifest_used) = match manifest.clone() {
        Some(m) => {
            let metadata = load_metadata(Some(&m), &cargo_args(args))?;
            match args
                .package
                .as_deref()
                .map(|p| {
                    select_package(
                        &metadata,
                        Selector {
                            spec: Some(p),
                            ..Selector::default()
                        },
                    )
                })
                .or_else(|| metadata.root_package().map(Ok))
            {
                Some(pkg) => {
                    let pkg = pkg?;
                    (
                        read_slim_metadata(&metadata, pkg)?,
                        Some(pkg.version.to_string()),
                        metadata.target_directory.clone().into_std_path_buf(),
                        Some(pkg.manifest_path.clone().into_std_path_buf()),
                    )
                }
                None => (
                    SlimMetadata::default(),
                    None,
                    metadata.target_directory.clone().into_std_path_buf(),
                    None,
                ),
            }
        }
        None => (SlimMetadata::default(), None, PathBuf::from("target"), None),
    };
    let report = report_plan(
        &args.budget,
        args.split_std,
        meta.budget.as_ref(),
        manifest_used.as_deref().unwrap_or(Path::new("Cargo.toml")),
    )?;
    let image = image_spec(
        &meta,
        args.tag.as_deref(),
        &name,
        version.as_deref(),
        manifest_used.as_deref().unwrap_or(Path::new("Cargo.toml")),
    )?;
    let manifest = manifest_used.as_deref().unwrap_or(Path::new("Cargo.toml"));
    let contents = contents::contents(
        &meta,
        manifest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
        manifest,
        &image.path,
        args.stop_signal.as_deref(),
    )?;
    let revision = PendingRevision::none();
    // Outside a crate, no `target/` appears just for the cache.
    let cached = manifest_used.is_some() || args.target_dir.is_some();
    let target_dir = args.target_dir.clone().unwrap_or(target_dir);
    let cache = crate::cache::Cache::under(&target_dir, cached && !args.no_cache);
    let given = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&target_dir, &name, version.as_deref()));
    if crate::io::same_file(binary, &given) {
        return Err(Failure::new(format!(
            "the output `{}` is the input binary",
            given.display()
        ))
        .help("write the tarball elsewhere with -o, e.g. -o image.tar")
        .usage()
        .into());
    }
    let output = crate::io::check_output(&given, args.force)?;
    Ok(Plan {
        cache,
        pie_baseline: false,
        preset: None,
        source: Source::Binary(binary.to_path_buf()),
        sbom: sbom::resolve(
            args,
            &meta,
            manifest_used.as_deref().unwrap_or(Path::new("Cargo.toml")),
        )?,
        compression: compression(
            args,
            &meta,
            manifest_used.as_deref().unwrap_or(Path::new("Cargo.toml")),
        )?,
        upx: upx_plan(
            args,
            &meta,
            manifest_used.as_deref().unwrap_or(Path::new("Cargo.toml")),
        )?,
        push: push_plan(
            args,
            &meta,
            &name,
            version.as_deref(),
            manifest_used.as_deref().unwrap_or(Path::new("Cargo.toml")),
        )?,
        image,
        contents,
        revision,
        output,
        epoch,
        report,
    })
}

/// Budget limits: CLI flags override `[package.metadata.slim.budget]`.
pub fn report_plan(
    cli: &BudgetRequest,
    split_std: bool,
    table: Option<&BudgetTable>,
    manifest: &Path,
) -> Result<ReportPlan> {
    let origin = |key: &str| {
        Origin::Manifest(format!(
            "{} [package.metadata.slim.budget] {key}",
            manifest.display()
        ))
    };
    let bad = |key: &str, msg: String| -> anyhow::Error {
        Failure::new(format!(
            "invalid `{key}` in [package.metadata.slim.budget] of `{}`",
            manifest.display()
        ))
        .detail(msg)
        .help("sizes look like \"2 MiB\", \"500 KB\" or \"1048576\"; increases like \"5%\"")
        .into()
    };
    let table = table.cloned().unwrap_or_default();
    let size = |cli: Option<u64>,
                flag: &str,
                key: &str,
                v: &Option<crate::budget::Amount>|
     -> Result<Option<(u64, Origin)>> {
        Ok(match (cli, v) {
            (Some(n), _) => Some((n, Origin::Cli(flag.to_string()))),
            (None, Some(s)) => Some((s.bytes().map_err(|e| bad(key, e))?, origin(key))),
            (None, None) => None,
        })
    };
    let budget = Budget {
        image: size(
            cli.max_image_size,
            "--max-image-size",
            "image",
            &table.image,
        )?,
        binary: size(
            cli.max_binary_size,
            "--max-binary-size",
            "binary",
            &table.binary,
        )?,
        increase: match (cli.max_increase, &table.increase) {
            (Some(p), _) => Some((p, Origin::Cli("--max-increase".into()))),
            (None, Some(s)) => Some((
                s.percent().map_err(|e| bad("increase", e))?,
                origin("increase"),
            )),
            (None, None) => None,
        },
    };
    if let Some(p) = &cli.baseline {
        // Checked now, not after a long build: a usage error with the OS reason.
        if let Err(f) = crate::io::open_regular(p, "a report (JSON) to compare with") {
            return Err(f
                .help("pass the .report.json written beside an earlier tarball with --baseline")
                .usage()
                .into());
        }
    }
    // An increase needs something to compare with: say so before a long build.
    match (&budget.increase, &cli.baseline) {
        (Some((_, Origin::Cli(flag))), None) => {
            return Err(Failure::new(format!("{flag} needs --baseline"))
                .help("pass the earlier report to compare with: --baseline OLD.report.json")
                .usage()
                .into())
        }
        (Some((_, origin @ Origin::Manifest(_))), None) => {
            return Err(Failure::new(format!(
                "an `increase` budget is set ({origin}) but no --baseline report was given"
            ))
            .help("pass the earlier report to compare with: --baseline OLD.report.json, or remove `budget.increase`")
            .into())
        }
        _ => {}
    }
    Ok(ReportPlan {
        split_std,
        chart: cli.chart.clone(),
        baseline: cli.baseline.clone(),
        budget,
    })
}

/// `-o` (or the default), checked before any work: see [`crate::io::check_output`].
fn output_path(args: &BuildRequest, default: PathBuf) -> Result<PathBuf> {
    let given = args.output.clone().unwrap_or(default);
    Ok(crate::io::check_output(&given, args.force)?)
}

/// `--config …` and `-Z …`, for every cargo command we run.
fn cargo_args(args: &BuildRequest) -> Vec<String> {
    let mut out = Vec::new();
    for c in &args.cargo_config {
        out.extend(["--config".to_string(), c.clone()]);
    }
    for z in &args.unstable {
        out.extend(["-Z".to_string(), z.clone()]);
    }
    out
}

fn default_output(target_dir: &Path, name: &str, version: Option<&str>) -> PathBuf {
    let file = match version {
        Some(v) => format!("{name}-{v}.tar"),
        None => format!("{name}.tar"),
    };
    target_dir.join("slim").join(file)
}

/// `Some(epoch)` when `SOURCE_DATE_EPOCH` set it (then the image says when it was
/// created), `None` when it is 0 by default.
fn epoch_given(epoch: u64) -> Option<u64> {
    std::env::var("SOURCE_DATE_EPOCH")
        .is_ok_and(|v| !v.trim().is_empty())
        .then_some(epoch)
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org) or 0.
pub fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => {
            let epoch = v.trim().parse::<u64>().with_context(|| {
                Failure::new(format!(
                    "SOURCE_DATE_EPOCH=`{v}` is not a number of seconds"
                ))
                .help("set it to a Unix timestamp, e.g. $(git log -1 --format=%ct)")
            })?;
            if epoch > checks::MAX_EPOCH {
                return Err(Failure::new(format!(
                    "SOURCE_DATE_EPOCH=`{v}` is after the year 9999"
                ))
                .detail("skopeo, podman and containerd cannot parse an image created then")
                .help("set it to a Unix timestamp, e.g. $(git log -1 --format=%ct)")
                .into());
            }
            Ok(epoch)
        }
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_table_parses_every_key() {
        let m = parse_slim_table(
            json!({"bin": "a", "target": "t", "profile": "p", "tag": "x:{version}",
                   "path": "/usr/bin/a", "user": "1:1", "cmd": ["--x"], "env": {"A": "1"},
                   "labels": {"l": "v"}, "workdir": "/w", "expose": ["80"],
                   "ca-certificates": true, "zoneinfo": "/tz"}),
            Path::new("Cargo.toml"),
        )
        .unwrap();
        assert_eq!(m.bin.as_deref(), Some("a"));
        assert_eq!(m.expose, Some(vec!["80".to_string()]));
        assert_eq!(m.ca_certificates, Some(BoolOrPath::Bool(true)));
        assert_eq!(m.zoneinfo, Some(BoolOrPath::Path("/tz".into())));
    }

    #[test]
    fn unknown_key_names_key_and_manifest() {
        let err = parse_slim_table(json!({"bogus": 1}), Path::new("/x/Cargo.toml")).unwrap_err();
        let f = err.downcast_ref::<Failure>().unwrap();
        assert!(f.what.contains("/x/Cargo.toml"), "{f:?}");
        assert!(f.details[0].contains("bogus"), "{f:?}");
    }

    #[test]
    fn budget_table_and_cli_precedence() {
        let m = parse_slim_table(
            json!({"budget": {"image": "2 MiB", "binary": "1MB", "increase": "5%"}}),
            Path::new("/p/Cargo.toml"),
        )
        .unwrap();
        let baseline = tempfile::NamedTempFile::new().unwrap();
        let with_baseline = BudgetRequest {
            baseline: Some(baseline.path().to_path_buf()),
            ..Default::default()
        };
        assert!(report_plan(
            &BudgetRequest::default(),
            false,
            m.budget.as_ref(),
            Path::new("/p/Cargo.toml")
        )
        .is_err());
        let plan = report_plan(
            &with_baseline,
            false,
            m.budget.as_ref(),
            Path::new("/p/Cargo.toml"),
        )
        .unwrap();
        let (limit, origin) = plan.budget.image.clone().unwrap();
        assert_eq!(limit, 2 * 1024 * 1024);
        assert_eq!(
            origin.to_string(),
            "/p/Cargo.toml [package.metadata.slim.budget] image"
        );
        assert_eq!(plan.budget.binary.clone().unwrap().0, 1_000_000);
        assert_eq!(plan.budget.increase.clone().unwrap().0, 5.0);
        let cli = BudgetRequest {
            max_image_size: Some(10),
            ..with_baseline.clone()
        };
        let plan = report_plan(&cli, false, m.budget.as_ref(), Path::new("/p/Cargo.toml")).unwrap();
        assert_eq!(
            plan.budget.image,
            Some((10, Origin::Cli("--max-image-size".into())))
        );

        let m = parse_slim_table(
            json!({"budget": {"image": "2 parsecs"}}),
            Path::new("/p/Cargo.toml"),
        )
        .unwrap();
        let err = report_plan(
            &BudgetRequest::default(),
            false,
            m.budget.as_ref(),
            Path::new("/p/Cargo.toml"),
        )
        .unwrap_err();
        let f = err.downcast_ref::<Failure>().unwrap();
        assert!(
            f.what.contains("`image`") && f.what.contains("/p/Cargo.toml"),
            "{f:?}"
        );
        assert!(parse_slim_table(json!({"budget": {"images": "1"}}), Path::new("C")).is_err());
    }

    #[test]
    fn push_plans() {
        let meta = parse_slim_table(
            json!({"repository": "127.0.0.1:5000/acme/app", "tags": ["{version}", "latest"]}),
            Path::new("C"),
        )
        .unwrap();
        let args = BuildRequest {
            push: Some(String::new()),
            ..Default::default()
        };
        let p = push_plan(&args, &meta, "app", Some("1.2.0"), Path::new("C"))
            .unwrap()
            .unwrap();
        assert_eq!(p.reference, "127.0.0.1:5000/acme/app:1.2.0");
        assert_eq!(p.extra_tags, vec!["latest"]);
        let args = BuildRequest {
            push: Some("ghcr.io/x/y:{version}".into()),
            ..Default::default()
        };
        let p = push_plan(&args, &meta, "app", Some("1.2.0"), Path::new("C"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (p.reference.as_str(), p.extra_tags.len()),
            ("ghcr.io/x/y:1.2.0", 0)
        );
        let none = BuildRequest::default();
        assert!(push_plan(&none, &meta, "app", None, Path::new("C"))
            .unwrap()
            .is_none());
        let args = BuildRequest {
            push: Some(String::new()),
            ..Default::default()
        };
        let err = push_plan(
            &args,
            &SlimMetadata::default(),
            "app",
            None,
            Path::new("/m/Cargo.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("without a REF"), "{err}");
    }

    #[test]
    fn wrong_type_is_an_error() {
        assert!(parse_slim_table(json!({"cmd": "not-a-list"}), Path::new("C")).is_err());
        assert!(parse_slim_table(json!("not-a-table"), Path::new("C")).is_err());
    }

    #[test]
    fn image_spec_defaults_and_overrides() {
        let s = image_spec(
            &SlimMetadata::default(),
            None,
            "hello",
            Some("0.1.0"),
            Path::new("C"),
        )
        .unwrap();
        assert_eq!(s.reference.to_string(), "localhost/hello:0.1.0");
        assert_eq!(s.path, "/hello");
        assert_eq!(s.user, crate::image::DEFAULT_USER);
        let meta = SlimMetadata {
            tag: Some("ghcr.io/a/{name}:{version}".into()),
            expose: Some(vec!["8080".into(), "53/udp".into()]),
            ..Default::default()
        };
        let s = image_spec(&meta, None, "hello", Some("1.0.0"), Path::new("C")).unwrap();
        assert_eq!(s.reference.to_string(), "ghcr.io/a/hello:1.0.0");
        assert_eq!(s.expose, vec!["8080/tcp", "53/udp"]);
        let s = image_spec(
            &meta,
            Some("other:2"),
            "hello",
            Some("1.0.0"),
            Path::new("C"),
        )
        .unwrap();
        assert_eq!(s.reference.to_string(), "localhost/other:2");
    }

    #[test]
    fn bad_path_is_refused() {
        for p in ["relative", "/dir/", "/a/../b"] {
            let meta = SlimMetadata {
                path: Some(p.into()),
                ..Default::default()
            };
            assert!(
                image_spec(&meta, None, "x", None, Path::new("C")).is_err(),
                "{p}"
            );
        }
    }
}
