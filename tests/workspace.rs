//! Workspaces build as cargo builds them: the member you stand in or name, any
//! package-id spec, the owner of `--bin`; `[workspace.metadata.slim]` gives every
//! member's defaults; cargo's own flags pass through.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

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

/// Several images: `args` run at the root of `dir` with a target dir of their
/// own (the images' default outputs go under it).
fn build_many(dir: &Path, target: &Path, args: &[&str], code: i32) -> Output {
    let mut all = vec!["build", "--target-dir", target.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut cmd = slim(&all);
    cmd.current_dir(dir);
    if code == 0 {
        run_ok(&mut cmd)
    } else {
        run_code(&mut cmd, code)
    }
}

/// Entries of `<target>/slim` (tarballs, reports, SBOMs), sorted.
fn outputs(target: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(target.join("slim"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn the_workspace_builds_every_member_in_one_cargo_run() {
    let t = tempfile::tempdir().unwrap();
    let o = build_many(&ws(), t.path(), &["--workspace"], 0);
    let err = text(&o.stderr);
    // One cargo run for both binaries.
    let building: Vec<&str> = err.lines().filter(|l| l.contains("Building")).collect();
    assert_eq!(building.len(), 1, "{err}");
    assert!(building[0].contains("alpha, beta for linux/"), "{err}");
    // One tarball per image, printed in order; each runs its own binary.
    let printed: Vec<PathBuf> = text(&o.stdout).lines().map(PathBuf::from).collect();
    let slim_dir = t.path().join("slim");
    assert_eq!(
        printed,
        [
            slim_dir.join("alpha-0.1.0.tar"),
            slim_dir.join("beta-0.2.0.tar")
        ]
    );
    assert_eq!(
        run_from(&printed[0], "/alpha"),
        "alpha: hello, from common\n"
    );
    assert_eq!(run_from(&printed[1], "/beta"), "beta: from common\n");
    // Each image has its own settings over the workspace's.
    let beta = validate_tarball(&printed[1]).unwrap();
    assert_eq!(beta.reference, "localhost/beta-image:0.2.0");
    assert_eq!(
        beta.config["config"]["Labels"]["org.example.member"],
        "beta"
    );
    assert_eq!(beta.config["config"]["User"], "1000:1000");
    // The closing table: a row per image, with its manifest digest.
    let header = err
        .lines()
        .position(|l| l.starts_with("IMAGE"))
        .expect(&err);
    let rows: Vec<&str> = err.lines().skip(header + 1).collect();
    assert!(
        rows[0].starts_with("alpha ") && rows[1].starts_with("beta "),
        "{err}"
    );
    let short = &validate_tarball(&printed[0]).unwrap().manifest_digest[..19];
    assert!(rows[0].ends_with(short), "{err}");

    // `-p alpha -p beta` is the same selection: the same images, bit for bit.
    let digests =
        |paths: &[PathBuf]| -> Vec<String> { paths.iter().map(|p| sha256_file(p)).collect() };
    let before = digests(&printed);
    let o = build_many(&ws(), t.path(), &["-p", "alpha", "-p", "beta"], 0);
    let again: Vec<PathBuf> = text(&o.stdout).lines().map(PathBuf::from).collect();
    assert_eq!(again, printed);
    assert_eq!(digests(&again), before);

    // JSON: one `build` line per image and platform.
    let o = build_many(
        &ws(),
        t.path(),
        &["--workspace", "--message-format", "json"],
        0,
    );
    let refs: Vec<String> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| v["reference"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        refs,
        ["localhost/alpha:0.1.0", "localhost/beta-image:0.2.0"]
    );
}

#[test]
fn skip_exclude_and_bins_choose_the_images() {
    let ws = copy_fixture("ws");
    // A member left out of --workspace by its table, that does not compile.
    std::fs::create_dir_all(ws.path().join("broken/src")).unwrap();
    std::fs::write(
        ws.path().join("broken/Cargo.toml"),
        "[package]\nname = \"broken\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [package.metadata.slim]\nskip = true\n",
    )
    .unwrap();
    std::fs::write(
        ws.path().join("broken/src/main.rs"),
        "fn main() { compile_error!(\"broken on purpose\"); }\n",
    )
    .unwrap();
    let root = ws.path().join("Cargo.toml");
    let manifest = std::fs::read_to_string(&root).unwrap().replace(
        "members = [\"alpha\", \"beta\", \"common\"]",
        "members = [\"alpha\", \"beta\", \"common\", \"broken\"]",
    );
    std::fs::write(&root, manifest).unwrap();
    let t = tempfile::tempdir().unwrap();

    // skip = true and --exclude leave members out.
    build_many(
        ws.path(),
        t.path(),
        &["--workspace", "--exclude", "beta"],
        0,
    );
    assert_eq!(
        outputs(t.path()),
        [
            "alpha-0.1.0.report.json",
            "alpha-0.1.0.spdx.json",
            "alpha-0.1.0.tar"
        ]
    );
    // --bins: an image of each binary of the package.
    std::fs::create_dir_all(ws.path().join("alpha/src/bin")).unwrap();
    std::fs::write(
        ws.path().join("alpha/src/bin/alpha-admin.rs"),
        "fn main() { println!(\"admin: {}\", common::shared()); }\n",
    )
    .unwrap();
    let o = build_many(ws.path(), t.path(), &["-p", "alpha", "--bins"], 0);
    let printed: Vec<PathBuf> = text(&o.stdout).lines().map(PathBuf::from).collect();
    assert_eq!(printed.len(), 2, "{}", text(&o.stderr));
    assert_eq!(
        run_from(&printed[1], "/alpha-admin"),
        "admin: from common\n"
    );

    // A member that fails names itself; the other image is still written in full.
    std::fs::remove_dir_all(t.path().join("slim")).unwrap();
    let o = build_many(ws.path(), t.path(), &["-p", "broken", "-p", "beta"], 1);
    let err = text(&o.stderr);
    assert!(err.contains("broken on purpose"), "{err}");
    assert!(err.contains("1 of 2 images failed: broken"), "{err}");
    assert!(err.contains("failed (error above)"), "{err}");
    assert_eq!(
        outputs(t.path()),
        [
            "beta-0.2.0.report.json",
            "beta-0.2.0.spdx.json",
            "beta-0.2.0.tar"
        ]
    );
    validate_tarball(&t.path().join("slim/beta-0.2.0.tar")).unwrap();
}

#[test]
fn selections_that_cannot_work_are_usage_errors() {
    let t = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&["--workspace", "-o", "x.tar"][..], "`-o` names one file"),
        (
            &["--workspace", "--bin", "alpha"][..],
            "`--bin` chooses one binary",
        ),
        (
            &["--exclude", "beta"][..],
            "`--exclude` leaves packages out",
        ),
        (
            &["--workspace", "--tag", "one:1"][..],
            "would have one image reference",
        ),
        (&["--workspace", "--exclude", "nope"][..], "names no member"),
    ] {
        let o = build_many(&ws(), t.path(), args, 2);
        let err = text(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!t.path().join("slim").exists(), "{args:?} wrote outputs");
    }
}

#[test]
fn bins_puts_several_binaries_in_one_image() {
    let ws = copy_fixture("ws");
    std::fs::create_dir_all(ws.path().join("alpha/src/bin")).unwrap();
    std::fs::write(
        ws.path().join("alpha/src/bin/alpha-admin.rs"),
        "fn main() { println!(\"admin: {}\", common::shared()); }\n",
    )
    .unwrap();
    let manifest = ws.path().join("alpha/Cargo.toml");
    let base = std::fs::read_to_string(&manifest).unwrap();
    let with = |table: &str| {
        std::fs::write(
            &manifest,
            format!("{base}\n[package.metadata.slim]\n{table}\n"),
        )
        .unwrap();
    };
    with("bins = [\"alpha\", \"alpha-admin\"]\nentrypoint = \"alpha-admin\"");
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("alpha.tar");
    let o = build_many(
        ws.path(),
        t.path(),
        &[
            "-p",
            "alpha",
            "-o",
            out.to_str().unwrap(),
            "--message-format",
            "json",
        ],
        0,
    );
    let err = text(&o.stderr);
    // Both binaries in one cargo run, each verified and stripped.
    assert!(err.contains("Building alpha-admin, alpha for"), "{err}");
    assert_eq!(err.matches("Verifying").count(), 2, "{err}");
    let img = validate_tarball(&out).unwrap();
    assert_eq!(img.config["config"]["Entrypoint"][0], "/alpha-admin");
    assert_eq!(run_from(&out, "/alpha-admin"), "admin: from common\n");
    assert_eq!(run_from(&out, "/alpha"), "alpha: hello, from common\n");
    // One layer holds both; the report lists the other binary with its sizes.
    let history: Vec<String> = img.config["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        history
            .iter()
            .any(|h| h.contains("static binaries /alpha-admin, /alpha")),
        "{history:?}"
    );
    let report: serde_json::Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    let others = report["binaries"].as_array().unwrap();
    assert_eq!(others.len(), 1, "{report}");
    assert_eq!(others[0]["name"], "alpha");
    assert_eq!(others[0]["path"], "/alpha");
    assert_eq!(others[0]["linkage"], "static-pie");
    let stripped = others[0]["stripped"].as_u64().unwrap();
    assert!(stripped > 0 && stripped < others[0]["unstripped"].as_u64().unwrap());
    assert_eq!(
        others[0]["final"].as_u64().unwrap() as usize,
        read_layer_file(&out, "/alpha").unwrap().len()
    );

    // A list that names what the package lacks is an error naming the key.
    with("bins = [\"alpha\", \"nope\"]");
    let err = text(&build_many(ws.path(), t.path(), &["-p", "alpha"], 1).stderr);
    assert!(err.contains("`nope`"), "{err}");
    with("bins = [\"alpha\"]\nentrypoint = \"alpha-admin\"");
    let err = text(&build_many(ws.path(), t.path(), &["-p", "alpha"], 1).stderr);
    assert!(
        err.contains("invalid `entrypoint`") && err.contains("not in `bins`"),
        "{err}"
    );
}

#[test]
fn a_workspace_push_sends_each_image_to_its_repository() {
    let Some(reg) = crate::support::registry::Registry::with_skopeo() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let refs = t.path().join("refs.txt");
    let repo = format!("{}/ws", reg.host());
    let mut all = vec!["build", "--target-dir", t.path().to_str().unwrap()];
    all.extend([
        "--workspace",
        "--push",
        "--repository",
        &repo,
        "--image-refs",
        refs.to_str().unwrap(),
    ]);
    let mut cmd = slim(&all);
    cmd.current_dir(ws());
    isolate(&mut cmd);
    let o = run_ok(&mut cmd);
    // stdout: each image's tarball, then where it was pushed.
    let lines: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    let pinned: Vec<&String> = lines.iter().filter(|l| l.contains("@sha256:")).collect();
    assert!(
        pinned[0].starts_with(&format!("{repo}/alpha@sha256:")),
        "{lines:?}"
    );
    assert!(
        pinned[1].starts_with(&format!("{repo}/beta@sha256:")),
        "{lines:?}"
    );
    // --image-refs lists every image, one a line.
    let listed = std::fs::read_to_string(&refs).unwrap();
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        pinned.iter().map(|p| p.as_str()).collect::<Vec<_>>()
    );
    // Each is in the registry under its digest and the package's version tag.
    for (p, tag) in pinned.iter().zip(["alpha:0.1.0", "beta:0.2.0"]) {
        let digest = p.split_once('@').unwrap().1;
        let o = run_ok(
            std::process::Command::new("skopeo")
                .args(["inspect", "--tls-verify=false"])
                .arg(format!("docker://{repo}/{tag}")),
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["Digest"], digest, "{tag}");
    }
}

/// `nm` of `binary`: the address of each symbol named in `names`.
fn addresses(binary: &Path, names: &[&str]) -> Vec<Option<String>> {
    let o = run_ok(std::process::Command::new("nm").arg(binary));
    let nm = text(&o.stdout);
    names
        .iter()
        .map(|name| {
            nm.lines().find_map(|l| {
                let p: Vec<&str> = l.split_whitespace().collect();
                (p.len() == 3 && p[2] == *name).then(|| p[0].to_string())
            })
        })
        .collect()
}

#[test]
fn images_with_mimalloc_share_one_cargo_run() {
    if !have("nm") || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let args = [
        "--workspace",
        "--allocator",
        "mimalloc",
        "--message-format",
        "json",
    ];
    let o = build_many(&ws(), t.path(), &args, 0);
    let err = text(&o.stderr);
    // One cargo run for both binaries, each linked with mimalloc.
    let building: Vec<&str> = err.lines().filter(|l| l.contains("Building")).collect();
    assert_eq!(building.len(), 1, "{err}");
    assert!(building[0].contains("alpha, beta for linux/amd64"), "{err}");
    let lines: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", text(&o.stdout));
    for (line, bin) in lines.iter().zip(["alpha", "beta"]) {
        let a = &line["allocator"];
        assert_eq!(
            (&a["name"], &a["malloc"]),
            (&"mimalloc".into(), &"mimalloc".into())
        );
        let unstripped = t.path().join("x86_64-unknown-linux-musl/release").join(bin);
        let [malloc, mi_malloc, musl] =
            &addresses(&unstripped, &["malloc", "mi_malloc", "__libc_malloc_impl"])[..]
        else {
            unreachable!()
        };
        assert!(
            malloc.is_some() && malloc == mi_malloc,
            "{bin}: malloc is mimalloc's"
        );
        assert!(musl.is_none(), "{bin}: musl's allocator is in the binary");
        let tar = PathBuf::from(line["path"].as_str().unwrap());
        let says = if bin == "alpha" {
            "alpha: hello, from common\n"
        } else {
            "beta: from common\n"
        };
        assert_eq!(run_from(&tar, &format!("/{bin}")), says);
    }
    // Again: cargo has nothing to do (each binary's choice is in its fingerprint).
    let o = build_many(&ws(), t.path(), &args, 0);
    assert!(
        !text(&o.stderr).contains("Compiling"),
        "{}",
        text(&o.stderr)
    );
}
