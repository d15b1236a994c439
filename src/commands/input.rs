//! Read an image tarball back into the image model, to write it again.
//!
//! In: the path of a tarball `cargo slim build` or `cargo slim index` wrote. Out:
//! its images ([`Input`]: each [`Image`] with its attached [`Artifact`]s and the
//! outer tar's mtime), validated strictly first ([`crate::validate::validate_set`]);
//! manifests and configs copied byte for byte (so every digest is kept), layers and
//! artifact documents left in the file as byte ranges of an open handle, never held
//! in memory. Why apart: `index` merges such images into one tarball and `sign`
//! adds signatures to them; both write through [`crate::image::ImageSet`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use oci_spec::image::MediaType;

use crate::error::{io_failure, Failure};
use crate::image::artifact::empty_config;
use crate::image::{Artifact, Blob, Image, Layer, Platform};
use crate::oci::{Archive, Strictness, TarIndex};
use crate::validate::{validate_set, ValidArtifact, ValidImage};

/// One input image, with the file it came from and its SBOM artifacts.
pub struct Input {
    pub path: PathBuf,
    pub image: Image,
    pub artifacts: Vec<Artifact>,
    pub mtime: u64,
}

/// The images of one input tarball, validated, their layers left in the file.
pub fn read_input(path: &Path) -> Result<Vec<Input>> {
    let shown = path.display();
    // The handle is opened before validating, so it reads the bytes validated
    // unless the file is rewritten in place meanwhile (a rename leaves it intact).
    let (file, _) = crate::io::open_regular(path, "an image tarball")?;
    let valid = validate_set(path).map_err(|e| {
        Failure::new(format!("`{shown}` is not a valid image tarball"))
            .detail(format!("{e:#}"))
            .help("give tarballs written by `cargo slim build` or `cargo slim index`")
    })?;
    let file = Arc::new(file);
    let reopened = file.try_clone().map_err(|e| io_failure("read", path, &e))?;
    let ar = Archive::open(std::io::BufReader::new(reopened), Strictness::Strict)
        .map_err(|f| Failure::new(format!("`{shown}` cannot be read")).detail(f.what))?;
    let mtime = valid.mtime;
    let mut artifacts = valid
        .artifacts
        .iter()
        .map(|a| artifact_of(a, &file, ar.index(), path))
        .collect::<Result<Vec<_>>>()?;
    valid
        .images
        .into_iter()
        .map(|v| {
            let (own, rest) = artifacts
                .drain(..)
                .partition(|a: &Artifact| a.subject == v.manifest_digest);
            artifacts = rest;
            Ok(Input {
                path: path.to_path_buf(),
                image: image_of(v, &file, ar.index(), path)?,
                artifacts: own,
                mtime,
            })
        })
        .collect()
}

/// A validated artifact as an [`Artifact`]: manifest copied, document as a range of `file`.
fn artifact_of(
    a: &ValidArtifact,
    file: &Arc<File>,
    index: &TarIndex,
    path: &Path,
) -> Result<Artifact> {
    let media_type = MediaType::Other(a.layer_media_type.clone());
    Ok(Artifact {
        subject: a.subject.clone(),
        artifact_type: a.artifact_type.clone(),
        format: a.format.clone(),
        config: empty_config(),
        layer: blob_in(
            file,
            index,
            path,
            &a.layer_digest,
            media_type,
            "artifact document",
        )?,
        manifest: Blob::new(MediaType::ImageManifest, a.manifest_bytes.clone()),
    })
}

/// The blob `digest` of the tarball `path` as a range of `file`.
fn blob_in(
    file: &Arc<File>,
    index: &TarIndex,
    path: &Path,
    digest: &str,
    media_type: MediaType,
    what: &str,
) -> Result<Blob> {
    let name = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    let range = index.locate(&name).map_err(|f| {
        Failure::new(format!(
            "`{}`: {what} `{name}` cannot be found",
            path.display()
        ))
        .detail(f.what)
    })?;
    Ok(Blob::in_file(
        media_type,
        digest.to_string(),
        Arc::clone(file),
        range.offset,
        range.size,
    ))
}

/// A validated image as an [`Image`]: documents copied, layers as ranges of `file`.
fn image_of(v: ValidImage, file: &Arc<File>, index: &TarIndex, path: &Path) -> Result<Image> {
    let manifest: serde_json::Value = serde_json::from_slice(&v.manifest_bytes)?;
    let mut layers = Vec::with_capacity(v.layers.len());
    for (i, l) in v.layers.iter().enumerate() {
        // gzip or zstd, as the (validated) manifest declares it.
        let media_type = MediaType::from(
            manifest["layers"][i]["mediaType"]
                .as_str()
                .unwrap_or_default(),
        );
        layers.push(Layer {
            blob: blob_in(file, index, path, &l.digest, media_type, "layer")?,
            diff_id: l.diff_id.clone(),
            uncompressed_size: l.uncompressed_size,
        });
    }
    Ok(Image {
        reference: v.reference,
        platform: Platform {
            os: v.os,
            architecture: v.architecture,
            variant: v.variant,
        },
        config: Blob::new(MediaType::ImageConfig, v.config_bytes),
        layers,
        manifest: Blob::new(MediaType::ImageManifest, v.manifest_bytes),
    })
}
