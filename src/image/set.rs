//! A set of images of one reference, one per platform: what a multi-platform
//! build (or `cargo slim index`) writes as one tarball.
//!
//! In: the [`Image`]s, in any order. Out: an [`ImageSet`] with the images in
//! the one canonical platform order (the order of the [`crate::arch`] table, so
//! `linux/amd64` comes before `linux/arm64/v8` on every machine) and, for two or
//! more, the OCI image index blob that lists their manifests with their
//! platforms. Why a type: the tarball writer, `validate` and `index` must agree
//! on the order, or the same images would give different bytes (and digests)
//! depending on which machine or argument order produced them.
//!
//! Attached artifacts ([`ImageSet::with_artifacts`], the SBOMs) are listed in the
//! same index after the images, in image order (each image's in the order given).
//! So one image with an SBOM is an index too: `index.json` can hold only one
//! entry, or `skopeo copy oci-archive:` refuses the tarball ("more than one
//! image"). The digest a user pulls stays the manifest's for one platform
//! (push sends the manifest under the tags and the SBOMs as its referrers).

use anyhow::Result;
use oci_spec::image::MediaType;

use super::{index_of, platform_descriptor, Artifact, Blob, Image, Platform};
use crate::error::Failure;

/// The images of one reference, one per platform, in canonical order.
#[derive(Debug, Clone)]
pub struct ImageSet {
    /// The full reference every image carries, e.g. `localhost/hello:0.1.0`.
    pub reference: String,
    /// One image per platform, in [`platform_rank`] order.
    pub images: Vec<Image>,
    /// Artifacts attached to the images (SBOMs), in image order.
    pub artifacts: Vec<Artifact>,
    /// The OCI image index listing the manifests (two or more images) and the
    /// artifacts; `None` for one image without artifacts, whose tarball is the
    /// single-platform layout.
    pub index: Option<Blob>,
}

/// Where a platform sorts: [`crate::validate::platform_order`], the order the
/// checker requires (by the [`crate::arch`] table: amd64 before arm64).
pub fn platform_rank(p: &Platform) -> (usize, String, String, String) {
    let (row, arch, os, variant) = crate::validate::platform_order(p);
    (row, arch.into(), os.into(), variant.into())
}

/// Two platforms a runtime cannot tell apart: same os and architecture, and the
/// same variant once a missing one means the architecture's usual variant
/// (`arm64` and `arm64/v8` are one platform).
pub fn same_platform(a: &Platform, b: &Platform) -> bool {
    let variant = |p: &Platform| {
        p.variant.clone().or_else(|| {
            crate::arch::from_name(&p.architecture)
                .filter(|row| row.goarch == p.architecture)
                .and_then(|row| row.variant.map(str::to_string))
        })
    };
    a.os == b.os && a.architecture == b.architecture && variant(a) == variant(b)
}

impl ImageSet {
    /// Sort `images` into canonical order and, for two or more, build the index.
    /// Refuses no image, two images of one platform, and images of different references.
    pub fn new(mut images: Vec<Image>) -> Result<ImageSet> {
        let Some(first) = images.first() else {
            return Err(Failure::new("no image to write: an image set needs at least one").into());
        };
        let reference = first.reference.clone();
        if let Some(other) = images.iter().find(|i| i.reference != reference) {
            return Err(Failure::new(format!(
                "the images have different references: `{reference}` and `{}`",
                other.reference
            ))
            .detail(format!("{}: {reference}", first.platform))
            .detail(format!("{}: {}", other.platform, other.reference))
            .help("every platform of one multi-platform image has the same name and tag")
            .into());
        }
        images.sort_by_key(|i| platform_rank(&i.platform));
        for (i, a) in images.iter().enumerate() {
            if let Some(b) = images[i + 1..]
                .iter()
                .find(|b| same_platform(&a.platform, &b.platform))
            {
                return Err(Failure::new(format!(
                    "two images of `{reference}` are for the same platform: {} and {}",
                    a.platform, b.platform
                ))
                .detail(format!(
                    "manifests {} and {}",
                    a.manifest.digest, b.manifest.digest
                ))
                .help("give one image per platform")
                .into());
            }
        }
        let mut set = ImageSet {
            reference,
            images,
            artifacts: Vec::new(),
            index: None,
        };
        set.index = set.build_index()?;
        Ok(set)
    }

    /// The set with `artifacts` attached, sorted into image order (stable: each
    /// image's artifacts keep the order given). Refuses an artifact whose subject
    /// is not one of the images.
    pub fn with_artifacts(mut self, mut artifacts: Vec<Artifact>) -> Result<ImageSet> {
        let rank = |a: &Artifact| {
            self.images
                .iter()
                .position(|i| i.manifest.digest == a.subject)
        };
        if let Some(stray) = artifacts.iter().find(|a| rank(a).is_none()) {
            return Err(Failure::new(format!(
                "the {} artifact {} is attached to {}, which is not an image of `{}`",
                stray.format, stray.manifest.digest, stray.subject, self.reference
            ))
            .into());
        }
        artifacts.sort_by_key(|a| rank(a));
        self.artifacts = artifacts;
        self.index = self.build_index()?;
        Ok(self)
    }

    fn build_index(&self) -> Result<Option<Blob>> {
        if self.images.len() == 1 && self.artifacts.is_empty() {
            return Ok(None);
        }
        let mut descriptors = self
            .images
            .iter()
            .map(platform_descriptor)
            .collect::<Result<Vec<_>>>()?;
        for a in &self.artifacts {
            descriptors.push(a.index_descriptor()?);
        }
        Ok(Some(Blob::new(
            MediaType::ImageIndex,
            index_of(descriptors)?,
        )))
    }

    /// The digest a user pulls: the index's for several platforms, else the
    /// manifest's (an index that only adds artifacts to one image is not pushed).
    pub fn digest(&self) -> &str {
        self.index_digest()
            .unwrap_or(&self.images[0].manifest.digest)
    }

    /// The image index's digest when it is what a user pulls (several platforms).
    pub fn index_digest(&self) -> Option<&str> {
        match &self.index {
            Some(index) if self.images.len() > 1 => Some(&index.digest),
            _ => None,
        }
    }

    /// Every blob once, in the tarball's order: per image (canonical order) its
    /// config, layers and manifest, then per artifact its config, layer and
    /// manifest, a blob already written skipped; then the index.
    pub fn blobs(&self) -> Vec<&Blob> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for image in &self.images {
            let own = std::iter::once(&image.config)
                .chain(image.layers.iter().map(|l| &l.blob))
                .chain(std::iter::once(&image.manifest));
            for blob in own {
                if seen.insert(blob.digest.as_str()) {
                    out.push(blob);
                }
            }
        }
        for a in &self.artifacts {
            for blob in [&a.config, &a.layer, &a.manifest] {
                if seen.insert(blob.digest.as_str()) {
                    out.push(blob);
                }
            }
        }
        out.extend(self.index.iter());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::media::{MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
    const SPDX: &str = crate::oci::SbomFormat::Spdx.media_type();
    use crate::image::{build_image, tarball, ImageSpec, Layer, LayerBuilder};

    fn platform(arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
        }
    }

    /// An image whose binary differs per platform and which shares the `certs` layer.
    fn image(spec: &ImageSpec, p: &Platform, certs: bool) -> Image {
        let bin = format!("\x7fELF binary for {p}");
        let layer = |path: &str, mode, data: &[u8]| -> Layer {
            let built = LayerBuilder::file(path, mode, data).unwrap();
            built.build(&Default::default(), None).unwrap().layer
        };
        let mut layers = vec![layer(&spec.path, 0o555, bin.as_bytes())];
        if certs {
            let ca = b"-----BEGIN CERTIFICATE-----\n";
            layers.insert(0, layer("/etc/ssl/certs/ca-certificates.crt", 0o444, ca));
        }
        build_image(spec, p, layers, 0).unwrap()
    }

    fn amd64_arm64(certs: bool) -> (Image, Image) {
        let spec = ImageSpec::default();
        (
            image(&spec, &platform("amd64", None), certs),
            image(&spec, &platform("arm64", Some("v8")), certs),
        )
    }

    fn tar_of(set: &ImageSet) -> Vec<u8> {
        tarball::write_set_to(set, Vec::new(), 0).unwrap()
    }

    #[test]
    fn one_image_is_the_single_platform_tarball_byte_for_byte() {
        let (amd, _) = amd64_arm64(true);
        let set = ImageSet::new(vec![amd.clone()]).unwrap();
        assert!(set.index.is_none());
        assert_eq!(set.digest(), amd.manifest.digest);
        assert_eq!(
            tar_of(&set),
            tarball::write_to(&amd, Vec::new(), 0).unwrap()
        );
    }

    #[test]
    fn order_is_canonical_whatever_the_input_order() {
        let (amd, arm) = amd64_arm64(false);
        let a = ImageSet::new(vec![amd.clone(), arm.clone()]).unwrap();
        let b = ImageSet::new(vec![arm, amd]).unwrap();
        assert_eq!(a.images[0].platform.architecture, "amd64");
        assert_eq!(a.images[1].platform.architecture, "arm64");
        assert_eq!(a.index, b.index);
        assert_eq!(tar_of(&a), tar_of(&b));
        let index: serde_json::Value =
            serde_json::from_slice(&a.index.as_ref().unwrap().bytes().unwrap()).unwrap();
        assert_eq!(index["mediaType"], MEDIA_TYPE_INDEX);
        assert_eq!(index["schemaVersion"], 2);
        let m = index["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["digest"], a.images[0].manifest.digest.as_str());
        assert_eq!(
            m[0]["platform"],
            serde_json::json!({"architecture": "amd64", "os": "linux"})
        );
        assert_eq!(
            m[1]["platform"],
            serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
        );
        assert_eq!(m[1]["mediaType"], MEDIA_TYPE_MANIFEST);
        assert_eq!(a.digest(), a.index.as_ref().unwrap().digest);
    }

    #[test]
    fn a_shared_layer_is_written_once() {
        let (amd, arm) = amd64_arm64(true);
        assert_eq!(
            amd.layers[0], arm.layers[0],
            "the CA layer is the same blob"
        );
        let set = ImageSet::new(vec![amd.clone(), arm.clone()]).unwrap();
        let names: Vec<String> = set.blobs().iter().map(|b| b.digest.clone()).collect();
        let want = [
            &amd.config.digest,
            &amd.layers[0].blob.digest,
            &amd.layers[1].blob.digest,
            &amd.manifest.digest,
            &arm.config.digest,
            &arm.layers[1].blob.digest,
            &arm.manifest.digest,
            &set.index.as_ref().unwrap().digest,
        ];
        assert_eq!(names.iter().collect::<Vec<_>>(), want);
        let bytes = tar_of(&set);
        let mut ar = tar::Archive::new(&bytes[..]);
        let entries: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(entries.len(), 3 + want.len());
        assert_eq!(entries[..3], ["oci-layout", "index.json", "manifest.json"]);
        let docker: serde_json::Value = {
            let mut ar = tar::Archive::new(&bytes[..]);
            let mut e = ar.entries().unwrap().nth(2).unwrap().unwrap();
            serde_json::from_reader(&mut e).unwrap()
        };
        assert_eq!(
            docker[0]["Config"],
            format!("blobs/sha256/{}", amd.config.hex()),
            "manifest.json describes the first platform, amd64"
        );
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let err = |images: Vec<Image>| format!("{:#}", ImageSet::new(images).unwrap_err());
        assert!(err(Vec::new()).contains("at least one"));

        let (amd, arm) = amd64_arm64(false);
        let spec = ImageSpec::default();
        let bare_arm = image(&spec, &platform("arm64", None), false);
        let e = err(vec![arm.clone(), amd.clone(), bare_arm]);
        assert!(
            e.contains("same platform") && e.contains("linux/arm64"),
            "{e}"
        );

        let other = ImageSpec {
            reference: crate::reference::Reference::parse("localhost/other:1").unwrap(),
            ..ImageSpec::default()
        };
        let e = err(vec![
            amd,
            image(&other, &platform("arm64", Some("v8")), false),
        ]);
        assert!(
            e.contains("localhost/app:latest") && e.contains("localhost/other:1"),
            "{e}"
        );
    }

    // Strict validation of the multi-platform layout.

    use crate::validate::{validate_reader, validate_set_reader};

    /// The outer entries of a tarball, to corrupt and write again.
    fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        use std::io::Read;
        let mut ar = tar::Archive::new(bytes);
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (e.path().unwrap().display().to_string(), data)
            })
            .collect()
    }

    fn retar(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            tarball::append(&mut tar, name, data, 0).unwrap();
        }
        tar.into_inner().unwrap()
    }

    fn invalid(bytes: &[u8]) -> String {
        format!("{:#}", validate_set_reader(bytes).unwrap_err())
    }

    #[test]
    fn a_multi_platform_tarball_validates_strictly() {
        let (amd, arm) = amd64_arm64(true);
        let set = ImageSet::new(vec![arm, amd]).unwrap();
        let bytes = tar_of(&set);
        let valid = validate_set_reader(&bytes[..]).unwrap();
        assert_eq!(valid.reference, "localhost/app:latest");
        assert_eq!(valid.digest(), set.digest());
        assert_eq!(valid.platforms(), "linux/amd64, linux/arm64/v8");
        assert_eq!(valid.images[1].variant.as_deref(), Some("v8"));
        assert_eq!(
            valid.images[0].layers[0], valid.images[1].layers[0],
            "the shared layer is one blob"
        );
        assert_eq!(valid.images[1].find("app").unwrap().mode, 0o555);
        let e = format!("{:#}", validate_reader(&bytes[..]).unwrap_err());
        assert!(
            e.contains("multi-platform") && e.contains("linux/amd64, linux/arm64/v8"),
            "{e}"
        );
    }

    #[test]
    fn multi_platform_violations_are_named() {
        let (amd, arm) = amd64_arm64(true);
        let set = ImageSet::new(vec![amd.clone(), arm.clone()]).unwrap();
        let good = entries(&tar_of(&set));

        // A blob missing: arm64's manifest.
        let arm_manifest = format!("blobs/sha256/{}", arm.manifest.hex());
        let mut e = good.clone();
        e.retain(|(n, _)| *n != arm_manifest);
        let msg = invalid(&retar(&e));
        assert!(
            msg.contains(&arm_manifest) && msg.contains("not in the tarball"),
            "{msg}"
        );

        // An unreferenced blob after the index.
        let mut e = good.clone();
        let junk = b"junk".to_vec();
        e.push((
            format!("blobs/sha256/{}", crate::digest::sha256_hex(&junk)),
            junk,
        ));
        let msg = invalid(&retar(&e));
        assert!(msg.contains("not referenced"), "{msg}");

        // A shared layer written twice.
        let mut e = good.clone();
        let shared = format!("blobs/sha256/{}", amd.layers[0].blob.hex());
        let copy = e.iter().find(|(n, _)| *n == shared).unwrap().clone();
        e.insert(8, copy);
        let msg = invalid(&retar(&e));
        assert!(msg.contains("duplicate outer tar entry"), "{msg}");

        // Images out of canonical order in the index.
        let images = vec![arm.clone(), amd.clone()];
        let descriptors = images
            .iter()
            .map(|i| platform_descriptor(i).unwrap())
            .collect();
        let swapped = ImageSet {
            reference: set.reference.clone(),
            artifacts: Vec::new(),
            index: Some(Blob::new(
                MediaType::ImageIndex,
                index_of(descriptors).unwrap(),
            )),
            images,
        };
        let msg = invalid(&tar_of(&swapped));
        assert!(
            msg.contains("order") && msg.contains("linux/amd64"),
            "{msg}"
        );

        // An index platform the config does not have.
        let mut liar = arm.clone();
        liar.platform = platform("riscv64", None);
        let lying = ImageSet::new(vec![amd.clone(), liar]).unwrap();
        let msg = invalid(&tar_of(&lying));
        assert!(
            msg.contains("architecture is \"arm64\"") && msg.contains("riscv64"),
            "{msg}"
        );

        // manifest.json naming the second platform instead of the first.
        let mut e = good.clone();
        e[2].1 = crate::image::docker_manifest_json(&arm).unwrap();
        let msg = invalid(&retar(&e));
        assert!(
            msg.contains("manifest.json") && msg.contains("Config"),
            "{msg}"
        );
    }

    fn sbom(image: &Image, doc: &[u8]) -> Artifact {
        Artifact::attach(image, SPDX, "spdx", "sbom.spdx.json", doc.to_vec()).unwrap()
    }

    #[test]
    fn one_image_with_an_sbom_is_an_index_that_validates_and_pulls_as_the_image() {
        let (amd, arm) = amd64_arm64(false);
        let set = ImageSet::new(vec![amd.clone()])
            .unwrap()
            .with_artifacts(vec![sbom(&amd, br#"{"spdxVersion":"SPDX-2.3"}"#)])
            .unwrap();
        assert_eq!(
            set.digest(),
            amd.manifest.digest,
            "the image is what is pulled"
        );
        assert!(set.index_digest().is_none());
        let valid = validate_set_reader(&tar_of(&set)[..]).unwrap();
        assert_eq!(valid.images.len(), 1);
        assert_eq!(valid.digest(), amd.manifest.digest);
        assert_eq!(valid.artifacts.len(), 1);
        assert_eq!(valid.artifacts[0].subject, amd.manifest.digest);
        assert_eq!(valid.artifacts[0].format, "spdx");
        // The single-image readers take it too.
        assert_eq!(
            validate_reader(&tar_of(&set)[..]).unwrap().manifest_digest,
            amd.manifest.digest
        );

        // Several platforms: each SBOM after the images, in image order.
        let both = ImageSet::new(vec![amd.clone(), arm.clone()])
            .unwrap()
            .with_artifacts(vec![sbom(&arm, b"{}"), sbom(&amd, b"{}")])
            .unwrap();
        assert_eq!(both.artifacts[0].subject, amd.manifest.digest);
        let valid = validate_set_reader(&tar_of(&both)[..]).unwrap();
        assert_eq!(valid.digest(), both.index.as_ref().unwrap().digest);
        assert_eq!(valid.artifacts_of(1).count(), 1);

        // An SBOM of an image not in the set is refused, naming it.
        let other = image(&ImageSpec::default(), &platform("riscv64", None), false);
        let e = ImageSet::new(vec![amd.clone()])
            .unwrap()
            .with_artifacts(vec![sbom(&other, b"{}")])
            .unwrap_err();
        assert!(format!("{e:#}").contains(&other.manifest.digest), "{e:#}");
    }

    #[test]
    fn a_wrong_artifact_is_named() {
        let (amd, _) = amd64_arm64(false);
        let forge = |a: Artifact| {
            let mut set = ImageSet::new(vec![amd.clone()]).unwrap();
            set.artifacts = vec![a];
            set.index = set.build_index().unwrap();
            invalid(&tar_of(&set))
        };
        // Attached to an image the tarball does not hold.
        let other = image(&ImageSpec::default(), &platform("riscv64", None), false);
        let mut stray = sbom(&other, b"{}");
        stray.subject = other.manifest.digest.clone();
        let msg = forge(stray);
        assert!(msg.contains("not an image manifest of"), "{msg}");
        // A document that is not JSON.
        let msg = forge(sbom(&amd, b"not json"));
        assert!(msg.contains("not JSON"), "{msg}");
        // An artifact type that is not an SBOM's.
        let mut odd = sbom(&amd, b"{}");
        odd.artifact_type = "application/x-odd".into();
        let msg = forge(odd);
        assert!(msg.contains("artifactType"), "{msg}");
    }

    #[test]
    fn mutated_multi_platform_tarballs_are_errors_not_panics() {
        let (amd, arm) = amd64_arm64(true);
        let doc = br#"{"spdxVersion":"SPDX-2.3"}"#;
        let set = ImageSet::new(vec![amd.clone(), arm])
            .unwrap()
            .with_artifacts(vec![sbom(&amd, doc)])
            .unwrap();
        let good = tar_of(&set);
        validate_set_reader(&good[..]).unwrap();
        let mut rng = crate::testing::XorShift(0x5EED_1DE7);
        let mut refused = 0;
        for _ in 0..300 {
            let mut bytes = good.clone();
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
            if validate_set_reader(&bytes[..]).is_err() {
                refused += 1;
            }
        }
        // Flips in tar padding may go unnoticed; flips in names, headers,
        // documents and blobs may not.
        assert!(refused > 200, "only {refused} of 300 mutations refused");
    }
}
