//! OCI labels from `Cargo.toml`: the package's own metadata → the
//! `org.opencontainers.image.*` labels of the image config.
//!
//! In: the cargo package, the binary name, whether `SOURCE_DATE_EPOCH` is set, and
//! the user's `labels` (which win). Out: the labels, plus notes for the user (a
//! dirty git tree). Why by default: registries and scanners show these (title,
//! version, licenses, source, revision), and every value is already in the
//! manifest. `created` comes only from `SOURCE_DATE_EPOCH` and `revision` only
//! from a clean git checkout, so the same sources still give the same digest.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cargo_metadata::Package;

/// How long `git` may take to say what HEAD is.
const GIT_TIMEOUT: Duration = Duration::from_secs(5);

const PREFIX: &str = "org.opencontainers.image";

/// The labels `package` gives the image of `bin`, with `user` on top, and notes.
pub fn labels(
    package: &Package,
    bin: &str,
    epoch: Option<u64>,
    user: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            out.insert(format!("{PREFIX}.{key}"), v.to_string());
        }
    };
    put("title", Some(bin));
    put("version", Some(&package.version.to_string()));
    put("description", package.description.as_deref());
    put("licenses", package.license.as_deref());
    put("source", package.repository.as_deref());
    put("url", package.homepage.as_deref());
    put("documentation", package.documentation.as_deref());
    if let Some(e) = epoch {
        put("created", Some(&crate::image::rfc3339(e)));
    }
    let mut notes = Vec::new();
    let dir = package.manifest_path.parent().map(|d| d.as_std_path());
    match dir.map(revision) {
        Some(Revision::Clean(rev)) => put("revision", Some(&rev)),
        Some(Revision::Dirty(rev)) => notes.push(format!(
            "the git tree at {rev:.12} has uncommitted changes: no `{PREFIX}.revision` label (commit them, or set it in `labels`)"
        )),
        _ => {}
    }
    out.extend(user.iter().map(|(k, v)| (k.clone(), v.clone())));
    (out, notes)
}

/// What git says about the folder.
#[derive(Debug, PartialEq, Eq)]
pub enum Revision {
    /// Not a git checkout, or git is missing or too slow.
    None,
    Clean(String),
    Dirty(String),
}

/// HEAD of the git checkout holding `dir`, and whether its tree is clean
/// (untracked files that are not ignored count as changes).
pub fn revision(dir: &Path) -> Revision {
    // One git for both answers (a no-op rebuild waits for it): `--branch` heads
    // the porcelain v2 listing with `# branch.oid <HEAD>` (`(initial)` before the
    // first commit); every other line is a change.
    let Some(status) = git(dir, &["status", "--porcelain=v2", "--branch"]) else {
        return Revision::None;
    };
    let head = status
        .lines()
        .find_map(|l| l.strip_prefix("# branch.oid "))
        .unwrap_or("")
        .trim()
        .to_string();
    if head.len() < 40 || !head.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Revision::None;
    }
    let changed = status
        .lines()
        .any(|l| !l.starts_with('#') && !l.trim().is_empty());
    if changed {
        Revision::Dirty(head)
    } else {
        Revision::Clean(head)
    }
}

/// `git -C dir args…`'s stdout when it succeeds within [`GIT_TIMEOUT`].
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // Read stdout on a thread so a chatty git never blocks on a full pipe.
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s)
            .ok()
            .map(|_| s)
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > GIT_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(_) => return None,
        }
    };
    let out = reader.join().ok()??;
    status.success().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git_ok(dir: &Path, args: &[&str]) {
        let s = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    }

    #[test]
    fn revision_is_head_of_a_clean_tree_only() {
        if Command::new("git").arg("--version").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "git is needed in CI");
            eprintln!("skipped: no git");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(revision(dir.path()), Revision::None);
        git_ok(dir.path(), &["init", "-q"]);
        std::fs::write(dir.path().join("a"), b"a").unwrap();
        git_ok(dir.path(), &["add", "a"]);
        git_ok(dir.path(), &["commit", "-q", "-m", "a"]);
        let Revision::Clean(head) = revision(dir.path()) else {
            panic!("a clean tree has a revision");
        };
        assert_eq!(head.len(), 40);
        std::fs::write(dir.path().join("b"), b"b").unwrap();
        assert_eq!(revision(dir.path()), Revision::Dirty(head));
    }
}
