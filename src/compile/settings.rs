//! What a cargo build is made of, split by how far each setting reaches: the
//! run ([`CargoRun`]: workspace, target dir, flags for cargo), the package's
//! image ([`PackageBuild`]: binary, profile, features, preset, relocation,
//! allocator) and one platform's target, joined in the [`CargoBuild`] view.
//!
//! In: values `config` resolved. Out: what [`super::build`], `preflight` and
//! the helpers read. Why a view: the platforms of a multi-platform build share
//! every setting but the target, so none is copied per platform.

use std::path::{Path, PathBuf};

use super::{alloc, preset};

/// What every cargo command of a run shares, whichever package and platform it
/// builds: the workspace, the target dir and the flags passed on to cargo.
#[derive(Debug, Clone)]
pub struct CargoRun {
    /// The workspace root (`cargo metadata`'s `workspace_root`).
    pub workspace_root: PathBuf,
    /// The workspace's name in remapped paths (`/build/<name>`): its root
    /// package's, or `workspace` for a virtual manifest — the same for every
    /// member, so their builds share rustflags and with them compiled crates.
    /// Empty: the package's name.
    pub workspace_name: String,
    /// Where cargo puts its output (`--target-dir`, or cargo's own choice).
    pub target_dir: PathBuf,
    /// Whether `target_dir` came from `--target-dir` (then it is passed to cargo).
    pub target_dir_given: bool,
    /// Passed to every cargo command: `--config …`, `-Z …`.
    pub cargo_args: Vec<String>,
    pub lock: Lock,
    /// Passed to `cargo build` only: `-j N`, `--timings`.
    pub build_args: Vec<String>,
    /// Whether a missing target's standard library may be installed with rustup.
    pub install_target: bool,
}

/// `--locked`, `--offline`, `--frozen`: what cargo may do to `Cargo.lock` and
/// whether it may use the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Lock {
    pub locked: bool,
    pub offline: bool,
    pub frozen: bool,
}

impl Lock {
    /// The cargo flags of those that are on.
    pub fn flags(self) -> impl Iterator<Item = &'static str> {
        [
            (self.locked, "--locked"),
            (self.offline, "--offline"),
            (self.frozen, "--frozen"),
        ]
        .into_iter()
        .filter_map(|(on, flag)| on.then_some(flag))
    }
}

/// `--features`, `--all-features`, `--no-default-features`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Features {
    pub list: Vec<String>,
    pub all: bool,
    pub no_default: bool,
}

/// One package's binary, built the same way for each platform: resolved by
/// `config`, once per image.
#[derive(Debug, Clone)]
pub struct PackageBuild {
    pub manifest_path: PathBuf,
    pub package_id: String,
    pub package_name: String,
    pub bin: String,
    /// `bins = [...]`: the image's other binaries, built with `bin`.
    pub also: Vec<String>,
    pub profile: String,
    pub features: Features,
    /// `--opt`: the size preset's profile settings, rustflags and toolchain.
    pub preset: Option<preset::PresetPlan>,
    /// `static-pie` / `--no-static-pie`.
    pub relocation: preset::Relocation,
    /// `allocator` / `--allocator`: what `preflight::allocator` decides from.
    pub allocator: alloc::Choice,
}

impl PackageBuild {
    /// The package's folder: where cargo and rustc are run from.
    pub fn dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("."))
    }
}

/// One cargo build: the run's settings, the package's, and one platform's
/// target. A view, so each platform of a multi-platform build borrows the same
/// settings instead of a copy.
#[derive(Debug, Clone, Copy)]
pub struct CargoBuild<'a> {
    pub run: &'a CargoRun,
    pub package: &'a PackageBuild,
    /// An explicit target; `None` means the static default for the host.
    pub target: Option<&'a str>,
    /// The rebuild cache: toolchain answers come from it (`compile::probe`).
    pub cache: &'a crate::cache::Cache,
}

impl CargoBuild<'_> {
    /// Rustflags added beside the user's: the preset's (`--opt min`), then
    /// the one of `static-pie = false`.
    pub(super) fn rustflags(&self) -> Vec<String> {
        let mut flags = match &self.package.preset {
            Some(p) => p.rustflags.clone(),
            None => Vec::new(),
        };
        flags.extend(self.package.relocation.rustflag().map(str::to_string));
        flags
    }

    /// `--opt min`: built with a nightly toolchain, checked before compiling.
    pub fn nightly(&self) -> bool {
        self.package.preset.as_ref().is_some_and(|p| p.nightly)
    }
}
