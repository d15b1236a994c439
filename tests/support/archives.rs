//! Image archives in the shapes other writers produce, made by hand from images
//! the library builds: a multi-platform OCI archive (`index.json` → one image
//! index → one manifest per platform), the same images listed flat in
//! `index.json`, and an SBOM artifact attached with `subject`. For push and report,
//! which must take any valid archive, not only cargo-slim's single-image layout.

use std::path::Path;

use cargo_slim::image::{build_image, Image, ImageSpec, LayerBuilder, Platform};
use serde_json::{json, Value};

use super::tar::Tar;

/// A one-file image (`/payload.bin` = `data`) for `arch` (`arm64` gets variant `v8`).
pub fn payload_image(name: &str, data: &[u8], arch: &str) -> Image {
    let built = LayerBuilder::file("/payload.bin", 0o444, data).unwrap();
    let layer = built.build(&Default::default(), None).unwrap().layer;
    let spec = ImageSpec {
        reference: cargo_slim::reference::Reference::parse(&format!("localhost/{name}:1")).unwrap(),
        path: "/payload.bin".into(),
        name: name.into(),
        version: Some("1".into()),
        ..ImageSpec::default()
    };
    let platform = Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: (arch == "arm64").then(|| "v8".to_string()),
    };
    build_image(&spec, &platform, vec![layer], 0).unwrap()
}

/// How `index.json` reaches the images.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `index.json` → one image index → the manifests (what cargo-slim writes).
    Nested,
    /// `index.json` lists every manifest, each with its platform.
    Flat,
    /// Flat, but the last manifest has no platform.
    FlatOneUnplatformed,
    /// Nested, but without the last image's blobs (as `docker save` of one
    /// platform of a multi-platform image writes it).
    NestedPartial,
}

/// Canonical (sorted keys, no whitespace) JSON bytes.
pub fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({
        "mediaType": media_type,
        "digest": cargo_slim::digest::sha256_digest(bytes),
        "size": bytes.len(),
    })
}

fn platform_of(image: &Image) -> Value {
    let p = &image.platform;
    let mut v = json!({"architecture": p.architecture, "os": p.os});
    if let Some(variant) = &p.variant {
        v["variant"] = json!(variant);
    }
    v
}

/// What [`multi_platform_archive`] wrote: the top document (the nested index's
/// bytes, when there is one) and each platform's manifest digest.
pub struct Written {
    pub index: Option<Vec<u8>>,
    pub manifests: Vec<String>,
    pub sbom: Option<String>,
}

/// Write `images` as one OCI archive at `path`, named `reference`, with an SBOM
/// artifact (subject: the first image) listed in `index.json` when `sbom`.
pub fn multi_platform_archive(
    path: &Path,
    reference: &str,
    images: &[Image],
    shape: Shape,
    sbom: bool,
) -> Written {
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    let names = json!({
        "io.containerd.image.name": reference,
        "org.opencontainers.image.ref.name": reference,
    });
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |digest: &str, bytes: Vec<u8>| {
        if !blobs.iter().any(|(d, _)| d == digest) {
            blobs.push((digest.to_string(), bytes));
        }
    };
    let mut listed = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let carried = !(shape == Shape::NestedPartial && i + 1 == images.len());
        for b in std::iter::once(&image.config)
            .chain(image.layers.iter().map(|l| &l.blob))
            .chain(std::iter::once(&image.manifest))
        {
            if carried {
                add(&b.digest, b.bytes().unwrap().into_owned());
            }
        }
        let mut d = descriptor(MANIFEST, &image.manifest.bytes().unwrap());
        let unplatformed = shape == Shape::FlatOneUnplatformed && i + 1 == images.len();
        if !unplatformed {
            d["platform"] = platform_of(image);
        }
        listed.push(d);
    }
    let manifests: Vec<String> = images.iter().map(|i| i.manifest.digest.clone()).collect();
    let (mut top, index) = if matches!(shape, Shape::Nested | Shape::NestedPartial) {
        let index = json_bytes(&json!({
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": listed,
        }));
        let mut d = descriptor(INDEX, &index);
        d["annotations"] = names.clone();
        add(d["digest"].as_str().unwrap(), index.clone());
        (vec![d], Some(index))
    } else {
        for d in &mut listed {
            d["annotations"] = names.clone();
        }
        (listed, None)
    };
    let mut sbom_digest = None;
    if sbom {
        let doc = br#"{"spdxVersion":"SPDX-2.3","name":"test"}"#.to_vec();
        let empty = b"{}".to_vec();
        let first = &images[0].manifest;
        let artifact = json_bytes(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "artifactType": "application/spdx+json",
            "config": descriptor("application/vnd.oci.empty.v1+json", &empty),
            "layers": [descriptor("application/spdx+json", &doc)],
            "subject": descriptor(MANIFEST, &first.bytes().unwrap()),
        }));
        let mut d = descriptor(MANIFEST, &artifact);
        d["artifactType"] = json!("application/spdx+json");
        add(&cargo_slim::digest::sha256_digest(&empty), empty);
        add(&cargo_slim::digest::sha256_digest(&doc), doc);
        sbom_digest = Some(d["digest"].as_str().unwrap().to_string());
        add(sbom_digest.as_deref().unwrap(), artifact);
        top.push(d);
    }
    let mut tar = Tar::ustar();
    tar.file("oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index_json = json_bytes(&json!({"schemaVersion": 2, "manifests": top}));
    tar.file("index.json", 0o644, &index_json);
    for (digest, bytes) in &blobs {
        let hex = &digest["sha256:".len()..];
        tar.file(&format!("blobs/sha256/{hex}"), 0o644, bytes);
    }
    std::fs::write(path, tar.finish()).unwrap();
    Written {
        index,
        manifests,
        sbom: sbom_digest,
    }
}

/// An image whose one layer holds `mib` MiB of incompressible bytes; kept in the
/// fixtures' target dir between runs (the content is deterministic).
pub fn payload_tar(name: &str, mib: usize) -> std::path::PathBuf {
    use cargo_slim::validate::validate_tarball;
    let path = super::fixture_target_dir()
        .join("push-test")
        .join(format!("{name}-{mib}.tar"));
    if path.exists() && validate_tarball(&path).is_ok() {
        return path;
    }
    super::payload_tarball(&path, name, &super::noise(0x9E37_79B9_7F4A_7C15, mib << 20));
    let img = validate_tarball(&path).unwrap();
    assert!(
        img.layers[0].size >= (mib << 20) as u64,
        "the layer must stay incompressible"
    );
    path
}
