//! `--compression gzip | gzip:max | zstd[:LEVEL]`: each layer is what its media
//! type says, passes the strict validator, is reproducible, is smaller than the
//! default gzip, and the zstd image is loaded and run by podman.

use std::process::Command;

use crate::support::*;

fn layer_media_types(tar: &std::path::Path) -> Vec<String> {
    let set = cargo_slim::validate::validate_set(tar).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&set.images[0].manifest_bytes).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_compression_validates_is_reproducible_and_smaller() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let pull = |name: &str, extra: &[&str]| {
        let out = dir.path().join(format!("{name}.tar"));
        run_ok(&mut build_fixture("hello", &out, extra));
        let img = cargo_slim::validate::validate_tarball(&out).unwrap();
        (out, img.layers[0].size, img.manifest_digest)
    };
    let (gz, gz_size, _) = pull("gzip", &[]);
    let (max, max_size, max_digest) = pull("max", &["--compression", "gzip:max"]);
    let (zst, zst_size, zst_digest) = pull("zstd", &["--compression", "zstd"]);
    assert_eq!(
        layer_media_types(&gz),
        ["application/vnd.oci.image.layer.v1.tar+gzip"]
    );
    assert_eq!(
        layer_media_types(&max),
        ["application/vnd.oci.image.layer.v1.tar+gzip"]
    );
    assert_eq!(
        layer_media_types(&zst),
        ["application/vnd.oci.image.layer.v1.tar+zstd"]
    );
    assert!(max_size < gz_size, "gzip:max {max_size} < gzip {gz_size}");
    assert!(zst_size < max_size, "zstd {zst_size} < gzip:max {max_size}");
    // The same input gives the same bytes.
    assert_eq!(pull("max2", &["--compression", "gzip:max"]).2, max_digest);
    assert_eq!(pull("zstd2", &["--compression", "zstd"]).2, zst_digest);
    // verify reads every one.
    for t in [&gz, &max, &zst] {
        run_ok(slim(&["verify"]).arg(t));
    }
    if have("podman") {
        let tag = "localhost/hello-zstd:1";
        let retagged = dir.path().join("zstd-run.tar");
        run_ok(&mut build_fixture(
            "hello",
            &retagged,
            &["--compression", "zstd:3", "--tag", tag],
        ));
        run_ok(
            Command::new("podman")
                .args(["load", "-q", "-i"])
                .arg(&retagged),
        );
        let run = run_ok(Command::new("podman").args(["run", "--rm", "--runtime", "runc", tag]));
        let _ = Command::new("podman").args(["rmi", "-f", tag]).output();
        assert_eq!(text(&run.stdout).trim(), HELLO_LINE);
    }
}

#[test]
fn a_bad_compression_is_refused_before_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.tar");
    let o = run_code(
        &mut build_fixture("hello", &out, &["--compression", "brotli"]),
        2,
    );
    assert!(
        text(&o.stderr).contains("gzip, gzip:max, zstd or zstd:LEVEL"),
        "{}",
        text(&o.stderr)
    );
    let o = run_code(
        &mut build_fixture("hello", &out, &["--compression", "zstd:40"]),
        2,
    );
    assert!(text(&o.stderr).contains("1 to 22"), "{}", text(&o.stderr));
    assert!(!out.exists());
}
