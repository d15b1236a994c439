//! Pre-build checks on the dependency graph: `cargo metadata` → findings.
//!
//! Some FROM-scratch failures are visible before compiling anything: `openssl-sys`
//! on a musl target without its `vendored` feature cannot give a static binary;
//! TLS stacks that read the system trust store find no CA bundle in an empty
//! image; time-zone code that reads `/usr/share/zoneinfo` finds nothing. Catching
//! the first one here fails the build in a second instead of after a long compile;
//! the rest are warnings and notes that name the `[package.metadata.slim]` key or
//! crate feature that fixes them. The CA bundle and zoneinfo, when not configured,
//! are turned on by the graph ([`decide_system_data`]) with a note naming the
//! crates and the key that turns them off. The graph also decides the allocator
//! ([`allocator`]): musl's malloc is slow under many threads, so `auto` links
//! mimalloc into a multi-threaded program that has no allocator of its own.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use anyhow::Result;
use cargo_metadata::{CargoOpt, DependencyKind, Metadata, MetadataCommand};

use crate::compile::alloc::{Choice, Decision};
use crate::compile::CargoBuild;
use crate::error::Failure;
use crate::image::files::{IMAGE_CA_BUNDLE, IMAGE_ZONEINFO};
use crate::image::{pinned, DataSource, ImageSpec};

mod cached;
pub use cached::{metadata_reused, workspace_metadata};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
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

pub(crate) fn run_metadata(build: &CargoBuild<'_>, triple: &str) -> Result<Metadata> {
    let (run, package) = (build.run, build.package);
    let mut cmd = MetadataCommand::new();
    cmd.manifest_path(&package.manifest_path);
    if let Ok(cargo) = std::env::var("CARGO") {
        cmd.cargo_path(cargo);
    }
    let features = &package.features;
    if features.all {
        cmd.features(CargoOpt::AllFeatures);
    }
    if features.no_default {
        cmd.features(CargoOpt::NoDefaultFeatures);
    }
    if !features.list.is_empty() {
        cmd.features(CargoOpt::SomeFeatures(features.list.clone()));
    }
    let mut other = vec!["--filter-platform".to_string(), triple.to_string()];
    other.extend(run.cargo_args.iter().cloned());
    other.extend(run.lock.flags().map(str::to_string));
    cmd.other_options(other);
    let metadata = cmd.exec().map_err(|e| {
        Failure::new(format!(
            "could not resolve the dependencies of `{}`",
            package.package_name
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

/// The closure and native crates of `root` in `metadata`.
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
const SYSTEM_ROOTS: [&str; 5] = [
    "rustls-native-certs",
    "rustls-platform-verifier",
    "openssl",
    "native-tls",
    "openssl-probe",
];
/// Crates that make a program's `#[global_allocator]` (or bring a second malloc:
/// `libmimalloc-sys` used directly), and the allocator each is.
const ALLOCATORS: [(&str, &str); 7] = [
    ("mimalloc", "mimalloc"),
    ("libmimalloc-sys", "mimalloc"),
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
    // jemalloc's build crate with unprefixed symbols defines `malloc` itself.
    let unprefixed = JEMALLOC_SYS.iter().find(|c| {
        closure
            .get(**c)
            .is_some_and(|f| f.contains("unprefixed_malloc_on_supported_platforms"))
    });
    let own = ALLOCATORS
        .iter()
        .find(|(c, _)| closure.contains_key(*c))
        .copied()
        .or(unprefixed.map(|c| (*c, "jemalloc")));
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

/// The crates of a graph that read system data at run time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemReaders {
    /// Those that load the trust store (/etc/ssl/certs).
    pub ca: Vec<String>,
    /// Those that look zones up in /usr/share/zoneinfo.
    pub zoneinfo: Vec<String>,
}

/// Which crates of `closure` read the trust store or /usr/share/zoneinfo. Not
/// `chrono-tz` nor jiff with `tzdb-bundle-always`: they carry the database.
pub fn system_readers(closure: &Closure) -> SystemReaders {
    let has = |name: &str| closure.contains_key(name);
    let feature = |name: &str, f: &str| closure.get(name).is_some_and(|fs| fs.contains(f));
    let ca = SYSTEM_ROOTS
        .iter()
        .filter(|c| has(c))
        .map(|c| c.to_string())
        .collect();
    let mut zoneinfo = Vec::new();
    if has("jiff")
        && !feature("jiff", "tzdb-bundle-always")
        && (feature("jiff", "tzdb-zoneinfo") || feature("jiff", "tz-system"))
    {
        zoneinfo.push("jiff (system time zones)");
    }
    if feature("chrono", "clock") {
        zoneinfo.push("chrono (`Local`)");
    }
    if feature("time", "local-offset") {
        zoneinfo.push("time (with `local-offset`)");
    }
    for name in ["tz-rs", "tzfile"] {
        if has(name) {
            zoneinfo.push(name);
        }
    }
    SystemReaders {
        ca,
        zoneinfo: zoneinfo.into_iter().map(str::to_string).collect(),
    }
}

/// The image's CA bundle and zoneinfo choices with `Auto` decided: on (the
/// built-in data) when the graph reads them, else off.
pub fn decide_system_data(closure: &Closure, image: &ImageSpec) -> (DataSource, DataSource) {
    let readers = system_readers(closure);
    (
        image.ca_certificates.decide(!readers.ca.is_empty()),
        image.zoneinfo.decide(!readers.zoneinfo.is_empty()),
    )
}

/// A note for each data set preflight turns on by itself, naming the crates and
/// how to turn it off or bring one's own.
fn system_data_notes(readers: &SystemReaders, image: &ImageSpec) -> Vec<Finding> {
    let ca = (
        &image.ca_certificates,
        &readers.ca,
        ["reads", "read"],
        format!(
            "the system CA certificates at run time: the image gets the built-in {} ({} {}) at {IMAGE_CA_BUNDLE}",
            pinned::CA_DATA,
            pinned::CA_SOURCE,
            pinned::CA_VERSION
        ),
        "set `ca-certificates = false` in [package.metadata.slim] to leave it out, or `ca-certificates = \"path/to/bundle.pem\"` to use your own",
    );
    let tz = (
        &image.zoneinfo,
        &readers.zoneinfo,
        ["looks", "look"],
        format!(
            "time zones up in {IMAGE_ZONEINFO}: the image gets the built-in IANA database (tzdata {}, {} {})",
            pinned::tzdata_release(),
            pinned::TZ_SOURCE,
            pinned::TZ_VERSION
        ),
        "set `zoneinfo = false` in [package.metadata.slim] to leave it out (local times are then UTC), or `zoneinfo = \"path/to/zoneinfo\"` to use your own",
    );
    [ca, tz]
        .into_iter()
        .filter(|(source, users, ..)| **source == DataSource::Auto && !users.is_empty())
        .map(|(_, users, verb, what, help)| Finding {
            level: Level::Note,
            message: format!(
                "{} {} {what}",
                users.join(", "),
                verb[usize::from(users.len() > 1)]
            ),
            help: Some(help.into()),
        })
        .collect()
}

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

    out.extend(system_data_notes(&system_readers(closure), image));

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
            ca_certificates: DataSource::Auto,
            zoneinfo: DataSource::Auto,
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
                &[Level::Note],
            ),
            (&[("rustls-native-certs", &[])], MUSL, &[Level::Note]),
            (&[("webpki-roots", &[])], MUSL, &[]),
            (&[("jiff", &["std", "tzdb-zoneinfo"])], MUSL, &[Level::Note]),
            (
                &[("jiff", &["tzdb-zoneinfo", "tzdb-bundle-always"])],
                MUSL,
                &[],
            ),
            (&[("time", &["local-offset"])], MUSL, &[Level::Note]),
            // The allocator is `allocator`'s business: no finding.
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
        // A second malloc in the graph is the program's own: kept, never doubled.
        let jemalloc_malloc: &[(&str, &[&str])] = &[
            ("tokio", &["rt-multi-thread"]),
            (
                "tikv-jemalloc-sys",
                &["unprefixed_malloc_on_supported_platforms"],
            ),
        ];
        let d = allocator(Choice::Auto, &closure(jemalloc_malloc), MUSL).unwrap();
        assert_eq!((d.mimalloc, d.expected.as_str()), (false, "jemalloc"));
        let sys: &[(&str, &[&str])] = &[("tokio", &["rt-multi-thread"]), ("libmimalloc-sys", &[])];
        assert!(
            !allocator(Choice::Auto, &closure(sys), MUSL)
                .unwrap()
                .mimalloc
        );
        assert!(allocator(Choice::Mimalloc, &closure(sys), MUSL).is_err());
    }

    #[test]
    fn configured_data_silences_the_notes() {
        let c = closure(&[("rustls-native-certs", &[]), ("jiff", &["tz-system"])]);
        for source in [
            DataSource::Off,
            DataSource::Pinned,
            DataSource::Path("/ca".into()),
        ] {
            let mut s = spec();
            s.ca_certificates = source.clone();
            s.zoneinfo = source;
            assert!(check(&c, MUSL, &s).is_empty());
        }
        let notes = check(&c, MUSL, &spec());
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].message.contains("rustls-native-certs reads"),
            "{notes:?}"
        );
        assert!(notes[0].message.contains("webpki-root-certs"), "{notes:?}");
        assert!(
            notes[0]
                .help
                .as_deref()
                .unwrap()
                .contains("ca-certificates = false"),
            "{notes:?}"
        );
        assert!(
            notes[1].message.contains("jiff (system time zones) looks"),
            "{notes:?}"
        );
        assert!(notes[1]
            .help
            .as_deref()
            .unwrap()
            .contains("zoneinfo = false"));
    }

    #[test]
    fn the_graph_decides_what_was_left_unset() {
        use DataSource::{Auto, Off, Path, Pinned};
        type Case<'a> = (&'a [(&'a str, &'a [&'a str])], DataSource, bool, bool);
        let cases: &[Case] = &[
            (&[], Auto, false, false),
            (&[("rustls-native-certs", &[])], Auto, true, false),
            (&[("rustls-platform-verifier", &[])], Auto, true, false),
            (&[("openssl-probe", &[])], Auto, true, false),
            (&[("native-tls", &[])], Auto, true, false),
            (&[("webpki-roots", &[])], Auto, false, false),
            (&[("rustls-native-certs", &[])], Off, false, false),
            (&[("jiff", &["tz-system"])], Auto, false, true),
            (
                &[("jiff", &["tz-system", "tzdb-bundle-always"])],
                Auto,
                false,
                false,
            ),
            (&[("chrono", &["clock"])], Auto, false, true),
            (
                &[("chrono", &["std"]), ("chrono-tz", &["std"])],
                Auto,
                false,
                false,
            ),
            (&[("tz-rs", &[])], Auto, false, true),
            (&[("tzfile", &[])], Auto, false, true),
            (
                &[("chrono", &["clock"]), ("native-tls", &[])],
                Off,
                false,
                false,
            ),
            (&[], Pinned, true, true),
            (&[], Path("/x".into()), true, true),
        ];
        for (deps, source, ca, tz) in cases {
            let mut s = spec();
            s.ca_certificates = source.clone();
            s.zoneinfo = source.clone();
            let (got_ca, got_tz) = decide_system_data(&closure(deps), &s);
            assert_eq!(
                (got_ca.is_on(), got_tz.is_on()),
                (*ca, *tz),
                "{deps:?} {source:?}"
            );
            assert_ne!(got_ca, Auto);
            if *ca && *source == Auto {
                assert_eq!(got_ca, Pinned);
            }
        }
    }
}
