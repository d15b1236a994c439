//! The files beside the tarball belong to it: a build rewrites or removes every
//! report and SBOM an earlier build left at the same `-o` (the SBOM of another
//! package stayed there before), `index` removes them, and two runs writing the
//! same output take turns on its lock, so the tarball and its report always
//! come from one run. Real builds of testdata/sbomdeps and testdata/hello.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cargo_slim::validate::validate_set;
use serde_json::Value;

use crate::support::*;

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The text of an SBOM beside the tarball (it names its image and crates).
fn sbom_names(path: &Path) -> String {
    assert!(json(path).is_object(), "{}", path.display());
    std::fs::read_to_string(path).unwrap()
}

/// `cargo slim build --binary` of a static ELF fixture to `out` as `tag`, run in
/// `dir` (no Cargo.toml there: no cargo build, a fast run).
fn binary_build(dir: &Path, out: &Path, tag: &str) -> Command {
    let elf = repo().join("testdata/elf/static-unstripped");
    let mut cmd = slim(&[
        "build",
        "--binary",
        elf.to_str().unwrap(),
        "--tag",
        tag,
        "-o",
        out.to_str().unwrap(),
    ]);
    cmd.current_dir(dir);
    cmd
}

#[test]
fn a_build_removes_the_sboms_of_an_earlier_image_at_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("app.tar");
    let (spdx, cdx, report) = (
        d.join("app.spdx.json"),
        d.join("app.cdx.json"),
        d.join("app.report.json"),
    );
    // A user's own files beside it, named like ours but not ours, stay.
    let mine = [d.join("app-notes.spdx.json"), d.join("app.spdx.json.bak")];
    for m in &mine {
        std::fs::write(m, "mine\n").unwrap();
    }

    // sbomdeps with both formats, then hello with none: both SBOMs go.
    run_ok(&mut build_fixture(
        "sbomdeps",
        &out,
        &["--sbom", "spdx,cyclonedx"],
    ));
    assert!(sbom_names(&spdx).contains("sbomdeps"));
    assert!(sbom_names(&cdx).contains("sbomdeps"));
    let o = run_ok(&mut build_fixture("hello", &out, &["--sbom", "none"]));
    let err = text(&o.stderr);
    assert!(
        !spdx.exists() && !cdx.exists(),
        "stale SBOMs removed:\n{err}"
    );
    assert!(
        err.contains("removing `") && err.contains("app.spdx.json"),
        "{err}"
    );
    assert!(
        std::fs::read_to_string(&report)
            .unwrap()
            .contains("localhost/hello"),
        "the report is this build's"
    );

    // sbomdeps (SPDX), then hello with CycloneDX only: the SPDX of sbomdeps goes,
    // the CycloneDX document is hello's.
    run_ok(&mut build_fixture("sbomdeps", &out, &[]));
    assert!(sbom_names(&spdx).contains("sbomdeps"));
    run_ok(&mut build_fixture("hello", &out, &["--sbom", "cyclonedx"]));
    assert!(!spdx.exists());
    let names = sbom_names(&cdx);
    assert!(
        names.contains("hello") && !names.contains("sbomdeps"),
        "{names}"
    );

    // A --binary build has no SBOM: the one left (and a multi-platform build's
    // per-platform one) goes.
    let arm = d.join("app-linux-arm64-v8.spdx.json");
    std::fs::write(&arm, "{}").unwrap();
    run_ok(&mut binary_build(d, &out, "localhost/bin:1"));
    assert!(!cdx.exists() && !arm.exists());
    assert!(std::fs::read_to_string(&report)
        .unwrap()
        .contains("localhost/bin:1"));
    for m in &mine {
        assert_eq!(
            std::fs::read_to_string(m).unwrap(),
            "mine\n",
            "{}",
            m.display()
        );
    }
}

#[test]
fn index_removes_the_report_and_sboms_of_an_earlier_build_at_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (amd, arm) = crate::support::index::fixture_pair("localhost/app:1", 0);
    let a = crate::support::index::write_images(&d.join("amd64.tar"), vec![amd], 0);
    let b = crate::support::index::write_images(&d.join("arm64.tar"), vec![arm], 0);
    let out = d.join("all.tar");
    run_ok(&mut binary_build(d, &out, "localhost/other:9"));
    let report = d.join("all.report.json");
    assert!(report.exists());
    std::fs::write(d.join("all.spdx.json"), "{}").unwrap();
    let mut cmd = slim(&["index"]);
    cmd.arg(&a).arg(&b).arg("-o").arg(&out);
    run_ok(&mut cmd);
    assert_eq!(validate_set(&out).unwrap().reference, "localhost/app:1");
    assert!(!report.exists() && !d.join("all.spdx.json").exists());
    assert!(
        !d.join(".all.tar.lock").exists(),
        "no lock file outlives the run"
    );
}

#[test]
fn a_build_waits_for_the_run_that_holds_the_outputs_lock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("app.tar");
    let lock_path = d.join(".app.tar.lock");
    let held = std::fs::File::create(&lock_path).unwrap();
    held.lock().unwrap();

    let mut child = binary_build(d, &out, "localhost/waited:1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.contains("waiting") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the build says it waits");
    // It waits: nothing is written while the lock is held.
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "still waiting");
    assert!(!out.exists());
    let start = Instant::now();
    held.unlock().unwrap();
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(status.success(), "{err}");
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(
        err.contains(&format!(
            "another cargo slim build is writing `{}` (lock `{}`",
            out.display(),
            lock_path.display()
        )),
        "{err}"
    );
    validate_set(&out).unwrap();
    assert!(!lock_path.exists(), "removed when the run ends");
}

/// Two builds of different images to one output, again and again: the report
/// beside the tarball always describes that tarball.
#[test]
fn concurrent_builds_to_one_output_keep_each_runs_files_together() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("app.tar");
    for round in 0..8 {
        let mut a = binary_build(d, &out, "localhost/a:1");
        let mut b = binary_build(d, &out, "localhost/b:1");
        for c in [&mut a, &mut b] {
            c.stdout(Stdio::null()).stderr(Stdio::piped());
        }
        let (a, b) = (a.spawn().unwrap(), b.spawn().unwrap());
        for c in [a, b] {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "round {round}: {}", text(&o.stderr));
        }
        let set = validate_set(&out).unwrap();
        let report = json(&d.join("app.report.json"));
        assert_eq!(
            report["manifest_digest"], set.images[0].manifest_digest,
            "round {round}: the report describes the tarball beside it"
        );
        assert_eq!(report["reference"], set.reference, "round {round}");
    }
    assert!(!d.join(".app.tar.lock").exists());
}
