//! The raw `[package.metadata.slim]` schema, exactly as users write it.
//!
//! In: the `slim` table of a package's metadata (JSON, from `cargo metadata`).
//! Out: [`SlimMetadata`], every field optional, nothing resolved yet. Why apart
//! from resolution (as cargo-deb keeps `parse/manifest.rs`): the schema is the
//! user's contract; an unknown key or a wrong type is an error naming the manifest
//! path and the key, so a typo never silently changes the image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use cargo_metadata::{Metadata, Package};
use serde::Deserialize;
use serde_json::Value;

use crate::budget::BudgetTable;
use crate::error::Failure;

/// The `[package.metadata.slim]` table. Field names are the keys users write.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SlimMetadata {
    /// Binary target to pack when the package has several.
    pub bin: Option<String>,
    /// `true`: `--workspace` leaves this package out.
    pub skip: Option<bool>,
    /// Several binary targets in one image, each beside the entrypoint's path.
    pub bins: Option<Vec<String>>,
    /// With `bins`: the one that is the image's `Entrypoint` (default: the first).
    pub entrypoint: Option<String>,
    /// Target triple.
    pub target: Option<String>,
    /// Platforms to build (`["linux/amd64", "linux/arm64"]` or `["all"]`).
    pub platforms: Option<Vec<String>>,
    /// Cargo profile.
    pub profile: Option<String>,
    /// Image reference; `{name}` and `{version}` are replaced.
    pub tag: Option<String>,
    /// Absolute path of the binary inside the image.
    pub path: Option<String>,
    /// `User` of the image config.
    pub user: Option<String>,
    /// Default arguments (`Cmd`).
    pub cmd: Option<Vec<String>>,
    /// Environment variables.
    pub env: Option<BTreeMap<String, String>>,
    /// Image labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Working directory.
    pub workdir: Option<String>,
    /// Exposed ports, e.g. `["8080", "53/udp"]`.
    pub expose: Option<Vec<String>>,
    /// The CA bundle at /etc/ssl/certs/ca-certificates.crt: `true` (the built-in
    /// Mozilla root store), a path (the user's own), `false` (off); unset: on when
    /// the dependency graph reads the system store.
    pub ca_certificates: Option<BoolOrPath>,
    /// The time-zone database at /usr/share/zoneinfo, the same way (`true`: the
    /// built-in IANA database).
    pub zoneinfo: Option<BoolOrPath>,
    /// `[package.metadata.slim.budget]`
    pub budget: Option<BudgetTable>,
    /// `upx = true` or `upx = { args = [...], smoke = [...], allow-brute = false, timeout = 10 }`
    pub upx: Option<UpxSetting>,
    /// Path of the `upx` executable.
    pub upx_path: Option<PathBuf>,
    /// Registry repository for `build --push` without a REF, e.g. "ghcr.io/acme/app".
    pub repository: Option<String>,
    /// Tags pushed to `repository`; `{version}` and `{name}` are replaced.
    pub tags: Option<Vec<String>>,
    /// SBOM documents to write: `["spdx", "cyclonedx"]`, or `["none"]`.
    pub sbom: Option<Vec<String>>,
    /// SLSA provenance: "none", "unsigned" or "signed" (default: signed when
    /// the build signs, else unsigned).
    pub provenance: Option<String>,
    /// The private key each image is signed with (relative to the package folder).
    pub sign: Option<PathBuf>,
    /// Layer compression: "gzip", "gzip:max", "zstd" or "zstd:LEVEL".
    pub compression: Option<String>,
    /// Size preset: "size" or "min" (nightly with rust-src).
    pub opt: Option<String>,
    /// `false`: a non-PIE static binary (`-C relocation-model=static`, no ASLR).
    pub static_pie: Option<bool>,
    /// The allocator: "auto" (default), "musl" or "mimalloc".
    pub allocator: Option<String>,
    // --- image contents: files, tmp, passwd, stop-signal, annotations ---
    /// Files and folders from the package to copy into the image.
    pub files: Option<Vec<FileEntry>>,
    /// `/tmp`, mode 1777.
    pub tmp: Option<bool>,
    /// `/etc/passwd` + `/etc/group` with root and nonroot (65532).
    pub passwd: Option<bool>,
    /// Image config `StopSignal`: a name (`"SIGQUIT"`) or a number.
    pub stop_signal: Option<StopSignal>,
    /// Manifest annotations.
    pub annotations: Option<BTreeMap<String, String>>,
    // --- end of image contents ---
}

/// One `files` entry: `{ src = "public/", dest = "/public", mode = "0444", owner = "65532:65532" }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub src: String,
    pub dest: String,
    pub mode: Option<String>,
    pub owner: Option<String>,
}

/// `stop-signal = "SIGQUIT"` or `stop-signal = 3`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum StopSignal {
    Name(String),
    Number(i64),
}

/// The `upx` key: a switch, or a table of settings (which turns UPX on).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum UpxSetting {
    Enabled(bool),
    Table(UpxTable),
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct UpxTable {
    pub args: Option<Vec<String>>,
    pub smoke: Option<Vec<String>>,
    pub allow_brute: Option<bool>,
    /// Seconds the smoke run may take.
    pub timeout: Option<f64>,
    /// Set to false to keep the table but turn UPX off.
    pub enabled: Option<bool>,
}

/// `true`/`false`, or a host path.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum BoolOrPath {
    Bool(bool),
    Path(PathBuf),
}

/// `invalid `KEY` in [package.metadata.slim] of `MANIFEST`: `VALUE``, with why
/// and what to write instead.
pub(super) fn bad_key(
    manifest: &Path,
    key: &str,
    value: &str,
    why: String,
    help: &str,
) -> anyhow::Error {
    Failure::new(format!(
        "invalid `{key}` in [package.metadata.slim] of `{}`: `{value}`",
        manifest.display()
    ))
    .detail(why)
    .help(help.to_string())
    .into()
}

/// Deserialise `package.metadata.slim`, naming the manifest on error.
pub fn read_slim_metadata(metadata: &Metadata, package: &Package) -> Result<SlimMetadata> {
    let root = metadata.workspace_root.join("Cargo.toml");
    let shared = metadata.workspace_metadata.get("slim");
    let own = package.metadata.get("slim");
    // Each table is checked on its own first, so an error names the file it is in.
    if let Some(w) = shared {
        parse_table(w.clone(), root.as_std_path(), "[workspace.metadata.slim]")?;
    }
    let own_manifest = package.manifest_path.as_std_path();
    match (shared, own) {
        (None, None) => Ok(SlimMetadata::default()),
        (Some(w), None) => parse_table(w.clone(), root.as_std_path(), "[workspace.metadata.slim]"),
        (None, Some(o)) => parse_slim_table(o.clone(), own_manifest),
        (Some(w), Some(o)) => {
            parse_slim_table(o.clone(), own_manifest)?;
            parse_slim_table(merged(w, o), own_manifest)
        }
    }
}

/// `over` on top of `base`: tables merge key by key (a member's `budget.image`
/// keeps the workspace's `budget.binary`), anything else is replaced.
fn merged(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let m = match out.get(k) {
                    Some(bv) => merged(bv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), m);
            }
            Value::Object(out)
        }
        (_, o) => o.clone(),
    }
}

/// Parse a `[package.metadata.slim]` table, naming the manifest and the key on error.
pub fn parse_slim_table(value: Value, manifest: &Path) -> Result<SlimMetadata> {
    parse_table(value, manifest, "[package.metadata.slim]")
}

fn parse_table(value: Value, manifest: &Path, table: &str) -> Result<SlimMetadata> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        let what = if key == "." || key.is_empty() {
            format!("invalid {table} in `{}`", manifest.display())
        } else {
            format!("invalid `{key}` in {table} of `{}`", manifest.display())
        };
        Failure::new(what)
            .detail(e.into_inner().to_string())
            .help("see the README for the keys cargo slim understands")
            .into()
    })
}
