//! `cargo slim load` and `build --load`: the tarball goes into the local engine
//! (podman here), under the image's own reference, and runs from there; a missing
//! or failing engine is an error that names it.

use std::process::Command;

use crate::support::*;

fn podman_image_exists(tag: &str) -> bool {
    Command::new("podman")
        .args(["image", "exists", tag])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn build_load_puts_the_image_in_podman_and_prints_its_reference() {
    if !have("podman") {
        return;
    }
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("localhost/slim-load-hello:{}", std::process::id());
    let manifest = fixture("hello").join("Cargo.toml");
    let out = dir.path().join("hello.tar");
    let o = run_ok(&mut build_manifest(
        &manifest,
        &[
            "-o",
            out.to_str().unwrap(),
            "--tag",
            &tag,
            "--load",
            "--engine",
            "podman",
        ],
    ));
    // stdout: the tarball, then what the engine calls the image.
    let lines: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines, [out.display().to_string(), tag.clone()], "{lines:?}");
    assert!(text(&o.stderr).contains("Loaded"), "{}", text(&o.stderr));
    assert!(podman_image_exists(&tag));
    let run = run_ok(Command::new("podman").args(["run", "--rm", "--runtime", "runc", &tag]));
    assert_eq!(text(&run.stdout).trim(), HELLO_LINE);
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();

    // `cargo slim load` of the same tarball, with a JSON line.
    let o = run_ok(&mut slim(&[
        "--message-format",
        "json",
        "load",
        out.to_str().unwrap(),
    ]));
    let v = last_json(&o);
    assert_eq!(v["reason"], "image-loaded");
    assert_eq!(v["reference"], tag.as_str());
    assert_eq!(v["engine"], "podman");
    assert!(podman_image_exists(&tag));
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
}

#[test]
fn a_missing_or_failing_engine_is_named_and_nothing_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.tar");
    let manifest = fixture("hello").join("Cargo.toml");
    // No engine on PATH: refused before the build, naming both engines and PATH.
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = build_manifest(&manifest, &["-o", out.to_str().unwrap(), "--load"]);
    let cargo_dir = which_dir("cargo");
    cmd.env(
        "PATH",
        std::env::join_paths([empty.path(), &cargo_dir]).unwrap(),
    );
    let o = run_code(&mut cmd, 1);
    let err = text(&o.stderr);
    assert!(
        err.contains("no container engine was found: looked for `podman` and `docker`"),
        "{err}"
    );
    assert!(err.contains(&empty.path().display().to_string()), "{err}");
    assert!(
        !out.exists(),
        "the build ran although nothing could load it"
    );
    // A file that is not a tarball: the engine's refusal is shown, exit 1.
    if have("podman") {
        let junk = dir.path().join("junk.tar");
        std::fs::write(&junk, b"not a tarball").unwrap();
        let o = run_code(&mut slim(&["load", junk.to_str().unwrap()]), 1);
        let err = text(&o.stderr);
        assert!(err.contains("`podman load` could not load"), "{err}");
    }
    // A FIFO is refused without running the engine (which would wait for ever).
    let fifo = dir.path().join("fifo.tar");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut cmd = slim(&["load", fifo.to_str().unwrap()]);
    // Any engine will do: the check comes first.
    cmd.env(
        "PATH",
        std::env::join_paths([fake_engine(dir.path())]).unwrap(),
    );
    let o = run_code(&mut cmd, 1);
    assert!(text(&o.stderr).contains("FIFO"), "{}", text(&o.stderr));
}

/// The folder of `tool` on this PATH.
fn which_dir(tool: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|d| d.join(tool).is_file())
        .unwrap_or_else(|| panic!("`{tool}` is not on PATH"))
}

/// A folder holding a `podman` that fails if it is ever run.
fn fake_engine(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let p = bin.join("podman");
    std::fs::write(&p, "#!/bin/sh\necho ran >&2\nexit 99\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}
