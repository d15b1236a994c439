//! `cargo slim push` against registries that misbehave: one that accepts the
//! connection and never answers, one that answers the ping and then stalls on the
//! blob upload, one that drops every connection (which schemes were tried, and
//! why), a credential helper that fails and prints the secret on its stderr, and
//! references that hold credentials or a scheme. Every test stays on 127.0.0.1.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::support::registry::*;
use crate::support::*;

/// A small valid image tarball, written with the library (no cargo build).
fn tiny_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let path = shared_dir("tiny").join("tiny.tar");
        let data: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
        payload_tarball(&path, "tiny", &data);
        path
    })
    .clone()
}

/// A listener on 127.0.0.1 that accepts every connection and then holds it: it
/// never reads, never writes, never closes (until dropped).
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let held: Mutex<Vec<TcpStream>> = Mutex::new(Vec::new());
            let until = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::SeqCst) && Instant::now() < until {
                match listener.accept() {
                    Ok((conn, _)) => held.lock().unwrap().push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Silent { port, stop }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The failure is bounded, named, and says how to wait longer.
fn assert_timeout_error(o: &Output, host: &str, took: Duration) {
    let err = text(&o.stderr);
    eprintln!("after {took:?}:\n{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{err}");
    assert!(err.contains(host), "{err}");
    assert!(err.contains("3s"), "{err}");
    assert!(err.contains("--timeout"), "{err}");
    assert!(err.contains("no answer within"), "{err}");
    assert!(
        !err.contains("spurious"),
        "a timeout is not retried:\n{err}"
    );
}

/// `push <tar> <proxy>/<repo> --timeout <timeout>` through a [`FaultProxy`] with
/// `faults` in front of `reg`, requiring exit `code`: the proxy (for its
/// counters), its host, the output and how long the push took.
fn push_through(
    reg: &Registry,
    faults: Faults,
    tar: &Path,
    repo: &str,
    timeout: &str,
    code: i32,
) -> (FaultProxy, String, Output, Duration) {
    let proxy = FaultProxy::start(reg.port, faults);
    let host = proxy.host();
    let (o, took) = push_with_timeout(tar, &format!("{host}/{repo}"), timeout, code);
    (proxy, host, o, took)
}

/// `push <tar> <reference> --timeout <timeout>`, requiring exit `code`: the
/// output and how long the push took.
fn push_with_timeout(tar: &Path, reference: &str, timeout: &str, code: i32) -> (Output, Duration) {
    let started = Instant::now();
    let o = run_code(
        &mut push_cmd(&[tar.to_str().unwrap(), reference, "--timeout", timeout]),
        code,
    );
    (o, started.elapsed())
}

#[test]
fn a_registry_that_accepts_and_never_answers_fails_within_the_timeout() {
    let silent = Silent::start();
    let host = silent.host();
    let (o, took) = push_with_timeout(&tiny_tar(), &format!("{host}/x:1"), "3", 1);
    assert_timeout_error(&o, &host, took);
    assert!(
        text(&o.stderr).contains("could not reach the registry"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn build_push_takes_the_timeout_too() {
    warm_up();
    let silent = Silent::start();
    let host = silent.host();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello.tar");
    let manifest = fixture("hello").join("Cargo.toml");
    let mut cmd = build_manifest(
        &manifest,
        &[
            "--output",
            out.to_str().unwrap(),
            "--push",
            &format!("{host}/hello:1"),
            "--timeout",
            "3",
        ],
    );
    isolate(&mut cmd);
    let o = run_code(&mut cmd, 1);
    let err = text(&o.stderr);
    assert!(out.exists(), "the image is built before the push: {err}");
    assert!(err.contains(&host) && err.contains("3s"), "{err}");
    assert!(err.contains("--timeout"), "{err}");
    // `--timeout` belongs to `--push`.
    let o = run_code(
        &mut slim(&["build", "--manifest-path", "x", "--timeout", "3"]),
        2,
    );
    assert!(text(&o.stderr).contains("--push"), "{}", text(&o.stderr));
}

#[test]
fn a_registry_that_stalls_on_the_blob_upload_fails_within_the_timeout() {
    let Some(reg) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    let faults = Faults {
        stall_on: Some("PUT /v2/".into()),
        ..Faults::default()
    };
    let (proxy, host, o, took) = push_through(&reg, faults, &tiny_tar(), "stall:1", "3", 1);
    assert!(
        proxy.stalled.load(Ordering::SeqCst) >= 1,
        "the upload reached the stalling PUT:\n{}",
        text(&o.stderr)
    );
    assert_timeout_error(&o, &host, took);
    assert!(text(&o.stderr).contains("upload"), "{}", text(&o.stderr));
}

#[test]
fn the_error_names_every_scheme_tried_and_why() {
    // Accepts and closes at once: plain HTTP fails, then TLS fails too.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(60);
        while !flag.load(Ordering::SeqCst) && Instant::now() < until {
            match listener.accept() {
                Ok((conn, _)) => drop(conn),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    let tar = tiny_tar();
    let o = run_code(
        &mut push_cmd(&[
            tar.to_str().unwrap(),
            &format!("{host}/x:1"),
            "--timeout",
            "5",
            "-v",
        ]),
        1,
    );
    stop.store(true, Ordering::SeqCst);
    let err = text(&o.stderr);
    eprintln!("{err}");
    assert!(
        err.contains(&format!("could not reach the registry at {host}")),
        "{err}"
    );
    // The label and the error tell the same story: http first, then https.
    assert!(err.contains("http first (a loopback registry"), "{err}");
    assert!(err.contains("then https"), "{err}");
    let last = err
        .lines()
        .find(|l| l.contains("last error"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        last.contains("http: ") && last.contains("then https: "),
        "{last}"
    );
}

/// A `docker-credential-leaky` on PATH that prints the secret on stderr and fails.
fn leaky_helper(dir: &Path, host: &str, secret: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-leaky");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\necho \"unlock failed: password={secret}\" >&2\necho \"{secret}\"\nexit 1\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = dir.join("docker");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        format!(r#"{{"credHelpers":{{"{host}":"leaky"}}}}"#),
    )
    .unwrap();
    (bin, cfg)
}

#[test]
fn a_failing_credential_helper_is_named_and_its_output_never_shown() {
    const SECRET: &str = "hunter2-Leaked-By-The-Helper";
    let tar = tiny_tar();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens here: the helper runs (and fails) before any request.
    let host = format!("127.0.0.1:{}", free_port());
    let (bin, cfg) = leaky_helper(dir.path(), &host, SECRET);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for verbose in [false, true] {
        let mut cmd = push_cmd(&[tar.to_str().unwrap(), &format!("{host}/x:1")]);
        if verbose {
            cmd.arg("-v");
        }
        let o = run_code(cmd.env("DOCKER_CONFIG", &cfg).env("PATH", &path), 1);
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        eprintln!("{all}");
        assert!(!all.contains(SECRET), "the secret leaked:\n{all}");
        assert!(!all.contains("hunter2"), "the secret leaked:\n{all}");
        let err = text(&o.stderr);
        assert!(err.contains("docker-credential-leaky"), "{err}");
        assert!(err.contains("exit code 1"), "{err}");
        assert!(err.contains(&host), "{err}");
        assert!(!err.contains("refused"), "no request was made:\n{err}");
    }
}

#[test]
fn credentials_or_a_scheme_in_the_reference_get_a_sentence() {
    const PW: &str = "pw-Never-Echoed-9";
    let dir = tempfile::tempdir().unwrap();
    // Refused before the tarball is read: any regular file will do.
    let tar = dir.path().join("t.tar");
    std::fs::write(&tar, b"x").unwrap();
    let host = format!("127.0.0.1:{}", free_port());
    let o = run_code(
        &mut push_cmd(&[tar.to_str().unwrap(), &format!("user:{PW}@{host}/app:1")]),
        1,
    );
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    eprintln!("{all}");
    assert!(!all.contains(PW), "the password was echoed:\n{all}");
    assert!(
        all.contains("credentials do not belong in a reference"),
        "{all}"
    );
    assert!(all.contains("CARGO_SLIM_REGISTRY_USERNAME"), "{all}");
    assert!(all.contains("podman login"), "{all}");
    assert!(!all.contains("digest"), "{all}");

    let o = run_code(
        &mut push_cmd(&[tar.to_str().unwrap(), &format!("http://{host}/app:1")]),
        1,
    );
    let err = text(&o.stderr);
    assert!(
        err.contains("a scheme does not belong in a reference"),
        "{err}"
    );
    assert!(err.contains("drop `http://`"), "{err}");
    assert!(err.contains("--insecure"), "{err}");
    assert!(!err.contains("lowercase"), "{err}");
}

/// The digest of the one layer of `tar`.
fn layer_of(tar: &Path) -> String {
    cargo_slim::validate::validate_tarball(tar).unwrap().layers[0]
        .digest
        .clone()
}

/// `--timeout` is a progress timeout for uploads. A registry that takes
/// the first MiB of a 52 MiB blob and then stops reading fails in about the
/// timeout, the error naming the registry, the blob, the bytes sent and
/// `--timeout`.
#[test]
fn a_registry_that_stops_reading_mid_upload_fails_within_the_timeout() {
    let Some(reg) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    let tar = payload_tar("big", 52);
    let layer = layer_of(&tar);
    // Pushed once straight to the registry: the full check of the 52 MiB layer is
    // remembered, so the timing below is the upload's alone (another repository
    // does not have the blob).
    run_ok(&mut push_cmd(&[
        tar.to_str().unwrap(),
        &format!("{}/warm:1", reg.host()),
    ]));
    let faults = Faults {
        stall_after: Some(1 << 20),
        ..Faults::default()
    };
    let (proxy, host, o, took) = push_through(&reg, faults, &tar, "mid:1", "2", 1);
    let err = text(&o.stderr);
    eprintln!("after {took:?}:\n{err}");
    assert!(proxy.stalled.load(Ordering::SeqCst) >= 1, "{err}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(took >= Duration::from_secs(2), "took {took:?}");
    assert!(err.contains(&host), "{err}");
    assert!(err.contains(&layer), "names the blob: {err}");
    assert!(err.contains("--timeout") && err.contains("2s"), "{err}");
    let sent = err
        .split("took no more bytes after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no byte count: {err}"));
    assert!(
        (1 << 20..52 << 20).contains(&sent),
        "{sent} bytes sent: {err}"
    );
}

/// A slow link that keeps moving (64 KiB every 200 ms: 320 KiB/s) uploads a blob
/// that takes several seconds, with `--timeout 1`.
#[test]
fn a_slow_but_progressing_upload_outlasts_the_timeout() {
    let Some(reg) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    let tar = payload_tar("slow", 2);
    let faults = Faults {
        throttle: Some((64 << 10, Duration::from_millis(200))),
        ..Faults::default()
    };
    let (proxy, host, o, took) = push_through(&reg, faults, &tar, "slow:1", "1", 0);
    eprintln!("after {took:?}:\n{}", text(&o.stderr));
    assert!(took > Duration::from_secs(3), "the link was slow: {took:?}");
    assert!(proxy.forwarded.load(Ordering::SeqCst) >= 2 << 20);
    assert!(text(&o.stdout).contains(&format!("{host}/slow@sha256:")));
}
