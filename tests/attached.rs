//! SBOMs attached to the image: inside the tarball (an index of the image and
//! its SBOM artifacts, which podman and skopeo still load as the image), in
//! `verify` and `report`, and on push as referrers of the image in a real
//! registry (Debian's distribution 2.8 has no referrers API: the
//! `sha256-<hex>` tag fallback, merged with what the tag holds).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::registry::Registry;
use crate::support::*;

fn json_out(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The sbomdeps fixture built with `extra`, without provenance (its artifact is
/// tests/provenance.rs's subject): the artifacts here are the SBOMs only.
fn build_sbomdeps(dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let out = dir.join("sbomdeps.tar");
    let mut cmd = build_fixture("sbomdeps", &out, extra);
    run_ok(cmd.args(["--provenance", "none"]));
    out
}

#[test]
fn the_sboms_are_inside_the_tarball_and_every_loader_still_takes_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let tar = build_sbomdeps(dir.path(), &["--sbom", "spdx,cyclonedx"]);
    let set = cargo_slim::validate::validate_set(&tar).unwrap();
    assert_eq!(set.images.len(), 1);
    let image = &set.images[0];
    // One artifact per format, attached to the image, its layer the file beside.
    let formats: Vec<&str> = set.artifacts.iter().map(|a| a.format.as_str()).collect();
    assert_eq!(formats, ["spdx", "cyclonedx"]);
    for (a, file) in set
        .artifacts
        .iter()
        .zip(["sbomdeps.spdx.json", "sbomdeps.cdx.json"])
    {
        assert_eq!(a.subject, image.manifest_digest);
        let beside = std::fs::read(dir.path().join(file)).unwrap();
        assert_eq!(a.layer_digest, cargo_slim::digest::sha256_digest(&beside));
        assert_eq!(a.layer_size, beside.len() as u64);
    }
    // The digest users pull is still the image manifest's.
    assert_eq!(set.digest(), image.manifest_digest);
    // With `--sbom none` the tarball is the plain single-image layout.
    let plain = tempfile::tempdir().unwrap();
    let plain_tar = build_sbomdeps(plain.path(), &["--sbom", "none"]);
    let plain_set = cargo_slim::validate::validate_set(&plain_tar).unwrap();
    assert!(plain_set.index_digest.is_none() && plain_set.artifacts.is_empty());

    if have("skopeo") {
        // oci-archive: skopeo picks the image out of the index, byte for byte.
        let manifest = skopeo_copied_manifest(
            &format!("oci-archive:{}", tar.display()),
            &dir.path().join("copied"),
        );
        assert_eq!(
            cargo_slim::digest::sha256_digest(&manifest),
            image.manifest_digest
        );
        // docker-archive: manifest.json names the image as before.
        let docker = dir.path().join("docker");
        skopeo_copied_manifest(&format!("docker-archive:{}", tar.display()), &docker);
        let config: Value = serde_json::from_slice(
            &std::fs::read(docker.join(image.config_digest.trim_start_matches("sha256:"))).unwrap(),
        )
        .unwrap();
        assert_eq!(config["config"]["Entrypoint"][0], "/sbomdeps");
    }
    if have("podman") {
        let tag = format!("localhost/slim-sbom-attached:{}", std::process::id());
        let tagged = build_sbomdeps(dir.path(), &["--tag", &tag]);
        run_ok(Command::new("podman").args(["load", "-i"]).arg(&tagged));
        let o = run_ok(Command::new("podman").args(["run", "--rm", "--runtime", "runc", &tag]));
        assert_eq!(text(&o.stdout).trim(), "sbomdeps 42");
        let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
    }
}

#[test]
fn verify_and_report_name_the_sboms_and_the_dep_v0_list() {
    let dir = tempfile::tempdir().unwrap();
    let tar = build_sbomdeps(dir.path(), &["--sbom", "spdx,cyclonedx"]);
    let path = tar.to_str().unwrap();
    let v = json_out(&run_ok(&mut slim(&[
        "verify",
        "--message-format",
        "json",
        path,
    ])));
    let sboms = v["sbom"].as_array().unwrap();
    assert_eq!(sboms.len(), 2, "{v}");
    assert_eq!(sboms[0]["format"], "spdx");
    assert_eq!(sboms[1]["format"], "cyclonedx");
    // sbomdeps and itoa: exactly the linked crates.
    assert!(sboms.iter().all(|s| s["packages"] == 2), "{v}");
    assert_eq!(v["dep_v0"]["packages"], 2, "{v}");
    let human = run_ok(&mut slim(&["verify", path]));
    assert!(
        text(&human.stdout)
            .contains("SBOM spdx (2 crates), SBOM cyclonedx (2 crates), .dep-v0 (2 crates)"),
        "{}",
        text(&human.stdout)
    );
    let r = run_ok(&mut slim(&["report", "--message-format", "json", path]));
    let line: Value = serde_json::from_str(text(&r.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(line["sbom"][0]["packages"], 2, "{line}");
    assert_eq!(line["sbom"][1]["format"], "cyclonedx", "{line}");
    // The table goes to stderr (stdout has the path).
    let table = run_ok(&mut slim(&["report", path]));
    assert!(
        text(&table.stderr).contains("SBOM attached: spdx (2 crates), cyclonedx (2 crates)"),
        "{}",
        text(&table.stderr)
    );

    // Without either, verify says what scanners will miss, and still passes.
    let none = tempfile::tempdir().unwrap();
    let bare = build_sbomdeps(none.path(), &["--sbom", "none"]);
    let v = json_out(&run_ok(&mut slim(&[
        "verify",
        "--message-format",
        "json",
        bare.to_str().unwrap(),
    ])));
    assert_eq!(v["sbom"], serde_json::json!([]));
    assert!(v["dep_v0"].is_null(), "{v}");
    let notes = v["notes"].to_string();
    assert!(notes.contains("no SBOM is attached"), "{notes}");
    assert!(notes.contains("has no `.dep-v0` section"), "{notes}");
}

/// The referrers index under `sha256-<hex>` of `subject`, as skopeo reads it.
fn referrers(host: &str, repo: &str, subject: &str) -> Value {
    let tag = subject.replace(':', "-");
    let o = run_ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{host}/{repo}:{tag}"),
    ]));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn push_attaches_the_sboms_as_referrers_and_merges_with_the_tag() {
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let tar = build_sbomdeps(dir.path(), &[]);
    let image = cargo_slim::validate::validate_tarball(&tar)
        .unwrap()
        .manifest_digest;
    let o = run_ok(&mut push_cmd(&[
        tar.to_str().unwrap(),
        &format!("{host}/sbomdeps:1"),
    ]));
    assert!(
        text(&o.stderr).contains("Attached SPDX SBOM"),
        "{}",
        text(&o.stderr)
    );
    // The tag names the image manifest, not the tarball's index.
    assert_eq!(text(&o.stdout).trim(), format!("{host}/sbomdeps@{image}"));
    let index = referrers(&host, "sbomdeps", &image);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{index}");
    assert_eq!(listed[0]["artifactType"], "application/spdx+json");
    // Its layer blob is the very document beside the tarball.
    let pulled = dir.path().join("pulled");
    let artifact = listed[0]["digest"].as_str().unwrap();
    run_ok(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{host}/sbomdeps@{artifact}"),
        &format!("dir:{}", pulled.display()),
    ]));
    let spdx = std::fs::read(dir.path().join("sbomdeps.spdx.json")).unwrap();
    let hex = cargo_slim::digest::sha256_hex(&spdx);
    assert_eq!(std::fs::read(pulled.join(&hex)).unwrap(), spdx);

    // Another tool attached a signature meanwhile (a real manifest, whose blobs
    // the registry has); then the same image is pushed with a CycloneDX document
    // too: the tag keeps all and lists SPDX once.
    let sig_type = "application/vnd.dev.cosign.artifact.sig.v1+json";
    let signature = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": sig_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                   "digest": cargo_slim::digest::sha256_digest(b"{}")},
        "layers": [{"mediaType": sig_type, "digest": format!("sha256:{hex}"), "size": spdx.len()}],
    });
    let sig_bytes = serde_json::to_vec(&signature).unwrap();
    let sig_digest = cargo_slim::digest::sha256_digest(&sig_bytes);
    put(
        &host,
        &format!("sbomdeps/manifests/{sig_digest}"),
        "application/vnd.oci.image.manifest.v1+json",
        &sig_bytes,
    );
    let mut theirs = index.clone();
    theirs["manifests"].as_array_mut().unwrap().insert(
        0,
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sig_digest,
            "size": sig_bytes.len(),
            "artifactType": sig_type,
        }),
    );
    put(
        &host,
        &format!("sbomdeps/manifests/{}", image.replace(':', "-")),
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&theirs).unwrap(),
    );
    let both = tempfile::tempdir().unwrap();
    let tar2 = build_sbomdeps(both.path(), &["--sbom", "spdx,cyclonedx"]);
    let o = run_ok(&mut push_cmd(&[
        tar2.to_str().unwrap(),
        &format!("{host}/sbomdeps:1"),
    ]));
    let err = text(&o.stderr);
    assert!(
        err.contains("Attached SPDX SBOM") && err.contains("(listed as its referrer)"),
        "{err}"
    );
    assert!(
        err.contains("Attached CycloneDX SBOM") && err.contains("(referrers tag"),
        "{err}"
    );
    let index = referrers(&host, "sbomdeps", &image);
    let types: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["artifactType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "application/vnd.dev.cosign.artifact.sig.v1+json",
            "application/spdx+json",
            "application/vnd.cyclonedx+json"
        ],
        "{index}"
    );
}

/// PUT `body` at `/v2/{path}` of the registry, over plain HTTP/1.1.
fn put(host: &str, path: &str, content_type: &str, body: &[u8]) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "PUT /v2/{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}

/// go-containerregistry's registry (`cmd/registry`, built by `.ci/run` from
/// Debian's packaged source into `target/tools/`): an in-memory registry that
/// has the OCI 1.1 referrers API, which Debian's distribution 2.8 lacks.
struct GgcrRegistry {
    child: std::process::Child,
    port: u16,
}

impl GgcrRegistry {
    fn start() -> Option<GgcrRegistry> {
        let bin = std::env::var_os("CARGO_SLIM_GGCR_REGISTRY")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| repo().join("target/tools/ggcr-registry"));
        if !bin.exists() {
            assert!(
                !in_ci(),
                "{} is missing: .ci/run builds it (golang-go and golang-github-google-go-containerregistry-dev)",
                bin.display()
            );
            eprintln!("skipping: no {} (see .ci/run)", bin.display());
            return None;
        }
        let port = crate::support::registry::free_port();
        let child = Command::new(&bin)
            .arg("-port")
            .arg(port.to_string())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed().as_secs() < 20,
                "ggcr registry did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(GgcrRegistry { child, port })
    }
}

impl Drop for GgcrRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn on_a_registry_with_the_referrers_api_the_api_lists_the_sboms_and_no_tag_is_written() {
    let Some(reg) = GgcrRegistry::start() else {
        return;
    };
    let host = format!("127.0.0.1:{}", reg.port);
    let dir = tempfile::tempdir().unwrap();
    let tar = build_sbomdeps(dir.path(), &["--sbom", "spdx,cyclonedx"]);
    let set = cargo_slim::validate::validate_set(&tar).unwrap();
    let image = set.images[0].manifest_digest.clone();
    let o = run_ok(&mut push_cmd(&[
        tar.to_str().unwrap(),
        &format!("{host}/sbomdeps:1"),
    ]));
    let err = text(&o.stderr);
    assert_eq!(err.matches("(listed as its referrer)").count(), 2, "{err}");
    assert!(!err.contains("referrers tag"), "{err}");
    // The API lists both SBOMs by their subject …
    let got = get(&host, &format!("sbomdeps/referrers/{image}"));
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let body: Value = serde_json::from_str(got.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let mut listed: Vec<&str> = body["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    listed.sort();
    let mut ours: Vec<&str> = set
        .artifacts
        .iter()
        .map(|a| a.manifest_digest.as_str())
        .collect();
    ours.sort();
    assert_eq!(listed, ours, "{body}");
    // … and the fallback tag was not written.
    let tag = get(
        &host,
        &format!("sbomdeps/manifests/{}", image.replace(':', "-")),
    );
    assert!(tag.starts_with("HTTP/1.1 404"), "{tag}");
    // An unchanged re-push attaches nothing new.
    let o = run_ok(&mut push_cmd(&[
        tar.to_str().unwrap(),
        &format!("{host}/sbomdeps:1"),
    ]));
    assert!(
        text(&o.stderr).contains("0 blobs uploaded"),
        "{}",
        text(&o.stderr)
    );
}

/// GET `/v2/{path}` over plain HTTP/1.1: the status line, headers and body.
fn get(host: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /v2/{path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn a_registry_that_stalls_on_the_referrers_tag_fails_in_bounded_time_saying_the_image_is_there() {
    use crate::support::registry::{FaultProxy, Faults};
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tar = build_sbomdeps(dir.path(), &[]);
    let image = cargo_slim::validate::validate_tarball(&tar)
        .unwrap()
        .manifest_digest;
    let proxy = FaultProxy::start(
        reg.port,
        Faults {
            stall_on: Some("PUT /v2/sbomdeps/manifests/sha256-".into()),
            ..Faults::default()
        },
    );
    let host = proxy.host();
    let started = std::time::Instant::now();
    let o = run_code(
        &mut push_cmd(&[
            tar.to_str().unwrap(),
            &format!("{host}/sbomdeps:1"),
            "--timeout",
            "2",
        ]),
        1,
    );
    let took = started.elapsed();
    let err = text(&o.stderr);
    assert!(took.as_secs() < 30, "took {took:?}: {err}");
    assert!(err.contains("referrers tag"), "{err}");
    assert!(
        err.contains(&format!(
            "the image itself is pushed: {host}/sbomdeps@{image}"
        )),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // It is: the tag names the image in the real registry.
    let o = run_ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{}/sbomdeps:1", reg.host()),
    ]));
    assert_eq!(cargo_slim::digest::sha256_digest(&o.stdout), image);
}
