//! The closing table of a multi-image build: one row per image and platform.
//!
//! In: the [`ImageOutcome`]s of [`super::build_all`]. Out: the table's text,
//! aligned columns — image, platform, binary size, pull size (what a node
//! downloads: the compressed layers, the config and the manifest), the
//! manifest digest — and a failed image's row saying so. Why: after a
//! workspace build the per-image `Finished` lines scroll away among cargo's
//! output; one table shows at a glance what each service costs and which
//! one failed.

use super::ImageOutcome;
use crate::units::human;

/// The table, each line ending in `\n`.
pub fn table(outcomes: &[ImageOutcome]) -> String {
    let mut rows: Vec<[String; 5]> = vec![[
        "IMAGE".into(),
        "PLATFORM".into(),
        "BINARY".into(),
        "PULL".into(),
        "DIGEST".into(),
    ]];
    for o in outcomes {
        match &o.result {
            Ok(built) => {
                for r in &built.reports {
                    rows.push([
                        o.name.clone(),
                        r.platform.clone(),
                        human(r.sizes.binary_final),
                        human(r.sizes.image_pull),
                        short(&r.manifest_digest).to_string(),
                    ]);
                }
            }
            Err(_) => rows.push([
                o.name.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "failed (error above)".into(),
            ]),
        }
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            // Sizes right-aligned, the rest left-aligned; no trailing blanks.
            let padded = match i {
                2 | 3 => format!("{cell:>w$}"),
                4 => cell.clone(),
                _ => format!("{cell:<w$}"),
            };
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(&padded);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `sha256:0123456789ab` of a full digest.
fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::build::BuildOutcome;
    use crate::report::BuildReport;

    fn report(platform: &str, binary: u64, pull: u64) -> BuildReport {
        let mut r = crate::report::tests::sample();
        r.platform = platform.into();
        r.manifest_digest = format!("sha256:{}", "ab".repeat(32));
        r.sizes.binary_final = binary;
        r.sizes.image_pull = pull;
        r
    }

    #[test]
    fn one_row_per_platform_and_a_row_for_a_failed_image() {
        let ok = ImageOutcome {
            name: "api".into(),
            result: Ok(BuildOutcome {
                path: "api.tar".into(),
                reports: vec![
                    report("linux/amd64", 2 << 20, 900 << 10),
                    report("linux/arm64/v8", 2 << 20, 880 << 10),
                ],
                over_budget: Vec::new(),
                lock: None,
            }),
        };
        let failed = ImageOutcome {
            name: "worker-long-name".into(),
            result: Err(anyhow::anyhow!("no")),
        };
        let t = table(&[ok, failed]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].starts_with("IMAGE "), "{t}");
        assert!(
            lines[1].starts_with("api ") && lines[1].contains("linux/amd64"),
            "{t}"
        );
        assert!(lines[1].contains("sha256:abababababab"), "{t}");
        assert!(lines[2].contains("linux/arm64/v8"), "{t}");
        assert!(
            lines[3].starts_with("worker-long-name") && lines[3].ends_with("failed (error above)")
        );
        // Columns line up: every row's platform starts where the header's does.
        let col = lines[0].find("PLATFORM").unwrap();
        assert_eq!(lines[1].find("linux").unwrap(), col, "{t}");
        assert!(t.lines().all(|l| l == l.trim_end()));
    }
}
