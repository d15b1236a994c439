//! Workspaces build as cargo builds them: the member you stand in or name, any
//! package-id spec, the owner of `--bin`; `[workspace.metadata.slim]` gives every
//! member's defaults; cargo's own flags pass through.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cargo_slim::validate::{read_layer_file, validate_tarball};

use crate::support::*;

fn ws() -> PathBuf {
    fixture("ws")
}

/// Build in `cwd` with `args`, into `out`; returns the image config.
fn build_in(cwd: &Path, args: &[&str], out: &Path) -> serde_json::Value {
    let mut all = vec!["build", "-o", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run_ok(slim(&all).current_dir(cwd));
    assert_eq!(last_line(&o), out);
    validate_tarball(out).unwrap().config
}

/// Run the binary at `path_in_image` of the tarball on the host (static musl).
fn run_from(tar: &Path, path_in_image: &str) -> String {
    let bytes = read_layer_file(tar, path_in_image).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("exe");
    std::fs::write(&exe, bytes).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    text(&run_ok(&mut std::process::Command::new(&exe)).stdout)
}

#[test]
fn the_member_you_stand_in_or_name_is_built() {
    let out = tempfile::tempdir().unwrap();
    // Standing in the member's folder.
    let tar = out.path().join("beta-cwd.tar");
    let cfg = build_in(&ws().join("beta"), &[], &tar);
    assert_eq!(cfg["config"]["Entrypoint"][0], "/beta");
    assert_eq!(run_from(&tar, "/beta"), "beta: from common\n");
    // Workspace defaults, and the member's own table on top of them.
    assert_eq!(cfg["config"]["User"], "1000:1000");
    let labels = &cfg["config"]["Labels"];
    assert_eq!(labels["org.example.team"], "ws");
    assert_eq!(labels["org.example.member"], "beta");
    let img = validate_tarball(&tar).unwrap();
    assert_eq!(img.reference, "localhost/beta-image:0.2.0");

    // --manifest-path of the member, from somewhere else.
    let manifest = ws().join("beta/Cargo.toml");
    let tar = out.path().join("beta-manifest.tar");
    let cfg = build_in(
        out.path(),
        &["--manifest-path", manifest.to_str().unwrap()],
        &tar,
    );
    assert_eq!(cfg["config"]["Entrypoint"][0], "/beta");

    // At the root: the member that owns --bin.
    let tar = out.path().join("alpha-bin.tar");
    let cfg = build_in(&ws(), &["--bin", "alpha"], &tar);
    assert_eq!(cfg["config"]["Entrypoint"][0], "/alpha");
    assert_eq!(cfg["config"]["User"], "1000:1000");
    assert_eq!(run_from(&tar, "/alpha"), "alpha: hello, from common\n");
}

#[test]
fn every_package_id_spec_form_selects_the_member() {
    let out = tempfile::tempdir().unwrap();
    let dir = ws().join("beta");
    let url = format!("path+file://{}", dir.display());
    for spec in [
        "beta".to_string(),
        "beta@0.2.0".to_string(),
        "beta@0.2".to_string(),
        format!("{url}#0.2.0"),
        format!("{url}#beta@0.2.0"),
        format!("file://{}", dir.display()),
    ] {
        let tar = out.path().join("spec.tar");
        let cfg = build_in(&ws(), &["-p", &spec], &tar);
        assert_eq!(cfg["config"]["Entrypoint"][0], "/beta", "{spec}");
    }
    let err = text(&run_code(slim(&["build", "-p", "beta@9"]).current_dir(ws()), 1).stderr);
    assert!(
        err.contains("is not a member") && err.contains("beta@0.2.0"),
        "{err}"
    );
}

#[test]
fn at_a_virtual_root_the_error_lists_the_binaries() {
    let err = text(&run_code(slim(&["build"]).current_dir(ws()), 1).stderr);
    assert!(err.contains("virtual workspace"), "{err}");
    assert!(
        err.contains("alpha in package alpha") && err.contains("beta in package beta"),
        "{err}"
    );
    assert!(err.contains("help: pass -p"), "{err}");
    let err = text(&run_code(slim(&["build", "--bin", "nope"]).current_dir(ws()), 1).stderr);
    assert!(
        err.contains("`nope`") && err.contains("help: pass one of them with --bin"),
        "{err}"
    );
    let err = text(
        &run_code(
            slim(&["build", "--bin", "nope"]).current_dir(ws().join("beta")),
            1,
        )
        .stderr,
    );
    assert!(
        err.contains("available binaries: beta")
            && err.contains("help: pass one of them, e.g. --bin beta"),
        "{err}"
    );
}

#[test]
fn cargo_flags_pass_through() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("tgt");
    // --config env.X reaches the compiler (option_env! in alpha); -j and --timings
    // reach cargo build; --target-dir moves cargo's output and our default output.
    let o = run_ok(
        slim(&[
            "build",
            "--bin",
            "alpha",
            "--config",
            "env.SLIM_GREETING=\"from --config\"",
            "-j",
            "1",
            "--timings",
            "--target-dir",
            target.to_str().unwrap(),
        ])
        .current_dir(ws()),
    );
    let tar = last_line(&o);
    assert_eq!(tar, target.join("slim/alpha-0.1.0.tar"));
    assert_eq!(
        run_from(&tar, "/alpha"),
        "alpha: from --config, from common\n"
    );
    assert!(target.join("cargo-timings").is_dir(), "no --timings report");
    // -Z reaches cargo, which refuses it on a stable toolchain (or runs it on nightly).
    let o = slim(&["build", "--bin", "alpha", "-Z", "no-such-unstable-flag"])
        .current_dir(ws())
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("-Z") || err.contains("no-such-unstable-flag"),
        "{err}"
    );
}
