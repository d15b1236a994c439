//! The same digest on every machine: testdata/repro (a registry dependency whose
//! panic location is compiled in, and a build script generating code into
//! `OUT_DIR`) built from two folders with two `CARGO_HOME`s and two target dirs
//! gives one manifest digest, and none of those host paths is in the binary; the
//! flags stay the same between builds, so cargo rebuilds nothing, and a target dir
//! shared by two projects does not rebuild their dependencies at each switch.
//! Where cargo-slim itself is installed does not matter either: with mimalloc,
//! cargo runs it as its workspace wrapper and hashes the wrapper's name.

use std::path::{Path, PathBuf};

use cargo_slim::validate::read_layer_file;

use crate::support::*;

const SMALLVEC: &str = "smallvec-1.16.6";

/// The machine's cargo home (where the fixture's dependency is cached).
fn host_cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"))
}

/// A fresh `CARGO_HOME` holding only what the fixture needs from the machine's
/// cache (the sparse index entry and the `.crate`), so builds run `--offline`.
fn fresh_cargo_home(dir: &Path) {
    let host = host_cargo_home();
    let registry = host.join("registry");
    let find = |sub: &str| -> Option<PathBuf> {
        std::fs::read_dir(registry.join(sub))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("index.crates.io-"))
            })
    };
    if find("cache").is_none_or(|c| !c.join(format!("{SMALLVEC}.crate")).is_file()) {
        // Not cached yet on this machine: fetch it once through cargo.
        run_ok(
            std::process::Command::new("cargo")
                .arg("fetch")
                .arg("--manifest-path")
                .arg(fixture("repro").join("Cargo.toml")),
        );
    }
    let (index, cache) = (find("index").unwrap(), find("cache").unwrap());
    let name = index.file_name().unwrap();
    for (from, to) in [
        (
            index.join("config.json"),
            Path::new("index").join(name).join("config.json"),
        ),
        (
            index.join(".cache/sm/al/smallvec"),
            Path::new("index").join(name).join(".cache/sm/al/smallvec"),
        ),
        (
            cache.join(format!("{SMALLVEC}.crate")),
            Path::new("cache")
                .join(name)
                .join(format!("{SMALLVEC}.crate")),
        ),
    ] {
        let to = dir.join("registry").join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
}

struct Built {
    tarball: PathBuf,
    digest: String,
    stderr: String,
}

fn build_in(krate: &Path, cargo_home: &Path, target_dir: &Path) -> Built {
    build_with(krate, cargo_home, target_dir, &[])
}

fn build_with(krate: &Path, cargo_home: &Path, target_dir: &Path, extra: &[&str]) -> Built {
    let out = krate.join("repro.tar");
    let manifest = krate.join("Cargo.toml");
    let o = run_ok(
        slim(&[
            "build",
            "--message-format",
            "json",
            "--offline",
            "--locked",
            "--manifest-path",
            manifest.to_str().unwrap(),
            "--target-dir",
            target_dir.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .env("CARGO_HOME", cargo_home),
    );
    let line: serde_json::Value =
        serde_json::from_str(text(&o.stdout).lines().last().unwrap()).unwrap();
    Built {
        tarball: out,
        digest: line["manifest_digest"].as_str().unwrap().to_string(),
        stderr: text(&o.stderr),
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    memchr::memmem::find(hay, needle.as_bytes()).is_some()
}

#[test]
fn two_folders_two_cargo_homes_two_target_dirs_one_digest() {
    warm_up();
    let (a, b) = (copy_fixture("repro"), copy_fixture("repro"));
    let (home_a, home_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (target_a, target_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fresh_cargo_home(home_a.path());
    fresh_cargo_home(home_b.path());

    let first = build_in(a.path(), home_a.path(), target_a.path());
    let second = build_in(b.path(), home_b.path(), target_b.path());
    assert_eq!(
        first.digest, second.digest,
        "the same crate built elsewhere must give the same image"
    );
    assert_eq!(sha256_file(&first.tarball), sha256_file(&second.tarball));

    let bin = read_layer_file(&second.tarball, "repro").unwrap();
    let home = std::env::var("HOME").unwrap();
    for host_path in [
        a.path(),
        b.path(),
        home_a.path(),
        home_b.path(),
        target_a.path(),
        target_b.path(),
        Path::new(&home),
        &host_cargo_home(),
    ] {
        let p = host_path.to_str().unwrap();
        assert!(!contains(&bin, p), "host path `{p}` is in the binary");
    }
    // The paths are there, under their stable names: the test sees what it checks.
    assert!(
        contains(&bin, "/cargo/registry/src/index.crates.io-"),
        "the registry crate's panic location is remapped to /cargo"
    );
    assert!(contains(&bin, &format!("{SMALLVEC}/src/lib.rs")));
    assert!(
        contains(&bin, "/build/target/") && contains(&bin, "/out/generated.rs"),
        "the build script's OUT_DIR is remapped to /build/target"
    );

    // The flags are the same every time, so cargo's fingerprint holds: a second
    // identical build compiles nothing.
    let again = build_in(a.path(), home_a.path(), target_a.path());
    assert!(first.stderr.contains("Compiling repro"), "{}", first.stderr);
    assert!(
        !again.stderr.contains("Compiling"),
        "the second build recompiled:\n{}",
        again.stderr
    );
    assert_eq!(again.digest, first.digest);

    // One target dir shared by two projects (CARGO_TARGET_DIR): switching between
    // them rebuilds only their own crates, never the dependency.
    build_in(b.path(), home_a.path(), target_a.path());
    let back = build_in(a.path(), home_a.path(), target_a.path());
    assert!(
        !back.stderr.contains("Compiling smallvec"),
        "switching projects rebuilt the dependency:\n{}",
        back.stderr
    );
    assert_eq!(back.digest, first.digest);
}

#[test]
fn with_its_own_target_dir_the_workspace_root_is_remapped_too() {
    warm_up();
    let (a, b) = (copy_fixture("repro"), copy_fixture("repro"));
    let home = tempfile::tempdir().unwrap();
    fresh_cargo_home(home.path());
    let feature = ["--features", "absolute-include"];
    let first = build_with(a.path(), home.path(), &a.path().join("target"), &feature);
    let second = build_with(b.path(), home.path(), &b.path().join("target"), &feature);
    assert_eq!(first.digest, second.digest);
    let bin = read_layer_file(&first.tarball, "repro").unwrap();
    assert!(!contains(&bin, a.path().to_str().unwrap()));
    // A file included by its absolute path is under the workspace's stable name,
    // and OUT_DIR (inside the workspace) under the target dir's.
    assert!(contains(&bin, "/build/repro/src/absolute.rs"));
    assert!(contains(&bin, "/build/target/"));
}

#[test]
fn users_build_rustflags_still_apply_next_to_the_remap_flags() {
    warm_up();
    let krate = copy_fixture("hello");
    std::fs::create_dir_all(krate.path().join(".cargo")).unwrap();
    std::fs::write(
        krate.path().join(".cargo/config.toml"),
        "[build]\nrustflags = [\"--cfg\", \"slim_user_flag\"]\n",
    )
    .unwrap();
    let target_dir = tempfile::tempdir().unwrap();
    let out = krate.path().join("out.tar");
    run_ok(
        slim(&["build", "-o", out.to_str().unwrap()])
            .current_dir(krate.path())
            .env("CARGO_TARGET_DIR", target_dir.path()),
    );
    let bin = read_layer_file(&out, "hello").unwrap();
    assert!(
        contains(&bin, "user rustflags applied"),
        "[build] rustflags of .cargo/config.toml were dropped"
    );
    assert!(!contains(&bin, krate.path().to_str().unwrap()));
}

#[test]
fn where_cargo_slim_is_installed_does_not_change_a_mimalloc_image() {
    if std::env::consts::ARCH != "x86_64" {
        return;
    }
    warm_up();
    let krate = copy_fixture("repro");
    let places = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for (i, place) in ["a", "b/other-dir"].iter().enumerate() {
        let exe = places.path().join(place).join("cargo-slim");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_cargo-slim"), &exe).unwrap();
        let target = tempfile::tempdir().unwrap();
        let out = places.path().join(format!("{i}.tar"));
        let o = run_ok(&mut slim_at(
            &exe,
            &[
                "build",
                "--message-format",
                "json",
                "--locked",
                "--allocator",
                "mimalloc",
                "--manifest-path",
                krate.path().join("Cargo.toml").to_str().unwrap(),
                "--target-dir",
                target.path().to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
        ));
        let line: serde_json::Value =
            serde_json::from_str(text(&o.stdout).lines().last().unwrap()).unwrap();
        assert_eq!(line["allocator"]["malloc"], "mimalloc", "{line}");
        digests.push(line["manifest_digest"].as_str().unwrap().to_string());
    }
    assert_eq!(
        digests[0], digests[1],
        "two installs of cargo-slim gave two images"
    );
}
