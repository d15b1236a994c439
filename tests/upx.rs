//! The UPX pass with the real `upx`: a packed image that runs, honest numbers, and
//! every documented refusal or fallback.

use std::path::Path;
use std::process::Command;

use cargo_slim::validate::{read_layer_file, validate_tarball};
use serde_json::Value;

use crate::support::*;

/// A copy of testdata/hello with `extra` appended to its [package.metadata.slim].
fn hello_with(extra: &str) -> tempfile::TempDir {
    let dir = copy_fixture("hello");
    add_metadata(&dir.path().join("Cargo.toml"), extra);
    dir
}

/// [`hello_with`] when upx is installed (after the fixture's warm-up); `None`
/// (a skip, or a failure in CI) when it is not.
fn upx_hello_with(extra: &str) -> Option<tempfile::TempDir> {
    if !have("upx") {
        return None;
    }
    warm_up();
    Some(hello_with(extra))
}

fn build_in(dir: &Path, extra: &[&str], code: i32) -> (Option<Value>, String) {
    let out = dir.join("img.tar");
    let mut args = vec![
        "--message-format",
        "json",
        "build",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run_code(slim(&args).current_dir(dir), code);
    let json = text(&o.stdout)
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok());
    (json, text(&o.stderr))
}

fn upx_lists(bytes: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bin");
    std::fs::write(&f, bytes).unwrap();
    Command::new("upx")
        .arg("-l")
        .arg(&f)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn packed_image_runs_and_numbers_are_true() {
    let Some(dir) = upx_hello_with("upx = { args = [\"--best\"], smoke = [] }") else {
        return;
    };
    let (v, err) = build_in(dir.path(), &[], 0);
    let v = v.unwrap();
    let tar = dir.path().join("img.tar");
    validate_tarball(&tar).unwrap();
    let bin = read_layer_file(&tar, "hello").unwrap();
    assert!(upx_lists(&bin), "the binary in the layer is UPX-packed");

    let u = &v["upx"];
    assert_eq!(u["packed"], true);
    assert_eq!(v["sizes"]["binary_packed"], bin.len() as u64);
    assert_eq!(v["sizes"]["binary_final"], bin.len() as u64);
    assert_eq!(u["binary_after"], bin.len() as u64);
    assert_eq!(u["binary_before"], v["sizes"]["binary_stripped"]);
    assert!(bin.len() as u64 * 2 < v["sizes"]["binary_stripped"].as_u64().unwrap());
    // Wire sizes are real gzip sizes of the two binaries.
    assert_eq!(u["gzip_after"], cargo_slim::upx::gzip_size(&bin).unwrap());
    assert!(u["gzip_before"].as_u64().unwrap() > 0);
    assert!(u["startup_ms_before"].as_f64().unwrap() > 0.0);
    assert!(u["startup_ms_after"].as_f64().unwrap() > 0.0);
    assert!(err.contains("gzip (wire) after"), "{err}");
    assert!(err.contains("start-up"), "{err}");

    // Same UPX version, same digest.
    let first = sha256_file(&tar);
    build_in(dir.path(), &[], 0);
    assert_eq!(
        sha256_file(&tar),
        first,
        "UPX output and our image are deterministic"
    );

    if have("podman") {
        let tag = format!("localhost/slim-e2e-upx:{}", std::process::id());
        let out2 = dir.path().join("tagged.tar");
        run_ok(
            slim(&["build", "-o", out2.to_str().unwrap(), "--tag", &tag]).current_dir(dir.path()),
        );
        run_ok(Command::new("podman").args(["load", "-i"]).arg(&out2));
        let run = run_ok(Command::new("podman").args(["run", "--rm", "--runtime", "runc", &tag]));
        assert_eq!(text(&run.stdout).trim(), HELLO_LINE);
        let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
    }
}

#[test]
fn already_packed_and_incompressible_inputs_are_kept() {
    if !have("upx") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (fixture_name, note) in [
        ("packed", "already packed"),
        ("incompressible", "NotCompressibleException"),
    ] {
        let input = fixture("upx").join(fixture_name);
        let (v, err) = build_in(
            dir.path(),
            &["--binary", input.to_str().unwrap(), "--upx"],
            0,
        );
        let v = v.unwrap();
        assert!(err.contains(note), "{fixture_name}: {err}");
        assert_eq!(v["upx"]["packed"], false);
        assert_eq!(v["sizes"]["binary_packed"], Value::Null);
        let bin = read_layer_file(&dir.path().join("img.tar"), fixture_name).unwrap();
        assert_eq!(
            bin,
            std::fs::read(&input).unwrap(),
            "{fixture_name} is shipped as it was"
        );
    }
}

#[test]
fn smoke_failures_fail_the_build_unless_fallback() {
    let Some(dir) = upx_hello_with("upx = { smoke = [\"--fail\"] }") else {
        return;
    };
    let (_, err) = build_in(dir.path(), &[], 1);
    assert!(
        err.contains("smoke run of the unpacked binary failed"),
        "{err}"
    );
    assert!(err.contains("exit status: 3"), "{err}");
    assert!(err.contains("--upx-fallback"), "{err}");

    let (v, err) = build_in(dir.path(), &["--upx-fallback"], 0);
    assert!(err.contains("keeping the unpacked binary"), "{err}");
    let v = v.unwrap();
    assert_eq!(v["upx"]["packed"], false);
    let bin = read_layer_file(&dir.path().join("img.tar"), "hello").unwrap();
    assert!(!upx_lists(&bin));

    let dir = hello_with("upx = { smoke = [\"--hang\"], timeout = 0.5 }");
    let started = std::time::Instant::now();
    let (_, err) = build_in(dir.path(), &[], 1);
    assert!(err.contains("did not finish within 0.5s"), "{err}");
    assert!(started.elapsed().as_secs() < 60, "the timeout is enforced");
}

#[test]
fn missing_upx_and_brute_args_are_refused() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let elf = fixture_target_dir().join("x86_64-unknown-linux-musl/release/hello");
    let out = dir.path().join("o.tar");
    let upx_build = |extra: &[&str]| {
        let mut cmd = slim(&["build", "--binary", elf.to_str().unwrap(), "--upx"]);
        cmd.args(extra).current_dir(dir.path());
        cmd
    };
    let o = run_code(
        upx_build(&["-o", out.to_str().unwrap()]).env("PATH", "/nonexistent-bin"),
        1,
    );
    let err = text(&o.stderr);
    assert!(err.contains("`upx` was not found"), "{err}");
    assert!(err.contains("searched $PATH: /nonexistent-bin"), "{err}");
    assert!(err.contains("apt-get install upx-ucl"), "{err}");
    assert!(!out.exists());

    let o = run_code(&mut upx_build(&["--upx-path", "/no/upx"]), 1);
    assert!(text(&o.stderr).contains("UPX was not found at `/no/upx`"));

    let dir = hello_with("upx = { args = [\"--best\", \"--brute\"] }");
    let (_, err) = build_in(dir.path(), &[], 1);
    assert!(err.contains("UPX argument `--brute` is refused"), "{err}");
    assert!(err.contains("allow-brute = true"), "{err}");
}
