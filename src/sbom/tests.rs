use super::*;

#[test]
fn license_field_becomes_an_spdx_expression() {
    for (raw, want) in [
        ("MIT OR Apache-2.0", Some("MIT OR Apache-2.0")),
        ("MIT/Apache-2.0", Some("MIT OR Apache-2.0")),
        (
            "Apache-2.0 WITH LLVM-exception",
            Some("Apache-2.0 WITH LLVM-exception"),
        ),
        ("", None),
        ("see LICENSE, please", None),
    ] {
        assert_eq!(license_expression(raw).as_deref(), want, "{raw}");
    }
}

#[test]
fn download_location_of_each_source_kind() {
    assert_eq!(
        download_location(CRATES_IO, "itoa", "1.0.19").as_deref(),
        Some("https://crates.io/api/v1/crates/itoa/1.0.19/download")
    );
    assert_eq!(
        download_location("git+https://example.org/a.git#abc", "a", "1.0.0").as_deref(),
        Some("git+https://example.org/a.git#abc")
    );
}

#[test]
fn checksums_come_from_the_lock_file_and_bad_ones_are_dropped() {
    let sum = "a".repeat(64);
    let lock = format!(
        "version = 4\n[[package]]\nname = \"itoa\"\nversion = \"1.0.19\"\nsource = \"x\"\nchecksum = \"{sum}\"\n\
         [[package]]\nname = \"root\"\nversion = \"0.1.0\"\n\
         [[package]]\nname = \"bad\"\nversion = \"1.0.0\"\nchecksum = \"zz\"\n"
    );
    let got = lock_checksums(&lock).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[&("itoa".into(), "1.0.19".into())], sum);
    assert!(lock_checksums("[[package]\n").is_err());
}

#[test]
fn serial_numbers_are_stable_uuids() {
    let a = uuid_of("sha256:00");
    assert_eq!(a, uuid_of("sha256:00"));
    assert_ne!(a, uuid_of("sha256:01"));
    let parts: Vec<usize> = a.split('-').map(str::len).collect();
    assert_eq!(parts, [8, 4, 4, 4, 12]);
    assert_eq!(&a[14..15], "5");
    assert!("89ab".contains(&a[19..20]));
}

#[test]
fn sidecars_sit_beside_the_tarball() {
    let out = Path::new("/t/app-0.1.0.tar");
    assert_eq!(
        sidecar_path(out, Format::Spdx, None),
        Path::new("/t/app-0.1.0.spdx.json")
    );
    assert_eq!(
        sidecar_path(out, Format::CycloneDx, Some("linux-arm64")),
        Path::new("/t/app-0.1.0-linux-arm64.cdx.json")
    );
}

fn sample() -> (Graph, Subject) {
    let dep = Package {
        name: "itoa".into(),
        version: "1.0.19".into(),
        license: Some("MIT OR Apache-2.0".into()),
        download: download_location(CRATES_IO, "itoa", "1.0.19"),
        sha256: Some("b".repeat(64)),
        depends_on: vec![],
    };
    let root = Package {
        name: "app_x".into(),
        version: "0.1.0".into(),
        license: None,
        download: None,
        sha256: None,
        depends_on: vec![1],
    };
    let subject = Subject {
        reference: "localhost/app:0.1.0".into(),
        digest: format!("sha256:{}", "c".repeat(64)),
        platform: "linux/amd64".into(),
    };
    (
        Graph {
            packages: vec![root, dep],
        },
        subject,
    )
}

#[test]
fn documents_are_reproducible_and_name_the_image() {
    let (g, s) = sample();
    for f in [Format::Spdx, Format::CycloneDx] {
        let a = render(f, &g, &s, 0).unwrap();
        assert_eq!(a, render(f, &g, &s, 0).unwrap());
        let text = String::from_utf8(a).unwrap();
        assert!(text.contains("pkg:cargo/itoa@1.0.19"), "{text}");
        assert!(text.contains(&"c".repeat(64)), "{text}");
        assert!(text.contains("1970-01-01T00:00:00Z"), "{text}");
    }
    let spdx: serde_json::Value =
        serde_json::from_slice(&render(Format::Spdx, &g, &s, 0).unwrap()).unwrap();
    // `_` is not allowed in an SPDX identifier.
    assert_eq!(
        spdx["packages"][1]["SPDXID"],
        "SPDXRef-Package-crate-app-x-0.1.0"
    );
    assert_eq!(
        spdx["packages"][0]["externalRefs"][0]["referenceLocator"],
        format!(
            "pkg:oci/app@sha256%3A{}?repository_url=localhost/app",
            "c".repeat(64)
        )
    );
}

#[test]
fn several_platforms_get_one_document_each_named_by_platform() {
    let (g, amd) = sample();
    let arm = Subject {
        digest: format!("sha256:{}", "d".repeat(64)),
        platform: "linux/arm64/v8".into(),
        ..amd.clone()
    };
    let plan = SbomPlan {
        formats: vec![Format::Spdx, Format::CycloneDx],
    };
    let out = Path::new("/t/app-0.1.0.tar");
    let docs = documents(&plan, &[(&g, amd.clone()), (&g, arm)], out, 0).unwrap();
    let names: Vec<String> = docs
        .iter()
        .map(|d| d.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "app-0.1.0-linux-amd64.spdx.json",
            "app-0.1.0-linux-amd64.cdx.json",
            "app-0.1.0-linux-arm64-v8.spdx.json",
            "app-0.1.0-linux-arm64-v8.cdx.json",
        ]
    );
    assert_ne!(docs[0].bytes, docs[2].bytes);
    // One platform: no suffix.
    let one = documents(&plan, &[(&g, amd)], out, 0).unwrap();
    assert_eq!(one[0].path, Path::new("/t/app-0.1.0.spdx.json"));
    assert!(documents(&SbomPlan { formats: vec![] }, &[], out, 0)
        .unwrap()
        .is_empty());
}
