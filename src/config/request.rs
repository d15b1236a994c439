//! What the user asked for on the command line, as plain library values.
//!
//! In: nothing parsed here — the binary's `cli` module (the argument parser) fills these from
//! flags, and tests or other front ends fill them directly. Out: a
//! [`BuildRequest`] that [`super::resolve`] merges with `[package.metadata.slim]`
//! into a `Plan`. Why: the library knows no argument-parser type (like ripgrep's
//! `lowargs`/`hiargs` split): flags are parsed once in the binary, resolved once
//! here, and no stage ever reads a CLI struct.

use std::path::PathBuf;

/// `cargo slim build` flags. `None`/`false` means "not given on the command line".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildRequest {
    pub manifest_path: Option<PathBuf>,
    /// `-p SPEC`.
    pub package: Option<String>,
    pub bin: Option<String>,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub profile: Option<String>,
    pub target: Option<String>,
    /// `--platform linux/amd64,linux/arm64` (or `all`).
    pub platforms: Vec<String>,
    pub locked: bool,
    pub offline: bool,
    pub frozen: bool,
    /// `--config KEY=VALUE|PATH`, passed to every cargo command (repeatable).
    pub cargo_config: Vec<String>,
    /// `-Z FLAG`, passed to every cargo command (repeatable).
    pub unstable: Vec<String>,
    /// `--target-dir`: cargo's, and where the default output goes.
    pub target_dir: Option<PathBuf>,
    /// `-j N`.
    pub jobs: Option<String>,
    pub timings: bool,
    pub no_install_target: bool,
    /// `--binary PATH`: pack an ELF built elsewhere.
    pub binary: Option<PathBuf>,
    pub tag: Option<String>,
    /// `--stop-signal` (the `stop-signal` key).
    pub stop_signal: Option<String>,
    pub output: Option<PathBuf>,
    /// `--force`: replace an existing output that is not an image tarball.
    pub force: bool,
    pub upx: bool,
    pub upx_path: Option<PathBuf>,
    pub upx_fallback: bool,
    /// `--push [REF]`: `Some("")` means "to `repository` with `tags`".
    pub push: Option<String>,
    pub insecure: bool,
    pub ca_file: Option<PathBuf>,
    pub image_refs: Option<PathBuf>,
    /// `--timeout` of `--push`.
    pub timeout: Option<std::time::Duration>,
    pub split_std: bool,
    pub budget: BudgetRequest,
    /// `--sbom spdx,cyclonedx` (or `none`); empty: not given.
    pub sbom: Vec<String>,
    /// `--compression gzip|gzip:max|zstd[:LEVEL]`.
    pub compression: Option<String>,
    /// `--opt size|min`.
    pub opt: Option<String>,
    /// `--no-static-pie`: a non-PIE static binary.
    pub no_static_pie: bool,
    /// `--allocator auto|musl|mimalloc`.
    pub allocator: Option<String>,
    /// `--no-cache`: rebuild every derived product instead of reusing the cache.
    pub no_cache: bool,
    /// `--no-pie-baseline`: with `static-pie = false`, skip the static-pie build
    /// that measures what it saved.
    pub no_pie_baseline: bool,
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
