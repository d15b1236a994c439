//! The provenance step of `cargo slim build`: each platform image's SLSA v1
//! statement, signed when the build signs, attached like the SBOMs.
//!
//! In: the plan, and each platform's image with the [`Recipe`] its compile
//! recorded. Out: one in-toto attestation [`Artifact`] per platform image — the
//! statement ([`crate::provenance::statement`]) as it is, or in a DSSE envelope
//! signed with the plan's key (`crate::sign::dsse`). Why here: the statement
//! joins what the plan asked (package, features, settings), what the compile
//! chose and what the image became; only the build command sees all three.

use anyhow::Result;

use super::stages::Recipe;
use crate::config::{Plan, Revision, Source};
use crate::image::{Artifact, Image};
use crate::provenance::{self, Crate, External, Facts, GitSource, Subject};
use crate::shell::Shell;
use crate::sign::{dsse, Signer as _};

/// The label naming the source repository (from Cargo.toml's `repository`).
const SOURCE_LABEL: &str = "org.opencontainers.image.source";

/// One attestation per platform image that has a recipe (none for `--binary`,
/// or with `--provenance none`).
pub fn attestations(
    plan: &Plan,
    images: &[(&Image, Option<&Recipe>)],
    shell: &Shell,
) -> Result<Vec<Artifact>> {
    let Some(signed) = plan.provenance.decide(plan.signer.is_some())? else {
        return Ok(Vec::new());
    };
    let Source::Cargo(cargo) = &plan.source else {
        shell.verbose(
            "Skipping",
            "provenance: a --binary input was not built here",
        );
        return Ok(Vec::new());
    };
    let source = match plan.revision.wait() {
        Revision::Clean(commit) => Some(GitSource {
            repository: plan.image.labels.get(SOURCE_LABEL).cloned(),
            commit,
        }),
        Revision::Dirty(_) | Revision::None => None,
    };
    let builder = provenance::builder(|k| std::env::var(k).ok());
    let package = &cargo.package;
    let mut out = Vec::new();
    for (image, recipe) in images {
        let Some(recipe) = recipe else { continue };
        let facts = Facts {
            subject: Subject {
                name: crate::commands::sign::repository_of(&image.reference)?,
                digest: image.manifest.digest.clone(),
            },
            external: External {
                package: package.package_name.clone(),
                bin: package.bin.clone(),
                also: package.also.clone(),
                features: package.features.list.clone(),
                all_features: package.features.all,
                no_default_features: package.features.no_default,
                profile: package.profile.clone(),
                platform: image.platform.to_string(),
                image: image.reference.clone(),
                settings: settings(plan),
            },
            internal: recipe.internal.clone(),
            source: source.clone(),
            crates: recipe
                .graph
                .packages
                .iter()
                .map(|p| Crate {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    sha256: p.sha256.clone(),
                    download: p.download.clone(),
                })
                .collect(),
            builder: builder.clone(),
            epoch: crate::config::epoch_given(plan.layers.epoch),
        };
        let statement = provenance::statement(&facts)?;
        let document = match (&plan.signer, signed) {
            (Some(signer), true) => {
                let envelope = dsse::sign(dsse::IN_TOTO_PAYLOAD_TYPE, &statement, signer)?;
                // The same envelope in a Sigstore bundle too (cosign's new format).
                let b = crate::sign::bundle::of_envelope(&envelope, &signer.public_key())?;
                out.push(Artifact::bundle(
                    &image.manifest,
                    b,
                    provenance::PREDICATE_TYPE,
                )?);
                envelope
            }
            _ => statement,
        };
        let what = if signed { "signed" } else { "unsigned" };
        shell.status(
            "Attested",
            format!(
                "{} ({}): SLSA provenance, {what}",
                image.manifest.digest, image.platform
            ),
        );
        out.push(Artifact::attestation(
            &image.manifest,
            document,
            provenance::PREDICATE_TYPE,
            signed,
        )?);
    }
    Ok(out)
}

/// The settings besides package, features and profile that shape the image.
fn settings(plan: &Plan) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| out.push((k.to_string(), v));
    if let Source::Cargo(c) = &plan.source {
        let p = &c.package;
        put(
            "opt",
            p.preset
                .as_ref()
                .map_or("none".into(), |x| x.preset.name().to_string()),
        );
        put("allocator", p.allocator.as_str().to_string());
        put(
            "static-pie",
            matches!(p.relocation, crate::compile::preset::Relocation::StaticPie).to_string(),
        );
    }
    put("upx", plan.upx.is_some().to_string());
    put("compression", plan.layers.compression.name());
    let sbom: Vec<&str> = plan.sbom.formats.iter().map(|f| f.name()).collect();
    put(
        "sbom",
        if sbom.is_empty() {
            "none".into()
        } else {
            sbom.join(",")
        },
    );
    out.sort();
    out
}
