//! Unit tests for the report: units, alignment, baseline deltas, sidecar names.

use super::*;

pub(crate) fn sample() -> BuildReport {
    BuildReport {
        reason: "image-built".into(),
        path: "/t/hello.tar".into(),
        reference: "localhost/hello:0.1.0".into(),
        manifest_digest: "sha256:00".into(),
        index_digest: None,
        platform: "linux/amd64".into(),
        sizes: Sizes {
            binary_unstripped: Some(4_000_000),
            binary_stripped: Some(400_000),
            dep_v0: None,
            binary_packed: None,
            binary_final: 400_000,
            layer_compressed: 200_000,
            layer_uncompressed: 401_000,
            image_pull: 201_000,
            tarball: 210_000,
        },
        layers: Vec::new(),
        crates: vec![
            NamedSize {
                name: "std".into(),
                bytes: 300_000,
            },
            NamedSize {
                name: "hello".into(),
                bytes: 1_000,
            },
        ],
        sections: vec![NamedSize {
            name: ".text".into(),
            bytes: 350_000,
        }],
        upx: None,
        budget: VerdictJson {
            passed: true,
            checks: vec![],
        },
        baseline: None,
        preset: None,
        linkage: None,
        pie_baseline: None,
        sbom: Vec::new(),
        attached: Vec::new(),
        allocator: None,
        ca_certificates: None,
        zoneinfo: None,
        binaries: Vec::new(),
    }
}

#[test]
fn human_units() {
    for (n, want) in [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * 1024 * 1024, "5.0 MiB"),
        (3 * 1024 * 1024 * 1024, "3.0 GiB"),
    ] {
        assert_eq!(human(n), want);
    }
}

#[test]
fn grouping() {
    for (n, want) in [
        (0, "0"),
        (999, "999"),
        (1000, "1,000"),
        (1234567, "1,234,567"),
    ] {
        assert_eq!(grouped(n), want);
    }
}

#[test]
fn table_is_aligned_and_complete() {
    let t = table(&sample());
    let size_block: Vec<&str> = t.lines().skip(1).take(5).collect();
    let ends: Vec<usize> = size_block
        .iter()
        .map(|l| l.find(" bytes").unwrap())
        .collect();
    assert!(ends.windows(2).all(|w| w[0] == w[1]), "{t}");
    assert!(t.contains("4,000,000 bytes"));
    assert!(t.contains("std"));
    assert!(t.contains(".text"));
    assert!(!t.contains("upx"), "no packed row when not packed");
}

#[test]
fn deltas() {
    let d = Delta::new("x", 1000, 1100);
    assert_eq!((d.bytes, d.percent), (100, Some(10.0)));
    assert_eq!(d.human(), "+100 B (+10.00%)");
    let d = Delta::new("x", 2048, 1024);
    assert_eq!(d.human(), "-1.0 KiB (-50.00%)");
    assert_eq!(Delta::new("x", 0, 5).percent, None);

    let before = sample();
    let mut after = sample();
    after.sizes.image_pull = 221_100;
    after.crates[0].bytes = 330_000;
    after.crates.push(NamedSize {
        name: "regex".into(),
        bytes: 50,
    });
    let diff = diff(&before, Path::new("base.json"), &after);
    let pull = diff.stages.iter().find(|d| d.name == "image_pull").unwrap();
    assert_eq!(
        (pull.before, pull.after, pull.bytes),
        (201_000, 221_100, 20_100)
    );
    assert_eq!(pull.percent, Some(10.0));
    let names: Vec<&str> = diff.crates.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["std", "regex"],
        "unchanged crates are left out, largest change first"
    );
}

#[test]
fn sidecar_names() {
    assert_eq!(
        sidecar_path(Path::new("/a/hello-0.1.0.tar")),
        Path::new("/a/hello-0.1.0.report.json")
    );
    assert_eq!(sidecar_path(Path::new("img")), Path::new("img.report.json"));
}

#[test]
fn report_roundtrips_through_json() {
    let r = sample();
    let text = serde_json::to_string(&r).unwrap();
    let back: BuildReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
}

#[test]
fn layers_are_listed_when_there_are_several() {
    let mut r = sample();
    let layer = |holds: &str, compressed| LayerReport {
        holds: holds.into(),
        digest: "sha256:0123456789abcdef".into(),
        compressed,
        uncompressed: compressed * 2,
    };
    assert!(!table(&r).contains("layers"));
    r.layers = vec![
        layer("system files: /tmp", 100),
        layer("static binary /hello", 2048),
    ];
    let t = table(&r);
    assert!(t.contains("layers (gzip, tar)"), "{t}");
    assert!(
        t.contains("1. system files: /tmp      100 B    200 B  0123456789ab"),
        "{t}"
    );
    assert!(
        t.contains("2. static binary /hello  2.0 KiB  4.0 KiB"),
        "{t}"
    );
    let md = markdown::render(&r);
    assert!(
        md.contains("| static binary /hello | 2.0 KiB | 4.0 KiB |"),
        "{md}"
    );
}

#[test]
fn the_static_pie_baseline_says_what_was_saved_or_added() {
    let mut r = sample();
    r.linkage = Some("static".into());
    assert!(!table(&r).contains("static-pie build"));
    r.pie_baseline = Some(PieBaseline::new((451_192, 216_000), (434_304, 211_631)));
    let p = r.pie_baseline.as_ref().unwrap();
    assert_eq!((p.saved_stripped, p.saved_layer), (16_888, 4_369));
    let t = table(&r);
    assert!(t.contains("linkage: static, not PIE (no ASLR)"), "{t}");
    assert!(
        t.contains(
            "static-pie = false: 16.5 KiB (16,888 bytes) smaller stripped, 4.3 KiB (4,369 bytes) \
             smaller compressed than a static-pie build"
        ),
        "{t}"
    );
    // A non-PIE layer that compresses worse is reported as such, never as a saving.
    let grew = PieBaseline::new((1000, 500), (900, 520));
    assert_eq!(grew.saved_layer, -20);
    assert!(
        grew.human().contains("20 B (20 bytes) larger compressed"),
        "{}",
        grew.human()
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["pie_baseline"]["saved_layer"], 4_369);
    let back: BuildReport = serde_json::from_value(json).unwrap();
    assert_eq!(back.pie_baseline, r.pie_baseline);
}

#[test]
fn the_allocator_line_says_what_and_why() {
    let mut r = sample();
    r.allocator = Some(crate::report::AllocatorReport {
        name: "mimalloc".into(),
        why: "linked by cargo-slim; auto: tokio multi-thread runtime".into(),
        malloc: Some("mimalloc".into()),
        present: vec!["mimalloc".into()],
    });
    let text = table(&r);
    assert!(
        text.contains(
            "allocator: mimalloc (linked by cargo-slim; auto: tokio multi-thread runtime)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("5.0 MiB idle RSS against its 0.9 MiB"),
        "{text}"
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["allocator"]["name"], "mimalloc");
    assert_eq!(v["allocator"]["malloc"], "mimalloc");
    r.allocator.as_mut().unwrap().malloc = None;
    r.allocator.as_mut().unwrap().present.clear();
    assert!(table(&r).contains("[not read from the binary: no symbol table]"));
}

#[test]
fn the_ca_bundle_and_zoneinfo_name_their_source() {
    let mut r = sample();
    assert!(!table(&r).contains("CA certificates:"));
    assert!(!serde_json::to_string(&r).unwrap().contains("zoneinfo"));
    r.ca_certificates = Some(DataReport {
        source: "webpki-root-certs".into(),
        version: Some("1.0.12".into()),
        data: Some("Mozilla root store".into()),
        files: 1,
        bytes: 2048,
    });
    r.zoneinfo = Some(DataReport {
        source: "/srv/tz".into(),
        version: None,
        data: None,
        files: 3,
        bytes: 100,
    });
    let t = table(&r);
    assert!(
        t.contains(
            "CA certificates: Mozilla root store, webpki-root-certs 1.0.12 (1 file, 2.0 KiB)"
        ),
        "{t}"
    );
    assert!(t.contains("zoneinfo: your /srv/tz (3 files, 100 B)"), "{t}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["ca_certificates"]["version"], "1.0.12");
    assert_eq!(json["zoneinfo"]["version"], serde_json::Value::Null);
    let back: BuildReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}
