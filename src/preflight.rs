//! Pre-build checks on the dependency graph: `cargo metadata` → findings.
//!
//! Some FROM-scratch failures are visible before compiling anything: `openssl-sys`
//! on a musl target without its `vendored` feature cannot give a static binary;
//! TLS stacks that read the system trust store find no CA bundle in an empty
//! image; time-zone code that reads `/usr/share/zoneinfo` finds nothing; musl's
//! allocator is slow under many threads. Catching the first one here fails the
//! build in a second instead of after a long compile; the rest are warnings and
//! notes that name the `[package.metadata.slim]` key or crate feature that fixes
//! them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::Result;
use cargo_metadata::{CargoOpt, DependencyKind, Metadata, MetadataCommand};

use crate::compile::CargoBuild;
use crate::error::Failure;
use crate::image::ImageSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub message: String,
    pub help: Option<String>,
}

/// The runtime dependency closure of the package: crate name → enabled features.
pub type Closure = BTreeMap<String, BTreeSet<String>>;

/// The dependency graph for one target, as preflight reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// The normal-dependency closure (what is linked into the binary).
    pub crates: Closure,
    /// Packages of that closure (the root included) whose build script compiles
    /// C for the target: a `cc` or `cmake` build dependency, or a `-sys` crate
    /// with `links`. A cross build of these needs a C cross compiler.
    pub native: Vec<String>,
}

/// Build dependencies that mean "this build script runs a C compiler".
const C_BUILD_DEPS: [&str; 2] = ["cc", "cmake"];

/// Run `cargo metadata` with the build's features for `triple` and return the
/// package's normal-dependency closure and the crates in it that compile C.
pub fn resolve(build: &CargoBuild, triple: &str) -> Result<Graph> {
    Ok(graph_of(&metadata(build, triple)?, &build.package_id))
}

/// `cargo metadata` of the build: its features, resolved for `triple` only
/// (`--filter-platform`). The SBOM stage reads the same graph.
pub fn metadata(build: &CargoBuild, triple: &str) -> Result<Metadata> {
    Ok(metadata_reused(build, triple)?.0)
}

/// A cached `cargo metadata` answer and the files it was read from.
#[derive(serde::Serialize, serde::Deserialize)]
struct Answer {
    seen: Vec<(PathBuf, String)>,
    metadata: Metadata,
}

/// [`metadata`], from the rebuild cache when nothing it was read from changed
/// (`true`: reused). The key holds the question (manifest, features, target,
/// cargo arguments), the working folder, every `CARGO*`/`RUST*` variable and the
/// toolchain (its sysroot and the stamps of its `cargo` and `rustc`); the entry
/// records every file and folder the answer came from — each local package's
/// manifest and the folders cargo discovers targets in (and its parent, where a
/// workspace glob finds members), the workspace manifest and `Cargo.lock`, every
/// `.cargo/config(.toml)` cargo reads and `--config` files — and is reused only
/// when all of them look the same.
pub fn metadata_reused(build: &CargoBuild, triple: &str) -> Result<(Metadata, bool)> {
    let cache = &build.cache;
    if !cache.is_on() {
        return Ok((run_metadata(build, triple)?, false));
    }
    let key = metadata_key(build, triple);
    if let Some(a) = cache
        .load("metadata", &key)
        .and_then(|e| serde_json::from_slice::<Answer>(&e.meta).ok())
    {
        if crate::cache::unchanged(&a.seen) {
            return Ok((a.metadata, true));
        }
    }
    let metadata = run_metadata(build, triple)?;
    let (looked, present) = read_from(build, &metadata);
    let seen = looked
        .into_iter()
        .map(|p| {
            let look = crate::cache::look(&p);
            (p, look)
        })
        .chain(present.into_iter().map(|p| {
            let there = crate::cache::presence(&p);
            (p, there)
        }))
        .collect();
    let answer = Answer { seen, metadata };
    if let Ok(json) = serde_json::to_vec(&answer) {
        let _ = cache.store_meta("metadata", &key, &json);
    }
    Ok((answer.metadata, false))
}

fn metadata_key(build: &CargoBuild, triple: &str) -> String {
    let mut parts: Vec<Vec<u8>> = vec![
        b"metadata".to_vec(),
        triple.as_bytes().to_vec(),
        build.manifest_path.as_os_str().as_encoded_bytes().to_vec(),
        build.features.join("\0").into_bytes(),
        build.cargo_args.join("\0").into_bytes(),
        format!(
            "{} {} {} {} {}",
            build.all_features,
            build.no_default_features,
            build.locked,
            build.offline,
            build.frozen
        )
        .into_bytes(),
    ];
    if let Ok(cwd) = std::env::current_dir() {
        parts.push(cwd.as_os_str().as_encoded_bytes().to_vec());
    }
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CARGO") || k.starts_with("RUST"))
        .collect();
    vars.sort();
    for (k, v) in vars {
        parts.push(format!("{k}={v}").into_bytes());
    }
    if let Ok(cargo) = std::env::var("CARGO") {
        parts.push(crate::cache::stamp(Path::new(&cargo)).into_bytes());
    }
    let dir = build.manifest_path.parent().unwrap_or(Path::new("."));
    match crate::compile::sysroot(dir, &build.cache) {
        Ok(sysroot) => {
            parts.push(sysroot.as_os_str().as_encoded_bytes().to_vec());
            for tool in ["bin/cargo", "bin/rustc"] {
                parts.push(crate::cache::stamp(&sysroot.join(tool)).into_bytes());
            }
        }
        // No known toolchain: a key no other run shares.
        Err(_) => parts.push(format!("{:?}", std::time::SystemTime::now()).into_bytes()),
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    crate::cache::key(&refs)
}

/// The files and folders a `cargo metadata` answer depends on: those whose
/// bytes or names matter, and those whose presence matters.
fn read_from(build: &CargoBuild, metadata: &Metadata) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let root = metadata.workspace_root.as_std_path();
    let mut paths = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    let mut present = Vec::new();
    for p in metadata.packages.iter().filter(|p| p.source.is_none()) {
        let manifest = p.manifest_path.as_std_path();
        paths.push(manifest.to_path_buf());
        let Some(dir) = manifest.parent() else {
            continue;
        };
        // Where cargo discovers targets.
        for sub in ["src/bin", "examples", "tests", "benches"] {
            paths.push(dir.join(sub));
        }
        for file in ["build.rs", "src/main.rs", "src/lib.rs"] {
            present.push(dir.join(file));
        }
        // Where a `members = ["crates/*"]` glob finds a new member.
        if dir != root {
            paths.extend(dir.parent().map(Path::to_path_buf));
        }
    }
    let mut starts = vec![build
        .manifest_path
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()];
    starts.extend(std::env::current_dir().ok());
    for start in starts {
        let start = std::path::absolute(&start).unwrap_or(start);
        for d in start.ancestors() {
            paths.push(d.join(".cargo/config.toml"));
            paths.push(d.join(".cargo/config"));
        }
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(h) = home {
        paths.push(h.join("config.toml"));
        paths.push(h.join("config"));
    }
    paths.extend(
        build
            .cargo_args
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.is_file()),
    );
    paths.sort();
    paths.dedup();
    (paths, present)
}

fn run_metadata(build: &CargoBuild, triple: &str) -> Result<Metadata> {
    let mut cmd = MetadataCommand::new();
    cmd.manifest_path(&build.manifest_path);
    if let Ok(cargo) = std::env::var("CARGO") {
        cmd.cargo_path(cargo);
    }
    if build.all_features {
        cmd.features(CargoOpt::AllFeatures);
    }
    if build.no_default_features {
        cmd.features(CargoOpt::NoDefaultFeatures);
    }
    if !build.features.is_empty() {
        cmd.features(CargoOpt::SomeFeatures(build.features.clone()));
    }
    let mut other = vec!["--filter-platform".to_string(), triple.to_string()];
    other.extend(build.cargo_args.iter().cloned());
    for (on, flag) in [
        (build.locked, "--locked"),
        (build.offline, "--offline"),
        (build.frozen, "--frozen"),
    ] {
        if on {
            other.push(flag.to_string());
        }
    }
    cmd.other_options(other);
    let metadata = cmd.exec().map_err(|e| {
        Failure::new(format!(
            "could not resolve the dependencies of `{}`",
            build.package_name
        ))
        .detail(e.to_string())
        .help("run `cargo metadata` in the crate to see cargo's error")
    })?;
    Ok(metadata)
}

/// The resolve's nodes and the packages of `metadata`, by package id; `None`
/// without a resolve. Shared with the SBOM stage, which walks the same graph.
pub type ById<'m> = (
    BTreeMap<&'m str, &'m cargo_metadata::Node>,
    BTreeMap<&'m str, &'m cargo_metadata::Package>,
);

pub fn by_id(metadata: &Metadata) -> Option<ById<'_>> {
    let resolve = metadata.resolve.as_ref()?;
    let nodes = resolve
        .nodes
        .iter()
        .map(|n| (n.id.repr.as_str(), n))
        .collect();
    let packages = metadata
        .packages
        .iter()
        .map(|p| (p.id.repr.as_str(), p))
        .collect();
    Some((nodes, packages))
}

/// The closure and native crates of `root` in `metadata` (see [`resolve`]).
pub fn graph_of(metadata: &Metadata, root: &str) -> Graph {
    let mut out = Closure::new();
    let mut native = BTreeSet::new();
    let Some((nodes, packages)) = by_id(metadata) else {
        return Graph::default();
    };
    let names: BTreeMap<&str, &str> = packages
        .iter()
        .map(|(id, p)| (*id, p.name.as_str()))
        .collect();
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([root]);
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        let Some(node) = nodes.get(id) else { continue };
        if id != root {
            if let Some(name) = names.get(id) {
                out.entry(name.to_string())
                    .or_default()
                    .extend(node.features.iter().map(|f| f.to_string()));
            }
        }
        let compiles_c = node.deps.iter().any(|d| {
            d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Build)
                && names
                    .get(d.pkg.repr.as_str())
                    .is_some_and(|n| C_BUILD_DEPS.contains(n))
        }) || packages
            .get(id)
            .is_some_and(|p| p.links.is_some() && p.name.ends_with("-sys"));
        if compiles_c {
            if let Some(name) = names.get(id) {
                native.insert(name.to_string());
            }
        }
        for dep in &node.deps {
            if dep
                .dep_kinds
                .iter()
                .any(|k| k.kind == DependencyKind::Normal)
            {
                queue.push_back(dep.pkg.repr.as_str());
            }
        }
    }
    Graph {
        crates: out,
        native: native.into_iter().collect(),
    }
}

/// Crates that load the system trust store at run time.
const SYSTEM_ROOTS: [&str; 4] = [
    "rustls-native-certs",
    "openssl",
    "native-tls",
    "openssl-probe",
];
/// Global allocators that fix musl's slow malloc under contention.
const ALLOCATORS: [&str; 6] = [
    "mimalloc",
    "tikv-jemallocator",
    "jemallocator",
    "snmalloc-rs",
    "rpmalloc",
    "tcmalloc",
];
/// Crates that make a program multi-threaded in practice.
const THREADED: [&str; 4] = ["rayon", "actix-rt", "async-std", "crossbeam-utils"];

/// Evaluate the closure against the target and what the image carries.
pub fn check(closure: &Closure, triple: &str, image: &ImageSpec) -> Vec<Finding> {
    let has = |name: &str| closure.contains_key(name);
    let feature = |name: &str, f: &str| closure.get(name).is_some_and(|fs| fs.contains(f));
    let musl = triple.contains("musl");
    let mut out = Vec::new();

    if musl
        && has("openssl-sys")
        && !feature("openssl-sys", "vendored")
        && std::env::var_os("OPENSSL_STATIC").is_none()
    {
        out.push(Finding {
            level: Level::Error,
            message: format!(
                "`openssl-sys` links the system OpenSSL, which cannot be linked statically for `{triple}`"
            ),
            help: Some(
                "enable the `vendored` feature: `openssl = { version = \"0.10\", features = [\"vendored\"] }` \
                 (builds OpenSSL from source), or switch to rustls; set OPENSSL_STATIC=1 if you provide a static musl OpenSSL yourself"
                    .into(),
            ),
        });
    }

    if image.ca_certificates.is_none() {
        let users: Vec<&str> = SYSTEM_ROOTS.iter().copied().filter(|c| has(c)).collect();
        if !users.is_empty() {
            out.push(Finding {
                level: Level::Warning,
                message: format!(
                    "{} read{} the system CA certificates at run time, but the image carries no CA bundle: TLS connections will fail",
                    users.join(", "),
                    if users.len() == 1 { "s" } else { "" }
                ),
                help: Some("set `ca-certificates = true` in [package.metadata.slim] to copy the host's bundle to /etc/ssl/certs/ca-certificates.crt, or use `webpki-roots`".into()),
            });
        }
    }

    if image.zoneinfo.is_none() {
        let mut users = Vec::new();
        if has("jiff") && !feature("jiff", "tzdb-bundle-always") {
            users.push("jiff (without `tzdb-bundle-always`)");
        }
        if feature("time", "local-offset") {
            users.push("time (with `local-offset`)");
        }
        if has("tzfile") {
            users.push("tzfile");
        }
        if has("chrono-tz") && feature("chrono-tz", "filter-by-regex") {
            users.push("chrono-tz (filtered data)");
        }
        if !users.is_empty() {
            out.push(Finding {
                level: Level::Warning,
                message: format!(
                    "{} look{} up time zones in /usr/share/zoneinfo, which the image does not have: local times will silently be UTC",
                    users.join(", "),
                    if users.len() == 1 { "s" } else { "" }
                ),
                help: Some("set `zoneinfo = true` in [package.metadata.slim] to copy the host's zoneinfo, or bundle the data (jiff: `tzdb-bundle-always`)".into()),
            });
        }
    }

    let threaded = THREADED.iter().any(|c| has(c)) || feature("tokio", "rt-multi-thread");
    if musl && threaded && !ALLOCATORS.iter().any(|a| has(a)) {
        out.push(Finding {
            level: Level::Note,
            message: "this multi-threaded program uses musl's default allocator, which is slow under contention".into(),
            help: Some("a global allocator such as `mimalloc` or `tikv-jemallocator` is the usual cure".into()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Reference;

    fn spec() -> ImageSpec {
        ImageSpec {
            reference: Reference::parse("x").unwrap(),
            path: "/x".into(),
            user: "1".into(),
            cmd: None,
            env: Default::default(),
            labels: Default::default(),
            workdir: None,
            expose: vec![],
            name: "x".into(),
            version: None,
            ca_certificates: None,
            zoneinfo: None,
        }
    }

    fn closure(items: &[(&str, &[&str])]) -> Closure {
        items
            .iter()
            .map(|(n, fs)| (n.to_string(), fs.iter().map(|f| f.to_string()).collect()))
            .collect()
    }

    const MUSL: &str = "x86_64-unknown-linux-musl";

    #[test]
    fn table() {
        type Case<'a> = (&'a [(&'a str, &'a [&'a str])], &'a str, &'a [Level]);
        let cases: &[Case] = &[
            (&[], MUSL, &[]),
            (&[("openssl-sys", &[])], MUSL, &[Level::Error]),
            (&[("openssl-sys", &["vendored"])], MUSL, &[]),
            (&[("openssl-sys", &[])], "x86_64-unknown-linux-gnu", &[]),
            (
                &[("openssl", &[]), ("openssl-sys", &["vendored"])],
                MUSL,
                &[Level::Warning],
            ),
            (&[("rustls-native-certs", &[])], MUSL, &[Level::Warning]),
            (&[("webpki-roots", &[])], MUSL, &[]),
            (&[("jiff", &["std"])], MUSL, &[Level::Warning]),
            (&[("jiff", &["tzdb-bundle-always"])], MUSL, &[]),
            (&[("time", &["local-offset"])], MUSL, &[Level::Warning]),
            (&[("tokio", &["rt-multi-thread"])], MUSL, &[Level::Note]),
            (
                &[("tokio", &["rt-multi-thread"]), ("mimalloc", &[])],
                MUSL,
                &[],
            ),
            (&[("tokio", &["rt"])], MUSL, &[]),
            (&[("rayon", &[])], "x86_64-unknown-linux-gnu", &[]),
        ];
        for (deps, triple, want) in cases {
            let got: Vec<Level> = check(&closure(deps), triple, &spec())
                .into_iter()
                .map(|f| f.level)
                .collect();
            assert_eq!(&got, want, "{deps:?} on {triple}");
        }
    }

    #[test]
    fn image_contents_silence_warnings() {
        let mut s = spec();
        s.ca_certificates = Some("/etc/ssl/certs/ca-certificates.crt".into());
        s.zoneinfo = Some("/usr/share/zoneinfo".into());
        let c = closure(&[("rustls-native-certs", &[]), ("jiff", &[])]);
        assert!(check(&c, MUSL, &s).is_empty());
    }
}
