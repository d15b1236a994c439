//! `--opt size`: the profile settings of a small binary, added with cargo
//! `--config` (the user's Cargo.toml untouched), the user's own profile keys
//! kept, the trade-off said, the figures in the report, and the image still runs.

use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// Its own target dir: a preset changes the release profile, so sharing the
/// fixtures' dir would rebuild hello under the feet of tests running beside.
fn preset_target_dir() -> std::path::PathBuf {
    repo().join("target").join("fixtures-presets")
}

fn json_build(name: &str, out: &std::path::Path, extra: &[&str]) -> (Value, String) {
    let mut cmd = build_fixture(name, out, &["--sbom", "none"]);
    cmd.args(extra);
    let mut cmd_json = slim(&["--message-format", "json"]);
    cmd_json.args(cmd.get_args().skip(1));
    cmd_json.env("CARGO_TARGET_DIR", preset_target_dir());
    let o = run_ok(&mut cmd_json);
    let line = text(&o.stdout).lines().next().unwrap().to_string();
    (serde_json::from_str(&line).unwrap(), text(&o.stderr))
}

#[test]
fn size_preset_makes_hello_smaller_and_it_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, _) = json_build("hello", &dir.path().join("plain.tar"), &[]);
    let small_tar = dir.path().join("small.tar");
    let (small, err) = json_build("hello", &small_tar, &["--opt", "size"]);
    assert!(plain.get("preset").is_none());
    assert_eq!(small["preset"]["name"], "size");
    assert_eq!(small["preset"]["set"].as_array().unwrap().len(), 4);
    assert!(err.contains("panic = \"abort\""), "{err}");
    assert!(err.contains("preset size: opt-level = \"z\""), "{err}");
    let stripped = |v: &Value| v["sizes"]["binary_stripped"].as_u64().unwrap();
    let pull = |v: &Value| v["sizes"]["image_pull"].as_u64().unwrap();
    assert!(
        stripped(&small) < stripped(&plain),
        "{} < {}",
        stripped(&small),
        stripped(&plain)
    );
    assert!(pull(&small) < pull(&plain));
    // The goal for hello: at most 190 KB pulled.
    assert!(pull(&small) <= 190_000, "{}", pull(&small));
    if have("podman") {
        let tag = "localhost/hello-small:1";
        let tagged = dir.path().join("tagged.tar");
        run_ok(&mut build_fixture(
            "hello",
            &tagged,
            &["--opt", "size", "--tag", tag],
        ));
        run_ok(
            Command::new("podman")
                .args(["load", "-q", "-i"])
                .arg(&tagged),
        );
        let run = run_ok(Command::new("podman").args(["run", "--rm", "--runtime", "runc", tag]));
        let _ = Command::new("podman").args(["rmi", "-f", tag]).output();
        assert_eq!(text(&run.stdout).trim(), HELLO_LINE);
    }
}

#[test]
fn the_users_profile_wins_and_bad_presets_are_refused() {
    let krate = copy_fixture("hello");
    let manifest = krate.path().join("Cargo.toml");
    let mut toml = std::fs::read_to_string(&manifest).unwrap();
    toml.push_str("\n[profile.release]\nopt-level = 3\n");
    std::fs::write(&manifest, &toml).unwrap();
    let out = krate.path().join("out.tar");
    let o = run_ok(
        slim(&[
            "--message-format",
            "json",
            "build",
            "--opt",
            "size",
            "--sbom",
            "none",
            "-o",
        ])
        .arg(&out)
        .arg("--manifest-path")
        .arg(&manifest),
    );
    let v: Value = serde_json::from_str(text(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(v["preset"]["kept"], serde_json::json!(["opt-level = 3"]));
    assert!(!v["preset"]["set"].to_string().contains("opt-level"));
    let err = text(&o.stderr);
    assert!(err.contains("your profile sets `opt-level = 3`"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&manifest).unwrap(),
        toml,
        "Cargo.toml untouched"
    );

    let o = run_code(
        slim(&["build", "--opt", "tiny", "--manifest-path"]).arg(&manifest),
        2,
    );
    assert!(
        text(&o.stderr).contains("use `size`"),
        "{}",
        text(&o.stderr)
    );
    std::fs::write(
        &manifest,
        toml.replace(
            "[package.metadata.slim]\n",
            "[package.metadata.slim]\nopt = \"fast\"\n",
        ),
    )
    .unwrap();
    let o = run_code(slim(&["build", "--manifest-path"]).arg(&manifest), 1);
    let err = text(&o.stderr);
    assert!(err.contains("`opt`") && err.contains("Cargo.toml"), "{err}");
}
