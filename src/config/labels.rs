//! OCI labels from `Cargo.toml`: the package's own metadata → the
//! `org.opencontainers.image.*` labels of the image config.
//!
//! In: the cargo package, the binary name, whether `SOURCE_DATE_EPOCH` is set, and
//! the user's `labels` (which win). Out: the labels, and a [`PendingRevision`]:
//! `git status` running beside cargo, which later adds the `revision` label of a
//! clean checkout or a note about a dirty one. Why by default: registries and scanners show these (title,
//! version, licenses, source, revision), and every value is already in the
//! manifest. `created` comes only from `SOURCE_DATE_EPOCH` and `revision` only
//! from a clean git checkout, so the same sources still give the same digest.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cargo_metadata::Package;

/// How long `git` may take to say what HEAD is.
const GIT_TIMEOUT: Duration = Duration::from_secs(5);

const PREFIX: &str = "org.opencontainers.image";

/// The labels `package` gives the image of `bin`, with `user` on top, and the
/// `git status` that decides `revision`, started in the background: a no-op
/// rebuild waits for git and cargo side by side instead of one after the other.
pub fn labels(
    package: &Package,
    bin: &str,
    epoch: Option<u64>,
    user: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, PendingRevision) {
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
    out.extend(user.iter().map(|(k, v)| (k.clone(), v.clone())));
    // The user's own `revision` label wins: then git is not asked at all.
    let pending = match package.manifest_path.parent() {
        Some(dir) if !out.contains_key(REVISION) => PendingRevision::start(dir.as_std_path()),
        _ => PendingRevision::none(),
    };
    (out, pending)
}

/// The `revision` label's key.
const REVISION: &str = "org.opencontainers.image.revision";

/// A [`revision`] answer on its way: `git status` on a thread of its own.
#[derive(Clone)]
pub struct PendingRevision(Arc<Mutex<Probe>>);

enum Probe {
    Running(JoinHandle<Revision>),
    Done(Revision),
}

impl std::fmt::Debug for PendingRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingRevision")
    }
}

impl PendingRevision {
    /// Ask git about `dir` now; the answer is taken with [`PendingRevision::finish`].
    pub fn start(dir: &Path) -> PendingRevision {
        let dir = dir.to_path_buf();
        let probe = match std::thread::Builder::new()
            .name("git-status".into())
            .spawn(move || revision(&dir))
        {
            Ok(handle) => Probe::Running(handle),
            Err(_) => Probe::Done(Revision::None),
        };
        PendingRevision(Arc::new(Mutex::new(probe)))
    }

    /// No git question (no manifest, or the user set `revision` themselves).
    pub fn none() -> PendingRevision {
        PendingRevision(Arc::new(Mutex::new(Probe::Done(Revision::None))))
    }

    /// Wait for git's answer (once; later calls reuse it).
    pub fn wait(&self) -> Revision {
        let mut probe = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let answer = match std::mem::replace(&mut *probe, Probe::Done(Revision::None)) {
            Probe::Running(handle) => handle.join().unwrap_or(Revision::None),
            Probe::Done(r) => r,
        };
        *probe = Probe::Done(answer.clone());
        answer
    }

    /// `labels` with the `revision` label of a clean checkout, and a note for a
    /// dirty one.
    pub fn finish(&self, labels: &mut BTreeMap<String, String>) -> Vec<String> {
        match self.wait() {
            Revision::Clean(rev) => {
                labels.entry(REVISION.to_string()).or_insert(rev);
                Vec::new()
            }
            Revision::Dirty(rev) => vec![format!(
                "the git tree at {rev:.12} has uncommitted changes: no `{REVISION}` label (commit them, or set it in `labels`)"
            )],
            Revision::None => Vec::new(),
        }
    }
}

/// What git says about the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
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
