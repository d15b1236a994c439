//! Bad input gives exit 1 with what/where/help — never a panic, never a partial file.
//! The refusals are one table ([`Refusal`] rows, one `#[test]` each); what must
//! also build, or compares two runs, has a test of its own below it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

/// What a refused command is run on.
#[derive(Clone, Copy)]
enum Input {
    /// `build --manifest-path` a copy of hello with this line added to its
    /// `[package.metadata.slim]` (see [`hello_with`]).
    Metadata(&'static str),
    /// Like `Metadata`, for a line made when the test runs.
    MetadataOf(fn() -> String),
    /// The command, made with a fresh temp dir to write inputs into.
    Run(fn(&Path) -> Command),
}

/// One refused command: its exit code, what stderr must and must not say
/// (`{manifest}` stands for the `--manifest-path` value), how soon, and what
/// must hold of the temp dir afterwards.
#[derive(Clone, Copy)]
struct Refusal {
    input: Input,
    code: i32,
    says: &'static [&'static str],
    lacks: &'static [&'static str],
    /// Refused within this many seconds: before any build.
    within_secs: Option<u64>,
    /// Build hello once first (so the fixture's dependencies are there).
    warm: bool,
    after: fn(&Path),
}

const REFUSED: Refusal = Refusal {
    input: Input::Metadata(""),
    code: 1,
    says: &[],
    lacks: &[],
    within_secs: None,
    warm: false,
    after: |_| {},
};

/// A `[package.metadata.slim]` value refused before compiling, naming the key
/// and the manifest.
const BAD_KEY: Refusal = Refusal {
    lacks: &["BudgetTable", "Compiling"],
    within_secs: Some(30),
    ..REFUSED
};

/// A flag or path checked before the work (a usage error, with help).
const BAD_OPTION: Refusal = Refusal {
    code: 2,
    lacks: &["Compiling"],
    within_secs: Some(20),
    ..REFUSED
};

fn check_refusal(name: &str, case: Refusal) {
    if case.warm {
        warm_up();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = match case.input {
        Input::Metadata(line) => build_manifest(&hello_with(dir.path(), line), &[]),
        Input::MetadataOf(line) => build_manifest(&hello_with(dir.path(), &line()), &[]),
        Input::Run(make) => make(dir.path()),
    };
    let manifest = cmd
        .get_args()
        .skip_while(|a| *a != "--manifest-path")
        .nth(1)
        .map(|m| m.to_str().unwrap().to_string());
    let start = Instant::now();
    let err = text(&run_code(&mut cmd, case.code).stderr);
    let elapsed = start.elapsed();
    for want in case.says {
        let want = match &manifest {
            Some(m) => want.replace("{manifest}", m),
            None => want.to_string(),
        };
        assert!(err.contains(&want), "{name}: lacks {want:?}: {err:.2000}");
    }
    for unwanted in case.lacks {
        assert!(
            !err.contains(unwanted),
            "{name}: says {unwanted:?}: {err:.2000}"
        );
    }
    if let Some(secs) = case.within_secs {
        assert!(
            elapsed < Duration::from_secs(secs),
            "{name}: refused only after {elapsed:?}"
        );
    }
    (case.after)(dir.path());
}

/// A copy of hello in `dir` with `line` added to its [package.metadata.slim]
/// (a `user =` line replaces hello's own); the manifest path.
fn hello_with(dir: &Path, line: &str) -> PathBuf {
    copy_fixture_to("hello", dir);
    let manifest = dir.join("Cargo.toml");
    if line.starts_with("user =") {
        let toml = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, toml.replace("user = \"65532:65532\"\n", "")).unwrap();
    }
    add_metadata(&manifest, line);
    manifest
}

/// `cargo-slim slim <args>` run in `dir`.
fn slim_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = slim(args);
    cmd.current_dir(dir);
    cmd
}

/// `build --binary <binary> -o <dir>/o.tar`, run in `dir`.
fn build_binary(dir: &Path, binary: &Path) -> Command {
    let out = dir.join("o.tar");
    slim_in(
        dir,
        &[
            "build",
            "--binary",
            binary.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    )
}

fn no_output_tarball(dir: &Path) {
    assert!(!dir.join("o.tar").exists(), "a partial o.tar was left");
}

/// A copy of hello in `dir`, as it is; the manifest path.
fn hello_copy(dir: &Path) -> PathBuf {
    copy_fixture_to("hello", dir);
    dir.join("Cargo.toml")
}

fn hello_manifest() -> PathBuf {
    fixture("hello").join("Cargo.toml")
}

/// A crate `name` in `dir/name` (its own workspace) with `files` (path, contents).
fn write_crate(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = dir.join(name);
    std::fs::write(
        {
            std::fs::create_dir_all(&root).unwrap();
            root.join("Cargo.toml")
        },
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n"
        ),
    )
    .unwrap();
    for (path, contents) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    root
}

/// A crate with two binaries, `alpha` and `beta`.
fn two_bins(dir: &Path) -> PathBuf {
    write_crate(
        dir,
        "two",
        &[
            ("src/bin/alpha.rs", "fn main() {}"),
            ("src/bin/beta.rs", "fn main() {}"),
        ],
    )
}

fn big() -> String {
    "x".repeat(1 << 20)
}

use Input::{Metadata, MetadataOf, Run};

cases! { check_refusal;
    // ---- the manifest's [package.metadata.slim] ----
    unknown_metadata_key_names_key_and_manifest: Refusal {
        input: Metadata("entrypiont = \"/x\""),
        says: &["entrypiont", "{manifest}", "[package.metadata.slim]"],
        ..REFUSED
    };
    wrong_value_type_is_a_clear_error: Refusal {
        input: Metadata("cmd = \"--flag\""),
        says: &["invalid type", "{manifest}"],
        ..REFUSED
    };
    // Settings that make an image no runtime starts.
    relative_path: Refusal {
        input: Metadata("path = \"relative/app\""),
        says: &["invalid `path`", "{manifest}", "absolute"],
        ..BAD_KEY
    };
    path_with_dot_dot: Refusal {
        input: Metadata("path = \"/a/../b\""),
        says: &["invalid `path`", "{manifest}", ".."],
        ..BAD_KEY
    };
    user_name_without_passwd: Refusal {
        input: Metadata("user = \"root\""),
        says: &["invalid `user`", "{manifest}", "/etc/passwd"],
        ..BAD_KEY
    };
    user_of_three_parts: Refusal {
        input: Metadata("user = \"65532:65532:1\""),
        says: &["invalid `user`", "{manifest}", "UID:GID"],
        ..BAD_KEY
    };
    port_out_of_range: Refusal {
        input: Metadata("expose = [\"99999\"]"),
        says: &["invalid `expose`", "{manifest}", "outside 1-65535"],
        ..BAD_KEY
    };
    port_protocol: Refusal {
        input: Metadata("expose = [\"80/icmp\"]"),
        says: &["invalid `expose`", "{manifest}", "protocol"],
        ..BAD_KEY
    };
    env_empty_name: Refusal {
        input: Metadata("env = { \"\" = \"y\" }"),
        says: &["invalid `env`", "{manifest}", "empty name"],
        ..BAD_KEY
    };
    env_name_with_equals: Refusal {
        input: Metadata("env = { \"A=B\" = \"y\" }"),
        says: &["invalid `env`", "{manifest}", "contains `=`"],
        ..BAD_KEY
    };
    relative_workdir: Refusal {
        input: Metadata("workdir = \"relative\""),
        says: &["invalid `workdir`", "{manifest}", "absolute"],
        ..BAD_KEY
    };
    tag_not_a_string: Refusal {
        input: Metadata("tag = 5"),
        says: &["invalid `tag`", "{manifest}", "expected a string"],
        ..BAD_KEY
    };
    budget_not_a_table: Refusal {
        input: Metadata("budget = 5"),
        says: &["invalid `budget`", "{manifest}", "a table such as"],
        ..BAD_KEY
    };
    budget_out_of_range: Refusal {
        input: Metadata("budget = { image = \"99999999999999999999 B\" }"),
        says: &["invalid `image`", "{manifest}", "out of range"],
        ..BAD_KEY
    };
    upx_not_a_bool: Refusal {
        input: Metadata("upx = \"yes\""),
        says: &["invalid `upx`", "{manifest}", "invalid"],
        ..BAD_KEY
    };
    // What the runtime mounts over, or cannot pass to the program.
    path_under_proc: Refusal {
        input: Metadata("path = \"/proc/x\""),
        says: &["invalid `path`", "{manifest}", "mounts over"],
        lacks: &["Compiling"],
        ..BAD_KEY
    };
    path_under_sys: Refusal {
        input: Metadata("path = \"/sys/x\""),
        says: &["invalid `path`", "{manifest}", "mounts over"],
        lacks: &["Compiling"],
        ..BAD_KEY
    };
    path_under_dev: Refusal {
        input: Metadata("path = \"/dev/x\""),
        says: &["invalid `path`", "{manifest}", "mounts over"],
        lacks: &["Compiling"],
        ..BAD_KEY
    };
    file_under_dev_shm: Refusal {
        input: Metadata("files = [{ src = \"Cargo.toml\", dest = \"/dev/shm/conf\" }]"),
        says: &["invalid `files[0]`", "{manifest}", "mounts over"],
        lacks: &["Compiling"],
        ..BAD_KEY
    };
    path_component_over_255_bytes: Refusal {
        input: MetadataOf(|| format!("path = \"/usr/{}\"", "n".repeat(256))),
        says: &["invalid `path`", "{manifest}", "at most 255"],
        lacks: &["Compiling"],
        ..BAD_KEY
    };
    cmd_over_the_argument_limit: Refusal {
        input: MetadataOf(|| format!("cmd = [\"{}\"]", big())),
        says: &["invalid `cmd`", "{manifest}", "argument list too long"],
        lacks: &["Compiling"],
        ..BAD_KEY
    };
    env_over_the_argument_limit: Refusal {
        input: MetadataOf(|| format!("env = {{ BIG = \"{}\" }}", big())),
        says: &["invalid `env`", "{manifest}", "`BIG`"],
        lacks: &["Compiling"],
        ..BAD_KEY
    };
    zoneinfo_that_is_a_file: Refusal {
        input: Metadata("zoneinfo = \"/etc/passwd\""),
        says: &["is a regular file, not a time-zone folder"],
        ..REFUSED
    };
    // A zero budget fails the check (exit 3) with a sane message.
    zero_budget: Refusal {
        input: Run(|d| build_manifest(&hello_with(d, "budget = { image = \"0\" }"), &["-o", d.join("o.tar").to_str().unwrap()])),
        code: 3,
        says: &["the limit is 0"],
        lacks: &["inf", "00000%"],
        warm: true,
        ..REFUSED
    };

    // ---- manifests and crates ----
    missing_manifest: Refusal {
        input: Run(|_| build_manifest(Path::new("/nonexistent/dir/Cargo.toml"), &[])),
        says: &["/nonexistent/dir/Cargo.toml", "does not exist", "nearest existing directory: /"],
        ..REFUSED
    };
    no_manifest_in_an_empty_directory: Refusal {
        input: Run(|d| slim_in(d, &["build"])),
        says: &["could not find `Cargo.toml`"],
        ..REFUSED
    };
    manifest_path_that_is_a_folder: Refusal {
        input: Run(|_| build_manifest(&fixture("hello"), &[])),
        says: &["is a folder, not a Cargo.toml", "{manifest}/Cargo.toml"],
        ..REFUSED
    };
    library_crate: Refusal {
        input: Run(|d| slim_in(&write_crate(d, "onlylib", &[("src/lib.rs", "")]), &["build"])),
        says: &["no binary target", "onlylib"],
        ..REFUSED
    };
    ambiguous_bins: Refusal {
        input: Run(|d| slim_in(&two_bins(d), &["build"])),
        says: &["several binaries", "alpha, beta", "--bin"],
        ..REFUSED
    };
    unknown_bin: Refusal {
        input: Run(|d| slim_in(&two_bins(d), &["build", "--bin", "gamma"])),
        says: &["no binary target named `gamma`"],
        ..REFUSED
    };
    openssl_sys_on_musl_is_refused_before_compiling: Refusal {
        input: Run(|_| build_manifest(&fixture("openssl-musl").join("Cargo.toml"), &["--locked"])),
        says: &[
            "`openssl-sys` links the system OpenSSL",
            "x86_64-unknown-linux-musl",
            "features = [\"vendored\"]",
        ],
        lacks: &["Compiling"],
        within_secs: Some(60),
        ..REFUSED
    };

    // ---- --binary ----
    script_binary: Refusal {
        input: Run(|d| {
            let script = d.join("run.sh");
            std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
            build_binary(d, &script)
        }),
        says: &["run.sh", "#!"],
        after: no_output_tarball,
        ..REFUSED
    };
    empty_binary: Refusal {
        input: Run(|d| {
            std::fs::write(d.join("empty"), "").unwrap();
            slim_in(d, &["build", "--binary", d.join("empty").to_str().unwrap()])
        }),
        says: &["empty"],
        ..REFUSED
    };
    missing_binary: Refusal {
        input: Run(|d| slim_in(d, &["build", "--binary", "/nonexistent/bin"])),
        says: &["/nonexistent/bin"],
        ..REFUSED
    };
    directory_binary: Refusal {
        input: Run(|d| slim_in(d, &["build", "--binary", d.to_str().unwrap()])),
        says: &["is a directory"],
        ..REFUSED
    };
    dynamic_program_is_refused_naming_its_libraries: Refusal {
        // Any dynamically linked program of the host will do.
        input: Run(|d| {
            let prog = ["/usr/bin/env", "/bin/ls", "/usr/bin/true"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .unwrap();
            build_binary(d, Path::new(prog))
        }),
        says: &["is not static", "interpreter: /lib", "libc.so.6", "help:"],
        after: no_output_tarball,
        ..REFUSED
    };

    // ---- flags and the environment ----
    bad_tag: Refusal {
        input: Run(|_| build_manifest(&hello_manifest(), &["--tag", "Bad:Tag!"])),
        says: &["invalid image reference `Bad:Tag!`"],
        ..REFUSED
    };
    bad_epoch: Refusal {
        input: Run(|_| {
            let mut cmd = build_manifest(&hello_manifest(), &[]);
            cmd.env("SOURCE_DATE_EPOCH", "yesterday");
            cmd
        }),
        says: &["SOURCE_DATE_EPOCH"],
        ..REFUSED
    };
    epoch_after_the_year_9999: Refusal {
        input: Run(|_| {
            let mut cmd = build_manifest(&hello_manifest(), &[]);
            cmd.env("SOURCE_DATE_EPOCH", "99999999999999");
            cmd
        }),
        says: &["after the year 9999"],
        ..REFUSED
    };
    unknown_flag: Refusal {
        input: Run(|_| slim(&["build", "--no-such-flag"])),
        code: 2,
        ..REFUSED
    };
    unknown_command: Refusal {
        input: Run(|_| slim(&["frobnicate"])),
        code: 2,
        ..REFUSED
    };
    max_increase_needs_baseline: Refusal {
        input: Run(|_| build_manifest(&hello_manifest(), &["--max-increase", "5"])),
        says: &["--max-increase needs --baseline", "help:"],
        ..BAD_OPTION
    };
    missing_baseline: Refusal {
        input: Run(|_| build_manifest(&hello_manifest(), &["--baseline", "/nonexistent.json"])),
        says: &["/nonexistent.json", "help:"],
        ..BAD_OPTION
    };

    // ---- outputs: never a partial file, never replacing what is not a tarball ----
    unwritable_output_folder: Refusal {
        input: Run(|d| {
            std::fs::write(d.join("plain-file"), "x").unwrap();
            build_manifest(&hello_manifest(), &["-o", d.join("plain-file/sub/o.tar").to_str().unwrap()])
        }),
        says: &["could not create the output directory", "plain-file"],
        warm: true,
        ..REFUSED
    };
    // The output path is an existing directory: refused before any work (a usage
    // error), and neither a partial tarball nor a temporary file may remain.
    failed_write_leaves_nothing_behind: Refusal {
        input: Run(|d| {
            std::fs::create_dir(d.join("taken")).unwrap();
            build_manifest(&hello_manifest(), &["-o", d.join("taken").to_str().unwrap()])
        }),
        code: 2,
        says: &["taken"],
        warm: true,
        after: |d| {
            let left: Vec<_> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(left, vec![std::ffi::OsString::from("taken")], "leftovers: {left:?}");
            assert_eq!(std::fs::read_dir(d.join("taken")).unwrap().count(), 0);
        },
        ..REFUSED
    };
    output_that_is_the_manifest: Refusal {
        input: Run(|d| {
            let m = hello_copy(d);
            build_manifest(&m, &["-o", m.to_str().unwrap()])
        }),
        code: 2,
        says: &["is not an image tarball", "--force"],
        warm: true,
        after: |d| assert_eq!(
            std::fs::read(d.join("Cargo.toml")).unwrap(),
            std::fs::read(hello_manifest()).unwrap()
        ),
        ..REFUSED
    };
    output_that_is_a_source_file: Refusal {
        input: Run(|d| {
            let m = hello_copy(d);
            build_manifest(&m, &["-o", d.join("src/main.rs").to_str().unwrap()])
        }),
        code: 2,
        warm: true,
        ..REFUSED
    };
    output_that_is_the_input_binary: Refusal {
        input: Run(|d| {
            let bin = d.join("bin");
            std::fs::copy(fixture("elf").join("static"), &bin).unwrap();
            let b = bin.to_str().unwrap();
            slim_in(d, &["build", "--binary", b, "-o", b])
        }),
        code: 2,
        says: &["is the input binary"],
        warm: true,
        after: |d| assert_eq!(
            std::fs::read(d.join("bin")).unwrap(),
            std::fs::read(fixture("elf").join("static")).unwrap()
        ),
        ..REFUSED
    };
    output_that_names_a_folder: Refusal {
        input: Run(|d| {
            let m = hello_copy(d);
            build_manifest(&m, &["-o", &format!("{}/", d.display())])
        }),
        code: 2,
        says: &["names a folder"],
        warm: true,
        ..REFUSED
    };
    output_that_links_to_a_folder: Refusal {
        input: Run(|d| {
            let m = hello_copy(d);
            std::os::unix::fs::symlink(d.join("src"), d.join("dirlink")).unwrap();
            build_manifest(&m, &["-o", d.join("dirlink").to_str().unwrap()])
        }),
        code: 2,
        says: &["is a directory, not a file"],
        warm: true,
        after: |d| assert!(std::fs::symlink_metadata(d.join("dirlink"))
            .unwrap()
            .file_type()
            .is_symlink()),
        ..REFUSED
    };
}

#[test]
fn build_help_lists_manifest_keys_environment_and_exit_codes() {
    let help = text(&run_ok(&mut slim(&["build", "--help"])).stdout);
    for want in [
        "path = ",
        "user = ",
        "cmd = ",
        "env = ",
        "workspace.metadata.slim",
        "SOURCE_DATE_EPOCH",
        "CARGO_SLIM_REGISTRY_PASSWORD",
        "Exit codes",
        "3 size budget exceeded",
    ] {
        assert!(help.contains(want), "build --help lacks {want:?}:\n{help}");
    }
}

#[test]
fn a_messy_image_path_is_folded_and_plain_integer_budgets_are_bytes() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let manifest = hello_with(
        dir.path(),
        "path = \"/usr//local/./bin/hello\"\nbudget = { image = 2097152 }",
    );
    let out = dir.path().join("o.tar");
    let report = last_json(&run_ok(&mut build_manifest_json(
        &manifest,
        &["-o", out.to_str().unwrap()],
    )));
    assert_eq!(report["budget"]["checks"][0]["limit"], 2097152, "{report}");
    let img = cargo_slim::validate::validate_tarball(&out).unwrap();
    assert_eq!(
        img.config["config"]["Entrypoint"][0],
        "/usr/local/bin/hello"
    );
    assert!(img.find("usr/local/bin/hello").is_some());
}

#[test]
fn a_symlinked_output_is_written_through() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.tar");
    let link = dir.path().join("link.tar");
    std::os::unix::fs::symlink("real.tar", &link).unwrap();
    run_ok(&mut build_fixture("hello", &link, &[]));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    let img = cargo_slim::validate::validate_tarball(&target).unwrap();
    assert_eq!(img.reference, "localhost/hello:0.1.0");
}

#[test]
fn tarball_and_report_go_into_place_together() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.tar");
    run_ok(build_fixture("hello", &out, &[]).env("SOURCE_DATE_EPOCH", "1700000000"));
    let old = sha256_file(&out);
    // The report cannot be put in place (a folder holds its name): the new
    // tarball must not replace the old one either, and no temporary file stays.
    std::fs::remove_file(dir.path().join("o.report.json")).unwrap();
    std::fs::create_dir(dir.path().join("o.report.json")).unwrap();
    let err = text(
        &run_code(
            build_fixture("hello", &out, &[]).env("SOURCE_DATE_EPOCH", "1700000001"),
            1,
        )
        .stderr,
    );
    assert!(err.contains("o.report.json"), "{err}");
    assert_eq!(
        sha256_file(&out),
        old,
        "the tarball changed without its report"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

/// A root user is a warning in build as in verify, not a refusal.
#[test]
fn a_root_user_is_built_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    hello_with(dir.path(), "user = \"0\"");
    warm_up();
    let elf = fixture_target_dir().join("x86_64-unknown-linux-musl/release/hello");
    let o = run_ok(&mut build_binary(dir.path(), &elf));
    let out = dir.path().join("o.tar");
    let err = text(&o.stderr);
    assert!(
        err.contains("warning") && err.contains("runs as root"),
        "{err}"
    );
    let v = run_ok(&mut slim(&["verify", out.to_str().unwrap()]));
    assert!(
        text(&v.stderr).contains("runs as root"),
        "{}",
        text(&v.stderr)
    );
}

#[test]
fn force_replaces_a_file_that_is_not_a_tarball() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, "not a tarball").unwrap();
    run_ok(&mut build_manifest(
        &hello_copy(dir.path()),
        &["-o", junk.to_str().unwrap(), "--force"],
    ));
    cargo_slim::validate::validate_tarball(&junk).unwrap();
}
