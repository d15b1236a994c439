//! Strict checks of the JSON documents: `oci-layout`, `index.json`, the docker
//! `manifest.json`, the OCI manifest and the image config, and how they refer
//! to each other and to the blobs.
//!
//! In: the strict [`Archive`] and the checked outer entries. Out: the
//! [`ValidImage`] (with each layer checked by [`super::layers`] unless only
//! blobs are asked for). Documents are parsed into [`crate::oci::documents`]
//! types; every field cargo-slim's layout requires is checked here by name.

use std::collections::HashMap;
use std::io::{Read, Seek};

use anyhow::Result;
use serde_json::Value;

use super::outer::{blob_name_of, OuterEntry, OuterTar, FIXED_ENTRIES};
use super::{
    bail_at, ensure_at, from_failure, layers, violation, Depth, ValidImage, ValidLayer,
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX,
    MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST, OCI_LAYOUT,
};
use crate::oci::documents::{Descriptor, DockerEntry, Index, Manifest};
use crate::oci::{Archive, Range, MAX_JSON};

/// Compact JSON with object keys sorted by byte order, independent of
/// serde_json's `preserve_order` feature.
pub(super) fn canonical_json(v: &Value) -> Vec<u8> {
    fn write(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push(b'{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_scalar(&Value::String(k.clone()), out);
                    out.push(b':');
                    write(&map[k], out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(item, out);
                }
                out.push(b']');
            }
            scalar => write_scalar(scalar, out),
        }
    }
    fn write_scalar(v: &Value, out: &mut Vec<u8>) {
        // Serialising a scalar into a Vec cannot fail; an empty write would
        // only make the canonical form differ, never panic.
        let _ = serde_json::to_writer(&mut *out, v);
    }
    let mut out = Vec::new();
    write(v, &mut out);
    out
}

/// Parse `bytes` as JSON and require them to be canonical.
fn parse_canonical(entry: &str, what: &str, bytes: &[u8]) -> Result<Value> {
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
fn show(v: Option<&str>) -> String {
    v.map_or_else(|| "missing".to_string(), |s| format!("{s:?}"))
}

fn show_num(v: Option<u64>) -> String {
    v.map_or_else(|| "missing".to_string(), |n| n.to_string())
}

/// The bytes of a small outer entry (a JSON document), refused when larger
/// than [`MAX_JSON`] before anything is read.
fn read_doc<R: Read + Seek>(
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
fn require_descriptor(entry: &str, field: &str, d: &Descriptor) -> Result<(String, u64)> {
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

/// Every document check, then the layers (at `depth`).
pub(super) fn check<R: Read + Seek>(
    ar: &mut Archive<R>,
    outer: &OuterTar,
    depth: Depth,
) -> Result<ValidImage> {
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
    let index = Index::from_value(&index_value);
    ensure_at!(
        index.schema_version == Some(2),
        "index.json",
        "schemaVersion is {}, expected 2",
        show_num(index.schema_version)
    );
    ensure_at!(
        index.media_type.as_deref() == Some(MEDIA_TYPE_INDEX),
        "index.json",
        "mediaType is {}, expected {MEDIA_TYPE_INDEX:?}",
        show(index.media_type.as_deref())
    );
    let Some(manifests) = index.manifests else {
        bail_at!(
            "index.json",
            "invalid OCI image index: `manifests` is missing or not an array"
        );
    };
    ensure_at!(
        manifests.len() == 1,
        "index.json",
        "has {} manifest descriptors, expected exactly 1",
        manifests.len()
    );
    let index_desc = &manifests[0];
    let (index_media_type, _) = require_descriptor("index.json", "manifests[0]", index_desc)?;
    ensure_at!(
        index_media_type == MEDIA_TYPE_MANIFEST,
        "index.json",
        "manifests[0].mediaType is {index_media_type:?}, expected {MEDIA_TYPE_MANIFEST:?}"
    );
    let Some(platform) = &index_desc.platform else {
        bail_at!("index.json", "manifests[0] has no platform");
    };
    ensure_at!(
        !platform.architecture.is_empty() && !platform.os.is_empty(),
        "index.json",
        "manifests[0].platform architecture {:?} / os {:?} must not be empty",
        platform.architecture,
        platform.os
    );
    let reference = index_reference(index_desc)?;

    // manifest.json (docker-archive)
    let docker_bytes = read_doc(ar, "manifest.json", entries[2].range, "manifest.json")?;
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
    ensure_at!(
        docker.len() == 1,
        "manifest.json",
        "has {} entries, expected exactly 1",
        docker.len()
    );
    let docker = &docker[0];
    let Some(docker_config) = &docker.config else {
        bail_at!(
            "manifest.json",
            "invalid docker-archive manifest: `Config` is missing or not a string"
        );
    };
    let Some(docker_layers) = &docker.layers else {
        bail_at!(
            "manifest.json",
            "invalid docker-archive manifest: `Layers` is not an array of strings"
        );
    };

    let blobs: HashMap<&str, Range> = entries[3..]
        .iter()
        .map(|e| (e.name.as_str(), e.range))
        .collect();
    let find_blob = |referrer: &str, field: &str, name: &str| -> Result<Range> {
        blobs.get(name).copied().ok_or_else(|| {
            violation(
                referrer,
                format!("{field} points to `{name}`, which is not in the tarball"),
            )
        })
    };

    // 3/4/6. The OCI manifest.
    let manifest_name = blob_name_of("index.json", "manifests[0]", &index_desc.digest)?;
    let manifest_range = find_blob("index.json", "manifests[0]", &manifest_name)?;
    check_size(
        "index.json",
        "index.json manifests[0]",
        &manifest_name,
        index_desc,
        manifest_range,
    )?;
    let manifest_bytes = read_doc(ar, &manifest_name, manifest_range, "OCI manifest")?;
    let manifest_value = parse_canonical(&manifest_name, "OCI manifest", &manifest_bytes)?;
    let manifest = Manifest::from_value(&manifest_value);
    ensure_at!(
        manifest.schema_version == Some(2),
        &manifest_name,
        "OCI manifest schemaVersion is {}, expected 2",
        show_num(manifest.schema_version)
    );
    ensure_at!(
        manifest.media_type.as_deref() == Some(MEDIA_TYPE_MANIFEST),
        &manifest_name,
        "OCI manifest mediaType is {}, expected {MEDIA_TYPE_MANIFEST:?}",
        show(manifest.media_type.as_deref())
    );
    let Some(config_desc) = &manifest.config else {
        bail_at!(
            &manifest_name,
            "invalid OCI image manifest: `config` is missing"
        );
    };
    let Some(layer_descs) = &manifest.layers else {
        bail_at!(
            &manifest_name,
            "invalid OCI image manifest: `layers` is not an array"
        );
    };
    let (config_media_type, _) = require_descriptor(&manifest_name, "config", config_desc)?;
    ensure_at!(
        config_media_type == MEDIA_TYPE_CONFIG,
        &manifest_name,
        "OCI manifest config.mediaType is {config_media_type:?}, expected {MEDIA_TYPE_CONFIG:?}"
    );
    ensure_at!(
        !layer_descs.is_empty(),
        &manifest_name,
        "OCI manifest has no layers"
    );
    let config_name = blob_name_of(&manifest_name, "config", &config_desc.digest)?;
    let mut layer_names = Vec::with_capacity(layer_descs.len());
    for (i, layer) in layer_descs.iter().enumerate() {
        let field = format!("layers[{i}]");
        let (media_type, _) = require_descriptor(&manifest_name, &field, layer)?;
        ensure_at!(
            media_type == MEDIA_TYPE_LAYER_GZIP,
            &manifest_name,
            "OCI manifest {field}.mediaType is {media_type:?}, expected {MEDIA_TYPE_LAYER_GZIP:?}"
        );
        let name = blob_name_of(&manifest_name, &field, &layer.digest)?;
        ensure_at!(
            !layer_names.contains(&name) && name != config_name,
            &manifest_name,
            "OCI manifest {field} `{name}` is listed more than once"
        );
        layer_names.push(name);
    }

    // 1. Blob order: config, layers in manifest order, manifest.
    check_blob_order(entries, &config_name, &layer_names, &manifest_name)?;

    // 3/6/5. Config.
    let config_range = find_blob(&manifest_name, "config", &config_name)?;
    check_size(
        &manifest_name,
        "OCI manifest config",
        &config_name,
        config_desc,
        config_range,
    )?;
    let config_bytes = read_doc(ar, &config_name, config_range, "image config")?;
    let config = parse_canonical(&config_name, "image config", &config_bytes)?;
    let Some(config_obj) = config.as_object() else {
        bail_at!(&config_name, "image config is not a JSON object");
    };
    let config_str = |key: &str| -> Result<Option<&str>> {
        match config_obj.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => bail_at!(
                &config_name,
                "image config `{key}` is {other}, expected a string"
            ),
        }
    };
    let architecture = config_str("architecture")?;
    ensure_at!(
        architecture == Some(platform.architecture.as_str()),
        &config_name,
        "image config architecture is {}, but index.json platform says {:?}",
        show(architecture),
        platform.architecture
    );
    let os = config_str("os")?;
    ensure_at!(
        os == Some(platform.os.as_str()),
        &config_name,
        "image config os is {}, but index.json platform says {:?}",
        show(os),
        platform.os
    );
    let variant = config_str("variant")?;
    ensure_at!(
        variant == platform.variant.as_deref(),
        &config_name,
        "image config variant is {}, but index.json platform says {}",
        show(variant),
        show(platform.variant.as_deref())
    );
    let rootfs = config_obj.get("rootfs");
    let rootfs_type = rootfs.and_then(|r| r.get("type"));
    ensure_at!(
        rootfs_type == Some(&Value::String("layers".into())),
        &config_name,
        "image config rootfs.type is {}, expected \"layers\"",
        rootfs_type.map_or_else(|| "missing".to_string(), |t| t.to_string())
    );
    let Some(diff_ids) = rootfs
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
    else {
        bail_at!(
            &config_name,
            "image config rootfs.diff_ids is missing or not an array"
        );
    };
    ensure_at!(
        diff_ids.len() == layer_descs.len(),
        &config_name,
        "image config has {} rootfs.diff_ids, but the OCI manifest has {} layers",
        diff_ids.len(),
        layer_descs.len()
    );

    // 3/4/5/7/8. Layers.
    let mut layers = Vec::with_capacity(layer_descs.len());
    for (i, (desc, name)) in layer_descs.iter().zip(&layer_names).enumerate() {
        let range = find_blob(&manifest_name, &format!("layers[{i}]"), name)?;
        check_size(
            &manifest_name,
            &format!("OCI manifest layers[{i}]"),
            name,
            desc,
            range,
        )?;
        if depth == Depth::Blobs {
            layers.push(ValidLayer {
                digest: desc.digest.clone(),
                size: range.size,
                diff_id: diff_ids[i].as_str().unwrap_or_default().to_string(),
                uncompressed_size: 0,
                files: Vec::new(),
            });
            continue;
        }
        let label = format!("layer {i}");
        let blob = ar.open_range(name, range).map_err(from_failure)?;
        let checked = layers::check_layer(name, &label, blob, mtime)?;
        let claimed = diff_ids[i].as_str();
        ensure_at!(
            claimed == Some(checked.diff_id.as_str()),
            &config_name,
            "image config rootfs.diff_ids[{i}] is {}, but layer {i} `{name}` uncompresses to {}",
            diff_ids[i],
            checked.diff_id
        );
        checked.tar_problem.map_or(Ok(()), Err)?;
        layers.push(ValidLayer {
            digest: desc.digest.clone(),
            size: range.size,
            diff_id: checked.diff_id,
            uncompressed_size: checked.uncompressed_size,
            files: checked.files,
        });
    }

    // 3. docker manifest.json agrees with the OCI manifest and the reference.
    ensure_at!(
        *docker_config == config_name,
        "manifest.json",
        "Config is {docker_config:?}, but the OCI manifest's config is {config_name:?}"
    );
    ensure_at!(
        *docker_layers == layer_names,
        "manifest.json",
        "Layers are {docker_layers:?}, but the OCI manifest's layers are {layer_names:?}"
    );
    let want_tags = vec![reference.clone()];
    ensure_at!(
        docker.repo_tags.as_ref() == Some(&want_tags),
        "manifest.json",
        "RepoTags are {}, expected {want_tags:?} (the index.json reference)",
        docker
            .repo_tags
            .as_ref()
            .map_or_else(|| "missing".to_string(), |t| format!("{t:?}"))
    );

    Ok(ValidImage {
        reference,
        manifest_digest: index_desc.digest.clone(),
        manifest_size: manifest_bytes.len() as u64,
        config_digest: config_desc.digest.clone(),
        config_size: config_bytes.len() as u64,
        layers,
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        mtime,
        config,
        manifest_bytes,
        config_bytes,
    })
}

/// The blobs come in exactly this order: config, layers, manifest; nothing after.
fn check_blob_order(
    entries: &[OuterEntry],
    config_name: &str,
    layer_names: &[String],
    manifest_name: &str,
) -> Result<()> {
    let mut expected: Vec<(String, String)> = vec![(config_name.to_string(), "config".into())];
    for (i, name) in layer_names.iter().enumerate() {
        expected.push((name.clone(), format!("layer {i}")));
    }
    expected.push((manifest_name.to_string(), "OCI manifest".into()));
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
                 oci-layout, index.json, manifest.json, config, layers…, manifest)",
                e.name
            ),
        }
    }
    if let Some(extra) = entries.get(FIXED_ENTRIES.len() + expected.len()) {
        bail_at!(
            &extra.name,
            "unexpected outer tar entry after the OCI manifest blob: not referenced by the manifest"
        );
    }
    Ok(())
}

fn check_size(
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
