//! `cargo slim push` against the real CNCF registry started by the test (see
//! `registry.rs`): anonymous HTTP, htpasswd + TLS with a test CA, credentials from
//! every source, faults (503s, a dead registry, a registry killed mid-upload), and
//! what the registry itself logged. Each test skips (or, in CI, fails) without its
//! tools.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use cargo_slim::validate::validate_tarball;

use crate::support::registry::*;
use crate::support::*;

pub(crate) const PASSWORD: &str = "Tr0ub4dor-and-3-horses";
const WRONG_PASSWORD: &str = "correct-horse-battery-staple-42";

/// The hello image, built once per test run.
pub(crate) fn hello_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        warm_up();
        build_hello(&shared_dir("push-hello"), &[])
    })
    .clone()
}

fn local_digest(tar: &Path) -> String {
    validate_tarball(tar).unwrap().manifest_digest
}

pub(crate) fn no_secret(out: &Output, secrets: &[&str]) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for s in secrets {
        assert!(!all.contains(s), "secret `{s}` leaked into output:\n{all}");
    }
}

fn skopeo_digest(reference: &str, extra: &[&str]) -> String {
    let mut cmd = Command::new("skopeo");
    cmd.arg("inspect")
        .args(extra)
        .arg(format!("docker://{reference}"));
    let o = run_ok(&mut cmd);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

/// podman pulls `reference` from the registry and runs it: the hello line.
fn pull_and_run(reference: &str) {
    let _ = Command::new("podman")
        .args(["rmi", "-f", reference])
        .output();
    run_ok(Command::new("podman").args(["pull", "-q", "--tls-verify=false", reference]));
    let run = run_ok(Command::new("podman").args(["run", "--rm", "--runtime", "runc", reference]));
    assert_eq!(text(&run.stdout).trim(), HELLO_LINE);
    let _ = Command::new("podman")
        .args(["rmi", "-f", reference])
        .output();
}

/// A `DOCKER_CONFIG` directory named `label` with `auths` for `host`.
pub(crate) fn docker_config(
    dir: &Path,
    label: &str,
    host: &str,
    user: &str,
    pass: &str,
) -> PathBuf {
    use std::io::Write;
    let cfg = dir.join(label);
    std::fs::create_dir_all(&cfg).unwrap();
    // base64 by hand: no dev-dependency for one line.
    let mut enc = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    enc.stdin
        .take()
        .unwrap()
        .write_all(format!("{user}:{pass}").as_bytes())
        .unwrap();
    let b64 = text(&enc.wait_with_output().unwrap().stdout);
    std::fs::write(
        cfg.join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"{}"}}}}}}"#, b64.trim()),
    )
    .unwrap();
    cfg
}

#[test]
fn anonymous_http_push_then_skopeo_podman_and_a_free_repush() {
    let tar = hello_tar();
    let Some(reg) = Registry::with_skopeo_and_podman() else {
        return;
    };
    let host = reg.host();
    let digest = local_digest(&tar);
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.txt");
    let reference = format!("{host}/hello:0.1.0");
    let o = run_ok(&mut push_cmd(&[
        tar.to_str().unwrap(),
        &reference,
        "--tag",
        "latest",
        "--image-refs",
        refs.to_str().unwrap(),
    ]));
    let pinned = format!("{host}/hello@{digest}");
    assert_eq!(
        text(&o.stdout).trim(),
        pinned,
        "stdout is the pinned reference"
    );
    assert_eq!(std::fs::read_to_string(&refs).unwrap().trim(), pinned);
    let err = text(&o.stderr);
    assert!(err.contains("Pushing"), "{err}");
    // Config and layer, the artifacts' empty config, the SBOM and the provenance.
    assert!(err.contains("5 blobs uploaded"), "{err}");
    assert!(!err.contains("[="), "no progress bar off a terminal: {err}");

    // The registry serves our digest under both tags.
    for tag in ["0.1.0", "latest"] {
        let d = skopeo_digest(&format!("{host}/hello:{tag}"), &["--tls-verify=false"]);
        assert_eq!(d, digest, "tag {tag}");
    }

    // podman pulls it from the registry and runs it.
    pull_and_run(&reference);

    // Unchanged re-push: the registry's own log shows no upload endpoint hit.
    let mark = reg.mark();
    let o = run_ok(&mut push_cmd(&[
        tar.to_str().unwrap(),
        &reference,
        "--tag",
        "latest",
        "--message-format",
        "json",
    ]));
    let line: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(line["reason"], "pushed");
    assert_eq!(line["reference"], pinned);
    assert_eq!(line["digest"], digest);
    assert_eq!(line["tags"], serde_json::json!(["0.1.0", "latest"]));
    assert_eq!(line["blobs_uploaded"], 0);
    assert_eq!(line["blobs_skipped"], 5);
    let reqs = reg.requests_since(mark);
    assert!(
        !reqs.is_empty(),
        "the access log is captured:\n{}",
        reg.log_text()
    );
    let uploads: Vec<_> = reqs
        .iter()
        .filter(|r| r.uri.contains("/blobs/uploads"))
        .collect();
    assert!(uploads.is_empty(), "re-push uploaded: {uploads:?}");
    // Both tags already name our manifest: the registry is only read.
    assert!(
        reqs.iter().all(|r| r.method == "GET" || r.method == "HEAD"),
        "a re-push writes nothing: {reqs:?}"
    );
    for tag in ["0.1.0", "latest"] {
        let uri = format!("/v2/hello/manifests/{tag}");
        assert!(
            reqs.iter()
                .any(|r| r.method == "HEAD" && r.uri == uri && r.status == 200),
            "the digest of `{tag}` was read back: {reqs:?}"
        );
    }
}

#[test]
fn htpasswd_and_tls_with_every_credential_source() {
    if !have_cmd("openssl", &["version"])
        || !have_cmd("htpasswd", &["-nbB", "u", "p"])
        || !have("skopeo")
    {
        return;
    }
    let tar = hello_tar();
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::generate(dir.path());
    let Some(reg) = Registry::start(RegistryConfig {
        tls: Some(certs.clone()),
        htpasswd: Some(("alice".into(), PASSWORD.into())),
        ..RegistryConfig::default()
    }) else {
        return;
    };
    let host = reg.host();
    let digest = local_digest(&tar);
    let reference = format!("{host}/secure/hello:0.1.0");
    let tar = tar.to_str().unwrap();
    let ca = certs.ca.to_str().unwrap();
    // DOCKER_CONFIG auths, CA from --ca-file; -v must not show the password.
    let good = docker_config(dir.path(), "good", &host, "alice", PASSWORD);
    let bad = docker_config(dir.path(), "bad", &host, "alice", WRONG_PASSWORD);
    let auth_of = |cfg: &Path| -> String {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(cfg.join("config.json")).unwrap()).unwrap();
        v["auths"][&host]["auth"].as_str().unwrap().to_string()
    };
    let (good_b64, bad_b64) = (auth_of(&good), auth_of(&bad));
    let secrets = [PASSWORD, WRONG_PASSWORD, &good_b64, &bad_b64];
    let o = run_ok(push_cmd(&["-v", tar, &reference, "--ca-file", ca]).env("DOCKER_CONFIG", &good));
    no_secret(&o, &secrets);
    assert_eq!(
        text(&o.stdout).trim(),
        format!("{host}/secure/hello@{digest}")
    );
    let err = text(&o.stderr);
    assert!(err.contains("https://"), "TLS was used: {err}");
    assert!(err.contains("user `alice`"), "{err}");

    // skopeo, trusting the same CA, sees our digest.
    let certs_dir = dir.path().join("skopeo-certs");
    std::fs::create_dir_all(&certs_dir).unwrap();
    std::fs::copy(&certs.ca, certs_dir.join("ca.crt")).unwrap();
    let d = skopeo_digest(
        &reference,
        &[
            "--cert-dir",
            certs_dir.to_str().unwrap(),
            "--creds",
            &format!("alice:{PASSWORD}"),
        ],
    );
    assert_eq!(d, digest);

    // Without the CA: refused, pointing at --ca-file (never falling back to HTTP).
    let o = run_code(push_cmd(&[tar, &reference]).env("DOCKER_CONFIG", &good), 1);
    let err = text(&o.stderr);
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains("--ca-file"), "{err}");
    no_secret(&o, &secrets);

    // A wrong password: exit 1 naming the registry and the 401, the password nowhere.
    for verbose in [false, true] {
        let mut args = vec![tar, reference.as_str(), "--ca-file", ca];
        if verbose {
            args.insert(0, "-v");
        }
        let o = run_code(push_cmd(&args).env("DOCKER_CONFIG", &bad), 1);
        let err = text(&o.stderr);
        assert!(err.contains(&host), "{err}");
        assert!(err.contains("401"), "{err}");
        assert!(err.contains("alice"), "{err}");
        no_secret(&o, &secrets);
    }

    // No credentials at all: a clear 401, not a confusing later failure.
    let o = run_code(&mut push_cmd(&[tar, &reference, "--ca-file", ca]), 1);
    let err = text(&o.stderr);
    assert!(err.contains("requires authentication"), "{err}");

    // Environment credentials, CA from SSL_CERT_FILE, another tag.
    let o = run_ok(
        push_cmd(&["-v", tar, &reference, "--tag", "env"])
            .env("CARGO_SLIM_REGISTRY_USERNAME", "alice")
            .env("CARGO_SLIM_REGISTRY_PASSWORD", PASSWORD)
            .env("SSL_CERT_FILE", ca),
    );
    no_secret(&o, &secrets);
    assert!(text(&o.stderr).contains("CARGO_SLIM_REGISTRY_USERNAME"));
    assert!(
        text(&o.stderr).contains("0 blobs uploaded"),
        "{}",
        text(&o.stderr)
    );

    // podman's auth.json via REGISTRY_AUTH_FILE (same format as docker's).
    let o = run_ok(
        push_cmd(&["-v", tar, &reference, "--ca-file", ca])
            .env("REGISTRY_AUTH_FILE", good.join("config.json")),
    );
    no_secret(&o, &secrets);
    assert!(text(&o.stderr).contains("REGISTRY_AUTH_FILE"));

    // A credential helper (`credHelpers`), found on PATH, asked for this registry.
    let bin = dir.path().join("helper-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-slimtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread server\n\
             [ \"$server\" = \"{host}\" ] || {{ echo \"credentials not found in native keychain\"; exit 1; }}\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let helped = dir.path().join("helped");
    std::fs::create_dir_all(&helped).unwrap();
    std::fs::write(
        helped.join("config.json"),
        format!(r#"{{"credHelpers":{{"{host}":"slimtest"}}}}"#),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = run_ok(
        push_cmd(&["-v", tar, &reference, "--ca-file", ca, "--tag", "helped"])
            .env("DOCKER_CONFIG", &helped)
            .env("PATH", &path),
    );
    no_secret(&o, &secrets);
    assert!(
        text(&o.stderr).contains("docker-credential-slimtest"),
        "{}",
        text(&o.stderr)
    );
    let d = skopeo_digest(
        &format!("{host}/secure/hello:helped"),
        &[
            "--cert-dir",
            certs_dir.to_str().unwrap(),
            "--creds",
            &format!("alice:{PASSWORD}"),
        ],
    );
    assert_eq!(d, digest);
}

#[test]
fn bearer_token_flow_through_a_token_service() {
    if !have_cmd("openssl", &["version"]) {
        return;
    }
    let tar = hello_tar();
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(dir.path(), "alice", PASSWORD);
    let Some(reg) = Registry::start(RegistryConfig {
        token: Some(tokens.config.clone()),
        ..RegistryConfig::default()
    }) else {
        return;
    };
    let host = reg.host();
    let digest = local_digest(&tar);
    let reference = format!("{host}/bearer/hello:0.1.0");
    let tar = tar.to_str().unwrap();
    let good = docker_config(dir.path(), "good", &host, "alice", PASSWORD);
    let bad = docker_config(dir.path(), "bad", &host, "alice", WRONG_PASSWORD);

    let o = run_ok(push_cmd(&["-v", tar, &reference]).env("DOCKER_CONFIG", &good));
    no_secret(&o, &[PASSWORD, WRONG_PASSWORD]);
    assert_eq!(
        text(&o.stdout).trim(),
        format!("{host}/bearer/hello@{digest}")
    );
    // The token service was asked for push rights on exactly this repository,
    // and the registry accepted the tokens it issued.
    let asked = tokens.requests.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .any(|(scope, ok)| *ok && scope == "repository:bearer/hello:pull,push"),
        "{asked:?}"
    );
    let reqs = reg.requests();
    let put = reqs
        .iter()
        .find(|r| r.method == "PUT" && r.uri == "/v2/bearer/hello/manifests/0.1.0")
        .expect("the manifest was pushed");
    assert_eq!(put.status, 201);

    // Unchanged re-push with a token: nothing written.
    let mark = reg.mark();
    let o = run_ok(push_cmd(&[tar, &reference]).env("DOCKER_CONFIG", &good));
    assert!(
        text(&o.stderr).contains("0 blobs uploaded"),
        "{}",
        text(&o.stderr)
    );
    let reqs = reg.requests_since(mark);
    assert!(
        reqs.iter().all(|r| r.method == "GET" || r.method == "HEAD"),
        "{reqs:?}"
    );

    // The token service refuses a wrong password: exit 1, naming the registry and
    // the 401, the password nowhere (with -v too).
    for verbose in [false, true] {
        let mut args = vec![tar, reference.as_str()];
        if verbose {
            args.insert(0, "-v");
        }
        let o = run_code(push_cmd(&args).env("DOCKER_CONFIG", &bad), 1);
        let err = text(&o.stderr);
        assert!(err.contains(&host), "{err}");
        assert!(err.contains("401"), "{err}");
        assert!(err.contains("rejected the credentials"), "{err}");
        no_secret(&o, &[PASSWORD, WRONG_PASSWORD]);
    }
}

#[test]
fn missing_credential_helper_is_named_before_any_request() {
    let tar = hello_tar();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens here: the helper error must come before any connection.
    let host = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"credHelpers":{{"{host}":"cargo-slim-test-missing"}}}}"#),
    )
    .unwrap();
    let o = run_code(
        push_cmd(&[tar.to_str().unwrap(), &format!("{host}/hello:1")])
            .env("DOCKER_CONFIG", dir.path()),
        1,
    );
    let err = text(&o.stderr);
    assert!(
        err.contains("docker-credential-cargo-slim-test-missing"),
        "{err}"
    );
    assert!(err.contains(&host), "{err}");
    assert!(err.contains("not found"), "{err}");
    assert!(!err.contains("refused"), "{err}");
}

/// Flip one byte in the middle of `digest`'s blob, in place (same inode).
fn corrupt_in_place(tar: &Path, digest: &str) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let r = cargo_slim::push::layout::locate_blobs(tar).unwrap()[digest];
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(tar)
        .unwrap();
    let at = SeekFrom::Start(r.offset + r.size / 2);
    let mut b = [0u8];
    f.seek(at).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(at).unwrap();
    f.write_all(&[b[0] ^ 0xff]).unwrap();
}

#[test]
fn corrupted_tarball_is_refused_before_any_upload() {
    let hello = hello_tar();
    let Some(reg) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("image.tar");
    std::fs::copy(&hello, &tar).unwrap();
    let layer = validate_tarball(&tar).unwrap().layers[0].digest.clone();
    let reference = format!("{}/hello:1", reg.host());

    // Pushed once (and remembered as checked) ...
    run_ok(&mut push_cmd(&[tar.to_str().unwrap(), &reference]));
    // ... then damaged in place, and pushed to a new repository: the memo of the
    // earlier check must not hide the change.
    corrupt_in_place(&tar, &layer);
    let reference = format!("{}/other/hello:1", reg.host());
    let mark = reg.mark();
    let o = run_code(&mut push_cmd(&[tar.to_str().unwrap(), &reference]), 1);
    let err = text(&o.stderr);
    assert!(err.contains("refusing to push"), "{err}");
    assert!(err.contains(tar.to_str().unwrap()), "{err}");
    assert!(err.contains(&layer[7..19]), "names the bad blob: {err}");
    assert!(err.contains("nothing was uploaded"), "{err}");
    // The registry may have been asked what it has, but got nothing.
    let reqs = reg.requests_since(mark);
    assert!(
        reqs.iter().all(|r| r.method == "GET" || r.method == "HEAD"),
        "{reqs:?}"
    );
    assert!(!reqs.iter().any(|r| r.uri.contains("/blobs/uploads")));

    // A file that is not a tarball at all: refused before any request.
    std::fs::write(&tar, b"not a tarball").unwrap();
    let mark = reg.mark();
    let o = run_code(&mut push_cmd(&[tar.to_str().unwrap(), &reference]), 1);
    assert!(text(&o.stderr).contains("refusing to push"));
    assert_eq!(reg.requests_since(mark), vec![]);
}

#[test]
fn registry_not_running_is_a_clear_error_in_bounded_time() {
    let tar = hello_tar();
    let host = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let o = run_code(
        &mut push_cmd(&[tar.to_str().unwrap(), &format!("{host}/hello:1")]),
        1,
    );
    let took = started.elapsed();
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("could not reach the registry at {host}")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert!(err.contains("gave up after 5 attempts"), "{err}");
    assert!(err.contains("is a registry running"), "{err}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// The hello image pushed to `<proxy>/<repo>` through a proxy whose first
/// `fail_first` answers are 503s, requiring exit `code`: the registry, the
/// proxy and the output; `None` when no registry can start (a skip).
fn push_through_503s(
    fail_first: usize,
    repo: &str,
    code: i32,
) -> Option<(Registry, FaultProxy, std::process::Output)> {
    let tar = hello_tar();
    let reg = Registry::start(RegistryConfig::default())?;
    let faults = Faults {
        fail_first,
        ..Faults::default()
    };
    let proxy = FaultProxy::start(reg.port, faults);
    let reference = format!("{}/{repo}", proxy.host());
    let o = run_code(&mut push_cmd(&[tar.to_str().unwrap(), &reference]), code);
    Some((reg, proxy, o))
}

#[test]
fn transient_503s_are_retried_until_the_push_succeeds() {
    let Some((reg, proxy, o)) = push_through_503s(3, "flaky/hello:1", 0) else {
        return;
    };
    let digest = local_digest(&hello_tar());
    let err = text(&o.stderr);
    assert_eq!(proxy.failed.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(err.matches("spurious network error").count(), 3, "{err}");
    assert!(err.contains("503 Service Unavailable"), "{err}");
    assert_eq!(
        text(&o.stdout).trim(),
        format!("{}/flaky/hello@{digest}", proxy.host())
    );
    // The registry behind the proxy holds the image.
    let manifests: Vec<_> = reg
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.uri == "/v2/flaky/hello/manifests/1")
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    assert_eq!(manifests[0].status, 201);
}

#[test]
fn a_registry_that_never_recovers_is_a_clear_error() {
    let started = Instant::now();
    let Some((reg, proxy, o)) = push_through_503s(usize::MAX, "down/hello:1", 1) else {
        return;
    };
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("could not reach the registry at {}", proxy.host())),
        "{err}"
    );
    assert!(err.contains("gave up after 5 attempts"), "{err}");
    assert!(err.contains("503 Service Unavailable"), "{err}");
    assert!(err.contains("try again later"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(reg.requests().is_empty(), "nothing got through the proxy");
}

/// An image with one ≥ 50 MB incompressible layer, built with the library.
fn big_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| payload_tar("big", 52)).clone()
}

#[test]
fn registry_killed_mid_upload_then_a_rerun_completes() {
    let Some(mut reg) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    if !have("skopeo") {
        return;
    }
    let tar = big_tar();
    let image = validate_tarball(&tar).unwrap();
    let (tell_tx, tell_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let proxy = FaultProxy::start(
        reg.port,
        Faults {
            go_dark_after: Some((16 << 20, tell_tx, go_rx)),
            ..Faults::default()
        },
    );
    let started = Instant::now();
    let child = push_cmd(&[tar.to_str().unwrap(), &format!("{}/big:1", proxy.host())])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // 16 MiB of the layer are in the registry's upload: kill it there and then.
    tell_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the upload reached 16 MiB");
    let uploads = reg
        .dir
        .path()
        .join("storage/docker/registry/v2/repositories/big/_uploads");
    assert!(uploads.exists(), "the registry was receiving the layer");
    reg.kill();
    go_tx.send(()).unwrap();
    let o = child.wait_with_output().unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Config and layer upload side by side: either may be the one reported.
    assert!(err.contains("could not upload"), "{err}");
    assert!(err.contains("gave up after 5 attempts"), "{err}");
    assert!(err.contains("is a registry running"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(90));

    // Restarted (same storage): a re-run completes, and what the registry serves
    // checks out blob by blob (skopeo verifies every digest it downloads).
    reg.restart();
    let reference = format!("{}/big:1", reg.host());
    let o = run_ok(&mut push_cmd(&[tar.to_str().unwrap(), &reference]));
    assert_eq!(
        text(&o.stdout).trim(),
        format!("{}/big@{}", reg.host(), image.manifest_digest)
    );
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("copy");
    run_ok(Command::new("skopeo").args([
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{reference}"),
        &format!("dir:{}", dest.display()),
    ]));
    assert_eq!(
        std::fs::read(dest.join("manifest.json")).unwrap(),
        image.manifest_bytes
    );
    let layer = std::fs::metadata(dest.join(&image.layers[0].digest[7..])).unwrap();
    assert_eq!(layer.len(), image.layers[0].size);
}

#[test]
fn progress_bar_on_a_terminal() {
    if !have_cmd("script", &["--version"]) {
        return;
    }
    let Some(reg) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    let tar = payload_tar("medium", 3);
    // `script` gives the command a pseudo-terminal and records what it drew.
    let log = tempfile::NamedTempFile::new().unwrap();
    let cmd = push_cmd(&[]);
    let line = format!(
        "{} slim push {} {}/tty:1",
        cmd.get_program().to_str().unwrap(),
        tar.display(),
        reg.host()
    );
    let mut script = Command::new("script");
    script
        .args(["-qfec", &line, log.path().to_str().unwrap()])
        .env("HOME", empty_home())
        .env_remove("DOCKER_CONFIG")
        .env_remove("CARGO_SLIM_REGISTRY_USERNAME")
        .env_remove("CARGO_SLIM_REGISTRY_PASSWORD");
    run_ok(&mut script);
    let drawn = String::from_utf8_lossy(&std::fs::read(log.path()).unwrap()).into_owned();
    assert!(
        drawn.contains("] 0 B/3.00 MiB"),
        "a bar was drawn:\n{drawn}"
    );
}

#[test]
fn build_push_uses_repository_and_tags_and_never_pushes_over_budget() {
    warm_up();
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    let host = reg.host();
    let crate_dir = copy_fixture("hello");
    let manifest = crate_dir.path().join("Cargo.toml");
    add_metadata(
        &manifest,
        &format!("repository = \"{host}/built\"\ntags = [\"{{version}}\", \"latest\"]"),
    );
    let out = crate_dir.path().join("img.tar");
    let refs = crate_dir.path().join("refs.txt");
    let mut build = slim(&[
        "--message-format",
        "json",
        "build",
        "-o",
        out.to_str().unwrap(),
        "--push",
        "--image-refs",
        refs.to_str().unwrap(),
    ]);
    isolate(&mut build);
    let o = run_ok(build.current_dir(crate_dir.path()));
    let lines: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
    let built: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let pushed: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(built["reason"], "image-built");
    assert_eq!(pushed["reason"], "pushed");
    let digest = local_digest(&out);
    assert_eq!(built["manifest_digest"], digest.as_str());
    assert_eq!(
        std::fs::read_to_string(&refs).unwrap().trim(),
        format!("{host}/built@{digest}")
    );
    for tag in ["0.1.0", "latest"] {
        let d = skopeo_digest(&format!("{host}/built:{tag}"), &["--tls-verify=false"]);
        assert_eq!(d, digest, "tag {tag}");
    }

    // Over budget: exit 3 and nothing reaches the registry.
    let mark = reg.mark();
    let mut over = slim(&[
        "build",
        "-o",
        out.to_str().unwrap(),
        "--push",
        &format!("{host}/over:1"),
        "--max-image-size",
        "1KiB",
    ]);
    isolate(&mut over);
    over.current_dir(crate_dir.path());
    run_code(&mut over, 3);
    assert!(
        reg.requests_since(mark).is_empty(),
        "a build over budget must not push"
    );
}

/// `cargo slim report` checks a tarball (the same `validate` push runs) by
/// streaming it: the peak RSS stays under 1.5 × the layer + 32 MiB, not the
/// three copies (tarball, layer, uncompressed tar) the checker once held.
#[test]
fn checking_a_big_tarball_streams_it() {
    if !have("/usr/bin/time") {
        return;
    }
    let tar = big_tar();
    let layer = std::fs::metadata(&tar).unwrap().len();
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "maxrss-kib=%M"])
        .arg(env!("CARGO_BIN_EXE_cargo-slim"))
        .args(["slim", "report"])
        .arg(&tar)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let kib: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maxrss in {stderr}"));
    let limit = layer * 3 / 2 + (32 << 20);
    assert!(
        kib * 1024 < limit,
        "peak RSS {kib} KiB for a {layer}-byte tarball (limit {limit} bytes)"
    );
}

/// Upload requests (the session POSTs) the registry logged since `mark`.
fn upload_sessions(reg: &Registry, mark: usize) -> usize {
    reg.requests_since(mark)
        .iter()
        .filter(|r| r.method == "POST" && r.uri.contains("/blobs/uploads"))
        .count()
}

/// `skopeo inspect --raw`: the bytes the registry serves for `reference`.
fn skopeo_raw(reference: &str, extra: &[&str]) -> Vec<u8> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"])
        .args(extra)
        .arg(format!("docker://{reference}"));
    run_ok(&mut cmd).stdout
}

/// Archives skopeo writes (OCI and docker-archive) are reported and
/// pushed; the docker one as an OCI manifest with its uncompressed layers, which
/// podman pulls and runs; a damaged one is refused before any upload.
#[test]
fn skopeo_oci_and_docker_archives_report_push_and_run() {
    let hello = hello_tar();
    let Some(reg) = Registry::with_skopeo_and_podman() else {
        return;
    };
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let sk = dir.path().join("sk.tar");
    let dk = dir.path().join("dk.tar");
    for (transport, out) in [("oci-archive", &sk), ("docker-archive", &dk)] {
        run_ok(Command::new("skopeo").args([
            "copy",
            &format!("oci-archive:{}", hello.display()),
            &format!("{transport}:{}:localhost/hello:1", out.display()),
        ]));
        let o = run_ok(&mut slim(&[
            "report",
            out.to_str().unwrap(),
            "--message-format",
            "json",
        ]));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["platform"], "linux/amd64", "{transport}");
        assert!(
            r["sizes"]["binary_final"].as_u64().unwrap() > 100_000,
            "{r}"
        );
    }

    // The OCI archive: the manifest skopeo wrote is pushed byte for byte.
    let index: serde_json::Value = {
        let mut ar = cargo_slim::oci::Archive::open(
            std::fs::File::open(&sk).unwrap(),
            cargo_slim::oci::Strictness::Lenient,
        )
        .unwrap();
        ar.read_json("index.json").unwrap()
    };
    let sk_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let o = run_ok(&mut push_cmd(&[
        sk.to_str().unwrap(),
        &format!("{host}/sk:1"),
    ]));
    assert_eq!(text(&o.stdout).trim(), format!("{host}/sk@{sk_digest}"));

    // The docker archive: an OCI manifest, layers as stored (uncompressed,
    // digest = diff_id), config as stored.
    let reference = format!("{host}/dk:1");
    let o = run_ok(&mut push_cmd(&[dk.to_str().unwrap(), &reference, "-v"]));
    eprintln!("{}", text(&o.stderr));
    let raw = skopeo_raw(&reference, &[]);
    let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        text(&o.stdout).trim(),
        format!("{host}/dk@{}", cargo_slim::digest::sha256_digest(&raw))
    );
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let layer = &m["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    let cfg: serde_json::Value =
        serde_json::from_slice(&skopeo_raw(&reference, &["--config"])).unwrap();
    assert_eq!(layer["digest"], cfg["rootfs"]["diff_ids"][0]);
    pull_and_run(&reference);

    // Re-push: nothing uploaded.
    let mark = reg.mark();
    run_ok(&mut push_cmd(&[dk.to_str().unwrap(), &reference]));
    assert_eq!(upload_sessions(&reg, mark), 0);

    // One flipped byte in the docker layer: refused, nothing uploaded.
    let name = layer["digest"].as_str().unwrap()["sha256:".len()..].to_string();
    let (offset, size) = {
        let ar = cargo_slim::oci::Archive::open(
            std::fs::File::open(&dk).unwrap(),
            cargo_slim::oci::Strictness::Lenient,
        )
        .unwrap();
        let e = ar
            .index()
            .entries()
            .iter()
            .find(|e| e.name.contains(&name))
            .unwrap_or_else(|| panic!("no layer file {name} in the archive"));
        (e.offset, e.size)
    };
    let mut bytes = std::fs::read(&dk).unwrap();
    bytes[(offset + size / 2) as usize] ^= 0xff;
    std::fs::write(&dk, bytes).unwrap();
    let mark = reg.mark();
    let o = run_code(
        &mut push_cmd(&[dk.to_str().unwrap(), &format!("{host}/bad:1")]),
        1,
    );
    let err = text(&o.stderr);
    assert!(err.contains("refusing to push"), "{err}");
    assert!(err.contains("nothing was uploaded"), "{err}");
    assert!(err.contains("diff_id") || err.contains("corrupt"), "{err}");
    assert_eq!(upload_sessions(&reg, mark), 0, "{err}");
}

/// Anything that is not an image archive gets one sentence saying what it is.
#[test]
fn not_an_image_archive_is_named_for_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let random = dir.path().join("random.tar");
    let mut t = crate::support::tar::Tar::ustar();
    t.file("hello.txt", 0o644, b"hi");
    std::fs::write(&random, t.finish()).unwrap();
    let elf = std::env::current_exe().unwrap();
    let host = format!("127.0.0.1:{}", free_port());
    for (path, says) in [
        (
            random.as_path(),
            "a tar archive without `index.json` or `manifest.json`",
        ),
        (
            elf.as_path(),
            "is not an image tarball: it is an ELF executable",
        ),
        (dir.path(), "is a directory"),
    ] {
        let p = path.to_str().unwrap();
        let o = run_code(&mut push_cmd(&[p, &format!("{host}/x:1")]), 1);
        let push_err = text(&o.stderr);
        let o = run_code(&mut slim(&["report", p]), 1);
        let report_err = text(&o.stderr);
        for err in [&push_err, &report_err] {
            assert!(err.contains(says), "{path:?}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
        if path != dir.path() {
            assert!(
                push_err.contains("oci-archive"),
                "what push expects: {push_err}"
            );
        }
    }
}

/// A multi-platform archive pushes every blob once, each manifest by
/// digest, then the index under the tag; skopeo sees our index bytes and each
/// platform's manifest. The SBOM artifact is skipped with a note.
#[test]
fn a_multi_platform_archive_pushes_an_index() {
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("multi.tar");
    // The same payload: one layer blob shared by both platforms.
    let data = noise(11, 200_000);
    let images = [
        payload_image("multi", &data, "amd64"),
        payload_image("multi", &data, "arm64"),
    ];
    assert_eq!(
        images[0].layers[0].blob.digest,
        images[1].layers[0].blob.digest
    );
    let w = multi_platform_archive(&tar, "localhost/multi:1", &images, Shape::Nested, true);
    let index = w.index.unwrap();
    let index_digest = cargo_slim::digest::sha256_digest(&index);

    let reference = format!("{host}/multi:1");
    let mark = reg.mark();
    let o = run_ok(&mut push_cmd(&[
        tar.to_str().unwrap(),
        &reference,
        "--message-format",
        "json",
    ]));
    let err = text(&o.stderr);
    let line: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(line["digest"], index_digest.as_str(), "{err}");
    assert_eq!(
        line["blobs_uploaded"], 5,
        "two configs, one shared layer, the SBOM's empty config and document: {err}"
    );
    assert_eq!(upload_sessions(&reg, mark), 5);
    // The SBOM (a second entry of index.json, attached to amd64) goes as a referrer.
    let sbom = w.sbom.unwrap();
    assert!(err.contains("Attached SPDX SBOM"), "{err}");
    assert!(err.contains(&sbom[..19]), "{err}");
    let referrers: serde_json::Value = serde_json::from_slice(&skopeo_raw(
        &format!("{host}/multi:{}", w.manifests[0].replace(':', "-")),
        &[],
    ))
    .unwrap();
    assert_eq!(referrers["manifests"][0]["digest"], sbom.as_str());

    assert_eq!(skopeo_raw(&reference, &[]), index);
    let inspect = |arch: &str, reference: &str| -> serde_json::Value {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--tls-verify=false", "--override-os", "linux"])
            .args(["--override-arch", arch])
            .arg(format!("docker://{reference}"));
        serde_json::from_slice(&run_ok(&mut cmd).stdout).unwrap()
    };
    for (arch, want) in [("amd64", &w.manifests[0]), ("arm64", &w.manifests[1])] {
        // Resolving the tag for the platform lands on that platform's manifest.
        // (skopeo's `Digest` is the tag's, the index's; the platform's comes by
        // digest below.)
        let v = inspect(arch, &reference);
        assert_eq!(v["Architecture"], arch);
        assert_eq!(v["Digest"], index_digest.as_str());
        let v = inspect(arch, &format!("{host}/multi@{want}"));
        assert_eq!(v["Architecture"], arch);
        assert_eq!(&v["Digest"], want.as_str());
        let per_platform = skopeo_raw(&format!("{host}/multi@{want}"), &[]);
        assert_eq!(&cargo_slim::digest::sha256_digest(&per_platform), want);
    }

    // Re-push: nothing uploaded, nothing written.
    let mark = reg.mark();
    run_ok(&mut push_cmd(&[tar.to_str().unwrap(), &reference]));
    assert_eq!(upload_sessions(&reg, mark), 0);

    // The same images listed flat in index.json, all with a platform: pushed as an
    // index; the blobs are all there already.
    let flat = dir.path().join("flat.tar");
    multi_platform_archive(&flat, "localhost/multi:1", &images, Shape::Flat, false);
    let mark = reg.mark();
    let o = run_ok(&mut push_cmd(&[
        flat.to_str().unwrap(),
        &format!("{host}/multi:flat"),
    ]));
    assert_eq!(upload_sessions(&reg, mark), 0);
    let raw = skopeo_raw(&format!("{host}/multi:flat"), &[]);
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(v["manifests"][1]["platform"]["variant"], "v8");
    assert!(text(&o.stdout).contains(&cargo_slim::digest::sha256_digest(&raw)));

    // An index naming a platform the archive does not carry: the image it holds
    // is pushed alone, with a note.
    let partial = dir.path().join("partial.tar");
    multi_platform_archive(
        &partial,
        "localhost/multi:1",
        &images,
        Shape::NestedPartial,
        false,
    );
    let o = run_ok(&mut push_cmd(&[
        partial.to_str().unwrap(),
        &format!("{host}/multi:partial"),
    ]));
    assert!(
        text(&o.stdout).contains(&w.manifests[0]),
        "{}",
        text(&o.stdout)
    );
    assert!(
        text(&o.stderr).contains("that image alone"),
        "{}",
        text(&o.stderr)
    );

    // Flat with one image without a platform: which one is meant is unclear.
    let odd = dir.path().join("odd.tar");
    multi_platform_archive(
        &odd,
        "localhost/multi:1",
        &images,
        Shape::FlatOneUnplatformed,
        false,
    );
    let mark = reg.mark();
    let o = run_code(
        &mut push_cmd(&[odd.to_str().unwrap(), &format!("{host}/multi:odd")]),
        1,
    );
    let err = text(&o.stderr);
    assert!(err.contains("not all with a platform"), "{err}");
    assert!(err.contains(&w.manifests[1]), "names the images: {err}");
    assert_eq!(
        reg.requests_since(mark),
        vec![],
        "refused before any request"
    );
}

/// `--image-refs` naming a folder (a usage error, exit 2) or a place no file
/// can be created (exit 1) fails before anything is pushed: the registry sees
/// no request, the tag does not exist, and stdout stays empty. The same for
/// `build --push`, which fails before it builds.
#[test]
fn a_bad_image_refs_path_fails_before_any_push() {
    let tar = hello_tar();
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("refs");
    std::fs::create_dir(&folder).unwrap();
    let slash = format!("{}/new/", dir.path().display());
    for (refs, code, want) in [
        (folder.to_str().unwrap(), 2, "names a folder"),
        (slash.as_str(), 2, "names a folder"),
        ("/proc/cargo-slim-refs.txt", 1, "/proc"),
    ] {
        let mark = reg.mark();
        let reference = format!("{host}/refs:1");
        let o = run_code(
            &mut push_cmd(&[tar.to_str().unwrap(), &reference, "--image-refs", refs]),
            code,
        );
        let err = text(&o.stderr);
        assert!(err.contains("--image-refs") || err.contains(want), "{err}");
        assert!(err.contains(want), "{err}");
        assert!(o.stdout.is_empty(), "{}", text(&o.stdout));
        assert!(
            reg.requests_since(mark).is_empty(),
            "{refs}: nothing may reach the registry"
        );
    }
    // Read back once all three were refused: skopeo's own requests, logged by the
    // registry a moment later, would otherwise land after the next `mark`.
    let inspect = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{host}/refs:1"))
        .output()
        .unwrap();
    assert!(!inspect.status.success(), "the tag was not pushed");
    assert!(std::fs::read_dir(&folder).unwrap().next().is_none());

    // build --push: refused before the build (no tarball), exit 2.
    let out = dir.path().join("img.tar");
    let manifest = fixture("hello").join("Cargo.toml");
    let mut build = build_manifest(
        &manifest,
        &[
            "-o",
            out.to_str().unwrap(),
            "--push",
            &format!("{host}/refs:2"),
            "--image-refs",
            folder.to_str().unwrap(),
        ],
    );
    isolate(&mut build);
    let o = run_code(&mut build, 2);
    assert!(
        text(&o.stderr).contains("names a folder"),
        "{}",
        text(&o.stderr)
    );
    assert!(!out.exists(), "nothing was built");
}
