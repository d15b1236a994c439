//! The rebuild cache (`<target-dir>/slim-cache/`) against real builds of a copy
//! of testdata/service (a binary, `files`, labels): an unchanged rebuild reuses
//! the compressed layers and writes the same bytes; every input that decides the
//! bytes (the source, a `files` entry, `--compression`, `SOURCE_DATE_EPOCH`, a
//! label) gives a new tarball equal to a `--no-cache` build; and a corrupt or
//! truncated entry is ignored, never trusted.

use std::path::{Path, PathBuf};

use crate::support::*;

/// A copy of testdata/service under `target/`, and a target dir of its own (so
/// corrupting its cache touches no other test's).
struct Crate {
    dir: tempfile::TempDir,
    target: PathBuf,
}

impl Crate {
    fn new() -> Crate {
        let dir = copy_fixture_in("service", &repo().join("target/tmp"));
        let target = dir.path().join("target");
        Crate { dir, target }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `cargo slim build` of the copy into `name`, with its own target dir.
    fn command(&self, name: &str) -> std::process::Command {
        let manifest = self.path("Cargo.toml");
        let mut cmd = build_manifest(
            &manifest,
            &[
                "--target-dir",
                self.target.to_str().unwrap(),
                "-o",
                self.path(name).to_str().unwrap(),
            ],
        );
        cmd.env_remove("CARGO_SLIM_NO_CACHE");
        cmd
    }

    /// Build into `name`; the tarball and stderr.
    fn build(&self, name: &str, extra: &[&str], env: &[(&str, &str)]) -> (Vec<u8>, String) {
        let mut cmd = self.command(name);
        cmd.args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = run_ok(&mut cmd);
        (std::fs::read(self.path(name)).unwrap(), text(&o.stderr))
    }

    /// A cached build and a `--no-cache` build: both tarballs must be the same.
    fn both(&self, extra: &[&str], env: &[(&str, &str)]) -> (Vec<u8>, String) {
        let (cached, stderr) = self.build("cached.tar", extra, env);
        let mut fresh_args = extra.to_vec();
        fresh_args.push("--no-cache");
        let (fresh, fresh_err) = self.build("fresh.tar", &fresh_args, env);
        assert!(!fresh_err.contains("Reused"), "{fresh_err}");
        assert!(
            cached == fresh,
            "a cached build differs from a --no-cache build ({extra:?} {env:?})\n{stderr}"
        );
        (cached, stderr)
    }

    fn edit(&self, rel: &str, from: &str, to: &str) {
        let path = self.path(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{rel} holds no `{from}`");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
}

fn reused_layers(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("Reused layer"))
        .count()
}

/// Every entry file under `<target>/slim-cache/<kind>/` (none when there is no
/// such folder).
fn entries(target: &Path, kind: &str) -> Vec<PathBuf> {
    let dir = target.join("slim-cache").join(kind);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    found.sort();
    found
}

#[test]
fn an_unchanged_rebuild_reuses_every_layer_and_writes_the_same_tarball() {
    warm_up();
    let c = Crate::new();
    let (first, _) = c.build("image.tar", &[], &[]);
    let (second, stderr) = c.build("image.tar", &[], &[]);
    assert_eq!(first, second, "the rebuild changed the tarball");
    // system files, files, binary: three layers, all from the cache.
    assert_eq!(reused_layers(&stderr), 3, "{stderr}");
    let (fresh, fresh_err) = c.build("fresh.tar", &["--no-cache"], &[]);
    assert_eq!(reused_layers(&fresh_err), 0, "{fresh_err}");
    assert_eq!(
        first, fresh,
        "the cached build differs from a --no-cache build"
    );
    // The environment variable turns the cache off too.
    let (_, env_err) = c.build("env.tar", &[], &[("CARGO_SLIM_NO_CACHE", "1")]);
    assert_eq!(reused_layers(&env_err), 0, "{env_err}");
    let (_, verbose) = c.build("image.tar", &["-v"], &[]);
    assert!(
        verbose.contains("`cargo metadata` from the cache")
            && verbose.contains("per-crate sizes from the cache"),
        "{verbose}"
    );
}

/// What a build says when it takes the binary's verdict and stripped bytes from
/// the cache.
const BINARY_REUSED: &str = "is unchanged: its ELF verdict and stripped bytes come from the cache";

#[test]
fn an_unchanged_binary_is_reused_and_one_rewritten_in_place_is_not() {
    warm_up();
    let c = Crate::new();
    c.build("image.tar", &[], &[]);
    // A binary is trusted by its identity only once it has settled (100 ms).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (first, stderr) = c.build("image.tar", &[], &[]);
    assert_eq!(entries(&c.target, "binary").len(), 1, "{stderr}");
    let (again, stderr) = c.build("image.tar", &[], &[]);
    assert!(stderr.contains(BINARY_REUSED), "{stderr}");
    assert!(first == again, "reusing the binary changed the tarball");
    // Rewrite one string of the binary in place: the same size and inode, the
    // modification time set back. Only the change time (ctime) tells.
    let exe = c
        .target
        .join(format!("{}-unknown-linux-musl", std::env::consts::ARCH))
        .join("release/service");
    let meta = std::fs::metadata(&exe).unwrap();
    let mut bytes = std::fs::read(&exe).unwrap();
    let (from, to) = (&b"service build A"[..], &b"service build Z"[..]);
    let at: Vec<usize> = bytes
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    assert!(!at.is_empty(), "the binary holds no `service build A`");
    for i in at {
        bytes[i..i + to.len()].copy_from_slice(to);
    }
    let mut f = std::fs::OpenOptions::new().write(true).open(&exe).unwrap();
    std::io::Write::write_all(&mut f, &bytes).unwrap();
    f.set_modified(meta.modified().unwrap()).unwrap();
    drop(f);
    let after = std::fs::metadata(&exe).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap()),
        (meta.len(), meta.modified().unwrap())
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (edited, stderr) = c.build("image.tar", &[], &[]);
    assert!(!stderr.contains(BINARY_REUSED), "{stderr}");
    assert!(edited != first, "the rewritten binary was not packed");
    let (fresh, _) = c.build("fresh.tar", &["--no-cache"], &[]);
    assert!(edited == fresh, "the cached build differs from --no-cache");
}

#[test]
fn every_input_that_decides_the_bytes_gives_a_new_correct_tarball() {
    warm_up();
    let c = Crate::new();
    let (mut last, _) = c.both(&[], &[]);
    let mut check = |what: &str, extra: &[&str], env: &[(&str, &str)], reused: usize| {
        let (now, stderr) = c.both(extra, env);
        assert!(now != last, "{what}: the tarball did not change");
        assert_eq!(reused_layers(&stderr), reused, "{what}:\n{stderr}");
        last = now;
    };
    // A new binary: the system and files layers stay, the binary's is new.
    c.edit("src/main.rs", "service build A", "service build C");
    check("source", &[], &[], 2);
    c.edit("app.toml", "from /etc/app/app.toml", "changed");
    check("a files entry", &[], &[], 2);
    check("compression", &["--compression", "zstd:3"], &[], 0);
    check("epoch", &[], &[("SOURCE_DATE_EPOCH", "1700000000")], 0);
    // A label is in the image config only: every layer is reused, the tarball is new.
    c.edit(
        "Cargo.toml",
        "\"org.example.team\" = \"slim\"",
        "\"org.example.team\" = \"slimmer\"",
    );
    check("label", &[], &[], 3);
}

#[test]
fn a_corrupt_or_truncated_entry_is_ignored_and_the_output_stays_right() {
    warm_up();
    let c = Crate::new();
    let (good, _) = c.build("image.tar", &[], &[]);
    let layers = entries(&c.target, "layer");
    assert_eq!(layers.len(), 3, "{layers:?}");
    // Flip a byte in the middle of one layer, truncate another, cut the last to nothing.
    let mut bytes = std::fs::read(&layers[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&layers[0], &bytes).unwrap();
    let bytes = std::fs::read(&layers[1]).unwrap();
    std::fs::write(&layers[1], &bytes[..bytes.len() - 1]).unwrap();
    std::fs::write(&layers[2], b"").unwrap();
    for kind in ["binary", "stripped", "bloat", "metadata", "rustc"] {
        for e in entries(&c.target, kind) {
            let bytes = std::fs::read(&e).unwrap();
            std::fs::write(&e, &bytes[..bytes.len() / 2]).unwrap();
        }
    }
    let (again, stderr) = c.build("image.tar", &["-v"], &[]);
    assert_eq!(reused_layers(&stderr), 0, "{stderr}");
    assert!(!stderr.contains("from the cache"), "{stderr}");
    assert!(good == again, "a corrupt cache changed the tarball");
    // The entries were written again: the next build reuses them.
    let (third, stderr) = c.build("image.tar", &[], &[]);
    assert_eq!(reused_layers(&stderr), 3, "{stderr}");
    assert!(good == third);
}

#[test]
fn a_new_binary_target_is_seen_though_the_manifest_did_not_change() {
    warm_up();
    let c = Crate::new();
    c.build("image.tar", &[], &[]);
    std::fs::create_dir_all(c.path("src/bin")).unwrap();
    std::fs::write(c.path("src/bin/second.rs"), "fn main() {}\n").unwrap();
    let o = run_code(&mut c.command("two.tar"), 1);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("has several binaries") && stderr.contains("second"),
        "a cached `cargo metadata` hid the new binary:\n{stderr}"
    );
}

#[test]
fn a_binary_packed_outside_a_crate_leaves_no_cache_behind() {
    let dir = tempfile::tempdir_in({
        let t = repo().join("target/tmp");
        std::fs::create_dir_all(&t).unwrap();
        t
    })
    .unwrap();
    let binary = repo().join("testdata/elf/static");
    for _ in 0..2 {
        let o = run_ok(
            slim(&[
                "build",
                "--binary",
                binary.to_str().unwrap(),
                "-o",
                "out.tar",
            ])
            .current_dir(dir.path()),
        );
        assert_eq!(reused_layers(&text(&o.stderr)), 0);
    }
    assert!(dir.path().join("out.tar").is_file());
    assert!(
        !dir.path().join("target").exists(),
        "a target/ folder appeared for the cache"
    );
}
