//! The artifacts of an OCI layout attached to its images (the SBOMs).
//!
//! In: the archive's [`Listing`] and the digests of the image manifests taken.
//! Out: each artifact manifest whose `subject` is one of them, that has an
//! `artifactType` and a config, and whose blobs are all in the archive, as an
//! [`Attached`] (its manifest exactly as stored), its blobs added to the
//! [`Peek`]. An artifact missing a blob is left out (a note says so where it is
//! pushed); a blob of the wrong size is an error.

use std::io::{Read, Seek};

use super::{Attached, BlobRef, Check, Document, Peek, ARTIFACT_BLOB};
use crate::error::Failure;
use crate::oci::media::MEDIA_TYPE_MANIFEST;
use crate::oci::{blob_path, Archive, ArtifactEntry, Listing, Manifest};

/// The artifacts of `listing` attached to one of `images` (manifest digests)
/// whose config and layers are in the archive; their blobs are added to
/// `peek` (each once).
pub(super) fn attachable<R: Read + Seek>(
    ar: &mut Archive<R>,
    listing: &Listing,
    images: &[&str],
    peek: &mut Peek,
) -> Result<Vec<Attached>, Failure> {
    let mut out = Vec::new();
    for a in &listing.artifacts {
        let (Some(subject), Some(artifact_type)) = (&a.subject, &a.artifact_type) else {
            continue;
        };
        if !images.contains(&subject.digest.as_str()) {
            continue;
        }
        let bytes = ar.read_document(&a.blob, &a.descriptor, "the artifact manifest")?;
        let m = Manifest::from_value(&serde_json::from_slice(&bytes).unwrap_or_default());
        let Some(found) = held_blobs(ar, a, &m)? else {
            continue; // not all there: left out
        };
        for b in found {
            let check = Check::Blob(b.digest.clone(), b.range);
            peek.add_blob(b, check);
        }
        out.push(Attached {
            doc: Document {
                digest: a.descriptor.digest.clone(),
                media_type: MEDIA_TYPE_MANIFEST.to_string(),
                bytes,
                platform: None,
            },
            subject: subject.digest.clone(),
            artifact_type: artifact_type.clone(),
        });
    }
    Ok(out)
}

/// The config and layers of the artifact `a` (manifest `m`), when it has a
/// config and the archive holds every one of them at its stated size.
fn held_blobs<R: Read + Seek>(
    ar: &Archive<R>,
    a: &ArtifactEntry,
    m: &Manifest,
) -> Result<Option<Vec<BlobRef>>, Failure> {
    let parts: Vec<_> = m.config.iter().chain(m.layers.iter().flatten()).collect();
    let mut found = Vec::new();
    for d in &parts {
        let name = blob_path(&d.digest, &a.blob)?;
        let Ok(range) = ar.locate(&name) else {
            break;
        };
        if d.size != Some(range.size) {
            return Err(Failure::new(format!(
                "artifact {}: {} says {} bytes, the archive holds {}",
                a.descriptor.digest,
                d.digest,
                d.size.map_or("no".into(), |s| s.to_string()),
                range.size
            )));
        }
        found.push(BlobRef {
            kind: ARTIFACT_BLOB,
            digest: d.digest.clone(),
            range,
        });
    }
    Ok((found.len() == parts.len() && m.config.is_some()).then_some(found))
}
