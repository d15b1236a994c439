//! Size budgets: limits from `[package.metadata.slim.budget]` or the CLI → checks.
//!
//! Users gate CI on image size. A budget check compares a real byte count (image
//! pull size, final binary, growth against a baseline report) with a limit and
//! remembers where the limit was set, so a failure can say "limit 2.0 MiB from
//! Cargo.toml [package.metadata.slim.budget] image". Sizes are parsed strictly
//! (`B`, `KB`, `KiB`, `MB`, `MiB`, `GB`, `GiB`; decimal units are powers of 1000)
//! because a typo in a limit must not silently pass.

use serde::{Deserialize, Serialize};

use crate::error::Failure;

/// Parse `"2 MiB"`, `"1.5MB"`, `"300 KiB"`, `"1234"` (bytes) into bytes.
pub fn parse_size(input: &str) -> Result<u64, String> {
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    if num.is_empty() {
        return Err(format!(
            "`{input}` is not a size: it must start with a number (e.g. \"2 MiB\")"
        ));
    }
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{input}` is not a size: `{num}` is not a number"))?;
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "KiB" => 1024,
        "MB" => 1000 * 1000,
        "MiB" => 1024 * 1024,
        "GB" => 1000 * 1000 * 1000,
        "GiB" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
            "`{input}` is not a size: unknown unit `{other}` (use B, KB, KiB, MB, MiB, GB or GiB)"
        ))
        }
    };
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("`{input}` is out of range"));
    }
    if (unit.is_empty() || unit == "B") && num.contains('.') {
        return Err(format!("`{input}`: a byte count must be a whole number"));
    }
    Ok(bytes.round() as u64)
}

/// Parse `"5%"` or `"5"` (percent) into a fraction-free percentage.
pub fn parse_percent(input: &str) -> Result<f64, String> {
    let s = input.trim();
    let s = s.strip_suffix('%').unwrap_or(s).trim();
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{input}` is not a percentage (e.g. \"5%\")"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{input}` must be a non-negative percentage"));
    }
    Ok(v)
}

/// `[package.metadata.slim.budget]`
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BudgetTable {
    /// Limit on the image pull size.
    pub image: Option<String>,
    /// Limit on the final binary in the image.
    pub binary: Option<String>,
    /// Allowed growth of the pull size against `--baseline`.
    pub increase: Option<String>,
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
        c.detail = format!("baseline {} + {pct}%", crate::report::human(base));
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
    fn sizes() {
        for (s, want) in [
            ("0", 0),
            ("1234", 1234),
            ("10 B", 10),
            ("1KB", 1000),
            ("1 kB", 1000),
            ("1 KiB", 1024),
            ("2 MiB", 2 * 1024 * 1024),
            ("1.5 MB", 1_500_000),
            ("1.5MiB", 1_572_864),
            (" 3 GiB ", 3 * 1024 * 1024 * 1024),
        ] {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
        for bad in ["", "MiB", "2 mb", "2 MiBs", "1.2.3 MB", "-1 MB", "1.5", "x"] {
            assert!(parse_size(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn percents() {
        assert_eq!(parse_percent("5%"), Ok(5.0));
        assert_eq!(parse_percent("2.5"), Ok(2.5));
        assert!(parse_percent("five").is_err());
        assert!(parse_percent("-1%").is_err());
    }

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
