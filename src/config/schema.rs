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
use cargo_metadata::Package;
use serde::Deserialize;

use crate::budget::BudgetTable;
use crate::error::Failure;

/// The `[package.metadata.slim]` table. Field names are the keys users write.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SlimMetadata {
    /// Binary target to pack when the package has several.
    pub bin: Option<String>,
    /// Target triple.
    pub target: Option<String>,
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
    /// Copy the host's CA bundle (`true`, or a path) to /etc/ssl/certs/ca-certificates.crt.
    pub ca_certificates: Option<BoolOrPath>,
    /// Copy the host's time-zone database (`true`, or a path) to /usr/share/zoneinfo.
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

impl BoolOrPath {
    pub fn resolve(&self, default: &str) -> Option<PathBuf> {
        match self {
            BoolOrPath::Bool(false) => None,
            BoolOrPath::Bool(true) => Some(PathBuf::from(default)),
            BoolOrPath::Path(p) => Some(p.clone()),
        }
    }
}

/// Deserialise `package.metadata.slim`, naming the manifest on error.
pub fn read_slim_metadata(package: &Package) -> Result<SlimMetadata> {
    let Some(value) = package.metadata.get("slim") else {
        return Ok(SlimMetadata::default());
    };
    parse_slim_table(value.clone(), package.manifest_path.as_std_path())
}

pub fn parse_slim_table(value: serde_json::Value, manifest: &Path) -> Result<SlimMetadata> {
    serde_json::from_value(value).map_err(|e| {
        Failure::new(format!(
            "invalid [package.metadata.slim] in `{}`",
            manifest.display()
        ))
        .detail(e.to_string())
        .help("see the README for the keys cargo slim understands")
        .into()
    })
}
