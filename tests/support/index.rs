//! Helpers for the multi-platform tests: the hello fixture built for amd64 and
//! arm64 once per test run, and small per-platform images written with the
//! library (real ELF fixtures as the binary) for the refusal and verify tests.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cargo_slim::image::{build_image, tarball, ImageSpec, LayerBuilder, LayerOptions, Platform};
use cargo_slim::image::{Image, ImageSet};

use super::{fixture, in_ci, run_ok, slim, text};

/// The target triple of the arm64 build and the linker env var it needs.
pub const ARM64_TARGET: &str = "aarch64-unknown-linux-musl";

/// testdata/hello built for linux/amd64 and linux/arm64 (once per run, shared).
pub fn hello_pair() -> &'static (PathBuf, PathBuf) {
    static PAIR: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let dir = super::shared_dir("hello-pair");
        let amd = build_hello_for(&dir, "amd64.tar", None);
        let arm = build_hello_for(&dir, "arm64.tar", Some(ARM64_TARGET));
        (amd, arm)
    })
}

/// `cargo slim build` of testdata/hello to `dir/name`, for `target` (host's musl by default).
pub fn build_hello_for(dir: &Path, name: &str, target: Option<&str>) -> PathBuf {
    let out = dir.join(name);
    let manifest = fixture("hello").join("Cargo.toml");
    let mut cmd = slim(&["build", "--manifest-path"]);
    cmd.arg(&manifest).arg("-o").arg(&out);
    if let Some(t) = target {
        cmd.args(["--target", t]);
    }
    run_ok(&mut cmd);
    out
}

/// The OCI platform of a GOARCH name, variant as cargo slim writes it.
pub fn platform(goarch: &str) -> Platform {
    let row = cargo_slim::arch::from_name(goarch).expect("a known architecture");
    Platform {
        os: "linux".into(),
        architecture: row.goarch.into(),
        variant: row.variant.map(str::to_string),
    }
}

/// A one-layer image `reference` for `platform` whose entrypoint `/app` is the
/// ELF fixture `elf` (testdata/elf), every timestamp `epoch`.
pub fn fixture_image(reference: &str, platform: &Platform, elf: &str, epoch: u64) -> Image {
    let data = std::fs::read(fixture("elf").join(elf)).unwrap();
    let options = LayerOptions {
        epoch,
        ..LayerOptions::default()
    };
    let built = LayerBuilder::file("/app", 0o555, &data).unwrap();
    let layer = built.build(&options, None).unwrap().layer;
    let spec = ImageSpec {
        reference: cargo_slim::reference::Reference::parse(reference).unwrap(),
        ..ImageSpec::default()
    };
    build_image(&spec, platform, vec![layer], epoch).unwrap()
}

/// Write `images` as one tarball (one image: the single-platform layout).
pub fn write_images(path: &Path, images: Vec<Image>, epoch: u64) -> PathBuf {
    let set = ImageSet::new(images).unwrap();
    tarball::write_set(&set, path, epoch).unwrap();
    path.to_path_buf()
}

/// The amd64 (testdata/elf/static) and arm64 (aarch64-static) fixture images of `reference`.
pub fn fixture_pair(reference: &str, epoch: u64) -> (Image, Image) {
    (
        fixture_image(reference, &platform("amd64"), "static", epoch),
        fixture_image(reference, &platform("arm64"), "aarch64-static", epoch),
    )
}

/// Run `cmd` (which must succeed) under `/usr/bin/time`; its peak RSS in KiB.
pub fn peak_rss_kib(cmd: std::process::Command) -> u64 {
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed.args(["-f", "maxrss-kib=%M"]).arg(cmd.get_program());
    timed.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let out = timed.output().unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{cmd:?}: {stderr}");
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maxrss in {stderr}"))
}

/// Whether arm64 binaries run here (qemu-user-static registered with binfmt);
/// in CI they must.
pub fn arm64_runs() -> bool {
    let ok = Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists();
    if !ok {
        assert!(
            !in_ci(),
            "CI=true needs qemu-user-static registered with binfmt_misc (qemu-aarch64)"
        );
        eprintln!("SKIPPED: arm64 run: /proc/sys/fs/binfmt_misc/qemu-aarch64 is missing");
    }
    ok
}

/// `podman load` a single-platform arm64 tarball and run its image `tag` with
/// `--platform linux/arm64` (under qemu); returns stdout, trimmed.
pub fn podman_run_arm64(tarball: &Path, tag: &str) -> String {
    run_ok(
        std::process::Command::new("podman")
            .args(["load", "-q", "-i"])
            .arg(tarball),
    );
    let run = run_ok(std::process::Command::new("podman").args([
        "run",
        "--rm",
        "--runtime",
        "runc",
        "--platform",
        "linux/arm64",
        tag,
    ]));
    let _ = std::process::Command::new("podman")
        .args(["rmi", "-f", tag])
        .output();
    text(&run.stdout).trim().to_string()
}
