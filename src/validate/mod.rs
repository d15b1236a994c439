//! Invariant checker for the image tarballs cargo-slim writes (in the spirit of
//! go-containerregistry's `pkg/v1/validate`).
//!
//! Every tarball the test suite produces is run through [`validate_tarball`],
//! and `push` runs it before uploading anything, so a broken image is caught
//! here with a precise message instead of as an opaque failure in `docker load`,
//! `podman load`, `skopeo` or a registry.
//!
//! The layout checked (one uncompressed outer tar, entries in exactly this order):
//!
//! ```text
//! oci-layout        {"imageLayoutVersion":"1.0.0"}
//! index.json        OCI index: one manifest descriptor with platform and the
//!                   io.containerd.image.name / org.opencontainers.image.ref.name
//!                   annotations, both the full reference
//! manifest.json     docker-archive form: [{"Config":..,"RepoTags":[ref],"Layers":[..]}]
//! blobs/sha256/<C>  image config
//! blobs/sha256/<L>  layer(s), tar+gzip, in manifest order
//! blobs/sha256/<M>  OCI image manifest
//! ```
//!
//! Several platforms (one reference): `index.json`'s one descriptor (no
//! platform, the same annotations) points to an OCI image index blob listing
//! two or more manifests, each with a `platform`, distinct and in the order of
//! the [`crate::arch`] table (amd64, arm64, …); each image is checked as above
//! (its config's os/architecture/variant equal its descriptor's platform);
//! `manifest.json` describes the first image; the blobs are each image's
//! config, layers and manifest in that order, a blob two images share stored
//! once where it first appears, then the index blob. [`validate_set`] checks
//! either form and returns a [`ValidSet`]; [`validate_tarball`] (and
//! [`validate_blobs`], [`read_layer_file`]) take a single-platform tarball and
//! refuse a multi-platform one with an error naming its platforms.
//!
//! Attached SBOMs: the image index (then also for one platform) lists, after
//! the images, one artifact manifest per SBOM with platform `unknown/unknown`,
//! `artifactType` `application/spdx+json` or `application/vnd.cyclonedx+json`,
//! the annotations `dev.cargo-slim.sbom` (the format) and
//! `vnd.docker.reference.digest` (the subject), in the order of their images;
//! each is checked by `artifacts` (the empty config `{}`, exactly one JSON layer
//! of the artifact type, `subject` = an image manifest of the index, digest and
//! size); their blobs come after the images' (config, document, manifest, a blob
//! already written skipped), before the index. [`ValidSet::artifacts`] lists them.
//!
//! Checks:
//!
//! 1. Outer entry names and order exactly as above, no other entries, no
//!    duplicates; each outer header is ustar, a regular file, mode 0644,
//!    uid/gid 0, empty uname/gname, the same mtime for all entries; only zero
//!    bytes after the end-of-archive marker.
//! 2. `oci-layout` is exactly `{"imageLayoutVersion":"1.0.0"}`.
//! 3. Every blob's sha256 equals its file name; every descriptor's size and
//!    digest (index → manifest, manifest → config, manifest → layers) matches
//!    the real blob; the docker `manifest.json` Config/Layers paths and
//!    RepoTags agree with the OCI manifest and the index reference.
//! 4. Media types of index, manifest, config and layers (tar+gzip).
//! 5. `config.rootfs.type == "layers"`, `rootfs.diff_ids[i]` is the sha256 of
//!    the gunzipped layer `i`, one diff_id per layer; config
//!    architecture/os/variant equal the index platform.
//! 6. Config, manifest and index.json are canonical JSON: the bytes equal the
//!    compact re-serialisation of the parsed value with object keys sorted by
//!    byte order (what serde_json produces with its default `BTreeMap`). The
//!    sorting is done here explicitly, so the check holds even if serde_json's
//!    `preserve_order` feature gets unified in.
//! 7. Layer tars: entries sorted by their tar path in byte order, exactly as
//!    stored (so a directory written as `etc/` sorts after `etc-release`, as
//!    `image::build_layer` writes it); every parent directory present as a
//!    directory entry before its children; no duplicates, no absolute paths,
//!    no `.`/`..` or empty components; numeric uid:gid (0:0 unless `owner`), empty uname/gname, every
//!    mtime equal to the outer mtime (PAX overrides included); only regular
//!    files, directories and symlinks (no hard links, devices or fifos); only
//!    zero bytes after the end-of-archive marker.
//! 8. Each layer's gzip stream is read to its end, nothing follows it, and the
//!    gzip header mtime is 0.
//!
//! How: the tarball is read through [`crate::oci`] in strict mode — a table of
//! the outer tar built from its headers (a size past the end of the file is an
//! error naming the entry), JSON documents read with a size limit, blobs as
//! byte ranges of the file. The files split the checks as go-containerregistry
//! splits `validateManifest`/`validateConfig`/`validateLayers`, each file
//! importing only files listed below it (this one, on top, holds the entry
//! points):
//!
//! ```text
//! documents  index.json, the image index, manifest.json, blob order
//! artifacts  each attached SBOM: descriptor, empty config, document, subject
//! manifest   each image's manifest and config, then its layers
//! layers     each layer streamed once: gunzip → diff_id → tar entries
//! blobs      blobs by name, bounded document reads, canonical JSON
//! outer      entry names, order, headers, blob digests
//! valid      the returned types (ValidSet, ValidImage, …)
//! errors     Violation, bail_at!/ensure_at!
//! ```
//!
//! No layer is ever held whole in memory. Blob digests are hashed on a second
//! thread while the layers are read.
//!
//! Every violation is an error whose message (plain `Display`, no context
//! chain needed) names the entry and the expected and actual values. The
//! error wraps a [`Violation`], so callers can also `downcast_ref` it.

use std::io::{Read, Seek};
use std::path::Path;

use anyhow::{anyhow, Result};

use crate::oci::{Archive, Strictness};
use errors::from_failure;
use manifest::Depth;
use valid::normalize_lookup;

mod artifacts;
mod blobs;
mod documents;
mod errors;
mod layers;
mod manifest;
mod outer;
mod valid;

pub use crate::oci::documents::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
pub use crate::oci::media::{
    MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD,
    MEDIA_TYPE_MANIFEST,
};
pub use documents::OCI_LAYOUT;
pub use errors::Violation;
pub use valid::{platform_order, LayerEntry, ValidArtifact, ValidImage, ValidLayer, ValidSet};

#[cfg(test)]
use crate::digest::sha256_hex;
#[cfg(test)]
use blobs::canonical_json;
#[cfg(test)]
use layers::check_layer_tar;
#[cfg(test)]
use outer::BLOB_PREFIX;

/// Validate the single-platform image tarball at `path`. A multi-platform
/// tarball is an error naming its platforms (use [`validate_set`]), so no
/// caller silently takes one platform for the whole image.
pub fn validate_tarball(path: &Path) -> Result<ValidImage> {
    validate_set(path)?.single(&path.display().to_string())
}

/// Validate the image tarball at `path`: one image, or every image of a
/// multi-platform tarball.
pub fn validate_set(path: &Path) -> Result<ValidSet> {
    open(path)?;
    validate_with(|| open(path), Depth::Full)
}

/// Validate a single-platform image tarball read from `r` (held in memory: for
/// tests and small inputs; [`validate_tarball`] reads a file in place).
pub fn validate_reader<R: Read>(r: R) -> Result<ValidImage> {
    validate_set_reader(r)?.single("the image tarball")
}

/// [`validate_set`] of a tarball read from `r` into memory.
pub fn validate_set_reader<R: Read>(mut r: R) -> Result<ValidSet> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)
        .map_err(|e| anyhow!("reading the image tarball: {e}"))?;
    validate_with(|| Ok(std::io::Cursor::new(bytes.as_slice())), Depth::Full)
}

/// The checks a push needs before uploading: the outer tar, the JSON documents,
/// and every blob's digest and size — without uncompressing the layers, which
/// the registry never looks into. Every invariant of [`validate_tarball`] except
/// the layers' contents and `diff_id`s. Single-platform tarballs only, like
/// [`validate_tarball`].
pub fn validate_blobs(path: &Path) -> Result<ValidImage> {
    open(path)?;
    validate_with(|| open(path), Depth::Blobs)?.single(&path.display().to_string())
}

/// Read one file's bytes out of a layer (for tests that extract the binary).
///
/// The tarball is validated first. The topmost layer holding `path_in_layer`
/// wins; a leading `/` or `./` is ignored. Directories and symlinks are errors.
pub fn read_layer_file(tarball: &Path, path_in_layer: &str) -> Result<Vec<u8>> {
    let image = validate_tarball(tarball)?;
    let want = normalize_lookup(path_in_layer);
    let mut ar = Archive::open(open(tarball)?, Strictness::Strict).map_err(from_failure)?;
    for (i, layer) in image.layers.iter().enumerate().rev() {
        if !layer.files.iter().any(|f| f.path == want) {
            continue;
        }
        let name = outer::blob_name_of("layer", "digest", &layer.digest)?;
        let range = ar.locate(&name).map_err(from_failure)?;
        let blob = ar.open_range(&name, range).map_err(from_failure)?;
        let found = layers::read_file(blob, &want).map_err(|e| {
            anyhow!(
                "reading `{want}` from layer {i} of {}: {e}",
                tarball.display()
            )
        })?;
        return match found {
            layers::Found::File(data) => Ok(data),
            layers::Found::Symlink(target) => anyhow::bail!(
                "`{want}` in layer {i} of {} is a symlink to `{target}`, not a regular file",
                tarball.display()
            ),
            layers::Found::Other(kind) => anyhow::bail!(
                "`{want}` in layer {i} of {} is a {kind:?} entry, not a regular file",
                tarball.display()
            ),
            layers::Found::Missing => continue,
        };
    }
    anyhow::bail!(
        "`{want}` is not in any of the {} layer(s) of {}",
        image.layers.len(),
        tarball.display()
    )
}

fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>> {
    std::fs::File::open(path)
        .map(std::io::BufReader::new)
        .map_err(|e| anyhow!("opening image tarball {}: {e}", path.display()))
}

/// The whole check. `reopen` gives a second reader over the same bytes for
/// the thread that hashes the blobs.
fn validate_with<R, F>(reopen: F, depth: Depth) -> Result<ValidSet>
where
    R: Read + Seek + Send,
    F: Fn() -> Result<R> + Sync,
{
    let mut ar = Archive::open(reopen()?, Strictness::Strict).map_err(from_failure)?;
    let outer = outer::check(&mut ar)?;
    // Hashing the blobs and gunzipping the layers are the two big costs: do them on
    // two cores. A blob whose content does not match its name is reported first.
    std::thread::scope(|s| {
        let names = s.spawn(|| outer::check_blob_names(reopen()?, &outer.entries));
        let rest = documents::check(&mut ar, &outer, depth);
        names
            .join()
            .map_err(|_| anyhow!("the blob hashing thread panicked"))??;
        rest
    })
}

#[cfg(test)]
mod tests;
