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
pub fn load_metadata(manifest_path: Option<&Path>, cargo_args: &[String]) -> Result<Metadata> {
    let mut cmd = MetadataCommand::new();
    cmd.no_deps();
    cmd.other_options(cargo_args.to_vec());
    if let Some(path) = manifest_path {
        if path.is_dir() {
            return Err(Failure::new(format!(
                "`{}` is a folder, not a Cargo.toml",
                path.display()
            ))
            .help(format!(
                "pass the manifest in it: --manifest-path {}",
                path.join("Cargo.toml").display()
            ))
            .into());
        }
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

/// What picks the package: `-p SPEC`, `--bin NAME`, the manifest given with
/// `--manifest-path`, and the folder the user stands in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selector<'a> {
    pub spec: Option<&'a str>,
    pub bin: Option<&'a str>,
    pub manifest: Option<&'a Path>,
    pub cwd: Option<&'a Path>,
}

/// Choose the package as cargo does: `-p SPEC` (any package-id spec form); else
/// the member whose manifest was given or whose folder the user stands in; else,
/// at a virtual workspace root, the member that owns `--bin`, or the only member
/// with binaries.
pub fn select_package<'m>(metadata: &'m Metadata, sel: Selector<'_>) -> Result<&'m Package> {
    let members = metadata.workspace_packages();
    let names = || {
        members
            .iter()
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(spec) = sel.spec {
        let found: Vec<&Package> = members
            .iter()
            .copied()
            .filter(|p| matches_spec(p, spec))
            .collect();
        return match found.as_slice() {
            [one] => Ok(one),
            [] => Err(
                Failure::new(format!("package `{spec}` is not a member of the workspace"))
                    .detail(format!("members: {}", names()))
                    .help("pass one of the members with -p (NAME, NAME@VERSION or a package id)")
                    .into(),
            ),
            many => Err(
                Failure::new(format!("package spec `{spec}` matches several packages"))
                    .detail(format!(
                        "matches: {}",
                        many.iter()
                            .map(|p| p.id.repr.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .help("add the version (NAME@VERSION) or pass the full package id")
                    .into(),
            ),
        };
    }
    let manifest = match sel.manifest {
        Some(m) => Some(m.to_path_buf()),
        None => sel.cwd.and_then(nearest_manifest),
    };
    if let Some(m) = manifest.and_then(|m| m.canonicalize().ok()) {
        let own = members.iter().copied().find(|p| {
            p.manifest_path
                .as_std_path()
                .canonicalize()
                .is_ok_and(|pm| pm == m)
        });
        if let Some(p) = own {
            return Ok(p);
        }
    }
    if let Some(bin) = sel.bin {
        let owners: Vec<&Package> = members
            .iter()
            .copied()
            .filter(|p| bins_of(p).any(|t| t.name == bin))
            .collect();
        return match owners.as_slice() {
            [one] => Ok(one),
            [] => Err(Failure::new(format!(
                "no member of the workspace has a binary named `{bin}`"
            ))
            .detail(format!("binaries: {}", workspace_bins(&members)))
            .help("pass one of them with --bin")
            .into()),
            many => Err(
                Failure::new(format!("several members have a binary named `{bin}`"))
                    .detail(format!(
                        "packages: {}",
                        many.iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .help("choose the package with -p")
                    .into(),
            ),
        };
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
        .detail(format!("binaries: {}", workspace_bins(&members)))
        .help("pass -p PACKAGE or --bin NAME, or run cargo slim in the member's folder")
        .into()),
    }
}

/// `alpha (alpha), beta (beta, beta-admin)`: every member with binaries.
fn workspace_bins(members: &[&Package]) -> String {
    let list: Vec<String> = members
        .iter()
        .filter_map(|p| {
            let bins: Vec<&str> = bins_of(p).map(|t| t.name.as_str()).collect();
            (!bins.is_empty()).then(|| format!("{} in package {}", bins.join(", "), p.name))
        })
        .collect();
    if list.is_empty() {
        "(none)".into()
    } else {
        list.join("; ")
    }
}

/// The `Cargo.toml` cargo would use from `dir`: the nearest one at or above it.
fn nearest_manifest(dir: &Path) -> Option<std::path::PathBuf> {
    dir.ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|m| m.is_file())
}

/// Whether `spec` (a cargo package-id spec) names `p`: `NAME`, `NAME@VERSION`
/// (a version prefix such as `0.1` too), `NAME:VERSION`, the package id itself,
/// or a URL form `[path+]file:///DIR[#NAME][@VERSION]` / `…#VERSION`.
pub fn matches_spec(p: &Package, spec: &str) -> bool {
    if spec == p.id.repr {
        return true;
    }
    let version_matches = |want: &str| {
        let have = p.version.to_string();
        let mut h = have.split(['.', '-', '+']);
        !want.is_empty() && want.split('.').all(|w| h.next() == Some(w))
    };
    let name_version = |s: &str| match s.split_once(['@', ':']) {
        Some((n, v)) => n == p.name.as_str() && version_matches(v),
        None => s == p.name.as_str(),
    };
    if !spec.contains("://") {
        return name_version(spec);
    }
    let (url, fragment) = spec.split_once('#').unwrap_or((spec, ""));
    let url = url.strip_prefix("path+").unwrap_or(url);
    let Some(dir) = url.strip_prefix("file://") else {
        return false; // registry and git sources are never workspace members
    };
    let in_dir = p
        .manifest_path
        .parent()
        .is_some_and(|d| Path::new(d.as_str()) == Path::new(dir.trim_end_matches('/')));
    let frag_ok = fragment.is_empty()
        || if fragment.starts_with(|c: char| c.is_ascii_digit()) {
            version_matches(fragment)
        } else {
            name_version(fragment)
        };
    in_dir && frag_ok
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
        .help(if bins.is_empty() {
            "this package has no binary: choose another package with -p".to_string()
        } else {
            format!("pass one of them, e.g. --bin {}", bins[0])
        })
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
            .help("pass --bin NAME (or --bins for an image of each), or set `bin = \"NAME\"` in [package.metadata.slim]")
            .into())
        }
    }
}
