//! Attached artifacts: a document (an SBOM) and the image it describes → an OCI
//! artifact manifest with that image as its `subject`.
//!
//! In: the [`Image`], the document's media type (`application/spdx+json`,
//! `application/vnd.cyclonedx+json`) and its bytes. Out: an [`Artifact`]: the
//! empty config (`application/vnd.oci.empty.v1+json`, `{}`), the document as its
//! one layer, and the manifest (`artifactType` = the media type, `subject` = the
//! image manifest's descriptor), all canonical JSON. Why a type of the image
//! model: the tarball lists artifacts beside the images, `validate` checks them,
//! `push` sends them as referrers, and `index` carries them into a merged
//! tarball — all from the same bytes.
//!
//! A cosign signature ([`Artifact::signature`]) is attached the same way: its
//! `artifactType` is cosign's [`MEDIA_TYPE_COSIGN_SIGNATURE`], its one layer the
//! simple-signing payload with the base64 DER signature in the layer annotation
//! `dev.cosignproject.cosign/signature` (what `push` copies into cosign's
//! `sha256-<hex>.sig` tag); one artifact per signing key.
//!
//! SLSA provenance ([`Artifact::attestation`]) too: `artifactType`
//! `application/vnd.in-toto+json`, its one layer the statement itself (unsigned)
//! or the DSSE envelope around it (`application/vnd.dsse.envelope.v1+json`,
//! signed), annotated with the predicate type (as buildx and cosign name it) and,
//! when signed, an empty `dev.cosignproject.cosign/signature` (the signature is
//! inside the envelope; cosign's `.att` layers carry the annotation so).
//!
//! How an image index lists one ([`Artifact::index_descriptor`]): platform
//! `unknown/unknown`, so no runtime or copier picks it as the image to run (what
//! buildx does for its attestations), with `artifactType`, the annotation
//! [`ANNOTATION_SBOM`] naming the format and `vnd.docker.reference.digest`
//! naming the subject.

use std::collections::HashMap;

use anyhow::Result;
use oci_spec::image::{
    Arch, Descriptor, DescriptorBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder,
};

use super::{Blob, Image};
use crate::oci::canonical::to_canonical_json;
pub use crate::oci::documents::{ANNOTATION_DOCKER_REF_DIGEST, ANNOTATION_SBOM};
use crate::oci::media::{
    ANNOTATION_BUNDLE_CONTENT, ANNOTATION_BUNDLE_PREDICATE, ANNOTATION_COSIGN_PREDICATE_TYPE,
    ANNOTATION_COSIGN_SIGNATURE, ANNOTATION_PREDICATE_TYPE, FORMAT_BUNDLE, FORMAT_PROVENANCE,
    MEDIA_TYPE_COSIGN_SIGNATURE, MEDIA_TYPE_DSSE, MEDIA_TYPE_IN_TOTO, MEDIA_TYPE_SIGSTORE_BUNDLE,
    MEDIA_TYPE_SIMPLE_SIGNING,
};

/// The layer's title (ORAS names the file it writes by it).
const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";

/// An artifact manifest attached to one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `sha256:<hex>` of the image manifest it describes.
    pub subject: String,
    /// `artifactType`, also the layer's media type.
    pub artifact_type: String,
    /// What [`ANNOTATION_SBOM`] says, e.g. `spdx`.
    pub format: String,
    /// The empty config, `{}`.
    pub config: Blob,
    /// The document.
    pub layer: Blob,
    pub manifest: Blob,
}

/// The empty config every artifact manifest names.
pub fn empty_config() -> Blob {
    Blob::new(MediaType::EmptyJSON, b"{}".to_vec())
}

impl Artifact {
    /// The cosign signature `signature` (ASN.1 DER) over the simple-signing
    /// `payload`, attached to the image manifest `manifest`.
    pub fn signature(manifest: &Blob, payload: Vec<u8>, signature: &[u8]) -> Result<Artifact> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(signature);
        let layer = Blob::new(MediaType::Other(MEDIA_TYPE_SIMPLE_SIGNING.into()), payload);
        let annotations = HashMap::from([(ANNOTATION_COSIGN_SIGNATURE.to_string(), b64)]);
        Self::build(
            manifest,
            MEDIA_TYPE_COSIGN_SIGNATURE,
            "cosign",
            layer,
            annotations,
        )
    }

    /// The in-toto attestation `document` of predicate type `predicate_type`
    /// about the image manifest `manifest`: a DSSE envelope when `signed`, else
    /// the bare statement.
    pub fn attestation(
        manifest: &Blob,
        document: Vec<u8>,
        predicate_type: &str,
        signed: bool,
    ) -> Result<Artifact> {
        let layer_type = if signed {
            MEDIA_TYPE_DSSE
        } else {
            MEDIA_TYPE_IN_TOTO
        };
        let layer = Blob::new(MediaType::Other(layer_type.into()), document);
        let mut annotations =
            HashMap::from([(ANNOTATION_PREDICATE_TYPE.to_string(), predicate_type.into())]);
        if signed {
            annotations.insert(
                ANNOTATION_COSIGN_PREDICATE_TYPE.to_string(),
                predicate_type.into(),
            );
            annotations.insert(ANNOTATION_COSIGN_SIGNATURE.to_string(), String::new());
        }
        Self::build(
            manifest,
            MEDIA_TYPE_IN_TOTO,
            FORMAT_PROVENANCE,
            layer,
            annotations,
        )
    }

    /// The Sigstore bundle `bundle` (a DSSE envelope inside, its statement's
    /// predicate `predicate_type`) about the image (or index) manifest `manifest`,
    /// as cosign's BUNDLE_SPEC attaches one.
    pub fn bundle(manifest: &Blob, bundle: Vec<u8>, predicate_type: &str) -> Result<Artifact> {
        let hex = crate::digest::sha256_hex(&bundle);
        let layer = Blob::new(MediaType::Other(MEDIA_TYPE_SIGSTORE_BUNDLE.into()), bundle);
        let title = HashMap::from([(
            ANNOTATION_TITLE.to_string(),
            format!("sha256-{hex}.sigstore.json"),
        )]);
        let on_manifest = HashMap::from([
            (
                ANNOTATION_BUNDLE_CONTENT.to_string(),
                "dsse-envelope".to_string(),
            ),
            (
                ANNOTATION_BUNDLE_PREDICATE.to_string(),
                predicate_type.to_string(),
            ),
        ]);
        Self::build_with(
            manifest,
            MEDIA_TYPE_SIGSTORE_BUNDLE,
            FORMAT_BUNDLE,
            layer,
            title,
            Some(on_manifest),
        )
    }

    /// The artifact of `document` (of media type `artifact_type`, format name
    /// `format`, file name `title` in the layer annotation) attached to `image`.
    pub fn attach(
        image: &Image,
        artifact_type: &str,
        format: &str,
        title: &str,
        document: Vec<u8>,
    ) -> Result<Artifact> {
        let layer = Blob::new(MediaType::Other(artifact_type.to_string()), document);
        let annotations = HashMap::from([(ANNOTATION_TITLE.to_string(), title.to_string())]);
        Self::build(&image.manifest, artifact_type, format, layer, annotations)
    }

    /// The artifact manifest of `layer` (with `annotations`) attached to `subject`.
    fn build(
        subject: &Blob,
        artifact_type: &str,
        format: &str,
        layer: Blob,
        annotations: HashMap<String, String>,
    ) -> Result<Artifact> {
        Self::build_with(subject, artifact_type, format, layer, annotations, None)
    }

    /// [`Artifact::build`], with annotations on the manifest itself too.
    fn build_with(
        subject: &Blob,
        artifact_type: &str,
        format: &str,
        layer: Blob,
        annotations: HashMap<String, String>,
        on_manifest: Option<HashMap<String, String>>,
    ) -> Result<Artifact> {
        let config = empty_config();
        let mut layer_desc = layer.descriptor()?;
        layer_desc.set_annotations(Some(annotations));
        let mut manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .artifact_type(MediaType::Other(artifact_type.to_string()))
            .config(config.descriptor()?)
            .layers(vec![layer_desc])
            .subject(subject.descriptor()?)
            .build()?;
        manifest.set_annotations(on_manifest);
        Ok(Artifact {
            subject: subject.digest.clone(),
            artifact_type: artifact_type.to_string(),
            format: format.to_string(),
            config,
            layer,
            manifest: Blob::new(MediaType::ImageManifest, to_canonical_json(&manifest)?),
        })
    }

    /// Whether this is a cosign signature (not an SBOM).
    pub fn is_signature(&self) -> bool {
        self.artifact_type == MEDIA_TYPE_COSIGN_SIGNATURE
    }

    /// Whether this is an SBOM (not a signature, attestation or bundle).
    pub fn is_sbom(&self) -> bool {
        !self.is_signature() && !self.is_attestation() && !self.is_bundle()
    }

    /// Whether this is a Sigstore bundle.
    pub fn is_bundle(&self) -> bool {
        self.artifact_type == MEDIA_TYPE_SIGSTORE_BUNDLE
    }

    /// Whether this is an in-toto attestation (provenance).
    pub fn is_attestation(&self) -> bool {
        self.artifact_type == MEDIA_TYPE_IN_TOTO
    }

    /// Whether this is a signed attestation (its layer a DSSE envelope).
    pub fn is_signed_attestation(&self) -> bool {
        self.is_attestation() && self.layer.media_type == MediaType::Other(MEDIA_TYPE_DSSE.into())
    }

    /// How an image index lists the artifact (module header).
    pub fn index_descriptor(&self) -> Result<Descriptor> {
        let platform = PlatformBuilder::default()
            .architecture(Arch::Other("unknown".into()))
            .os(Os::Other("unknown".into()))
            .build()?;
        let mut annotations = HashMap::from([(
            ANNOTATION_DOCKER_REF_DIGEST.to_string(),
            self.subject.clone(),
        )]);
        if self.is_sbom() {
            annotations.insert(ANNOTATION_SBOM.to_string(), self.format.clone());
        }
        Ok(DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(self.manifest.digest.parse::<oci_spec::image::Digest>()?)
            .size(self.manifest.size())
            .artifact_type(MediaType::Other(self.artifact_type.clone()))
            .platform(platform)
            .annotations(annotations)
            .build()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::media::{MEDIA_TYPE_EMPTY, MEDIA_TYPE_MANIFEST};
    const SPDX: &str = crate::oci::SbomFormat::Spdx.media_type();
    use crate::image::{build_image, ImageSpec, LayerBuilder, Platform};

    fn image() -> Image {
        let built = LayerBuilder::file("/app", 0o555, b"\x7fELF").unwrap();
        let layer = built.build(&Default::default(), None).unwrap().layer;
        let platform = Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        };
        build_image(&ImageSpec::default(), &platform, vec![layer], 0).unwrap()
    }

    #[test]
    fn an_sbom_artifact_names_its_image_as_subject_and_carries_the_document() {
        let image = image();
        let doc = br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec();
        let a = Artifact::attach(&image, SPDX, "spdx", "sbom.spdx.json", doc).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&a.manifest.bytes().unwrap()).unwrap();
        assert_eq!(m["artifactType"], SPDX);
        assert_eq!(m["mediaType"], MEDIA_TYPE_MANIFEST);
        assert_eq!(m["config"]["mediaType"], MEDIA_TYPE_EMPTY);
        assert_eq!(
            m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(m["config"]["size"], 2);
        assert_eq!(m["layers"][0]["digest"], a.layer.digest.as_str());
        assert_eq!(m["layers"][0]["mediaType"], SPDX);
        assert_eq!(
            m["layers"][0]["annotations"]["org.opencontainers.image.title"],
            "sbom.spdx.json"
        );
        assert_eq!(m["subject"]["digest"], image.manifest.digest.as_str());
        assert_eq!(m["subject"]["size"], image.manifest.size());
        let d = serde_json::to_value(a.index_descriptor().unwrap()).unwrap();
        assert_eq!(
            d["platform"],
            serde_json::json!({"architecture": "unknown", "os": "unknown"})
        );
        assert_eq!(d["artifactType"], SPDX);
        assert_eq!(d["annotations"][ANNOTATION_SBOM], "spdx");
        assert_eq!(
            d["annotations"][ANNOTATION_DOCKER_REF_DIGEST],
            image.manifest.digest.as_str()
        );
        // Canonical: the same inputs give the same bytes.
        let again = Artifact::attach(
            &image,
            SPDX,
            "spdx",
            "sbom.spdx.json",
            br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec(),
        )
        .unwrap();
        assert_eq!(a, again);
        assert_eq!(a.manifest.bytes().unwrap(), again.manifest.bytes().unwrap());
    }

    #[test]
    fn a_signature_artifact_carries_the_payload_and_its_signature_and_validates() {
        let image = image();
        let payload = br#"{"critical":{}}"#.to_vec();
        let a = Artifact::signature(&image.manifest, payload.clone(), &[0x30, 0x00]).unwrap();
        assert!(a.is_signature());
        let m: serde_json::Value = serde_json::from_slice(&a.manifest.bytes().unwrap()).unwrap();
        assert_eq!(m["artifactType"], MEDIA_TYPE_COSIGN_SIGNATURE);
        assert_eq!(m["layers"][0]["mediaType"], MEDIA_TYPE_SIMPLE_SIGNING);
        assert_eq!(
            m["layers"][0]["annotations"][ANNOTATION_COSIGN_SIGNATURE],
            "MAA="
        );
        assert_eq!(a.layer.bytes().unwrap().as_ref(), &payload[..]);
        let d = serde_json::to_value(a.index_descriptor().unwrap()).unwrap();
        assert!(d["annotations"].get(ANNOTATION_SBOM).is_none(), "{d}");
        let set = crate::image::ImageSet::new(vec![image.clone()])
            .unwrap()
            .with_artifacts(vec![a])
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signed.tar");
        crate::image::tarball::write_set(&set, &path, 0).unwrap();
        let valid = crate::validate::validate_set(&path).unwrap();
        assert_eq!(valid.artifacts[0].format, "cosign");
        assert_eq!(valid.artifacts[0].subject, image.manifest.digest);
    }
}
