//! `cargo slim index`: per-platform tarballs → one multi-platform tarball. The
//! merge of a real amd64 and a real arm64 build of testdata/hello is validated
//! strictly, read by skopeo per platform, loaded and run by podman, and is the
//! same bytes whatever the input order; every refusal exits 1 naming the files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cargo_slim::validate::{validate_set, validate_tarball};

use crate::support::index::*;
use crate::support::*;

/// `cargo slim index INPUTS... -o OUT [extra]`.
fn index_cmd(inputs: &[&Path], out: &Path, extra: &[&str]) -> Command {
    let mut cmd = slim(&["index"]);
    cmd.args(inputs).arg("-o").arg(out).args(extra);
    cmd
}

fn merge_ok(inputs: &[&Path], out: &Path) -> Output {
    let o = run_ok(&mut index_cmd(inputs, out, &[]));
    assert_eq!(last_line(&o), out, "stdout is the output path");
    o
}

fn merged_hello(dir: &Path) -> PathBuf {
    let (amd, arm) = hello_pair();
    let out = dir.join("all.tar");
    merge_ok(&[amd, arm], &out);
    out
}

#[test]
fn merged_hello_validates_and_keeps_every_digest() {
    let (amd, arm) = hello_pair();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all.tar");
    let o = merge_ok(&[amd, arm], &out);
    let set = validate_set(&out).unwrap();
    assert_eq!(set.reference, "localhost/hello:0.1.0");
    assert_eq!(set.platforms(), "linux/amd64, linux/arm64/v8");
    let index = set.index_digest.clone().expect("an image index");
    assert!(
        text(&o.stderr).contains(&index),
        "the status line names the index digest: {}",
        text(&o.stderr)
    );
    // The manifests (and so configs and layers) are the inputs' own.
    for (input, image) in [amd, arm].iter().zip(&set.images) {
        let single = validate_tarball(input).unwrap();
        assert_eq!(single.manifest_digest, image.manifest_digest);
        assert_eq!(single.config_bytes, image.config_bytes);
    }
    // `verify` checks both platforms' real binaries.
    let v = run_ok(slim(&["verify"]).arg(&out));
    let lines = text(&v.stdout);
    assert!(
        lines.contains("linux/amd64: ok") && lines.contains("linux/arm64/v8: ok"),
        "{lines}"
    );
    // A single-platform reader is told what it got.
    let e = format!("{:#}", validate_tarball(&out).unwrap_err());
    assert!(e.contains("multi-platform"), "{e}");
}

#[test]
fn merging_is_byte_identical_in_any_order_and_again() {
    let (amd, arm) = hello_pair();
    let dir = tempfile::tempdir().unwrap();
    let ab = dir.path().join("ab.tar");
    let ba = dir.path().join("ba.tar");
    let again = dir.path().join("again.tar");
    merge_ok(&[amd, arm], &ab);
    merge_ok(&[arm, amd], &ba);
    merge_ok(&[amd, arm], &again);
    assert_eq!(sha256_file(&ab), sha256_file(&ba));
    assert_eq!(sha256_file(&ab), sha256_file(&again));
    // A merged tarball is a valid input too: merging it alone changes nothing.
    let re = dir.path().join("re.tar");
    merge_ok(&[&ab], &re);
    assert_eq!(sha256_file(&ab), sha256_file(&re));
}

#[test]
fn merge_equals_a_direct_multi_platform_write() {
    let dir = tempfile::tempdir().unwrap();
    let (amd, arm) = fixture_pair("localhost/direct:1", 1_700_000_000);
    let a = write_images(&dir.path().join("a.tar"), vec![amd.clone()], 1_700_000_000);
    let b = write_images(&dir.path().join("b.tar"), vec![arm.clone()], 1_700_000_000);
    let direct = write_images(
        &dir.path().join("direct.tar"),
        vec![arm, amd],
        1_700_000_000,
    );
    let merged = dir.path().join("merged.tar");
    merge_ok(&[&b, &a], &merged);
    assert_eq!(sha256_file(&merged), sha256_file(&direct));
    assert_eq!(validate_set(&merged).unwrap().mtime, 1_700_000_000);
}

#[test]
fn skopeo_reads_each_platform_of_the_merge() {
    if !have("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = merged_hello(dir.path());
    let set = validate_set(&out).unwrap();
    let inspect = |source: String, arch: Option<&str>| -> serde_json::Value {
        let mut cmd = Command::new("skopeo");
        if let Some(a) = arch {
            cmd.args(["--override-arch", a]);
        }
        let o = run_ok(cmd.arg("inspect").arg(source));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let oci = format!("oci-archive:{}", out.display());
    for (arch, image) in ["amd64", "arm64"].iter().zip(&set.images) {
        let v = inspect(oci.clone(), Some(arch));
        assert_eq!(v["Architecture"], *arch);
        assert_eq!(
            v["Digest"],
            set.digest(),
            "the pulled digest is the index's"
        );
        let o = run_ok(
            Command::new("skopeo")
                .args(["--override-arch", arch, "inspect", "--config"])
                .arg(&oci),
        );
        let config: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(config, image.config, "{arch}: the config is ours");
    }
    // Copying one platform out gives that platform's manifest, unchanged.
    let arm_only = dir.path().join("arm64-only.tar");
    run_ok(
        Command::new("skopeo")
            .args(["--override-arch", "arm64", "copy", "-q"])
            .arg(&oci)
            .arg(format!("oci-archive:{}", arm_only.display())),
    );
    let v = inspect(format!("oci-archive:{}", arm_only.display()), None);
    assert_eq!(v["Digest"], set.images[1].manifest_digest.as_str());
    // The docker-archive view (manifest.json) is the first platform, amd64,
    // and copies out as that one image.
    let v = inspect(format!("docker-archive:{}", out.display()), None);
    assert_eq!(v["Architecture"], "amd64");
    let from_docker = dir.path().join("from-docker.tar");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "-q"])
            .arg(format!("docker-archive:{}", out.display()))
            .arg(format!("oci-archive:{}", from_docker.display())),
    );
    let o = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!("oci-archive:{}", from_docker.display())),
    );
    let config: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["rootfs"], set.images[0].config["rootfs"]);
}

#[test]
fn podman_loads_the_merge_and_runs_each_platform() {
    if !have("podman") || !have("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = merged_hello(dir.path());
    let set = validate_set(&out).unwrap();
    let tag = format!("localhost/slim-index-e2e:{}", std::process::id());
    let retagged = dir.path().join("retagged.tar");
    // `podman load` reads the OCI index and stores the host's platform (amd64)
    // under the tarball's name; load a copy under a unique name so parallel runs
    // cannot collide.
    run_ok(
        Command::new("skopeo")
            .args(["copy", "-q", "--all"])
            .arg(format!("oci-archive:{}", out.display()))
            .arg(format!("oci-archive:{}:{tag}", retagged.display())),
    );
    let load = run_ok(Command::new("podman").args(["load", "-i"]).arg(&retagged));
    assert!(text(&load.stdout).contains(&tag), "{}", text(&load.stdout));
    let arch = run_ok(Command::new("podman").args([
        "image",
        "inspect",
        "--format",
        "{{.Architecture}}",
        &tag,
    ]));
    assert_eq!(text(&arch.stdout).trim(), "amd64");
    let run = run_ok(Command::new("podman").args(["run", "--rm", "--runtime", "runc", &tag]));
    assert_eq!(text(&run.stdout).trim(), HELLO_LINE);
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();

    // The plain file loads too (podman reads it as an OCI archive).
    let load = run_ok(Command::new("podman").args(["load", "-i"]).arg(&out));
    assert!(
        text(&load.stdout).contains(&set.reference),
        "{}",
        text(&load.stdout)
    );
    let _ = Command::new("podman")
        .args(["rmi", "-f", &set.reference])
        .output();

    if arm64_runs() {
        // The arm64 image, copied out under a unique name, runs under qemu.
        let arm_tag = format!("{tag}-arm64");
        let arm_only = dir.path().join("arm64.tar");
        run_ok(
            Command::new("skopeo")
                .args(["--override-arch", "arm64", "copy", "-q"])
                .arg(format!("oci-archive:{}", out.display()))
                .arg(format!("oci-archive:{}:{arm_tag}", arm_only.display())),
        );
        assert_eq!(podman_run_arm64(&arm_only, &arm_tag), HELLO_LINE);
    }
}

/// Exit 1, nothing written at `out`, stderr naming every needle.
fn refused(cmd: &mut Command, out: &Path, needles: &[&str]) {
    let o = run_code(cmd, 1);
    let err = text(&o.stderr);
    for n in needles {
        assert!(err.contains(n), "stderr does not name {n:?}:\n{err}");
    }
    assert!(!out.exists(), "nothing may be written on a refusal");
}

#[test]
fn refusals_name_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out.tar");
    let (amd, arm) = fixture_pair("localhost/app:1", 0);
    let a = write_images(&d.join("amd64.tar"), vec![amd.clone()], 0);
    let b = write_images(&d.join("arm64.tar"), vec![arm], 0);

    // The same platform twice (also inside a multi-platform input).
    let a2 = write_images(&d.join("amd64-again.tar"), vec![amd.clone()], 0);
    refused(
        &mut index_cmd(&[&a, &a2], &out, &[]),
        &out,
        &["same platform linux/amd64", "amd64.tar", "amd64-again.tar"],
    );
    let both = d.join("both.tar");
    merge_ok(&[&a, &b], &both);
    refused(
        &mut index_cmd(&[&both, &b], &out, &[]),
        &out,
        &["linux/arm64/v8", "both.tar", "arm64.tar"],
    );

    // Different references: another tag, another name.
    for (file, reference) in [
        ("tag.tar", "localhost/app:2"),
        ("name.tar", "localhost/other:1"),
    ] {
        let (_, arm) = fixture_pair(reference, 0);
        let other = write_images(&d.join(file), vec![arm], 0);
        refused(
            &mut index_cmd(&[&a, &other], &out, &[]),
            &out,
            &["different references", "localhost/app:1", reference, file],
        );
    }

    // Different SOURCE_DATE_EPOCH.
    let (_, late) = fixture_pair("localhost/app:1", 1_700_000_000);
    let late = write_images(&d.join("late.tar"), vec![late], 1_700_000_000);
    refused(
        &mut index_cmd(&[&a, &late], &out, &[]),
        &out,
        &["SOURCE_DATE_EPOCH", "amd64.tar", "late.tar", "1700000000"],
    );

    // Not an image tarball: text, a truncated tarball, a missing file.
    let junk = d.join("junk.tar");
    std::fs::write(&junk, "not a tarball\n").unwrap();
    refused(
        &mut index_cmd(&[&a, &junk], &out, &[]),
        &out,
        &["junk.tar", "not a valid image tarball"],
    );
    let bytes = std::fs::read(&b).unwrap();
    let cut = d.join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    refused(
        &mut index_cmd(&[&a, &cut], &out, &[]),
        &out,
        &["cut.tar", "not a valid image tarball"],
    );
    refused(
        &mut index_cmd(&[&a, &d.join("missing.tar")], &out, &[]),
        &out,
        &["missing.tar"],
    );
}

#[test]
fn the_output_is_checked_like_build_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (amd, arm) = fixture_pair("localhost/app:1", 0);
    let a = write_images(&d.join("amd64.tar"), vec![amd], 0);
    let b = write_images(&d.join("arm64.tar"), vec![arm], 0);

    // -o is required (a usage error).
    let o = run_code(slim(&["index"]).arg(&a).arg(&b), 2);
    assert!(text(&o.stderr).contains("--output"), "{}", text(&o.stderr));

    // A file that is not an image tarball is not overwritten without --force.
    let notes = d.join("notes.txt");
    std::fs::write(&notes, "keep me\n").unwrap();
    let o = run_code(&mut index_cmd(&[&a, &b], &notes, &[]), 2);
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "keep me\n");
    let o = run_ok(&mut index_cmd(&[&a, &b], &notes, &["--force"]));
    assert_eq!(last_line(&o), notes);
    validate_set(&notes).unwrap();

    // An old image tarball is replaced, atomically: no temporary file is left.
    let out = d.join("all.tar");
    std::fs::copy(&a, &out).unwrap();
    merge_ok(&[&a, &b], &out);
    assert_eq!(validate_set(&out).unwrap().images.len(), 2);
    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // JSON output: the `indexed` line.
    let o = run_ok(&mut index_cmd(
        &[&a, &b],
        &out,
        &["--message-format", "json"],
    ));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reason"], "indexed");
    assert_eq!(v["digest"], validate_set(&out).unwrap().digest());
    assert_eq!(
        v["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64/v8"])
    );
}

/// Layers are streamed from the inputs into the output: merging two images
/// with a 16 MiB incompressible layer each peaks below 1.5 × one layer (about
/// 17 MiB is the binary itself; holding a layer would be 33 MiB or more).
#[test]
fn merging_big_layers_streams_them() {
    if !have("/usr/bin/time") {
        return;
    }
    const LAYER: usize = 16 << 20;
    let inputs = [big_input("amd64", 1, LAYER), big_input("arm64", 2, LAYER)];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all.tar");
    let started = std::time::Instant::now();
    let mut cmd = slim(&["index"]);
    cmd.args(&inputs).arg("-o").arg(&out);
    let kib = peak_rss_kib(cmd);
    eprintln!(
        "cargo slim index of 2 × {LAYER}-byte layers: peak RSS {kib} KiB, {:.1?}",
        started.elapsed()
    );
    assert!(
        kib * 1024 < LAYER as u64 * 3 / 2,
        "peak RSS {kib} KiB merging two {LAYER}-byte layers"
    );
    assert!(std::fs::metadata(&out).unwrap().len() > 2 * LAYER as u64);
}

/// A `goarch` image whose one layer is `len` incompressible bytes; kept in the
/// fixtures' target dir between runs (the content is deterministic, and the
/// file is written atomically, so one that exists is whole; `index` validates it).
fn big_input(goarch: &str, seed: u64, len: usize) -> PathBuf {
    use cargo_slim::image::{build_image, ImageSpec, LayerBuilder};
    let path = fixture_target_dir()
        .join("index-test")
        .join(format!("{goarch}-{len}.tar"));
    if path.exists() {
        return path;
    }
    let data = noise(seed, len);
    let built = LayerBuilder::file("/payload.bin", 0o444, &data).unwrap();
    let layer = built.build(&Default::default(), None).unwrap().layer;
    let image = build_image(&ImageSpec::default(), &platform(goarch), vec![layer], 0).unwrap();
    write_images(&path, vec![image], 0)
}

/// An output that is one of the inputs — named directly, through a symlink or
/// as a hard link — is a usage error, and the input is left as it was.
#[test]
fn an_input_is_never_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (amd, arm) = fixture_pair("localhost/app:1", 0);
    let a = write_images(&d.join("amd64.tar"), vec![amd], 0);
    let b = write_images(&d.join("arm64.tar"), vec![arm], 0);
    let before = sha256_file(&a);
    let link = d.join("link.tar");
    std::os::unix::fs::symlink("amd64.tar", &link).unwrap();
    let hard = d.join("hard.tar");
    std::fs::hard_link(&b, &hard).unwrap();
    let sub = d.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let dotted = sub.join("../amd64.tar");
    for (out, input) in [(&a, &a), (&link, &a), (&hard, &b), (&dotted, &a)] {
        let o = run_code(&mut index_cmd(&[&a, &b], out, &[]), 2);
        let err = text(&o.stderr);
        assert!(
            err.contains(&format!(
                "the output `{}` is the input `{}`",
                out.display(),
                input.display()
            )),
            "{err}"
        );
        assert!(o.stdout.is_empty());
    }
    assert_eq!(sha256_file(&a), before, "the input is unchanged");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    // The same with --force: replacing an input is never what was meant.
    run_code(&mut index_cmd(&[&a, &b], &link, &["--force"]), 2);
    assert_eq!(sha256_file(&a), before);
}
