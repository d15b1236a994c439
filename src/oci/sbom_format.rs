//! The SBOM formats an image carries as attached artifacts: the one table of
//! artifact type ↔ format name ↔ file extension.
//!
//! In: a [`SbomFormat`], an `artifactType` (of an artifact manifest or of its
//! index descriptor) or a format name a user wrote. Out: the other columns of
//! its row, and how many crates a document of the format lists. Why in the model: `validate` checks the SBOM artifacts a tarball
//! lists, the `sbom` stage writes them (it re-exports this type as
//! `sbom::Format`), `verify` and `push` read them back; all must agree on
//! every type and name, and the model is the layer all of them may import.

/// A document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SbomFormat {
    /// SPDX 2.3 JSON, `<stem>.spdx.json`.
    Spdx,
    /// CycloneDX 1.5 JSON, `<stem>.cdx.json`.
    CycloneDx,
}

impl SbomFormat {
    /// Every format, in the order errors list them.
    pub const ALL: [SbomFormat; 2] = [SbomFormat::Spdx, SbomFormat::CycloneDx];

    /// The name users write in `--sbom` and `sbom = [...]`, and the value of
    /// the artifact's `dev.cargo-slim.sbom` annotation.
    pub fn name(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "spdx",
            SbomFormat::CycloneDx => "cyclonedx",
        }
    }

    /// The file name suffix beside the tarball.
    pub fn extension(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "spdx.json",
            SbomFormat::CycloneDx => "cdx.json",
        }
    }

    /// The `artifactType` (and layer media type) of the document inside an image.
    pub const fn media_type(self) -> &'static str {
        match self {
            SbomFormat::Spdx => super::media::MEDIA_TYPE_SPDX,
            SbomFormat::CycloneDx => super::media::MEDIA_TYPE_CYCLONEDX,
        }
    }

    /// The format whose [`SbomFormat::media_type`] is `media_type` (an
    /// artifact's `artifactType`).
    pub fn from_media_type(media_type: &str) -> Option<SbomFormat> {
        SbomFormat::ALL
            .into_iter()
            .find(|f| f.media_type() == media_type)
    }

    /// How many crates (`pkg:cargo/` purls) the document `doc` of this format
    /// lists; `None` when it is not such a document.
    pub fn crate_count(self, doc: &[u8]) -> Option<usize> {
        let v: serde_json::Value = serde_json::from_slice(doc).ok()?;
        let is_crate =
            |purl: &serde_json::Value| purl.as_str().is_some_and(|p| p.starts_with("pkg:cargo/"));
        let count = match self {
            SbomFormat::Spdx => v["packages"]
                .as_array()?
                .iter()
                .filter(|p| {
                    p["externalRefs"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| is_crate(&r["referenceLocator"])))
                })
                .count(),
            SbomFormat::CycloneDx => v["components"]
                .as_array()?
                .iter()
                .filter(|c| is_crate(&c["purl"]))
                .count(),
        };
        Some(count)
    }

    /// The format a user names: its [`SbomFormat::name`], or `cdx`.
    pub fn parse(name: &str) -> Option<SbomFormat> {
        match name {
            "spdx" => Some(SbomFormat::Spdx),
            "cyclonedx" | "cdx" => Some(SbomFormat::CycloneDx),
            _ => None,
        }
    }
}
