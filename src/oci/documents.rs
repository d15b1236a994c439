//! The JSON documents of an image archive, as types.
//!
//! In: parsed JSON values (`index.json`, nested indexes, image and artifact
//! manifests, docker-archive `manifest.json`). Out: [`Descriptor`], [`Index`],
//! [`Manifest`], [`Config`], [`DockerEntry`], and the classification every reader needs:
//! is a manifest an image or an artifact (an SBOM, a signature, an attestation)?
//!
//! Why not serde derive: the same types serve the lenient reader (`verify`
//! accepts what docker, skopeo and buildx write, missing fields included) and
//! the strict one (`validate` states exactly which field is wrong), so fields
//! are optional here and each reader decides what it requires. Nothing here
//! panics on any JSON value.

use std::collections::BTreeMap;

use serde_json::Value;

use super::media::{is_index_media_type, MEDIA_TYPE_CONFIG, MEDIA_TYPE_DOCKER_CONFIG};

/// Annotation containerd (and `docker load` with the containerd store) reads the name from.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// OCI reference annotation.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Docker buildx marks its attestation manifests with this annotation.
const ANNOTATION_DOCKER_REF_TYPE: &str = "vnd.docker.reference.type";
/// buildx's annotation naming the manifest an index entry is attached to.
pub const ANNOTATION_DOCKER_REF_DIGEST: &str = "vnd.docker.reference.digest";
/// The annotation an index entry of a cargo-slim SBOM artifact carries: its
/// format (`spdx`, `cyclonedx`).
pub const ANNOTATION_SBOM: &str = "dev.cargo-slim.sbom";

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A platform of a descriptor (or of an image config).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
}

impl Platform {
    fn from_value(v: &Value) -> Option<Platform> {
        let o = v.as_object()?;
        Some(Platform {
            architecture: o
                .get("architecture")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            os: o.get("os").and_then(Value::as_str).unwrap_or("").into(),
            variant: o
                .get("variant")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        })
    }
}

/// `os/arch[/variant]`: the one way a platform is written, in status lines,
/// reports and errors.
impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Descriptor {
    pub media_type: Option<String>,
    /// Empty when the document has none (an error for every reader that follows it).
    pub digest: String,
    pub size: Option<u64>,
    pub platform: Option<Platform>,
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn from_value(v: &Value) -> Descriptor {
        Descriptor {
            media_type: str_of(v, "mediaType"),
            digest: str_of(v, "digest").unwrap_or_default(),
            size: v.get("size").and_then(Value::as_u64),
            platform: v.get("platform").and_then(Platform::from_value),
            artifact_type: str_of(v, "artifactType"),
            annotations: v
                .get("annotations")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// The image name the descriptor's annotations give (containerd's first).
    pub fn reference(&self) -> Option<String> {
        self.annotation(ANNOTATION_CONTAINERD_NAME)
            .or_else(|| self.annotation(ANNOTATION_REF_NAME))
            .map(str::to_string)
    }

    /// Whether the descriptor itself says it points to an index.
    pub fn says_index(&self) -> bool {
        self.media_type.as_deref().is_some_and(is_index_media_type)
    }

    /// buildx attestations and `unknown/unknown` platforms: never an image to run.
    pub fn says_attestation(&self) -> bool {
        self.annotation(ANNOTATION_DOCKER_REF_TYPE) == Some("attestation-manifest")
            || self.platform.as_ref().is_some_and(|p| p.os == "unknown")
    }
}

/// An image index (`index.json` or a nested one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Index {
    pub schema_version: Option<u64>,
    pub media_type: Option<String>,
    /// `None` when the document has no `manifests` array.
    pub manifests: Option<Vec<Descriptor>>,
}

impl Index {
    pub fn from_value(v: &Value) -> Index {
        Index {
            schema_version: v.get("schemaVersion").and_then(Value::as_u64),
            media_type: str_of(v, "mediaType"),
            manifests: v
                .get("manifests")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(Descriptor::from_value).collect()),
        }
    }

    /// Whether a document read through a descriptor is an index.
    pub fn is_index(desc: &Descriptor, doc: &Value) -> bool {
        desc.says_index()
            || str_of(doc, "mediaType").is_some_and(|m| is_index_media_type(&m))
            || doc.get("manifests").is_some()
    }
}

/// An image or artifact manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub schema_version: Option<u64>,
    pub media_type: Option<String>,
    /// `None` when the document has no `config` object.
    pub config: Option<Descriptor>,
    /// `None` when `layers` is present but not an array; missing or null is empty.
    pub layers: Option<Vec<Descriptor>>,
    pub artifact_type: Option<String>,
    pub subject: Option<Descriptor>,
}

impl Manifest {
    pub fn from_value(v: &Value) -> Manifest {
        Manifest {
            schema_version: v.get("schemaVersion").and_then(Value::as_u64),
            media_type: str_of(v, "mediaType"),
            config: v
                .get("config")
                .filter(|c| c.is_object())
                .map(Descriptor::from_value),
            layers: match v.get("layers") {
                None | Some(Value::Null) => Some(Vec::new()),
                Some(Value::Array(a)) => Some(a.iter().map(Descriptor::from_value).collect()),
                Some(_) => None,
            },
            artifact_type: str_of(v, "artifactType"),
            subject: v
                .get("subject")
                .filter(|s| s.is_object())
                .map(Descriptor::from_value),
        }
    }

    /// An artifact (SBOM, signature, attestation), not an image: it has an
    /// `artifactType` or a `subject`, or its config is not an image config.
    pub fn is_artifact(&self) -> bool {
        let config_type = self.config.as_ref().and_then(|c| c.media_type.as_deref());
        self.artifact_type.is_some()
            || self.subject.is_some()
            || config_type.is_some_and(|t| t != MEDIA_TYPE_CONFIG && t != MEDIA_TYPE_DOCKER_CONFIG)
    }
}

/// The parts of an image config every reader needs (the rest stays JSON).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// `architecture` / `os` / `variant`, empty strings when missing.
    pub platform: Platform,
    /// `rootfs.type`.
    pub rootfs_type: Option<String>,
    /// `rootfs.diff_ids` (a non-string item is `None`); `None` when missing or
    /// not an array.
    pub diff_ids: Option<Vec<Option<String>>>,
}

impl Config {
    pub fn from_value(v: &Value) -> Config {
        let rootfs = v.get("rootfs");
        Config {
            platform: Platform::from_value(v).unwrap_or_default(),
            rootfs_type: rootfs.and_then(|r| str_of(r, "type")),
            diff_ids: rootfs
                .and_then(|r| r.get("diff_ids"))
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|d| d.as_str().map(str::to_string)).collect()),
        }
    }
}

/// The comment of each of `layers` layers in an image `config`'s history (the
/// entries that are not `empty_layer`), `"layer N"` where it says nothing.
pub fn history_comments(config: &serde_json::Value, layers: usize) -> Vec<String> {
    let mut comments = config["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| !h["empty_layer"].as_bool().unwrap_or(false))
        .map(|h| h["comment"].as_str().unwrap_or_default().to_string());
    (0..layers)
        .map(|i| {
            comments
                .next()
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| format!("layer {}", i + 1))
        })
        .collect()
}

/// One image of a docker-archive `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DockerEntry {
    /// `None` when there is no string `Config`.
    pub config: Option<String>,
    pub repo_tags: Option<Vec<String>>,
    /// `None` when `Layers` is not an array of strings; missing or null is empty.
    pub layers: Option<Vec<String>>,
}

impl DockerEntry {
    /// The entries of a `manifest.json` document, `None` if it is not an array.
    pub fn list(v: &Value) -> Option<Vec<DockerEntry>> {
        Some(v.as_array()?.iter().map(DockerEntry::from_value).collect())
    }

    pub fn from_value(v: &Value) -> DockerEntry {
        DockerEntry {
            config: str_of(v, "Config"),
            repo_tags: v.get("RepoTags").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            }),
            layers: match v.get("Layers") {
                None | Some(Value::Null) => Some(Vec::new()),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|l| l.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>(),
                Some(_) => None,
            },
        }
    }

    /// The first tag, or `<untagged>`.
    pub fn name(&self) -> &str {
        self.repo_tags
            .as_ref()
            .and_then(|t| t.first())
            .map_or("<untagged>", String::as_str)
    }
}
