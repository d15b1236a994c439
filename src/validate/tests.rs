//! Tests for the tarball invariant checker: a valid image built in memory, then one
//! corruption per invariant, each of which must be named in the error.

use super::*;
use serde_json::{json, Value};
use std::io::Write;

/// One tar entry, written with raw header fields so tests can produce
/// archives the `tar` crate's path checks would refuse.
#[derive(Clone)]
struct E {
    path: String,
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    uname: String,
    mtime: u64,
    data: Vec<u8>,
    gnu: bool,
}

fn file(path: &str, mode: u32, data: &[u8]) -> E {
    E {
        path: path.into(),
        kind: b'0',
        mode,
        uid: 0,
        gid: 0,
        uname: String::new(),
        mtime: 0,
        data: data.to_vec(),
        gnu: false,
    }
}

fn dir(path: &str) -> E {
    E {
        kind: b'5',
        ..file(path, 0o755, b"")
    }
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = if e.gnu {
            tar::Header::new_gnu()
        } else {
            tar::Header::new_ustar()
        };
        let name = &mut h.as_old_mut().name;
        name.fill(0);
        name[..e.path.len()].copy_from_slice(e.path.as_bytes());
        h.set_entry_type(tar::EntryType::new(e.kind));
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        h.set_username(&e.uname).unwrap();
        h.set_cksum();
        builder.append(&h, e.data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8], mtime: u32) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(mtime)
        .write(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

fn blob(data: &[u8]) -> String {
    format!("{BLOB_PREFIX}{}", sha256_hex(data))
}

const REF: &str = "localhost/hello:0.1.0";

/// A valid image, with hooks to break it in exactly one way.
struct Fixture {
    mtime: u64,
    layers: Vec<Vec<E>>,
    gzip_mtime: u32,
    /// Bytes appended after layer 0's gzip stream.
    gzip_trailer: Vec<u8>,
    /// Store layer 0 uncompressed.
    raw_layer0: bool,
    /// Bytes appended to layer 0's tar (inside the gzip stream).
    tar_trailer: Vec<u8>,
    config: fn(&mut Value),
    manifest: fn(&mut Value),
    index: fn(&mut Value),
    docker: fn(&mut Value),
    /// Rewrite the serialised bytes of "config", "manifest" or "index".
    bytes: fn(&str, &mut Vec<u8>),
    /// Rewrite the outer entries (0 oci-layout, 1 index.json,
    /// 2 manifest.json, 3 config, 4 layer 0, 5 layer 1, 6 manifest).
    outer: fn(&mut Vec<E>),
    /// Bytes appended after the outer tar.
    outer_trailer: Vec<u8>,
}

struct Built {
    tar: Vec<u8>,
    config: String,
    layers: Vec<String>,
    manifest: String,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture {
            mtime: 0,
            layers: vec![
                vec![file("hello", 0o555, b"\x7fELF pretend binary")],
                vec![
                    dir("etc/"),
                    file("etc/passwd", 0o644, b"nonroot:x:65532:65532::/:\n"),
                ],
            ],
            gzip_mtime: 0,
            gzip_trailer: Vec::new(),
            raw_layer0: false,
            tar_trailer: Vec::new(),
            config: |_| {},
            manifest: |_| {},
            index: |_| {},
            docker: |_| {},
            bytes: |_, _| {},
            outer: |_| {},
            outer_trailer: Vec::new(),
        }
    }
}

impl Fixture {
    fn build(&self) -> Built {
        let mut layer_blobs = Vec::new();
        let mut diff_ids = Vec::new();
        for (i, entries) in self.layers.iter().enumerate() {
            let entries: Vec<E> = entries
                .iter()
                .map(|e| E {
                    mtime: if e.mtime == 0 { self.mtime } else { e.mtime },
                    ..e.clone()
                })
                .collect();
            let mut tar = tar_of(&entries);
            if i == 0 {
                tar.extend_from_slice(&self.tar_trailer);
            }
            diff_ids.push(digest(&tar));
            let mut gz = if i == 0 && self.raw_layer0 {
                tar
            } else {
                gzip(&tar, self.gzip_mtime)
            };
            if i == 0 {
                gz.extend_from_slice(&self.gzip_trailer);
            }
            layer_blobs.push(gz);
        }

        let mut config = json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/hello"], "User": "65532:65532"},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        (self.config)(&mut config);
        let mut config_bytes = canonical_json(&config);
        (self.bytes)("config", &mut config_bytes);

        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": {
                "mediaType": MEDIA_TYPE_CONFIG,
                "digest": digest(&config_bytes),
                "size": config_bytes.len(),
            },
            "layers": layer_blobs.iter().map(|b| json!({
                "mediaType": MEDIA_TYPE_LAYER_GZIP,
                "digest": digest(b),
                "size": b.len(),
            })).collect::<Vec<_>>(),
        });
        (self.manifest)(&mut manifest);
        let mut manifest_bytes = canonical_json(&manifest);
        (self.bytes)("manifest", &mut manifest_bytes);

        let mut index = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [{
                "mediaType": MEDIA_TYPE_MANIFEST,
                "digest": digest(&manifest_bytes),
                "size": manifest_bytes.len(),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    ANNOTATION_CONTAINERD_NAME: REF,
                    ANNOTATION_REF_NAME: REF,
                },
            }],
        });
        (self.index)(&mut index);
        let mut index_bytes = canonical_json(&index);
        (self.bytes)("index", &mut index_bytes);

        let mut docker = json!([{
            "Config": blob(&config_bytes),
            "RepoTags": [REF],
            "Layers": layer_blobs.iter().map(|b| blob(b)).collect::<Vec<_>>(),
        }]);
        (self.docker)(&mut docker);
        let docker_bytes = serde_json::to_vec(&docker).unwrap();

        let outer_file = |name: &str, data: &[u8]| E {
            mtime: self.mtime,
            ..file(name, 0o644, data)
        };
        let mut outer = vec![
            outer_file("oci-layout", OCI_LAYOUT),
            outer_file("index.json", &index_bytes),
            outer_file("manifest.json", &docker_bytes),
            outer_file(&blob(&config_bytes), &config_bytes),
        ];
        for b in &layer_blobs {
            outer.push(outer_file(&blob(b), b));
        }
        outer.push(outer_file(&blob(&manifest_bytes), &manifest_bytes));
        (self.outer)(&mut outer);
        let mut tar = tar_of(&outer);
        tar.extend_from_slice(&self.outer_trailer);

        Built {
            tar,
            config: blob(&config_bytes),
            layers: layer_blobs.iter().map(|b| blob(b)).collect(),
            manifest: blob(&manifest_bytes),
        }
    }
}

/// Build `fx`, require validation to fail, and require the error's plain
/// `Display` to contain every needle (`{config}`, `{layer0}`, `{layer1}`
/// and `{manifest}` are replaced by the blob names).
fn expect_err(fx: Fixture, needles: &[&str]) -> String {
    let built = fx.build();
    let err = match validate_reader(built.tar.as_slice()) {
        Ok(_) => panic!("expected a validation error mentioning {needles:?}"),
        Err(e) => e.to_string(),
    };
    for needle in needles {
        let needle = needle
            .replace("{config}", &built.config)
            .replace("{layer0}", &built.layers[0])
            .replace("{layer1}", &built.layers[1])
            .replace("{manifest}", &built.manifest);
        assert!(
            err.contains(&needle),
            "error {err:?} does not mention {needle:?}"
        );
    }
    err
}

fn with_layers(layers: Vec<Vec<E>>) -> Fixture {
    Fixture {
        layers,
        ..Fixture::default()
    }
}

#[test]
fn valid_image_validates() {
    let built = Fixture::default().build();
    let img = validate_reader(built.tar.as_slice()).unwrap();
    assert_eq!(img.reference, REF);
    assert_eq!(img.architecture, "amd64");
    assert_eq!(img.os, "linux");
    assert_eq!(img.variant, None);
    assert_eq!(img.mtime, 0);
    assert_eq!(img.manifest_digest, digest(&img.manifest_bytes));
    assert_eq!(img.manifest_size, img.manifest_bytes.len() as u64);
    assert_eq!(img.config_digest, digest(&img.config_bytes));
    assert_eq!(img.config_size, img.config_bytes.len() as u64);
    assert_eq!(img.config["config"]["User"], "65532:65532");
    assert_eq!(img.layers.len(), 2);
    assert_eq!(
        img.layers[0].files,
        vec![LayerEntry {
            path: "hello".into(),
            kind: 'f',
            mode: 0o555,
            size: 19,
            uid: 0,
            gid: 0,
            mtime: 0,
        }]
    );
    let paths: Vec<(&str, char)> = img.layers[1]
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.kind))
        .collect();
    assert_eq!(paths, [("etc", 'd'), ("etc/passwd", 'f')]);
    for (i, layer) in img.layers.iter().enumerate() {
        assert_eq!(img.config["rootfs"]["diff_ids"][i], layer.diff_id.as_str());
        assert_eq!(
            format!("{BLOB_PREFIX}{}", &layer.digest[7..]),
            built.layers[i]
        );
    }
    assert_eq!(img.find("/hello").unwrap().mode, 0o555);
    assert_eq!(img.find("etc/").unwrap().kind, 'd');
    assert!(img.find("nope").is_none());
}

#[test]
fn source_date_epoch_mtime_is_reported() {
    let fx = Fixture {
        mtime: 1_700_000_000,
        ..Fixture::default()
    };
    let img = validate_reader(fx.build().tar.as_slice()).unwrap();
    assert_eq!(img.mtime, 1_700_000_000);
    assert!(img
        .layers
        .iter()
        .flat_map(|l| &l.files)
        .all(|f| f.mtime == 1_700_000_000));
}

#[test]
fn symlinks_and_variant_are_accepted() {
    let mut link = file("sh", 0o777, b"");
    link.kind = b'2';
    let fx = Fixture {
        layers: vec![vec![file("hello", 0o555, b"x"), link], vec![dir("etc")]],
        config: |c| c["variant"] = json!("v8"),
        index: |i| i["manifests"][0]["platform"]["variant"] = json!("v8"),
        ..Fixture::default()
    };
    let img = validate_reader(fx.build().tar.as_slice()).unwrap();
    assert_eq!(img.variant.as_deref(), Some("v8"));
    assert_eq!(img.layers[0].files[1].kind, 'l');
}

#[test]
fn validate_tarball_and_read_layer_file() {
    let dir = std::env::temp_dir().join(format!("cargo-slim-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("image.tar");
    std::fs::write(&path, Fixture::default().build().tar).unwrap();

    let img = validate_tarball(&path).unwrap();
    assert_eq!(img.reference, REF);
    assert_eq!(
        read_layer_file(&path, "hello").unwrap(),
        b"\x7fELF pretend binary"
    );
    assert_eq!(
        read_layer_file(&path, "/etc/passwd").unwrap(),
        b"nonroot:x:65532:65532::/:\n"
    );
    let err = read_layer_file(&path, "etc").unwrap_err().to_string();
    assert!(
        err.contains("`etc`") && err.contains("not a regular file"),
        "{err}"
    );
    let err = read_layer_file(&path, "bin/sh").unwrap_err().to_string();
    assert!(err.contains("`bin/sh` is not in any"), "{err}");
    let err = validate_tarball(&dir.join("missing.tar"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.tar"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn violation_can_be_downcast() {
    let fx = Fixture {
        bytes: |role, b| {
            if role == "index" {
                b.push(b'\n')
            }
        },
        ..Fixture::default()
    };
    let err = validate_reader(fx.build().tar.as_slice()).unwrap_err();
    let v = err.downcast_ref::<Violation>().unwrap();
    assert_eq!(v.entry, "index.json");
    assert!(v.detail.contains("not canonical"));
}

// 1. Outer entries, order and headers.

#[test]
fn wrong_order_of_fixed_entries() {
    let fx = Fixture {
        outer: |o| o.swap(0, 1),
        ..Fixture::default()
    };
    expect_err(fx, &["index.json", "#0 must be `oci-layout`"]);
}

#[test]
fn wrong_order_of_blobs() {
    let fx = Fixture {
        outer: |o| o.swap(3, 4),
        ..Fixture::default()
    };
    expect_err(
        fx,
        &["#3 must be the config `{config}`", "found `{layer0}`"],
    );
}

#[test]
fn layers_out_of_manifest_order() {
    let fx = Fixture {
        outer: |o| o.swap(4, 5),
        ..Fixture::default()
    };
    expect_err(
        fx,
        &["#4 must be the layer 0 `{layer0}`", "found `{layer1}`"],
    );
}

#[test]
fn missing_manifest_blob() {
    let fx = Fixture {
        outer: |o| {
            o.pop();
        },
        ..Fixture::default()
    };
    expect_err(fx, &["index.json", "{manifest}", "not in the tarball"]);
}

#[test]
fn missing_layer_blob() {
    let fx = Fixture {
        outer: |o| {
            o.remove(5);
        },
        ..Fixture::default()
    };
    expect_err(
        fx,
        &["#5 must be the layer 1 `{layer1}`", "found `{manifest}`"],
    );
}

#[test]
fn missing_fixed_entry() {
    let fx = Fixture {
        outer: |o| o.truncate(2),
        ..Fixture::default()
    };
    expect_err(fx, &["manifest.json: missing"]);
}

#[test]
fn unreferenced_blob() {
    let fx = Fixture {
        outer: |o| {
            let extra = b"stray".to_vec();
            let mut e = o[0].clone();
            e.path = blob(&extra);
            e.data = extra;
            o.push(e);
        },
        ..Fixture::default()
    };
    expect_err(fx, &[&blob(b"stray"), "unexpected outer tar entry"]);
}

#[test]
fn unknown_entry_name() {
    let fx = Fixture {
        outer: |o| {
            let mut e = o[0].clone();
            e.path = "repositories".into();
            o.insert(3, e);
        },
        ..Fixture::default()
    };
    expect_err(fx, &["repositories: unexpected outer tar entry"]);
}

#[test]
fn duplicate_outer_entry() {
    let fx = Fixture {
        outer: |o| {
            let e = o[3].clone();
            o.insert(4, e);
        },
        ..Fixture::default()
    };
    expect_err(fx, &["{config}", "duplicate outer tar entry"]);
}

#[test]
fn outer_uid_must_be_zero() {
    let fx = Fixture {
        outer: |o| o[1].uid = 1000,
        ..Fixture::default()
    };
    expect_err(fx, &["index.json", "uid is 1000, expected 0"]);
}

#[test]
fn outer_mode_must_be_0644() {
    let fx = Fixture {
        outer: |o| o[2].mode = 0o755,
        ..Fixture::default()
    };
    expect_err(fx, &["manifest.json", "mode is 0o755, expected 0o644"]);
}

#[test]
fn outer_uname_must_be_empty() {
    let fx = Fixture {
        outer: |o| o[0].uname = "root".into(),
        ..Fixture::default()
    };
    expect_err(fx, &["oci-layout", "uname is \"root\""]);
}

#[test]
fn outer_mtime_must_be_uniform() {
    let fx = Fixture {
        outer: |o| o[6].mtime = 42,
        ..Fixture::default()
    };
    expect_err(fx, &["{manifest}", "mtime is 42", "`oci-layout` has 0"]);
}

#[test]
fn outer_header_must_be_ustar() {
    let fx = Fixture {
        outer: |o| o[0].gnu = true,
        ..Fixture::default()
    };
    expect_err(fx, &["oci-layout", "not ustar"]);
}

#[test]
fn outer_entries_must_be_regular_files() {
    let fx = Fixture {
        outer: |o| o.insert(0, dir("blobs/")),
        ..Fixture::default()
    };
    expect_err(fx, &["blobs/", "unexpected outer tar entry"]);
    let fx = Fixture {
        outer: |o| o[0].kind = b'7',
        ..Fixture::default()
    };
    expect_err(fx, &["oci-layout", "entry type is '7'"]);
}

#[test]
fn garbage_after_outer_tar() {
    let fx = Fixture {
        outer_trailer: b"junk".to_vec(),
        ..Fixture::default()
    };
    expect_err(fx, &["outer tar", "after the end-of-archive marker"]);
}

// 2. oci-layout.

#[test]
fn oci_layout_content() {
    let fx = Fixture {
        outer: |o| o[0].data = br#"{"imageLayoutVersion":"1.0.1"}"#.to_vec(),
        ..Fixture::default()
    };
    expect_err(fx, &["oci-layout", "1.0.1", "expected"]);
}

// 3. Digests, sizes, docker manifest.json.

#[test]
fn bad_blob_digest() {
    let fx = Fixture {
        outer: |o| *o[4].data.last_mut().unwrap() ^= 0xff,
        ..Fixture::default()
    };
    expect_err(fx, &["{layer0}", "blob content has sha256:", "name says"]);
}

#[test]
fn wrong_layer_size_in_manifest() {
    let fx = Fixture {
        manifest: |m| {
            let size = m["layers"][1]["size"].as_u64().unwrap();
            m["layers"][1]["size"] = json!(size + 1);
        },
        ..Fixture::default()
    };
    expect_err(
        fx,
        &[
            "{manifest}",
            "OCI manifest layers[1] descriptor size is",
            "`{layer1}`",
        ],
    );
}

#[test]
fn wrong_config_size_in_manifest() {
    let fx = Fixture {
        manifest: |m| m["config"]["size"] = json!(1),
        ..Fixture::default()
    };
    expect_err(fx, &["config descriptor size is 1", "`{config}`"]);
}

#[test]
fn wrong_manifest_size_in_index() {
    let fx = Fixture {
        index: |i| i["manifests"][0]["size"] = json!(7),
        ..Fixture::default()
    };
    expect_err(
        fx,
        &[
            "index.json",
            "manifests[0] descriptor size is 7",
            "{manifest}",
        ],
    );
}

#[test]
fn malformed_digest() {
    let fx = Fixture {
        manifest: |m| m["config"]["digest"] = json!("sha512:abc"),
        ..Fixture::default()
    };
    expect_err(fx, &["{manifest}", "config digest `sha512:abc`"]);
}

#[test]
fn mismatched_repo_tags() {
    let fx = Fixture {
        docker: |d| d[0]["RepoTags"] = json!(["localhost/other:1.0"]),
        ..Fixture::default()
    };
    expect_err(
        fx,
        &["manifest.json", "RepoTags", "localhost/other:1.0", REF],
    );
}

#[test]
fn docker_config_path_mismatch() {
    let fx = Fixture {
        docker: |d| d[0]["Config"] = json!("blobs/sha256/0000"),
        ..Fixture::default()
    };
    expect_err(
        fx,
        &[
            "manifest.json",
            "Config is \"blobs/sha256/0000\"",
            "{config}",
        ],
    );
}

#[test]
fn docker_layers_mismatch() {
    let fx = Fixture {
        docker: |d| d[0]["Layers"].as_array_mut().unwrap().reverse(),
        ..Fixture::default()
    };
    expect_err(fx, &["manifest.json", "Layers are"]);
}

#[test]
fn index_annotations_must_agree() {
    let fx = Fixture {
        index: |i| {
            i["manifests"][0]["annotations"][ANNOTATION_REF_NAME] = json!("0.1.0");
        },
        ..Fixture::default()
    };
    expect_err(fx, &["index.json", ANNOTATION_REF_NAME, "\"0.1.0\""]);
    let fx = Fixture {
        index: |i| {
            i["manifests"][0]["annotations"]
                .as_object_mut()
                .unwrap()
                .remove(ANNOTATION_CONTAINERD_NAME);
        },
        ..Fixture::default()
    };
    expect_err(fx, &["index.json", ANNOTATION_CONTAINERD_NAME]);
}

#[test]
fn reference_needs_a_tag() {
    let fx = Fixture {
        index: |i| {
            let a = &mut i["manifests"][0]["annotations"];
            a[ANNOTATION_REF_NAME] = json!("localhost:5000/hello");
            a[ANNOTATION_CONTAINERD_NAME] = json!("localhost:5000/hello");
        },
        docker: |d| d[0]["RepoTags"] = json!(["localhost:5000/hello"]),
        ..Fixture::default()
    };
    expect_err(fx, &["index.json", "\"localhost:5000/hello\"", "name:tag"]);
}

#[test]
fn index_must_have_one_manifest() {
    let fx = Fixture {
        index: |i| {
            let m = i["manifests"][0].clone();
            i["manifests"].as_array_mut().unwrap().push(m);
        },
        ..Fixture::default()
    };
    expect_err(fx, &["index.json", "2 manifest descriptors"]);
}

// 4. Media types.

#[test]
fn wrong_media_types() {
    let fx = Fixture {
        manifest: |m| m["layers"][0]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar"),
        ..Fixture::default()
    };
    expect_err(fx, &["{manifest}", "layers[0].mediaType", "tar+gzip"]);
    let fx = Fixture {
        manifest: |m| m["config"]["mediaType"] = json!("application/json"),
        ..Fixture::default()
    };
    expect_err(fx, &["{manifest}", "config.mediaType", MEDIA_TYPE_CONFIG]);
    let fx = Fixture {
        manifest: |m| {
            m.as_object_mut().unwrap().remove("mediaType");
        },
        ..Fixture::default()
    };
    expect_err(fx, &["{manifest}", "OCI manifest mediaType is missing"]);
    let fx = Fixture {
        index: |i| i["mediaType"] = json!("application/json"),
        ..Fixture::default()
    };
    expect_err(fx, &["index.json", "mediaType", MEDIA_TYPE_INDEX]);
    let fx = Fixture {
        index: |i| i["manifests"][0]["mediaType"] = json!(MEDIA_TYPE_INDEX),
        ..Fixture::default()
    };
    expect_err(fx, &["index.json", "manifests[0].mediaType"]);
}

// 5. Config rootfs and platform.

#[test]
fn wrong_diff_id() {
    let fx = Fixture {
        config: |c| c["rootfs"]["diff_ids"][1] = json!(format!("sha256:{}", "0".repeat(64))),
        ..Fixture::default()
    };
    expect_err(
        fx,
        &["{config}", "rootfs.diff_ids[1]", "layer 1 `{layer1}`"],
    );
}

#[test]
fn diff_id_count() {
    let fx = Fixture {
        config: |c| {
            c["rootfs"]["diff_ids"].as_array_mut().unwrap().pop();
        },
        ..Fixture::default()
    };
    expect_err(fx, &["{config}", "1 rootfs.diff_ids", "2 layers"]);
}

#[test]
fn rootfs_type() {
    let fx = Fixture {
        config: |c| c["rootfs"]["type"] = json!("layer"),
        ..Fixture::default()
    };
    expect_err(fx, &["{config}", "rootfs.type is \"layer\""]);
}

#[test]
fn platform_mismatch() {
    let fx = Fixture {
        config: |c| c["architecture"] = json!("arm64"),
        ..Fixture::default()
    };
    expect_err(fx, &["{config}", "architecture is \"arm64\"", "\"amd64\""]);
    let fx = Fixture {
        index: |i| i["manifests"][0]["platform"]["variant"] = json!("v8"),
        ..Fixture::default()
    };
    expect_err(fx, &["{config}", "variant is missing", "v8"]);
}

// 6. Canonical JSON.

#[test]
fn non_canonical_config() {
    let fx = Fixture {
        bytes: |role, b| {
            if role == "config" {
                let v: Value = serde_json::from_slice(b).unwrap();
                *b = serde_json::to_vec_pretty(&v).unwrap();
            }
        },
        ..Fixture::default()
    };
    expect_err(
        fx,
        &["{config}", "image config is not canonical JSON", "byte 1"],
    );
}

#[test]
fn non_canonical_manifest_and_index() {
    let fx = Fixture {
        bytes: |role, b| {
            if role == "manifest" {
                b.push(b'\n');
            }
        },
        ..Fixture::default()
    };
    expect_err(fx, &["{manifest}", "OCI manifest is not canonical JSON"]);
    let fx = Fixture {
        // Unsorted keys: "schemaVersion" moved to the front.
        bytes: |role, b| {
            if role == "index" {
                let s = String::from_utf8(b.clone()).unwrap();
                let s = s.replace(",\"schemaVersion\":2", "");
                *b = format!("{{\"schemaVersion\":2,{}", &s[1..]).into_bytes();
            }
        },
        ..Fixture::default()
    };
    expect_err(fx, &["index.json", "not canonical JSON", "byte 2"]);
}

// 7. Layer tar contents.

#[test]
fn unsorted_layer() {
    let fx = with_layers(vec![
        vec![file("hello", 0o555, b"x"), file("bye", 0o555, b"y")],
        vec![dir("etc/")],
    ]);
    expect_err(fx, &["{layer0}", "not sorted", "`bye` comes after `hello`"]);
}

#[test]
fn sort_order_is_the_stored_path() {
    // As image::build_layer writes them: directories keep their `/`.
    let fx = with_layers(vec![
        vec![file("hello", 0o555, b"x")],
        vec![
            file("etc-release", 0o644, b""),
            dir("etc/"),
            file("etc/passwd", 0o644, b""),
        ],
    ]);
    validate_reader(fx.build().tar.as_slice()).unwrap();
    let fx = with_layers(vec![
        vec![file("hello", 0o555, b"x")],
        vec![dir("etc/"), file("etc-release", 0o644, b"")],
    ]);
    expect_err(fx, &["`etc-release` comes after `etc/`"]);
}

#[test]
fn missing_parent_dir() {
    let fx = with_layers(vec![
        vec![file("hello", 0o555, b"x")],
        vec![file("etc/passwd", 0o644, b"")],
    ]);
    expect_err(fx, &["{layer1}", "`etc/passwd`", "parent directory `etc/`"]);
}

#[test]
fn parent_must_be_a_directory() {
    let fx = with_layers(vec![
        vec![file("etc", 0o644, b""), file("etc/passwd", 0o644, b"")],
        vec![dir("x")],
    ]);
    expect_err(fx, &["{layer0}", "parent `etc` is not a directory"]);
}

#[test]
fn duplicate_layer_path() {
    let fx = with_layers(vec![vec![dir("etc"), dir("etc/")], vec![dir("x")]]);
    expect_err(fx, &["{layer0}", "`etc/`", "duplicate path"]);
    let fx = with_layers(vec![
        vec![file("hello", 0o555, b"x"), file("hello", 0o555, b"x")],
        vec![dir("x")],
    ]);
    expect_err(fx, &["{layer0}", "`hello`", "duplicate path"]);
}

#[test]
fn absolute_and_dotdot_paths() {
    let fx = with_layers(vec![vec![file("/hello", 0o555, b"")], vec![dir("x")]]);
    expect_err(fx, &["{layer0}", "`/hello`", "absolute path"]);
    let fx = with_layers(vec![
        vec![dir("a"), file("a/../b", 0o644, b"")],
        vec![dir("x")],
    ]);
    expect_err(fx, &["{layer0}", "`a/../b`", "\"..\""]);
    let fx = with_layers(vec![vec![file("./hello", 0o555, b"")], vec![dir("x")]]);
    expect_err(fx, &["{layer0}", "`./hello`", "\".\""]);
}

#[test]
fn an_owned_entry_keeps_its_numeric_ids() {
    // `files = [{ owner = "65532:65532" }]` writes numeric ids; names stay empty.
    let mut data = file("data/x", 0o644, b"x");
    data.uid = 65532;
    data.gid = 65532;
    let fx = with_layers(vec![
        vec![dir("data/"), data],
        vec![file("hello", 0o555, b"x")],
    ]);
    let img = validate_reader(fx.build().tar.as_slice()).unwrap();
    let x = img.find("data/x").expect("the owned file");
    assert_eq!((x.uid, x.gid), (65532, 65532));
}

#[test]
fn uname_in_layer() {
    let mut etc = dir("etc/");
    etc.uname = "builder".into();
    let fx = with_layers(vec![vec![file("hello", 0o555, b"x")], vec![etc]]);
    expect_err(fx, &["{layer1}", "`etc/`", "\"builder\""]);
}

#[test]
fn layer_mtime_must_match_outer() {
    let mut hello = file("hello", 0o555, b"x");
    hello.mtime = 1_234;
    let fx = with_layers(vec![vec![hello], vec![dir("etc")]]);
    expect_err(fx, &["{layer0}", "`hello`", "mtime is 1234, expected 0"]);
}

#[test]
fn special_files_are_rejected() {
    let mut fifo = file("fifo", 0o644, b"");
    fifo.kind = b'6';
    let fx = with_layers(vec![vec![fifo], vec![dir("etc")]]);
    expect_err(fx, &["{layer0}", "`fifo`", "special file (fifo)"]);
    let mut dev = dir("dev");
    dev.kind = b'3';
    let fx = with_layers(vec![vec![dev], vec![dir("etc")]]);
    expect_err(fx, &["`dev`", "character device"]);
    let mut link = file("hello2", 0o555, b"");
    link.kind = b'1';
    let fx = with_layers(vec![vec![link], vec![dir("etc")]]);
    expect_err(fx, &["`hello2`", "hard link"]);
}

#[test]
fn garbage_after_layer_tar() {
    let fx = Fixture {
        tar_trailer: b"junk".to_vec(),
        ..Fixture::default()
    };
    expect_err(
        fx,
        &[
            "{layer0}",
            "non-zero data",
            "after its end-of-archive marker",
        ],
    );
    // Zero padding after the end marker is fine.
    let fx = Fixture {
        tar_trailer: vec![0; 8192],
        ..Fixture::default()
    };
    validate_reader(fx.build().tar.as_slice()).unwrap();
}

#[test]
fn pax_overrides_and_long_names() {
    let long = format!("{}/f", "d".repeat(150));
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(7);
    h.set_size(0);
    builder
        .append_data(&mut h, "d".repeat(150), std::io::empty())
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(7);
    h.set_size(1);
    builder.append_data(&mut h, &long, &b"x"[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    let files = check_layer_tar("L", "layer 0", tar.as_slice(), 7).unwrap();
    assert_eq!(files[1].path, long);

    let with_pax = |key: &str, value: &[u8]| {
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_pax_extensions([(key, value)]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o555);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        builder
            .append_data(&mut h, "hello", std::io::empty())
            .unwrap();
        let tar = builder.into_inner().unwrap();
        check_layer_tar("L", "layer 0", tar.as_slice(), 0)
            .unwrap_err()
            .to_string()
    };
    assert!(with_pax("uid", b"10x").contains("PAX uid=\"10x\" is not a whole number"));
    assert!(with_pax("gname", b"staff").contains("\"staff\""));
    assert!(with_pax("mtime", b"5").contains("mtime is 5, expected 0"));
    assert!(with_pax("mtime", b"0.5").contains("PAX mtime=\"0.5\" is not a whole number"));
    assert!(with_pax("path", b"/abs").contains("`/abs`: absolute path"));
    // A long name ustar cannot hold is checked like a short one.
    let up = format!("{}/../../x", "a".repeat(120));
    assert!(with_pax("path", up.as_bytes()).contains("\"..\""));
}

#[test]
fn read_layer_file_prefers_the_top_layer() {
    let fx = with_layers(vec![
        vec![file("hello", 0o555, b"old")],
        vec![dir("etc"), file("hello", 0o555, b"new")],
    ]);
    let dir = std::env::temp_dir().join(format!("cargo-slim-validate-top-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("image.tar");
    std::fs::write(&path, fx.build().tar).unwrap();
    assert_eq!(read_layer_file(&path, "./hello").unwrap(), b"new");
    std::fs::remove_dir_all(&dir).unwrap();
}

// 8. Gzip stream.

#[test]
fn trailing_garbage_after_gzip() {
    let fx = Fixture {
        gzip_trailer: b"garbage".to_vec(),
        ..Fixture::default()
    };
    expect_err(fx, &["{layer0}", "layer 0 is not a valid gzip stream"]);
    // A second gzip member is gzip (RFC 1952 2.2; `gzip:max` writes them): an
    // empty one leaves the diff_id as it was.
    let fx = Fixture {
        gzip_trailer: gzip(b"", 0),
        ..Fixture::default()
    };
    validate_reader(fx.build().tar.as_slice()).unwrap();
    // …but its header's mtime must be 0 too.
    let fx = Fixture {
        gzip_trailer: gzip(b"", 5),
        ..Fixture::default()
    };
    expect_err(fx, &["{layer0}", "gzip header mtime is 5, expected 0"]);
}

#[test]
fn gzip_mtime_must_be_zero() {
    let fx = Fixture {
        gzip_mtime: 1_700_000_000,
        ..Fixture::default()
    };
    expect_err(
        fx,
        &[
            "{layer0}",
            "layer 0 gzip header mtime is 1700000000, expected 0",
        ],
    );
}

#[test]
fn layer_must_be_gzip() {
    let fx = Fixture {
        raw_layer0: true,
        ..Fixture::default()
    };
    expect_err(fx, &["{layer0}", "gzip"]);
}

#[test]
fn canonical_json_sorts_keys_and_is_compact() {
    let v: Value =
        serde_json::from_str(r#"{ "b": [1, {"d": "é\u0001", "c": null}], "a": 1.5 }"#).unwrap();
    assert_eq!(
        String::from_utf8(canonical_json(&v)).unwrap(),
        r#"{"a":1.5,"b":[1,{"c":null,"d":"é\u0001"}]}"#
    );
}

#[test]
fn validate_blobs_checks_digests_but_not_layer_contents() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar");
    std::fs::write(&good, Fixture::default().build().tar).unwrap();
    let full = validate_tarball(&good).unwrap();
    let light = validate_blobs(&good).unwrap();
    assert_eq!(light.manifest_digest, full.manifest_digest);
    assert_eq!(light.manifest_bytes, full.manifest_bytes);
    let sizes = |i: &ValidImage| {
        i.layers
            .iter()
            .map(|l| (l.digest.clone(), l.size))
            .collect::<Vec<_>>()
    };
    assert_eq!(sizes(&light), sizes(&full));

    // A corrupted blob is caught by both.
    let bad_blob = dir.path().join("bad-blob.tar");
    let fx = Fixture {
        outer: |o| *o[4].data.last_mut().unwrap() ^= 0xff,
        ..Fixture::default()
    };
    std::fs::write(&bad_blob, fx.build().tar).unwrap();
    let err = validate_blobs(&bad_blob).unwrap_err().to_string();
    assert!(err.contains("blob content has sha256:"), "{err}");

    // A wrong diff_id (digests all consistent) is only a full-check finding.
    let bad_diff = dir.path().join("bad-diff.tar");
    let fx = Fixture {
        config: |c| c["rootfs"]["diff_ids"][1] = json!(format!("sha256:{}", "0".repeat(64))),
        ..Fixture::default()
    };
    std::fs::write(&bad_diff, fx.build().tar).unwrap();
    assert!(validate_blobs(&bad_diff).is_ok());
    assert!(validate_tarball(&bad_diff).is_err());
}

#[test]
fn forged_entry_size_is_an_error_naming_the_entry() {
    // index.json's header follows oci-layout's header and one data block.
    let pos = 1024;
    for field in [
        *b"100000000000",                           // 8 GiB in octal
        [0x80, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0], // 2^36 in base-256
    ] {
        let mut tar = Fixture::default().build().tar;
        assert_eq!(&tar[pos..pos + 10], b"index.json");
        tar[pos + 124..pos + 136].copy_from_slice(&field);
        tar[pos + 148..pos + 156].fill(b' ');
        let sum: u32 = tar[pos..pos + 512].iter().map(|&b| u32::from(b)).sum();
        tar[pos + 148..pos + 156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let err = validate_reader(tar.as_slice()).unwrap_err().to_string();
        assert!(
            err.contains("`index.json`") && err.contains("claims"),
            "{err}"
        );
    }
}
