//! What the user asked for on the command line, as plain library values, in
//! groups by concern: cargo, the size settings of the build, the image, UPX,
//! push and budget.
//!
//! In: nothing parsed here — the binary's `cli` module (the argument parser) fills these from
//! flags, and tests or other front ends fill them directly. Out: a
//! [`BuildRequest`] that [`super::resolve`] merges with `[package.metadata.slim]`
//! into a `Plan`. Why: the library knows no argument-parser type (like ripgrep's
//! `lowargs`/`hiargs` split): flags are parsed once in the binary, resolved once
//! here, and no stage ever reads a CLI struct. Why groups: each resolution step
//! takes the one group it reads, and a new flag lands beside its kin.

use std::path::PathBuf;

use crate::compile::{Features, Lock};

/// `cargo slim build` flags. `None`/`false` means "not given on the command line".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildRequest {
    pub cargo: CargoRequest,
    /// `--binary PATH`: pack an ELF built elsewhere.
    pub binary: Option<PathBuf>,
    pub image: ImageRequest,
    pub upx: UpxRequest,
    pub push: PushRequest,
    /// `--split-std`: the standard library's crates apart in the report.
    pub split_std: bool,
    pub size: SizeRequest,
    /// `--no-cache`: rebuild every derived product instead of reusing the cache.
    pub no_cache: bool,
    pub budget: BudgetRequest,
}

/// What is passed on to cargo, or decides what cargo builds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CargoRequest {
    /// `--manifest-path`: else cargo finds the manifest from the working folder.
    pub manifest_path: Option<PathBuf>,
    /// `-p SPEC`, repeatable: one image each.
    pub packages: Vec<String>,
    /// `--workspace`: every member with a binary (less `skip = true`).
    pub workspace: bool,
    /// `--exclude SPEC` (with `--workspace`).
    pub exclude: Vec<String>,
    /// `--bin` (over the `bin` key).
    pub bin: Option<String>,
    /// `--bins`: every binary target of the package(s), an image each.
    pub all_bins: bool,
    pub features: Features,
    /// `--profile` (over the `profile` key).
    pub profile: Option<String>,
    /// `--target TRIPLE` (over the `target` key).
    pub target: Option<String>,
    /// `--platform linux/amd64,linux/arm64` (or `all`).
    pub platforms: Vec<String>,
    pub lock: Lock,
    /// `--config KEY=VALUE|PATH`, passed to every cargo command (repeatable).
    pub cargo_config: Vec<String>,
    /// `-Z FLAG`, passed to every cargo command (repeatable).
    pub unstable: Vec<String>,
    /// `--target-dir`: cargo's, and where the default output goes.
    pub target_dir: Option<PathBuf>,
    /// `-j N`.
    pub jobs: Option<String>,
    /// `--timings`, passed to `cargo build`.
    pub timings: bool,
    /// `--no-install-target`: never `rustup target add`.
    pub no_install_target: bool,
}

/// How small the binary is built: `--opt`, `--no-static-pie`, `--allocator`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SizeRequest {
    /// `--opt size|min`.
    pub opt: Option<String>,
    /// `--no-static-pie`: a non-PIE static binary.
    pub no_static_pie: bool,
    /// `--allocator auto|musl|mimalloc`.
    pub allocator: Option<String>,
    /// `--no-pie-baseline`: with `static-pie = false`, skip the static-pie build
    /// that measures what it saved.
    pub no_pie_baseline: bool,
}

/// The image and the files written with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageRequest {
    /// `--tag REF` (over the `tag` key).
    pub tag: Option<String>,
    /// `--stop-signal` (the `stop-signal` key).
    pub stop_signal: Option<String>,
    /// `-o PATH`: where the tarball goes.
    pub output: Option<PathBuf>,
    /// `--force`: replace an existing output that is not an image tarball.
    pub force: bool,
    /// `--sbom spdx,cyclonedx` (or `none`); empty: not given.
    pub sbom: Vec<String>,
    /// `--compression gzip|gzip:max|zstd[:LEVEL]`.
    pub compression: Option<String>,
    /// `--provenance none|unsigned|signed` (over the `provenance` key).
    pub provenance: Option<String>,
}

/// `--upx`, `--upx-path`, `--upx-fallback`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpxRequest {
    /// `--upx`: pack, whatever the `upx` key says.
    pub upx: bool,
    /// `--upx-path` (over the `upx-path` key).
    pub path: Option<PathBuf>,
    /// `--upx-fallback`: ship the unpacked binary when the packed one fails its smoke run.
    pub fallback: bool,
}

/// `--push [REF]` and the flags that go with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushRequest {
    /// `--push [REF]`: `Some("")` means "to `repository` with `tags`".
    pub reference: Option<String>,
    /// `--insecure`: plain HTTP and unverified TLS allowed.
    pub insecure: bool,
    /// `--ca-file PEM`: CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// `--image-refs FILE`: where `REPOSITORY@sha256:DIGEST` is written too.
    pub image_refs: Option<PathBuf>,
    /// `--timeout` of `--push`.
    pub timeout: Option<std::time::Duration>,
    /// `--repository REPO` (or `CARGO_SLIM_REPOSITORY`): with `--push` and no
    /// REF, each image goes to `REPO/<binary name>`.
    pub repository: Option<String>,
}

/// Size report and budget flags, shared by `build` and `report`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetRequest {
    pub max_image_size: Option<u64>,
    pub max_binary_size: Option<u64>,
    pub baseline: Option<PathBuf>,
    pub max_increase: Option<f64>,
    pub chart: Option<PathBuf>,
}
