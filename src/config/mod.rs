//! Resolve what to build: `[package.metadata.slim]` + CLI flags → [`Plan`].
//!
//! Every metadata field is optional; the CLI overrides the manifest, which overrides
//! the defaults, in one place (`cli.or(meta).unwrap_or(default)`). An unknown key or
//! a value of the wrong type is an error naming the key and the manifest path, so a
//! typo never silently changes the image. Nothing after this stage reads CLI structs.
//!
//! The plan is split by how far a setting reaches: the run (`epoch`, `cache`, and
//! for cargo a [`CargoRun`]), the image (its spec, contents, output and stage
//! settings, with the package's [`PackageBuild`]), and the platform ([`Targets`]:
//! one build, or one per platform, each a [`CargoBuild`] view of the rest). Both
//! sources (`cargo`, `--binary`) resolve their image settings through one
//! `Package`, in the same order.

mod contents;
mod labels;
mod options;
mod package;
mod platform;
mod report;
mod request;
mod sbom;
mod schema;
pub mod selection;
mod spec;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cache::Cache;
use crate::compile::preset::PresetPlan;
use crate::compile::{CargoBuild, CargoRun, PackageBuild};
use crate::error::{io_failure, Failure};
use crate::image::{Contents, ImageSpec, LayerOptions};
use crate::oci::runtime as checks;
use crate::push::PushOptions;
use crate::upx::UpxPlan;

pub use contents::{parse_mode, parse_owner, passwd_user, signal};
pub use labels::{revision, PendingRevision, Revision};
use options::{allocator, compression, preset_plan, relocation};
pub use options::{push_plan, upx_plan};
pub use package::{load_metadata, matches_spec, select_bin, select_package, Selector};
pub use platform::{parse_platforms, Targets, BUILDABLE};
pub use report::{report_plan, ManifestBudget, ReportPlan};
pub use request::{
    BudgetRequest, BuildRequest, CargoRequest, ImageRequest, PushRequest, SizeRequest, UpxRequest,
};
pub use schema::{
    parse_slim_table, read_slim_metadata, BoolOrPath, FileEntry, SlimMetadata, StopSignal,
    UpxSetting, UpxTable,
};
use spec::image_spec;

/// Everything later stages need, resolved: what the run shares (`layers`: the
/// epoch, the compression and the rebuild cache every layer is written with),
/// then the image — today a run builds one, for one or more platforms.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Timestamp for every file and the image `created` field (SOURCE_DATE_EPOCH
    /// or 0), how every layer is compressed, and the rebuild cache under the
    /// target dir (off with `--no-cache`).
    pub layers: LayerOptions,
    pub source: Source,
    pub image: ImageSpec,
    /// What the layers besides the binary's hold, `StopSignal`, annotations.
    pub contents: Contents,
    /// The git checkout's `revision` label (or a note on a dirty tree), on its way.
    pub revision: PendingRevision,
    pub output: PathBuf,
    pub report: ReportPlan,
    /// UPX packing, when turned on.
    pub upx: Option<UpxPlan>,
    /// `--push`: where the image goes after a successful build.
    pub push: Option<PushOptions>,
    /// `--sbom` / `sbom = [...]`: the SBOM documents to write.
    pub sbom: crate::sbom::SbomPlan,
    /// `--sign KEY`: each platform image is signed (cosign's simple signing)
    /// and the signature attached in the tarball. Set by the caller, which
    /// reads the key with its password before anything is built.
    pub signer: Option<crate::sign::KeySigner>,
    /// `sign = "path"` of [package.metadata.slim], relative paths made
    /// relative to the package folder: the key the caller reads when no
    /// `--sign` is given.
    pub sign_key: Option<PathBuf>,
    /// `--provenance` / `provenance`: SLSA provenance attached to each image.
    pub provenance: crate::provenance::Mode,
}

impl Plan {
    /// The image's name: its binary's (`--binary`: the file's name).
    pub fn name(&self) -> String {
        match &self.source {
            Source::Cargo(c) => c.package.bin.clone(),
            Source::Binary(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    /// The target of each platform's build, in canonical order (`None`: the
    /// host's static default, or a `--binary` input).
    pub fn targets(&self) -> Vec<Option<String>> {
        match &self.source {
            Source::Cargo(c) => c.targets.each(),
            Source::Binary(_) => vec![None],
        }
    }

    /// With `bins = [...]`: the image's binaries besides its entrypoint's.
    pub fn also_bins(&self) -> &[String] {
        match &self.source {
            Source::Cargo(c) => &c.package.also,
            Source::Binary(_) => &[],
        }
    }

    /// `--opt size|min`: the profile settings added for a small binary.
    pub fn preset(&self) -> Option<&PresetPlan> {
        match &self.source {
            Source::Cargo(c) => c.package.preset.as_ref(),
            Source::Binary(_) => None,
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

/// Where the binary comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Cargo(Box<CargoPlan>),
    /// `--binary PATH`: an ELF built elsewhere.
    Binary(PathBuf),
}

/// A binary cargo builds, split by how far each setting reaches.
#[derive(Debug, Clone)]
pub struct CargoPlan {
    /// Shared by every cargo command of the run.
    pub run: CargoRun,
    /// The package and its binary: the same for each platform.
    pub package: PackageBuild,
    /// One build, or one per platform.
    pub targets: Targets,
}

impl CargoPlan {
    /// The build of one platform: `target` (`None`: the host's static default).
    pub fn build<'a>(&'a self, target: Option<&'a str>, cache: &'a Cache) -> CargoBuild<'a> {
        CargoBuild {
            run: &self.run,
            package: &self.package,
            target,
            cache,
        }
    }
}

pub const DEFAULT_PROFILE: &str = "release";

/// Resolve the CLI arguments (and the manifest they point at) into a plan.
/// A request for one image (`cargo slim run`): several selected is a usage error.
pub fn resolve(args: &BuildRequest) -> Result<Plan> {
    let mut plans = resolve_all(args)?;
    if plans.len() > 1 {
        return Err(Failure::new(format!(
            "this command runs one image, and the selection gives {}",
            plans.len()
        ))
        .help("choose one package with -p (and one binary with --bin)")
        .usage()
        .into());
    }
    Ok(plans.remove(0))
}

/// Resolve the CLI arguments into one plan per image: one, or several with
/// `-p A -p B`, `--workspace` or `--bins` ([`selection`]).
pub fn resolve_all(args: &BuildRequest) -> Result<Vec<Plan>> {
    let epoch = source_date_epoch()?;
    match &args.binary {
        Some(binary) => {
            if selection::several(&args.cargo) {
                return Err(Failure::new("`--binary` packs one file into one image")
                    .help("leave out --workspace, --bins and the extra -p")
                    .usage()
                    .into());
            }
            Ok(vec![resolve_binary(args, binary, epoch)?])
        }
        None => resolve_cargo(args, epoch),
    }
}

/// The package an image is made for, whichever way its binary is made: where
/// its settings come from, and the name and version they fill in.
struct Package<'a> {
    meta: &'a SlimMetadata,
    /// The binary's name.
    name: &'a str,
    version: Option<&'a str>,
    /// The manifest the settings come from, named in errors (`Cargo.toml`
    /// for a `--binary` outside a package).
    manifest: &'a Path,
}

/// What a plan holds besides the stage settings [`Package::plan`] resolves.
struct Resolved {
    epoch: u64,
    cache: Cache,
    source: Source,
    image: ImageSpec,
    contents: Contents,
    revision: PendingRevision,
    output: PathBuf,
    report: ReportPlan,
}

/// The size report and budget: `--max-*` over the `budget` table of `manifest`.
fn report_settings(
    args: &BuildRequest,
    meta: &SlimMetadata,
    manifest: &Path,
) -> Result<ReportPlan> {
    let budget = meta
        .budget
        .as_ref()
        .map(|table| ManifestBudget { table, manifest });
    report_plan(&args.budget, args.split_std, budget)
}

impl Package<'_> {
    fn image(&self, args: &BuildRequest) -> Result<ImageSpec> {
        let tag = args.image.tag.as_deref();
        image_spec(self.meta, tag, self.name, self.version, self.manifest)
    }

    /// The files and settings of the image besides the binary; `files` sources
    /// are relative to the package folder.
    fn contents(&self, args: &BuildRequest, image: &ImageSpec) -> Result<Contents> {
        let root = self
            .manifest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let signal = args.image.stop_signal.as_deref();
        contents::contents(self.meta, root, self.manifest, &image.path, signal)
    }

    /// The stages' own settings, resolved the same way for both sources, and
    /// the plan.
    fn plan(&self, args: &BuildRequest, r: Resolved) -> Result<Plan> {
        let (meta, manifest) = (self.meta, self.manifest);
        let upx = upx_plan(&args.upx, meta, manifest)?;
        let sbom = sbom::resolve(&args.image, meta, manifest)?;
        let compression = compression(&args.image, meta, manifest)?;
        let push = push_plan(&args.push, meta, self.name, self.version, manifest)?;
        let provenance = provenance_mode(&args.image, meta, manifest)?;
        let dir = manifest.parent().unwrap_or(Path::new(""));
        let sign_key = meta.sign.as_ref().map(|k| dir.join(k));
        Ok(Plan {
            upx,
            sbom,
            push,
            layers: LayerOptions {
                epoch: r.epoch,
                compression,
                cache: r.cache,
            },
            source: r.source,
            image: r.image,
            contents: r.contents,
            revision: r.revision,
            output: r.output,
            report: r.report,
            signer: None,
            sign_key,
            provenance,
        })
    }
}

/// `--provenance` over `provenance` of [package.metadata.slim].
fn provenance_mode(
    args: &ImageRequest,
    meta: &SlimMetadata,
    manifest: &Path,
) -> Result<crate::provenance::Mode> {
    use crate::provenance::Mode;
    if let Some(p) = &args.provenance {
        return Ok(Mode::parse(p).map_err(Failure::usage)?);
    }
    match &meta.provenance {
        Some(p) => Ok(Mode::parse(p).map_err(|f| {
            f.detail(format!(
                "in `provenance` of [package.metadata.slim] of `{}`",
                manifest.display()
            ))
        })?),
        None => Ok(Mode::Auto),
    }
}

fn resolve_cargo(args: &BuildRequest, epoch: u64) -> Result<Vec<Plan>> {
    let metadata = workspace(args)?;
    let cwd = std::env::current_dir().ok();
    let selected = selection::select(&metadata, &args.cargo, cwd.as_deref())?;
    plans_with(args, &metadata, &selected, epoch)
}

/// The workspace the request builds in: `cargo metadata` of `--manifest-path`
/// (or of the current folder), from the rebuild cache when nothing changed.
pub fn workspace(args: &BuildRequest) -> Result<cargo_metadata::Metadata> {
    let cargo = &args.cargo;
    let cargo_args = cargo_args(cargo);
    crate::preflight::workspace_metadata(
        cargo.manifest_path.as_deref(),
        &cargo_args,
        cargo.target_dir.as_deref(),
        !args.no_cache,
        || load_metadata(cargo.manifest_path.as_deref(), &cargo_args),
    )
}

/// One plan per image `selected` in `metadata` (see [`workspace`] and
/// [`selection`]), each with the request's flags over its own settings.
pub fn plans(
    args: &BuildRequest,
    metadata: &cargo_metadata::Metadata,
    selected: &[selection::Selected<'_>],
) -> Result<Vec<Plan>> {
    plans_with(args, metadata, selected, source_date_epoch()?)
}

fn plans_with(
    args: &BuildRequest,
    metadata: &cargo_metadata::Metadata,
    selected: &[selection::Selected<'_>],
    epoch: u64,
) -> Result<Vec<Plan>> {
    if selected.len() > 1 && args.image.output.is_some() {
        return Err(Failure::new(format!(
            "`-o` names one file, and this run builds {} images",
            selected.len()
        ))
        .help("leave -o out: each image is written under <target-dir>/slim/")
        .usage()
        .into());
    }
    let cargo_args = cargo_args(&args.cargo);
    let git = std::cell::OnceCell::new();
    let plans = selected
        .iter()
        .map(|s| plan_of(args, metadata, s, (&cargo_args, &git), epoch))
        .collect::<Result<Vec<Plan>>>()?;
    distinct_references(&plans)?;
    Ok(plans)
}

/// The plan of one selected image of the workspace.
fn plan_of(
    args: &BuildRequest,
    metadata: &cargo_metadata::Metadata,
    selected: &selection::Selected<'_>,
    (cargo_args, git): (&[String], &std::cell::OnceCell<PendingRevision>),
    epoch: u64,
) -> Result<Plan> {
    let cargo = &args.cargo;
    let (package, bin, meta) = (selected.package, &selected.bin, &selected.meta);
    let manifest = package.manifest_path.as_std_path();
    let version = package.version.to_string();
    let report = report_settings(args, meta, manifest)?;
    let pkg = Package {
        meta,
        name: bin,
        version: Some(&version),
        manifest,
    };
    let mut image = pkg.image(args)?;
    let (labels, revision) = labels::labels(package, bin, epoch_given(epoch), &image.labels, git);
    image.labels = labels;
    let contents = pkg.contents(args, &image)?;
    let target_dir = match &cargo.target_dir {
        Some(d) => std::path::absolute(d).map_err(|e| io_failure("use", d, &e))?,
        None => metadata.target_directory.clone().into_std_path_buf(),
    };
    let targets = platform::resolve_targets(
        cargo.target.as_deref(),
        &cargo.platforms,
        meta.target.as_deref(),
        meta.platforms.as_deref(),
        manifest,
    )?;
    let output_name = match targets.name_suffix() {
        Some(arch) => format!("{bin}-{version}-{arch}"),
        None => format!("{bin}-{version}"),
    };
    let output = output_path(&args.image, default_output(&target_dir, &output_name, None))?;
    let workspace_root = metadata.workspace_root.clone().into_std_path_buf();
    let mut package = package_build(args, meta, package, bin.clone(), &workspace_root)?;
    package.also = selected.also.clone();
    let mut run = cargo_run(cargo, cargo_args.to_vec(), target_dir, workspace_root);
    run.workspace_name = metadata
        .root_package()
        .map_or_else(|| "workspace".to_string(), |p| p.name.to_string());
    let resolved = Resolved {
        epoch,
        cache: Cache::under(&run.target_dir, !args.no_cache),
        source: Source::Cargo(Box::new(CargoPlan {
            run,
            package,
            targets,
        })),
        image,
        contents,
        revision,
        output,
        report,
    };
    pkg.plan(args, resolved)
}

/// Several images of one run must not share a name or a push reference.
fn distinct_references(plans: &[Plan]) -> Result<()> {
    for (i, a) in plans.iter().enumerate() {
        for b in &plans[i + 1..] {
            let clash = if a.image.reference == b.image.reference {
                Some(("image reference", a.image.reference.to_string(), "--tag"))
            } else {
                match (&a.push, &b.push) {
                    (Some(pa), Some(pb)) if pa.reference == pb.reference => {
                        Some(("push reference", pa.reference.clone(), "--push"))
                    }
                    _ => None,
                }
            };
            if let Some((what, value, flag)) = clash {
                return Err(Failure::new(format!(
                    "the images of `{}` and `{}` would have one {what}: `{value}`",
                    a.name(),
                    b.name()
                ))
                .help(format!(
                    "put `{{name}}` in {flag} (it becomes each binary's name), e.g. {flag} registry.example/{{name}}:1"
                ))
                .usage()
                .into());
            }
        }
    }
    Ok(())
}

/// The settings of every cargo command of the run.
fn cargo_run(
    cargo: &CargoRequest,
    cargo_args: Vec<String>,
    target_dir: PathBuf,
    workspace_root: PathBuf,
) -> CargoRun {
    let mut build_args = Vec::new();
    if let Some(j) = &cargo.jobs {
        build_args.extend(["--jobs".to_string(), j.clone()]);
    }
    if cargo.timings {
        build_args.push("--timings".into());
    }
    CargoRun {
        workspace_root,
        workspace_name: String::new(),
        target_dir,
        target_dir_given: cargo.target_dir.is_some(),
        cargo_args,
        lock: cargo.lock,
        build_args,
        install_target: !cargo.no_install_target,
    }
}

/// How the package's binary is built: profile, features, preset, relocation
/// and allocator.
fn package_build(
    args: &BuildRequest,
    meta: &SlimMetadata,
    package: &cargo_metadata::Package,
    bin: String,
    workspace_root: &Path,
) -> Result<PackageBuild> {
    let manifest = package.manifest_path.as_std_path();
    let profile = args
        .cargo
        .profile
        .clone()
        .or(meta.profile.clone())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    let root_manifest = workspace_root.join("Cargo.toml");
    let preset = preset_plan(&args.size, meta, &profile, &root_manifest, manifest)?;
    Ok(PackageBuild {
        manifest_path: manifest.to_path_buf(),
        package_id: package.id.repr.clone(),
        package_name: package.name.to_string(),
        bin,
        also: Vec::new(),
        profile,
        features: args.cargo.features.clone(),
        preset,
        relocation: relocation(&args.size, meta),
        allocator: allocator(&args.size, meta, manifest)?,
    })
}

/// `--binary`: the manifest is optional. When one is given (or `./Cargo.toml` has a
/// package), its `[package.metadata.slim]` and version still apply.
fn resolve_binary(args: &BuildRequest, binary: &Path, epoch: u64) -> Result<Plan> {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Failure::new(format!("`{}` is not a file name", binary.display())))?;
    let found = binary_package(&args.cargo)?;
    let pkg = Package {
        meta: &found.meta,
        name: &name,
        version: found.version.as_deref(),
        manifest: found.manifest.as_deref().unwrap_or(Path::new("Cargo.toml")),
    };
    let report = report_settings(args, pkg.meta, pkg.manifest)?;
    let image = pkg.image(args)?;
    let contents = pkg.contents(args, &image)?;
    // Outside a crate, no `target/` appears just for the cache.
    let cached = found.manifest.is_some() || args.cargo.target_dir.is_some();
    let target_dir = args.cargo.target_dir.clone().unwrap_or(found.target_dir);
    let given = args
        .image
        .output
        .clone()
        .unwrap_or_else(|| default_output(&target_dir, &name, pkg.version));
    if crate::io::same_file(binary, &given) {
        return Err(Failure::new(format!(
            "the output `{}` is the input binary",
            given.display()
        ))
        .help("write the tarball elsewhere with -o, e.g. -o image.tar")
        .usage()
        .into());
    }
    let resolved = Resolved {
        epoch,
        cache: Cache::under(&target_dir, cached && !args.no_cache),
        source: Source::Binary(binary.to_path_buf()),
        output: crate::io::check_output(&given, args.image.force)?,
        image,
        contents,
        revision: PendingRevision::none(),
        report,
    };
    pkg.plan(args, resolved)
}

/// The package a `--binary` belongs to, if any.
struct BinaryPackage {
    meta: SlimMetadata,
    version: Option<String>,
    target_dir: PathBuf,
    /// Its manifest; `None` outside a package.
    manifest: Option<PathBuf>,
}

/// `--manifest-path` (else `./Cargo.toml` when there is one), and its package:
/// `-p`'s, else the root package.
fn binary_package(cargo: &CargoRequest) -> Result<BinaryPackage> {
    let manifest = cargo
        .manifest_path
        .clone()
        .or_else(|| Some(PathBuf::from("Cargo.toml")).filter(|p| p.is_file()));
    let Some(m) = manifest else {
        return Ok(BinaryPackage {
            meta: SlimMetadata::default(),
            version: None,
            target_dir: PathBuf::from("target"),
            manifest: None,
        });
    };
    let metadata = load_metadata(Some(&m), &cargo_args(cargo))?;
    let target_dir = metadata.target_directory.clone().into_std_path_buf();
    let selected = match cargo.packages.first().map(String::as_str) {
        Some(p) => {
            let by_spec = Selector {
                spec: Some(p),
                ..Selector::default()
            };
            Some(select_package(&metadata, by_spec)?)
        }
        None => metadata.root_package(),
    };
    Ok(match selected {
        Some(pkg) => BinaryPackage {
            meta: read_slim_metadata(&metadata, pkg)?,
            version: Some(pkg.version.to_string()),
            target_dir,
            manifest: Some(pkg.manifest_path.clone().into_std_path_buf()),
        },
        None => BinaryPackage {
            meta: SlimMetadata::default(),
            version: None,
            target_dir,
            manifest: None,
        },
    })
}

/// `-o` (or the default), checked before any work: see [`crate::io::check_output`].
fn output_path(args: &ImageRequest, default: PathBuf) -> Result<PathBuf> {
    let given = args.output.clone().unwrap_or(default);
    Ok(crate::io::check_output(&given, args.force)?)
}

/// `--config …` and `-Z …`, for every cargo command we run.
fn cargo_args(args: &CargoRequest) -> Vec<String> {
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
pub fn epoch_given(epoch: u64) -> Option<u64> {
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
    fn push_plans() {
        let meta = parse_slim_table(
            json!({"repository": "127.0.0.1:5000/acme/app", "tags": ["{version}", "latest"]}),
            Path::new("C"),
        )
        .unwrap();
        let args = PushRequest {
            reference: Some(String::new()),
            ..Default::default()
        };
        let p = push_plan(&args, &meta, "app", Some("1.2.0"), Path::new("C"))
            .unwrap()
            .unwrap();
        assert_eq!(p.reference, "127.0.0.1:5000/acme/app:1.2.0");
        assert_eq!(p.extra_tags, vec!["latest"]);
        let args = PushRequest {
            reference: Some("ghcr.io/x/y:{version}".into()),
            ..Default::default()
        };
        let p = push_plan(&args, &meta, "app", Some("1.2.0"), Path::new("C"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (p.reference.as_str(), p.extra_tags.len()),
            ("ghcr.io/x/y:1.2.0", 0)
        );
        let none = PushRequest::default();
        assert!(push_plan(&none, &meta, "app", None, Path::new("C"))
            .unwrap()
            .is_none());
        let args = PushRequest {
            reference: Some(String::new()),
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
