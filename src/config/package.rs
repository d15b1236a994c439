//! Which package and binary to build: `cargo metadata` → one package, one bin.
//!
//! In: the manifest path (or the current directory) and the `-p` / `--bin`
//! choices. Out: the [`Package`] and the name of its binary target, chosen as cargo
//! chooses, or an error listing what there is to choose from. Why apart: package
//! selection is cargo's logic, not ours, and grows with workspaces.

use std::path::Path;

use anyhow::Result;
use cargo_metadata::{Metadata, MetadataCommand, Package, TargetKind};

use crate::error::{nearest_existing, Failure};

/// `cargo metadata --no-deps` for the manifest, with errors that say where.
pub fn load_metadata(manifest_path: Option<&Path>) -> Result<Metadata> {
    let mut cmd = MetadataCommand::new();
    cmd.no_deps();
    if let Some(path) = manifest_path {
        if !path.is_file() {
            let mut f = Failure::new(format!("manifest `{}` does not exist", path.display()));
            if let Some(dir) = nearest_existing(path) {
                f = f.detail(format!("nearest existing directory: {}", dir.display()));
            }
            return Err(f
                .help("pass the path of a Cargo.toml with --manifest-path")
                .into());
        }
        cmd.manifest_path(path);
    }
    if let Ok(cargo) = std::env::var("CARGO") {
        cmd.cargo_path(cargo);
    }
    cmd.exec().map_err(|e| {
        let place = manifest_path
            .map(|p| format!("`{}`", p.display()))
            .unwrap_or_else(|| "the current directory".to_string());
        let mut f = Failure::new(format!("could not read the cargo manifest for {place}"));
        match e {
            cargo_metadata::Error::CargoMetadata { stderr } => {
                for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
                    f = f.detail(line.to_string());
                }
            }
            other => f = f.detail(other.to_string()),
        }
        f.help("run `cargo metadata` there to see cargo's own error, or pass --manifest-path")
            .into()
    })
}

pub fn select_package<'m>(metadata: &'m Metadata, spec: Option<&str>) -> Result<&'m Package> {
    let members = metadata.workspace_packages();
    let names = || {
        members
            .iter()
            .map(|p| p.name.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(spec) = spec {
        let (name, version) = match spec.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (spec, None),
        };
        return members
            .iter()
            .copied()
            .find(|p| p.name.as_str() == name && version.is_none_or(|v| p.version.to_string() == v))
            .ok_or_else(|| {
                Failure::new(format!("package `{spec}` is not a member of the workspace"))
                    .detail(format!("members: {}", names()))
                    .help("pass one of the members with -p")
                    .into()
            });
    }
    if let Some(root) = metadata.root_package() {
        return Ok(root);
    }
    let with_bins: Vec<&Package> = members
        .iter()
        .copied()
        .filter(|p| bins_of(p).next().is_some())
        .collect();
    match with_bins.as_slice() {
        [only] => Ok(only),
        _ => Err(Failure::new(format!(
            "`{}` is a virtual workspace manifest; choose the package to build",
            metadata.workspace_root.join("Cargo.toml")
        ))
        .detail(format!(
            "packages with binaries: {}",
            with_bins
                .iter()
                .map(|p| p.name.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .help("pass -p <package>")
        .into()),
    }
}

fn bins_of(p: &Package) -> impl Iterator<Item = &cargo_metadata::Target> {
    p.targets
        .iter()
        .filter(|t| t.kind.contains(&TargetKind::Bin))
}

pub fn select_bin(package: &Package, wanted: Option<&str>) -> Result<String> {
    let bins: Vec<&str> = bins_of(package).map(|t| t.name.as_str()).collect();
    if let Some(w) = wanted {
        if bins.contains(&w) {
            return Ok(w.to_string());
        }
        return Err(Failure::new(format!(
            "package `{}` has no binary target named `{w}`",
            package.name
        ))
        .detail(format!(
            "available binaries: {}",
            if bins.is_empty() {
                "(none)".to_string()
            } else {
                bins.join(", ")
            }
        ))
        .into());
    }
    match bins.as_slice() {
        [] => Err(Failure::new(format!(
            "package `{}` has no binary target; it is a library",
            package.name
        ))
        .detail(format!("manifest: {}", package.manifest_path))
        .help("cargo slim packs executables: add a `src/main.rs` or a [[bin]] target, or choose another package with -p")
        .into()),
        [one] => Ok(one.to_string()),
        many => {
            if let Some(default) = package.default_run.as_deref() {
                return Ok(default.to_string());
            }
            Err(Failure::new(format!(
                "package `{}` has several binaries; choose one",
                package.name
            ))
            .detail(format!("available binaries: {}", many.join(", ")))
            .help("pass --bin NAME, or set `bin = \"NAME\"` in [package.metadata.slim]")
            .into())
        }
    }
}
