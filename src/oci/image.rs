//! The one image of an archive that `cargo slim verify` checks.
//!
//! In: an [`Archive`] (OCI layout or docker-archive), and for an OCI layout
//! the [`Listing`] of its `index.json` when the caller has read it already
//! ([`Archive::image_in`]: `verify` also wants the platforms and the artifacts
//! from it). Out: an [`ImageRef`]: the parsed config and the layers to read,
//! each with the digest and `diff_id` it must match. Several images (a
//! multi-platform index, a multi-image `docker save`) are an error listing
//! them, unless `--arch` picks one; artifacts are never candidates.

use std::io::{Read, Seek};

use serde_json::Value;

use super::documents::{history_comments, Config, DockerEntry};
use super::{blob_path, Archive, ImageEntry, Listing};
use crate::error::Failure;

/// Which layout the image was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `index.json` + `blobs/<alg>/<hex>`.
    Oci,
    /// `manifest.json` (`docker save`).
    Docker,
}

impl Format {
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Oci => "oci",
            Format::Docker => "docker",
        }
    }
}

/// One layer as listed by the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// Path of the layer file inside the archive.
    pub name: String,
    /// `sha256:<hex>` the blob must hash to, when the layout says (OCI).
    pub digest: Option<String>,
    /// `sha256:<hex>` of the uncompressed tar, from the config's `rootfs.diff_ids`.
    pub diff_id: Option<String>,
}

/// The image an archive holds: its config and layers, not yet read.
#[derive(Debug, Clone)]
pub struct ImageRef {
    pub format: Format,
    /// A name for the image, when the archive records one.
    pub reference: Option<String>,
    /// The parsed image config (`architecture`, `os`, `config.Entrypoint`, …).
    pub config: Value,
    pub layers: Vec<LayerRef>,
    /// `sha256:<hex>` of the OCI manifest (`None` for a docker-archive, which has none).
    pub manifest_digest: Option<String>,
}

impl ImageRef {
    fn config_str(&self, key: &str) -> Option<&str> {
        self.config.get(key).and_then(Value::as_str)
    }
    pub fn architecture(&self) -> Option<&str> {
        self.config_str("architecture").filter(|s| !s.is_empty())
    }
    pub fn os(&self) -> Option<&str> {
        self.config_str("os").filter(|s| !s.is_empty())
    }
    pub fn variant(&self) -> Option<&str> {
        self.config_str("variant").filter(|s| !s.is_empty())
    }
    /// A string array from the runtime config (`Entrypoint`, `Cmd`, `Env`).
    pub fn run_list(&self, key: &str) -> Vec<String> {
        self.config
            .get("config")
            .and_then(|c| c.get(key))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    /// What each layer holds, from the config's history (`layer N` where it
    /// says nothing).
    pub fn layer_comments(&self) -> Vec<String> {
        history_comments(&self.config, self.layers.len())
    }
    /// A string from the runtime config (`User`, `WorkingDir`).
    pub fn run_str(&self, key: &str) -> Option<&str> {
        self.config
            .get("config")
            .and_then(|c| c.get(key))
            .and_then(Value::as_str)
    }
}

impl<R: Read + Seek> Archive<R> {
    /// Find the one image in the archive. With several (a multi-platform
    /// index), `arch` (a GOARCH name) picks the one for that architecture.
    pub fn image(&mut self, arch: Option<&str>) -> Result<ImageRef, Failure> {
        if self.has("index.json") {
            let listing = self.list()?;
            self.image_in(&listing, arch)
        } else if self.has("manifest.json") {
            self.docker_image()
        } else {
            Err(Failure::new("the tar archive is not a container image")
                .detail("it has neither `index.json` (OCI layout) nor `manifest.json` (docker save)")
                .help("pass an image tarball (cargo slim build, `docker save`, `skopeo copy … oci-archive:`) or an ELF executable"))
        }
    }

    /// The one image of a docker-archive's `manifest.json`; with several, an
    /// error listing them, `doing` saying what takes one at a time.
    pub fn docker_entry(&mut self, doing: &str) -> Result<DockerEntry, Failure> {
        let doc = self.read_json("manifest.json")?;
        let list = DockerEntry::list(&doc)
            .ok_or_else(|| Failure::new("`manifest.json` is not a JSON array"))?;
        match list.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Failure::new("`manifest.json` lists no image")),
            many => {
                let names: Vec<&str> = many.iter().map(DockerEntry::name).collect();
                Err(Failure::new(format!(
                    "the archive holds {} images; {doing}",
                    many.len()
                ))
                .detail(format!("images: {}", names.join(", ")))
                .help("save or copy a single image, e.g. `skopeo copy docker-archive:IN:NAME docker-archive:OUT`"))
            }
        }
    }

    fn docker_image(&mut self) -> Result<ImageRef, Failure> {
        let item = &self.docker_entry("cargo slim verify checks one at a time")?;
        let config_name = item
            .config
            .clone()
            .ok_or_else(|| Failure::new("`manifest.json` has no `Config` path"))?;
        let config = self.read_json(&config_name)?;
        let names = item.layers.clone().ok_or_else(|| {
            Failure::new("`manifest.json` `Layers` is not an array of layer paths")
        })?;
        let layers = with_diff_ids(&config, names.into_iter().map(|n| (n, None)));
        Ok(ImageRef {
            format: Format::Docker,
            reference: item.repo_tags.as_ref().and_then(|t| t.first()).cloned(),
            config,
            layers,
            manifest_digest: None,
        })
    }

    /// [`Archive::image`] of an OCI layout whose `index.json` [`Archive::list`]
    /// has read into `listing`.
    pub fn image_in(&mut self, listing: &Listing, arch: Option<&str>) -> Result<ImageRef, Failure> {
        let mut found: Vec<&ImageEntry> = listing.images.iter().collect();
        if found.len() > 1 {
            if let Some(want) = arch {
                found.retain(|c| {
                    c.descriptor
                        .platform
                        .as_ref()
                        .is_some_and(|p| p.architecture == want)
                });
            }
        }
        let chosen = match found.len() {
            1 => found.remove(0),
            0 if arch.is_some() => {
                return Err(Failure::new(format!(
                    "the archive holds no image for architecture {}",
                    arch.unwrap_or_default()
                )))
            }
            0 => {
                return Err(Failure::new(
                    "`index.json` lists no image manifest present in the archive",
                ))
            }
            n => {
                let platforms: Vec<String> = found.iter().map(|c| c.platform()).collect();
                return Err(Failure::new(format!(
                    "the archive holds {n} images; cargo slim verify checks one at a time"
                ))
                .detail(format!("platforms: {}", platforms.join(", ")))
                .help("choose one with --arch, or copy a single platform with `skopeo copy --override-arch`"));
            }
        };
        let config_desc = chosen
            .manifest
            .config
            .as_ref()
            .ok_or_else(|| Failure::new(format!("manifest `{}` has no config", chosen.blob)))?;
        let config_name = blob_path(&config_desc.digest, &chosen.blob)?;
        let config = self.read_json(&config_name)?;
        let Some(descs) = &chosen.manifest.layers else {
            return Err(Failure::new(format!(
                "manifest `{}`: `layers` is not an array",
                chosen.blob
            )));
        };
        let mut named = Vec::new();
        for d in descs {
            let digest = (!d.digest.is_empty()).then(|| d.digest.clone());
            named.push((blob_path(&d.digest, &chosen.blob)?, digest));
        }
        let layers = with_diff_ids(&config, named.into_iter());
        Ok(ImageRef {
            format: Format::Oci,
            reference: chosen.reference.clone(),
            config,
            layers,
            manifest_digest: Some(chosen.descriptor.digest.clone()),
        })
    }
}

/// Pair layer names with the config's `rootfs.diff_ids` (when the counts agree).
fn with_diff_ids(
    config: &Value,
    layers: impl Iterator<Item = (String, Option<String>)>,
) -> Vec<LayerRef> {
    let layers: Vec<_> = layers.collect();
    let ids = Config::from_value(config).diff_ids.unwrap_or_default();
    let use_ids = ids.len() == layers.len();
    layers
        .into_iter()
        .enumerate()
        .map(|(i, (name, digest))| LayerRef {
            name,
            digest,
            diff_id: if use_ids { ids[i].clone() } else { None },
        })
        .collect()
}
