//! Strict checks of the tarball's top documents: `oci-layout`, `index.json`
//! (one manifest, or one image index of several platforms), the image index,
//! the docker `manifest.json`, and the order of the blobs.
//!
//! In: the strict [`Archive`] and the checked outer entries. Out: the
//! [`ValidSet`] — every image's manifest, config and layers checked by
//! [`super::manifest`] (layers by [`super::layers`] unless only blobs are asked
//! for). Documents are parsed into [`crate::oci::documents`] types; every field
//! cargo-slim's layout requires is checked here by name. The shared helpers
//! (canonical JSON, bounded reads of a document, descriptor sizes, the blobs by
//! name and [`Blobs::read_json`], which reads the index or manifest a
//! descriptor points to) live here too.

use std::collections::HashMap;
use std::io::{Read, Seek};

use anyhow::Result;
use serde_json::Value;

use super::artifacts;
use super::manifest;
use super::outer::{blob_name_of, OuterEntry, OuterTar, FIXED_ENTRIES};
use super::{
    bail_at, ensure_at, from_failure, platform_order, violation, Depth, ValidSet,
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
    OCI_LAYOUT,
};
pub(super) use crate::oci::canonical::canonical_json;
use crate::oci::documents::{Descriptor, DockerEntry, Index, Platform};
use crate::oci::{Archive, Range, MAX_JSON};

/// Parse `bytes` as JSON and require them to be canonical.
pub(super) fn parse_canonical(entry: &str, what: &str, bytes: &[u8]) -> Result<Value> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| violation(entry, format!("{what} is not valid JSON: {e}")))?;
    let canonical = canonical_json(&value);
    if canonical != bytes {
        let pos = canonical
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| canonical.len().min(bytes.len()));
        bail_at!(
            entry,
            "{what} is not canonical JSON (compact, object keys sorted): first difference at byte \
             {pos}: expected {:?}, found {:?} ({} canonical bytes, {} actual)",
            snippet(&canonical, pos),
            snippet(bytes, pos),
            canonical.len(),
            bytes.len()
        );
    }
    Ok(value)
}

fn snippet(bytes: &[u8], pos: usize) -> String {
    let end = (pos + 24).min(bytes.len());
    String::from_utf8_lossy(&bytes[pos.min(end)..end]).into_owned()
}

/// `"value"` or `missing`, for messages.
pub(super) fn show(v: Option<&str>) -> String {
    v.map_or_else(|| "missing".to_string(), |s| format!("{s:?}"))
}

pub(super) fn show_num(v: Option<u64>) -> String {
    v.map_or_else(|| "missing".to_string(), |n| n.to_string())
}

/// The blobs of the outer tar by name.
pub(super) struct Blobs<'a>(HashMap<&'a str, Range>);

/// A descriptor and where it is listed: `field` (`manifests[0]`) of the
/// document `referrer` (`index.json`, an image index blob), both named in errors.
#[derive(Clone, Copy)]
pub(super) struct Listed<'a> {
    pub referrer: &'a str,
    pub field: &'a str,
    pub desc: &'a Descriptor,
}

impl<'a> Blobs<'a> {
    pub fn new(entries: &'a [OuterEntry]) -> Blobs<'a> {
        Blobs(entries.iter().map(|e| (e.name.as_str(), e.range)).collect())
    }

    /// The range of blob `name`, which `referrer`'s `field` points to.
    pub fn find(&self, referrer: &str, field: &str, name: &str) -> Result<Range> {
        self.0.get(name).copied().ok_or_else(|| {
            violation(
                referrer,
                format!("{field} points to `{name}`, which is not in the tarball"),
            )
        })
    }

    /// The JSON document (`what`: an index or a manifest) the descriptor `at`
    /// points to: its blob name, its bytes (present, of the descriptor's size,
    /// canonical JSON) and their value.
    pub fn read_json<R: Read + Seek>(
        &self,
        ar: &mut Archive<R>,
        at: Listed<'_>,
        what: &str,
    ) -> Result<(String, Vec<u8>, Value)> {
        let Listed {
            referrer,
            field,
            desc,
        } = at;
        let name = blob_name_of(referrer, field, &desc.digest)?;
        let range = self.find(referrer, field, &name)?;
        check_size(referrer, &format!("{referrer} {field}"), &name, desc, range)?;
        let bytes = read_doc(ar, &name, range, what)?;
        let value = parse_canonical(&name, what, &bytes)?;
        Ok((name, bytes, value))
    }
}

/// The bytes of a small outer entry (a JSON document), refused when larger
/// than [`MAX_JSON`] before anything is read.
pub(super) fn read_doc<R: Read + Seek>(
    ar: &mut Archive<R>,
    name: &str,
    range: Range,
    what: &str,
) -> Result<Vec<u8>> {
    ensure_at!(
        range.size <= MAX_JSON,
        name,
        "{what} is {} bytes, more than the {MAX_JSON} bytes a JSON document may have",
        range.size
    );
    let mut buf = Vec::with_capacity(range.size as usize);
    ar.open_range(name, range)
        .map_err(from_failure)?
        .read_to_end(&mut buf)
        .map_err(|e| anyhow::anyhow!("reading outer tar entry `{name}`: {e}"))?;
    ensure_at!(
        buf.len() as u64 == range.size,
        name,
        "{what} is truncated: the tar header says {} bytes, the file has {}",
        range.size,
        buf.len()
    );
    Ok(buf)
}

/// A descriptor must carry a media type and a size (the digest is checked
/// where it is turned into a blob name).
pub(super) fn require_descriptor(
    entry: &str,
    field: &str,
    d: &Descriptor,
) -> Result<(String, u64)> {
    let Some(media_type) = d.media_type.clone() else {
        bail_at!(entry, "{field}.mediaType is missing");
    };
    let Some(size) = d.size else {
        bail_at!(
            entry,
            "{field}.size is missing or not a non-negative integer"
        );
    };
    Ok((media_type, size))
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
    let layout = read_doc(ar, "oci-layout", entries[0].range, "oci-layout")?;
    ensure_at!(
        layout.as_slice() == OCI_LAYOUT,
        "oci-layout",
        "content is {:?}, expected {:?}",
        String::from_utf8_lossy(&layout),
        String::from_utf8_lossy(OCI_LAYOUT)
    );

    // index.json
    let index_bytes = read_doc(ar, "index.json", entries[1].range, "index.json")?;
    let index_value = parse_canonical("index.json", "OCI index", &index_bytes)?;
    let manifests = index_manifests("index.json", &index_value)?;
    ensure_at!(
        manifests.len() == 1,
        "index.json",
        "has {} manifest descriptors, expected exactly 1",
        manifests.len()
    );
    let top = &manifests[0];
    let (top_media_type, _) = require_descriptor("index.json", "manifests[0]", top)?;
    let reference = index_reference(top)?;
    let docker = docker_entry(ar, entries[2].range)?;

    let blobs = Blobs::new(&entries[3..]);
    // The manifests, each with its platform, and the image index (several platforms).
    let mut read = Vec::new();
    let mut attached = Vec::new();
    let mut index = None;
    if top_media_type == MEDIA_TYPE_MANIFEST {
        let platform = required_platform("index.json", "manifests[0]", top)?;
        let at = Listed {
            referrer: "index.json",
            field: "manifests[0]",
            desc: top,
        };
        read.push(manifest::read(ar, &blobs, at, &platform)?);
    } else if top_media_type == MEDIA_TYPE_INDEX {
        ensure_at!(
            top.platform.is_none(),
            "index.json",
            "manifests[0].mediaType says an image index, so manifests[0] must have no \
             platform (each manifest in the index has its own)"
        );
        let at = Listed {
            referrer: "index.json",
            field: "manifests[0]",
            desc: top,
        };
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
        let mut platforms: Vec<Platform> = Vec::new();
        for (i, d) in descs[..images_end].iter().enumerate() {
            let field = format!("manifests[{i}]");
            let (media_type, _) = require_descriptor(&name, &field, d)?;
            ensure_at!(
                media_type == MEDIA_TYPE_MANIFEST,
                &name,
                "{field}.mediaType is {media_type:?}, expected {MEDIA_TYPE_MANIFEST:?}"
            );
            let platform = required_platform(&name, &field, d)?;
            if let Some(prev) = platforms.last() {
                ensure_at!(
                    platform_order(prev) < platform_order(&platform),
                    &name,
                    "{field} is for {}, after {}: platforms must be distinct and in the \
                     order of cargo slim's architecture table (amd64, arm64, …)",
                    platform,
                    prev
                );
            }
            let at = Listed {
                referrer: &name,
                field: &field,
                desc: d,
            };
            read.push(manifest::read(ar, &blobs, at, &platform)?);
            platforms.push(platform);
        }
        let subjects: Vec<artifacts::Subject<'_>> = descs[..images_end]
            .iter()
            .map(|d| artifacts::Subject {
                digest: &d.digest,
                size: d.size.unwrap_or_default(),
            })
            .collect();
        let mut last_rank = 0;
        for (i, d) in descs.iter().enumerate().skip(images_end) {
            let field = format!("manifests[{i}]");
            ensure_at!(
                d.platform.as_ref().is_some_and(|p| p.os == "unknown"),
                &name,
                "{field} is an image after the attached artifacts: images come first"
            );
            let at = Listed {
                referrer: &name,
                field: &field,
                desc: d,
            };
            let a = artifacts::read(ar, &blobs, at, &subjects)?;
            let rank = subjects
                .iter()
                .position(|s| s.digest == a.subject)
                .unwrap_or(0);
            ensure_at!(
                rank >= last_rank,
                &name,
                "{field} is attached to image {rank}, after an artifact of image {last_rank}: \
                 artifacts come in the order of their images"
            );
            last_rank = rank;
            attached.push(a);
        }
        index = Some((top.digest.clone(), name, bytes));
    } else {
        bail_at!(
            "index.json",
            "manifests[0].mediaType is {top_media_type:?}, expected {MEDIA_TYPE_MANIFEST:?} \
             (one platform) or {MEDIA_TYPE_INDEX:?} (several)"
        );
    }

    // 1. Blob order: per image config, layers, manifest (a shared blob once); the index.
    check_blob_order(
        entries,
        &read,
        &attached,
        index.as_ref().map(|(_, name, _)| name.as_str()),
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
        Some((digest, _, bytes)) => (Some(digest), Some(bytes)),
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
    let Some(mut docker) = DockerEntry::list(&docker_value) else {
        bail_at!(
            "manifest.json",
            "invalid docker-archive manifest: not a JSON array"
        );
    };
    ensure_at!(
        docker.len() == 1,
        "manifest.json",
        "has {} entries, expected exactly 1",
        docker.len()
    );
    let docker = docker.remove(0);
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
    images: &[manifest::Read1],
    attached: &[artifacts::ValidArtifact],
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

pub(super) fn check_size(
    referrer: &str,
    field: &str,
    blob_name: &str,
    desc: &Descriptor,
    blob: Range,
) -> Result<()> {
    ensure_at!(
        desc.size == Some(blob.size),
        referrer,
        "{field} descriptor size is {}, but blob `{blob_name}` is {} bytes",
        show_num(desc.size),
        blob.size
    );
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
