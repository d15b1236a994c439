//! Write: an [`Image`] (or an [`ImageSet`] of several platforms) → one
//! uncompressed tar file, written atomically.
//!
//! The file is both an OCI image layout (`oci-layout`, `index.json`, `blobs/`) and
//! a `docker save` archive (`manifest.json`), so `podman load`, `docker load` and
//! `skopeo copy oci-archive:` / `docker-archive:` all read it. Entries come in a fixed
//! order with ustar headers, one mtime, uid/gid 0 and empty owner names, so the
//! same image always gives the same bytes. The tar is written to a temporary file
//! beside the output and renamed into place: an interrupted run never leaves a
//! partial file at the output path.
//!
//! Several platforms: `index.json` holds one descriptor, of the OCI image index
//! blob (with the reference annotations), which lists one manifest per
//! platform. `manifest.json` (docker-archive form, which cannot hold two
//! platforms under one tag) describes the first image in canonical platform
//! order (`linux/amd64` when there is one), never the host's, so the bytes do not
//! depend on the machine that wrote them. Blobs follow: each image's config,
//! layers and manifest in canonical order, a blob shared by two platforms (the
//! CA-certificates layer) written once, where it first appears; the index blob last.
//!
//! Attached SBOMs ([`ImageSet::artifacts`]) make an index of one image too:
//! `index.json` → an image index listing the image manifests (with their
//! platforms), then each SBOM's artifact manifest (platform `unknown/unknown`, so
//! no runtime takes it for the image); their blobs (the empty config, the
//! document, the manifest) come after the images'. Why not a second entry of
//! `index.json`: `skopeo copy oci-archive:` refuses an `index.json` with two
//! ("more than one image"), and an index nested two deep (index → index of
//! platforms → manifests) confuses its platform choice. With this layout podman
//! load, skopeo (oci-archive and docker-archive) and docker load all take the
//! image; `skopeo inspect oci-archive:` then names the index's digest.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::{docker_manifest_json, index_json, reference_annotations, Blob, Image, ImageSet};

pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

pub(super) fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    epoch: u64,
) -> std::io::Result<()> {
    append_from(tar, path, data, data.len() as u64, epoch)
}

fn append_from<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: impl std::io::Read,
    size: u64,
    epoch: u64,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)?;
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(epoch);
    h.set_username("")?;
    h.set_groupname("")?;
    h.set_size(size);
    h.set_cksum();
    tar.append(&h, data)
}

/// A blob at `blobs/sha256/<hex>`, streamed from where it is.
fn append_blob<W: Write>(
    tar: &mut tar::Builder<W>,
    blob: &Blob,
    epoch: u64,
) -> std::io::Result<()> {
    let path = format!("blobs/sha256/{}", blob.hex());
    append_from(tar, &path, blob.reader(), blob.size(), epoch)
}

/// The archive in the documented order: `oci-layout`, `index.json`,
/// `manifest.json` (of `first`, the image `docker load` takes), then `blobs`.
fn write_archive<'b, W: Write>(
    w: W,
    index_json: &[u8],
    first: &Image,
    blobs: impl IntoIterator<Item = &'b Blob>,
    epoch: u64,
) -> Result<W> {
    let mut tar = tar::Builder::new(w);
    append(&mut tar, "oci-layout", OCI_LAYOUT, epoch)?;
    append(&mut tar, "index.json", index_json, epoch)?;
    append(
        &mut tar,
        "manifest.json",
        &docker_manifest_json(first)?,
        epoch,
    )?;
    for blob in blobs {
        append_blob(&mut tar, blob, epoch)?;
    }
    Ok(tar.into_inner()?)
}

/// Write the whole archive of one image to `w`: its config, layers and manifest.
pub fn write_to<W: Write>(image: &Image, w: W, epoch: u64) -> Result<W> {
    let blobs = std::iter::once(&image.config)
        .chain(image.layers.iter().map(|l| &l.blob))
        .chain(std::iter::once(&image.manifest));
    write_archive(w, &index_json(image)?, image, blobs, epoch)
}

/// `index.json` of a multi-platform tarball: one descriptor, the image index's.
fn set_index_json(set: &ImageSet, index: &Blob) -> Result<Vec<u8>> {
    let mut desc = index.descriptor()?;
    desc.set_annotations(Some(reference_annotations(&set.reference)));
    super::index_of(vec![desc])
}

/// Write the archive of `set` to `w`: exactly [`write_to`]'s bytes for one image,
/// the multi-platform layout (module header) for more.
pub fn write_set_to<W: Write>(set: &ImageSet, w: W, epoch: u64) -> Result<W> {
    let Some(index) = &set.index else {
        return write_to(&set.images[0], w, epoch);
    };
    let index_json = set_index_json(set, index)?;
    write_archive(w, &index_json, &set.images[0], set.blobs(), epoch)
}

/// Write the archive of `set` next to `path`, complete but not yet in place.
pub fn prepare_set(set: &ImageSet, path: &Path, epoch: u64) -> Result<crate::io::Pending> {
    crate::io::prepare_with(path, |w| write_set_to(set, w, epoch).map(|_| ()))
}

/// Write the archive of `set` to `path` atomically; returns its size in bytes.
pub fn write_set(set: &ImageSet, path: &Path, epoch: u64) -> Result<u64> {
    crate::io::write_atomic_with(path, |w| write_set_to(set, w, epoch).map(|_| ()))
}

/// Write the archive of one image to `path` atomically; returns its size in bytes.
pub fn write(image: &Image, path: &Path, epoch: u64) -> Result<u64> {
    crate::io::write_atomic_with(path, |w| write_to(image, w, epoch).map(|_| ()))
}
