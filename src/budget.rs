//! Size budgets: limits from `[package.metadata.slim.budget]` or the CLI → checks.
//!
//! Users gate CI on image size. A budget check compares a real byte count (image
//! pull size, final binary, growth against a baseline report) with a limit and
//! remembers where the limit was set, so a failure can say "limit 2.0 MiB from
//! Cargo.toml [package.metadata.slim.budget] image". Sizes are parsed strictly
//! by [`crate::units`], because a typo in a limit must not silently pass.

use serde::{Deserialize, Serialize};

use crate::error::Failure;
pub use crate::units::{parse_percent, parse_size};

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(
    rename_all = "kebab-case",
    deny_unknown_fields,
    expecting = "a table such as { image = \"2 MiB\", binary = \"1 MiB\", increase = \"5%\" }"
)]
pub struct BudgetTable {
    /// Limit on the image pull size.
    pub image: Option<Amount>,
    /// Limit on the final binary in the image.
    pub binary: Option<Amount>,
    /// Allowed growth of the pull size against `--baseline`.
    pub increase: Option<Amount>,
}

/// A limit as written in Cargo.toml: a plain number (bytes, or percent for
/// `increase`), or a string with a unit (`"2 MiB"`, `"5%"`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(
    untagged,
    expecting = "a number of bytes, or a string such as \"2 MiB\" (\"5%\" for increase)"
)]
pub enum Amount {
    Number(u64),
    Text(String),
}

impl Amount {
    /// Bytes: a plain number is bytes, a string is parsed with its unit.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            Amount::Number(n) => Ok(*n),
            Amount::Text(s) => parse_size(s),
        }
    }

    /// Percent: a plain number, or `"5%"`.
    pub fn percent(&self) -> Result<f64, String> {
        match self {
            Amount::Number(n) => parse_percent(&n.to_string()),
            Amount::Text(s) => parse_percent(s),
        }
    }
}

/// Where a limit came from, for the failure message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Cli(String),
    Manifest(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Cli(flag) => write!(f, "command line {flag}"),
            Origin::Manifest(where_) => write!(f, "{where_}"),
        }
    }
}

/// Resolved limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Budget {
    pub image: Option<(u64, Origin)>,
    pub binary: Option<(u64, Origin)>,
    /// Percent growth of the image pull size allowed vs the baseline.
    pub increase: Option<(f64, Origin)>,
}

impl Budget {
    pub fn is_empty(&self) -> bool {
        self.image.is_none() && self.binary.is_none() && self.increase.is_none()
    }
}

/// One evaluated check (the JSON `budget.checks[]` item).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub limit: u64,
    pub actual: u64,
    pub passed: bool,
    #[serde(skip)]
    pub origin: Option<Origin>,
    #[serde(skip)]
    pub detail: String,
}

/// The budget verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Verdict {
    pub passed: bool,
    pub checks: Vec<Check>,
}

/// Evaluate the budget. `baseline_pull` is the image pull size of the baseline
/// report, when one was given.
pub fn evaluate(
    budget: &Budget,
    image_pull: u64,
    binary: u64,
    baseline_pull: Option<u64>,
) -> Result<Verdict, Failure> {
    let mut checks = Vec::new();
    if let Some((limit, origin)) = &budget.image {
        checks.push(check("image", *limit, image_pull, origin));
    }
    if let Some((limit, origin)) = &budget.binary {
        checks.push(check("binary", *limit, binary, origin));
    }
    if let Some((pct, origin)) = &budget.increase {
        let Some(base) = baseline_pull else {
            return Err(Failure::new(format!(
                "an `increase` budget of {pct}% is set ({origin}) but no baseline report was given"
            ))
            .help("pass --baseline REPORT.json (the JSON output of an earlier `cargo slim build --message-format json`)"));
        };
        let limit = (base as f64 * (1.0 + pct / 100.0)).floor() as u64;
        let mut c = check("increase", limit, image_pull, origin);
        c.detail = format!("baseline {} + {pct}%", crate::units::human(base));
        checks.push(c);
    }
    Ok(Verdict {
        passed: checks.iter().all(|c| c.passed),
        checks,
    })
}

fn check(name: &str, limit: u64, actual: u64, origin: &Origin) -> Check {
    Check {
        name: name.to_string(),
        limit,
        actual,
        passed: actual <= limit,
        origin: Some(origin.clone()),
        detail: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation() {
        let budget = Budget {
            image: Some((1000, Origin::Cli("--max-image-size".into()))),
            binary: Some((500, Origin::Manifest("Cargo.toml".into()))),
            increase: Some((10.0, Origin::Cli("--max-increase".into()))),
        };
        let v = evaluate(&budget, 1000, 501, Some(900)).unwrap();
        assert!(!v.passed);
        let by: Vec<(&str, bool, u64)> = v
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.passed, c.limit))
            .collect();
        assert_eq!(
            by,
            vec![
                ("image", true, 1000),
                ("binary", false, 500),
                ("increase", false, 990)
            ]
        );
        assert!(
            evaluate(&budget, 1, 1, None).is_err(),
            "increase without baseline"
        );
        assert!(evaluate(&Budget::default(), 1, 1, None).unwrap().passed);
    }
}
