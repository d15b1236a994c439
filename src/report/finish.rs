//! The last step of every report, `build`'s and `cargo slim report`'s alike:
//! baseline, budget, outputs.
//!
//! In: a [`BuildReport`] of measured figures, the budget, and where a baseline
//! report and a chart are (when asked for). Out: the report with its baseline
//! diff and budget verdict, printed as the human table on stderr, charted, added
//! to the GitHub step summary when there is one; and one sentence per budget
//! check that failed. Why one function: the figure a budget checks, and how a
//! failure is said, must not depend on which command measured the image.

use std::path::Path;

use anyhow::Result;

use super::{diff, load_reports, markdown, svg, table, BuildReport};
use crate::budget::{self, Budget, Verdict};
use crate::shell::Shell;
use crate::units::human;

/// Compare `report` with the `baseline` report (its line for the same
/// platform), check it against `budget`, and show it; the failed checks back.
pub fn finish(
    mut report: BuildReport,
    budget: &Budget,
    baseline: Option<&Path>,
    chart: Option<&Path>,
    shell: &Shell,
) -> Result<(BuildReport, Vec<String>)> {
    // A multi-platform baseline has a line per platform: compare like with like.
    let baseline = match baseline {
        Some(p) => {
            let mut all = load_reports(p)?;
            let i = all
                .iter()
                .position(|b| b.platform == report.platform)
                .unwrap_or(all.len() - 1);
            Some((all.swap_remove(i), p))
        }
        None => None,
    };
    if let Some((base, path)) = &baseline {
        report.baseline = Some(diff(base, path, &report));
    }
    let verdict = budget::evaluate(
        budget,
        report.sizes.image_pull,
        report.sizes.binary_final,
        baseline.as_ref().map(|(b, _)| b.sizes.image_pull),
    )?;
    report.budget = (&verdict).into();
    shell.print_err(&table(&report));
    if let Some(chart) = chart {
        crate::io::write_atomic(chart, svg::render(&report).as_bytes())?;
        shell.status("Charted", chart.display());
    }
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        markdown::append(Path::new(&summary), &report)?;
    }
    Ok((report, budget_failures(&verdict)))
}

/// One sentence per failed check: which, limit, actual, by how much, set where.
fn budget_failures(v: &Verdict) -> Vec<String> {
    v.checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| {
            let what = match c.name.as_str() {
                "image" => "image pull size",
                "binary" => "binary size",
                _ => "image pull size (vs baseline)",
            };
            let over = c.actual - c.limit;
            let origin = c.origin.as_ref().map(|o| o.to_string()).unwrap_or_default();
            let extra = if c.detail.is_empty() {
                String::new()
            } else {
                format!(", {}", c.detail)
            };
            // A percentage of a zero limit means nothing: say what the limit is.
            let share = if c.limit == 0 {
                "the limit is 0".to_string()
            } else {
                format!("{:.1}%", over as f64 * 100.0 / c.limit as f64)
            };
            format!(
                "{what} {} ({} bytes) exceeds the `{}` budget of {} ({} bytes{extra}) by {} ({share}); limit set by {origin}",
                human(c.actual),
                c.actual,
                c.name,
                human(c.limit),
                c.limit,
                human(over),
            )
        })
        .collect()
}
