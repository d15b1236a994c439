//! Pre-build checks on the dependency graph: `cargo metadata` → findings.
//!
//! Some FROM-scratch failures are visible before compiling anything: `openssl-sys`
//! on a musl target without its `vendored` feature cannot give a static binary;
//! TLS stacks that read the system trust store find no CA bundle in an empty
//! image; time-zone code that reads `/usr/share/zoneinfo` finds nothing. Catching
//! the first one here fails the build in a second instead of after a long compile;
//! the rest are warnings and notes that name the `[package.metadata.slim]` key or
//! crate feature that fixes them. The graph also decides the allocator
//! ([`allocator`]): musl's malloc is slow under many threads, so `auto` links
//! mimalloc into a multi-threaded program that has no allocator of its own.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use anyhow::Result;
use cargo_metadata::{CargoOpt, DependencyKind, Metadata, MetadataCommand};

use crate::compile::alloc::{Choice, Decision};
use crate::compile::CargoBuild;
use crate::error::Failure;
use crate::image::ImageSpec;

mod cached;
pub use cached::{metadata_reused, workspace_metadata};

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

pub(crate) fn run_metadata(build: &CargoBuild, triple: &str) -> Result<Metadata> {
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
/// Crates that make a program's `#[global_allocator]`, and the allocator each is.
const ALLOCATORS: [(&str, &str); 6] = [
    ("mimalloc", "mimalloc"),
    ("tikv-jemallocator", "jemalloc"),
    ("jemallocator", "jemalloc"),
    ("snmalloc-rs", "snmalloc"),
    ("rpmalloc", "rpmalloc"),
    ("tcmalloc", "tcmalloc"),
];
/// Crates that make a program multi-threaded in practice.
const THREADED: [&str; 4] = ["rayon", "actix-rt", "async-std", "crossbeam-utils"];
/// jemalloc's build crates: built for 4 KiB pages unless told otherwise.
const JEMALLOC_SYS: [&str; 2] = ["tikv-jemalloc-sys", "jemalloc-sys"];

/// Why the program is multi-threaded, if the graph says it is.
fn threaded(closure: &Closure) -> Option<String> {
    if closure
        .get("tokio")
        .is_some_and(|fs| fs.contains("rt-multi-thread"))
    {
        return Some("tokio multi-thread runtime".into());
    }
    THREADED
        .iter()
        .find(|c| closure.contains_key(**c))
        .map(|c| format!("{c} (threads)"))
}

/// What `allocator` (`choice`) means for this graph and target: whether to link
/// mimalloc, what the binary should then allocate with, and why. The program's
/// own `#[global_allocator]` crate is kept (`auto`, `musl`), or is an error next to
/// `mimalloc`, which would link a second malloc.
pub fn allocator(choice: Choice, closure: &Closure, triple: &str) -> Result<Decision, Failure> {
    let own = ALLOCATORS.iter().find(|(c, _)| closure.contains_key(*c));
    let libc = if triple.contains("musl") {
        "musl"
    } else {
        "glibc"
    };
    let decided = |mimalloc: bool, expected: &str, why: String| Decision {
        mimalloc,
        expected: expected.to_string(),
        why,
        note: None,
        env: Vec::new(),
    };
    let mut d = match (choice, own) {
        (Choice::Mimalloc, Some((krate, _))) => {
            return Err(Failure::new(format!(
                "allocator = \"mimalloc\" links mimalloc as malloc, but the program has its own global allocator (crate `{krate}`)"
            ))
            .help("use allocator = \"auto\", which keeps the program's own, or drop the crate"))
        }
        (_, Some((krate, name))) => decided(
            false,
            name,
            format!("the program's own #[global_allocator], crate {krate}; malloc: {libc}"),
        ),
        (Choice::Mimalloc, None) if libc == "glibc" => {
            return Err(Failure::new(format!(
                "allocator = \"mimalloc\" replaces musl's malloc, and `{triple}` is not a musl target"
            ))
            .help("build for a musl target (the default), or use allocator = \"auto\""))
        }
        (_, None) if libc == "glibc" => decided(false, "glibc", format!("glibc's malloc: `{triple}` is a -gnu target")),
        (Choice::Mimalloc, None) => decided(true, "mimalloc", "linked by cargo-slim; allocator = \"mimalloc\"".into()),
        (Choice::Musl, None) => {
            let mut d = decided(false, "musl", "musl's own; allocator = \"musl\"".into());
            d.note = threaded(closure).map(|t| format!(
                "allocator = \"musl\" keeps musl's malloc in a multi-threaded program ({t}): it takes a global lock, slow under contention; the default `auto` links mimalloc"
            ));
            d
        }
        (Choice::Auto, None) => match threaded(closure) {
            Some(t) => decided(true, "mimalloc", format!("linked by cargo-slim; auto: {t}")),
            None => decided(false, "musl", "musl's own; auto: no multi-threaded runtime in the crate graph".into()),
        },
    };
    if let Some(sys) = JEMALLOC_SYS.iter().find(|c| closure.contains_key(**c)) {
        if triple.starts_with("aarch64") && std::env::var_os(JEMALLOC_LG_PAGE).is_none() {
            d.env.push((JEMALLOC_LG_PAGE.to_string(), "16".to_string()));
            let note = format!(
                "`{sys}` is built with {JEMALLOC_LG_PAGE}=16 for linux/arm64: jemalloc built for 4 KiB pages aborts on arm64 kernels with 16 or 64 KiB pages; set {JEMALLOC_LG_PAGE} yourself to choose"
            );
            d.note = Some(match d.note.take() {
                Some(n) => format!("{n}\n{note}"),
                None => note,
            });
        }
    }
    Ok(d)
}

/// jemalloc-sys's setting of the page size it is built for (log2 of bytes).
pub const JEMALLOC_LG_PAGE: &str = "JEMALLOC_SYS_WITH_LG_PAGE";

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
            // The allocator is `allocator`'s business now: no finding.
            (&[("tokio", &["rt-multi-thread"])], MUSL, &[]),
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
    fn the_allocator_follows_the_graph() {
        const GNU: &str = "x86_64-unknown-linux-gnu";
        const ARM: &str = "aarch64-unknown-linux-musl";
        let tokio: &[(&str, &[&str])] = &[("tokio", &["rt-multi-thread"])];
        type Deps<'a> = &'a [(&'a str, &'a [&'a str])];
        type Want<'a> = Option<(bool, &'a str, &'a str)>;
        let cases: [(Choice, Deps, &str, Want); 11] = [
            (
                Choice::Auto,
                tokio,
                MUSL,
                Some((true, "mimalloc", "auto: tokio multi-thread runtime")),
            ),
            (
                Choice::Auto,
                &[("rayon", &[])],
                MUSL,
                Some((true, "mimalloc", "auto: rayon (threads)")),
            ),
            (
                Choice::Auto,
                &[("tokio", &["rt"])],
                MUSL,
                Some((false, "musl", "no multi-threaded runtime")),
            ),
            (Choice::Auto, &[], MUSL, Some((false, "musl", "auto"))),
            (
                Choice::Musl,
                tokio,
                MUSL,
                Some((false, "musl", "allocator = \"musl\"")),
            ),
            (
                Choice::Mimalloc,
                &[],
                MUSL,
                Some((true, "mimalloc", "allocator = \"mimalloc\"")),
            ),
            (
                Choice::Auto,
                &[("tokio", &["rt-multi-thread"]), ("tikv-jemallocator", &[])],
                MUSL,
                Some((
                    false,
                    "jemalloc",
                    "own #[global_allocator], crate tikv-jemallocator",
                )),
            ),
            (
                Choice::Musl,
                &[("mimalloc", &[])],
                MUSL,
                Some((false, "mimalloc", "crate mimalloc")),
            ),
            (
                Choice::Auto,
                tokio,
                GNU,
                Some((false, "glibc", "-gnu target")),
            ),
            (Choice::Mimalloc, &[("snmalloc-rs", &[])], MUSL, None),
            (Choice::Mimalloc, &[], GNU, None),
        ];
        for (choice, deps, triple, want) in cases {
            let got = allocator(choice, &closure(deps), triple);
            match (got, want) {
                (Ok(d), Some((mimalloc, expected, why))) => {
                    assert_eq!(
                        (d.mimalloc, d.expected.as_str()),
                        (mimalloc, expected),
                        "{choice:?} {deps:?}"
                    );
                    assert!(d.why.contains(why), "{choice:?} {deps:?}: {}", d.why);
                }
                (Err(_), None) => {}
                (got, want) => panic!("{choice:?} {deps:?} {triple}: {got:?} vs {want:?}"),
            }
        }
        // musl by choice in a threaded program: a note says what it costs.
        let d = allocator(Choice::Musl, &closure(tokio), MUSL).unwrap();
        assert!(d.note.unwrap().contains("slow under contention"));
        // jemalloc for arm64 is built for 64 KiB pages, with a note.
        let d = allocator(Choice::Auto, &closure(&[("tikv-jemalloc-sys", &[])]), ARM).unwrap();
        if std::env::var_os(JEMALLOC_LG_PAGE).is_none() {
            assert_eq!(d.env, [(JEMALLOC_LG_PAGE.to_string(), "16".to_string())]);
            assert!(d.note.unwrap().contains("16 or 64 KiB pages"));
        }
        let d = allocator(Choice::Auto, &closure(&[("tikv-jemalloc-sys", &[])]), MUSL).unwrap();
        assert!(d.env.is_empty());
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
