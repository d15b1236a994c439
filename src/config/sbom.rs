//! Resolve which SBOM documents a build writes: `--sbom` over `sbom = [...]` over
//! the default (SPDX only).
//!
//! In: the `--sbom` list of the request's image flags and the metadata's `sbom` key. Out: a
//! [`SbomPlan`]. Why apart: the key has its own small grammar (`none` alone turns
//! SBOMs off; a name twice is written once) and its own error, naming where the
//! bad value came from.

use std::path::Path;

use anyhow::Result;

use super::{ImageRequest, SlimMetadata};
use crate::error::Failure;
use crate::sbom::{Format, SbomPlan};

pub(super) fn resolve(
    args: &ImageRequest,
    meta: &SlimMetadata,
    manifest: &Path,
) -> Result<SbomPlan> {
    if !args.sbom.is_empty() {
        return parse(&args.sbom).map_err(|f| f.usage().into());
    }
    match &meta.sbom {
        Some(names) => parse(names).map_err(|f| {
            f.detail(format!(
                "in `sbom` of [package.metadata.slim] of `{}`",
                manifest.display()
            ))
            .into()
        }),
        None => Ok(SbomPlan::default()),
    }
}

/// `["spdx", "cyclonedx"]`, `["none"]`; names may also come comma-separated.
pub fn parse(names: &[String]) -> Result<SbomPlan, Failure> {
    let names: Vec<&str> = names
        .iter()
        .flat_map(|n| n.split(','))
        .map(str::trim)
        .collect();
    if names == ["none"] || names.is_empty() {
        return Ok(SbomPlan { formats: vec![] });
    }
    let mut formats = Vec::new();
    for n in names {
        let f = Format::parse(n).ok_or_else(|| {
            Failure::new(format!("unknown SBOM format `{n}`"))
                .help("use `spdx`, `cyclonedx`, both (`spdx,cyclonedx`), or `none`")
        })?;
        if !formats.contains(&f) {
            formats.push(f);
        }
    }
    formats.sort();
    Ok(SbomPlan { formats })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn formats_none_and_errors() {
        let f = |s: &[&str]| parse(&names(s)).map(|p| p.formats);
        assert_eq!(f(&["spdx"]).unwrap(), [Format::Spdx]);
        assert_eq!(
            f(&["cyclonedx,spdx", "spdx"]).unwrap(),
            [Format::Spdx, Format::CycloneDx]
        );
        assert!(f(&["none"]).unwrap().is_empty());
        assert!(f(&["none", "spdx"]).is_err());
        assert!(f(&["swid"]).is_err());
    }

    #[test]
    fn the_flag_overrides_the_manifest() {
        let meta = SlimMetadata {
            sbom: Some(names(&["cyclonedx"])),
            ..SlimMetadata::default()
        };
        let mut args = ImageRequest::default();
        let m = Path::new("Cargo.toml");
        assert_eq!(
            resolve(&args, &meta, m).unwrap().formats,
            [Format::CycloneDx]
        );
        args.sbom = names(&["none"]);
        assert!(resolve(&args, &meta, m).unwrap().formats.is_empty());
        let default = resolve(&ImageRequest::default(), &SlimMetadata::default(), m).unwrap();
        assert_eq!(default, SbomPlan::default());
    }
}
