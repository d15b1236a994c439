//! SBOMs: the fixture with a pinned normal dependency, a `cfg(windows)` one and a
//! dev-dependency gets SPDX and CycloneDX documents listing exactly the first,
//! which independent validators (pyspdxtools, cyclonedx-python-lib) accept.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// itoa's line in testdata/sbomdeps/Cargo.lock.
const ITOA_SHA256: &str = "3bd1574e617a9a6c1f8f8181bd7e841e1f20e4277607ef28945765188d6284d4";

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn build_sbomdeps(dir: &Path, extra: &[&str]) -> std::process::Output {
    run_ok(&mut build_fixture(
        "sbomdeps",
        &dir.join("sbomdeps.tar"),
        extra,
    ))
}

#[test]
fn sboms_list_exactly_the_linked_crates() {
    let dir = tempfile::tempdir().unwrap();
    build_sbomdeps(dir.path(), &["--sbom", "spdx,cyclonedx"]);
    let spdx = json(&dir.path().join("sbomdeps.spdx.json"));
    let mut names: Vec<&str> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort();
    // The image, the root crate and itoa: not fnv (cfg(windows)), not ryu (dev).
    assert_eq!(names, ["itoa", "localhost/sbomdeps:0.1.0", "sbomdeps"]);
    let itoa = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "itoa")
        .unwrap();
    assert_eq!(itoa["versionInfo"], "1.0.19");
    assert_eq!(itoa["checksums"][0]["checksumValue"], ITOA_SHA256);
    assert_eq!(
        itoa["externalRefs"][0]["referenceLocator"],
        "pkg:cargo/itoa@1.0.19"
    );
    assert_eq!(itoa["licenseDeclared"], "MIT OR Apache-2.0");

    let cdx = json(&dir.path().join("sbomdeps.cdx.json"));
    let purls: Vec<&str> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["purl"].as_str().unwrap())
        .collect();
    assert_eq!(purls, ["pkg:cargo/sbomdeps@0.1.0", "pkg:cargo/itoa@1.0.19"]);
    assert_eq!(cdx["components"][1]["hashes"][0]["content"], ITOA_SHA256);
    // The subject is the image the tarball holds.
    let digest = cargo_slim::validate::validate_tarball(&dir.path().join("sbomdeps.tar"))
        .unwrap()
        .manifest_digest;
    assert_eq!(cdx["metadata"]["component"]["version"], digest.as_str());
    assert!(spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["versionInfo"] == digest.as_str()));
}

#[test]
fn independent_validators_accept_both_documents() {
    let dir = tempfile::tempdir().unwrap();
    build_sbomdeps(dir.path(), &["--sbom", "cyclonedx,spdx"]);
    if have_cmd("pyspdxtools", &["--help"]) {
        run_ok(
            Command::new("pyspdxtools")
                .arg("-i")
                .arg(dir.path().join("sbomdeps.spdx.json")),
        );
    }
    let check = "import sys\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        from cyclonedx.schema import SchemaVersion\n\
        e = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\n\
        sys.exit(f'invalid: {e}' if e else 0)\n";
    if have_cmd(
        "python3",
        &["-c", "import cyclonedx.validation.json, jsonschema"],
    ) {
        run_ok(
            Command::new("python3")
                .args(["-c", check])
                .arg(dir.path().join("sbomdeps.cdx.json")),
        );
    }
}

#[test]
fn sboms_are_reproducible_and_follow_source_date_epoch() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    build_sbomdeps(a.path(), &["--sbom", "spdx,cyclonedx"]);
    build_sbomdeps(b.path(), &["--sbom", "spdx,cyclonedx"]);
    for f in ["sbomdeps.spdx.json", "sbomdeps.cdx.json"] {
        assert_eq!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
            "{f} differs between two builds"
        );
    }
    let c = tempfile::tempdir().unwrap();
    run_ok(
        build_fixture("sbomdeps", &c.path().join("sbomdeps.tar"), &[])
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    let spdx = json(&c.path().join("sbomdeps.spdx.json"));
    assert_eq!(spdx["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    // The default is SPDX only.
    assert!(!c.path().join("sbomdeps.cdx.json").exists());
}

#[test]
fn sbom_none_writes_nothing_and_a_bad_format_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    build_sbomdeps(dir.path(), &["--sbom", "none"]);
    assert!(dir.path().join("sbomdeps.tar").exists());
    assert!(!dir.path().join("sbomdeps.spdx.json").exists());
    let o = run_code(
        &mut build_fixture("sbomdeps", &dir.path().join("x.tar"), &["--sbom", "swid"]),
        2,
    );
    assert!(text(&o.stderr).contains("unknown SBOM format `swid`"));
}

#[test]
fn rust_audit_info_reads_the_crate_list_from_the_binary_in_the_image() {
    let dir = tempfile::tempdir().unwrap();
    build_sbomdeps(dir.path(), &[]);
    let binary =
        cargo_slim::validate::read_layer_file(&dir.path().join("sbomdeps.tar"), "/sbomdeps")
            .unwrap();
    let path = dir.path().join("sbomdeps");
    std::fs::write(&path, &binary).unwrap();
    // rust-audit-info has no flag that exits 0: probe the PATH (a skip, or in CI
    // a failure, names `sh -c command -v rust-audit-info`).
    if !have_cmd("sh", &["-c", "command -v rust-audit-info"]) {
        return;
    }
    let o = run_ok(Command::new("rust-audit-info").arg(&path));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut got: Vec<(String, String, String)> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (s("name"), s("version"), s("source"))
        })
        .collect();
    got.sort();
    let want = [
        ("itoa", "1.0.19", "crates.io"),
        ("sbomdeps", "0.1.0", "local"),
    ]
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(got, want);
    // `--sbom none` leaves the section out too.
    let none = tempfile::tempdir().unwrap();
    build_sbomdeps(none.path(), &["--sbom", "none"]);
    let plain =
        cargo_slim::validate::read_layer_file(&none.path().join("sbomdeps.tar"), "/sbomdeps")
            .unwrap();
    assert!(plain.len() < binary.len());
    assert!(!plain.windows(7).any(|w| w == b".dep-v0"));
}

#[test]
fn upx_warns_that_the_packed_binary_hides_the_section() {
    if !have("upx") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = build_sbomdeps(dir.path(), &["--upx"]);
    assert!(
        text(&o.stderr).contains("hides its `.dep-v0` crate list"),
        "{}",
        text(&o.stderr)
    );
    // The SBOM file is still written, and attached; verify says why scanners
    // see no crate list in the binary.
    assert!(dir.path().join("sbomdeps.spdx.json").exists());
    let tar = dir.path().join("sbomdeps.tar");
    let v: Value = serde_json::from_slice(
        &run_ok(&mut slim(&[
            "verify",
            "--message-format",
            "json",
            tar.to_str().unwrap(),
        ]))
        .stdout,
    )
    .unwrap();
    assert_eq!(v["sbom"][0]["format"], "spdx", "{v}");
    assert!(v["dep_v0"].is_null(), "{v}");
    assert!(
        v["notes"]
            .to_string()
            .contains("upx-packed: a scanner cannot see"),
        "{v}"
    );
}

#[test]
fn the_size_report_carries_the_section_cost() {
    let dir = tempfile::tempdir().unwrap();
    build_sbomdeps(dir.path(), &["--message-format", "json"]);
    let report = json(&dir.path().join("sbomdeps.report.json"));
    let cost = report["sizes"]["dep_v0"].as_u64().unwrap();
    // Two crates, zlib-compressed: tens of bytes, not kilobytes.
    assert!((20..1024).contains(&cost), "{cost}");
    let none = tempfile::tempdir().unwrap();
    build_sbomdeps(none.path(), &["--sbom", "none", "--message-format", "json"]);
    let report = json(&none.path().join("sbomdeps.report.json"));
    assert!(report["sizes"].get("dep_v0").is_none(), "{report}");
}

#[test]
fn multi_platform_builds_get_one_sbom_per_platform_image() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sbomdeps.tar");
    run_ok(&mut build_fixture("sbomdeps", &out, &["--platform", "all"]));
    assert!(!dir.path().join("sbomdeps.spdx.json").exists());
    let file = std::fs::File::open(&out).unwrap();
    let mut archive =
        cargo_slim::oci::Archive::open(file, cargo_slim::oci::Strictness::Lenient).unwrap();
    let listing = archive.list().unwrap();
    assert_eq!(listing.images.len(), 2);
    for image in &listing.images {
        let platform = image.platform().replace('/', "-");
        let spdx = json(&dir.path().join(format!("sbomdeps-{platform}.spdx.json")));
        let digest = image.descriptor.digest.as_str();
        assert!(
            spdx["packages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["versionInfo"] == digest),
            "the {platform} SBOM does not name {digest}"
        );
    }
}

#[test]
fn a_binary_built_elsewhere_gets_no_sbom() {
    let dir = tempfile::tempdir().unwrap();
    let elf = repo().join("testdata/elf/static-unstripped");
    let out = dir.path().join("x.tar");
    let o = run_ok(&mut slim(&[
        "build",
        "-v",
        "--binary",
        elf.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]));
    assert!(out.exists());
    assert!(!dir.path().join("x.spdx.json").exists());
    assert!(text(&o.stderr).contains("no known dependency graph"));
}
