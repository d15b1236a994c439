//! The [`Peek`] of an OCI layout (`index.json` + `blobs/`).
//!
//! In: an archive with an `index.json`. Out: its image manifests (checked,
//! their blobs listed), the artifacts attached to them, and what the tags will
//! name: the one image; the image index stored under `index.json`, as it is,
//! when the archive holds everything it names; or, for several platform images
//! listed directly (or an index that names more than the archive holds, as
//! `docker save` of one platform writes), a new index written here. Several
//! top-level indexes, or several images without platforms, are refused: which
//! one is meant is not clear.

use serde_json::{json, Value};

use super::{attached, BlobRef, Check, Document, Peek};
use crate::digest::sha256_digest;
use crate::error::Failure;
use crate::oci::canonical::canonical_json;
use crate::oci::media::{MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::oci::{blob_path, Archive, Descriptor, Format, ImageEntry, Index, LayerRef, Listing};
use crate::oci::{Config, Range};
use std::io::{Read, Seek};

pub(super) fn peek<R: Read + Seek>(ar: &mut Archive<R>) -> Result<Peek, Failure> {
    // 1. `index.json` and every manifest it reaches.
    let root = Index::from_value(&ar.read_json("index.json")?);
    let listing = ar.list()?;
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
    // 2. Each image manifest, checked, its blobs listed.
    let name = images.iter().find_map(|i| i.reference.clone());
    let mut peek = Peek::new(Format::Oci, name);
    let mut docs = Vec::new();
    for image in images {
        docs.push(image_document(ar, image, &mut peek)?);
    }
    // 3. The artifacts attached to them; the others are left out.
    attach(ar, &listing, &mut peek)?;
    // 4. What the tags will name.
    let (top, children) = top_document(ar, images, &top_level, docs, &mut peek)?;
    peek.top = top;
    peek.children = children;
    Ok(peek)
}

/// Sort the artifacts of `listing` into those attached to an image of `peek`
/// (their blobs added) and the others.
fn attach<R: Read + Seek>(
    ar: &mut Archive<R>,
    listing: &Listing,
    peek: &mut Peek,
) -> Result<(), Failure> {
    let digests: Vec<&str> = listing
        .images
        .iter()
        .map(|i| i.descriptor.digest.as_str())
        .collect();
    peek.attached = attached::attachable(ar, listing, &digests, peek)?;
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
    Ok(())
}

/// The document the tags name and, under an index, its children.
fn top_document<R: Read + Seek>(
    ar: &mut Archive<R>,
    images: &[ImageEntry],
    top_level: &[Descriptor],
    mut docs: Vec<Document>,
    peek: &mut Peek,
) -> Result<(Document, Vec<Document>), Failure> {
    let is_index =
        |d: &Descriptor| d.says_index() || !images.iter().any(|i| i.descriptor.digest == d.digest);
    if let [one] = top_level {
        if !is_index(one) {
            return Ok(alone(docs));
        }
        if let Some(found) = stored_index(ar, one, images, &mut docs, peek)? {
            return Ok(found);
        }
    } else if top_level.len() > 1 && top_level.iter().any(is_index) {
        return Err(Failure::new(format!(
            "`index.json` lists {} entries, image indexes among them: which one to push is not clear",
            top_level.len()
        ))
        .detail(format!("entries: {}", top_level.iter().map(|d| d.digest.as_str()).collect::<Vec<_>>().join(", ")))
        .help("copy the one to push into its own archive, e.g. `skopeo copy --all oci-archive:IN:NAME oci-archive:OUT`"));
    }
    if images.len() == 1 {
        return Ok(alone(docs));
    }
    new_index(images, docs)
}

/// One image on top, no children.
fn alone(mut docs: Vec<Document>) -> (Document, Vec<Document>) {
    let mut top = docs.remove(0);
    top.platform = None;
    (top, Vec::new())
}

/// `index.json` → one image index → the manifests: the index as stored when
/// the archive holds every manifest it names (or the one image, when all it
/// adds are that image's artifacts); `None`, with a note, when it names more.
fn stored_index<R: Read + Seek>(
    ar: &mut Archive<R>,
    one: &Descriptor,
    images: &[ImageEntry],
    docs: &mut Vec<Document>,
    peek: &mut Peek,
) -> Result<Option<(Document, Vec<Document>)>, Failure> {
    let blob = blob_path(&one.digest, "index.json")?;
    let bytes = ar.read_document(&blob, one, "the image index")?;
    let nested = Index::from_value(&serde_json::from_slice(&bytes).unwrap_or(Value::Null));
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
        return Ok(Some(alone(std::mem::take(docs))));
    }
    if direct.iter().all(covered) {
        let top = Document {
            digest: one.digest.clone(),
            media_type: one
                .media_type
                .clone()
                .or(nested.media_type)
                .unwrap_or_else(|| MEDIA_TYPE_INDEX.to_string()),
            bytes,
            platform: None,
        };
        return Ok(Some((top, std::mem::take(docs))));
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
    Ok(None)
}

/// Several platform images (listed directly, or what an incomplete index
/// holds): one new index of them, which needs each one's platform.
fn new_index(
    images: &[ImageEntry],
    docs: Vec<Document>,
) -> Result<(Document, Vec<Document>), Failure> {
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
    let bytes = canonical_json(&index);
    let top = Document {
        digest: sha256_digest(&bytes),
        media_type: MEDIA_TYPE_INDEX.to_string(),
        bytes,
        platform: None,
    };
    Ok((top, docs))
}

/// One image manifest: checked, its blobs added to `peek`, returned as a document.
fn image_document<R: Read + Seek>(
    ar: &mut Archive<R>,
    image: &ImageEntry,
    peek: &mut Peek,
) -> Result<Document, Failure> {
    let d = &image.descriptor;
    let bytes = ar.read_document(&image.blob, d, "the image manifest")?;
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
        Config::from_value(&cfg).diff_ids.unwrap_or_default()
    };
    let all = std::iter::once(("config", config)).chain(layers.iter().map(|l| ("layer", l)));
    for (i, (kind, desc)) in all.enumerate() {
        let name = blob_path(&desc.digest, &image.blob)?;
        let range = sized(ar, &name, kind, desc)?;
        let check = if kind == "config" {
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
        };
        let blob = BlobRef {
            kind,
            digest: desc.digest.clone(),
            range,
        };
        peek.add_blob(blob, check);
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

/// Where the `kind` blob `name` is, checked against the size `desc` gives.
fn sized<R: Read + Seek>(
    ar: &Archive<R>,
    name: &str,
    kind: &str,
    desc: &Descriptor,
) -> Result<Range, Failure> {
    let range = ar.locate(name).map_err(|_| {
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
    Ok(range)
}
