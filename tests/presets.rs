//! `--opt size`: the profile settings of a small binary, added with cargo
//! `--config` (the user's Cargo.toml untouched), the user's own profile keys
//! kept, the trade-off said, the figures in the report, and the image still runs.
//! `--opt min` (nightly build-std) for the host and for linux/arm64 (run under
//! qemu), refused before compiling when the nightly lacks what it needs.

use std::process::Command;

use serde_json::Value;

use crate::support::index::{arm64_runs, podman_run_arm64};
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
        assert_eq!(podman_run(&tagged, tag), HELLO_LINE);
    }
}

/// `podman load` the tarball, run `tag` (runc), remove it: the trimmed stdout.
fn podman_run(tarball: &std::path::Path, tag: &str) -> String {
    run_ok(
        Command::new("podman")
            .args(["load", "-q", "-i"])
            .arg(tarball),
    );
    let run = run_ok(Command::new("podman").args(["run", "--rm", "--runtime", "runc", tag]));
    let _ = Command::new("podman").args(["rmi", "-f", tag]).output();
    text(&run.stdout).trim().to_string()
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

// --- `--opt min` (nightly build-std) and `static-pie = false` ---

/// The machine's nightly toolchain folder, when nightly with `rust-src` is
/// installed; `None` (a skip, or a failure with CI=true) otherwise.
fn nightly_with_rust_src() -> Option<std::path::PathBuf> {
    let rustc = Command::new("rustup")
        .args(["which", "--toolchain", "nightly", "rustc"])
        .env("RUSTUP_AUTO_INSTALL", "0")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| std::path::PathBuf::from(text(&o.stdout).trim()));
    let dir = rustc.and_then(|r| Some(r.parent()?.parent()?.to_path_buf()));
    let ready = dir
        .as_ref()
        .is_some_and(|d| d.join("lib/rustlib/src/rust/library/Cargo.lock").is_file());
    if ready {
        return dir;
    }
    assert!(
        !in_ci(),
        "CI=true needs `rustup toolchain install nightly --profile minimal -c rust-src` \
         and `rustup target add --toolchain nightly x86_64-unknown-linux-musl \
         aarch64-unknown-linux-musl`"
    );
    eprintln!("skipping: no nightly toolchain with rust-src");
    None
}

/// The one `--opt min` build of hello, shared by the tests that read it: a copy
/// whose `.cargo/config.toml` sets `--cfg slim_user_flag`, in its own target dir
/// (build-std recompiles std whenever the rustflags change). `--offline`: the
/// std's crates come from the cargo cache, never the network.
struct MinHello {
    _krate: tempfile::TempDir,
    json: Value,
    stderr: String,
    tarball: std::path::PathBuf,
}

const MIN_TAG: &str = "localhost/hello-min:1";

fn min_hello() -> Option<&'static MinHello> {
    static BUILT: std::sync::OnceLock<MinHello> = std::sync::OnceLock::new();
    nightly_with_rust_src()?;
    Some(BUILT.get_or_init(|| {
        let krate = copy_fixture("hello");
        add_user_rustflags(krate.path());
        let tarball = krate.path().join("min.tar");
        let o = run_ok(
            slim(&["--message-format", "json", "build", "--opt", "min"])
                .args(["--offline", "--sbom", "none", "--tag", MIN_TAG, "-o"])
                .arg(&tarball)
                .arg("--manifest-path")
                .arg(krate.path().join("Cargo.toml"))
                // cargo reads `.cargo/config.toml` from the folder it runs in.
                .current_dir(krate.path())
                .env(
                    "CARGO_TARGET_DIR",
                    repo().join("target/fixtures-presets-min"),
                ),
        );
        let json = serde_json::from_str(text(&o.stdout).lines().next().unwrap()).unwrap();
        MinHello {
            _krate: krate,
            json,
            stderr: text(&o.stderr),
            tarball,
        }
    }))
}

#[test]
fn min_preset_hello_pulls_under_25_kb_and_runs() {
    let Some(min) = min_hello() else { return };
    let v = &min.json;
    let pull = v["sizes"]["image_pull"].as_u64().unwrap();
    assert!(pull <= 25_000, "pull {pull} > 25,000 B");
    assert_eq!(v["preset"]["name"], "min");
    let set: Vec<&str> = v["preset"]["set"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for want in [
        "panic = \"immediate-abort\"",
        "unstable.build-std = [\"std\", \"panic_abort\"]",
        "unstable.build-std-features = [\"optimize_for_size\"]",
        "unstable.panic-immediate-abort = true",
        "rustflags = [\"-Zlocation-detail=none\", \"-Zfmt-debug=none\"]",
    ] {
        assert!(set.contains(&want), "{want} not in {set:?}");
    }
    let err = &min.stderr;
    assert!(
        err.contains("panic messages") || err.contains("panic message"),
        "{err}"
    );
    assert!(err.contains("{:?}"), "{err}");
    if have("podman") {
        // Both lines: the program runs, and the user's own rustflags (from the
        // copy's .cargo/config.toml) reached the build beside the preset's.
        assert_eq!(
            podman_run(&min.tarball, MIN_TAG),
            format!("{HELLO_LINE}\nuser rustflags applied")
        );
    }
}

/// A RUSTUP_HOME beside the machine's (same settings, every toolchain linked) in
/// which each `(toolchain folder, entry)` of `without` lacks `lib/rustlib/<entry>`:
/// that toolchain's `bin` and `lib` files are hard links (rustc finds its sysroot
/// from its own path, so a symlinked rustc would find the real one), and every
/// other `lib/rustlib` entry a symlink. Nothing global is uninstalled.
fn rustup_home_without(without: &[(&std::path::Path, &str)]) -> tempfile::TempDir {
    let real_home = without[0].0.parent().unwrap().parent().unwrap();
    let home = tempfile::tempdir().unwrap();
    let toolchains = home.path().join("toolchains");
    std::fs::create_dir_all(&toolchains).unwrap();
    std::fs::copy(
        real_home.join("settings.toml"),
        home.path().join("settings.toml"),
    )
    .unwrap();
    for e in std::fs::read_dir(real_home.join("toolchains"))
        .unwrap()
        .flatten()
    {
        let real = e.path();
        let dropped: Vec<&str> = without
            .iter()
            .filter(|(t, _)| *t == real.as_path())
            .map(|(_, entry)| *entry)
            .collect();
        let fake = toolchains.join(e.file_name());
        if dropped.is_empty() {
            std::os::unix::fs::symlink(&real, &fake).unwrap();
            continue;
        }
        link_files(&real.join("bin"), &fake.join("bin"));
        link_files(&real.join("lib"), &fake.join("lib"));
        std::fs::create_dir_all(fake.join("lib/rustlib")).unwrap();
        for r in std::fs::read_dir(real.join("lib/rustlib"))
            .unwrap()
            .flatten()
        {
            if !dropped.iter().any(|d| r.file_name() == *d) {
                std::os::unix::fs::symlink(r.path(), fake.join("lib/rustlib").join(r.file_name()))
                    .unwrap();
            }
        }
    }
    home
}

/// Hard links of `from`'s files under `to` (a copy where linking fails), for a
/// toolchain that shares the real one's bytes.
fn link_files(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            let dst = to.join(e.file_name());
            std::fs::hard_link(e.path(), &dst)
                .or_else(|_| std::fs::copy(e.path(), &dst).map(|_| ()))
                .unwrap();
        }
    }
}

#[test]
fn min_preset_without_nightly_or_rust_src_fails_before_compiling() {
    if !have("rustup") {
        return;
    }
    let krate = copy_fixture("hello");
    let out = krate.path().join("out.tar");
    let min = |cmd: &mut Command| {
        let started = std::time::Instant::now();
        cmd.args(["build", "--opt", "min", "--sbom", "none", "-o"])
            .arg(&out)
            .arg("--manifest-path")
            .arg(krate.path().join("Cargo.toml"))
            .env("RUSTUP_AUTO_INSTALL", "0");
        let o = run_code(cmd, 1);
        let err = text(&o.stderr);
        assert!(!err.contains("Compiling"), "{err}");
        assert!(!out.exists(), "no tarball");
        assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
        err
    };
    // A nightly that is not installed (rustup is told never to install it).
    let err = min(slim(&[]).env("RUSTUP_TOOLCHAIN", "nightly-2001-01-01"));
    assert!(
        err.contains(
            "`--opt min` needs the nightly toolchain `nightly-2001-01-01`, which is not installed"
        ),
        "{err}"
    );
    assert!(
        err.contains("rustup toolchain install nightly-2001-01-01 -c rust-src"),
        "{err}"
    );

    // The real nightly without its rust-src: a RUSTUP_HOME whose nightly shares
    // the machine's files (hard links) but has no lib/rustlib/src.
    let Some(nightly) = nightly_with_rust_src() else {
        return;
    };
    let home = rustup_home_without(&[(nightly.as_path(), "src")]);
    let err = min(slim(&[])
        .env("RUSTUP_HOME", home.path())
        .env_remove("RUSTUP_TOOLCHAIN"));
    assert!(
        err.contains("the nightly toolchain `nightly` has no `rust-src` component"),
        "{err}"
    );
    assert!(
        err.contains("help: run `rustup toolchain install nightly -c rust-src`"),
        "{err}"
    );
}

// --- `--opt min` for linux/arm64: build-std cross-compiled, linked with rust-lld ---

const ARM64_MUSL: &str = "aarch64-unknown-linux-musl";
const MIN_ARM64_TAG: &str = "localhost/hello-min-arm64:1";

/// The nightly's folder when it also has the aarch64 musl target (build-std links
/// that target's crt objects and libc.a from it); else a skip, or a failure in CI.
fn nightly_with_arm64_musl() -> Option<std::path::PathBuf> {
    let nightly = nightly_with_rust_src()?;
    let libc = nightly.join("lib/rustlib").join(ARM64_MUSL);
    if libc.join("lib/self-contained/libc.a").is_file() {
        return Some(nightly);
    }
    assert!(
        !in_ci(),
        "CI=true needs `rustup target add --toolchain nightly {ARM64_MUSL}`"
    );
    eprintln!("SKIPPED: the nightly has no {ARM64_MUSL} target");
    None
}

/// The `e_machine` of an ELF file: 62 = x86-64, 183 = AArch64.
fn elf_machine(bytes: &[u8]) -> u16 {
    u16::from_le_bytes([bytes[18], bytes[19]])
}

#[test]
fn min_preset_for_arm64_is_static_aarch64_a_fraction_of_the_default_and_runs() {
    if nightly_with_arm64_musl().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let arm64 = ["--platform", "linux/arm64"];
    let (plain, _) = json_build("hello", &dir.path().join("plain.tar"), &arm64);
    let tarball = dir.path().join("min.tar");
    let (min, err) = json_build(
        "hello",
        &tarball,
        &[
            &arm64[..],
            &["--opt", "min", "--offline", "--tag", MIN_ARM64_TAG],
        ]
        .concat(),
    );
    assert!(
        err.contains("linux/arm64/v8 (aarch64-unknown-linux-musl), linking with rust-lld"),
        "{err}"
    );
    assert_eq!(min["platform"], "linux/arm64/v8");
    assert_eq!(plain["platform"], "linux/arm64/v8");
    assert_eq!(min["preset"]["name"], "min");
    let linkage = min["linkage"].as_str().unwrap();
    assert!(matches!(linkage, "static" | "static-pie"), "{linkage}");
    let binary = preset_target_dir().join(ARM64_MUSL).join("release/hello");
    assert_eq!(
        elf_machine(&std::fs::read(&binary).unwrap()),
        183,
        "AArch64"
    );
    let size = |v: &Value, key: &str| v["sizes"][key].as_u64().unwrap();
    let (pull, plain_pull) = (size(&min, "image_pull"), size(&plain, "image_pull"));
    eprintln!(
        "hello linux/arm64: --opt min stripped {} B, pull {pull} B; default stripped {} B, pull {plain_pull} B",
        size(&min, "binary_stripped"),
        size(&plain, "binary_stripped"),
    );
    // Measured here: 23,632 B against 211,938 B (nightly 1.101, rust-lld).
    assert!(pull <= 25_000, "pull {pull} > 25,000 B");
    assert!(
        pull * 5 < plain_pull,
        "{pull} vs the default's {plain_pull}"
    );
    if have("podman") && arm64_runs() {
        assert_eq!(podman_run_arm64(&tarball, MIN_ARM64_TAG), HELLO_LINE);
    }
}

#[test]
fn min_preset_for_arm64_without_the_nightlys_target_names_the_rustup_command() {
    let Some(nightly) = nightly_with_arm64_musl() else {
        return;
    };
    let krate = copy_fixture("hello");
    // The active toolchain (cargo-slim's rustc) lacks aarch64 too: the preflight
    // must not ask for its std, which build-std never uses.
    let active = run_ok(
        Command::new("rustup")
            .args(["which", "rustc"])
            .env_remove("RUSTUP_TOOLCHAIN")
            .current_dir(krate.path()),
    );
    let active = std::path::PathBuf::from(text(&active.stdout).trim());
    let active = active.parent().unwrap().parent().unwrap();
    let home = rustup_home_without(&[(nightly.as_path(), ARM64_MUSL), (active, ARM64_MUSL)]);
    let out = krate.path().join("out.tar");
    let started = std::time::Instant::now();
    let o = run_code(
        slim(&["build", "--opt", "min", "--platform", "linux/arm64"])
            .args(["--no-install-target", "--sbom", "none", "-o"])
            .arg(&out)
            .arg("--manifest-path")
            .arg(krate.path().join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", krate.path().join("target"))
            .env("RUSTUP_HOME", home.path())
            .env("RUSTUP_AUTO_INSTALL", "0")
            .env_remove("RUSTUP_TOOLCHAIN"),
        1,
    );
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "the nightly toolchain `nightly` has no `{ARM64_MUSL}` target"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "help: run `rustup target add --toolchain nightly {ARM64_MUSL}`"
        )),
        "{err}"
    );
    assert!(!err.contains("Compiling"), "{err}");
    assert!(!out.exists(), "no tarball");
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
}

/// The `e_type` of an ELF file: 2 = ET_EXEC, 3 = ET_DYN.
fn elf_type(bytes: &[u8]) -> u16 {
    u16::from_le_bytes([bytes[16], bytes[17]])
}

#[test]
fn static_pie_false_builds_a_smaller_non_pie_binary_that_runs() {
    let krate = copy_fixture("hello");
    let manifest = krate.path().join("Cargo.toml");
    let target_dir = repo().join("target/fixtures-presets-nopie");
    let build = |out: &std::path::Path, extra: &[&str]| -> (Value, String) {
        let o = run_ok(
            slim(&["--message-format", "json", "build", "--sbom", "none", "-o"])
                .arg(out)
                .args(extra)
                .arg("--manifest-path")
                .arg(&manifest)
                .env("CARGO_TARGET_DIR", &target_dir),
        );
        let line = text(&o.stdout).lines().next().unwrap().to_string();
        (serde_json::from_str(&line).unwrap(), text(&o.stderr))
    };
    let binary = target_dir.join("x86_64-unknown-linux-musl/release/hello");
    let (pie, _) = build(&krate.path().join("pie.tar"), &[]);
    assert_eq!(
        elf_type(&std::fs::read(&binary).unwrap()),
        3,
        "default: ET_DYN"
    );
    add_metadata(&manifest, "static-pie = false");
    let tarball = krate.path().join("static.tar");
    let (non_pie, err) = build(&tarball, &["--tag", "localhost/hello-nopie:1"]);
    assert!(err.contains("ASLR"), "{err}");
    assert!(err.contains("linux/amd64, static)"), "{err}");
    assert_eq!(elf_type(&std::fs::read(&binary).unwrap()), 2, "ET_EXEC");
    let v = run_ok(slim(&["--message-format", "json", "verify"]).arg(&tarball));
    let v: Value = serde_json::from_str(text(&v.stdout).lines().next().unwrap()).unwrap();
    assert!(v.to_string().contains("\"kind\":\"static\""), "{v}");
    let size = |v: &Value| v["sizes"]["binary_stripped"].as_u64().unwrap();
    let (non_pie_size, pie_size) = (size(&non_pie), size(&pie));
    assert!(non_pie_size < pie_size, "{non_pie_size} < {pie_size}");
    let has_rela = |v: &Value| v["sections"].to_string().contains(".rela.dyn");
    assert!(has_rela(&pie) && !has_rela(&non_pie));
    // The report says what it saved, measured against a real static-pie build of
    // the same crate: the same bytes as the default build above.
    assert!(err.contains("Measuring"), "{err}");
    let base = &non_pie["pie_baseline"];
    let binary_layer = |v: &Value| {
        let layers = v["layers"].as_array().unwrap();
        layers.last().unwrap()["compressed"].as_u64().unwrap()
    };
    assert_eq!(base["binary_stripped"].as_u64(), Some(pie_size), "{base}");
    assert_eq!(base["layer_compressed"].as_u64(), Some(binary_layer(&pie)));
    assert_eq!(
        base["saved_stripped"].as_i64(),
        Some(pie_size as i64 - non_pie_size as i64)
    );
    let saved_layer = binary_layer(&pie) as i64 - binary_layer(&non_pie) as i64;
    assert_eq!(base["saved_layer"].as_i64(), Some(saved_layer));
    assert!(saved_layer > 0, "{base}");
    assert!(
        err.contains(&format!(
            "static-pie = false: {} ({} bytes) smaller stripped",
            cargo_slim::units::human(pie_size - non_pie_size),
            cargo_slim::units::grouped(pie_size - non_pie_size)
        )),
        "{err}"
    );
    // Once measured, a rebuild of the same binary reuses the figures.
    let (again, err) = build(&krate.path().join("again.tar"), &[]);
    assert!(!err.contains("Measuring"), "{err}");
    assert_eq!(again["pie_baseline"], non_pie["pie_baseline"]);
    let (off, err) = build(&krate.path().join("off.tar"), &["--no-pie-baseline"]);
    assert!(off.get("pie_baseline").is_none() && !err.contains("static-pie build"));
    // `cargo slim report` of the tarball shows it too (from the report beside it).
    let r = run_ok(slim(&["--message-format", "json", "report"]).arg(&tarball));
    let r: Value = serde_json::from_str(text(&r.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(r["pie_baseline"], non_pie["pie_baseline"]);
    if have("podman") {
        assert_eq!(podman_run(&tarball, "localhost/hello-nopie:1"), HELLO_LINE);
    }
}
