//! The GitHub Actions step summary: a markdown table of the report and the budget
//! verdict, appended to `$GITHUB_STEP_SUMMARY` so a CI run shows the image size
//! on its summary page without anyone reading logs.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::{grouped, human, stages, BuildReport, TOP_CRATES};
use crate::error::io_failure;

/// Render the report as markdown.
pub fn render(r: &BuildReport) -> String {
    let mut md = format!("### cargo-slim: `{}` ({})\n\n", r.reference, r.platform);
    let delta = |key: &str| {
        r.baseline
            .as_ref()
            .and_then(|b| b.stages.iter().find(|d| d.name == key))
            .map(|d| d.human())
            .unwrap_or_default()
    };
    let with_baseline = r.baseline.is_some();
    md.push_str(if with_baseline {
        "| stage | size | bytes | vs baseline |\n|---|---:|---:|---:|\n"
    } else {
        "| stage | size | bytes |\n|---|---:|---:|\n"
    });
    for (label, key, bytes) in stages(&r.sizes) {
        md.push_str(&format!(
            "| {label} | {} | {} |",
            human(bytes),
            grouped(bytes)
        ));
        if with_baseline {
            md.push_str(&format!(" {} |", delta(key)));
        }
        md.push('\n');
    }
    if r.layers.len() > 1 {
        md.push_str("\n| layer | gzip | tar |\n|---|---:|---:|\n");
        for l in &r.layers {
            md.push_str(&format!(
                "| {} | {} | {} |\n",
                l.holds.replace('|', "\\|"),
                human(l.compressed),
                human(l.uncompressed)
            ));
        }
    }
    if !r.crates.is_empty() {
        md.push_str("\n| crate | size | bytes |\n|---|---:|---:|\n");
        for c in r.crates.iter().take(TOP_CRATES) {
            md.push_str(&format!(
                "| {} | {} | {} |\n",
                c.name.replace('|', "\\|"),
                human(c.bytes),
                grouped(c.bytes)
            ));
        }
    }
    md.push('\n');
    if r.budget.checks.is_empty() {
        md.push_str("Budget: none set.\n");
    } else {
        md.push_str(if r.budget.passed {
            "**Budget: passed** ✅\n\n"
        } else {
            "**Budget: exceeded** ❌\n\n"
        });
        md.push_str("| check | limit | actual | result |\n|---|---:|---:|---|\n");
        for c in &r.budget.checks {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                c.name,
                human(c.limit),
                human(c.actual),
                if c.passed { "ok" } else { "over" }
            ));
        }
    }
    md.push('\n');
    md
}

/// Append the summary to the file named by `$GITHUB_STEP_SUMMARY`.
pub fn append(path: &Path, r: &BuildReport) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_failure("open the step summary", path, &e))?;
    f.write_all(render(r).as_bytes())
        .map_err(|e| io_failure("write the step summary", path, &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CheckJson, VerdictJson};

    #[test]
    fn renders_tables_and_verdict() {
        let mut r = crate::report::tests::sample();
        r.budget = VerdictJson {
            passed: false,
            checks: vec![CheckJson {
                name: "image".into(),
                limit: 100,
                actual: 201_000,
                passed: false,
            }],
        };
        let md = render(&r);
        assert!(
            md.contains("| image pull size | 196.3 KiB | 201,000 |"),
            "{md}"
        );
        assert!(md.contains("| std |"), "{md}");
        assert!(md.contains("Budget: exceeded"), "{md}");
        assert!(md.contains("| image | 100 B | 196.3 KiB | over |"), "{md}");
    }
}
