//! `--platform`: one build per platform into one tarball holding an OCI image
//! index, the same bytes as `cargo slim index` of the single-platform builds;
//! cross builds link pure Rust with rust-lld and C code through real `cargo
//! zigbuild`, and run under qemu in podman; targets and platforms that can never
//! give a Linux image are refused before anything compiles.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::index::{arm64_runs, podman_run_arm64};
use crate::support::*;

#[test]
fn all_platforms_make_one_index_equal_to_merging_single_builds() {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.tar");
    let o = run_ok(&mut build_fixture(
        "hello",
        &all,
        &["--platform", "all", "--message-format", "json"],
    ));
    let err = text(&o.stderr);
    assert!(
        err.contains("linux/arm64/v8 (aarch64-unknown-linux-musl), linking with rust-lld"),
        "{err}"
    );
    // One JSON line per platform, both naming the index users pull.
    let lines: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["platform"], "linux/amd64");
    assert_eq!(lines[1]["platform"], "linux/arm64/v8");
    let index = lines[0]["index_digest"].as_str().unwrap().to_string();
    assert_eq!(lines[1]["index_digest"], index.as_str());
    let set = cargo_slim::validate::validate_set(&all).unwrap();
    assert_eq!(set.index_digest.as_deref(), Some(index.as_str()));

    // The single arm64 build is named for its arch, beside the host's name.
    let target_dir = dir.path().join("t");
    let manifest = fixture("hello").join("Cargo.toml");
    let o = run_ok(
        slim(&["build", "--platform", "linux/arm64", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            .env("CARGO_TARGET_DIR", fixture_target_dir()),
    );
    let arm = last_line(&o);
    assert_eq!(arm, target_dir.join("slim/hello-0.1.0-arm64.tar"));
    let amd = dir.path().join("amd64.tar");
    run_ok(&mut build_fixture(
        "hello",
        &amd,
        &["--platform", "linux/amd64"],
    ));

    // Built on "two machines" and merged: the very same bytes.
    let merged = dir.path().join("merged.tar");
    run_ok(slim(&["index"]).arg(&arm).arg(&amd).arg("-o").arg(&merged));
    assert_eq!(sha256_file(&merged), sha256_file(&all));

    if have("skopeo") {
        let o = run_ok(
            Command::new("skopeo")
                .args(["--override-arch", "arm64", "inspect"])
                .arg(format!("oci-archive:{}", all.display())),
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["Architecture"], "arm64");
    }
    if have("podman") && arm64_runs() {
        // podman loads the host's platform from the index; the arm64 single image runs under qemu.
        assert_eq!(podman_run_arm64(&arm, "localhost/hello:0.1.0"), HELLO_LINE);
    }
}

#[test]
fn c_code_cross_builds_with_zig_and_runs() {
    if !have("cargo-zigbuild") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cdep-arm64.tar");
    let o = run_ok(&mut build_fixture(
        "cdep",
        &out,
        &["--platform", "linux/arm64"],
    ));
    let err = text(&o.stderr);
    assert!(err.contains("linking with zig (cargo zigbuild)"), "{err}");
    let v = run_ok(slim(&["verify"]).arg(&out));
    assert!(
        text(&v.stdout).contains("linux/arm64"),
        "{}",
        text(&v.stdout)
    );
    if have("podman") && arm64_runs() {
        assert_eq!(
            podman_run_arm64(&out, "localhost/cdep:0.1.0"),
            "the C function says 42"
        );
    }
}

/// A PATH with cargo and rustc, and nothing else: no zig, no cargo-zigbuild.
fn bare_path() -> PathBuf {
    let cargo = PathBuf::from(std::env::var("CARGO").expect("cargo test sets CARGO"));
    cargo.parent().unwrap().to_path_buf()
}

#[test]
fn c_code_without_zig_is_refused_before_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cdep.tar");
    let mut cmd = build_fixture("cdep", &out, &["--platform", "linux/arm64"]);
    cmd.env("PATH", bare_path()).env_remove("ZIG");
    let start = Instant::now();
    let o = run_code(&mut cmd, 1);
    let err = text(&o.stderr);
    assert!(err.contains("`cdep` compiles C code"), "{err}");
    assert!(err.contains("aarch64-unknown-linux-musl"), "{err}");
    assert!(err.contains("pip install ziglang cargo-zigbuild"), "{err}");
    assert!(
        !err.contains("Compiling cdep"),
        "refused before compiling: {err}"
    );
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(!out.exists());
}

#[test]
fn impossible_targets_and_platforms_are_refused_up_front() {
    for (args, code, says) in [
        (&["--target", "wasm32-wasip1"][..], 2, "not a Linux target"),
        (
            &[
                "--target",
                "x86_64-unknown-linux-musl,aarch64-unknown-linux-musl",
            ][..],
            2,
            "--platform linux/amd64,linux/arm64",
        ),
        (
            &["--platform", "linux/riscv64"][..],
            2,
            "it builds linux/amd64, linux/arm64",
        ),
        (&["--platform", "windows/amd64"][..], 2, "Linux images only"),
        (
            &["--platform", "all", "--target", "x86_64-unknown-linux-musl"][..],
            2,
            "cannot be used with",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let o = run_code(
            &mut build_fixture("hello", &dir.path().join("x.tar"), args),
            code,
        );
        let err = text(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("Compiling"), "{args:?}: {err}");
    }
    // From the manifest: exit 1, naming the key and the file.
    let krate = copy_fixture("hello");
    let manifest = krate.path().join("Cargo.toml");
    add_metadata(&manifest, "platforms = [\"linux/s390x\"]");
    let o = run_code(slim(&["build", "--manifest-path"]).arg(&manifest), 1);
    let err = text(&o.stderr);
    assert!(
        err.contains("`platforms`") && err.contains(&manifest.display().to_string()),
        "{err}"
    );
}

#[test]
fn build_all_platforms_and_push_then_pull_each() {
    use crate::support::registry::Registry;
    let Some(reg) = Registry::with_skopeo_and_podman() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all.tar");
    let reference = format!("{}/hello-multi:1", reg.host());
    let mut cmd = build_fixture("hello", &out, &["--platform", "all", "--push", &reference]);
    isolate(&mut cmd);
    let o = run_ok(&mut cmd);
    let set = cargo_slim::validate::validate_set(&out).unwrap();
    let index = set.index_digest.clone().unwrap();
    assert_eq!(
        last_line(&o).to_string_lossy(),
        format!("{}/hello-multi@{index}", reg.host()),
        "the pushed digest is the index's"
    );
    let raw = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw"])
            .arg(format!("docker://{reference}")),
    );
    assert_eq!(cargo_slim::digest::sha256_digest(&raw.stdout), index);
    // Each platform's manifest is in the registry under its own digest.
    let repo = format!("{}/hello-multi", reg.host());
    for (arch, image) in [("amd64", &set.images[0]), ("arm64", &set.images[1])] {
        let o = run_ok(
            Command::new("skopeo")
                .args(["inspect", "--tls-verify=false"])
                .arg(format!("docker://{repo}@{}", image.manifest_digest)),
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["Architecture"], arch);
        assert_eq!(v["Digest"], image.manifest_digest.as_str());
        // Its SBOM is listed under the referrers tag of its own digest.
        let o = run_ok(
            Command::new("skopeo")
                .args(["inspect", "--tls-verify=false", "--raw"])
                .arg(format!(
                    "docker://{repo}:{}",
                    image.manifest_digest.replace(':', "-")
                )),
        );
        let referrers: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let sbom = set
            .artifacts_of(if arch == "amd64" { 0 } else { 1 })
            .next()
            .unwrap();
        assert_eq!(
            referrers["manifests"][0]["digest"],
            sbom.manifest_digest.as_str(),
            "{arch}: {referrers}"
        );
    }
    // podman pulls the host's platform from the index and runs it.
    let podman_run = |extra: &[&str]| {
        let run = run_ok(
            Command::new("podman")
                .args(["run", "--rm", "--runtime", "runc", "--tls-verify=false"])
                .args(extra)
                .arg(&reference),
        );
        assert_eq!(text(&run.stdout).trim(), HELLO_LINE, "{extra:?}");
    };
    podman_run(&[]);
    if arm64_runs() {
        podman_run(&["--platform", "linux/arm64", "--pull", "always"]);
    }
    let _ = Command::new("podman")
        .args(["rmi", "-f", &reference])
        .output();
}
