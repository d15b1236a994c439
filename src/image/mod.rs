//! Image: final binary + image settings → OCI blobs (layer, config, manifest).
//!
//! An immutable model in the spirit of go-containerregistry: a [`Layer`] knows its
//! compressed `digest` and uncompressed `diff_id`; an [`Image`] is FROM scratch (no
//! base) plus our layers — system files, the user's `files` ([`assets`]), then
//! the binary, each only when non-empty, each built by the one [`LayerBuilder`]
//! with the build's [`LayerOptions`], each with a history entry saying what it
//! holds. Everything here is deterministic: sorted paths,
//! fixed modes, uid/gid 0 (unless a `files` entry sets `owner`), timestamps from
//! `SOURCE_DATE_EPOCH` (or 0), and every document written as canonical JSON
//! (sorted keys, compact: [`crate::oci::canonical`]) — oci-spec keeps labels
//! and annotations in `HashMap`s, whose order changes from run to run.

pub mod artifact;
pub mod assets;
pub mod blob;
pub mod files;
mod layer_tar;
pub mod layers;
pub mod pinned;
mod set;
pub mod source;
pub mod tarball;

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use oci_spec::image::{
    Arch, ConfigBuilder, HistoryBuilder, ImageConfigurationBuilder, ImageIndexBuilder,
    ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};

pub use crate::compress::Compression;
use crate::oci::canonical::{canonical_json, to_canonical_json};
use crate::oci::documents::{history_comments, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
use crate::reference::Reference;
pub use artifact::Artifact;
pub use assets::{Contents, UserFile};
pub use blob::Blob;
pub use files::DataSource;
pub use layers::{BuiltLayer, LayerBuilder, LayerFile};
pub use set::{platform_rank, same_platform, ImageSet};

/// What goes into the image config.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSpec {
    pub reference: Reference,
    /// Absolute path of the binary in the image.
    pub path: String,
    pub user: String,
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub expose: Vec<String>,
    pub name: String,
    pub version: Option<String>,
    /// The CA bundle at /etc/ssl/certs/ca-certificates.crt: built in, the
    /// user's file, off, or decided by preflight.
    pub ca_certificates: DataSource,
    /// The time-zone database at /usr/share/zoneinfo, chosen the same way.
    pub zoneinfo: DataSource,
}

/// The image `User` unless configured: numeric (a scratch image has no
/// `/etc/passwd` to look a name up in) and not root.
pub const DEFAULT_USER: &str = "65532:65532";

impl Default for ImageSpec {
    /// `localhost/app:latest`, the binary at `/app`, user 65532:65532, nothing else.
    fn default() -> Self {
        ImageSpec {
            reference: Reference {
                registry: "localhost".into(),
                repository: "app".into(),
                tag: "latest".into(),
            },
            path: "/app".into(),
            user: DEFAULT_USER.into(),
            cmd: None,
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            workdir: None,
            expose: Vec::new(),
            name: "app".into(),
            version: None,
            ca_certificates: DataSource::Auto,
            zoneinfo: DataSource::Auto,
        }
    }
}

/// A compressed layer (gzip or zstd, as [`LayerOptions::compression`] says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub blob: Blob,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    pub uncompressed_size: u64,
}

/// The settings every layer of a build is written with: the mtime of every tar
/// header (`SOURCE_DATE_EPOCH`, or 0) and the compression, which decide the
/// layer's bytes, and the rebuild cache that may hold a layer of the same bytes.
/// The default is the epoch 0, gzip and no cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerOptions {
    pub epoch: u64,
    pub compression: Compression,
    pub cache: crate::cache::Cache,
}

/// The platform of an image (for a build, as read from the ELF header): the one
/// platform type of the image model, shared with the readers.
pub use crate::oci::documents::Platform;

/// A complete FROM-scratch image.
#[derive(Debug, Clone)]
pub struct Image {
    pub reference: String,
    pub platform: Platform,
    pub config: Blob,
    pub layers: Vec<Layer>,
    pub manifest: Blob,
}

impl Image {
    /// Bytes a client downloads to pull the image: manifest + config + layers.
    pub fn pull_size(&self) -> u64 {
        crate::report::pull_size(
            self.manifest.size(),
            self.config.size(),
            self.layers.iter().map(|l| l.blob.size()),
        )
    }
}

/// RFC 3339 UTC time for a Unix timestamp (civil-from-days, no time crate needed).
pub fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The OCI media type of a layer compressed with `c`.
pub fn layer_media_type(c: Compression) -> MediaType {
    match c {
        Compression::Zstd(_) => MediaType::ImageLayerZstd,
        Compression::Gzip | Compression::GzipMax => MediaType::ImageLayerGzip,
    }
}

fn oci_arch(name: &str) -> Arch {
    Arch::from(name)
}

/// Assemble config and manifest for a FROM-scratch image made of one layer, the
/// binary's.
pub fn build_image(
    spec: &ImageSpec,
    platform: &Platform,
    layers: Vec<Layer>,
    epoch: u64,
) -> Result<Image> {
    let described = layers
        .into_iter()
        .map(|l| (l, binary_comment(spec)))
        .collect();
    build_image_with(spec, &Contents::default(), platform, described, epoch)
}

/// The history comment of the binary's layer.
pub fn binary_comment(spec: &ImageSpec) -> String {
    format!("static binary {}", spec.path)
}

/// Assemble config and manifest for a FROM-scratch image made of `layers`, each
/// with the comment its history entry carries (what the layer holds), plus the
/// `StopSignal` and manifest annotations of `contents`.
pub fn build_image_with(
    spec: &ImageSpec,
    contents: &Contents,
    platform: &Platform,
    layers: Vec<(Layer, String)>,
    epoch: u64,
) -> Result<Image> {
    let (layers, comments): (Vec<Layer>, Vec<String>) = layers.into_iter().unzip();
    let created = rfc3339(epoch);
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>())
        .build()?;
    let mut config = ImageConfigurationBuilder::default()
        .created(created.clone())
        .architecture(oci_arch(&platform.architecture))
        .os(Os::from(platform.os.as_str()))
        .config(runtime_config(spec, contents)?)
        .rootfs(rootfs)
        .history(history(spec, &comments, &created)?);
    if let Some(v) = &platform.variant {
        config = config.variant(v.clone());
    }
    let config = Blob::new(MediaType::ImageConfig, to_canonical_json(&config.build()?)?);
    let manifest = manifest_of(&config, &layers, &contents.annotations)?;
    Ok(Image {
        reference: spec.reference.to_string(),
        platform: platform.clone(),
        config,
        layers,
        manifest,
    })
}

/// What the image runs, and how: the `config` of the image config (user,
/// entrypoint, cmd, env, working dir, ports, stop signal, labels).
fn runtime_config(spec: &ImageSpec, contents: &Contents) -> Result<oci_spec::image::Config> {
    let mut cfg = ConfigBuilder::default()
        .user(spec.user.clone())
        .entrypoint(vec![spec.path.clone()]);
    if let Some(cmd) = &spec.cmd {
        cfg = cfg.cmd(cmd.clone());
    }
    if !spec.env.is_empty() {
        cfg = cfg.env(
            spec.env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        );
    }
    if let Some(w) = &spec.workdir {
        cfg = cfg.working_dir(w.clone());
    }
    if !spec.expose.is_empty() {
        cfg = cfg.exposed_ports(spec.expose.clone());
    }
    if let Some(sig) = &contents.stop_signal {
        cfg = cfg.stop_signal(sig.clone());
    }
    let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    labels
        .entry("org.opencontainers.image.title".into())
        .or_insert_with(|| spec.name.clone());
    if let Some(v) = &spec.version {
        labels
            .entry("org.opencontainers.image.version".into())
            .or_insert_with(|| v.clone());
    }
    Ok(cfg.labels(labels).build()?)
}

/// One history entry per layer, `created` at the epoch, saying what it holds.
fn history(
    spec: &ImageSpec,
    comments: &[String],
    created: &str,
) -> Result<Vec<oci_spec::image::History>> {
    comments
        .iter()
        .map(|comment| {
            // The binary's entry reads as it always has: the hello digest is pinned.
            let by = if *comment == binary_comment(spec) {
                spec.path.clone()
            } else {
                comment.clone()
            };
            Ok(HistoryBuilder::default()
                .created(created.to_string())
                .created_by(format!("cargo-slim build ({by})"))
                .comment(comment.clone())
                .build()?)
        })
        .collect()
}

/// The image manifest of `config` and `layers`, with `annotations` (none: no
/// `annotations` key).
fn manifest_of(
    config: &Blob,
    layers: &[Layer],
    annotations: &BTreeMap<String, String>,
) -> Result<Blob> {
    let mut manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config.descriptor()?)
        .layers(
            layers
                .iter()
                .map(|l| l.blob.descriptor())
                .collect::<Result<Vec<_>>>()?,
        )
        .build()?;
    if !annotations.is_empty() {
        manifest.set_annotations(Some(annotations.clone().into_iter().collect()));
    }
    Ok(Blob::new(
        MediaType::ImageManifest,
        to_canonical_json(&manifest)?,
    ))
}

/// What each layer of `image` holds, from its config's history.
pub fn layer_comments(image: &Image) -> Vec<String> {
    let config: serde_json::Value = image
        .config
        .bytes()
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    history_comments(&config, image.layers.len())
}

/// The descriptor of `image`'s manifest, with its platform (as an index lists it).
pub(crate) fn platform_descriptor(image: &Image) -> Result<oci_spec::image::Descriptor> {
    let mut platform = PlatformBuilder::default()
        .architecture(oci_arch(&image.platform.architecture))
        .os(Os::from(image.platform.os.as_str()));
    if let Some(v) = &image.platform.variant {
        platform = platform.variant(v.clone());
    }
    let mut desc = image.manifest.descriptor()?;
    desc.set_platform(Some(platform.build()?));
    Ok(desc)
}

/// The two annotations `index.json` carries the full reference in.
pub(crate) fn reference_annotations(reference: &str) -> HashMap<String, String> {
    HashMap::from([
        (
            ANNOTATION_CONTAINERD_NAME.to_string(),
            reference.to_string(),
        ),
        (ANNOTATION_REF_NAME.to_string(), reference.to_string()),
    ])
}

/// An OCI image index (canonical JSON) listing `manifests`.
pub(crate) fn index_of(manifests: Vec<oci_spec::image::Descriptor>) -> Result<Vec<u8>> {
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()?;
    Ok(to_canonical_json(&index)?)
}

/// `index.json`: one manifest, with its platform and the full reference.
pub fn index_json(image: &Image) -> Result<Vec<u8>> {
    let mut desc = platform_descriptor(image)?;
    desc.set_annotations(Some(reference_annotations(&image.reference)));
    index_of(vec![desc])
}

/// `manifest.json` in `docker save` form, so `docker load` / `podman load` work too.
pub fn docker_manifest_json(image: &Image) -> Result<Vec<u8>> {
    let value = serde_json::json!([{
        "Config": format!("blobs/sha256/{}", image.config.hex()),
        "RepoTags": [image.reference],
        "Layers": image.layers.iter().map(|l| format!("blobs/sha256/{}", l.blob.hex())).collect::<Vec<_>>(),
    }]);
    Ok(canonical_json(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer of `files` at `epoch`, gzip, no cache.
    fn file_layer(files: &[LayerFile<'_>], epoch: u64) -> Layer {
        let options = LayerOptions {
            epoch,
            ..LayerOptions::default()
        };
        let built = LayerBuilder::files(files).unwrap();
        built.build(&options, None).unwrap().layer
    }

    #[test]
    fn stop_signal_goes_to_the_config_and_annotations_to_the_manifest() {
        let platform = Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        };
        let spec = ImageSpec::default();
        let layer = || {
            let files = [LayerFile {
                path: "/app".into(),
                mode: 0o555,
                data: b"x",
            }];
            file_layer(&files, 0)
        };
        let plain = build_image(&spec, &platform, vec![layer()], 0).unwrap();
        let contents = Contents {
            stop_signal: Some("SIGQUIT".into()),
            annotations: BTreeMap::from([("org.example.note".into(), "x".into())]),
            ..Contents::default()
        };
        let tmp = [layers::tmp()];
        let sys = LayerBuilder::nodes(&tmp).unwrap();
        let sys = sys.build(&LayerOptions::default(), None).unwrap().layer;
        let image = build_image_with(
            &spec,
            &contents,
            &platform,
            vec![
                (sys, "system files: /tmp".into()),
                (layer(), binary_comment(&spec)),
            ],
            0,
        )
        .unwrap();
        let json = |b: &Blob| -> serde_json::Value {
            serde_json::from_slice(&b.bytes().unwrap()).unwrap()
        };
        let (config, manifest) = (json(&image.config), json(&image.manifest));
        assert_eq!(config["config"]["StopSignal"], "SIGQUIT");
        assert_eq!(manifest["annotations"]["org.example.note"], "x");
        assert_eq!(
            layer_comments(&image),
            ["system files: /tmp", "static binary /app"]
        );
        assert_eq!(
            image.layers[1], plain.layers[0],
            "the binary's layer is the same bytes"
        );
        let plain_config = json(&plain.config);
        assert!(plain_config["config"].get("StopSignal").is_none());
        assert!(json(&plain.manifest).get("annotations").is_none());
        assert_eq!(
            plain_config["history"],
            serde_json::json!([{"created": "1970-01-01T00:00:00Z", "created_by": "cargo-slim build (/app)", "comment": "static binary /app"}])
        );
    }

    #[test]
    fn rfc3339_known_values() {
        for (t, want) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
        ] {
            assert_eq!(rfc3339(t), want);
        }
    }

    #[test]
    fn layer_is_deterministic_and_has_parents() {
        let data = b"\x7fELF fake";
        let files = [LayerFile {
            path: "/usr/local/bin/app".into(),
            mode: 0o555,
            data,
        }];
        let a = file_layer(&files, 0);
        let b = file_layer(&files, 0);
        assert_eq!(a, b);
        let tar_bytes = {
            use std::io::Read;
            let mut v = Vec::new();
            flate2::read::GzDecoder::new(&a.blob.bytes().unwrap()[..])
                .read_to_end(&mut v)
                .unwrap();
            v
        };
        assert_eq!(crate::digest::sha256_digest(&tar_bytes), a.diff_id);
        let mut ar = tar::Archive::new(&tar_bytes[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            ["usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/app"]
        );
        let c = file_layer(&files, 5);
        assert_ne!(a.diff_id, c.diff_id, "the epoch must reach the tar headers");
    }
}
