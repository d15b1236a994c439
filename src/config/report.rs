//! What to report and which size limits to enforce: the budget flags over
//! `[package.metadata.slim.budget]`.
//!
//! In: the [`BudgetRequest`] (shared by `build` and `report`) and, when there is
//! a manifest, its budget table ([`ManifestBudget`]). Out: a [`ReportPlan`] whose
//! every limit says where it was set, or an error naming the key and manifest
//! (a bad table) or the flag (exit 2). Why before any work: a bad limit, a
//! missing `--baseline` file or an `increase` with nothing to compare with is
//! said at once, not after a long build.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::BudgetRequest;
use crate::budget::{Amount, Budget, BudgetTable, Origin};
use crate::error::Failure;

/// What to report and which limits to enforce.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportPlan {
    /// `--split-std`: core, alloc, std… apart from the user's crates.
    pub split_std: bool,
    /// `--chart FILE.svg`.
    pub chart: Option<PathBuf>,
    /// `--baseline REPORT.json`: the earlier report to compare with.
    pub baseline: Option<PathBuf>,
    /// Each limit with where it was set.
    pub budget: Budget,
}

/// A `[package.metadata.slim.budget]` table and the manifest it is in, named
/// where a limit was set and in errors.
#[derive(Debug, Clone, Copy)]
pub struct ManifestBudget<'a> {
    pub table: &'a BudgetTable,
    pub manifest: &'a Path,
}

impl ManifestBudget<'_> {
    fn origin(&self, key: &str) -> Origin {
        Origin::Manifest(format!(
            "{} [package.metadata.slim.budget] {key}",
            self.manifest.display()
        ))
    }

    fn bad(&self, key: &str, msg: String) -> anyhow::Error {
        Failure::new(format!(
            "invalid `{key}` in [package.metadata.slim.budget] of `{}`",
            self.manifest.display()
        ))
        .detail(msg)
        .help("sizes look like \"2 MiB\", \"500 KB\" or \"1048576\"; increases like \"5%\"")
        .into()
    }

    /// The size limit under `key`, if the table sets it.
    fn size(&self, key: &str, value: Option<&Amount>) -> Result<Option<(u64, Origin)>> {
        value
            .map(|s| Ok((s.bytes().map_err(|e| self.bad(key, e))?, self.origin(key))))
            .transpose()
    }

    /// The allowed `increase`, if the table sets it.
    fn increase(&self) -> Result<Option<(f64, Origin)>> {
        let key = "increase";
        let value = self.table.increase.as_ref();
        value
            .map(|s| Ok((s.percent().map_err(|e| self.bad(key, e))?, self.origin(key))))
            .transpose()
    }
}

/// Budget limits: CLI flags override `[package.metadata.slim.budget]` of
/// `manifest` (none for `cargo slim report`, or a `--binary` outside a package).
pub fn report_plan(
    cli: &BudgetRequest,
    split_std: bool,
    manifest: Option<ManifestBudget<'_>>,
) -> Result<ReportPlan> {
    let size = |cli: Option<u64>,
                flag: &str,
                key: &str,
                value: fn(&BudgetTable) -> Option<&Amount>|
     -> Result<Option<(u64, Origin)>> {
        match (cli, manifest) {
            (Some(n), _) => Ok(Some((n, Origin::Cli(flag.to_string())))),
            (None, Some(m)) => m.size(key, value(m.table)),
            (None, None) => Ok(None),
        }
    };
    let budget = Budget {
        image: size(cli.max_image_size, "--max-image-size", "image", |t| {
            t.image.as_ref()
        })?,
        binary: size(cli.max_binary_size, "--max-binary-size", "binary", |t| {
            t.binary.as_ref()
        })?,
        increase: match (cli.max_increase, manifest) {
            (Some(p), _) => Some((p, Origin::Cli("--max-increase".into()))),
            (None, Some(m)) => m.increase()?,
            (None, None) => None,
        },
    };
    check_baseline(cli, &budget)?;
    Ok(ReportPlan {
        split_std,
        chart: cli.chart.clone(),
        baseline: cli.baseline.clone(),
        budget,
    })
}

/// `--baseline` names a readable file, and an `increase` budget has one.
fn check_baseline(cli: &BudgetRequest, budget: &Budget) -> Result<()> {
    if let Some(p) = &cli.baseline {
        // Checked now, not after a long build: a usage error with the OS reason.
        if let Err(f) = crate::io::open_regular(p, "a report (JSON) to compare with") {
            return Err(f
                .help("pass the .report.json written beside an earlier tarball with --baseline")
                .usage()
                .into());
        }
    }
    // An increase needs something to compare with: say so before a long build.
    match (&budget.increase, &cli.baseline) {
        (Some((_, Origin::Cli(flag))), None) => Err(Failure::new(format!("{flag} needs --baseline"))
            .help("pass the earlier report to compare with: --baseline OLD.report.json")
            .usage()
            .into()),
        (Some((_, origin @ Origin::Manifest(_))), None) => Err(Failure::new(format!(
            "an `increase` budget is set ({origin}) but no --baseline report was given"
        ))
        .help("pass the earlier report to compare with: --baseline OLD.report.json, or remove `budget.increase`")
        .into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_slim_table, SlimMetadata};
    use serde_json::json;

    #[test]
    fn budget_table_and_cli_precedence() {
        let m = parse_slim_table(
            json!({"budget": {"image": "2 MiB", "binary": "1MB", "increase": "5%"}}),
            Path::new("/p/Cargo.toml"),
        )
        .unwrap();
        let baseline = tempfile::NamedTempFile::new().unwrap();
        let with_baseline = BudgetRequest {
            baseline: Some(baseline.path().to_path_buf()),
            ..Default::default()
        };
        fn at(m: &SlimMetadata) -> Option<ManifestBudget<'_>> {
            m.budget.as_ref().map(|table| ManifestBudget {
                table,
                manifest: Path::new("/p/Cargo.toml"),
            })
        }
        assert!(report_plan(&BudgetRequest::default(), false, at(&m)).is_err());
        let plan = report_plan(&with_baseline, false, at(&m)).unwrap();
        let (limit, origin) = plan.budget.image.clone().unwrap();
        assert_eq!(limit, 2 * 1024 * 1024);
        assert_eq!(
            origin.to_string(),
            "/p/Cargo.toml [package.metadata.slim.budget] image"
        );
        assert_eq!(plan.budget.binary.clone().unwrap().0, 1_000_000);
        assert_eq!(plan.budget.increase.clone().unwrap().0, 5.0);
        let cli = BudgetRequest {
            max_image_size: Some(10),
            ..with_baseline.clone()
        };
        let plan = report_plan(&cli, false, at(&m)).unwrap();
        assert_eq!(
            plan.budget.image,
            Some((10, Origin::Cli("--max-image-size".into())))
        );

        let m = parse_slim_table(
            json!({"budget": {"image": "2 parsecs"}}),
            Path::new("/p/Cargo.toml"),
        )
        .unwrap();
        let err = report_plan(&BudgetRequest::default(), false, at(&m)).unwrap_err();
        let f = err.downcast_ref::<Failure>().unwrap();
        assert!(
            f.what.contains("`image`") && f.what.contains("/p/Cargo.toml"),
            "{f:?}"
        );
        assert!(parse_slim_table(json!({"budget": {"images": "1"}}), Path::new("C")).is_err());
    }
}
