//! `cargo slim build` end to end: the fixture crate becomes a tarball that podman
//! runs, skopeo reads, and our invariant checker accepts; twice gives the same bytes.

use std::process::Command;

use cargo_slim::elf::{inspect, LinkKind};
use cargo_slim::validate::{read_layer_file, validate_tarball};

use crate::support::*;

#[test]
fn hello_image_is_valid_static_and_stripped() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let tar = build_hello(dir.path(), &[]);
    let img = validate_tarball(&tar).expect("tarball passes the invariant checker");
    assert_eq!(img.reference, "localhost/hello:0.1.0");
    assert_eq!(img.architecture, "amd64");
    assert_eq!(img.os, "linux");
    let cfg = &img.config["config"];
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/hello"]));
    assert_eq!(cfg["User"], "65532:65532");
    assert!(cfg.get("Cmd").is_none(), "no Cmd unless configured");
    assert_eq!(img.layers.len(), 1);
    let hello = img.layers[0]
        .files
        .iter()
        .find(|f| f.path == "hello")
        .expect("binary at /hello");
    assert_eq!(hello.mode & 0o7777, 0o555);

    let bin = read_layer_file(&tar, "hello").unwrap();
    let insp = inspect(&bin).unwrap();
    assert_ne!(insp.kind, LinkKind::Dynamic);
    assert!(insp.interpreter.is_none(), "no PT_INTERP");
    assert!(!insp.has_symtab, "stripped: no .symtab");
    assert!(!insp.has_debug, "stripped: no .debug*");

    // The stripped binary must still run, outside any container too.
    let exe = dir.path().join("hello-extracted");
    std::fs::write(&exe, &bin).unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = run_ok(&mut Command::new(&exe));
    assert_eq!(text(&o.stdout).trim(), HELLO_LINE);
}

#[test]
fn size_table_matches_real_files() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello.tar");
    let manifest = fixture("hello").join("Cargo.toml");
    let o = run_ok(&mut build_manifest(
        &manifest,
        &["-o", out.to_str().unwrap()],
    ));
    let err = text(&o.stderr);
    let img = validate_tarball(&out).unwrap();
    let bytes_of = |label: &str| -> u64 {
        let line = err
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no `{label}` row in:\n{err}"));
        let n = line
            .split_whitespace()
            .rev()
            .nth(1)
            .unwrap()
            .replace(',', "");
        n.parse().unwrap()
    };
    let stripped = read_layer_file(&out, "hello").unwrap().len() as u64;
    let unstripped =
        std::fs::metadata(fixture_target_dir().join("x86_64-unknown-linux-musl/release/hello"))
            .unwrap()
            .len();
    assert_eq!(bytes_of("binary (unstripped)"), unstripped);
    assert_eq!(bytes_of("binary (stripped)"), stripped);
    assert!(stripped < unstripped);
    assert_eq!(bytes_of("layer (compressed)"), img.layers[0].size);
    assert_eq!(
        bytes_of("image pull size"),
        img.manifest_size + img.config_size + img.layers[0].size
    );
    assert_eq!(
        bytes_of("tarball on disk"),
        std::fs::metadata(&out).unwrap().len()
    );
}

#[test]
fn two_builds_are_byte_identical_and_epoch_is_honoured() {
    warm_up();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ta = build_hello(a.path(), &[]);
    let tb = build_hello(b.path(), &[]);
    assert_eq!(sha256_file(&ta), sha256_file(&tb));
    assert_eq!(validate_tarball(&ta).unwrap().mtime, 0);

    let c = tempfile::tempdir().unwrap();
    let out = c.path().join("hello.tar");
    let manifest = fixture("hello").join("Cargo.toml");
    run_ok(
        build_manifest(&manifest, &["-o", out.to_str().unwrap()])
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    let img = validate_tarball(&out).unwrap();
    assert_eq!(img.mtime, 1_700_000_000);
    assert_eq!(img.config["created"], "2023-11-14T22:13:20Z");
    assert!(img.layers[0].files.iter().all(|f| f.mtime == 1_700_000_000));
    assert_ne!(sha256_file(&out), sha256_file(&ta));
}

#[test]
fn podman_loads_and_runs_the_image() {
    if !have("podman") {
        return;
    }
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    // A unique tag so parallel test runs cannot collide in podman's store.
    let tag = format!("localhost/slim-e2e-hello:{}", std::process::id());
    let tar = build_hello(dir.path(), &["--tag", &tag]);
    validate_tarball(&tar).unwrap();
    let load = run_ok(Command::new("podman").args(["load", "-i"]).arg(&tar));
    assert!(text(&load.stdout).contains(&tag), "{}", text(&load.stdout));
    let run = run_ok(Command::new("podman").args(["run", "--rm", "--runtime", "runc", &tag]));
    assert_eq!(text(&run.stdout).trim(), HELLO_LINE);
    // It really runs as the non-root user from the config.
    let user = run_ok(Command::new("podman").args([
        "image",
        "inspect",
        "--format",
        "{{.Config.User}}",
        &tag,
    ]));
    assert_eq!(text(&user.stdout).trim(), "65532:65532");
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
}

#[test]
fn skopeo_reads_both_archive_forms() {
    if !have("skopeo") {
        return;
    }
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let tar = build_hello(dir.path(), &[]);
    let img = validate_tarball(&tar).unwrap();
    let set = cargo_slim::validate::validate_set(&tar).unwrap();
    let o = run_ok(
        Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci-archive:{}", tar.display())),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // With its SBOM attached, the tarball's top is an index {image, SBOM}: skopeo
    // names that index, and picks the image in it for the platform.
    assert_eq!(v["Digest"], set.index_digest.as_deref().unwrap());
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Layers"][0], img.layers[0].digest.as_str());
    // `skopeo copy` of the image alone keeps our manifest byte for byte.
    let manifest = skopeo_copied_manifest(
        &format!("oci-archive:{}", tar.display()),
        &dir.path().join("copied"),
    );
    assert_eq!(
        cargo_slim::digest::sha256_digest(&manifest),
        img.manifest_digest
    );

    let oci_dir = dir.path().join("oci");
    run_ok(
        Command::new("skopeo")
            .arg("copy")
            .arg(format!("docker-archive:{}", tar.display()))
            .arg(format!("oci:{}:hello", oci_dir.display())),
    );
    // skopeo may recompress the layer on the way, but the content (diff_id) and
    // the image config it read must be ours.
    let o = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!("oci:{}:hello", oci_dir.display())),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rootfs"]["diff_ids"][0], img.layers[0].diff_id.as_str());
    assert_eq!(v["config"]["Entrypoint"], serde_json::json!(["/hello"]));
}

#[test]
fn binary_mode_packs_a_prebuilt_elf() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let elf = fixture_target_dir().join("x86_64-unknown-linux-musl/release/hello");
    let out = dir.path().join("prebuilt.tar");
    let o = run_ok(
        slim(&[
            "build",
            "--binary",
            elf.to_str().unwrap(),
            "--tag",
            "prebuilt:1",
            "-o",
            out.to_str().unwrap(),
        ])
        .current_dir(dir.path()),
    );
    assert_eq!(last_line(&o), out);
    let img = validate_tarball(&out).unwrap();
    assert_eq!(img.reference, "localhost/prebuilt:1");
    assert_eq!(
        img.config["config"]["Entrypoint"],
        serde_json::json!(["/hello"])
    );
}

#[test]
fn users_rustflags_still_apply() {
    warm_up();
    // .cargo/config.toml in the project
    let crate_dir = copy_fixture("hello");
    std::fs::create_dir_all(crate_dir.path().join(".cargo")).unwrap();
    std::fs::write(
        crate_dir.path().join(".cargo/config.toml"),
        "[target.x86_64-unknown-linux-musl]\nrustflags = [\"--cfg\", \"slim_user_flag\"]\n",
    )
    .unwrap();
    let target_dir = tempfile::tempdir().unwrap();
    let out = crate_dir.path().join("out.tar");
    run_ok(
        slim(&["build", "-o", out.to_str().unwrap()])
            .current_dir(crate_dir.path())
            .env("CARGO_TARGET_DIR", target_dir.path()),
    );
    let bin = read_layer_file(&out, "hello").unwrap();
    assert!(
        bin.windows(b"user rustflags applied".len())
            .any(|w| w == b"user rustflags applied"),
        ".cargo/config.toml rustflags were dropped"
    );

    // RUSTFLAGS in the environment, on the glibc fallback path where we add our own
    // +crt-static: both must reach rustc.
    let out2 = crate_dir.path().join("out2.tar");
    std::fs::remove_file(crate_dir.path().join(".cargo/config.toml")).unwrap();
    run_ok(
        slim(&[
            "build",
            "--target",
            "x86_64-unknown-linux-gnu",
            "-o",
            out2.to_str().unwrap(),
        ])
        .current_dir(crate_dir.path())
        .env("CARGO_TARGET_DIR", target_dir.path())
        .env("RUSTFLAGS", "--cfg slim_user_flag"),
    );
    let bin = read_layer_file(&out2, "hello").unwrap();
    let insp = inspect(&bin).unwrap();
    assert_ne!(insp.kind, LinkKind::Dynamic, "+crt-static was dropped");
    assert!(
        bin.windows(b"user rustflags applied".len())
            .any(|w| w == b"user rustflags applied"),
        "RUSTFLAGS were dropped"
    );
}
