//! SBOM: the crates linked into the binary → SPDX 2.3 and CycloneDX 1.5 JSON documents.
//!
//! In: the `cargo metadata` of the build (the one preflight ran, with
//! `--filter-platform <triple>` and the build's features), the workspace's
//! `Cargo.lock`, and the image the binary went into. Out: a [`Graph`] of the
//! packages in the binary, and the documents [`render`]s from it. Why: a
//! FROM-scratch image has no package database, so scanners find nothing in it
//! unless an SBOM says what is there.
//!
//! What is listed: the root package and the closure of its *normal* dependencies
//! as cargo resolved them for the target — a dependency of another platform
//! (`cfg(windows)`) is not in that resolve, and dev-dependencies are never
//! followed. Build-time-only crates are left out, not listed with a "build
//! tool" relationship: build-dependencies (and what they pull in) and
//! proc-macro crates (and their own dependencies) run on the build host and put
//! no code in the binary. Every document is a pure function of its inputs: no
//! wall clock (`created` is `SOURCE_DATE_EPOCH` or 0), the namespace and serial
//! number derive from the image digest, packages are sorted.
//!
//! The files beside a tarball that a build owns — its report and every SBOM
//! name of every format and platform — are listed here too
//! ([`owned_sidecars`]), so a build or `index` removes those it does not rewrite.

pub mod auditable;
mod cyclonedx;
mod spdx;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::Result;
use cargo_metadata::{DependencyKind, Metadata};

use crate::error::{io_failure, Failure};

/// A document format: the model's one table of artifact type, name and file
/// extension, so what `build` writes is what `validate`, `verify` and `push`
/// read back.
pub use crate::oci::SbomFormat as Format;

/// Which documents a build writes; empty means none (`--sbom none`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomPlan {
    pub formats: Vec<Format>,
}

impl Default for SbomPlan {
    /// SPDX only.
    fn default() -> Self {
        SbomPlan {
            formats: vec![Format::Spdx],
        }
    }
}

/// One package of the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// A valid SPDX license expression, or `None` (NOASSERTION).
    pub license: Option<String>,
    /// Where the source comes from: a crates.io download URL, `git+URL`, or
    /// `None` for a local path.
    pub download: Option<String>,
    /// The sha256 of the `.crate` file, from `Cargo.lock` (registry packages only).
    pub sha256: Option<String>,
    /// Indices into [`Graph::packages`] of its normal dependencies in the binary.
    pub depends_on: Vec<usize>,
}

impl Package {
    /// `pkg:cargo/itoa@1.0.11`.
    pub fn purl(&self) -> String {
        format!("pkg:cargo/{}@{}", self.name, self.version)
    }
}

/// The packages linked into the binary: `packages[0]` is the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    pub packages: Vec<Package>,
}

/// What an SBOM describes: one platform's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `localhost/hello:0.1.0`.
    pub reference: String,
    /// The image manifest's digest, `sha256:…`.
    pub digest: String,
    /// `linux/amd64`.
    pub platform: String,
}

const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// The packages of `root`'s binary in `metadata`, with checksums from `lock`
/// (the text of `Cargo.lock`; cargo metadata does not carry them).
pub fn graph(metadata: &Metadata, root: &str, lock: Option<&str>) -> Result<Graph> {
    let (nodes, packages) = crate::preflight::by_id(metadata).ok_or_else(|| {
        Failure::new("cargo metadata returned no dependency graph").help("run `cargo metadata`")
    })?;
    let proc_macro = |id: &str| {
        packages.get(id).is_some_and(|p| {
            p.targets
                .iter()
                .any(|t| t.kind.iter().any(|k| k.to_string() == "proc-macro"))
        })
    };
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([root]);
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        let Some(node) = nodes.get(id) else { continue };
        for dep in &node.deps {
            let linked = dep
                .dep_kinds
                .iter()
                .any(|k| k.kind == DependencyKind::Normal);
            let dep_id = dep.pkg.repr.as_str();
            if linked && !proc_macro(dep_id) {
                edges.entry(id).or_default().push(dep_id);
                queue.push_back(dep_id);
            }
        }
    }
    let checksums = lock.map(lock_checksums).transpose()?.unwrap_or_default();
    // Root first, then by name and version.
    let mut order: Vec<&str> = seen.iter().copied().filter(|id| *id != root).collect();
    let key = |id: &&str| {
        packages
            .get(id)
            .map(|p| (p.name.to_string(), p.version.clone()))
    };
    order.sort_by_key(key);
    order.insert(0, root);
    let index: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut out = Vec::new();
    for id in &order {
        let p = packages.get(id).ok_or_else(|| {
            Failure::new(format!(
                "cargo metadata lists `{id}` in the graph but not as a package"
            ))
        })?;
        let name = p.name.to_string();
        let version = p.version.to_string();
        let source = p.source.as_ref().map(|s| s.repr.as_str());
        let mut depends_on: Vec<usize> = edges
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|d| index.get(d).copied())
            .collect();
        depends_on.sort_unstable();
        depends_on.dedup();
        out.push(Package {
            license: p.license.as_deref().and_then(license_expression),
            download: source.and_then(|s| download_location(s, &name, &version)),
            sha256: checksums.get(&(name.clone(), version.clone())).cloned(),
            name,
            version,
            depends_on,
        });
    }
    Ok(Graph { packages: out })
}

/// Cargo's license field as an SPDX expression: the old `MIT/Apache-2.0` form
/// means `OR`; anything with characters no expression has is left out.
fn license_expression(raw: &str) -> Option<String> {
    let expr = raw
        .split('/')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" OR ");
    let ok = !expr.trim().is_empty()
        && expr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " .-+:()".contains(c));
    ok.then_some(expr)
}

/// Where a package's source is downloaded from, for its `source` in metadata.
fn download_location(source: &str, name: &str, version: &str) -> Option<String> {
    if source == CRATES_IO || source == "sparse+https://index.crates.io/" {
        Some(format!(
            "https://crates.io/api/v1/crates/{name}/{version}/download"
        ))
    } else if let Some(git) = source.strip_prefix("git+") {
        Some(format!("git+{git}"))
    } else {
        source.strip_prefix("registry+").map(str::to_string)
    }
}

/// `(name, version)` → sha256 hex of the `checksum` lines of a `Cargo.lock`.
fn lock_checksums(text: &str) -> Result<BTreeMap<(String, String), String>> {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<Locked>,
    }
    #[derive(serde::Deserialize)]
    struct Locked {
        name: String,
        version: String,
        checksum: Option<String>,
    }
    let lock: Lock = toml::from_str(text).map_err(|e| {
        Failure::new("could not read Cargo.lock for the SBOM's checksums")
            .detail(e.to_string())
            .help("run `cargo generate-lockfile` to rewrite it")
    })?;
    Ok(lock
        .package
        .into_iter()
        .filter_map(|p| {
            let sum = p.checksum.filter(|c| crate::digest::is_sha256_hex(c))?;
            Some(((p.name, p.version), sum))
        })
        .collect())
}

/// [`graph`] of a build's metadata, with the checksums of the workspace's `Cargo.lock`.
pub fn graph_of_build(metadata: &Metadata, root: &str) -> Result<Graph> {
    graph(metadata, root, read_lock(metadata)?.as_deref())
}

/// One SBOM file of a build: where it goes beside the tarball, and its bytes.
#[derive(Debug, Clone)]
pub struct Document {
    pub format: Format,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// The image manifest it describes (the artifact's `subject`).
    pub subject: String,
}

/// Every document of `plan` for each `(graph, subject)` (one per platform image),
/// named beside `output`; several subjects get their platform in the file name.
pub fn documents(
    plan: &SbomPlan,
    images: &[(&Graph, Subject)],
    output: &Path,
    epoch: u64,
) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    for (graph, subject) in images {
        let suffix = (images.len() > 1).then(|| subject.platform.replace('/', "-"));
        for &format in &plan.formats {
            out.push(Document {
                format,
                path: sidecar_path(output, format, suffix.as_deref()),
                bytes: render(format, graph, subject, epoch)?,
                subject: subject.digest.clone(),
            });
        }
    }
    Ok(out)
}

/// Read the workspace's `Cargo.lock`, if there is one.
pub fn read_lock(metadata: &Metadata) -> Result<Option<String>> {
    let path = metadata.workspace_root.join("Cargo.lock");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_failure("read", path.as_std_path(), &e).into()),
    }
}

/// The document of `format` for `graph` in the image `subject`.
pub fn render(format: Format, graph: &Graph, subject: &Subject, epoch: u64) -> Result<Vec<u8>> {
    let value = match format {
        Format::Spdx => spdx::document(graph, subject, epoch),
        Format::CycloneDx => cyclonedx::document(graph, subject, epoch),
    };
    let mut bytes = serde_json::to_vec_pretty(&value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The file beside `output` for `format`: `app-0.1.0.tar` → `app-0.1.0.spdx.json`;
/// `suffix` (a platform, in multi-platform builds) goes before the extension.
pub fn sidecar_path(output: &Path, format: Format, suffix: Option<&str>) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let name = match suffix {
        Some(s) => format!("{stem}-{s}.{}", format.extension()),
        None => format!("{stem}.{}", format.extension()),
    };
    output.with_file_name(name)
}

/// Every file a build may write beside the tarball `output` besides the
/// tarball itself: its report (`x.report.json`) and each SBOM of every format,
/// for one platform (`x.spdx.json`) or for each known platform
/// (`x-linux-arm64-v8.cdx.json`). A build or `index` removes those it does not
/// rewrite when it commits the tarball, so no file of an earlier image stays
/// beside it. Only these exact names: nothing else in the folder is touched.
pub fn owned_sidecars(output: &Path) -> Vec<PathBuf> {
    let mut out = vec![crate::report::sidecar_path(output)];
    let platforms: Vec<String> = crate::arch::ARCHES
        .iter()
        .map(|a| format!("linux-{}", a.platform_suffix().replace('/', "-")))
        .collect();
    for format in Format::ALL {
        out.push(sidecar_path(output, format, None));
        out.extend(
            platforms
                .iter()
                .map(|p| sidecar_path(output, format, Some(p))),
        );
    }
    out.sort();
    out.dedup();
    out
}

/// The [`owned_sidecars`] of `output` that exist and are not in `rewritten`,
/// each named in a note: the caller removes them in the step that commits its
/// new files ([`crate::io::commit_replacing`]).
pub fn stale_sidecars(
    output: &Path,
    rewritten: &[&Path],
    shell: &crate::shell::Shell,
) -> Vec<PathBuf> {
    let stale: Vec<PathBuf> = owned_sidecars(output)
        .into_iter()
        .filter(|p| p != output && !rewritten.contains(&p.as_path()))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| !m.is_dir()))
        .collect();
    for p in &stale {
        shell.note(format!(
            "removing `{}`: an earlier build wrote it beside `{}`, and this run does not",
            p.display(),
            output.display()
        ));
    }
    stale
}

/// A name-based UUID (the layout of version 5, from sha256) of `seed`: the
/// same image always gets the same serial number.
fn uuid_of(seed: &str) -> String {
    let h = crate::digest::sha256_hex(seed.as_bytes());
    let mut b: Vec<char> = h[..32].chars().collect();
    b[12] = '5';
    b[16] = ['8', '9', 'a', 'b'][b[16].to_digit(16).unwrap_or(0) as usize % 4];
    let s: String = b.into_iter().collect();
    format!(
        "{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..]
    )
}

/// The tool name and version every document names as its creator.
fn tool() -> (&'static str, &'static str) {
    ("cargo-slim", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests;
