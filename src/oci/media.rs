//! Every media type an image archive or a registry speaks, in one table.
//!
//! In: nothing. Out: the `mediaType` strings of the OCI image index, manifest,
//! config and layers (gzip, zstd, uncompressed), docker's manifest list and
//! config, the empty config of an artifact, cosign's signature types, and
//! [`is_index_media_type`]. Why one
//! module: the writer (`image`), the readers (`oci`, `validate`, `verify`) and
//! `push` must agree on every byte of these names; a typo in one copy is an
//! image no registry accepts. The SBOM formats' own types are the
//! [`super::SbomFormat`] table.

/// `mediaType` of the OCI image index.
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `mediaType` of the OCI image manifest.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `mediaType` of the OCI image config.
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// `mediaType` of a gzip-compressed OCI layer.
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// `mediaType` of a zstd-compressed OCI layer.
pub const MEDIA_TYPE_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// `mediaType` of an uncompressed OCI layer (a docker-archive's layer files).
pub const MEDIA_TYPE_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Docker's manifest list (a multi-platform index).
pub const MEDIA_TYPE_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image config.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// The empty config of an artifact manifest (`{}`).
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// An SPDX 2.3 JSON document (an attached SBOM's `artifactType` and layer).
pub const MEDIA_TYPE_SPDX: &str = "application/spdx+json";
/// A CycloneDX JSON document (an attached SBOM's `artifactType` and layer).
pub const MEDIA_TYPE_CYCLONEDX: &str = "application/vnd.cyclonedx+json";

/// `artifactType` of a cosign signature attached to an image (cosign's OCI 1.1
/// referrers form); inside a tarball, one such artifact per signing key.
pub const MEDIA_TYPE_COSIGN_SIGNATURE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// A cosign simple-signing payload: the layer of a signature, whose bytes are signed.
pub const MEDIA_TYPE_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding a signature: base64 of the DER ECDSA signature.
pub const ANNOTATION_COSIGN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";

/// `artifactType` of an in-toto attestation (SLSA provenance), and the media
/// type of its layer when that is the bare statement (unsigned).
pub const MEDIA_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";
/// `artifactType` (and layer media type) of a Sigstore bundle v0.3.
pub const MEDIA_TYPE_SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The `format` name of a Sigstore bundle artifact.
pub const FORMAT_BUNDLE: &str = "sigstore-bundle";
/// Manifest annotations of a bundle artifact (cosign's BUNDLE_SPEC): what the
/// bundle holds, and its statement's predicate.
pub const ANNOTATION_BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
pub const ANNOTATION_BUNDLE_PREDICATE: &str = "dev.sigstore.bundle.predicateType";
/// The `format` name of a SLSA provenance attestation (as `spdx` is an SBOM's).
pub const FORMAT_PROVENANCE: &str = "slsa-provenance";
/// The layer of a signed attestation: a DSSE envelope (cosign's `.att` layers too).
pub const MEDIA_TYPE_DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// The layer annotation naming an attestation's predicate (buildx, ORAS).
pub const ANNOTATION_PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// The same, as cosign's `.att` layers name it.
pub const ANNOTATION_COSIGN_PREDICATE_TYPE: &str = "predicateType";

/// The media type of the one layer of an attached artifact of `artifact_type`:
/// the payload for a signature, the document itself for an SBOM, the statement
/// for an unsigned attestation (a signed one's is [`MEDIA_TYPE_DSSE`]).
pub fn artifact_layer_media_type(artifact_type: &str) -> &str {
    if artifact_type == MEDIA_TYPE_COSIGN_SIGNATURE {
        MEDIA_TYPE_SIMPLE_SIGNING
    } else {
        artifact_type
    }
}

/// What an attached artifact vouches with, by its `artifactType`: `provenance`
/// (an in-toto statement or its envelope), `signature` (cosign's), `bundle`
/// (a Sigstore bundle); `None` for anything else (an SBOM).
pub fn trust_kind(artifact_type: &str) -> Option<&'static str> {
    match artifact_type {
        MEDIA_TYPE_IN_TOTO => Some("provenance"),
        MEDIA_TYPE_COSIGN_SIGNATURE => Some("signature"),
        MEDIA_TYPE_SIGSTORE_BUNDLE => Some("bundle"),
        _ => None,
    }
}

/// Whether an artifact of `artifact_type` may have a layer of `layer_type`.
pub fn artifact_layer_accepted(artifact_type: &str, layer_type: &str) -> bool {
    layer_type == artifact_layer_media_type(artifact_type)
        || (artifact_type == MEDIA_TYPE_IN_TOTO && layer_type == MEDIA_TYPE_DSSE)
}

/// Whether a media type names an image index (OCI or docker manifest list).
pub fn is_index_media_type(m: &str) -> bool {
    m == MEDIA_TYPE_INDEX
        || m == MEDIA_TYPE_DOCKER_LIST
        || m.contains("index")
        || m.contains("manifest.list")
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::MediaType;

    #[test]
    fn the_writers_media_types_are_the_readers() {
        // `image` writes through oci-spec's enum: it must spell every type as
        // the readers and `push` do.
        for (ours, theirs) in [
            (MEDIA_TYPE_INDEX, MediaType::ImageIndex),
            (MEDIA_TYPE_MANIFEST, MediaType::ImageManifest),
            (MEDIA_TYPE_CONFIG, MediaType::ImageConfig),
            (MEDIA_TYPE_LAYER_GZIP, MediaType::ImageLayerGzip),
            (MEDIA_TYPE_LAYER_ZSTD, MediaType::ImageLayerZstd),
            (MEDIA_TYPE_LAYER_TAR, MediaType::ImageLayer),
            (MEDIA_TYPE_EMPTY, MediaType::EmptyJSON),
        ] {
            assert_eq!(ours, theirs.to_string());
        }
        assert!(is_index_media_type(MEDIA_TYPE_DOCKER_LIST));
        assert!(!is_index_media_type(MEDIA_TYPE_MANIFEST));
    }
}
