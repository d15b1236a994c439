//! Which images a run builds: `-p` (repeatable), `--workspace` (less
//! `--exclude` and the members whose `[package.metadata.slim]` says `skip =
//! true`) and `--bins` → one (package, binary) pair per image.
//!
//! In: the workspace's `cargo metadata` and the request's cargo group. Out:
//! [`Selected`] images, each with its settings table already merged over
//! `[workspace.metadata.slim]`, in a stable order (the order of `-p`, else the
//! workspace's member order; a package's binaries in its manifest's order).
//! Why apart: with no selection flag this is exactly the one-image choice of
//! [`select_package`] and [`select_bin`], so a single build resolves as it
//! always did; the multi-image rules (which members count, what `--bin`
//! means there, two images with one name) live in one place.

use std::path::Path;

use anyhow::Result;
use cargo_metadata::{Metadata, Package, TargetKind};

use super::package::{select_bin, select_package, Selector};
use super::request::CargoRequest;
use super::schema::{read_slim_metadata, SlimMetadata};
use crate::error::Failure;

/// One image of the run: the package, its binary and its settings.
#[derive(Debug)]
pub struct Selected<'m> {
    pub package: &'m Package,
    /// The binary the image runs.
    pub bin: String,
    /// With `bins = [...]`: the image's other binaries.
    pub also: Vec<String>,
    pub meta: SlimMetadata,
}

/// Whether the request asks for more than the one image of a plain build.
pub fn several(req: &CargoRequest) -> bool {
    req.workspace || req.all_bins || req.packages.len() > 1
}

/// The images `req` selects in `metadata` (`cwd`: where the user stands).
pub fn select<'m>(
    metadata: &'m Metadata,
    req: &CargoRequest,
    cwd: Option<&Path>,
) -> Result<Vec<Selected<'m>>> {
    if req.bin.is_some() && (req.workspace || req.packages.len() > 1) {
        return Err(Failure::new("`--bin` chooses one binary of one package")
            .help(
                "set `bin = \"NAME\"` in each package's [package.metadata.slim], \
                 or pass --bins for an image of every binary",
            )
            .usage()
            .into());
    }
    if !req.exclude.is_empty() && !req.workspace {
        return Err(
            Failure::new("`--exclude` leaves packages out of `--workspace`")
                .help("add --workspace, or leave --exclude out")
                .usage()
                .into(),
        );
    }
    let packages = if req.workspace {
        workspace_members(metadata, &req.exclude)?
    } else {
        let specs: Vec<Option<&str>> = match req.packages.as_slice() {
            [] => vec![None],
            specs => specs.iter().map(|s| Some(s.as_str())).collect(),
        };
        let mut found: Vec<&Package> = Vec::new();
        for spec in specs {
            let p = select_package(
                metadata,
                Selector {
                    spec,
                    bin: req.bin.as_deref(),
                    manifest: req.manifest_path.as_deref(),
                    cwd,
                },
            )?;
            if !found.iter().any(|f| f.id == p.id) {
                found.push(p);
            }
        }
        found
    };
    let mut selected = Vec::new();
    for package in packages {
        let meta = read_slim_metadata(metadata, package)?;
        if req.workspace && meta.skip == Some(true) {
            continue;
        }
        if req.all_bins {
            for bin in bin_names(package) {
                selected.push(Selected {
                    package,
                    bin,
                    also: Vec::new(),
                    meta: meta.clone(),
                });
            }
        } else {
            selected.push(one_image(package, req.bin.as_deref(), meta)?);
        }
    }
    if selected.is_empty() {
        return Err(Failure::new("no image to build: every member with a binary has `skip = true`")
            .help("remove `skip = true` from a member's [package.metadata.slim], or choose packages with -p")
            .into());
    }
    distinct_names(&selected)?;
    Ok(selected)
}

/// The image of `package` (a member's name) and its binary `bin` (else the
/// `bin` key, or its only binary): how a `slim://PACKAGE[/BIN]` reference is
/// read. The error says what is wrong, for the caller to place.
pub fn named<'m>(metadata: &'m Metadata, package: &str, bin: Option<&str>) -> Result<Selected<'m>> {
    let members = metadata.workspace_packages();
    let Some(found) = members.iter().copied().find(|p| p.name.as_str() == package) else {
        return Err(Failure::new(format!(
            "package `{package}` is not a member of the workspace at `{}`",
            metadata.workspace_root
        ))
        .detail(format!(
            "members with a binary: {}",
            members
                .iter()
                .filter(|p| !bin_names(p).is_empty())
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    };
    let meta = read_slim_metadata(metadata, found)?;
    one_image(found, bin, meta)
}

/// The image of `package`: `bin` (a `--bin` or a reference's), else the
/// `bins` list (its `entrypoint`, or first, runs), else the `bin` key, else
/// the package's only binary.
fn one_image<'m>(
    package: &'m Package,
    bin: Option<&str>,
    meta: SlimMetadata,
) -> Result<Selected<'m>> {
    let manifest = package.manifest_path.as_std_path();
    let (bin, also) = match (bin, &meta.bins) {
        (None, Some(bins)) => {
            let Some(first) = bins.first() else {
                return Err(super::schema::bad_key(
                    manifest,
                    "bins",
                    "[]",
                    "it lists no binary".into(),
                    "list the binaries of the image, e.g. bins = [\"server\", \"migrate\"]",
                ));
            };
            let entry = meta.entrypoint.clone().unwrap_or_else(|| first.clone());
            if !bins.contains(&entry) {
                return Err(super::schema::bad_key(
                    manifest,
                    "entrypoint",
                    &entry,
                    format!("it is not in `bins` ({})", bins.join(", ")),
                    "name one of `bins`, or leave `entrypoint` out for the first",
                ));
            }
            for b in bins {
                select_bin(package, Some(b))?;
            }
            let mut also: Vec<String> = Vec::new();
            for b in bins.iter().filter(|b| **b != entry) {
                if !also.contains(b) {
                    also.push(b.clone());
                }
            }
            (entry, also)
        }
        _ => (
            select_bin(package, bin.or(meta.bin.as_deref()))?,
            Vec::new(),
        ),
    };
    Ok(Selected {
        package,
        bin,
        also,
        meta,
    })
}

/// The members with a binary target, in the workspace's order, less `exclude`.
fn workspace_members<'m>(metadata: &'m Metadata, exclude: &[String]) -> Result<Vec<&'m Package>> {
    let members = metadata.workspace_packages();
    for spec in exclude {
        if !members.iter().any(|p| super::matches_spec(p, spec)) {
            return Err(Failure::new(format!(
                "`--exclude {spec}` names no member of the workspace"
            ))
            .detail(format!(
                "members: {}",
                members
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .usage()
            .into());
        }
    }
    let with_bins: Vec<&Package> = members
        .into_iter()
        .filter(|p| !bin_names(p).is_empty())
        .filter(|p| !exclude.iter().any(|s| super::matches_spec(p, s)))
        .collect();
    if with_bins.is_empty() {
        return Err(Failure::new(format!(
            "no member of the workspace at `{}` has a binary target",
            metadata.workspace_root
        ))
        .into());
    }
    Ok(with_bins)
}

/// The package's binary targets, in its manifest's order.
fn bin_names(p: &Package) -> Vec<String> {
    p.targets
        .iter()
        .filter(|t| t.kind.contains(&TargetKind::Bin))
        .map(|t| t.name.clone())
        .collect()
}

/// Two images named after one binary name would write one output file.
pub fn distinct_names(selected: &[Selected<'_>]) -> Result<()> {
    for (i, a) in selected.iter().enumerate() {
        if let Some(b) = selected[i + 1..].iter().find(|b| b.bin == a.bin) {
            return Err(Failure::new(format!(
                "packages `{}` and `{}` both have a binary named `{}`: their images would have one name",
                a.package.name, b.package.name, a.bin
            ))
            .help("build one of them in a run of its own (with -o), or rename one binary")
            .into());
        }
    }
    Ok(())
}
