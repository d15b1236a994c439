//! Strict checks of the artifacts (SBOMs, cosign signatures) an image index lists
//! after its images.
//!
//! In: the strict [`Archive`], the blobs of the outer tar, an index entry with
//! platform `unknown/unknown`, and the image manifests of the same index. Out: a
//! [`ValidArtifact`] — or a violation naming the entry — once the descriptor
//! (`artifactType`, the SBOM annotation, `vnd.docker.reference.digest`), the
//! artifact manifest (canonical JSON, `artifactType`, the empty config `{}`,
//! exactly one layer of the artifact's type, `subject` = one of the images'
//! manifests, digest and size), and the layer (a JSON document of at most
//! [`MAX_JSON`] bytes; for a signature, the simple-signing payload with a base64
//! `dev.cosignproject.cosign/signature` annotation) are as `image::Artifact`
//! writes them. Why strict: push
//! sends these as referrers of the image, so a wrong subject would attach an SBOM
//! to the wrong image in the registry.

use std::io::{Read, Seek};

use anyhow::Result;

use super::blobs::{check_size, read_doc, require_descriptor, Blobs, Listed};
use super::errors::{bail_at, ensure_at, show, show_num, violation};
use super::outer::blob_name_of;
use super::valid::ValidArtifact;
use crate::oci::documents::{Descriptor, Manifest, ANNOTATION_DOCKER_REF_DIGEST, ANNOTATION_SBOM};
use crate::oci::media::{
    artifact_layer_accepted, artifact_layer_media_type, ANNOTATION_COSIGN_SIGNATURE,
    MEDIA_TYPE_COSIGN_SIGNATURE, MEDIA_TYPE_DSSE, MEDIA_TYPE_EMPTY, MEDIA_TYPE_IN_TOTO,
    MEDIA_TYPE_MANIFEST,
};
use crate::oci::{Archive, Range, SbomFormat, MAX_JSON};

/// sha256 of `{}`, the empty config.
const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// An image manifest of the index, as a subject may name it.
pub(super) struct Subject<'a> {
    pub digest: &'a str,
    pub size: u64,
}

/// Check the artifact the descriptor `at` (in the image index) points to.
pub(super) fn read<R: Read + Seek>(
    ar: &mut Archive<R>,
    blobs: &Blobs<'_>,
    at: Listed<'_>,
    images: &[Subject<'_>],
) -> Result<ValidArtifact> {
    let (artifact_type, format) = check_descriptor(at)?;
    let (name, bytes, value) = blobs.read_json(ar, at, "artifact manifest")?;
    let m = Manifest::from_value(&value);
    ensure_at!(
        m.schema_version == Some(2) && m.media_type.as_deref() == Some(MEDIA_TYPE_MANIFEST),
        &name,
        "artifact manifest schemaVersion/mediaType are {}/{}, expected 2/{MEDIA_TYPE_MANIFEST:?}",
        show_num(m.schema_version),
        show(m.media_type.as_deref())
    );
    ensure_at!(
        m.artifact_type.as_deref() == Some(artifact_type.as_str()),
        &name,
        "artifactType is {}, but the index says {artifact_type:?}",
        show(m.artifact_type.as_deref())
    );
    let config_name = check_empty_config(ar, blobs, &name, &m)?;
    let (layer, layer_name, layer_range) =
        check_document(ar, blobs, &name, &m, (&artifact_type, format))?;
    let subject = check_subject(at, &name, &m, images)?;
    Ok(ValidArtifact {
        manifest_digest: at.desc.digest.clone(),
        subject: subject.to_string(),
        artifact_type,
        format: format.to_string(),
        layer_digest: layer.digest.clone(),
        layer_size: layer_range.size,
        layer_media_type: layer.media_type.clone().unwrap_or_default(),
        manifest_bytes: bytes,
        blob_names: [config_name, layer_name, name],
    })
}

/// The index's descriptor of an artifact: an OCI manifest with an SBOM's
/// `artifactType` (returned, with the format's name) and the matching SBOM
/// annotation.
fn check_descriptor(at: Listed<'_>) -> Result<(String, &'static str)> {
    let Listed {
        referrer,
        field,
        desc,
    } = at;
    let (media_type, _) = require_descriptor(referrer, field, desc)?;
    ensure_at!(
        media_type == MEDIA_TYPE_MANIFEST,
        referrer,
        "{field}.mediaType is {media_type:?}, expected {MEDIA_TYPE_MANIFEST:?} (an artifact manifest)"
    );
    let artifact_type = desc.artifact_type.clone().unwrap_or_default();
    if artifact_type == MEDIA_TYPE_COSIGN_SIGNATURE {
        return Ok((artifact_type, "cosign"));
    }
    if artifact_type == MEDIA_TYPE_IN_TOTO {
        return Ok((artifact_type, crate::oci::media::FORMAT_PROVENANCE));
    }
    if artifact_type == crate::oci::media::MEDIA_TYPE_SIGSTORE_BUNDLE {
        return Ok((artifact_type, crate::oci::media::FORMAT_BUNDLE));
    }
    let Some(format) = SbomFormat::from_media_type(&artifact_type).map(SbomFormat::name) else {
        bail_at!(
            referrer,
            "{field} has platform unknown/unknown (an attached artifact) but its artifactType is \
             {}, expected one of {:?}, {MEDIA_TYPE_COSIGN_SIGNATURE:?}, {MEDIA_TYPE_IN_TOTO:?} or a Sigstore bundle",
            show(desc.artifact_type.as_deref()),
            SbomFormat::ALL.map(SbomFormat::media_type)
        );
    };
    ensure_at!(
        desc.annotation(ANNOTATION_SBOM) == Some(format),
        referrer,
        "{field}.annotations[{ANNOTATION_SBOM:?}] is {}, expected {format:?}",
        show(desc.annotation(ANNOTATION_SBOM))
    );
    Ok((artifact_type, format))
}

/// The artifact manifest `name`'s config is the empty config `{}`; returns its blob name.
fn check_empty_config<R: Read + Seek>(
    ar: &mut Archive<R>,
    blobs: &Blobs<'_>,
    name: &str,
    m: &Manifest,
) -> Result<String> {
    let Some(config) = &m.config else {
        bail_at!(name, "artifact manifest has no config");
    };
    ensure_at!(
        config.media_type.as_deref() == Some(MEDIA_TYPE_EMPTY)
            && config.digest == EMPTY_DIGEST
            && config.size == Some(2),
        name,
        "config is {} {} ({} bytes), expected the empty config {MEDIA_TYPE_EMPTY:?} {EMPTY_DIGEST} (2 bytes)",
        show(config.media_type.as_deref()),
        config.digest,
        show_num(config.size)
    );
    let config_name = blob_name_of(name, "config", &config.digest)?;
    let config_range = blobs.find(name, "config", &config_name)?;
    check_size(name, "config", &config_name, config, config_range)?;
    let config_bytes = read_doc(ar, &config_name, config_range, "empty config")?;
    ensure_at!(
        config_bytes == b"{}",
        &config_name,
        "the empty config must be `{{}}`"
    );
    Ok(config_name)
}

/// The artifact manifest `name` has one layer: a JSON document of the
/// artifact's type (and `format`), at most [`MAX_JSON`] bytes. Returns its
/// descriptor, blob name and range.
fn check_document<'m, R: Read + Seek>(
    ar: &mut Archive<R>,
    blobs: &Blobs<'_>,
    name: &str,
    m: &'m Manifest,
    (artifact_type, format): (&str, &str),
) -> Result<(&'m Descriptor, String, Range)> {
    let layers = m.layers.as_deref().unwrap_or_default();
    let [layer] = layers else {
        bail_at!(
            name,
            "artifact manifest has {} layers, expected exactly 1 (the document)",
            layers.len()
        );
    };
    let layer_type = artifact_layer_media_type(artifact_type);
    ensure_at!(
        artifact_layer_accepted(artifact_type, layer.media_type.as_deref().unwrap_or("")),
        name,
        "layers[0].mediaType is {}, expected {layer_type:?}{}",
        show(layer.media_type.as_deref()),
        if artifact_type == MEDIA_TYPE_IN_TOTO {
            format!(" or {MEDIA_TYPE_DSSE:?}")
        } else {
            String::new()
        }
    );
    if artifact_type == MEDIA_TYPE_COSIGN_SIGNATURE {
        check_signature_annotation(name, layer)?;
    }
    let layer_name = blob_name_of(name, "layers[0]", &layer.digest)?;
    let layer_range = blobs.find(name, "layers[0]", &layer_name)?;
    check_size(name, "layers[0]", &layer_name, layer, layer_range)?;
    ensure_at!(
        layer_range.size <= MAX_JSON,
        &layer_name,
        "the {format} document is {} bytes, more than {MAX_JSON}",
        layer_range.size
    );
    let doc = read_doc(ar, &layer_name, layer_range, "artifact document")?;
    serde_json::from_slice::<serde_json::Value>(&doc).map_err(|e| {
        violation(
            &layer_name,
            format!("the {format} document is not JSON: {e}"),
        )
    })?;
    Ok((layer, layer_name, layer_range))
}

/// A signature's layer carries its signature: base64 in the cosign annotation.
fn check_signature_annotation(name: &str, layer: &Descriptor) -> Result<()> {
    use base64::Engine as _;
    let sig = layer.annotation(ANNOTATION_COSIGN_SIGNATURE).unwrap_or("");
    ensure_at!(
        !sig.is_empty() && base64::engine::general_purpose::STANDARD.decode(sig).is_ok(),
        name,
        "layers[0].annotations[{ANNOTATION_COSIGN_SIGNATURE:?}] is {}, expected the base64 of a signature",
        show(layer.annotation(ANNOTATION_COSIGN_SIGNATURE))
    );
    Ok(())
}

/// The artifact manifest `name`'s subject is one of the images of this index
/// (`images`), as the descriptor's `vnd.docker.reference.digest` says too;
/// returns the subject's digest.
fn check_subject<'m>(
    at: Listed<'_>,
    name: &str,
    m: &'m Manifest,
    images: &[Subject<'_>],
) -> Result<&'m str> {
    let Listed {
        referrer,
        field,
        desc,
    } = at;
    let Some(subject) = &m.subject else {
        bail_at!(name, "artifact manifest has no subject");
    };
    let Some(image) = images.iter().find(|i| i.digest == subject.digest) else {
        bail_at!(
            name,
            "subject is {}, which is not an image manifest of `{referrer}`",
            subject.digest
        );
    };
    ensure_at!(
        subject.media_type.as_deref() == Some(MEDIA_TYPE_MANIFEST)
            && subject.size == Some(image.size),
        name,
        "subject {} says {} of {} bytes, but the image manifest is {MEDIA_TYPE_MANIFEST:?} of {} bytes",
        subject.digest,
        show(subject.media_type.as_deref()),
        show_num(subject.size),
        image.size
    );
    ensure_at!(
        desc.annotation(ANNOTATION_DOCKER_REF_DIGEST) == Some(subject.digest.as_str()),
        referrer,
        "{field}.annotations[{ANNOTATION_DOCKER_REF_DIGEST:?}] is {}, but the artifact's subject is {}",
        show(desc.annotation(ANNOTATION_DOCKER_REF_DIGEST)),
        subject.digest
    );
    Ok(&subject.digest)
}
