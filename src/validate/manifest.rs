//! Strict checks of one image of the tarball: its OCI manifest, its config and
//! its layers, and how they refer to each other and to the blobs.
//!
//! In: the strict [`Archive`], the blobs of the outer tar, and the descriptor
//! (from `index.json`, or from the image index of a multi-platform tarball)
//! with the platform it claims. Out: the manifest's blob names ([`read`]), for
//! the blob-order check, then the [`ValidImage`] ([`finish`]: config, then each
//! layer checked by [`super::layers`] unless only blobs are asked for). Two
//! phases, so the order is reported before any layer is uncompressed. A layer
//! two platforms share is checked once. How far into the layers to look is a
//! [`Depth`] (a push reads only the blobs).

use std::collections::HashMap;
use std::io::{Read, Seek};

use anyhow::Result;
use serde_json::Value;

use super::blobs::{check_size, parse_canonical, read_doc, require_descriptor, Blobs, Listed};
use super::errors::{bail_at, ensure_at, from_failure, show, show_num};
use super::layers;
use super::outer::blob_name_of;
use super::valid::{ValidImage, ValidLayer};
use crate::oci::documents::{Descriptor, Manifest, Platform};
use crate::oci::media::{
    MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD, MEDIA_TYPE_MANIFEST,
};
use crate::oci::{Archive, Range};

/// How far to look into the layers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Depth {
    /// Outer tar, JSON documents, every blob's digest and size; layers are not
    /// uncompressed (their `diff_id`s and `files` are taken from the config / left empty).
    Blobs,
    Full,
}

/// An OCI manifest, read and checked on its own.
pub(super) struct Read1 {
    pub manifest_name: String,
    pub manifest_digest: String,
    manifest_bytes: Vec<u8>,
    config_desc: Descriptor,
    pub config_name: String,
    layer_descs: Vec<Descriptor>,
    pub layer_names: Vec<String>,
    platform: Platform,
}

/// Read the manifest the descriptor `at` points to.
pub(super) fn read<R: Read + Seek>(
    ar: &mut Archive<R>,
    blobs: &Blobs<'_>,
    at: Listed<'_>,
    platform: &Platform,
) -> Result<Read1> {
    let (manifest_name, manifest_bytes, manifest_value) =
        blobs.read_json(ar, at, "OCI manifest")?;
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
    let Some(config_desc) = manifest.config else {
        bail_at!(
            &manifest_name,
            "invalid OCI image manifest: `config` is missing"
        );
    };
    let Some(layer_descs) = manifest.layers else {
        bail_at!(
            &manifest_name,
            "invalid OCI image manifest: `layers` is not an array"
        );
    };
    let (config_media_type, _) = require_descriptor(&manifest_name, "config", &config_desc)?;
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
            media_type == MEDIA_TYPE_LAYER_GZIP || media_type == MEDIA_TYPE_LAYER_ZSTD,
            &manifest_name,
            "OCI manifest {field}.mediaType is {media_type:?}, expected {MEDIA_TYPE_LAYER_GZIP:?} or {:?}",
            MEDIA_TYPE_LAYER_ZSTD
        );
        let name = blob_name_of(&manifest_name, &field, &layer.digest)?;
        ensure_at!(
            !layer_names.contains(&name) && name != config_name,
            &manifest_name,
            "OCI manifest {field} `{name}` is listed more than once"
        );
        layer_names.push(name);
    }
    Ok(Read1 {
        manifest_name,
        manifest_digest: at.desc.digest.clone(),
        manifest_bytes,
        config_desc,
        config_name,
        layer_descs,
        layer_names,
        platform: platform.clone(),
    })
}

/// Check the config and layers of a manifest [`read`] found; `checked` holds
/// the layers already checked (by digest) for another platform.
pub(super) fn finish<R: Read + Seek>(
    ar: &mut Archive<R>,
    blobs: &Blobs<'_>,
    m: Read1,
    reference: &str,
    (mtime, depth): (u64, Depth),
    checked: &mut HashMap<String, ValidLayer>,
) -> Result<ValidImage> {
    let config_range = blobs.find(&m.manifest_name, "config", &m.config_name)?;
    check_size(
        &m.manifest_name,
        "OCI manifest config",
        &m.config_name,
        &m.config_desc,
        config_range,
    )?;
    let config_bytes = read_doc(ar, &m.config_name, config_range, "image config")?;
    let config = parse_canonical(&m.config_name, "image config", &config_bytes)?;
    let diff_ids = check_config(&m.config_name, &config, &m.platform, m.layer_descs.len())?;
    let layers = check_layers(ar, blobs, &m, diff_ids, (mtime, depth), checked)?;
    Ok(ValidImage {
        reference: reference.to_string(),
        manifest_digest: m.manifest_digest,
        manifest_size: m.manifest_bytes.len() as u64,
        config_digest: m.config_desc.digest,
        config_size: config_bytes.len() as u64,
        layers,
        architecture: m.platform.architecture,
        os: m.platform.os,
        variant: m.platform.variant,
        mtime,
        config,
        manifest_bytes: m.manifest_bytes,
        config_bytes,
    })
}

/// The image config `config_name`: a JSON object whose architecture, os and
/// variant are the platform's and whose `rootfs` lists one diff_id per layer
/// (returned, for the layers to be checked against).
fn check_config<'c>(
    config_name: &str,
    config: &'c Value,
    platform: &Platform,
    layer_count: usize,
) -> Result<&'c [Value]> {
    let Some(config_obj) = config.as_object() else {
        bail_at!(config_name, "image config is not a JSON object");
    };
    let config_str = |key: &str| -> Result<Option<&str>> {
        match config_obj.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => bail_at!(
                config_name,
                "image config `{key}` is {other}, expected a string"
            ),
        }
    };
    let architecture = config_str("architecture")?;
    ensure_at!(
        architecture == Some(platform.architecture.as_str()),
        config_name,
        "image config architecture is {}, but index.json platform says {:?}",
        show(architecture),
        platform.architecture
    );
    let os = config_str("os")?;
    ensure_at!(
        os == Some(platform.os.as_str()),
        config_name,
        "image config os is {}, but index.json platform says {:?}",
        show(os),
        platform.os
    );
    let variant = config_str("variant")?;
    ensure_at!(
        variant == platform.variant.as_deref(),
        config_name,
        "image config variant is {}, but index.json platform says {}",
        show(variant),
        show(platform.variant.as_deref())
    );
    let rootfs = config_obj.get("rootfs");
    let rootfs_type = rootfs.and_then(|r| r.get("type"));
    ensure_at!(
        rootfs_type == Some(&Value::String("layers".into())),
        config_name,
        "image config rootfs.type is {}, expected \"layers\"",
        rootfs_type.map_or_else(|| "missing".to_string(), |t| t.to_string())
    );
    let Some(diff_ids) = rootfs
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
    else {
        bail_at!(
            config_name,
            "image config rootfs.diff_ids is missing or not an array"
        );
    };
    ensure_at!(
        diff_ids.len() == layer_count,
        config_name,
        "image config has {} rootfs.diff_ids, but the OCI manifest has {} layers",
        diff_ids.len(),
        layer_count
    );
    Ok(diff_ids)
}

/// Each layer of the manifest `m`: present, of its descriptor's size, and
/// (unless only blobs are asked for) uncompressing to its `diff_ids` entry.
/// A layer in `checked` (by blob name) was uncompressed for another platform.
fn check_layers<R: Read + Seek>(
    ar: &mut Archive<R>,
    blobs: &Blobs<'_>,
    m: &Read1,
    diff_ids: &[Value],
    (mtime, depth): (u64, Depth),
    checked: &mut HashMap<String, ValidLayer>,
) -> Result<Vec<ValidLayer>> {
    let mut layers = Vec::with_capacity(m.layer_descs.len());
    for (i, (desc, name)) in m.layer_descs.iter().zip(&m.layer_names).enumerate() {
        let range = blobs.find(&m.manifest_name, &format!("layers[{i}]"), name)?;
        check_size(
            &m.manifest_name,
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
        let claimed = diff_ids[i].as_str();
        let diff_id_ok = |actual: &str| -> Result<()> {
            ensure_at!(
                claimed == Some(actual),
                &m.config_name,
                "image config rootfs.diff_ids[{i}] is {}, but layer {i} `{name}` uncompresses to {actual}",
                diff_ids[i]
            );
            Ok(())
        };
        let layer = match checked.get(name) {
            Some(done) => done.clone(),
            None => {
                let layer = uncompress_layer(ar, (i, name, range), desc, mtime, diff_id_ok)?;
                checked.insert(name.clone(), layer.clone());
                layer
            }
        };
        diff_id_ok(&layer.diff_id)?;
        layers.push(layer);
    }
    Ok(layers)
}

/// Uncompress layer `i` (blob `name` at `range`) and check its tar; a wrong
/// diff_id (judged by `diff_id_ok`) is the more fundamental error, so it is
/// reported before any problem in the tar.
fn uncompress_layer<R: Read + Seek>(
    ar: &mut Archive<R>,
    (i, name, range): (usize, &str, Range),
    desc: &Descriptor,
    mtime: u64,
    diff_id_ok: impl Fn(&str) -> Result<()>,
) -> Result<ValidLayer> {
    let label = format!("layer {i}");
    let blob = ar.open_range(name, range).map_err(from_failure)?;
    let declared = desc.media_type.as_deref().unwrap_or_default();
    let zstd = declared == MEDIA_TYPE_LAYER_ZSTD;
    let found = layers::check_layer(name, &label, blob, mtime, zstd)?;
    diff_id_ok(&found.diff_id)?;
    found.tar_problem.map_or(Ok(()), Err)?;
    Ok(ValidLayer {
        digest: desc.digest.clone(),
        size: range.size,
        diff_id: found.diff_id,
        uncompressed_size: found.uncompressed_size,
        files: found.files,
    })
}
