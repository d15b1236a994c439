//! Unit tests of the reader: archives built in memory, and what it lists.

use std::io::Cursor;

use serde_json::{json, Value};

use super::documents::*;
use super::media::*;
use super::*;
use crate::digest::{sha256_digest, sha256_hex};

#[test]
fn paths_normalise() {
    for (input, want) in [
        ("./a/b", "a/b"),
        ("/a//b/", "a/b"),
        ("a/./b/../c", "a/c"),
        ("../../etc/passwd", "etc/passwd"),
        (".", ""),
    ] {
        assert_eq!(normalize(input), want, "{input}");
    }
    assert_eq!(link_target("x/layer.tar", "../abc.tar"), "abc.tar");
    assert_eq!(link_target("x/y", "/z"), "z");
    assert_eq!(link_target("top", "other"), "other");
}

#[test]
fn blob_paths_cannot_escape() {
    assert_eq!(blob_path("sha256:ab12", "i").unwrap(), "blobs/sha256/ab12");
    for bad in [
        "sha256:../x",
        "sha256:a/b",
        "sha256:",
        ":ab",
        "nocolon",
        "sha256:..",
        "",
    ] {
        assert!(blob_path(bad, "i").is_err(), "{bad}");
    }
}

#[test]
fn tar_sniffing() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_old();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "v7", &b"hi"[..]).unwrap();
    let v7 = b.into_inner().unwrap();
    assert!(looks_like_tar(&v7), "a v7 header with a valid checksum");
    let mut broken = v7.clone();
    broken[0] ^= 1;
    assert!(!looks_like_tar(&broken));
    assert!(!looks_like_tar(&[0u8; 1024]));
    assert!(!looks_like_tar(b"short"));
}

/// An archive under construction: named entries, blobs by digest.
#[derive(Default)]
struct Builder {
    entries: Vec<(String, Vec<u8>)>,
}

impl Builder {
    fn blob(&mut self, data: &[u8]) -> Value {
        self.entries
            .push((format!("blobs/sha256/{}", sha256_hex(data)), data.to_vec()));
        json!({"digest": sha256_digest(data), "size": data.len()})
    }
    fn json(&mut self, v: &Value, media_type: &str) -> Value {
        let mut d = self.blob(&serde_json::to_vec(v).unwrap());
        d["mediaType"] = json!(media_type);
        d
    }
    /// An image manifest (config + one empty layer) for `arch`.
    fn image(&mut self, arch: &str) -> Value {
        let layer = {
            let mut b = tar::Builder::new(Vec::new());
            b.finish().unwrap();
            b.into_inner().unwrap()
        };
        let mut l = self.blob(&layer);
        l["mediaType"] = json!(MEDIA_TYPE_LAYER_TAR);
        let config = json!({"architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&layer)]}});
        let c = self.json(&config, MEDIA_TYPE_CONFIG);
        let m = json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST, "config": c, "layers": [l]});
        let mut d = self.json(&m, MEDIA_TYPE_MANIFEST);
        d["platform"] = json!({"architecture": arch, "os": "linux"});
        d
    }
    /// An SBOM attached to `subject`.
    fn sbom(&mut self, subject: &Value) -> Value {
        let empty = self.json(&json!({}), MEDIA_TYPE_EMPTY);
        let doc = self.blob(br#"{"spdxVersion":"SPDX-2.3"}"#);
        let m = json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
            "artifactType": "application/spdx+json", "config": empty,
            "layers": [doc], "subject": subject});
        let mut d = self.json(&m, MEDIA_TYPE_MANIFEST);
        d["artifactType"] = json!("application/spdx+json");
        d
    }
    fn tar(&self, index: &Value) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let index = serde_json::to_vec(index).unwrap();
        let all = std::iter::once(("index.json".to_string(), index)).chain(self.entries.clone());
        for (name, data) in all {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data.as_slice()).unwrap();
        }
        b.into_inner().unwrap()
    }
}

fn index_of(manifests: Vec<Value>) -> Value {
    json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": manifests})
}

fn open(bytes: &[u8]) -> Archive<Cursor<&[u8]>> {
    Archive::open(Cursor::new(bytes), Strictness::Lenient).unwrap()
}

#[test]
fn lists_one_image_per_platform_and_artifacts_apart() {
    let mut b = Builder::default();
    let amd = b.image("amd64");
    let arm = b.image("arm64");
    let sbom = b.sbom(&amd);
    let tar = b.tar(&index_of(vec![amd.clone(), arm, sbom]));
    let mut ar = open(&tar);
    let listing = ar.list().unwrap();
    let platforms: Vec<String> = listing.images.iter().map(|i| i.platform()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(listing.artifacts.len(), 1);
    let a = &listing.artifacts[0];
    assert_eq!(a.artifact_type.as_deref(), Some("application/spdx+json"));
    assert_eq!(a.subject.as_ref().unwrap().digest, amd["digest"]);

    // Several images: verify wants --arch; with it, the SBOM is never chosen.
    let err = ar.image(None).unwrap_err();
    assert!(err.what.contains("holds 2 images"), "{}", err.what);
    let img = ar.image(Some("arm64")).unwrap();
    assert_eq!(img.architecture(), Some("arm64"));
    assert_eq!(img.layers.len(), 1);
    assert!(img.layers[0].diff_id.is_some());
    let config = Config::from_value(&img.config);
    assert_eq!(config.platform.to_string(), "linux/arm64");
    assert_eq!(config.rootfs_type.as_deref(), Some("layers"));
    assert_eq!(config.diff_ids.map(|d| d.len()), Some(1));
}

#[test]
fn an_artifact_alone_is_not_an_image() {
    for kind in ["artifactType", "subject", "config"] {
        let mut b = Builder::default();
        let empty = b.json(&json!({}), MEDIA_TYPE_EMPTY);
        let mut m = json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
            "config": {"mediaType": MEDIA_TYPE_CONFIG, "digest": empty["digest"], "size": 2},
            "layers": []});
        match kind {
            "artifactType" => m["artifactType"] = json!("application/vnd.example"),
            "subject" => {
                m["subject"] = json!({"mediaType": MEDIA_TYPE_MANIFEST,
                "digest": sha256_digest(b"x"), "size": 1})
            }
            _ => m["config"]["mediaType"] = json!("application/vnd.cncf.helm.config.v1+json"),
        }
        let d = b.json(&m, MEDIA_TYPE_MANIFEST);
        let tar = b.tar(&index_of(vec![d]));
        let mut ar = open(&tar);
        let listing = ar.list().unwrap();
        assert!(listing.images.is_empty(), "{kind}");
        assert_eq!(listing.artifacts.len(), 1, "{kind}");
        assert!(ar.image(None).is_err(), "{kind}");
    }
}

#[test]
fn nested_indexes_are_followed_and_attestations_skipped() {
    let mut b = Builder::default();
    let amd = b.image("amd64");
    let mut att = b.image("unknown");
    att["platform"] = json!({"architecture": "unknown", "os": "unknown"});
    att["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest"});
    let inner = b.json(&index_of(vec![amd, att]), MEDIA_TYPE_INDEX);
    let mut inner = inner;
    inner["annotations"] = json!({ANNOTATION_REF_NAME: "localhost/x:1"});
    let middle = b.json(&index_of(vec![inner]), MEDIA_TYPE_INDEX);
    let tar = b.tar(&index_of(vec![middle]));
    let mut ar = open(&tar);
    let listing = ar.list().unwrap();
    assert_eq!(listing.images.len(), 1);
    assert_eq!(listing.artifacts.len(), 1);
    assert_eq!(
        listing.images[0].reference.as_deref(),
        Some("localhost/x:1")
    );
    assert_eq!(ar.image(None).unwrap().architecture(), Some("amd64"));
}

#[test]
fn an_index_that_refers_back_to_itself_is_an_error() {
    // A blob named by a digest it does not have: the lenient reader does not
    // hash documents, so it must notice the cycle itself.
    let name = format!("blobs/sha256/{}", "a".repeat(64));
    let digest = format!("sha256:{}", "a".repeat(64));
    let looping = index_of(vec![
        json!({"mediaType": MEDIA_TYPE_INDEX, "digest": digest, "size": 1}),
    ]);
    let mut b = Builder::default();
    b.entries
        .push((name.clone(), serde_json::to_vec(&looping).unwrap()));
    let tar = b.tar(&looping);
    let err = open(&tar).list().unwrap_err();
    assert!(err.what.contains("cycle"), "{}", err.what);
    assert!(err.what.contains(&name), "{}", err.what);
}

#[test]
fn indexes_nest_at_most_max_depth() {
    let mut b = Builder::default();
    let mut d = b.image("amd64");
    for _ in 0..=MAX_INDEX_DEPTH {
        d = b.json(&index_of(vec![d]), MEDIA_TYPE_INDEX);
    }
    let tar = b.tar(&index_of(vec![d]));
    let err = open(&tar).list().unwrap_err();
    assert!(err.what.contains("nest deeper"), "{}", err.what);
}

/// A tar whose entry `name` claims `size` bytes, with `size` written by `set`.
fn forged(name: &str, set: impl Fn(&mut tar::Header)) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_mode(0o644);
    set(&mut h);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(&[b'{'; 512]);
    out.extend_from_slice(&[0; 1024]);
    out
}

#[test]
fn sizes_past_the_end_of_the_file_are_errors_naming_the_entry() {
    let base256 = |h: &mut tar::Header| {
        // 2^36 in the base-256 form (first byte 0x80).
        let field = &mut h.as_old_mut().size;
        field.fill(0);
        field[0] = 0x80;
        field[7] = 0x10;
    };
    let octal = |h: &mut tar::Header| h.set_size(8 << 30);
    for (what, tar) in [
        ("base-256", forged("index.json", base256)),
        ("octal", forged("index.json", octal)),
    ] {
        for mode in [Strictness::Strict, Strictness::Lenient] {
            let err = match Archive::open(Cursor::new(&tar[..]), mode) {
                Ok(_) => panic!("{what}: accepted"),
                Err(e) => e,
            };
            assert!(err.what.contains("`index.json`"), "{what}: {}", err.what);
            assert!(err.what.contains("claims"), "{what}: {}", err.what);
        }
    }
}

#[test]
fn json_documents_are_read_with_a_limit() {
    let mut b = tar::Builder::new(Vec::new());
    let big = vec![b' '; (MAX_JSON + 1) as usize];
    let mut h = tar::Header::new_ustar();
    h.set_size(big.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "index.json", big.as_slice()).unwrap();
    let tar = b.into_inner().unwrap();
    let err = open(&tar).read_json("index.json").unwrap_err();
    assert!(err.what.contains("too large"), "{}", err.what);
}

#[test]
fn strict_keeps_names_as_stored_and_lenient_normalises() {
    let mut b = tar::Builder::new(Vec::new());
    for name in ["./index.json", "./blobs/sha256/ab"] {
        // Raw name bytes: the tar crate's setters would drop the `./`.
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b"{}"[..]).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let strict = Archive::open(Cursor::new(&tar[..]), Strictness::Strict).unwrap();
    let names: Vec<&str> = strict
        .index()
        .entries()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["./index.json", "./blobs/sha256/ab"]);
    let lenient = open(&tar);
    assert!(lenient.has("index.json") && lenient.has("blobs/sha256/ab"));
    let r = lenient.locate("blobs/sha256/ab").unwrap();
    assert_eq!(&tar[r.offset as usize..(r.offset + r.size) as usize], b"{}");
}

#[test]
fn every_sbom_format_round_trips_through_its_media_type_and_name() {
    for f in SbomFormat::ALL {
        assert_eq!(SbomFormat::from_media_type(f.media_type()), Some(f));
        assert_eq!(SbomFormat::parse(f.name()), Some(f));
    }
    assert_eq!(SbomFormat::parse("cdx"), Some(SbomFormat::CycloneDx));
    assert_eq!(SbomFormat::from_media_type("application/json"), None);
}

#[test]
fn entries_that_would_land_outside_are_named() {
    use tar::EntryType::{Link, Regular, Symlink};
    for (name, kind, target, escapes) in [
        ("blobs/sha256/ab", Regular, None, false),
        ("./a/../b", Regular, None, false),
        ("../x", Regular, None, true),
        ("a/../../x", Regular, None, true),
        ("/abs", Regular, None, true),
        ("layer0/layer.tar", Symlink, Some("../ab.tar"), false),
        ("layer0/layer.tar", Symlink, Some("../../ab.tar"), true),
        ("top", Symlink, Some("../x"), true),
        ("etc", Symlink, Some("/etc"), true),
        ("copy", Link, Some("blobs/sha256/ab"), false),
        ("a/copy", Link, Some("../x"), true),
        ("copy", Link, Some("/etc/passwd"), true),
        // A link target on a regular file is not followed.
        ("file", Regular, Some("/etc/passwd"), false),
    ] {
        let why = tar_index::escape(name, kind, target);
        assert_eq!(why.is_some(), escapes, "{name} -> {target:?}: {why:?}");
    }
}

/// `bytes` written to a file, for the readers that take a path.
fn on_disk(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut f, bytes).unwrap();
    f
}

#[test]
fn platform_images_listed_directly_are_peeked_as_a_new_canonical_index() {
    let mut b = Builder::default();
    let amd = b.image("amd64");
    let arm = b.image("arm64");
    let sbom = b.sbom(&amd);
    let file = on_disk(&b.tar(&index_of(vec![amd.clone(), arm.clone(), sbom.clone()])));
    let p = peek(file.path()).unwrap();
    assert_eq!(p.format, Format::Oci);
    let top: Value = serde_json::from_slice(&p.top.bytes).unwrap();
    assert_eq!(p.top.bytes, canonical::canonical_json(&top));
    assert_eq!(p.top.digest, sha256_digest(&p.top.bytes));
    assert_eq!(p.top.media_type, MEDIA_TYPE_INDEX);
    assert_eq!(top["manifests"][1]["platform"]["architecture"], "arm64");
    let children: Vec<&str> = p.images().iter().map(|d| d.digest.as_str()).collect();
    assert_eq!(
        children,
        [amd["digest"].as_str(), arm["digest"].as_str()].map(Option::unwrap)
    );
    assert_eq!(p.attached.len(), 1);
    assert_eq!(p.attached[0].subject, amd["digest"]);
    assert!(p.artifacts.is_empty());
    // Both images hold the same empty layer: listed once.
    let mut digests: Vec<&str> = p.blobs.iter().map(|b| b.digest.as_str()).collect();
    let all = digests.len();
    digests.sort();
    digests.dedup();
    assert_eq!(digests.len(), all);
    assert_eq!(check(file.path()).unwrap(), p.top.digest);
}

#[test]
fn a_docker_archive_is_peeked_as_the_oci_manifest_of_its_files() {
    let layer = {
        let mut b = tar::Builder::new(Vec::new());
        b.finish().unwrap();
        b.into_inner().unwrap()
    };
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&layer)]}}))
    .unwrap();
    let manifest = serde_json::to_vec(&json!([{"Config": "c.json",
        "RepoTags": ["example/app:1"], "Layers": ["l/layer.tar"]}]))
    .unwrap();
    let mut t = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("manifest.json", &manifest),
        ("c.json", &config),
        ("l/layer.tar", &layer),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    let file = on_disk(&t.into_inner().unwrap());
    let p = peek(file.path()).unwrap();
    assert_eq!(p.format, Format::Docker);
    assert_eq!(p.name.as_deref(), Some("example/app:1"));
    let m: Value = serde_json::from_slice(&p.top.bytes).unwrap();
    assert_eq!(p.top.bytes, canonical::canonical_json(&m));
    assert_eq!(p.top.media_type, MEDIA_TYPE_MANIFEST);
    assert_eq!(m["config"]["digest"], sha256_digest(&config));
    // Stored uncompressed: the layer is pushed as it is, its digest the diff_id.
    assert_eq!(m["layers"][0]["mediaType"], MEDIA_TYPE_LAYER_TAR);
    assert_eq!(m["layers"][0]["digest"], sha256_digest(&layer));
    assert_eq!(p.blobs.len(), 2);
    assert_eq!(check(file.path()).unwrap(), p.top.digest);
}

/// A gzip layer: a tar of an incompressible file (stored deflate blocks) and a
/// compressible one; and its tar stream.
fn gzip_layer() -> (Vec<u8>, Vec<u8>) {
    let mut rng = crate::testing::XorShift(11);
    let noise: Vec<u8> = (0..300_000).map(|_| rng.next() as u8).collect();
    let text = b"layer ".repeat(20_000);
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [("bin/app", &noise[..]), ("etc/text", &text[..])] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    let plain = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    (gz.finish().unwrap(), plain)
}

/// Read an entry to its end, as a visitor that looks at the bytes does.
fn drain(r: &mut dyn std::io::Read) -> Result<u64, Failure> {
    std::io::copy(r, &mut std::io::sink())
        .map_err(|e| Failure::new("cannot read the entry").detail(e.to_string()))
}

/// Read `blob` as the layer `layer` both ways: the blob hashed inline, and on
/// a second thread.
fn both_walks(
    blob: &[u8],
    layer: &LayerRef,
) -> (Result<LayerSizes, Failure>, Result<LayerSizes, Failure>) {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(blob.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, &layer.name, blob).unwrap();
    let tar = b.into_inner().unwrap();
    let mut seen = Vec::new();
    let inline = open(&tar).walk_layer_sized(layer, |e, r| {
        seen.push((e.path.clone(), drain(r)?));
        Ok(())
    });
    let mut seen_parallel = Vec::new();
    let parallel = open(&tar).walk_layer_parallel(
        layer,
        || Ok(sha256_digest(blob)),
        |e, r| {
            seen_parallel.push((e.path.clone(), drain(r)?));
            Ok(())
        },
    );
    assert_eq!(seen, seen_parallel);
    (inline, parallel)
}

#[test]
fn a_layer_hashed_on_two_threads_gets_the_same_verdict_as_on_one() {
    let (gz, plain) = gzip_layer();
    let good = LayerRef {
        name: "blobs/sha256/layer".into(),
        digest: Some(sha256_digest(&gz)),
        diff_id: Some(sha256_digest(&plain)),
    };
    let flip = |at: usize| {
        let mut b = gz.clone();
        b[at] ^= 0x10;
        b
    };
    let n = gz.len();
    let mut garbage = gz.clone();
    garbage.extend_from_slice(b"trailing");
    let other = LayerRef {
        digest: Some(sha256_digest(b"other")),
        ..good.clone()
    };
    let other_diff = LayerRef {
        diff_id: Some(sha256_digest(b"other")),
        ..good.clone()
    };
    let unchecked = LayerRef {
        digest: None,
        diff_id: None,
        ..good.clone()
    };
    let cases: Vec<(&str, Vec<u8>, &LayerRef, bool)> = vec![
        ("intact", gz.clone(), &good, true),
        ("a byte of a stored block", flip(n / 3), &good, false),
        ("the gzip CRC", flip(n - 6), &good, false),
        ("the gzip ISIZE", flip(n - 2), &good, false),
        ("the gzip header", flip(1), &good, false),
        ("cut in the trailer", gz[..n - 3].to_vec(), &good, false),
        ("cut in half", gz[..n / 2].to_vec(), &good, false),
        ("trailing bytes", garbage, &good, false),
        ("another digest", gz.clone(), &other, false),
        ("another diff_id", gz.clone(), &other_diff, false),
        ("no digests to check", flip(n / 3), &unchecked, false),
        ("uncompressed", plain.clone(), &unchecked, true),
    ];
    for (what, blob, layer, ok) in cases {
        let (inline, parallel) = both_walks(&blob, layer);
        assert_eq!(inline, parallel, "{what}");
        assert_eq!(inline.is_ok(), ok, "{what}: {inline:?}");
    }
    let (sizes, _) = both_walks(&gz, &good);
    assert_eq!(
        sizes.unwrap(),
        LayerSizes {
            blob: gz.len() as u64,
            uncompressed: plain.len() as u64
        }
    );
}

#[test]
fn check_refuses_a_corrupt_layer_with_the_walks_words() {
    let (gz, plain) = gzip_layer();
    let mut b = Builder::default();
    let mut l = b.blob(&gz);
    l["mediaType"] = json!(MEDIA_TYPE_LAYER_GZIP);
    let config = json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&plain)]}});
    let c = b.json(&config, MEDIA_TYPE_CONFIG);
    let m =
        json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST, "config": c, "layers": [l]});
    let d = b.json(&m, MEDIA_TYPE_MANIFEST);
    let tar = b.tar(&index_of(vec![d.clone()]));
    let file = on_disk(&tar);
    assert_eq!(check(file.path()).unwrap(), d["digest"]);
    // A byte of the layer flipped in place: the same error as one walk.
    let at = tar.windows(gz.len()).position(|w| w == gz).unwrap() + gz.len() / 2;
    let mut bad = tar.clone();
    bad[at] ^= 0x10;
    let file = on_disk(&bad);
    let err = check(file.path()).unwrap_err();
    let layer = LayerRef {
        name: format!("blobs/sha256/{}", sha256_hex(&gz)),
        digest: Some(sha256_digest(&gz)),
        diff_id: Some(sha256_digest(&plain)),
    };
    let walked = open(&bad).walk_layer(&layer, |_, _| Ok(())).unwrap_err();
    assert_eq!(err, walked);
    assert!(err.what.contains("corrupt"), "{err:?}");
}
