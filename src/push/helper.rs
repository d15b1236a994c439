//! Running a docker credential helper (`docker-credential-NAME get`), bounded.
//!
//! In: the helper's command, the registry, where the helper was configured, and
//! `--timeout`. Out: the user name and secret it answered, `None` when it has none
//! for the registry, or a failure naming the helper — never quoting what it printed, which
//! may hold the secret. Why apart from `auth` (which finds the helper): a
//! helper is someone else's program and may hang (a locked keychain, a password
//! prompt nobody sees) or print without end, so it gets the push's timeout, then
//! its whole process group is killed; at most [`OUTPUT_MAX`] of each of its output
//! streams is read.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::retry::seconds;
use crate::error::Failure;

/// The most of a helper's stdout (and of its stderr) that is read: a credential is
/// a few KiB.
pub const OUTPUT_MAX: u64 = 1 << 20;

/// What a helper answered. `username` is `<token>` for an identity token.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Answer {
    pub username: String,
    /// The password or token: never printed.
    pub secret: String,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Answer {{ username: {:?}, secret: <redacted> }}",
            self.username
        )
    }
}

/// Run `cmd get` (the docker credential-helper protocol: the registry on stdin, a
/// `{"Username","Secret"}` JSON on stdout) within `timeout`.
pub fn get(cmd: &str, registry: &str, timeout: Duration) -> Result<Option<Answer>> {
    let check = format!("check that `echo {registry} | {cmd} get` works");
    let (status, stdout, stderr) = run(cmd, registry, timeout).map_err(|why| {
        let f = Failure::new(format!("credential helper `{cmd}` (for {registry}) {why}"));
        match why {
            Why::TimedOut(_) => f
                .detail("it was stopped; its output is not shown: a credential helper's output may hold the secret")
                .help(format!("{check} without waiting (a locked keychain or a password prompt nobody sees makes a helper wait), or pass a longer --timeout")),
            Why::Spawn(_) => f.help(check.clone()),
        }
    })?;
    if !status.success() {
        let said = |s: &[u8]| String::from_utf8_lossy(s).contains("credentials not found");
        if said(&stdout) || said(&stderr) {
            // Docker's helpers say this for a registry they have nothing for.
            return Ok(None);
        }
        let how = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "unknown exit status".to_string(),
        };
        return Err(Failure::new(format!(
            "credential helper `{cmd}` failed ({how}) to give a credential for {registry}"
        ))
        .detail("its output is not shown: a credential helper's output may hold the secret")
        .help(check)
        .into());
    }
    let answer: Answer = serde_json::from_slice(&stdout).map_err(|_| {
        Failure::new(format!(
            "credential helper `{cmd}` answered for {registry} with something that is not a credential (its output is not shown)"
        ))
        .help(check.clone())
    })?;
    Ok(Some(answer))
}

/// Why a helper gave no answer at all.
#[derive(Debug)]
enum Why {
    Spawn(std::io::Error),
    TimedOut(Duration),
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Spawn(e) => write!(f, "could not be run: {e}"),
            Why::TimedOut(t) => write!(f, "did not answer within {} (--timeout)", seconds(*t)),
        }
    }
}

/// Run the helper in a process group of its own; its exit status and (capped)
/// output once it has exited and closed its output, or [`Why::TimedOut`] — with the
/// group killed — when that takes longer than `timeout`.
fn run(
    cmd: &str,
    registry: &str,
    timeout: Duration,
) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), Why> {
    let deadline = Instant::now() + timeout;
    let mut child = Command::new(cmd)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(Why::Spawn)?;
    let pid = child.id() as libc::pid_t;
    let kill_group = || {
        // SAFETY: killpg only sends a signal to the group we created.
        unsafe { libc::killpg(pid, libc::SIGKILL) };
    };
    // The readers send what they read; a helper that leaves a child holding its
    // output open is waited for only until the deadline, like the helper itself.
    let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
    for (is_out, pipe) in [
        (
            true,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            false,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ] {
        let Some(pipe) = pipe else { continue };
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut pipe = pipe.take(OUTPUT_MAX);
            let _ = pipe.read_to_end(&mut buf);
            // Past the cap: keep draining (never stored) so the helper is not
            // blocked on a full pipe.
            let _ = std::io::copy(&mut pipe.into_inner(), &mut std::io::sink());
            let _ = tx.send((is_out, buf));
        });
    }
    drop(tx);
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading stdin is judged by its exit code.
        let _ = stdin.write_all(registry.as_bytes());
    }
    let (mut out, mut err, mut open) = (Vec::new(), Vec::new(), 2);
    let mut status = None;
    loop {
        if status.is_none() {
            status = child.try_wait().ok().flatten();
        }
        if let (Some(s), 0) = (status, open) {
            return Ok((s, out, err));
        }
        if Instant::now() >= deadline {
            kill_group();
            let _ = child.wait();
            return Err(Why::TimedOut(timeout));
        }
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok((true, b)) => (out, open) = (b, open - 1),
            Ok((false, b)) => (err, open) = (b, open - 1),
            Err(mpsc::RecvTimeoutError::Disconnected) => open = 0,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    const T: Duration = Duration::from_secs(10);

    fn from_helper(cmd: &str, registry: &str, _source: String) -> Result<Option<Answer>> {
        get(cmd, registry, T)
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn a_failing_helper_is_named_with_its_exit_code_and_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let leaky = script(
            dir.path(),
            "docker-credential-leaky",
            "echo 'password=S3cr3t-from-helper' >&2; echo S3cr3t-on-stdout; exit 3",
        );
        let cmd = leaky.to_str().unwrap();
        let e = from_helper(cmd, "r:5000", "test".into()).unwrap_err();
        let f = e.downcast_ref::<Failure>().unwrap();
        let text = format!("{} {:?} {:?}", f.what, f.details, f.help);
        assert!(!text.contains("S3cr3t"), "{text}");
        assert!(f.what.contains("docker-credential-leaky"), "{text}");
        assert!(f.what.contains("exit code 3"), "{text}");
        assert!(f.what.contains("r:5000"), "{text}");

        let good = script(
            dir.path(),
            "docker-credential-good",
            r#"read r; [ "$r" = r:5000 ] || exit 9; echo '{"ServerURL":"r:5000","Username":"bob","Secret":"pw"}'"#,
        );
        let c = from_helper(good.to_str().unwrap(), "r:5000", "src".into())
            .unwrap()
            .unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("bob", "pw"));

        let none = script(
            dir.path(),
            "docker-credential-none",
            "echo 'credentials not found in native keychain'; exit 1",
        );
        assert!(from_helper(none.to_str().unwrap(), "r:5000", "s".into())
            .unwrap()
            .is_none());

        let garbage = script(dir.path(), "docker-credential-garbage", "echo S3cr3t");
        let e = from_helper(garbage.to_str().unwrap(), "r:5000", "s".into()).unwrap_err();
        assert!(!e.to_string().contains("S3cr3t"), "{e}");
    }

    #[test]
    fn a_helper_that_hangs_or_floods_is_stopped_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("docker-credential-slow", "sleep 100"),
            ("docker-credential-flood", "yes S3cr3t-flood"),
            // Answers, but leaves a child holding its output open.
            (
                "docker-credential-lingering",
                r#"sleep 100 & echo '{"Username":"u","Secret":"S3cr3t"}'"#,
            ),
        ] {
            let cmd = script(dir.path(), name, body);
            let started = Instant::now();
            let e = get(cmd.to_str().unwrap(), "r:5000", Duration::from_millis(700)).unwrap_err();
            let took = started.elapsed();
            let f = e.downcast_ref::<Failure>().unwrap();
            let text = format!("{} {:?} {:?}", f.what, f.details, f.help);
            assert!(took < Duration::from_secs(3), "{name}: {took:?}");
            assert!(f.what.contains(name), "{text}");
            assert!(f.what.contains("r:5000"), "{text}");
            assert!(f.what.contains("within 0.7s (--timeout)"), "{text}");
            assert!(!text.contains("S3cr3t"), "{text}");
        }
    }
}
