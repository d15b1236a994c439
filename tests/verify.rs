//! `cargo slim verify`: every ELF fixture through the CLI (table-driven),
//! flags and output forms here; image tarballs in `verify/images.rs`; the
//! archive reader over thousands of mutated tarballs in `verify/robustness.rs`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::*;

fn elf(name: &str) -> PathBuf {
    fixture("elf").join(name)
}

fn elf_bytes(name: &str) -> Vec<u8> {
    std::fs::read(elf(name)).unwrap()
}

/// Run `verify --message-format json` and return the exit code and JSON lines.
fn verify_json(paths: &[&Path], extra: &[&str]) -> (i32, Vec<Value>, String) {
    let mut args = vec!["verify", "--message-format", "json"];
    args.extend_from_slice(extra);
    let mut cmd = slim(&args);
    cmd.args(paths);
    let out = cmd.output().expect("spawn");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect();
    (out.status.code().expect("exit code"), lines, stderr)
}

fn messages(v: &Value) -> String {
    v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut s = e["message"].as_str().unwrap().to_string();
            for d in e["details"].as_array().unwrap() {
                s.push_str("\n  ");
                s.push_str(d.as_str().unwrap());
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct Case {
    name: &'static str,
    passed: bool,
    kind: Option<&'static str>,
    arch: Option<&'static str>,
    interpreter: Option<&'static str>,
    needed: &'static [&'static str],
    /// Substring of the errors (failures) or of the notes (passes).
    says: &'static str,
}

/// A fixture that passes: its kind and arch, and a substring of its notes.
const fn passes(
    name: &'static str,
    kind: &'static str,
    arch: &'static str,
    says: &'static str,
) -> Case {
    Case {
        name,
        passed: true,
        kind: Some(kind),
        arch: Some(arch),
        interpreter: None,
        needed: &[],
        says,
    }
}

/// A dynamically linked amd64 fixture: its interpreter and libraries.
const fn dynamic(
    name: &'static str,
    interpreter: &'static str,
    needed: &'static [&'static str],
    says: &'static str,
) -> Case {
    Case {
        name,
        passed: false,
        kind: Some("dynamic"),
        arch: Some("amd64"),
        interpreter: Some(interpreter),
        needed,
        says,
    }
}

/// A fixture that fails without a kind: its arch, if it has one.
const fn fails(name: &'static str, arch: Option<&'static str>, says: &'static str) -> Case {
    Case {
        name,
        passed: false,
        kind: None,
        arch,
        interpreter: None,
        needed: &[],
        says,
    }
}

const CASES: &[Case] = &[
    passes("static", "static", "amd64", ""),
    passes("static-unstripped", "static", "amd64", ""),
    passes("static-pie", "static-pie", "amd64", ""),
    passes("aarch64-static", "static", "arm64", ""),
    passes("upx-packed", "static", "amd64", "packed with UPX"),
    passes(
        "upx-packed-pie",
        "static-pie",
        "amd64",
        "only the unpacking stub",
    ),
    dynamic(
        "glibc-dynamic",
        "/lib64/ld-linux-x86-64.so.2",
        &["libc.so.6"],
        "needs: libc.so.6",
    ),
    dynamic(
        "musl-dynamic",
        "/lib/ld-musl-x86_64.so.1",
        &["libc.so"],
        "interpreter: /lib/ld-musl-x86_64.so.1",
    ),
    fails("shared-lib", Some("amd64"), "shared library"),
    fails("object", Some("amd64"), "ET_REL"),
    fails("i386", Some("386"), "32-bit"),
    fails("truncated", Some("amd64"), "truncated"),
    fails("script", None, "starts with #!"),
    fails("random", None, "starts with bytes a3 1c 06 bd"),
    fails("empty", None, "empty (0 bytes)"),
];

#[test]
fn every_elf_fixture_through_the_cli() {
    // Every committed fixture has a row.
    for entry in std::fs::read_dir(fixture("elf")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name != "README.md" && name != "make-fixtures.sh" {
            assert!(
                CASES.iter().any(|c| c.name == name),
                "no test case for fixture {name}"
            );
        }
    }
    for c in CASES {
        let path = elf(c.name);
        let (code, lines, stderr) = verify_json(&[&path], &[]);
        assert_eq!(
            code,
            if c.passed { 0 } else { 1 },
            "{}: {lines:?}\n{stderr}",
            c.name
        );
        assert_eq!(lines.len(), 1, "{}", c.name);
        let v = &lines[0];
        assert_eq!(v["reason"], "verified");
        assert_eq!(v["path"], path.to_str().unwrap());
        assert_eq!(v["input"], "elf", "{}", c.name);
        assert_eq!(v["passed"], c.passed, "{}: {v}", c.name);
        assert_eq!(v["kind"], json!(c.kind), "{}", c.name);
        assert_eq!(v["arch"], json!(c.arch), "{}", c.name);
        assert_eq!(v["interpreter"], json!(c.interpreter), "{}", c.name);
        assert_eq!(v["needed"], json!(c.needed), "{}", c.name);
        assert_eq!(v["files"], json!([]));
        assert_eq!(v["image"], Value::Null);
        if c.passed {
            assert_eq!(v["errors"], json!([]), "{}", c.name);
            let notes = v["notes"].to_string();
            assert!(notes.contains(c.says), "{}: {notes}", c.name);
        } else {
            let m = messages(v);
            assert!(m.contains(c.says), "{}: {m}", c.name);
            assert!(
                m.contains(path.to_str().unwrap()),
                "{}: names the path: {m}",
                c.name
            );
        }
        assert_eq!(
            v["packer"],
            json!(c.name.starts_with("upx").then_some("upx"))
        );
    }
}

#[test]
fn several_inputs_one_line_each_and_exit_1_if_any_fails() {
    let (code, lines, stderr) = verify_json(
        &[&elf("static"), &elf("musl-dynamic"), &elf("static-pie")],
        &[],
    );
    assert_eq!(code, 1);
    let passed: Vec<bool> = lines
        .iter()
        .map(|l| l["passed"].as_bool().unwrap())
        .collect();
    assert_eq!(passed, [true, false, true]);
    assert!(
        stderr.contains("1 of 3 inputs failed verification"),
        "{stderr}"
    );
    let (code, lines, _) = verify_json(&[&elf("static"), &elf("static-pie")], &[]);
    assert_eq!((code, lines.len()), (0, 2));
}

#[test]
fn human_output_names_interpreter_libraries_and_fix() {
    let out = run_code(slim(&["verify"]).arg(elf("glibc-dynamic")), 1);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stderr.contains("   Verifying "), "{stderr}");
    assert!(stderr.contains("is not static"), "{stderr}");
    assert!(
        stderr.contains("interpreter: /lib64/ld-linux-x86-64.so.2"),
        "{stderr}"
    );
    assert!(stderr.contains("needs: libc.so.6"), "{stderr}");
    assert!(
        stderr.contains("help:")
            && stderr.contains("musl")
            && stderr.contains("+crt-static")
            && stderr.contains("vendored"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning:") && stderr.contains("getaddrinfo"),
        "NSS warning: {stderr}"
    );
    assert!(stdout.contains("FAILED"), "{stdout}");

    let out = run_code(slim(&["verify"]).arg(elf("static-pie")), 0);
    assert!(
        text(&out.stdout).contains(": ok (static-pie, amd64)"),
        "{}",
        text(&out.stdout)
    );
    let out = run_code(slim(&["-q", "verify"]).arg(elf("static")), 0);
    assert_eq!(text(&out.stderr), "", "-q silences status lines");
}

#[test]
fn arch_flag_accepts_goarch_and_rust_names() {
    for arch in ["amd64", "x86_64"] {
        assert_eq!(
            verify_json(&[&elf("static")], &["--arch", arch]).0,
            0,
            "{arch}"
        );
    }
    for arch in ["arm64", "aarch64"] {
        let (code, lines, _) = verify_json(&[&elf("static")], &["--arch", arch]);
        assert_eq!(code, 1);
        let m = messages(&lines[0]);
        assert!(m.contains("built for amd64") && m.contains("arm64"), "{m}");
        assert_eq!(
            verify_json(&[&elf("aarch64-static")], &["--arch", arch]).0,
            0
        );
    }
    let out = run_code(slim(&["verify", "--arch", "sparc"]).arg(elf("static")), 2);
    assert!(
        text(&out.stderr).contains("unknown architecture `sparc`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn directory_and_missing_path_fail_cleanly() {
    let (code, lines, _) = verify_json(&[&fixture("elf"), Path::new("/nonexistent/dir/app")], &[]);
    assert_eq!(code, 1);
    assert_eq!(lines[0]["input"], Value::Null);
    assert!(
        messages(&lines[0]).contains("is a directory"),
        "{}",
        lines[0]
    );
    assert!(
        messages(&lines[1]).contains("could not read `/nonexistent/dir/app`"),
        "{}",
        lines[1]
    );
    assert!(
        messages(&lines[1]).contains("nearest existing directory: /"),
        "{}",
        lines[1]
    );
}

#[test]
fn multi_platform_tarball_verifies_every_platform() {
    use crate::support::index::{fixture_pair, write_images};
    let dir = tempfile::tempdir().unwrap();
    let (amd, arm) = fixture_pair("localhost/app:1", 0);
    let tar = write_images(&dir.path().join("all.tar"), vec![amd, arm], 0);

    let o = run_ok(slim(&["verify"]).arg(&tar));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].contains("linux/amd64: ok") && lines[0].contains("entrypoint /app: static"),
        "{out}"
    );
    assert!(
        lines[1].contains("linux/arm64/v8: ok") && lines[1].contains("linux/arm64"),
        "{out}"
    );
    assert!(
        lines[2].contains(": ok (localhost/app:1, 2 platforms: linux/amd64, linux/arm64/v8)"),
        "{out}"
    );

    let (code, json, _) = verify_json(&[&tar], &[]);
    assert_eq!(code, 0);
    let platforms = json[0]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    for (p, (platform, arch)) in platforms
        .iter()
        .zip([("linux/amd64", "amd64"), ("linux/arm64/v8", "arm64")])
    {
        assert_eq!(p["platform"], platform);
        assert_eq!(p["passed"], true);
        assert_eq!(p["arch"], arch, "the entrypoint's e_machine");
        assert_eq!(p["image"]["architecture"], arch);
    }
    // --arch still picks one platform, reported as a single image.
    let (code, json, _) = verify_json(&[&tar], &["--arch", "arm64"]);
    assert_eq!(code, 0);
    assert_eq!(json[0]["image"]["architecture"], "arm64");
    assert!(json[0].get("platforms").is_none());
}

#[test]
fn a_wrong_binary_in_one_platform_fails_naming_it() {
    use crate::support::index::{fixture_image, platform, write_images};
    let dir = tempfile::tempdir().unwrap();
    // The arm64 image holds an x86-64 binary.
    let amd = fixture_image("localhost/app:1", &platform("amd64"), "static", 0);
    let arm = fixture_image("localhost/app:1", &platform("arm64"), "static", 0);
    let tar = write_images(&dir.path().join("all.tar"), vec![amd, arm], 0);
    let o = run_code(slim(&["verify"]).arg(&tar), 1);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(out.contains("linux/amd64: ok"), "{out}");
    assert!(out.contains("linux/arm64/v8: FAILED"), "{out}");
    assert!(
        err.contains("linux/arm64/v8: ") && err.contains("amd64"),
        "{err}"
    );
    let (code, json, _) = verify_json(&[&tar], &[]);
    assert_eq!(code, 1);
    assert_eq!(json[0]["platforms"][0]["passed"], true);
    assert_eq!(json[0]["platforms"][1]["passed"], false);
    let m = messages(&json[0]);
    assert!(m.starts_with("linux/arm64/v8: "), "{m}");
}

mod escape;
mod images;
mod robustness;
