//! What a push sends, read from any OCI or docker archive.
//!
//! In: the path of an image archive — cargo-slim's tarball, an OCI layout in a tar
//! (`skopeo copy … oci-archive:`, `docker save` ≥ 25), a multi-platform OCI archive
//! (`index.json` → one image index → one manifest per platform), or a docker-archive
//! (`manifest.json` + config + `<hex>.tar` layers, as `docker save` and `skopeo copy
//! … docker-archive:` write it). Out: a [`Peek`]: the document the tags will name
//! (an image manifest or an image index, exactly as stored, so the registry's digest
//! is the local one), the manifests to PUT by digest before it (one per platform),
//! every blob they reference once (a blob two platforms share is listed once), and
//! the artifacts (SBOMs, signatures) found and left out, at hand for a later
//! referrers push.
//!
//! Why here, through the lenient [`crate::oci::Archive`]: push used to go through
//! `validate`, which accepts only cargo-slim's exact layout, so a valid archive from
//! skopeo was refused. Only the tar headers and the small JSON documents are read
//! here (documents hashed, blob sizes compared with their descriptors); the full
//! check of every blob byte is [`check`], run before any upload.
//!
//! A docker-archive has no manifest: one is written here, an OCI image manifest
//! whose layers are the files as stored — uncompressed (`…layer.v1.tar`, digest =
//! the config's `diff_id`) or gzip (`…tar+gzip`, digest hashed here) — and whose
//! config is the stored config file. Nothing is recompressed: the pushed bytes are
//! the archive's, so the digest a later `docker save` shows is the one pushed, and
//! podman and skopeo pull uncompressed OCI layers.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use super::referrers::{attachable, Attached};
use crate::digest::{sha256_digest, sha256_hex_of, Sha256Writer};
use crate::error::Failure;
use crate::oci::documents::{
    MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST,
};
use crate::oci::{
    blob_path, compression, looks_like_tar, Archive, ArtifactEntry, Descriptor, Format, ImageEntry,
    LayerRef, Strictness,
};

/// A blob's byte range inside the tarball.
pub type BlobRange = crate::oci::Range;

/// `mediaType` of an uncompressed OCI layer (a docker-archive's layer files).
pub const MEDIA_TYPE_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// One blob a manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// `config` or `layer`.
    pub kind: &'static str,
    pub digest: String,
    pub range: BlobRange,
}

/// A manifest or index to PUT, exactly as it will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
    /// `os/arch[/variant]` of a per-platform manifest.
    pub platform: Option<String>,
}

/// What to check byte for byte before any upload ([`check`]).
#[derive(Debug, Clone)]
pub enum Check {
    /// A config blob: its bytes must hash to `digest` (the size is checked here).
    Blob(String, BlobRange),
    /// A layer: digest, `diff_id` and a readable tar stream.
    Layer(LayerRef),
}

/// An archive as push sees it, read without hashing any blob.
#[derive(Debug, Clone)]
pub struct Peek {
    pub format: Format,
    /// What the tags will name: an image manifest, or an image index.
    pub top: Document,
    /// With an index on top: each platform's manifest, PUT by digest first.
    pub children: Vec<Document>,
    /// Every blob of every manifest, without repeats, configs first per manifest.
    pub blobs: Vec<BlobRef>,
    /// The full check's work list.
    pub checks: Vec<Check>,
    /// Artifact manifests attached to the images pushed (SBOMs): PUT by digest
    /// and listed as referrers of their subject.
    pub attached: Vec<Attached>,
    /// Artifact manifests (signatures, attestations) found and not pushed.
    pub artifacts: Vec<ArtifactEntry>,
    /// What the reader decided that a user should hear (printed as notes).
    pub notes: Vec<String>,
    /// The name the archive gives itself, if any (the reference on the command
    /// line decides where the image goes).
    pub name: Option<String>,
}

impl Peek {
    /// `sha256:<hex>` of what the tags name.
    pub fn digest(&self) -> &str {
        &self.top.digest
    }
}

fn open(path: &Path) -> Result<Archive<BufReader<File>>, Failure> {
    let mut file = File::open(path).map_err(|e| {
        Failure::new(format!("could not open `{}`", path.display())).detail(e.to_string())
    })?;
    let mut head = [0u8; 512];
    let n = crate::io::read_up_to(&mut file, &mut head).map_err(|e| {
        Failure::new(format!("could not read `{}`", path.display())).detail(e.to_string())
    })?;
    if !looks_like_tar(&head[..n]) {
        return Err(not_an_archive(path, what_it_is(&head[..n])));
    }
    drop(file);
    let file = File::open(path).map_err(|e| {
        Failure::new(format!("could not open `{}`", path.display())).detail(e.to_string())
    })?;
    Archive::open(BufReader::new(file), Strictness::Lenient)
}

/// One phrase for a file that is not a tar archive, from its first bytes.
fn what_it_is(head: &[u8]) -> &'static str {
    if head.starts_with(b"\x7fELF") {
        "it is an ELF executable (`cargo slim build --binary` packs one into an image)"
    } else if head.is_empty() {
        "it is empty"
    } else if let Some(c) = compression(head) {
        match c {
            "gzip" => "it is gzip-compressed (a compressed tarball? `gunzip` it first)",
            "zstd" => "it is zstd-compressed",
            "xz" => "it is xz-compressed",
            _ => "it is bzip2-compressed",
        }
    } else if head.starts_with(b"{") || head.starts_with(b"[") {
        "it is a JSON document"
    } else {
        "its first bytes are not a tar header"
    }
}

/// The sentence for anything that is not an image archive.
pub fn not_an_archive(path: &Path, what: &str) -> Failure {
    Failure::new(format!(
        "`{}` is not an image tarball: {what}",
        path.display()
    ))
    .detail("push and report take a tar holding an OCI image layout (`index.json` + `blobs/`) or a docker-archive (`manifest.json`)")
    .help("pass the tarball of `cargo slim build`, of `skopeo copy … oci-archive:FILE` or `docker-archive:FILE`, or of `docker save`")
}

/// Read `path` into what a push sends.
pub fn peek(path: &Path) -> Result<Peek, Failure> {
    let mut ar = open(path)?;
    if ar.has("index.json") {
        oci(&mut ar)
    } else if ar.has("manifest.json") {
        docker(&mut ar)
    } else {
        Err(not_an_archive(
            path,
            "a tar archive without `index.json` or `manifest.json`",
        ))
    }
}

pub(super) type Ar = Archive<BufReader<File>>;

/// Read the document `blob` names and check it against its descriptor.
pub(super) fn document(
    ar: &mut Ar,
    blob: &str,
    d: &Descriptor,
    what: &str,
) -> Result<Vec<u8>, Failure> {
    let bytes = ar.read_small(blob, crate::oci::MAX_JSON, what)?;
    if sha256_hex_of(&d.digest).is_none() {
        return Err(Failure::new(format!(
            "{what} `{}` is not a sha256 digest",
            d.digest
        )));
    }
    let actual = sha256_digest(&bytes);
    if actual != d.digest {
        return Err(Failure::new(format!(
            "{what} {} does not match its digest: the archive is corrupt",
            d.digest
        ))
        .detail(format!("actual digest: {actual}")));
    }
    if d.size.is_some_and(|s| s != bytes.len() as u64) {
        return Err(Failure::new(format!(
            "{what} {}: the descriptor says {} bytes, the archive holds {}",
            d.digest,
            d.size.unwrap_or(0),
            bytes.len()
        )));
    }
    Ok(bytes)
}

fn oci(ar: &mut Ar) -> Result<Peek, Failure> {
    let root = crate::oci::Index::from_value(&ar.read_json("index.json")?);
    let listing = ar.list()?;
    let name = listing.images.iter().find_map(|i| i.reference.clone());
    let is_artifact = |d: &Descriptor| {
        listing
            .artifacts
            .iter()
            .any(|a| a.descriptor.digest == d.digest)
    };
    let top_level: Vec<Descriptor> = root
        .manifests
        .unwrap_or_default()
        .into_iter()
        .filter(|d| {
            !is_artifact(d) && ar.has(&blob_path(&d.digest, "index.json").unwrap_or_default())
        })
        .collect();
    let images = &listing.images;
    if images.is_empty() {
        return Err(
            Failure::new("`index.json` lists no image manifest present in the archive").detail(
                format!(
                    "{} artifact manifest(s), {} descriptor(s) whose blob is missing",
                    listing.artifacts.len(),
                    listing.absent.len()
                ),
            ),
        );
    }
    let mut peek = Peek {
        format: Format::Oci,
        top: Document {
            digest: String::new(),
            media_type: String::new(),
            bytes: Vec::new(),
            platform: None,
        },
        children: Vec::new(),
        blobs: Vec::new(),
        checks: Vec::new(),
        attached: Vec::new(),
        artifacts: Vec::new(),
        notes: Vec::new(),
        name,
    };
    let mut docs = Vec::new();
    for image in images {
        docs.push(image_document(ar, image, &mut peek)?);
    }
    let digests: Vec<&str> = images
        .iter()
        .map(|i| i.descriptor.digest.as_str())
        .collect();
    peek.attached = attachable(ar, &listing, &digests, &mut peek.blobs, &mut peek.checks)?;
    peek.artifacts = listing
        .artifacts
        .iter()
        .filter(|a| {
            !peek
                .attached
                .iter()
                .any(|t| t.doc.digest == a.descriptor.digest)
        })
        .cloned()
        .collect();
    let is_index =
        |d: &Descriptor| d.says_index() || !images.iter().any(|i| i.descriptor.digest == d.digest);
    if let [one] = top_level.as_slice() {
        if !is_index(one) {
            peek.top = docs.remove(0);
            peek.top.platform = None;
            return Ok(peek);
        }
        // index.json → one image index → the manifests: PUT the index as stored,
        // when the archive holds every manifest it names.
        let blob = blob_path(&one.digest, "index.json")?;
        let bytes = document(ar, &blob, one, "the image index")?;
        let nested =
            crate::oci::Index::from_value(&serde_json::from_slice(&bytes).unwrap_or(Value::Null));
        let direct = nested.manifests.unwrap_or_default();
        if let Some(deep) = images
            .iter()
            .find(|i| !direct.iter().any(|d| d.digest == i.descriptor.digest))
        {
            return Err(Failure::new(format!("manifest {} is nested more than one index deep", deep.descriptor.digest))
                .help("push takes `index.json` → one image index → manifests; flatten it, e.g. `skopeo copy --all oci-archive:IN oci-archive:OUT`"));
        }
        let covered = |d: &Descriptor| {
            images.iter().any(|i| i.descriptor.digest == d.digest)
                || peek.attached.iter().any(|a| a.doc.digest == d.digest)
        };
        if direct.iter().all(covered) && images.len() == 1 {
            // An index that only adds artifacts to one image (cargo-slim's
            // tarball with SBOMs): the image goes under the tags, the SBOMs
            // as its referrers.
            peek.top = docs.remove(0);
            peek.top.platform = None;
            return Ok(peek);
        }
        if direct.iter().all(covered) {
            peek.top = Document {
                digest: one.digest.clone(),
                media_type: one
                    .media_type
                    .clone()
                    .or(nested.media_type)
                    .unwrap_or_else(|| MEDIA_TYPE_INDEX.to_string()),
                bytes,
                platform: None,
            };
            peek.children = docs;
            return Ok(peek);
        }
        // `docker save` lists every platform (and attestations) but may carry one:
        // the registry would refuse an index naming what it was never sent.
        peek.notes.push(format!(
            "the image index {} names {} manifests, {} of them images held in the archive (the others are missing or attestations): pushing {}",
            one.digest,
            direct.len(),
            images.len(),
            if images.len() == 1 { "that image alone" } else { "those as a new index" }
        ));
    } else if top_level.len() > 1 && top_level.iter().any(is_index) {
        return Err(Failure::new(format!(
            "`index.json` lists {} entries, image indexes among them: which one to push is not clear",
            top_level.len()
        ))
        .detail(format!("entries: {}", top_level.iter().map(|d| d.digest.as_str()).collect::<Vec<_>>().join(", ")))
        .help("copy the one to push into its own archive, e.g. `skopeo copy --all oci-archive:IN:NAME oci-archive:OUT`"));
    }
    if images.len() == 1 {
        peek.top = docs.remove(0);
        peek.top.platform = None;
        return Ok(peek);
    }
    if images.iter().any(|i| i.descriptor.platform.is_none()) {
        let names: Vec<String> = images
            .iter()
            .map(|i| {
                format!(
                    "{} ({})",
                    i.descriptor.digest,
                    i.reference.as_deref().unwrap_or(&i.platform())
                )
            })
            .collect();
        return Err(Failure::new(format!(
            "`index.json` lists {} images, not all with a platform: which one to push is not clear",
            images.len()
        ))
        .detail(format!("images: {}", names.join(", ")))
        .help("copy the one to push into its own archive, e.g. `skopeo copy oci-archive:IN:NAME oci-archive:OUT`"));
    }
    // Several platform images (listed directly, or what an incomplete index
    // holds): pushed as one new index.
    let manifests: Vec<Value> = images
        .iter()
        .zip(&docs)
        .map(|(i, doc)| {
            let p = i.descriptor.platform.clone().unwrap_or_default();
            let mut platform = json!({"architecture": p.architecture, "os": p.os});
            if let Some(v) = p.variant {
                platform["variant"] = json!(v);
            }
            json!({
                "mediaType": doc.media_type,
                "digest": doc.digest,
                "size": doc.bytes.len(),
                "platform": platform,
            })
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_INDEX,
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&index).unwrap_or_default();
    peek.top = Document {
        digest: sha256_digest(&bytes),
        media_type: MEDIA_TYPE_INDEX.to_string(),
        bytes,
        platform: None,
    };
    peek.children = docs;
    Ok(peek)
}

/// One image manifest: checked, its blobs added to `peek`, returned as a document.
fn image_document(ar: &mut Ar, image: &ImageEntry, peek: &mut Peek) -> Result<Document, Failure> {
    let d = &image.descriptor;
    let bytes = document(ar, &image.blob, d, "the image manifest")?;
    let m = &image.manifest;
    let Some(config) = &m.config else {
        return Err(Failure::new(format!(
            "the manifest {} has no config",
            d.digest
        )));
    };
    let Some(layers) = &m.layers else {
        return Err(Failure::new(format!(
            "the manifest {}: `layers` is not an array",
            d.digest
        )));
    };
    let diff_ids = {
        let cfg = ar.read_json(&blob_path(&config.digest, &image.blob)?)?;
        crate::oci::Config::from_value(&cfg)
            .diff_ids
            .unwrap_or_default()
    };
    let all = std::iter::once(("config", config)).chain(layers.iter().map(|l| ("layer", l)));
    for (i, (kind, desc)) in all.enumerate() {
        let name = blob_path(&desc.digest, &image.blob)?;
        let range = ar.locate(&name).map_err(|_| {
            Failure::new(format!(
                "the manifest names {kind} `{}`, which is not in the archive",
                desc.digest
            ))
        })?;
        if desc.size != Some(range.size) {
            return Err(Failure::new(format!(
                "{kind} {}: the manifest says {} bytes, the archive holds {}",
                desc.digest,
                desc.size.map_or("no".to_string(), |s| s.to_string()),
                range.size
            )));
        }
        if peek.blobs.iter().any(|b| b.digest == desc.digest) {
            continue;
        }
        peek.blobs.push(BlobRef {
            kind,
            digest: desc.digest.clone(),
            range,
        });
        peek.checks.push(if kind == "config" {
            Check::Blob(desc.digest.clone(), range)
        } else {
            let diff_id = (diff_ids.len() == layers.len())
                .then(|| diff_ids[i - 1].clone())
                .flatten();
            Check::Layer(LayerRef {
                name,
                digest: Some(desc.digest.clone()),
                diff_id,
            })
        });
    }
    let media_type = m
        .media_type
        .clone()
        .or_else(|| d.media_type.clone())
        .unwrap_or_else(|| MEDIA_TYPE_MANIFEST.to_string());
    Ok(Document {
        digest: d.digest.clone(),
        media_type,
        bytes,
        platform: d.platform.as_ref().map(|p| p.to_string()),
    })
}

fn docker(ar: &mut Ar) -> Result<Peek, Failure> {
    let item = ar.docker_entry("push sends one at a time")?;
    let config_name = item
        .config
        .clone()
        .ok_or_else(|| Failure::new("`manifest.json` has no `Config` path"))?;
    let config_bytes = ar.read_small(&config_name, crate::oci::MAX_JSON, "an image config")?;
    let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| {
        Failure::new(format!("`{config_name}` is not valid JSON")).detail(e.to_string())
    })?;
    let config_digest = sha256_digest(&config_bytes);
    let config_range = ar.locate(&config_name)?;
    let names = item
        .layers
        .clone()
        .ok_or_else(|| Failure::new("`manifest.json` `Layers` is not an array of layer paths"))?;
    let diff_ids = crate::oci::Config::from_value(&config)
        .diff_ids
        .unwrap_or_default();
    if diff_ids.len() != names.len() {
        return Err(Failure::new(format!(
            "`manifest.json` lists {} layers but the config's rootfs.diff_ids has {}",
            names.len(),
            diff_ids.len()
        )));
    }
    let mut peek = Peek {
        format: Format::Docker,
        top: Document {
            digest: String::new(),
            media_type: MEDIA_TYPE_MANIFEST.into(),
            bytes: Vec::new(),
            platform: None,
        },
        children: Vec::new(),
        blobs: vec![BlobRef {
            kind: "config",
            digest: config_digest.clone(),
            range: config_range,
        }],
        checks: Vec::new(),
        attached: Vec::new(),
        artifacts: Vec::new(),
        notes: Vec::new(),
        name: item.repo_tags.as_ref().and_then(|t| t.first()).cloned(),
    };
    peek.checks
        .push(Check::Blob(config_digest.clone(), config_range));
    let mut layers = Vec::new();
    for (name, diff_id) in names.iter().zip(diff_ids) {
        let diff_id = diff_id
            .filter(|d| sha256_hex_of(d).is_some())
            .ok_or_else(|| {
                Failure::new(format!(
                    "the config's diff_id for layer `{name}` is not a sha256 digest"
                ))
            })?;
        let range = ar.locate(name)?;
        let (mut r, _) = ar.open_file(name)?;
        let mut head = [0u8; 6];
        let n = crate::io::read_up_to(&mut r, &mut head).map_err(|e| {
            Failure::new(format!("cannot read layer `{name}`")).detail(e.to_string())
        })?;
        let (media_type, digest) = match compression(&head[..n]) {
            None => (MEDIA_TYPE_LAYER_TAR, diff_id.clone()),
            Some("gzip") => {
                // The blob digest is not recorded anywhere: hash the file.
                let (mut r, _) = ar.open_file(name)?;
                let mut h = Sha256Writer::new();
                std::io::copy(&mut r, &mut h).map_err(|e| {
                    Failure::new(format!("cannot read layer `{name}`")).detail(e.to_string())
                })?;
                (MEDIA_TYPE_LAYER_GZIP, h.digest())
            }
            Some(other) => {
                return Err(
                    Failure::new(format!("layer `{name}` is {other}-compressed"))
                        .detail("push sends docker-archive layers that are uncompressed or gzip"),
                )
            }
        };
        layers.push(json!({"mediaType": media_type, "digest": digest, "size": range.size}));
        peek.checks.push(Check::Layer(LayerRef {
            name: name.clone(),
            digest: Some(digest.clone()),
            diff_id: Some(diff_id),
        }));
        if !peek.blobs.iter().any(|b| b.digest == digest) {
            peek.blobs.push(BlobRef {
                kind: "layer",
                digest,
                range,
            });
        }
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": {"mediaType": MEDIA_TYPE_CONFIG, "digest": config_digest, "size": config_bytes.len()},
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    peek.top = Document {
        digest: sha256_digest(&bytes),
        media_type: MEDIA_TYPE_MANIFEST.into(),
        bytes,
        platform: None,
    };
    Ok(peek)
}

/// Check every blob byte the push relies on, before any upload: each config
/// hashes to its digest, each layer to its digest and (uncompressed) to its
/// `diff_id` and reads as a tar stream. Returns the digest of what the tags name,
/// re-read from the archive, so a file changed since [`peek`] is caught.
pub fn check(path: &Path) -> Result<String, Failure> {
    let peek = peek(path)?;
    let mut ar = open(path)?;
    for c in &peek.checks {
        match c {
            Check::Blob(digest, range) => {
                let mut r = ar.open_range(digest, *range)?;
                let mut h = Sha256Writer::new();
                std::io::copy(&mut r, &mut h).map_err(|e| {
                    Failure::new(format!("cannot read blob {digest}")).detail(e.to_string())
                })?;
                let actual = h.digest();
                if actual != *digest {
                    return Err(Failure::new(format!(
                        "blob {digest} does not match its digest: the archive is corrupt"
                    ))
                    .detail(format!("actual digest: {actual}")));
                }
            }
            Check::Layer(layer) => ar.walk_layer(layer, |_, _| Ok(()))?,
        }
    }
    Ok(peek.top.digest)
}
