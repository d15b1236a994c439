//! The [`Peek`] of a docker-archive (`manifest.json` + config + layer files).
//!
//! In: an archive with a `manifest.json` listing one image. Out: the OCI image
//! manifest a registry stores for it, written here (a docker-archive has
//! none): its layers are the files as stored — uncompressed (`…layer.v1.tar`,
//! digest = the config's `diff_id`) or gzip (`…tar+gzip`, digest hashed here) —
//! and its config is the stored config file. Nothing is recompressed: the
//! pushed bytes are the archive's, so the digest a later `docker save` shows is
//! the one pushed, and podman and skopeo pull uncompressed OCI layers.

use std::io::{Read, Seek};

use serde_json::{json, Value};

use super::{BlobRef, Check, Document, Peek};
use crate::digest::{sha256_digest, sha256_hex_of, Sha256Writer};
use crate::error::Failure;
use crate::oci::canonical::canonical_json;
use crate::oci::media::{
    MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST,
};
use crate::oci::{compression, Archive, Config, Format, LayerRef, Range, MAX_JSON};

pub(super) fn peek<R: Read + Seek>(ar: &mut Archive<R>) -> Result<Peek, Failure> {
    // 1. The one image of `manifest.json`, and its config.
    let item = ar.docker_entry("push sends one at a time")?;
    let config_name = item
        .config
        .clone()
        .ok_or_else(|| Failure::new("`manifest.json` has no `Config` path"))?;
    let config_bytes = ar.read_small(&config_name, MAX_JSON, "an image config")?;
    let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| {
        Failure::new(format!("`{config_name}` is not valid JSON")).detail(e.to_string())
    })?;
    let config_digest = sha256_digest(&config_bytes);
    let config_range = ar.locate(&config_name)?;
    // 2. Its layer files, each paired with the config's `diff_id`.
    let names = item
        .layers
        .clone()
        .ok_or_else(|| Failure::new("`manifest.json` `Layers` is not an array of layer paths"))?;
    let diff_ids = Config::from_value(&config).diff_ids.unwrap_or_default();
    if diff_ids.len() != names.len() {
        return Err(Failure::new(format!(
            "`manifest.json` lists {} layers but the config's rootfs.diff_ids has {}",
            names.len(),
            diff_ids.len()
        )));
    }
    let name = item.repo_tags.as_ref().and_then(|t| t.first()).cloned();
    let mut peek = Peek::new(Format::Docker, name);
    peek.top.media_type = MEDIA_TYPE_MANIFEST.into();
    peek.blobs.push(BlobRef {
        kind: "config",
        digest: config_digest.clone(),
        range: config_range,
    });
    peek.checks
        .push(Check::Blob(config_digest.clone(), config_range));
    // 3. Each layer as an OCI layer descriptor.
    let mut layers = Vec::new();
    for (name, diff_id) in names.iter().zip(diff_ids) {
        let (media_type, digest, range) = layer(ar, name, diff_id.as_deref())?;
        layers.push(json!({"mediaType": media_type, "digest": digest, "size": range.size}));
        peek.checks.push(Check::Layer(LayerRef {
            name: name.clone(),
            digest: Some(digest.clone()),
            diff_id,
        }));
        if !peek.blobs.iter().any(|b| b.digest == digest) {
            peek.blobs.push(BlobRef {
                kind: "layer",
                digest,
                range,
            });
        }
    }
    // 4. The manifest a registry stores for it.
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": {"mediaType": MEDIA_TYPE_CONFIG, "digest": config_digest, "size": config_bytes.len()},
        "layers": layers,
    });
    let bytes = canonical_json(&manifest);
    peek.top = Document {
        digest: sha256_digest(&bytes),
        media_type: MEDIA_TYPE_MANIFEST.into(),
        bytes,
        platform: None,
    };
    Ok(peek)
}

/// The media type, blob digest and place of the layer file `name` whose
/// uncompressed digest the config gives as `diff_id`.
fn layer<R: Read + Seek>(
    ar: &mut Archive<R>,
    name: &str,
    diff_id: Option<&str>,
) -> Result<(&'static str, String, Range), Failure> {
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
    let n = crate::io::read_up_to(&mut r, &mut head)
        .map_err(|e| Failure::new(format!("cannot read layer `{name}`")).detail(e.to_string()))?;
    match compression(&head[..n]) {
        None => Ok((MEDIA_TYPE_LAYER_TAR, diff_id.to_string(), range)),
        Some("gzip") => {
            // The blob digest is not recorded anywhere: hash the file.
            let (mut r, _) = ar.open_file(name)?;
            let mut h = Sha256Writer::new();
            std::io::copy(&mut r, &mut h).map_err(|e| {
                Failure::new(format!("cannot read layer `{name}`")).detail(e.to_string())
            })?;
            Ok((MEDIA_TYPE_LAYER_GZIP, h.digest(), range))
        }
        Some(other) => Err(
            Failure::new(format!("layer `{name}` is {other}-compressed"))
                .detail("push sends docker-archive layers that are uncompressed or gzip"),
        ),
    }
}
