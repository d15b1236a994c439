//! The human size table of a [`BuildReport`], printed on stderr after a build
//! or a `cargo slim report`.
//!
//! In: a finished report (budget and baseline filled in). Out: aligned blocks
//! under cargo-style status lines: the stages (each with its change against the
//! baseline), what the build chose (preset, linkage, allocator), what the image
//! carries (SBOMs, CA bundle, zoneinfo), the layers, the top crates, UPX's
//! savings and the largest sections. Why apart: the report's types are its JSON
//! schema; this is only one way of showing them.

use super::{
    grouped, human, stages, BuildReport, Delta, LayerReport, UpxReport, MIMALLOC_TRADE_OFF,
};

/// Rows of (label, bytes, optional delta) as an aligned block, indented to sit
/// under cargo-style status lines.
fn block(title: &str, rows: &[(String, u64, Option<String>)]) -> String {
    let label_w = rows
        .iter()
        .map(|r| r.0.len())
        .max()
        .unwrap_or(0)
        .max(title.len());
    let human_w = rows.iter().map(|r| human(r.1).len()).max().unwrap_or(0);
    let bytes_w = rows.iter().map(|r| grouped(r.1).len()).max().unwrap_or(0);
    let mut out = format!("{:>12} {title}\n", "");
    for (label, bytes, delta) in rows {
        let mut line = format!(
            "{:>12} {label:<label_w$}  {:>human_w$}  {:>bytes_w$} bytes",
            "",
            human(*bytes),
            grouped(*bytes)
        );
        if let Some(d) = delta {
            line.push_str("  ");
            line.push_str(d);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Number of crates shown in the human table (JSON has them all).
pub const TOP_CRATES: usize = 10;

/// The human report: stages, top crates, sections, deltas and the budget.
pub fn table(r: &BuildReport) -> String {
    let mut out = block("size", &stage_rows(r));
    out.push_str(&build_lines(r));
    out.push_str(&image_lines(r));
    if r.layers.len() > 1 {
        out.push_str(&layers_block(&r.layers));
    }
    if !r.crates.is_empty() {
        out.push_str(&crates_block(r));
    }
    if let Some(u) = &r.upx {
        out.push_str(&upx_block(u));
    }
    if !r.sections.is_empty() {
        let rows: Vec<(String, u64, Option<String>)> = r
            .sections
            .iter()
            .take(8)
            .map(|s| (s.name.clone(), s.bytes, None))
            .collect();
        out.push_str(&block("sections", &rows));
    }
    out
}

/// Each stage's bytes, with its change against the baseline.
fn stage_rows(r: &BuildReport) -> Vec<(String, u64, Option<String>)> {
    let stage_delta = |key: &str| {
        r.baseline
            .as_ref()
            .and_then(|b| b.stages.iter().find(|d| d.name == key))
            .map(Delta::human)
    };
    stages(&r.sizes)
        .into_iter()
        .map(|(label, key, b)| (label.to_string(), b, stage_delta(key)))
        .collect()
}

/// How the binary was built: preset, linkage, allocator.
fn build_lines(r: &BuildReport) -> String {
    let mut out = String::new();
    if let Some(p) = &r.preset {
        out.push_str(&format!(
            "{:>12} preset {}: {}\n",
            "",
            p.name,
            p.set.join(", ")
        ));
        if !p.kept.is_empty() {
            out.push_str(&format!(
                "{:>12} kept from your profile: {}\n",
                "",
                p.kept.join(", ")
            ));
        }
    }
    if let Some(l) = &r.linkage {
        let what = match l.as_str() {
            "static" => "static, not PIE (no ASLR)",
            "static-pie" => "static-pie",
            other => other,
        };
        out.push_str(&format!("{:>12} linkage: {what}\n", ""));
        if let Some(p) = &r.pie_baseline {
            out.push_str(&format!("{:>12} static-pie = false: {}\n", "", p.human()));
        }
    }
    for b in &r.binaries {
        out.push_str(&format!(
            "{:>12} also in the image: {} {} ({})\n",
            "",
            b.path,
            human(b.final_size),
            b.linkage
        ));
    }
    if let Some(a) = &r.allocator {
        out.push_str(&format!("{:>12} allocator: {}\n", "", a.human()));
        if a.name == "mimalloc" && a.why.starts_with("linked by cargo-slim") {
            out.push_str(&format!("{:>12} {MIMALLOC_TRADE_OFF}\n", ""));
        }
    }
    out
}

/// What the image carries besides the binary: SBOMs, CA bundle, zoneinfo.
fn image_lines(r: &BuildReport) -> String {
    let mut out = String::new();
    if !r.sbom.is_empty() {
        let listed: Vec<String> = r
            .sbom
            .iter()
            .map(|s| match s.packages {
                Some(n) => format!("{} ({n} crate{})", s.format, if n == 1 { "" } else { "s" }),
                None => s.format.clone(),
            })
            .collect();
        out.push_str(&format!(
            "{:>12} SBOM attached: {}\n",
            "",
            listed.join(", ")
        ));
    }
    if !r.attached.is_empty() {
        let count = |kind: &str| r.attached.iter().filter(|a| a.kind == kind).count();
        let mut listed = Vec::new();
        for (kind, one, many) in [
            ("signature", "cosign signature", "cosign signatures"),
            (
                "provenance",
                "SLSA provenance",
                "SLSA provenance statements",
            ),
            ("bundle", "Sigstore bundle", "Sigstore bundles"),
        ] {
            match count(kind) {
                0 => {}
                1 => listed.push(one.to_string()),
                n => listed.push(format!("{n} {many}")),
            }
        }
        out.push_str(&format!("{:>12} attached: {}\n", "", listed.join(", ")));
    }
    for (what, d) in [
        ("CA certificates", &r.ca_certificates),
        ("zoneinfo", &r.zoneinfo),
    ] {
        if let Some(d) = d {
            out.push_str(&format!("{:>12} {what}: {}\n", "", d.human()));
        }
    }
    out
}

/// The top crates, the rest summed, each against the baseline.
fn crates_block(r: &BuildReport) -> String {
    let crate_delta = |name: &str| {
        r.baseline
            .as_ref()
            .and_then(|b| b.crates.iter().find(|d| d.name == name))
            .map(Delta::human)
    };
    let mut rows: Vec<(String, u64, Option<String>)> = r
        .crates
        .iter()
        .take(TOP_CRATES)
        .map(|c| (c.name.clone(), c.bytes, crate_delta(&c.name)))
        .collect();
    if r.crates.len() > TOP_CRATES {
        let rest: u64 = r.crates[TOP_CRATES..].iter().map(|c| c.bytes).sum();
        rows.push((
            format!("({} more crates)", r.crates.len() - TOP_CRATES),
            rest,
            None,
        ));
    }
    block("crates (unstripped binary)", &rows)
}

/// One line per layer: what it holds, gzip size, tar size, short digest.
fn layers_block(layers: &[LayerReport]) -> String {
    let label = |i: usize, l: &LayerReport| format!("{}. {}", i + 1, l.holds);
    let label_w = layers
        .iter()
        .enumerate()
        .map(|(i, l)| label(i, l).len())
        .max()
        .unwrap_or(0);
    let gz_w = layers
        .iter()
        .map(|l| human(l.compressed).len())
        .max()
        .unwrap_or(0);
    let tar_w = layers
        .iter()
        .map(|l| human(l.uncompressed).len())
        .max()
        .unwrap_or(0);
    let mut out = format!("{:>12} layers (gzip, tar)\n", "");
    for (i, l) in layers.iter().enumerate() {
        let short = l.digest.strip_prefix("sha256:").unwrap_or(&l.digest);
        out.push_str(&format!(
            "{:>12} {:<label_w$}  {:>gz_w$}  {:>tar_w$}  {}\n",
            "",
            label(i, l),
            human(l.compressed),
            human(l.uncompressed),
            &short[..short.len().min(12)],
        ));
    }
    out
}

/// Disk and wire savings of UPX, and the start-up cost.
fn upx_block(u: &UpxReport) -> String {
    let saving = |before: u64, after: u64| {
        if before == 0 {
            String::new()
        } else {
            format!(
                "{:+.1}%",
                (after as f64 - before as f64) * 100.0 / before as f64
            )
        }
    };
    let mut rows = vec![
        ("binary before".to_string(), u.binary_before, None),
        (
            "binary after".to_string(),
            u.binary_after,
            Some(saving(u.binary_before, u.binary_after)),
        ),
        ("gzip (wire) before".to_string(), u.gzip_before, None),
        (
            "gzip (wire) after".to_string(),
            u.gzip_after,
            Some(saving(u.gzip_before, u.gzip_after)),
        ),
    ];
    if !u.packed {
        rows.truncate(1);
    }
    let mut out = block(&format!("upx ({})", u.version), &rows);
    if let Some(note) = &u.note {
        out.push_str(&format!("{:>12} not packed: {note}\n", ""));
    }
    if let (Some(b), Some(a)) = (u.startup_ms_before, u.startup_ms_after) {
        out.push_str(&format!(
            "{:>12} start-up (median of the smoke run): {b:.2} ms before, {a:.2} ms after ({:+.2} ms)\n",
            "",
            a - b
        ));
    }
    out
}
