//! Ctrl-C, SIGTERM and SIGKILL against a real build: cargo and its jobs stop
//! with cargo-slim, no temporary file outlives the run (a killed run's is removed
//! by the next), and a signal after the tarball was renamed into place says so.
//! Signals are sent to the cargo-slim process alone (as `kill` does), the harder
//! case than a terminal's Ctrl-C, which reaches the whole foreground group.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

/// Whether `pid` is a live process (a zombie nobody reaped counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Every live descendant of `pid` (children, their children, …).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((p, ppid));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let cur = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(_, pp)| *pp == cur)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found.retain(|p| alive(*p));
    found
}

/// Poll every millisecond until `done` or the deadline, failing with `what`.
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Wait for the child, at most `limit`, and collect its output.
fn finish(child: Child, limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if start.elapsed() > limit {
            // SAFETY: as above.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("cargo-slim did not exit within {limit:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (waiter.join().unwrap(), start.elapsed())
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The temporary files of output `name` in `dir`.
fn temps(dir: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && n.ends_with(".tmp")
        })
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

#[test]
fn sigint_during_the_compile_stops_cargo_and_its_build_script() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("build-script.pid");
    let out = dir.path().join("slow.tar");
    let mut cmd = build_fixture("slowbuild", &out, &[]);
    cmd.env("SLOWBUILD_PIDFILE", &pidfile)
        .env("SLOWBUILD_SECS", "120");
    let child = spawn(cmd);
    wait_for(
        "the build script to start",
        Duration::from_secs(300),
        || pidfile.exists(),
    );
    let script: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let jobs = descendants(child.id());
    assert!(jobs.contains(&script), "{jobs:?} holds {script}");
    assert!(jobs.len() >= 2, "cargo and the build script: {jobs:?}");

    signal(&child, libc::SIGINT);
    let (o, took) = finish(child, Duration::from_secs(30));
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted by SIGINT while cargo was compiling"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    // cargo-slim waited for its jobs: none is left running.
    for pid in jobs {
        assert!(!alive(pid), "process {pid} outlived cargo-slim");
    }
    assert!(!out.exists());
    assert!(temps(dir.path(), "slow.tar").is_empty());
    // The output's lock went with the run: neither its file nor its lock stays.
    assert!(!dir.path().join(".slow.tar.lock").exists());
}

/// A build of the `huge` fixture with a 32 MiB payload (gzip cannot shrink it,
/// so the write takes long enough to be interrupted).
fn huge_build(out: &Path) -> Command {
    let mut cmd = build_fixture("huge", out, &[]);
    cmd.env("HUGE_MIB", "32");
    cmd
}

/// Stop the run the moment its tarball's temporary file appears, so the signal
/// lands during the write and not after it.
fn freeze_during_write(dir: &Path, out: &Path) -> Child {
    let child = spawn(huge_build(out));
    wait_for(
        "the tarball's temporary file",
        Duration::from_secs(300),
        || !temps(dir, "huge.tar").is_empty(),
    );
    signal(&child, libc::SIGSTOP);
    child
}

#[test]
fn sigterm_while_writing_removes_the_temporary_file_and_sigkill_leftovers_go_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("huge.tar");
    // Compile once, so the timed runs below only link nothing and write.
    let warm = dir.path().join("warm.tar");
    run_ok(&mut huge_build(&warm));

    // SIGTERM during the write: exit 143, nothing left, no tarball.
    let child = freeze_during_write(dir.path(), &out);
    signal(&child, libc::SIGTERM);
    signal(&child, libc::SIGCONT);
    let (o, _) = finish(child, Duration::from_secs(30));
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{err}");
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert!(!err.contains("written in full"), "{err}");
    assert_eq!(temps(dir.path(), "huge.tar"), Vec::<PathBuf>::new());
    assert!(!out.exists(), "no tarball appeared");
    assert!(
        !dir.path().join(".huge.tar.lock").exists(),
        "the lock went too"
    );

    // SIGKILL cannot be caught: the temporary file stays behind…
    let child = freeze_during_write(dir.path(), &out);
    signal(&child, libc::SIGKILL);
    let (o, _) = finish(child, Duration::from_secs(30));
    assert_eq!(o.status.code(), None, "killed");
    let left = temps(dir.path(), "huge.tar");
    assert_eq!(left.len(), 1, "{left:?}");
    // Its lock file stays too, but the kernel released the lock with the process.
    let lock = dir.path().join(".huge.tar.lock");
    assert!(lock.exists());
    // …beside one a live run is writing (it holds the lock): that one must stay.
    let live = dir.path().join(".huge.tar.Live01.tmp");
    let held = std::fs::File::create(&live).unwrap();
    held.lock().unwrap();

    // The next run removes the stale one, says so, and writes the tarball.
    let o = run_ok(&mut huge_build(&out));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("removed `{}`", left[0].display())),
        "{err}"
    );
    assert!(!left[0].exists());
    assert!(!err.contains("another cargo slim build"), "{err}");
    assert!(
        !lock.exists(),
        "the next run's lock is removed when it ends"
    );
    assert!(
        live.exists(),
        "a locked temporary file belongs to a live run"
    );
    assert_eq!(temps(dir.path(), "huge.tar"), vec![live]);
    run_ok(&mut slim(&["verify", out.to_str().unwrap()]));
}

/// A registry address that accepts connections and never answers.
fn silent_registry() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    (listener, host)
}

#[test]
fn sigint_after_the_rename_says_the_tarball_is_complete() {
    warm_up();
    let (listener, host) = silent_registry();
    let held = std::thread::spawn(move || {
        // Accept and hold a few connections without a word.
        let mut conns = Vec::new();
        for c in listener.incoming().take(4) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello.tar");
    let push = format!("{host}/hello:1");
    let mut cmd = build_fixture("hello", &out, &["--push", &push, "--timeout", "60"]);
    isolate(&mut cmd);
    let child = spawn(cmd);
    // The tarball is in place and the push is waiting for the registry.
    wait_for("the tarball", Duration::from_secs(300), || out.exists());
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGINT);
    let (o, took) = finish(child, Duration::from_secs(10));
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        err.contains(&format!(
            "`{}` was written in full before the interrupt",
            out.display()
        )),
        "{err}"
    );
    assert_eq!(last_line(&o), out, "the path was printed before the push");
    run_ok(&mut slim(&["verify", out.to_str().unwrap()]));
    drop(held);
}
