//! The compile step of the pipeline: the plan of one platform → [`Compiled`],
//! the binary to pack and how it was made.
//!
//! In: the plan and the platform's target. Out: the unstripped binary, its rlibs,
//! the dependency graph for the SBOM, the allocator decided and the system data
//! (CA bundle, zoneinfo) the graph asks for — or, for `--binary`, the file as
//! given. Why apart from `mod.rs`: this is the glue of preflight and compile
//! (graph checks, allocator, linker, status lines), which no later step needs.

use std::path::PathBuf;

use anyhow::Result;

use super::system::SystemData;
use crate::bloat;
use crate::compile;
use crate::config::{Plan, Source};
use crate::error::Failure;
use crate::preflight::{self, Level};
use crate::shell::Shell;

/// The binary to pack and how it was made.
pub struct Compiled {
    pub path: PathBuf,
    /// With `bins = [...]`: the image's other binaries, in `also`'s order.
    pub also: Vec<PathBuf>,
    pub target: Option<String>,
    pub rlibs: Vec<PathBuf>,
    /// The dependency graph of the build, for the SBOM (`None` for `--binary`).
    pub sbom: Option<crate::sbom::Graph>,
    /// How cargo built it (`None` for `--binary`): a second build (the
    /// static-pie baseline) uses the same target, linker and allocator.
    pub how: Option<(
        compile::TargetChoice,
        compile::Linker,
        compile::alloc::Linkage,
    )>,
    /// The allocator decided for the build (`None` for `--binary`).
    pub allocator: Option<compile::alloc::Decision>,
    /// The CA bundle and zoneinfo choices, decided by the dependency graph
    /// where the manifest left them unset.
    pub system_data: SystemData,
    /// How the binary was made, for its provenance (`None` for `--binary`,
    /// or with `--provenance none`).
    pub recipe: Option<Recipe>,
}

/// What a provenance statement says of how cargo made the binary.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub internal: crate::provenance::Internal,
    /// Every crate in the binary (the SBOM's graph).
    pub graph: crate::sbom::Graph,
}

/// Preflight the dependency graph, then compile for `target` (or take `--binary`).
pub fn compile(plan: &Plan, target: Option<&str>, shell: &Shell) -> Result<Compiled> {
    match &plan.source {
        Source::Cargo(_) => compile_all(&[plan], target, shell)?
            .pop()
            .expect("one result per plan"),
        Source::Binary(p) => Ok(Compiled {
            path: p.clone(),
            also: Vec::new(),
            target: None,
            rlibs: Vec::new(),
            sbom: None,
            how: None,
            allocator: None,
            system_data: SystemData::without_graph(plan),
            recipe: None,
        }),
    }
}

/// Each plan's binaries for `target` (its own, then the others of `bins`),
/// with as few cargo runs as the plans allow ([`compile::group`]): one result
/// per plan, in order — a plan whose graph check or build fails is an error of
/// its own, and the others go on. Only cargo plans come here.
pub fn compile_all(
    plans: &[&Plan],
    target: Option<&str>,
    shell: &Shell,
) -> Result<Vec<Result<Compiled>>> {
    let mut readied: Vec<Result<Ready<'_>>> = Vec::new();
    let mut memo = RunMemo::default();
    for plan in plans {
        let Source::Cargo(c) = &plan.source else {
            return Err(Failure::new("a `--binary` image has nothing to compile").into());
        };
        let build = c.build(target, &plan.layers.cache);
        readied.push(ready(plan, build, &mut memo, shell));
    }
    // An image's other binaries: the same package and settings, another bin.
    let extras: Vec<Vec<compile::PackageBuild>> = readied
        .iter()
        .map(|r| match r {
            Ok(r) => r
                .build
                .package
                .also
                .iter()
                .map(|bin| compile::PackageBuild {
                    bin: bin.clone(),
                    also: Vec::new(),
                    ..r.build.package.clone()
                })
                .collect(),
            Err(_) => Vec::new(),
        })
        .collect();
    let mut units: Vec<compile::group::Unit<'_>> = Vec::new();
    for (r, extra) in readied.iter().zip(&extras) {
        let Ok(r) = r else { continue };
        let unit = |build| compile::group::Unit {
            build,
            target: &r.choice,
            link: &r.link,
            allocator: &r.linkage,
        };
        units.push(unit(r.build));
        units.extend(
            extra
                .iter()
                .map(|package| unit(compile::CargoBuild { package, ..r.build })),
        );
    }
    let mut built = compile::group::build_all(&units, shell, |members| {
        let bins: Vec<&str> = members
            .iter()
            .map(|u| u.build.package.bin.as_str())
            .collect();
        announce(&bins.join(", "), members[0].target, members[0].link, shell);
    })?
    .into_iter();
    let mut results = Vec::new();
    for (r, extra) in readied.into_iter().zip(&extras) {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                results.push(Err(e));
                continue;
            }
        };
        let main = built.next().expect("one artifact result per unit");
        let others: Vec<Result<compile::Artifact>> = extra
            .iter()
            .map(|_| built.next().expect("one artifact result per unit"))
            .collect();
        results.push(main.and_then(|a| {
            let also = others
                .into_iter()
                .map(|o| o.map(|a| a.path))
                .collect::<Result<_>>()?;
            r.done(a, also, &mut memo)
        }));
    }
    Ok(results)
}

/// `Building api, worker for linux/amd64 (x86_64-unknown-linux-musl), linking with cc`.
fn announce(bins: &str, choice: &compile::TargetChoice, link: &compile::Linker, shell: &Shell) {
    shell.status(
        "Building",
        format!(
            "{bins} for {} ({}), linking with {}",
            platform_of(&choice.triple),
            choice.triple,
            link.describe()
        ),
    );
}

/// A cargo build with everything decided but the build itself.
struct Ready<'p> {
    build: compile::CargoBuild<'p>,
    choice: compile::TargetChoice,
    link: compile::Linker,
    linkage: compile::alloc::Linkage,
    decision: compile::alloc::Decision,
    system_data: SystemData,
    sbom: Option<crate::sbom::Graph>,
    /// With provenance: the binary's crates.
    graph: Option<crate::sbom::Graph>,
}

impl Ready<'_> {
    /// The compiled binary: cargo's artifact, with the sysroot's rlibs added
    /// (they let symbols like `memcpy` be placed in std).
    fn done(
        self,
        artifact: compile::Artifact,
        also: Vec<PathBuf>,
        memo: &mut RunMemo,
    ) -> Result<Compiled> {
        let mut rlibs = artifact.rlibs;
        rlibs.extend(
            memo.sysroot_rlibs(&self.build, &self.choice.triple)
                .iter()
                .cloned(),
        );
        let recipe = match self.graph {
            Some(graph) => Some(Recipe {
                internal: crate::provenance::Internal {
                    rustc: crate::provenance::toolchain_lines(&compile::rustc_version(
                        &self.build,
                        &self.choice,
                    )?),
                    target: self.choice.triple.clone(),
                    linker: self.link.recorded(),
                    rustflags: compile::recorded_rustflags(&self.build, &self.choice),
                    allocator: Some((self.decision.expected.clone(), self.decision.why.clone())),
                },
                graph,
            }),
            None => None,
        };
        Ok(Compiled {
            path: artifact.path,
            also,
            target: Some(self.choice.triple.clone()),
            rlibs,
            sbom: self.sbom,
            how: Some((self.choice, self.link, self.linkage)),
            allocator: Some(self.decision),
            system_data: self.system_data,
            recipe,
        })
    }
}

/// Everything before cargo runs: the target, the graph's checks, the SBOM's
/// graph, the allocator, the system data and the linker.
fn ready<'p>(
    plan: &Plan,
    b: compile::CargoBuild<'p>,
    memo: &mut RunMemo,
    shell: &Shell,
) -> Result<Ready<'p>> {
    let choice = compile::choose_target(&b, shell)?;
    let metadata = memo.metadata(&b, &choice.triple, shell)?;
    let package_id = &b.package.package_id;
    let graph = preflight::graph_of(&metadata, package_id);
    // `--sbom none`: no SBOM and no `.dep-v0` either; provenance lists the
    // crates all the same.
    let provenance = matches!(plan.provenance.decide(plan.signer.is_some()), Ok(Some(_)));
    let crates = (provenance || !plan.sbom.formats.is_empty())
        .then(|| crate::sbom::graph_of_build(&metadata, package_id))
        .transpose()?;
    let sbom = crates.clone().filter(|_| !plan.sbom.formats.is_empty());
    let provenance_graph = crates.filter(|_| provenance);
    let mut fatal = None;
    for f in preflight::check(&graph.crates, &choice.triple, &plan.image) {
        match f.level {
            Level::Error => {
                let mut e = Failure::new(f.message);
                if let Some(h) = f.help {
                    e = e.help(h);
                }
                fatal.get_or_insert(e);
            }
            Level::Note => shell.note(with_help(&f.message, f.help.as_deref())),
        }
    }
    if let Some(e) = fatal {
        return Err(e.into());
    }
    let (decision, linkage) = allocator(&b, &graph, &choice, memo, shell)?;
    let (ca_certificates, zoneinfo) = preflight::decide_system_data(&graph.crates, &plan.image);
    let dir = b.package.dir();
    let link = compile::linker::choose(&choice.triple, &graph.native, &b.run.cargo_args, dir)?;
    Ok(Ready {
        build: b,
        choice,
        link,
        linkage,
        decision,
        system_data: SystemData {
            ca_certificates,
            zoneinfo,
        },
        sbom,
        graph: provenance_graph,
    })
}

/// What every image of a run shares, found once however many images need it:
/// `cargo metadata` of the workspace for a target (the resolve is the
/// workspace's, whichever member asks), and mimalloc's archive for a target
/// (each build of its helper crate is a cargo run).
#[derive(Default)]
struct RunMemo {
    metadata: Vec<(String, std::rc::Rc<cargo_metadata::Metadata>)>,
    archives: Vec<(String, compile::alloc::Archive)>,
    sysroot_rlibs: Vec<(String, Vec<PathBuf>)>,
}

impl RunMemo {
    /// The standard library's rlibs for `triple`: they let symbols like
    /// `memcpy` be placed in std.
    fn sysroot_rlibs(&mut self, b: &compile::CargoBuild<'_>, triple: &str) -> &[PathBuf] {
        // One toolchain builds the whole run's workspace (the nightly of `--opt min` aside).
        let key = format!("{triple}\u{1f}{}", b.nightly());
        let i = match self.sysroot_rlibs.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let rlibs = compile::sysroot(b.package.dir(), b.cache)
                    .ok()
                    .and_then(|s| bloat::sysroot_rlibs(&s, triple).ok())
                    .unwrap_or_default();
                self.sysroot_rlibs.push((key, rlibs));
                self.sysroot_rlibs.len() - 1
            }
        };
        &self.sysroot_rlibs[i].1
    }

    fn metadata(
        &mut self,
        b: &compile::CargoBuild<'_>,
        triple: &str,
        shell: &Shell,
    ) -> Result<std::rc::Rc<cargo_metadata::Metadata>> {
        let f = &b.package.features;
        let key = format!(
            "{}\u{1f}{triple}\u{1f}{:?}\u{1f}{}{}\u{1f}{}",
            b.run.workspace_root.display(),
            f.list,
            f.all,
            f.no_default,
            b.run.cargo_args.join("\u{1f}")
        );
        if let Some((_, m)) = self.metadata.iter().find(|(k, _)| *k == key) {
            return Ok(m.clone());
        }
        let (m, reused) = preflight::metadata_reused(b, triple)?;
        if reused {
            shell.verbose("Reused", "`cargo metadata` from the cache");
        }
        let m = std::rc::Rc::new(m);
        self.metadata.push((key, m.clone()));
        Ok(m)
    }

    fn archive(
        &mut self,
        b: &compile::CargoBuild<'_>,
        choice: &compile::TargetChoice,
        shell: &Shell,
    ) -> Result<compile::alloc::Archive> {
        let key = format!(
            "{}\u{1f}{}\u{1f}{:?}\u{1f}{}",
            b.run.target_dir.display(),
            choice.triple,
            choice.toolchain.as_ref().map(|t| &t.name),
            b.nightly()
        );
        if let Some((_, a)) = self.archives.iter().find(|(k, _)| *k == key) {
            return Ok(a.clone());
        }
        let a = compile::alloc::mimalloc(b, choice, shell)?;
        self.archives.push((key, a.clone()));
        Ok(a)
    }
}

/// The allocator for the build: the decision (`preflight::allocator`), and what
/// cargo needs for it — mimalloc's archive built for the target, build-script
/// environment. Under `auto`, a target whose C toolchain cannot build mimalloc
/// keeps musl's malloc, with a warning saying why.
fn allocator(
    b: &compile::CargoBuild<'_>,
    graph: &preflight::Graph,
    choice: &compile::TargetChoice,
    memo: &mut RunMemo,
    shell: &Shell,
) -> Result<(compile::alloc::Decision, compile::alloc::Linkage)> {
    let choice_of_user = b.package.allocator;
    let mut decision = preflight::allocator(choice_of_user, &graph.crates, &choice.triple)?;
    if let Some(n) = &decision.note {
        shell.note(n);
    }
    let mut linkage = compile::alloc::Linkage {
        archive: None,
        env: decision.env.clone(),
    };
    if decision.mimalloc {
        match memo.archive(b, choice, shell) {
            Ok(a) => linkage.archive = Some(a),
            Err(e) if choice_of_user == compile::alloc::Choice::Auto => {
                let why = match e.downcast_ref::<Failure>() {
                    Some(f) => f.what.clone(),
                    None => format!("{e:#}"),
                };
                shell.warn(format!(
                    "keeping musl's malloc (allocator = \"auto\"): {why}"
                ));
                decision.mimalloc = false;
                decision.expected = "musl".into();
                decision.why = "musl's own; auto could not build mimalloc for the target".into();
            }
            Err(e) => return Err(e),
        }
    }
    shell.verbose(
        "Allocator",
        format!("{} ({})", decision.expected, decision.why),
    );
    Ok((decision, linkage))
}

/// `linux/arm64/v8` for a target triple (the triple itself when it is unknown).
fn platform_of(triple: &str) -> String {
    match crate::arch::from_triple(triple) {
        Some(a) => format!("linux/{}", a.platform_suffix()),
        None => triple.to_string(),
    }
}

fn with_help(msg: &str, help: Option<&str>) -> String {
    match help {
        Some(h) => format!("{msg}\n  help: {h}"),
        None => msg.to_string(),
    }
}
