//! `cargo slim push` against registries that would take a password in clear, or
//! answer without end: no credential crosses plain HTTP behind TLS, and a push that
//! reads a registry's endless answer stays within bounded memory and its timeout.
//! Real docker-registry processes (TLS, token auth); a loopback fake (`Endless`,
//! the proxy's `flood_on`) only for answers no real registry gives.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::push::{docker_config, hello_tar, no_secret, PASSWORD};
use crate::support::registry::*;
use crate::support::*;

/// The most memory a push may take against a registry that answers without end.
const RSS_BOUND_KIB: u64 = 64 << 10;

/// Run `cmd` under GNU time: its output, its peak RSS in KiB, how long it took.
fn measured(cmd: &Command, dir: &Path) -> (Output, u64, Duration) {
    let file = dir.join("time.txt");
    let mut t = Command::new("/usr/bin/time");
    t.args(["-f", "%M", "-o"])
        .arg(&file)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => t.env(k, v),
            None => t.env_remove(k),
        };
    }
    let started = Instant::now();
    let out = t.output().unwrap();
    let took = started.elapsed();
    let rss = std::fs::read_to_string(&file).unwrap_or_default();
    let rss = rss.lines().last().and_then(|l| l.trim().parse().ok());
    (out, rss.expect("GNU time wrote the peak RSS"), took)
}

fn have_time() -> bool {
    have_cmd("/usr/bin/time", &["-f", "%M", "true"])
}

#[test]
fn a_plain_http_token_realm_behind_tls_never_gets_the_password() {
    if !have_cmd("openssl", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(dir.path(), "alice", PASSWORD);
    let certs = Certs::generate(dir.path());
    let Some(reg) = Registry::start(RegistryConfig {
        tls: Some(certs.clone()),
        token: Some(tokens.config.clone()),
        ..RegistryConfig::default()
    }) else {
        return;
    };
    let tar = hello_tar();
    let host = reg.host();
    let realm = &tokens.config.realm;
    assert!(realm.starts_with("http://127.0.0.1:"), "{realm}");
    let cfg = docker_config(dir.path(), "cfg", &host, "alice", PASSWORD);
    let reference = format!("{host}/clear/hello:1");
    let (tar, ca) = (tar.to_str().unwrap(), certs.ca.to_str().unwrap());
    for verbose in [false, true] {
        let mut args = vec!["--ca-file", ca, tar, &reference];
        if verbose {
            args.insert(0, "-v");
        }
        let o = run_code(push_cmd(&args).env("DOCKER_CONFIG", &cfg), 1);
        let err = text(&o.stderr);
        assert!(err.contains(realm.as_str()), "{err}");
        assert!(err.contains("plain HTTP"), "{err}");
        assert!(err.contains("over TLS"), "{err}");
        assert!(err.contains("--insecure"), "{err}");
        no_secret(&o, &[PASSWORD]);
    }
    assert!(
        tokens.requests.lock().unwrap().is_empty(),
        "the token service was asked: {:?}",
        tokens.requests.lock().unwrap()
    );
    assert!(
        !reg.requests().iter().any(|r| r.method == "PUT"),
        "nothing was pushed"
    );

    // --insecure is the way past, with a warning; the push then goes through.
    let o = run_ok(push_cmd(&["--insecure", tar, &reference]).env("DOCKER_CONFIG", &cfg));
    let err = text(&o.stderr);
    assert!(
        err.contains("warning:") && err.contains(realm.as_str()),
        "{err}"
    );
    no_secret(&o, &[PASSWORD]);
    assert!(tokens.requests.lock().unwrap().iter().any(|(_, ok)| *ok));
}

/// Push `tar` to `reference` with a 10 s timeout, measured; the failure must name
/// `names` and come within the timeout and the memory bound.
fn bounded_failure(dir: &Path, cmd: &Command, names: &[&str], timeout: Duration) -> String {
    let (o, rss, took) = measured(cmd, dir);
    let err = text(&o.stderr);
    eprintln!("{took:?}, {rss} KiB:\n{err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
    for n in names {
        assert!(err.contains(n), "`{n}` in:\n{err}");
    }
    assert!(rss < RSS_BOUND_KIB, "peak RSS {rss} KiB:\n{err}");
    assert!(took < timeout + Duration::from_secs(3), "{took:?}:\n{err}");
    err
}

#[test]
fn a_registry_that_answers_without_end_costs_bounded_memory_and_time() {
    if !have_time() {
        return;
    }
    let Some(reg) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    let tar = hello_tar();
    let dir = tempfile::tempdir().unwrap();
    let t = Duration::from_secs(10);
    // The referrers tag (read to merge the SBOMs into it) never ends.
    let proxy = FaultProxy::start(
        reg.port,
        Faults {
            flood_on: Some(("GET /v2/flood/hello/manifests/sha256-".into(), 200)),
            ..Faults::default()
        },
    );
    let reference = format!("{}/flood/hello:1", proxy.host());
    let cmd = push_cmd(&["--timeout", "10", tar.to_str().unwrap(), &reference]);
    let err = bounded_failure(
        dir.path(),
        &cmd,
        &[
            "/v2/flood/hello/manifests/sha256-",
            "4.0 MiB",
            "stopped reading",
        ],
        t,
    );
    assert!(err.contains("the image itself is pushed"), "{err}");

    // A manifest PUT answered 500 with a body of "2 GB" (without end): retried, and
    // each answer read only as far as its first KiBs.
    let proxy = FaultProxy::start(
        reg.port,
        Faults {
            flood_on: Some(("PUT /v2/err/hello/manifests/".into(), 500)),
            ..Faults::default()
        },
    );
    let reference = format!("{}/err/hello:1", proxy.host());
    let cmd = push_cmd(&["--timeout", "10", tar.to_str().unwrap(), &reference]);
    bounded_failure(
        dir.path(),
        &cmd,
        &["500", "/v2/err/hello/manifests/", "gave up after"],
        t,
    );
}

#[test]
fn a_token_service_that_floods_or_drips_is_bounded() {
    if !have_cmd("openssl", &["version"]) || !have_time() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(dir.path(), "alice", PASSWORD);
    for drip in [None, Some(Duration::from_millis(50))] {
        let endless = Endless::start(200, drip);
        let Some(reg) = Registry::start(RegistryConfig {
            token: Some(TokenAuthConfig {
                realm: endless.url("/token"),
                ..tokens.config.clone()
            }),
            ..RegistryConfig::default()
        }) else {
            return;
        };
        let host = reg.host();
        let cfg = docker_config(dir.path(), "cfg", &host, "alice", PASSWORD);
        let reference = format!("{host}/tok/hello:1");
        let tar = hello_tar();
        let mut cmd = push_cmd(&["--timeout", "4", tar.to_str().unwrap(), &reference]);
        cmd.env("DOCKER_CONFIG", &cfg);
        let names: &[&str] = match drip {
            None => &["/token", "4.0 MiB", "stopped reading"],
            Some(_) => &["/token", "no answer within the timeout of 4s"],
        };
        bounded_failure(dir.path(), &cmd, names, Duration::from_secs(4));
        assert!(endless.requests.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }
}

#[test]
fn a_credential_helper_that_hangs_is_stopped_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let host = "127.0.0.1:9"; // nothing listens: the helper comes first
    let helper = dir.path().join("docker-credential-stuck");
    std::fs::write(&helper, "#!/bin/sh\necho S3cr3t-partial\nsleep 100\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        format!(r#"{{"credHelpers":{{"{host}":"stuck"}}}}"#),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let tar = hello_tar();
    let started = Instant::now();
    let o = run_code(
        push_cmd(&[
            "--timeout",
            "2",
            tar.to_str().unwrap(),
            &format!("{host}/app:1"),
        ])
        .env("DOCKER_CONFIG", &cfg)
        .env("PATH", path),
        1,
    );
    let took = started.elapsed();
    let err = text(&o.stderr);
    assert!(took < Duration::from_secs(6), "{took:?}:\n{err}");
    assert!(err.contains("docker-credential-stuck"), "{err}");
    assert!(err.contains("did not answer within 2s"), "{err}");
    no_secret(&o, &["S3cr3t"]);
}

#[test]
fn a_tag_that_holds_a_credential_is_never_echoed() {
    let tar = hello_tar();
    let o = run_code(
        &mut push_cmd(&[
            "--tag",
            "x:REFPW-s3cr3t@y",
            tar.to_str().unwrap(),
            "127.0.0.1:9/app:1",
        ]),
        1,
    );
    let err = text(&o.stderr);
    assert!(err.contains("invalid tag"), "{err}");
    no_secret(&o, &["s3cr3t", "REFPW"]);

    // A metadata `tags` entry: refused before compiling, never echoed.
    let krate = copy_fixture("hello");
    let manifest = krate.path().join("Cargo.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap().replace(
        "user = \"65532:65532\"",
        "user = \"65532:65532\"\nrepository = \"127.0.0.1:9/app\"\ntags = [\"1\", \"x:REFPW-s3cr3t@y\"]",
    );
    std::fs::write(&manifest, toml).unwrap();
    let o = run_code(
        &mut slim(&[
            "build",
            "--push",
            "--manifest-path",
            manifest.to_str().unwrap(),
        ]),
        1,
    );
    let err = text(&o.stderr);
    assert!(err.contains("invalid tag") && err.contains("tags"), "{err}");
    assert!(
        !err.contains("Compiling"),
        "refused before the build:\n{err}"
    );
    no_secret(&o, &["s3cr3t", "REFPW"]);
}
