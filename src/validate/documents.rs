//! Strict checks of the tarball's top documents: `oci-layout`, `index.json`
//! (one manifest, or one image index of several platforms), the image index,
//! the docker `manifest.json`, and the order of the blobs.
//!
//! In: the strict [`Archive`] and the checked outer entries. Out: the
//! [`ValidSet`] — every image's manifest, config and layers checked by
//! [`super::manifest`] (layers by [`super::layers`] unless only blobs are asked
//! for), every attached artifact by [`super::artifacts`]. Documents are parsed
//! into [`crate::oci::documents`] types; every field cargo-slim's layout
//! requires is checked here by name. This is the top of the checks: it calls
//! the others, and none of them calls it.

use std::collections::HashMap;
use std::io::{Read, Seek};

use anyhow::Result;
use serde_json::Value;

use super::artifacts::{self, Subject};
use super::blobs::{parse_canonical, read_doc, require_descriptor, Blobs, Listed};
use super::errors::{bail_at, ensure_at, show, show_num, violation};
use super::manifest::{self, Depth, Read1};
use super::outer::{OuterEntry, OuterTar, FIXED_ENTRIES};
use super::valid::{platform_order, ValidArtifact, ValidSet};
use crate::oci::documents::{
    Descriptor, DockerEntry, Index, Platform, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME,
};
use crate::oci::media::{MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::oci::{Archive, Range};

/// Exact content of the `oci-layout` entry.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// What `index.json` leads to, before any config or layer is read: the image
/// manifests (each with its platform), the attached artifacts, and the image
/// index blob when there is one.
struct Contents {
    images: Vec<Read1>,
    attached: Vec<ValidArtifact>,
    index: Option<IndexBlob>,
}

/// The OCI image index blob `index.json` points to.
struct IndexBlob {
    digest: String,
    name: String,
    bytes: Vec<u8>,
}

/// Every document check, then the layers (at `depth`) of every image.
pub(super) fn check<R: Read + Seek>(
    ar: &mut Archive<R>,
    outer: &OuterTar,
    depth: Depth,
) -> Result<ValidSet> {
    let entries = &outer.entries;
    let mtime = outer.mtime;
    for (i, want) in FIXED_ENTRIES.iter().enumerate() {
        ensure_at!(
            i < entries.len(),
            *want,
            "missing: the tarball has only {} entries",
            entries.len()
        );
    }

    // 2. oci-layout
    check_layout(ar, entries[0].range)?;

    // index.json
    let (top, top_media_type) = read_index_json(ar, entries[1].range)?;
    let reference = index_reference(&top)?;
    let docker = docker_entry(ar, entries[2].range)?;

    // The manifests, each with its platform, and the image index (several platforms).
    let blobs = Blobs::new(&entries[3..]);
    let Contents {
        images: read,
        attached,
        index,
    } = read_contents(ar, &blobs, (&top, &top_media_type))?;

    // 1. Blob order: per image config, layers, manifest (a shared blob once); the index.
    check_blob_order(
        entries,
        &read,
        &attached,
        index.as_ref().map(|i| i.name.as_str()),
    )?;

    // 3/5/7/8. Configs and layers.
    let first_config = read[0].config_name.clone();
    let first_layers = read[0].layer_names.clone();
    let mut checked = HashMap::new();
    let mut images = Vec::with_capacity(read.len());
    for m in read {
        images.push(manifest::finish(
            ar,
            &blobs,
            m,
            &reference,
            (mtime, depth),
            &mut checked,
        )?);
    }

    // 3. docker manifest.json agrees with the (first) OCI manifest and the reference.
    check_docker(&docker, &first_config, &first_layers, &reference)?;

    let (index_digest, index_bytes) = match index {
        Some(i) => (Some(i.digest), Some(i.bytes)),
        None => (None, None),
    };
    Ok(ValidSet {
        reference,
        index_digest,
        index_bytes,
        images,
        artifacts: attached,
        mtime,
    })
}

/// What the one descriptor of `index.json` (`top`, of `top_media_type`) leads
/// to: one image manifest, or an image index of several.
fn read_contents<R: Read + Seek>(
    ar: &mut Archive<R>,
    blobs: &Blobs<'_>,
    (top, top_media_type): (&Descriptor, &str),
) -> Result<Contents> {
    let at = Listed {
        referrer: "index.json",
        field: "manifests[0]",
        desc: top,
    };
    match top_media_type {
        MEDIA_TYPE_MANIFEST => {
            let platform = required_platform("index.json", "manifests[0]", top)?;
            Ok(Contents {
                images: vec![manifest::read(ar, blobs, at, &platform)?],
                attached: Vec::new(),
                index: None,
            })
        }
        MEDIA_TYPE_INDEX => read_image_index(ar, blobs, at),
        _ => bail_at!(
            "index.json",
            "manifests[0].mediaType is {top_media_type:?}, expected {MEDIA_TYPE_MANIFEST:?} \
             (one platform) or {MEDIA_TYPE_INDEX:?} (several)"
        ),
    }
}

/// `oci-layout` is exactly [`OCI_LAYOUT`].
fn check_layout<R: Read + Seek>(ar: &mut Archive<R>, range: Range) -> Result<()> {
    let layout = read_doc(ar, "oci-layout", range, "oci-layout")?;
    ensure_at!(
        layout.as_slice() == OCI_LAYOUT,
        "oci-layout",
        "content is {:?}, expected {:?}",
        String::from_utf8_lossy(&layout),
        String::from_utf8_lossy(OCI_LAYOUT)
    );
    Ok(())
}

/// The one descriptor of `index.json` (canonical, an OCI index) and its media type.
fn read_index_json<R: Read + Seek>(
    ar: &mut Archive<R>,
    range: Range,
) -> Result<(Descriptor, String)> {
    let index_bytes = read_doc(ar, "index.json", range, "index.json")?;
    let index_value = parse_canonical("index.json", "OCI index", &index_bytes)?;
    let manifests = index_manifests("index.json", &index_value)?;
    let top = exactly_one("index.json", "manifest descriptors", manifests)?;
    let (top_media_type, _) = require_descriptor("index.json", "manifests[0]", &top)?;
    Ok((top, top_media_type))
}

/// The image index `index.json`'s descriptor `at` points to: its images first
/// (two or more platforms, or one image with SBOMs), then their artifacts.
fn read_image_index<R: Read + Seek>(
    ar: &mut Archive<R>,
    blobs: &Blobs<'_>,
    at: Listed<'_>,
) -> Result<Contents> {
    ensure_at!(
        at.desc.platform.is_none(),
        "index.json",
        "manifests[0].mediaType says an image index, so manifests[0] must have no \
         platform (each manifest in the index has its own)"
    );
    let (name, bytes, value) = blobs.read_json(ar, at, "OCI image index")?;
    let descs = index_manifests(&name, &value)?;
    let images_end = descs
        .iter()
        .position(|d| d.platform.as_ref().is_some_and(|p| p.os == "unknown"))
        .unwrap_or(descs.len());
    ensure_at!(
        images_end >= 2 || (images_end == 1 && descs.len() > 1),
        &name,
        "the OCI image index lists {images_end} image manifests and {} artifacts; a tarball \
         index lists 2 or more platforms, or one image and its SBOMs (one platform without \
         SBOMs is written with the manifest in index.json)",
        descs.len() - images_end
    );
    let (images, artifacts) = descs.split_at(images_end);
    let read = read_index_images(ar, blobs, &name, images)?;
    let subjects: Vec<Subject<'_>> = images
        .iter()
        .map(|d| Subject {
            digest: &d.digest,
            size: d.size.unwrap_or_default(),
        })
        .collect();
    let attached = read_index_artifacts(ar, blobs, &name, (images_end, artifacts), &subjects)?;
    Ok(Contents {
        images: read,
        attached,
        index: Some(IndexBlob {
            digest: at.desc.digest.clone(),
            name,
            bytes,
        }),
    })
}

/// The image manifests of the image index `name`: each with a platform,
/// distinct and in the order of the architecture table.
fn read_index_images<R: Read + Seek>(
    ar: &mut Archive<R>,
    blobs: &Blobs<'_>,
    name: &str,
    descs: &[Descriptor],
) -> Result<Vec<Read1>> {
    let mut read = Vec::with_capacity(descs.len());
    let mut platforms: Vec<Platform> = Vec::new();
    for (i, d) in descs.iter().enumerate() {
        let field = format!("manifests[{i}]");
        let (media_type, _) = require_descriptor(name, &field, d)?;
        ensure_at!(
            media_type == MEDIA_TYPE_MANIFEST,
            name,
            "{field}.mediaType is {media_type:?}, expected {MEDIA_TYPE_MANIFEST:?}"
        );
        let platform = required_platform(name, &field, d)?;
        if let Some(prev) = platforms.last() {
            ensure_at!(
                platform_order(prev) < platform_order(&platform),
                name,
                "{field} is for {}, after {}: platforms must be distinct and in the \
                 order of cargo slim's architecture table (amd64, arm64, …)",
                platform,
                prev
            );
        }
        let at = Listed {
            referrer: name,
            field: &field,
            desc: d,
        };
        read.push(manifest::read(ar, blobs, at, &platform)?);
        platforms.push(platform);
    }
    Ok(read)
}

/// The artifacts of the image index `name`, listed from position `first` on:
/// each attached to one of its images, in the order of their images.
fn read_index_artifacts<R: Read + Seek>(
    ar: &mut Archive<R>,
    blobs: &Blobs<'_>,
    name: &str,
    (first, descs): (usize, &[Descriptor]),
    subjects: &[Subject<'_>],
) -> Result<Vec<ValidArtifact>> {
    let mut attached = Vec::with_capacity(descs.len());
    let mut last_rank = 0;
    for (i, d) in descs.iter().enumerate() {
        let field = format!("manifests[{}]", first + i);
        ensure_at!(
            d.platform.as_ref().is_some_and(|p| p.os == "unknown"),
            name,
            "{field} is an image after the attached artifacts: images come first"
        );
        let at = Listed {
            referrer: name,
            field: &field,
            desc: d,
        };
        let a = artifacts::read(ar, blobs, at, subjects)?;
        let rank = subjects
            .iter()
            .position(|s| s.digest == a.subject)
            .unwrap_or(0);
        ensure_at!(
            rank >= last_rank,
            name,
            "{field} is attached to image {rank}, after an artifact of image {last_rank}: \
             artifacts come in the order of their images"
        );
        last_rank = rank;
        attached.push(a);
    }
    Ok(attached)
}

/// The `manifests` of an OCI image index (`index.json` or an index blob).
fn index_manifests(entry: &str, value: &Value) -> Result<Vec<Descriptor>> {
    let index = Index::from_value(value);
    ensure_at!(
        index.schema_version == Some(2),
        entry,
        "schemaVersion is {}, expected 2",
        show_num(index.schema_version)
    );
    ensure_at!(
        index.media_type.as_deref() == Some(MEDIA_TYPE_INDEX),
        entry,
        "mediaType is {}, expected {MEDIA_TYPE_INDEX:?}",
        show(index.media_type.as_deref())
    );
    let Some(manifests) = index.manifests else {
        bail_at!(
            entry,
            "invalid OCI image index: `manifests` is missing or not an array"
        );
    };
    Ok(manifests)
}

/// The one item of `items` (the `what` of document `entry`).
fn exactly_one<T>(entry: &str, what: &str, mut items: Vec<T>) -> Result<T> {
    ensure_at!(
        items.len() == 1,
        entry,
        "has {} {what}, expected exactly 1",
        items.len()
    );
    Ok(items.remove(0))
}

/// The platform a manifest descriptor must carry, with os and architecture set.
fn required_platform(entry: &str, field: &str, desc: &Descriptor) -> Result<Platform> {
    let Some(platform) = &desc.platform else {
        bail_at!(entry, "{field} has no platform");
    };
    ensure_at!(
        !platform.architecture.is_empty() && !platform.os.is_empty(),
        entry,
        "{field}.platform architecture {:?} / os {:?} must not be empty",
        platform.architecture,
        platform.os
    );
    Ok(platform.clone())
}

/// The one entry of the docker-archive `manifest.json`.
fn docker_entry<R: Read + Seek>(ar: &mut Archive<R>, range: Range) -> Result<DockerEntry> {
    let docker_bytes = read_doc(ar, "manifest.json", range, "manifest.json")?;
    let docker_value: Value = serde_json::from_slice(&docker_bytes).map_err(|e| {
        violation(
            "manifest.json",
            format!("invalid docker-archive manifest: {e}"),
        )
    })?;
    let Some(docker) = DockerEntry::list(&docker_value) else {
        bail_at!(
            "manifest.json",
            "invalid docker-archive manifest: not a JSON array"
        );
    };
    let docker = exactly_one("manifest.json", "entries", docker)?;
    ensure_at!(
        docker.config.is_some(),
        "manifest.json",
        "invalid docker-archive manifest: `Config` is missing or not a string"
    );
    ensure_at!(
        docker.layers.is_some(),
        "manifest.json",
        "invalid docker-archive manifest: `Layers` is not an array of strings"
    );
    Ok(docker)
}

/// `manifest.json` names the config and layers of the (first) image and the reference.
fn check_docker(
    docker: &DockerEntry,
    config_name: &str,
    layer_names: &[String],
    reference: &str,
) -> Result<()> {
    let docker_config = docker.config.as_deref().unwrap_or_default();
    ensure_at!(
        docker_config == config_name,
        "manifest.json",
        "Config is {docker_config:?}, but the OCI manifest's config is {config_name:?}"
    );
    let docker_layers = docker.layers.as_deref().unwrap_or_default();
    ensure_at!(
        docker_layers == layer_names,
        "manifest.json",
        "Layers are {docker_layers:?}, but the OCI manifest's layers are {layer_names:?}"
    );
    let want_tags = vec![reference.to_string()];
    ensure_at!(
        docker.repo_tags.as_ref() == Some(&want_tags),
        "manifest.json",
        "RepoTags are {}, expected {want_tags:?} (the index.json reference)",
        docker
            .repo_tags
            .as_ref()
            .map_or_else(|| "missing".to_string(), |t| format!("{t:?}"))
    );
    Ok(())
}

/// The blobs come in exactly this order: for each image its config, layers and
/// manifest (a blob already listed skipped), then the image index; nothing after.
fn check_blob_order(
    entries: &[OuterEntry],
    images: &[Read1],
    attached: &[ValidArtifact],
    index: Option<&str>,
) -> Result<()> {
    let several = images.len() > 1 || !attached.is_empty();
    let mut expected: Vec<(String, String)> = Vec::new();
    let mut push = |name: &str, role: String| {
        if !expected.iter().any(|(n, _)| n == name) {
            expected.push((name.to_string(), role));
        }
    };
    for (k, m) in images.iter().enumerate() {
        let of = if several {
            format!(" of image {k}")
        } else {
            String::new()
        };
        push(&m.config_name, format!("config{of}"));
        for (i, name) in m.layer_names.iter().enumerate() {
            push(name, format!("layer {i}{of}"));
        }
        push(&m.manifest_name, format!("OCI manifest{of}"));
    }
    for (k, a) in attached.iter().enumerate() {
        for (name, role) in a.blob_names.iter().zip(["config", "document", "manifest"]) {
            push(name, format!("{role} of artifact {k}"));
        }
    }
    if let Some(name) = index {
        push(name, "OCI image index".into());
    }
    let order = if several {
        "oci-layout, index.json, manifest.json, then per platform config, layers…, manifest \
         (a shared blob once), then per attached artifact config, document, manifest, then the \
         image index"
    } else {
        "oci-layout, index.json, manifest.json, config, layers…, manifest"
    };
    for (k, (want, role)) in expected.iter().enumerate() {
        let pos = k + FIXED_ENTRIES.len();
        match entries.get(pos) {
            None => bail_at!(
                want,
                "missing: expected as outer tar entry #{pos} ({role}), but the tarball ends after \
                 {} entries",
                entries.len()
            ),
            Some(e) => ensure_at!(
                e.name == *want,
                &e.name,
                "outer tar entry #{pos} must be the {role} `{want}`, found `{}` (order must be \
                 {order})",
                e.name
            ),
        }
    }
    if let Some(extra) = entries.get(FIXED_ENTRIES.len() + expected.len()) {
        let last = if several {
            "the OCI image index blob: not referenced by it or any manifest"
        } else {
            "the OCI manifest blob: not referenced by the manifest"
        };
        bail_at!(&extra.name, "unexpected outer tar entry after {last}");
    }
    Ok(())
}

/// The full reference from the two index.json annotations, which must agree.
fn index_reference(desc: &Descriptor) -> Result<String> {
    let get = |key: &str| -> Result<String> {
        desc.annotation(key).map(str::to_string).ok_or_else(|| {
            violation(
                "index.json",
                format!("manifests[0].annotations has no {key:?} (expected the full reference)"),
            )
        })
    };
    let containerd = get(ANNOTATION_CONTAINERD_NAME)?;
    let ref_name = get(ANNOTATION_REF_NAME)?;
    ensure_at!(
        containerd == ref_name,
        "index.json",
        "annotation {ANNOTATION_CONTAINERD_NAME:?} is {containerd:?} but \
         {ANNOTATION_REF_NAME:?} is {ref_name:?}: both must be the full reference"
    );
    check_reference(&containerd)?;
    Ok(containerd)
}

/// A loose check that `reference` is `name:tag` as `docker load` wants it.
fn check_reference(reference: &str) -> Result<()> {
    let last = reference.rsplit('/').next().unwrap_or_default();
    let tag = last.rsplit_once(':').map(|(_, t)| t);
    let name = tag.map_or(reference, |t| &reference[..reference.len() - t.len() - 1]);
    let tag_ok = tag.is_some_and(|t| {
        !t.is_empty()
            && t.len() <= 128
            && !t.starts_with(['.', '-'])
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    });
    let name_ok = !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b));
    ensure_at!(
        tag_ok && name_ok,
        "index.json",
        "reference {reference:?} is not of the form name:tag (e.g. localhost/hello:0.1.0)"
    );
    Ok(())
}
