//! Bad input gives exit 1 with what/where/help — never a panic, never a partial file.

use std::path::Path;

use crate::support::*;

fn stderr_of(args: &[&str], cwd: Option<&Path>, code: i32) -> String {
    let mut cmd = slim(args);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    text(&run_code(&mut cmd, code).stderr)
}

#[test]
fn unknown_metadata_key_names_key_and_manifest() {
    let dir = copy_fixture("hello");
    let manifest = dir.path().join("Cargo.toml");
    let mut toml = std::fs::read_to_string(&manifest).unwrap();
    toml = toml.replace(
        "[package.metadata.slim]\n",
        "[package.metadata.slim]\nentrypiont = \"/x\"\n",
    );
    std::fs::write(&manifest, toml).unwrap();
    let err = stderr_of(
        &["build", "--manifest-path", manifest.to_str().unwrap()],
        None,
        1,
    );
    assert!(err.contains("entrypiont"), "{err}");
    assert!(err.contains(manifest.to_str().unwrap()), "{err}");
    assert!(err.contains("[package.metadata.slim]"), "{err}");
}

#[test]
fn wrong_value_type_is_a_clear_error() {
    let dir = copy_fixture("hello");
    let manifest = dir.path().join("Cargo.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap().replace(
        "[package.metadata.slim]\n",
        "[package.metadata.slim]\ncmd = \"--flag\"\n",
    );
    std::fs::write(&manifest, toml).unwrap();
    let err = stderr_of(
        &["build", "--manifest-path", manifest.to_str().unwrap()],
        None,
        1,
    );
    assert!(err.contains("invalid type"), "{err}");
    assert!(err.contains(manifest.to_str().unwrap()), "{err}");
}

#[test]
fn missing_manifest() {
    let err = stderr_of(
        &["build", "--manifest-path", "/nonexistent/dir/Cargo.toml"],
        None,
        1,
    );
    assert!(err.contains("/nonexistent/dir/Cargo.toml"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("nearest existing directory: /"), "{err}");
}

#[test]
fn no_manifest_in_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = stderr_of(&["build"], Some(dir.path()), 1);
    assert!(err.contains("could not find `Cargo.toml`"), "{err}");
}

#[test]
fn non_elf_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let out = dir.path().join("o.tar");
    let err = stderr_of(
        &[
            "build",
            "--binary",
            script.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        Some(dir.path()),
        1,
    );
    assert!(err.contains("run.sh"), "{err}");
    assert!(err.contains("#!"), "{err}");
    assert!(!out.exists());

    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let err = stderr_of(
        &["build", "--binary", empty.to_str().unwrap()],
        Some(dir.path()),
        1,
    );
    assert!(err.contains("empty"), "{err}");

    let err = stderr_of(
        &["build", "--binary", "/nonexistent/bin"],
        Some(dir.path()),
        1,
    );
    assert!(err.contains("/nonexistent/bin"), "{err}");
    let err = stderr_of(
        &["build", "--binary", dir.path().to_str().unwrap()],
        Some(dir.path()),
        1,
    );
    assert!(err.contains("is a directory"), "{err}");
}

#[test]
fn dynamic_program_is_refused_naming_its_libraries() {
    let dir = tempfile::tempdir().unwrap();
    // Any dynamically linked program of the host will do.
    let prog = ["/usr/bin/env", "/bin/ls", "/usr/bin/true"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap();
    let out = dir.path().join("o.tar");
    let err = stderr_of(
        &["build", "--binary", prog, "-o", out.to_str().unwrap()],
        Some(dir.path()),
        1,
    );
    assert!(err.contains("is not static"), "{err}");
    assert!(err.contains("interpreter: /lib"), "{err}");
    assert!(err.contains("libc.so.6"), "{err}");
    assert!(err.contains("help:"), "{err}");
    assert!(!out.exists());
}

#[test]
fn unwritable_output_folder() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("sub/o.tar");
    let manifest = fixture("hello").join("Cargo.toml");
    let err = stderr_of(
        &[
            "build",
            "--manifest-path",
            manifest.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        None,
        1,
    );
    assert!(
        err.contains("could not create the output directory"),
        "{err}"
    );
    assert!(err.contains("plain-file"), "{err}");
}

#[test]
fn failed_write_leaves_nothing_behind() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    // The output path is an existing directory: refused before any work (a usage
    // error), and neither a partial tarball nor a temporary file may remain.
    let out = dir.path().join("taken");
    std::fs::create_dir(&out).unwrap();
    let manifest = fixture("hello").join("Cargo.toml");
    let err = stderr_of(
        &[
            "build",
            "--manifest-path",
            manifest.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        None,
        2,
    );
    assert!(err.contains("taken"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("taken")],
        "leftovers: {left:?}"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn library_crate_and_ambiguous_bins() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("lib/src")).unwrap();
    std::fs::write(
        root.join("lib/Cargo.toml"),
        "[package]\nname = \"onlylib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(root.join("lib/src/lib.rs"), "").unwrap();
    let err = stderr_of(&["build"], Some(&root.join("lib")), 1);
    assert!(err.contains("no binary target"), "{err}");
    assert!(err.contains("onlylib"), "{err}");

    std::fs::create_dir_all(root.join("two/src/bin")).unwrap();
    std::fs::write(
        root.join("two/Cargo.toml"),
        "[package]\nname = \"two\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(root.join("two/src/bin/alpha.rs"), "fn main() {}").unwrap();
    std::fs::write(root.join("two/src/bin/beta.rs"), "fn main() {}").unwrap();
    let err = stderr_of(&["build"], Some(&root.join("two")), 1);
    assert!(err.contains("several binaries"), "{err}");
    assert!(err.contains("alpha, beta"), "{err}");
    assert!(err.contains("--bin"), "{err}");
    let err = stderr_of(&["build", "--bin", "gamma"], Some(&root.join("two")), 1);
    assert!(err.contains("no binary target named `gamma`"), "{err}");
}

#[test]
fn bad_tag_and_epoch_fail_before_building() {
    let manifest = fixture("hello").join("Cargo.toml");
    let err = stderr_of(
        &[
            "build",
            "--manifest-path",
            manifest.to_str().unwrap(),
            "--tag",
            "Bad:Tag!",
        ],
        None,
        1,
    );
    assert!(err.contains("invalid image reference `Bad:Tag!`"), "{err}");
    let mut cmd = slim(&["build", "--manifest-path", manifest.to_str().unwrap()]);
    cmd.env("SOURCE_DATE_EPOCH", "yesterday");
    let err = text(&run_code(&mut cmd, 1).stderr);
    assert!(err.contains("SOURCE_DATE_EPOCH"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    run_code(&mut slim(&["build", "--no-such-flag"]), 2);
    run_code(&mut slim(&["frobnicate"]), 2);
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
fn openssl_sys_on_musl_is_refused_before_compiling() {
    let manifest = fixture("openssl-musl").join("Cargo.toml");
    let started = std::time::Instant::now();
    let o = run_code(
        &mut slim(&[
            "build",
            "--locked",
            "--manifest-path",
            manifest.to_str().unwrap(),
        ]),
        1,
    );
    let err = text(&o.stderr);
    assert!(
        err.contains("`openssl-sys` links the system OpenSSL"),
        "{err}"
    );
    assert!(err.contains("x86_64-unknown-linux-musl"), "{err}");
    assert!(err.contains("features = [\"vendored\"]"), "{err}");
    assert!(
        !err.contains("Compiling"),
        "refused before cargo build: {err}"
    );
    assert!(started.elapsed().as_secs() < 60);
}

/// `hello` with `line` added to its [package.metadata.slim]; the manifest path.
fn hello_with(line: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = copy_fixture("hello");
    let manifest = dir.path().join("Cargo.toml");
    let mut toml = std::fs::read_to_string(&manifest).unwrap();
    if line.starts_with("user =") {
        toml = toml.replace("user = \"65532:65532\"\n", "");
    }
    let toml = toml.replace(
        "[package.metadata.slim]\n",
        &format!("[package.metadata.slim]\n{line}\n"),
    );
    std::fs::write(&manifest, toml).unwrap();
    (dir, manifest)
}

#[test]
fn settings_that_make_an_image_no_runtime_starts_are_refused_naming_the_key() {
    for (line, key, why) in [
        ("path = \"relative/app\"", "path", "absolute"),
        ("path = \"/a/../b\"", "path", ".."),
        ("user = \"root\"", "user", "/etc/passwd"),
        ("user = \"65532:65532:1\"", "user", "UID:GID"),
        ("expose = [\"99999\"]", "expose", "outside 1-65535"),
        ("expose = [\"80/icmp\"]", "expose", "protocol"),
        ("env = { \"\" = \"y\" }", "env", "empty name"),
        ("env = { \"A=B\" = \"y\" }", "env", "contains `=`"),
        ("workdir = \"relative\"", "workdir", "absolute"),
        ("tag = 5", "tag", "expected a string"),
        ("budget = 5", "budget", "a table such as"),
        (
            "budget = { image = \"99999999999999999999 B\" }",
            "image",
            "out of range",
        ),
        ("upx = \"yes\"", "upx", "invalid"),
    ] {
        let (_dir, manifest) = hello_with(line);
        let start = std::time::Instant::now();
        let err = stderr_of(
            &["build", "--manifest-path", manifest.to_str().unwrap()],
            None,
            1,
        );
        assert!(err.contains(&format!("invalid `{key}`")), "{line}: {err}");
        assert!(err.contains(manifest.to_str().unwrap()), "{line}: {err}");
        assert!(err.contains(why), "{line}: {err}");
        assert!(
            !err.contains("BudgetTable") && !err.contains("Compiling"),
            "{line}: {err}"
        );
        assert!(
            start.elapsed().as_secs() < 30,
            "{line}: refused only after a build"
        );
    }
    let err = text(
        &run_code(
            slim(&[
                "build",
                "--manifest-path",
                fixture("hello").join("Cargo.toml").to_str().unwrap(),
            ])
            .env("SOURCE_DATE_EPOCH", "99999999999999"),
            1,
        )
        .stderr,
    );
    assert!(err.contains("after the year 9999"), "{err}");
}

/// Issue 20, 5a/5c: what the runtime replaces or cannot pass is refused before
/// compiling, naming the key; a root user is a warning in build as in verify.
#[test]
fn runtime_mounts_and_oversized_arguments_are_refused_before_compiling() {
    let big = "x".repeat(1 << 20);
    for (line, key, why) in [
        ("path = \"/proc/x\"".to_string(), "path", "mounts over"),
        ("path = \"/sys/x\"".into(), "path", "mounts over"),
        ("path = \"/dev/x\"".into(), "path", "mounts over"),
        (
            "files = [{ src = \"Cargo.toml\", dest = \"/dev/shm/conf\" }]".into(),
            "files[0]",
            "mounts over",
        ),
        (
            format!("path = \"/usr/{}\"", "n".repeat(256)),
            "path",
            "at most 255",
        ),
        (
            format!("cmd = [\"{big}\"]"),
            "cmd",
            "argument list too long",
        ),
        (format!("env = {{ BIG = \"{big}\" }}"), "env", "`BIG`"),
    ] {
        let (_dir, manifest) = hello_with(&line);
        let start = std::time::Instant::now();
        let err = stderr_of(
            &["build", "--manifest-path", manifest.to_str().unwrap()],
            None,
            1,
        );
        let head = &line[..line.len().min(40)];
        assert!(
            err.contains(&format!("invalid `{key}`")),
            "{head}: {err:.600}"
        );
        assert!(
            err.contains(manifest.to_str().unwrap()) && err.contains(why),
            "{head}: {err:.600}"
        );
        assert!(!err.contains("Compiling"), "{head}: {err:.600}");
        assert!(
            start.elapsed().as_secs() < 30,
            "{head}: refused only after a build"
        );
    }
    // user = "0": built, with a warning (verify warns too).
    let (dir, _manifest) = hello_with("user = \"0\"");
    warm_up();
    let elf = fixture_target_dir().join("x86_64-unknown-linux-musl/release/hello");
    let out = dir.path().join("root.tar");
    let o = run_ok(
        slim(&[
            "build",
            "--binary",
            elf.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .current_dir(dir.path()),
    );
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
fn a_messy_image_path_is_folded_and_plain_integer_budgets_are_bytes() {
    warm_up();
    let (dir, manifest) =
        hello_with("path = \"/usr//local/./bin/hello\"\nbudget = { image = 2097152 }");
    let out = dir.path().join("o.tar");
    let o = run_ok(&mut slim(&[
        "--message-format",
        "json",
        "build",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]));
    let report: serde_json::Value =
        serde_json::from_str(text(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(report["budget"]["checks"][0]["limit"], 2097152, "{report}");
    let img = cargo_slim::validate::validate_tarball(&out).unwrap();
    assert_eq!(
        img.config["config"]["Entrypoint"][0],
        "/usr/local/bin/hello"
    );
    assert!(img.find("usr/local/bin/hello").is_some());
}

#[test]
fn a_zero_budget_fails_with_a_sane_message() {
    warm_up();
    let (dir, manifest) = hello_with("budget = { image = \"0\" }");
    let out = dir.path().join("o.tar");
    let err = stderr_of(
        &[
            "build",
            "--manifest-path",
            manifest.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        None,
        3,
    );
    assert!(err.contains("the limit is 0"), "{err}");
    assert!(!err.contains("inf") && !err.contains("00000%"), "{err}");
}

#[test]
fn outputs_never_replace_what_is_not_a_tarball_or_a_link() {
    warm_up();
    let dir = copy_fixture("hello");
    let manifest = dir.path().join("Cargo.toml");
    let m = manifest.to_str().unwrap();
    let before = std::fs::read(&manifest).unwrap();
    let err = stderr_of(&["build", "--manifest-path", m, "-o", m], None, 2);
    assert!(
        err.contains("is not an image tarball") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(&manifest).unwrap(), before);
    let main_rs = dir.path().join("src/main.rs");
    stderr_of(
        &[
            "build",
            "--manifest-path",
            m,
            "-o",
            main_rs.to_str().unwrap(),
        ],
        None,
        2,
    );
    // --binary X -o X
    let bin = dir.path().join("bin");
    std::fs::copy(fixture("elf").join("static"), &bin).unwrap();
    let b = bin.to_str().unwrap();
    let err = stderr_of(&["build", "--binary", b, "-o", b], Some(dir.path()), 2);
    assert!(err.contains("is the input binary"), "{err}");
    assert_eq!(
        std::fs::read(&bin).unwrap(),
        std::fs::read(fixture("elf").join("static")).unwrap()
    );
    // -o d/ and -o LINK-TO-A-FOLDER
    let err = stderr_of(
        &[
            "build",
            "--manifest-path",
            m,
            "-o",
            &format!("{}/", dir.path().display()),
        ],
        None,
        2,
    );
    assert!(err.contains("names a folder"), "{err}");
    let folder_link = dir.path().join("dirlink");
    std::os::unix::fs::symlink(dir.path().join("src"), &folder_link).unwrap();
    let err = stderr_of(
        &[
            "build",
            "--manifest-path",
            m,
            "-o",
            folder_link.to_str().unwrap(),
        ],
        None,
        2,
    );
    assert!(err.contains("is a directory, not a file"), "{err}");
    assert!(std::fs::symlink_metadata(&folder_link)
        .unwrap()
        .file_type()
        .is_symlink());
    // --force replaces a file that is not a tarball.
    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, "not a tarball").unwrap();
    run_ok(&mut slim(&[
        "build",
        "--manifest-path",
        m,
        "-o",
        junk.to_str().unwrap(),
        "--force",
    ]));
    cargo_slim::validate::validate_tarball(&junk).unwrap();
}

#[test]
fn a_symlinked_output_is_written_through() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.tar");
    let link = dir.path().join("link.tar");
    std::os::unix::fs::symlink("real.tar", &link).unwrap();
    let manifest = fixture("hello").join("Cargo.toml");
    run_ok(&mut slim(&[
        "build",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "-o",
        link.to_str().unwrap(),
    ]));
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
    let manifest = fixture("hello").join("Cargo.toml");
    let args = [
        "build",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    run_ok(slim(&args).env("SOURCE_DATE_EPOCH", "1700000000"));
    let old = sha256_file(&out);
    // The report cannot be put in place (a folder holds its name): the new
    // tarball must not replace the old one either, and no temporary file stays.
    std::fs::remove_file(dir.path().join("o.report.json")).unwrap();
    std::fs::create_dir(dir.path().join("o.report.json")).unwrap();
    let err = text(&run_code(slim(&args).env("SOURCE_DATE_EPOCH", "1700000001"), 1).stderr);
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

#[test]
fn options_and_paths_are_checked_before_the_work() {
    let manifest = fixture("hello").join("Cargo.toml");
    let m = manifest.to_str().unwrap();
    for (args, want) in [
        (
            vec!["build", "--manifest-path", m, "--max-increase", "5"],
            "--max-increase needs --baseline",
        ),
        (
            vec![
                "build",
                "--manifest-path",
                m,
                "--baseline",
                "/nonexistent.json",
            ],
            "/nonexistent.json",
        ),
    ] {
        let start = std::time::Instant::now();
        let err = stderr_of(&args, None, 2);
        assert!(
            err.contains(want) && err.contains("help:"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("Compiling"), "{args:?}: {err}");
        assert!(start.elapsed().as_secs() < 20);
    }
    let folder = fixture("hello");
    let err = stderr_of(
        &["build", "--manifest-path", folder.to_str().unwrap()],
        None,
        1,
    );
    assert!(err.contains("is a folder, not a Cargo.toml"), "{err}");
    assert!(
        err.contains(&format!("{}/Cargo.toml", folder.display())),
        "{err}"
    );
    let (_dir, manifest) = hello_with("zoneinfo = \"/etc/passwd\"");
    let err = stderr_of(
        &["build", "--manifest-path", manifest.to_str().unwrap()],
        None,
        1,
    );
    assert!(
        err.contains("is a regular file, not a time-zone folder"),
        "{err}"
    );
}
