//! Errors a user can act on.
//!
//! Every failure that reaches the user says *what* went wrong, *where* (a path, a
//! command, a registry) and, when we know it, *what to do*. Stages return
//! `anyhow::Result`; the ones that know the fix return a [`Failure`] (with details
//! and a help line) so `main` can render it cargo-style. [`BudgetExceeded`] is kept
//! apart because it maps to its own exit code (3).

use std::fmt;
use std::path::{Path, PathBuf};

/// A user-facing error: a one-line summary, indented detail lines, and a help line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub what: String,
    pub details: Vec<String>,
    pub help: Option<String>,
    /// A usage error (a bad flag or flag combination): exit code 2, like the argument parser's.
    pub usage: bool,
}

impl Failure {
    pub fn new(what: impl Into<String>) -> Self {
        Failure {
            what: what.into(),
            details: Vec::new(),
            help: None,
            usage: false,
        }
    }

    /// Mark as a usage error (exit 2).
    pub fn usage(mut self) -> Self {
        self.usage = true;
        self
    }

    pub fn detail(mut self, line: impl Into<String>) -> Self {
        self.details.push(line.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for Failure {}

/// The image was written but is larger than a configured budget (exit code 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetExceeded {
    pub checks: Vec<String>,
}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.checks.as_slice() {
            [one] => write!(f, "size budget exceeded: {one}"),
            many => {
                write!(f, "size budget exceeded ({} checks):", many.len())?;
                for c in many {
                    write!(f, "\n  {c}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for BudgetExceeded {}

/// The nearest ancestor of `path` that exists, to make "no such file" errors useful.
pub fn nearest_existing(path: &Path) -> Option<PathBuf> {
    let mut cur = path.parent();
    while let Some(p) = cur {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        if p.exists() {
            return Some(p.to_path_buf());
        }
        cur = p.parent();
    }
    None
}

/// A failure for a file that could not be opened, read or written.
pub fn io_failure(action: &str, path: &Path, err: &std::io::Error) -> Failure {
    let mut f =
        Failure::new(format!("could not {action} `{}`", path.display())).detail(err.to_string());
    if err.kind() == std::io::ErrorKind::NotFound {
        if let Some(existing) = nearest_existing(path) {
            f = f.detail(format!(
                "nearest existing directory: {}",
                existing.display()
            ));
        }
    }
    if err.kind() == std::io::ErrorKind::PermissionDenied {
        // Only an output can be moved with --output; an input is read where it is.
        let writing = ["write", "create", "move", "remove", "replace"]
            .iter()
            .any(|w| action.starts_with(w));
        f = f.help(if writing {
            "check the permissions of that path, or choose another with --output"
        } else {
            "the user running cargo slim cannot read it: check its permissions and its folders'"
        });
    }
    f
}

/// A failure for an external command that is not installed.
pub fn command_not_found(cmd: &str, install_hint: &str) -> Failure {
    let path = std::env::var("PATH").unwrap_or_default();
    Failure::new(format!("`{cmd}` was not found"))
        .detail(format!("searched $PATH: {path}"))
        .help(install_hint.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_output_is_pointed_at_dash_dash_output() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let read = io_failure("read", Path::new("/p/data/secret"), &denied);
        assert!(read.what.contains("/p/data/secret"), "{read:?}");
        let help = read.help.unwrap();
        assert!(
            help.contains("cannot read") && !help.contains("--output"),
            "{help}"
        );
        let write = io_failure("write", Path::new("/out/x.tar"), &denied);
        assert!(write.help.unwrap().contains("--output"));
    }

    #[test]
    fn nearest_existing_walks_up() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c/file.tar");
        assert_eq!(nearest_existing(&deep).unwrap(), dir.path());
    }

    #[test]
    fn failure_builder_keeps_everything() {
        let f = Failure::new("boom")
            .detail("one")
            .detail("two")
            .help("fix it");
        assert_eq!(f.to_string(), "boom");
        assert_eq!(f.details, vec!["one", "two"]);
        assert_eq!(f.help.as_deref(), Some("fix it"));
    }
}
