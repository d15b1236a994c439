//! Inputs that are not regular files, or are far larger than a check needs, are
//! refused at once with a sentence naming what they are — by every command that
//! reads a file (build --binary, verify, report, push) — never a hang, never the
//! kernel's OOM killer.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// Run `cmd`, killing it after `limit`; the test fails if it had to be killed.
fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect");
            panic!(
                "{cmd:?} still ran after {limit:?} (killed)\nstderr:\n{}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect")
}

/// Every file-reading command on `path`: exit 1 within seconds, the error names
/// `what` (e.g. "FIFO"), no panic or abort.
fn every_command_refuses(path: &Path, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.tar");
    let p = path.to_str().unwrap();
    let commands: [Vec<&str>; 4] = [
        vec!["build", "--binary", p, "-o", out.to_str().unwrap()],
        vec!["verify", p],
        vec!["report", p],
        vec!["push", p, "127.0.0.1:1/x:1"],
    ];
    for args in commands {
        let mut cmd = slim(&args);
        cmd.current_dir(dir.path());
        let o = run_within(&mut cmd, Duration::from_secs(20));
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}\n{err}");
        assert!(err.contains(what), "{args:?} should name {what:?}:\n{err}");
        assert!(
            !err.contains("panicked") && !err.contains("memory allocation"),
            "{args:?}\n{err}"
        );
        assert!(!out.exists(), "{args:?} left an output");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn fifo_is_refused_by_every_command_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    every_command_refuses(&fifo, "FIFO");
}

#[test]
fn character_device_is_refused_by_every_command() {
    every_command_refuses(Path::new("/dev/zero"), "character device");
}

#[test]
fn a_huge_sparse_file_is_judged_by_its_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("huge.bin");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&big).unwrap();
        f.write_all(b"this is not an ELF file\n").unwrap();
        f.set_len(20 << 30).unwrap(); // 20 GiB, sparse: no disk used
    }
    let out = dir.path().join("out.tar");
    for args in [
        vec![
            "build",
            "--binary",
            big.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        vec!["verify", big.to_str().unwrap()],
    ] {
        let o = run_within(&mut slim(&args), Duration::from_secs(20));
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}\n{err}");
        assert!(err.contains("not an ELF"), "{args:?}\n{err}");
    }
    let o = run_within(
        &mut slim(&["report", big.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not an image tarball"), "{err}");
    assert!(!out.exists());
}
