//! Report: the size of every stage, per crate and per section → a human table,
//! a JSON line, a markdown summary, an SVG chart; plus the budget verdict.
//!
//! Every number is the byte count of something that was really produced: the
//! binary cargo wrote, the stripped (and packed) bytes put in the layer, the
//! compressed layer blob, the pull size (manifest + config + layers, what a
//! registry client downloads) and the tarball on disk. Humans get KiB/MiB with the
//! exact bytes beside them; JSON gets exact bytes. The JSON (`image-built`) is
//! also written next to the tarball (`<name>.report.json`), so `cargo slim report`
//! can show the per-crate figures later and a later build can use it as a baseline.
//!
//! Both commands make a report the same way: [`BuildReport::new`] from what the
//! image is ([`ImageFigures`], measured on it) and what only the build knows
//! ([`BuildFacts`], from the build itself or from the sidecar), then [`finish`]
//! (baseline, budget, table, chart, step summary).

mod data;
mod finish;
pub mod markdown;
pub mod svg;
mod table;

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::budget::Verdict;
use crate::error::{io_failure, Failure};
pub use crate::units::{grouped, human};
pub use data::DataReport;
pub use finish::finish;
pub use table::{table, TOP_CRATES};

/// Byte counts of each stage of one build (the JSON `sizes` object).
/// What UPX did, for the report (the JSON `upx` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpxReport {
    pub version: String,
    pub args: Vec<String>,
    pub packed: bool,
    /// Why the unpacked binary was kept, when it was.
    pub note: Option<String>,
    pub binary_before: u64,
    pub binary_after: u64,
    pub gzip_before: u64,
    pub gzip_after: u64,
    /// Median wall time of the smoke run, in milliseconds.
    pub startup_ms_before: Option<f64>,
    pub startup_ms_after: Option<f64>,
}

/// The one pull-size formula (the figure the image budget checks): the bytes a
/// client downloads to pull an image — its manifest, its config and its
/// compressed layers. Used by `build` (from the image it made) and by `report`
/// (from a tarball), so the two can never disagree.
pub fn pull_size(manifest: u64, config: u64, layers: impl IntoIterator<Item = u64>) -> u64 {
    manifest + config + layers.into_iter().sum::<u64>()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    pub binary_unstripped: Option<u64>,
    pub binary_stripped: Option<u64>,
    /// Bytes of the `.dep-v0` section (the crate list for scanners) inside the
    /// stripped binary; absent when none was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dep_v0: Option<u64>,
    /// After UPX; `null` when not packed.
    pub binary_packed: Option<u64>,
    /// The binary as it is in the image.
    pub binary_final: u64,
    pub layer_compressed: u64,
    pub layer_uncompressed: u64,
    pub image_pull: u64,
    pub tarball: u64,
}

impl Sizes {
    /// These figures, with the binary's sizes before it went into the image
    /// (unstripped, stripped, `.dep-v0`, packed) taken from `build`'s.
    pub fn with_binary_of(self, build: &Sizes) -> Sizes {
        Sizes {
            binary_unstripped: build.binary_unstripped,
            binary_stripped: build.binary_stripped,
            dep_v0: build.dep_v0,
            binary_packed: build.binary_packed,
            ..self
        }
    }
}

/// One layer of the image (the JSON `layers` array), in the manifest's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerReport {
    /// What it holds, e.g. `system files: /etc/passwd, /etc/group, /tmp`.
    pub holds: String,
    pub digest: String,
    /// Bytes of the gzip blob (what a pull downloads).
    pub compressed: u64,
    /// Bytes of the tar inside.
    pub uncompressed: u64,
}

/// A named byte count (a crate or a section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedSize {
    pub name: String,
    pub bytes: u64,
}

/// The `image-built` JSON line (and `image-report` for `cargo slim report`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    pub reason: String,
    pub path: String,
    pub reference: String,
    pub manifest_digest: String,
    /// The image index of a multi-platform image: the digest users pull (each
    /// platform's report carries it); absent for a single-platform image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<String>,
    pub platform: String,
    pub sizes: Sizes,
    /// Each layer; empty in reports written before layers were listed.
    #[serde(default)]
    pub layers: Vec<LayerReport>,
    pub crates: Vec<NamedSize>,
    pub sections: Vec<NamedSize>,
    /// What UPX did; `null` when UPX was not used.
    #[serde(default)]
    pub upx: Option<UpxReport>,
    pub budget: VerdictJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineDiff>,
    /// The size preset (`--opt`) the binary was built with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<PresetReport>,
    /// `static` (non-PIE, no ASLR: `static-pie = false`) or `static-pie`, as the
    /// ELF header says; absent in reports read back from an archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkage: Option<String>,
    /// With `static-pie = false`: a static-pie build of the same crate, measured
    /// to say what the non-PIE build saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pie_baseline: Option<PieBaseline>,
    /// The SBOMs attached to the image (empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sbom: Vec<SbomReport>,
    /// The signatures, provenance and Sigstore bundles attached to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached: Vec<AttachedReport>,
    /// The allocator the binary serves its allocations with, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocator: Option<AllocatorReport>,
    /// Where the image's CA bundle came from; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<DataReport>,
    /// Where the image's /usr/share/zoneinfo came from; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoneinfo: Option<DataReport>,
    /// With `bins = [...]`: the image's other binaries (`sizes` are the
    /// entrypoint's); absent for an image of one binary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binaries: Vec<BinaryReport>,
}

/// One of an image's other binaries: where it is and what it weighs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryReport {
    pub name: String,
    /// Its path in the image.
    pub path: String,
    /// `static` or `static-pie`, as its ELF header says.
    pub linkage: String,
    pub unstripped: u64,
    pub stripped: u64,
    /// As it is in the image (packed, when UPX packed it).
    #[serde(rename = "final")]
    pub final_size: u64,
}

/// What a report says about the image itself, measured on it: the image just
/// built, or the one read back from an archive.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFigures {
    /// The tarball.
    pub path: String,
    pub reference: String,
    pub manifest_digest: String,
    pub index_digest: Option<String>,
    /// `os/arch[/variant]`.
    pub platform: String,
    pub sizes: Sizes,
    pub layers: Vec<LayerReport>,
    pub sbom: Vec<SbomReport>,
    pub attached: Vec<AttachedReport>,
}

/// What only the build knows (none of it can be read from the image): kept in
/// the sidecar report beside the tarball, for `cargo slim report`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildFacts {
    pub crates: Vec<NamedSize>,
    pub sections: Vec<NamedSize>,
    pub upx: Option<UpxReport>,
    pub preset: Option<PresetReport>,
    pub linkage: Option<String>,
    pub pie_baseline: Option<PieBaseline>,
    pub allocator: Option<AllocatorReport>,
    pub ca_certificates: Option<DataReport>,
    pub zoneinfo: Option<DataReport>,
    pub binaries: Vec<BinaryReport>,
}

impl BuildFacts {
    /// The build facts a report read back (the sidecar) recorded.
    pub fn of(stored: BuildReport) -> BuildFacts {
        BuildFacts {
            crates: stored.crates,
            sections: stored.sections,
            upx: stored.upx,
            preset: stored.preset,
            linkage: stored.linkage,
            pie_baseline: stored.pie_baseline,
            allocator: stored.allocator,
            ca_certificates: stored.ca_certificates,
            zoneinfo: stored.zoneinfo,
            binaries: stored.binaries,
        }
    }
}

impl BuildReport {
    /// The one way a report is made, by `build` (`reason` `image-built`) and by
    /// `cargo slim report` (`image-report`): no baseline diff and no budget
    /// verdict yet ([`finish`] adds them).
    pub fn new(reason: &str, image: ImageFigures, build: BuildFacts) -> BuildReport {
        BuildReport {
            reason: reason.into(),
            path: image.path,
            reference: image.reference,
            manifest_digest: image.manifest_digest,
            index_digest: image.index_digest,
            platform: image.platform,
            sizes: image.sizes,
            layers: image.layers,
            crates: build.crates,
            sections: build.sections,
            upx: build.upx,
            budget: Default::default(),
            baseline: None,
            preset: build.preset,
            linkage: build.linkage,
            pie_baseline: build.pie_baseline,
            sbom: image.sbom,
            attached: image.attached,
            allocator: build.allocator,
            ca_certificates: build.ca_certificates,
            zoneinfo: build.zoneinfo,
            binaries: build.binaries,
        }
    }
}

/// The `allocator` object: what serves the program's allocations (`mimalloc`,
/// `musl`, `glibc`, or its own `jemalloc`, …), why, and what the unstripped
/// symbol table showed (`malloc`: what the name `malloc` is; `present`: every
/// implementation found; both absent when the binary had no symbol table).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocatorReport {
    pub name: String,
    pub why: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malloc: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub present: Vec<String>,
}

/// What linking mimalloc trades, in the figures of `scripts/bench-runtime`
/// (README, "Benchmarks": the jsonapi fixture, 3 rounds, idle machine).
pub const MIMALLOC_TRADE_OFF: &str =
    "trade-off (scripts/bench-runtime): 4.8x musl's malloc's req/s on allocation-heavy requests, \
     5.0 MiB idle RSS against its 0.9 MiB; allocator = \"musl\" keeps the small footprint";

impl AllocatorReport {
    /// `mimalloc (linked by cargo-slim; auto: tokio multi-thread runtime)`.
    pub fn human(&self) -> String {
        let mut s = format!("{} ({})", self.name, self.why);
        if self.malloc.is_none() && self.present.is_empty() {
            s.push_str(" [not read from the binary: no symbol table]");
        }
        s
    }
}

/// The `pie_baseline` object: a static-pie build of the same crate, stripped and
/// compressed like the image's binary, and what the non-PIE binary saved against
/// it (negative: it grew).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieBaseline {
    /// The static-pie's stripped binary.
    pub binary_stripped: u64,
    /// Its compressed binary layer.
    pub layer_compressed: u64,
    /// Stripped bytes saved by `static-pie = false`.
    pub saved_stripped: i64,
    /// Bytes saved in the binary's compressed layer (before any UPX packing).
    pub saved_layer: i64,
}

impl PieBaseline {
    /// The static-pie's `(stripped, layer)` sizes beside the non-PIE's.
    pub fn new(pie: (u64, u64), ours: (u64, u64)) -> PieBaseline {
        let diff = |a: u64, b: u64| {
            i64::try_from(a).unwrap_or(i64::MAX) - i64::try_from(b).unwrap_or(i64::MAX)
        };
        PieBaseline {
            binary_stripped: pie.0,
            layer_compressed: pie.1,
            saved_stripped: diff(pie.0, ours.0),
            saved_layer: diff(pie.1, ours.1),
        }
    }

    /// `16.5 KiB (16,888 bytes) smaller stripped, 4.3 KiB (4,369 bytes) smaller
    /// compressed than a static-pie build`.
    pub fn human(&self) -> String {
        let one = |n: i64, what: &str| {
            let b = n.unsigned_abs();
            let than = if n >= 0 { "smaller" } else { "larger" };
            format!("{} ({} bytes) {than} {what}", human(b), grouped(b))
        };
        format!(
            "{}, {} than a static-pie build",
            one(self.saved_stripped, "stripped"),
            one(self.saved_layer, "compressed")
        )
    }
}

/// One SBOM attached to the image: its format, the artifact manifest's digest
/// and how many crates it lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbomReport {
    /// `spdx`, `cyclonedx`.
    pub format: String,
    /// `sha256:<hex>` of the artifact manifest.
    pub digest: String,
    /// Crates (`pkg:cargo/` purls) the document lists.
    pub packages: Option<usize>,
}

impl From<crate::oci::SbomFound> for SbomReport {
    fn from(s: crate::oci::SbomFound) -> SbomReport {
        SbomReport {
            format: s.format,
            digest: s.digest,
            packages: s.packages,
        }
    }
}

/// A signature, provenance statement or Sigstore bundle attached to the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedReport {
    /// `provenance`, `signature` or `bundle`.
    pub kind: String,
    /// `sha256:<hex>` of the artifact manifest.
    pub digest: String,
}

/// The `preset` object: what `--opt` set, and what the user's profile kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PresetReport {
    pub name: String,
    /// `key = value` the preset added to the profile.
    pub set: Vec<String>,
    /// `key = value` of the user's `[profile.*]`, which win over the preset.
    pub kept: Vec<String>,
}

/// The `budget` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerdictJson {
    pub passed: bool,
    pub checks: Vec<CheckJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckJson {
    pub name: String,
    pub limit: u64,
    pub actual: u64,
    pub passed: bool,
}

impl From<&Verdict> for VerdictJson {
    fn from(v: &Verdict) -> Self {
        VerdictJson {
            passed: v.passed,
            checks: v
                .checks
                .iter()
                .map(|c| CheckJson {
                    name: c.name.clone(),
                    limit: c.limit,
                    actual: c.actual,
                    passed: c.passed,
                })
                .collect(),
        }
    }
}

/// Differences against a baseline report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineDiff {
    pub path: String,
    pub stages: Vec<Delta>,
    pub crates: Vec<Delta>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub name: String,
    pub before: u64,
    pub after: u64,
    pub bytes: i64,
    /// Percent change; `null` when `before` is 0.
    pub percent: Option<f64>,
}

impl Delta {
    pub fn new(name: &str, before: u64, after: u64) -> Delta {
        let bytes = after as i64 - before as i64;
        let percent = (before > 0).then(|| {
            let p = bytes as f64 * 100.0 / before as f64;
            (p * 100.0).round() / 100.0
        });
        Delta {
            name: name.to_string(),
            before,
            after,
            bytes,
            percent,
        }
    }

    /// `+1.2 KiB (+3.40%)`
    pub fn human(&self) -> String {
        let sign = if self.bytes < 0 { "-" } else { "+" };
        let pct = match self.percent {
            Some(p) => format!(" ({}{:.2}%)", if p < 0.0 { "" } else { "+" }, p),
            None => " (new)".to_string(),
        };
        format!("{sign}{}{pct}", human(self.bytes.unsigned_abs()))
    }
}

/// The stage rows: label, JSON key, bytes.
pub fn stages(s: &Sizes) -> Vec<(&'static str, &'static str, u64)> {
    let mut rows = Vec::new();
    if let Some(b) = s.binary_unstripped {
        rows.push(("binary (unstripped)", "binary_unstripped", b));
    }
    if let Some(b) = s.binary_stripped {
        rows.push(("binary (stripped)", "binary_stripped", b));
    }
    if let Some(b) = s.dep_v0 {
        rows.push(("  of which .dep-v0", "dep_v0", b));
    }
    if let Some(b) = s.binary_packed {
        rows.push(("binary (upx)", "binary_packed", b));
    }
    if s.binary_unstripped.is_none() && s.binary_stripped.is_none() && s.binary_packed.is_none() {
        rows.push(("binary", "binary_final", s.binary_final));
    }
    rows.push(("layer (compressed)", "layer_compressed", s.layer_compressed));
    rows.push(("image pull size", "image_pull", s.image_pull));
    rows.push(("tarball on disk", "tarball", s.tarball));
    rows
}

/// Compare a report with a baseline report, stage by stage and crate by crate.
pub fn diff(baseline: &BuildReport, baseline_path: &Path, now: &BuildReport) -> BaselineDiff {
    let before = serde_json::to_value(&baseline.sizes).unwrap_or_default();
    let mut stage_deltas = Vec::new();
    for (_, key, after) in stages(&now.sizes) {
        if let Some(b) = before.get(key).and_then(|v| v.as_u64()) {
            stage_deltas.push(Delta::new(key, b, after));
        }
    }
    let mut names: Vec<&str> = now.crates.iter().map(|c| c.name.as_str()).collect();
    for c in &baseline.crates {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    let find =
        |list: &[NamedSize], n: &str| list.iter().find(|c| c.name == n).map_or(0, |c| c.bytes);
    let mut crate_deltas: Vec<Delta> = names
        .into_iter()
        .map(|n| Delta::new(n, find(&baseline.crates, n), find(&now.crates, n)))
        .filter(|d| d.bytes != 0)
        .collect();
    crate_deltas.sort_by(|a, b| {
        b.bytes
            .unsigned_abs()
            .cmp(&a.bytes.unsigned_abs())
            .then(a.name.cmp(&b.name))
    });
    BaselineDiff {
        path: baseline_path.display().to_string(),
        stages: stage_deltas,
        crates: crate_deltas,
    }
}

/// Read a report JSON (the output of `--message-format json`, or a sidecar). When
/// the file holds several JSON lines, the `image-built` one is used.
pub fn load_report(path: &Path) -> Result<BuildReport> {
    let mut all = load_reports(path)?;
    Ok(all.pop().expect("load_reports returns at least one"))
}

/// Every report line of a file: one per platform of a multi-platform build (the
/// sidecar holds a line each), or the one of a single-platform build.
pub fn load_reports(path: &Path) -> Result<Vec<BuildReport>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| io_failure("read the report", path, &e))?;
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"image-built\"") || l.contains("\"image-report\""))
        .collect();
    if lines.is_empty() {
        lines.push(text.trim());
    }
    lines
        .into_iter()
        .map(|line| {
            serde_json::from_str(line).map_err(|e| {
                Failure::new(format!("`{}` is not a cargo-slim report", path.display()))
                    .detail(e.to_string())
                    .help("use the JSON printed by `cargo slim build --message-format json`, or the .report.json written beside the tarball")
                    .into()
            })
        })
        .collect()
}

/// Where the report of a tarball is kept: `x.tar` → `x.report.json`.
pub fn sidecar_path(tarball: &Path) -> PathBuf {
    let name = tarball
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".tar").unwrap_or(&name);
    tarball.with_file_name(format!("{stem}.report.json"))
}

#[cfg(test)]
pub(crate) mod tests;
