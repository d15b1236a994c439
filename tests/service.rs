//! A real service's image: testdata/service uses every contents key (`files` with
//! modes and an owner, `tmp`, `passwd`, `user = "nonroot"`, `stop-signal`,
//! `annotations`, `labels`), and podman runs it: it reads its files, writes to
//! /tmp and to its own /data as uid 65532, finds its name in /etc/passwd, and
//! serves /public to the host over loopback. skopeo reads what the config and the
//! manifest say; the layers are checked entry by entry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cargo_slim::oci::{Archive, EntryKind, Strictness};
use cargo_slim::validate::validate_tarball;
use serde_json::Value;

use crate::support::*;

fn build_service(dir: &Path, extra: &[&str]) -> (PathBuf, String) {
    let out = dir.join("service.tar");
    let o = run_ok(&mut build_fixture("service", &out, extra));
    (out, text(&o.stderr))
}

/// One layer as read back: its digest and (path, kind, mode, uid) of each entry.
type Listed = (String, Vec<(String, char, u32, u64)>);

/// The layers of `tar`, read with the library's image reader. (Not `validate`:
/// it insists on uid 0 everywhere, and `owner` sets other ids on purpose.)
fn layers(tar: &Path) -> Vec<Listed> {
    let mut ar = Archive::open(std::fs::File::open(tar).unwrap(), Strictness::Lenient).unwrap();
    let img = ar.image(None).unwrap();
    img.layers
        .iter()
        .map(|l| {
            let mut entries = Vec::new();
            ar.walk_layer(l, |e, _| {
                let kind = match e.kind {
                    EntryKind::File => 'f',
                    EntryKind::Dir => 'd',
                    _ => '?',
                };
                entries.push((e.path.clone(), kind, e.mode & 0o7777, e.uid));
                Ok(())
            })
            .unwrap();
            (l.digest.clone().unwrap(), entries)
        })
        .collect()
}

/// `cargo slim build --manifest-path MANIFEST -o OUT` (for a copied fixture).
fn build_at(manifest: &Path, out: &Path) -> Command {
    let mut cmd = slim(&["build", "--manifest-path"]);
    cmd.arg(manifest).arg("-o").arg(out);
    cmd
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn service_layers_hold_system_files_then_files_then_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (tar, _) = build_service(dir.path(), &[]);
    let listed = layers(&tar);
    assert_eq!(listed.len(), 3);
    let entries = |i: usize| listed[i].1.clone();
    let e = |p: &str, k: char, m: u32, u: u64| (p.to_string(), k, m, u);
    assert_eq!(
        entries(0),
        [
            e("etc", 'd', 0o555, 0),
            e("etc/group", 'f', 0o444, 0),
            e("etc/passwd", 'f', 0o444, 0),
            e("tmp", 'd', 0o1777, 0),
        ]
    );
    assert_eq!(
        entries(1),
        [
            e("data", 'd', 0o755, 65532),
            e("data/seed.txt", 'f', 0o644, 65532),
            e("etc", 'd', 0o555, 0),
            e("etc/app", 'd', 0o555, 0),
            e("etc/app/app.toml", 'f', 0o444, 0),
            e("public", 'd', 0o555, 0),
            e("public/css", 'd', 0o555, 0),
            e("public/css/site.css", 'f', 0o444, 0),
            e("public/index.html", 'f', 0o444, 0),
        ]
    );
    assert_eq!(entries(2), [e("service", 'f', 0o555, 0)]);
    // The report lists each layer, human and JSON.
    let sidecar = tar.with_file_name("service.report.json");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(sidecar).unwrap()).unwrap();
    let layers = report["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    for ((digest, _), v) in listed.iter().zip(layers) {
        assert_eq!(v["digest"], digest.as_str());
        assert!(v["compressed"].as_u64().unwrap() > 0, "{v}");
        assert!(
            v["uncompressed"].as_u64().unwrap() > v["compressed"].as_u64().unwrap(),
            "{v}"
        );
    }
    assert_eq!(
        layers[0]["holds"],
        "system files: /etc/passwd, /etc/group, /tmp"
    );
    assert_eq!(
        layers[1]["holds"],
        "files: /public, /etc/app/app.toml, /data"
    );
    assert_eq!(layers[2]["holds"], "static binary /service");
    // verify accepts `User: nonroot`: the image has an /etc/passwd to resolve it.
    let verified = run_ok(&mut slim(&["verify", tar.to_str().unwrap()]));
    assert!(
        text(&verified.stdout).contains(": ok ("),
        "{}",
        text(&verified.stdout)
    );
    let shown = run_ok(&mut slim(&["report", tar.to_str().unwrap()]));
    let human = text(&shown.stderr);
    assert!(
        human.contains("layers (gzip, tar)") && human.contains("3. static binary /service"),
        "{human}"
    );
    // Without the sidecar, `report` reads the layers from the tarball itself.
    std::fs::remove_file(tar.with_file_name("service.report.json")).unwrap();
    let again = run_ok(&mut slim(&[
        "report",
        "--message-format",
        "json",
        tar.to_str().unwrap(),
    ]));
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["layers"], report["layers"]);
}

#[test]
fn a_new_binary_leaves_the_other_layers_as_they_were() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (ta, _) = build_service(a.path(), &[]);
    let (tb, _) = build_service(b.path(), &["--features", "alt"]);
    let digests = |t: &Path| layers(t).into_iter().map(|l| l.0).collect::<Vec<_>>();
    let (da, db) = (digests(&ta), digests(&tb));
    assert_eq!(da[..2], db[..2], "system and files layers must not change");
    assert_ne!(da[2], db[2], "the binary changed, so must its layer");
}

#[test]
fn hello_keeps_one_layer_and_gets_labels_from_cargo_toml() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello.tar");
    let o = run_ok(build_fixture("hello", &out, &[]).env("SOURCE_DATE_EPOCH", "1700000000"));
    let img = validate_tarball(&out).unwrap();
    assert_eq!(img.layers.len(), 1);
    assert_eq!(img.config["history"].as_array().unwrap().len(), 1);
    let labels = &img.config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.title"], "hello");
    assert_eq!(labels["org.opencontainers.image.version"], "0.1.0");
    assert_eq!(
        labels["org.opencontainers.image.description"],
        "cargo-slim's bundled example: prints one line and exits"
    );
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert!(labels.get("org.opencontainers.image.licenses").is_none());
    // revision: HEAD of a clean checkout; a note and no label when it is dirty.
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(fixture("hello"))
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| text(&o.stdout))
    };
    let stderr = text(&o.stderr);
    match (git(&["rev-parse", "HEAD"]), git(&["status", "--porcelain"])) {
        (Some(head), Some(status)) if status.trim().is_empty() => {
            assert_eq!(labels["org.opencontainers.image.revision"], head.trim());
        }
        (Some(_), Some(_)) => {
            assert!(labels.get("org.opencontainers.image.revision").is_none());
            assert!(stderr.contains("uncommitted changes"), "{stderr}");
        }
        _ => assert!(labels.get("org.opencontainers.image.revision").is_none()),
    }
}

#[test]
fn a_copy_outside_git_has_no_revision_and_user_labels_win() {
    let copy = copy_fixture("service");
    let out = copy.path().join("out.tar");
    let o = run_ok(&mut build_at(&copy.path().join("Cargo.toml"), &out));
    assert!(
        !text(&o.stderr).contains("uncommitted"),
        "{}",
        text(&o.stderr)
    );
    let mut ar = Archive::open(std::fs::File::open(&out).unwrap(), Strictness::Lenient).unwrap();
    let config = ar.image(None).unwrap().config;
    let labels = &config["config"]["Labels"];
    assert!(labels.get("org.opencontainers.image.revision").is_none());
    assert!(labels.get("org.opencontainers.image.created").is_none());
    assert_eq!(
        labels["org.opencontainers.image.documentation"],
        "https://example.invalid/override"
    );
}

#[test]
fn bad_contents_keys_fail_before_the_build_naming_the_entry() {
    let copy = copy_fixture("service");
    let manifest = copy.path().join("Cargo.toml");
    let original = std::fs::read_to_string(&manifest).unwrap();
    for (from, to, want) in [
        ("src = \"public/\"", "src = \"../hello\"", "files[0]"),
        (
            "src = \"app.toml\"",
            "src = \"missing.toml\"",
            "does not exist",
        ),
        ("mode = \"0444\"", "mode = \"rw-r--r--\"", "octal"),
        ("owner = \"65532:65532\"", "owner = \"nonroot\"", "UID:GID"),
        (
            "stop-signal = \"SIGQUIT\"",
            "stop-signal = \"SIGNOPE\"",
            "stop-signal",
        ),
        ("passwd = true", "passwd = false", "`user`"),
    ] {
        std::fs::write(&manifest, original.replace(from, to)).unwrap();
        let out = copy.path().join("x.tar");
        let o = run_code(&mut build_at(&manifest, &out), 1);
        let e = text(&o.stderr);
        assert!(e.contains(want) && e.contains("Cargo.toml"), "{to}: {e}");
        assert!(!e.contains("Compiling") && !out.exists(), "{to}: {e}");
    }
}

#[test]
fn podman_runs_the_service_and_skopeo_reads_its_config() {
    if !(have("podman") && have("skopeo")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("localhost/slim-e2e-service:{}", std::process::id());
    let (tar, _) = build_service(dir.path(), &["--tag", &tag]);
    let oci = format!("oci-archive:{}", tar.display());

    let config = json(&run_ok(
        Command::new("skopeo").args(["inspect", "--config", &oci]),
    ));
    let c = &config["config"];
    assert_eq!(c["User"], "nonroot");
    assert_eq!(c["StopSignal"], "SIGQUIT");
    assert_eq!(c["Cmd"], serde_json::json!(["check"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/service"]));
    assert_eq!(c["Env"], serde_json::json!(["SERVICE_GREETING=hello"]));
    assert!(c["ExposedPorts"].get("8080/tcp").is_some(), "{c}");
    let inspect = json(&run_ok(Command::new("skopeo").args(["inspect", &oci])));
    let labels = &inspect["Labels"];
    for (k, v) in [
        ("title", "service"),
        ("version", "0.3.1"),
        ("licenses", "MIT OR Apache-2.0"),
        ("source", "https://example.invalid/cargo-slim/service"),
        ("url", "https://example.invalid/service"),
        ("documentation", "https://example.invalid/override"),
    ] {
        assert_eq!(
            labels[format!("org.opencontainers.image.{k}")],
            v,
            "{labels}"
        );
    }
    assert_eq!(labels["org.example.team"], "slim");
    // `--raw` shows the tarball's top: the index of the image and its SBOM.
    let raw = json(&run_ok(
        Command::new("skopeo").args(["inspect", "--raw", &oci]),
    ));
    assert_eq!(raw["manifests"][0]["platform"]["architecture"], "amd64");
    assert_eq!(raw["manifests"][1]["artifactType"], "application/spdx+json");
    // The image's own manifest carries the annotation.
    let manifest: serde_json::Value =
        serde_json::from_slice(&skopeo_copied_manifest(&oci, &dir.path().join("copied"))).unwrap();
    assert_eq!(manifest["annotations"]["org.example.note"], "x");

    run_ok(Command::new("podman").args(["load", "-i"]).arg(&tar));
    let run = run_ok(Command::new("podman").args(["run", "--rm", "--runtime", "runc", &tag]));
    let out = text(&run.stdout);
    for want in [
        "service build A",
        "user: nonroot (65532)",
        "public: css/site.css index.html",
        "config: greeting = \"from /etc/app/app.toml\"",
        "wrote /tmp/probe.txt (7 bytes)",
        "wrote /data/probe.txt (7 bytes)",
        "env: SERVICE_GREETING=hello",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }

    // The HTTP server, on a free loopback port, answers the host.
    let port = crate::support::registry::free_port().to_string();
    let name = format!("slim-e2e-service-{}", std::process::id());
    run_ok(Command::new("podman").args([
        "run",
        "-d",
        "--rm",
        "--runtime",
        "runc",
        "--network",
        "host",
        "--name",
        &name,
        &tag,
        "serve",
        &port,
    ]));
    let body = get(&format!("127.0.0.1:{port}"), "/index.html");
    let missing = get(&format!("127.0.0.1:{port}"), "/nope");
    let _ = Command::new("podman")
        .args(["rm", "-f", "-t", "0", &name])
        .output();
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
    let body = body.expect("the service answered");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(
        body.ends_with(&std::fs::read_to_string(fixture("service/public/index.html")).unwrap()),
        "{body}"
    );
    assert!(missing.unwrap().starts_with("HTTP/1.1 404"));
}

/// `GET path` from `addr`, retried while the container starts (up to 20 s).
fn get(addr: &str, path: &str) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Some(out) = http_get(addr, path) {
            return Some(out);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}
