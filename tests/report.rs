//! The size report and the budget: the numbers are the real byte counts, the JSON
//! schema is stable, and every budget failure exits 3 in every output mode.

use std::path::Path;
use std::process::Command;

use cargo_slim::validate::{read_layer_file, validate_tarball};
use serde_json::Value;

use crate::support::*;

/// `--message-format json build` of hello to `out`, with `extra` arguments.
fn json_build(out: &Path, extra: &[&str]) -> Command {
    let mut cmd = build_manifest_json(
        &fixture("hello").join("Cargo.toml"),
        &["-o", out.to_str().unwrap()],
    );
    cmd.args(extra);
    cmd
}

/// `build --message-format json` → (exit code, the image-built JSON, stderr).
fn build_json(out: &Path, extra: &[&str], code: i32) -> (Value, String) {
    let o = run_code(&mut json_build(out, extra), code);
    (last_json(&o), text(&o.stderr))
}

/// Keys and value types, with every value erased: the schema.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => "null".into(),
    }
}

#[test]
fn json_report_schema_is_stable_and_numbers_are_real() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello.tar");
    let (v, _) = build_json(&out, &["--max-image-size", "10 MiB"], 0);
    insta::assert_snapshot!(
        "image_built_schema",
        serde_json::to_string_pretty(&shape(&v)).unwrap()
    );

    let img = validate_tarball(&out).unwrap();
    let s = &v["sizes"];
    assert_eq!(v["reason"], "image-built");
    assert_eq!(v["path"], out.to_str().unwrap());
    assert_eq!(v["manifest_digest"], img.manifest_digest.as_str());
    assert_eq!(v["platform"], "linux/amd64");
    assert_eq!(s["tarball"], std::fs::metadata(&out).unwrap().len());
    assert_eq!(s["layer_compressed"], img.layers[0].size);
    assert_eq!(s["layer_uncompressed"], img.layers[0].uncompressed_size);
    let layer = &v["layers"][0];
    assert_eq!(layer["digest"], img.layers[0].digest.as_str());
    assert_eq!(layer["compressed"], img.layers[0].size);
    assert_eq!(layer["uncompressed"], img.layers[0].uncompressed_size);
    assert_eq!(layer["holds"], "static binary /hello");
    assert_eq!(
        s["image_pull"],
        img.manifest_size + img.config_size + img.layers[0].size
    );
    let in_layer = read_layer_file(&out, "hello").unwrap().len() as u64;
    assert_eq!(s["binary_final"], in_layer);
    assert_eq!(s["binary_stripped"], in_layer);
    assert_eq!(s["binary_packed"], Value::Null);
    let unstripped =
        std::fs::metadata(fixture_target_dir().join("x86_64-unknown-linux-musl/release/hello"))
            .unwrap()
            .len();
    assert_eq!(s["binary_unstripped"], unstripped);
    let crates = v["crates"].as_array().unwrap();
    assert!(crates.iter().any(|c| c["name"] == "std"), "{crates:?}");
    let sections = v["sections"].as_array().unwrap();
    assert!(
        sections.iter().any(|c| c["name"] == ".text"),
        "{sections:?}"
    );
    assert_eq!(v["budget"]["passed"], true);
    assert_eq!(v["budget"]["checks"][0]["name"], "image");
    assert_eq!(v["budget"]["checks"][0]["limit"], 10 * 1024 * 1024);

    // The sidecar holds the same report.
    let side: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("hello.report.json")).unwrap())
            .unwrap();
    assert_eq!(side["sizes"], v["sizes"]);
    assert_eq!(side["crates"], v["crates"]);
}

#[test]
fn over_budget_exits_3_for_each_check_in_every_mode() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello.tar");

    // human mode, image check: message says which, limit, actual, by how much, where.
    let o = run_code(
        &mut build_fixture("hello", &out, &["--max-image-size", "100 KiB"]),
        3,
    );
    let err = text(&o.stderr);
    assert!(
        err.contains("exceeds the `image` budget of 100.0 KiB (102400 bytes)"),
        "{err}"
    );
    assert!(
        err.contains("limit set by command line --max-image-size"),
        "{err}"
    );
    assert!(out.exists(), "the tarball is still written");
    assert_eq!(last_line(&o), out);

    // JSON mode, binary check.
    let (v, err) = build_json(&out, &["--max-binary-size", "1 KB"], 3);
    assert_eq!(v["budget"]["passed"], false);
    assert_eq!(v["budget"]["checks"][0]["name"], "binary");
    assert_eq!(v["budget"]["checks"][0]["limit"], 1000);
    assert_eq!(v["budget"]["checks"][0]["passed"], false);
    assert!(err.contains("`binary` budget"), "{err}");

    // increase check against a baseline, with a step summary.
    let (base, _) = build_json(&out, &[], 0);
    let mut smaller = base.clone();
    let pull = base["sizes"]["image_pull"].as_u64().unwrap();
    smaller["sizes"]["image_pull"] = (pull - pull / 10).into();
    let base_path = dir.path().join("base.json");
    std::fs::write(&base_path, serde_json::to_vec(&smaller).unwrap()).unwrap();
    let summary = dir.path().join("summary.md");
    let o = run_code(
        json_build(
            &out,
            &[
                "--baseline",
                base_path.to_str().unwrap(),
                "--max-increase",
                "5%",
            ],
        )
        .env("GITHUB_STEP_SUMMARY", &summary),
        3,
    );
    let v: Value = serde_json::from_str(text(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(v["budget"]["checks"][0]["name"], "increase");
    assert_eq!(v["budget"]["checks"][0]["passed"], false);
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("Budget: exceeded"), "{md}");
    assert!(md.contains("| increase |"), "{md}");

    // Under budget: exit 0.
    run_code(
        &mut build_fixture(
            "hello",
            &out,
            &["--max-image-size", "5MiB", "--max-binary-size", "5MiB"],
        ),
        0,
    );
}

#[test]
fn budget_from_the_manifest() {
    warm_up();
    let crate_dir = copy_fixture("hello");
    let manifest = crate_dir.path().join("Cargo.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{toml}\n[package.metadata.slim.budget]\nimage = \"1 KiB\"\n"),
    )
    .unwrap();
    let out = crate_dir.path().join("o.tar");
    let o = run_code(
        &mut build_manifest(&manifest, &["-o", out.to_str().unwrap()]),
        3,
    );
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "limit set by {} [package.metadata.slim.budget] image",
            manifest.display()
        )),
        "{err}"
    );
    // The CLI overrides the manifest.
    run_code(
        &mut build_manifest(
            &manifest,
            &["-o", out.to_str().unwrap(), "--max-image-size", "1 GiB"],
        ),
        0,
    );

    // A malformed size is a clear error, not a pass.
    std::fs::write(
        &manifest,
        format!("{toml}\n[package.metadata.slim.budget]\nimage = \"1 parsec\"\n"),
    )
    .unwrap();
    let o = run_code(
        &mut build_manifest(&manifest, &["-o", out.to_str().unwrap()]),
        1,
    );
    let err = text(&o.stderr);
    assert!(
        err.contains("invalid `image` in [package.metadata.slim.budget]"),
        "{err}"
    );
    assert!(err.contains("unknown unit `parsec`"), "{err}");
    // On the command line it is a usage error.
    run_code(
        &mut build_manifest(&manifest, &["--max-image-size", "lots"]),
        2,
    );
}

#[test]
fn baseline_diff_matches_the_two_reports() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello.tar");
    let (first, _) = build_json(&out, &[], 0);
    let mut base = first.clone();
    base["sizes"]["image_pull"] = (first["sizes"]["image_pull"].as_u64().unwrap() - 1000).into();
    base["sizes"]["binary_stripped"] =
        (first["sizes"]["binary_stripped"].as_u64().unwrap() + 2048).into();
    let std_now = first["crates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "std")
        .unwrap()["bytes"]
        .as_u64()
        .unwrap();
    for c in base["crates"].as_array_mut().unwrap() {
        if c["name"] == "std" {
            c["bytes"] = (std_now - 500).into();
        }
    }
    let base_path = dir.path().join("base.json");
    std::fs::write(&base_path, serde_json::to_vec(&base).unwrap()).unwrap();
    let (v, err) = build_json(&out, &["--baseline", base_path.to_str().unwrap()], 0);
    let stage = |name: &str| -> Value {
        v["baseline"]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .cloned()
            .unwrap()
    };
    let pull = stage("image_pull");
    assert_eq!(pull["bytes"], 1000);
    assert_eq!(pull["after"], first["sizes"]["image_pull"]);
    assert_eq!(pull["before"], base["sizes"]["image_pull"]);
    let want_pct = 1000.0 * 100.0 / base["sizes"]["image_pull"].as_f64().unwrap();
    assert!((pull["percent"].as_f64().unwrap() - want_pct).abs() < 0.01);
    assert_eq!(stage("binary_stripped")["bytes"], -2048);
    let std_delta = v["baseline"]["crates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "std")
        .unwrap();
    assert_eq!(std_delta["bytes"], 500);
    assert!(
        err.contains("+1000 B"),
        "human table shows the delta: {err}"
    );
}

#[test]
fn report_command_recomputes_from_the_tarball() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello.tar");
    let (built, _) = build_json(&out, &[], 0);
    let v = last_json(&run_ok(&mut slim(&[
        "--message-format",
        "json",
        "report",
        out.to_str().unwrap(),
    ])));
    assert_eq!(v["reason"], "image-report");
    assert_eq!(v["sizes"], built["sizes"]);
    assert_eq!(v["crates"], built["crates"]);
    assert_eq!(v["manifest_digest"], built["manifest_digest"]);

    // Without the sidecar: the image-level figures still come from the file.
    std::fs::remove_file(dir.path().join("hello.report.json")).unwrap();
    let o = run_ok(&mut slim(&[
        "--message-format",
        "json",
        "report",
        out.to_str().unwrap(),
    ]));
    let v = last_json(&o);
    for k in [
        "binary_final",
        "layer_compressed",
        "layer_uncompressed",
        "image_pull",
        "tarball",
    ] {
        assert_eq!(v["sizes"][k], built["sizes"][k], "{k}");
    }
    assert_eq!(v["sizes"]["binary_unstripped"], Value::Null);
    assert_eq!(v["crates"], serde_json::json!([]));
    assert!(text(&o.stderr).contains("no report beside the tarball"));
    // Budgets apply to `report` too.
    run_code(
        &mut slim(&["report", out.to_str().unwrap(), "--max-image-size", "1KiB"]),
        3,
    );
    // Not a tarball: exit 1.
    let bogus = dir.path().join("bogus.tar");
    std::fs::write(&bogus, b"nope").unwrap();
    run_code(&mut slim(&["report", bogus.to_str().unwrap()]), 1);
}

#[test]
fn chart_is_valid_svg_with_labels() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello.tar");
    let chart = dir.path().join("chart.svg");
    build_json(&out, &["--chart", chart.to_str().unwrap()], 0);
    let svg = std::fs::read_to_string(&chart).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    for want in [
        "stages",
        "binary (stripped)",
        "layer (compressed)",
        "image pull size",
        "std",
    ] {
        assert!(texts.contains(&want), "{want} not in {texts:?}");
    }
    assert!(doc.descendants().filter(|n| n.has_tag_name("rect")).count() >= 6);
}

/// A multi-platform archive gets one section per platform (its
/// platform and manifest digest on a status line, then its table), the budget is
/// checked per platform, and the JSON line is the first platform's.
#[test]
fn report_of_a_multi_platform_archive_has_one_section_per_platform() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("multi.tar");
    let images = [
        payload_image("multi", &noise(3, 50_000), "amd64"),
        payload_image("multi", &noise(4, 80_000), "arm64"),
    ];
    let w = multi_platform_archive(&tar, "localhost/multi:1", &images, Shape::Nested, true);
    let o = run_ok(&mut slim(&[
        "--message-format",
        "json",
        "report",
        tar.to_str().unwrap(),
    ]));
    let err = text(&o.stderr);
    for (platform, digest) in [
        ("linux/amd64", &w.manifests[0]),
        ("linux/arm64/v8", &w.manifests[1]),
    ] {
        assert!(
            err.contains(&format!("{platform} ({digest})")),
            "a section for {platform}: {err}"
        );
    }
    assert_eq!(
        err.matches("image pull size").count(),
        2,
        "two tables: {err}"
    );
    // A JSON line per platform, in the archive's order.
    let lines: Vec<Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1]["platform"], "linux/arm64/v8");
    assert_eq!(lines[1]["manifest_digest"], w.manifests[1].as_str());
    let v = &lines[0];
    assert_eq!(v["platform"], "linux/amd64");
    assert_eq!(v["manifest_digest"], w.manifests[0].as_str());
    assert_eq!(v["reference"], "localhost/multi:1");
    let layer = images[0].layers[0].blob.size();
    assert_eq!(v["sizes"]["layer_compressed"], layer);
    assert_eq!(
        v["sizes"]["image_pull"],
        images[0].manifest.size() + images[0].config.size() + layer
    );
    assert_eq!(v["sizes"]["binary_final"], 50_000);

    // Over budget: each platform says so, by name; exit 3.
    let o = run_code(
        &mut slim(&["report", tar.to_str().unwrap(), "--max-image-size", "60KiB"]),
        3,
    );
    let err = text(&o.stderr);
    assert!(
        !err.contains("linux/amd64: image pull size"),
        "amd64 fits: {err}"
    );
    assert!(err.contains("linux/arm64/v8: image pull size"), "{err}");
}

/// A release profile with `strip = true` (common) still gives per-crate sizes:
/// cargo builds with strip = "debuginfo" through `--config`, said with `-v`; the
/// image gets a stripped binary, the user's Cargo.toml is untouched, and a
/// rebuild from the cache keeps the crates.
#[test]
fn a_profile_that_strips_still_gets_per_crate_sizes() {
    let krate = copy_fixture("hello");
    let manifest = krate.path().join("Cargo.toml");
    let mut toml = std::fs::read_to_string(&manifest).unwrap();
    toml.push_str("\n[profile.release]\nstrip = true\n");
    std::fs::write(&manifest, &toml).unwrap();
    let out = krate.path().join("hello.tar");
    let target_dir = krate.path().join("target");
    for run in 0..2 {
        let mut cmd = slim(&[
            "-v",
            "--message-format",
            "json",
            "build",
            "--manifest-path",
            manifest.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        // Its own target dir: the fixtures' shared `hello` binary stays as it is.
        cmd.env("CARGO_TARGET_DIR", &target_dir);
        let o = run_ok(&mut cmd);
        let err = text(&o.stderr);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let crates = v["crates"].as_array().unwrap();
        assert!(
            crates.iter().any(|c| c["name"] == "std"),
            "run {run}: {crates:?}\n{err}"
        );
        assert!(!err.contains("no symbol table"), "{err}");
        if run == 0 {
            assert!(
                err.contains("profile `release` sets strip = true")
                    && err.contains("strip = \"debuginfo\""),
                "{err}"
            );
            assert!(
                err.contains("profile.release.strip=\\\"debuginfo\\\""),
                "cargo gets the flag: {err}"
            );
        }
        // The image's binary is stripped all the same.
        let binary = read_layer_file(&out, "hello").unwrap();
        let elf = goblin::elf::Elf::parse(&binary).unwrap();
        assert!(elf.syms.is_empty(), "no symbol table in the image's binary");
        assert!(!elf
            .section_headers
            .iter()
            .any(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".symtab")),);
        assert_eq!(v["sizes"]["binary_final"], binary.len() as u64);
    }
    assert_eq!(
        std::fs::read_to_string(&manifest).unwrap(),
        toml,
        "unchanged"
    );
}
