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
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cargo_metadata::Package;

/// How long the image waits for `git status` once cargo has built the binary.
const GIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `git status` may run at all (it starts beside the compile).
const GIT_LIMIT: Duration = Duration::from_secs(120);

const PREFIX: &str = "org.opencontainers.image";

/// The labels `package` gives the image of `bin`, with `user` on top, and the
/// `git status` that decides `revision`, started in the background: a no-op
/// rebuild waits for git and cargo side by side instead of one after the other.
/// `asked` is the question already put to git for this run's checkout, shared
/// by every image of it (git answers for the whole checkout, wherever in it it
/// is asked): one `git status` per run, not one per image.
pub fn labels(
    package: &Package,
    bin: &str,
    epoch: Option<u64>,
    user: &BTreeMap<String, String>,
    asked: &std::cell::OnceCell<PendingRevision>,
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
        Some(dir) if !out.contains_key(REVISION) => asked
            .get_or_init(|| PendingRevision::start(dir.as_std_path()))
            .clone(),
        _ => PendingRevision::none(),
    };
    (out, pending)
}

/// The `revision` label's key.
const REVISION: &str = "org.opencontainers.image.revision";

/// A [`revision`] answer on its way: `git status` on a thread of its own.
#[derive(Clone)]
pub struct PendingRevision(Arc<Mutex<Probe>>);

struct Probe {
    /// The thread's answer, until it is taken.
    rx: Option<Receiver<Revision>>,
    answer: Option<Revision>,
    /// Git did not answer within `GIT_TIMEOUT` of being asked for it.
    timed_out: bool,
    /// The note about the answer was handed out (once for all platforms).
    noted: bool,
}

impl std::fmt::Debug for PendingRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingRevision")
    }
}

impl PendingRevision {
    fn with(rx: Option<Receiver<Revision>>, answer: Option<Revision>) -> PendingRevision {
        PendingRevision(Arc::new(Mutex::new(Probe {
            rx,
            answer,
            timed_out: false,
            noted: false,
        })))
    }

    /// Ask git about `dir` now; the answer is taken with [`PendingRevision::finish`].
    pub fn start(dir: &Path) -> PendingRevision {
        let dir = dir.to_path_buf();
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("git-status".into())
            .spawn(move || {
                // Git gets as long as the compile takes, within a bound of its own.
                let _ = tx.send(revision_within(&dir, GIT_LIMIT));
            });
        match spawned {
            Ok(_) => PendingRevision::with(Some(rx), None),
            Err(_) => PendingRevision::none(),
        }
    }

    /// No git question (no manifest, or the user set `revision` themselves).
    pub fn none() -> PendingRevision {
        PendingRevision::with(None, Some(Revision::None))
    }

    /// Wait for git's answer, at most 5 s from now (once; later calls reuse it).
    pub fn wait(&self) -> Revision {
        let mut probe = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(answer) = &probe.answer {
            return answer.clone();
        }
        let answer = match probe.rx.take().map(|rx| rx.recv_timeout(GIT_TIMEOUT)) {
            Some(Ok(r)) => r,
            Some(Err(RecvTimeoutError::Timeout)) => {
                probe.timed_out = true;
                Revision::None
            }
            _ => Revision::None,
        };
        probe.answer = Some(answer.clone());
        answer
    }

    /// `labels` with the `revision` label of a clean checkout; a note for a dirty
    /// one, or for a git that did not answer (the first call only: every platform
    /// of a build asks).
    pub fn finish(&self, labels: &mut BTreeMap<String, String>) -> Vec<String> {
        let answer = self.wait();
        let mut probe = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let first = !std::mem::replace(&mut probe.noted, true);
        match answer {
            Revision::Clean(rev) => {
                labels.entry(REVISION.to_string()).or_insert(rev);
                Vec::new()
            }
            Revision::Dirty(rev) if first => vec![format!(
                "the git tree at {rev:.12} has uncommitted changes: no `{REVISION}` label (commit them, or set it in `labels`)"
            )],
            Revision::None if first && probe.timed_out => vec![format!(
                "`git status` gave no answer within {} s: no `{REVISION}` label (set it in `labels` to pin it)",
                GIT_TIMEOUT.as_secs()
            )],
            _ => Vec::new(),
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
    revision_within(dir, GIT_TIMEOUT)
}

/// [`revision`], giving git up to `limit`.
fn revision_within(dir: &Path, limit: Duration) -> Revision {
    // One git for both answers (a no-op rebuild waits for it): `--branch` heads
    // the porcelain v2 listing with `# branch.oid <HEAD>` (`(initial)` before the
    // first commit); every other line is a change.
    let Some(status) = git(dir, &["status", "--porcelain=v2", "--branch"], limit) else {
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

/// `git -C dir args…`'s stdout when it succeeds within `limit`.
fn git(dir: &Path, args: &[&str], limit: Duration) -> Option<String> {
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
            Ok(None) if start.elapsed() > limit => {
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

    /// An empty folder for a repository; `None` (skipped, never in CI) without git.
    fn git_dir() -> Option<tempfile::TempDir> {
        if Command::new("git").arg("--version").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "git is needed in CI");
            eprintln!("skipped: no git");
            return None;
        }
        Some(tempfile::tempdir().unwrap())
    }

    /// A repository in `dir` with one commit of the file `a`.
    fn commit_a(dir: &Path) {
        git_ok(dir, &["init", "-q"]);
        std::fs::write(dir.join("a"), b"a").unwrap();
        git_ok(dir, &["add", "a"]);
        git_ok(dir, &["commit", "-q", "-m", "a"]);
    }

    #[test]
    fn revision_is_head_of_a_clean_tree_only() {
        let Some(dir) = git_dir() else { return };
        assert_eq!(revision(dir.path()), Revision::None);
        commit_a(dir.path());
        let Revision::Clean(head) = revision(dir.path()) else {
            panic!("a clean tree has a revision");
        };
        assert_eq!(head.len(), 40);
        std::fs::write(dir.path().join("b"), b"b").unwrap();
        assert_eq!(revision(dir.path()), Revision::Dirty(head));
    }

    #[test]
    fn the_pending_answer_labels_every_platform_and_notes_once() {
        let Some(dir) = git_dir() else { return };
        commit_a(dir.path());
        let clean = PendingRevision::start(dir.path());
        let (mut one, mut two) = (BTreeMap::new(), BTreeMap::new());
        assert!(clean.finish(&mut one).is_empty());
        assert!(clean.clone().finish(&mut two).is_empty());
        assert_eq!(one.get(REVISION).map(String::len), Some(40));
        assert_eq!(one, two, "every platform gets the label");
        std::fs::write(dir.path().join("b"), b"b").unwrap();
        let dirty = PendingRevision::start(dir.path());
        let mut labels = BTreeMap::new();
        let notes = dirty.finish(&mut labels);
        assert!(notes[0].contains("uncommitted changes"), "{notes:?}");
        assert!(dirty.clone().finish(&mut labels).is_empty(), "noted once");
        assert!(labels.is_empty());
        assert!(PendingRevision::none().finish(&mut labels).is_empty());
    }
}
