//! SLSA provenance v1: how an image was built, as an in-toto Statement v1.
//!
//! In: the [`Facts`] of one platform image's build — the image (name, manifest
//! digest), what the user asked for (package, binary, features, profile,
//! platform, the settings that shape the output), what cargo-slim chose (its
//! version, `rustc -vV`, target, linker, rustflags after path remapping,
//! allocator), what went in (the git commit of a clean tree, every crate of the
//! binary's graph with its `Cargo.lock` checksum, the toolchain) and who built it
//! ([`builder`], from CI variables). Out: the statement's bytes, canonical JSON
//! (sorted keys, no spaces), and [`Summary`] read back for `verify`. Why: a
//! deployment policy admits an image by what its provenance says; we know all of
//! it at build time and need no network to say it.
//!
//! The statement is byte-reproducible: nothing in it depends on the machine, the
//! folder or the clock — paths appear only as remapped (`/build/…`), times only
//! from `SOURCE_DATE_EPOCH` (both `startedOn` and `finishedOn`; left out
//! without it), and no per-run id is written (`invocationId` would make two
//! builds of one commit differ). The builder id is the CI workflow's (GitHub
//! Actions, GitLab CI) or [`LOCAL_BUILDER`].
//!
//! Signing (a DSSE envelope, `crate::sign::dsse`) and attaching are the
//! caller's: this module only says what happened.

use serde_json::{json, Value};

use crate::error::Failure;
use crate::oci::canonical::canonical_json;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of SLSA provenance v1.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// `buildDefinition.buildType`: what our external and internal parameters mean
/// (README, "Signing and provenance").
pub const BUILD_TYPE: &str = "urn:cargo-slim:build-type:image:v1";
/// `runDetails.builder.id` outside a CI system we recognise.
pub const LOCAL_BUILDER: &str = "urn:cargo-slim:builder:local";

/// `--provenance` / `provenance = "…"`: whether a build attaches provenance,
/// and signed or not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Signed when the build signs (`--sign`), else unsigned.
    #[default]
    Auto,
    None,
    Unsigned,
    Signed,
}

impl Mode {
    /// `none`, `unsigned`, `signed` (or `auto`).
    pub fn parse(s: &str) -> Result<Mode, Failure> {
        match s.trim() {
            "auto" => Ok(Mode::Auto),
            "none" => Ok(Mode::None),
            "unsigned" => Ok(Mode::Unsigned),
            "signed" => Ok(Mode::Signed),
            other => Err(Failure::new(format!(
                "`{other}` is not a provenance setting: expected none, unsigned or signed (or auto)"
            ))),
        }
    }

    /// With a signing key or without: `None` for no provenance, else whether it
    /// is signed. `signed` without a key is an error saying how to give one.
    pub fn decide(self, signing: bool) -> Result<Option<bool>, Failure> {
        match (self, signing) {
            (Mode::None, _) => Ok(None),
            (Mode::Unsigned, _) => Ok(Some(false)),
            (Mode::Auto, s) => Ok(Some(s)),
            (Mode::Signed, true) => Ok(Some(true)),
            (Mode::Signed, false) => Err(Failure::new(
                "signed provenance needs a signing key, and this build has none",
            )
            .help(
                "pass --sign cosign.key (or set `sign` in [package.metadata.slim], or \
                 CARGO_SLIM_SIGN_KEY), or use --provenance unsigned",
            )),
        }
    }
}

/// The image a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `localhost/hello` (the repository, without tag).
    pub name: String,
    /// `sha256:<hex>` of the image manifest.
    pub digest: String,
}

/// What the user asked for (`externalParameters`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct External {
    pub package: String,
    pub bin: String,
    /// `bins = [...]`: the image's other binaries.
    pub also: Vec<String>,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub profile: String,
    /// `linux/amd64`.
    pub platform: String,
    /// The image reference it was built as (`localhost/hello:0.1.0`).
    pub image: String,
    /// The settings that shape the output besides those (`opt`, `upx`, …), as
    /// `key = value` strings, sorted.
    pub settings: Vec<(String, String)>,
}

/// The lines of `rustc -vV` that say which toolchain it is — the version line,
/// `commit-hash`, `commit-date`, `release`, `LLVM version` — without `host` and
/// `binary`, which say where it ran: the statement must read the same on an
/// x86_64 and an aarch64 runner.
pub fn toolchain_lines(vv: &str) -> String {
    let mut out = String::new();
    for (i, line) in vv.lines().enumerate() {
        let keep = i == 0
            || ["commit-hash:", "commit-date:", "release:", "LLVM version:"]
                .iter()
                .any(|k| line.starts_with(k));
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// What cargo-slim chose (`internalParameters`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Internal {
    /// `rustc -vV` less where it ran ([`toolchain_lines`]).
    pub rustc: String,
    pub target: String,
    pub linker: String,
    /// Every rustflag cargo-slim passed, paths remapped (`--remap-path-prefix`
    /// shows only where a folder is mapped to).
    pub rustflags: Vec<String>,
    /// The allocator the binary serves its allocations with, and why.
    pub allocator: Option<(String, String)>,
}

/// One crate of the binary's graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// The `.crate` file's sha256 from `Cargo.lock` (registry crates only).
    pub sha256: Option<String>,
    /// `git+URL` or a crates.io download URL; `None` for a path crate.
    pub download: Option<String>,
}

/// The git checkout the build came from, when its tree was clean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// `repository` of Cargo.toml, when set.
    pub repository: Option<String>,
    pub commit: String,
}

/// Who ran the build (`runDetails.builder`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    pub id: String,
}

/// Everything one statement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub subject: Subject,
    pub external: External,
    pub internal: Internal,
    pub source: Option<GitSource>,
    pub crates: Vec<Crate>,
    pub builder: Builder,
    /// `SOURCE_DATE_EPOCH`, when set.
    pub epoch: Option<u64>,
}

/// The builder of this run, from the CI system's variables (`var` reads one).
/// GitHub Actions: `https://github.com/<GITHUB_WORKFLOW_REF>` (the workflow file
/// at its ref); GitLab CI: `<CI_PROJECT_URL>/-/blob/<CI_COMMIT_REF_NAME>/.gitlab-ci.yml`
/// (the pipeline definition at its ref). Else [`LOCAL_BUILDER`]. No run id: it
/// would make two builds of one commit differ.
pub fn builder(var: impl Fn(&str) -> Option<String>) -> Builder {
    let set = |k: &str| var(k).filter(|v| !v.is_empty());
    if set("GITHUB_ACTIONS").as_deref() == Some("true") {
        if let Some(w) = set("GITHUB_WORKFLOW_REF") {
            let server = set("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
            return Builder {
                id: format!("{}/{w}", server.trim_end_matches('/')),
            };
        }
    }
    if set("GITLAB_CI").as_deref() == Some("true") {
        if let (Some(project), Some(r)) = (set("CI_PROJECT_URL"), set("CI_COMMIT_REF_NAME")) {
            return Builder {
                id: format!("{project}/-/blob/{r}/.gitlab-ci.yml"),
            };
        }
    }
    Builder {
        id: LOCAL_BUILDER.to_string(),
    }
}

/// The statement of `facts`, canonical JSON.
pub fn statement(facts: &Facts) -> Result<Vec<u8>, Failure> {
    let hex = facts
        .subject
        .digest
        .strip_prefix("sha256:")
        .ok_or_else(|| {
            Failure::new(format!("`{}` is not a sha256 digest", facts.subject.digest))
        })?;
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": facts.subject.name, "digest": {"sha256": hex}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external(&facts.external),
                "internalParameters": internal(&facts.internal),
                "resolvedDependencies": dependencies(facts),
            },
            "runDetails": run_details(facts),
        },
    });
    Ok(canonical_json(&statement))
}

fn external(e: &External) -> Value {
    let settings: serde_json::Map<String, Value> = e
        .settings
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut v = json!({
        "package": e.package,
        "bin": e.bin,
        "profile": e.profile,
        "platform": e.platform,
        "image": e.image,
        "features": e.features,
        "allFeatures": e.all_features,
        "noDefaultFeatures": e.no_default_features,
        "settings": settings,
    });
    if !e.also.is_empty() {
        v["bins"] = json!(e.also);
    }
    v
}

fn internal(i: &Internal) -> Value {
    let mut v = json!({
        "cargoSlim": env!("CARGO_PKG_VERSION"),
        "rustc": i.rustc,
        "target": i.target,
        "linker": i.linker,
        "rustflags": i.rustflags,
    });
    if let Some((name, why)) = &i.allocator {
        v["allocator"] = json!({"name": name, "why": why});
    }
    v
}

/// The git commit (clean trees only), the toolchain, then every crate.
fn dependencies(facts: &Facts) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(g) = &facts.source {
        let mut d = json!({"name": "source", "digest": {"gitCommit": g.commit}});
        if let Some(r) = &g.repository {
            d["uri"] = json!(format!("git+{}@{}", r.trim_end_matches('/'), g.commit));
        }
        out.push(d);
    }
    let release = rustc_line(&facts.internal.rustc, "release: ");
    if let Some(v) = release {
        let mut d = json!({
            "name": "rustc",
            "uri": format!("pkg:generic/rust@{v}"),
            "annotations": {"target": facts.internal.target},
        });
        if let Some(c) = rustc_line(&facts.internal.rustc, "commit-hash: ") {
            d["digest"] = json!({"gitCommit": c});
        }
        out.push(d);
    }
    for c in &facts.crates {
        let mut d = json!({
            "name": c.name,
            "uri": format!("pkg:cargo/{}@{}", c.name, c.version),
        });
        if let Some(h) = &c.sha256 {
            d["digest"] = json!({"sha256": h});
        }
        if let Some(l) = &c.download {
            d["downloadLocation"] = json!(l);
        }
        out.push(d);
    }
    out
}

/// A line of `rustc -vV` (`release: 1.95.0`, `commit-hash: …`) after its key;
/// `unknown` (a rustc built from source) counts as absent.
fn rustc_line<'a>(vv: &'a str, key: &str) -> Option<&'a str> {
    vv.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "unknown")
}

fn run_details(facts: &Facts) -> Value {
    let mut v = json!({"builder": {"id": facts.builder.id}});
    if let Some(e) = facts.epoch {
        let t = crate::image::rfc3339(e);
        v["metadata"] = json!({"startedOn": t, "finishedOn": t});
    }
    v
}

/// What `verify` shows of a statement: who built what, from what, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `sha256:<hex>` the statement is about.
    pub subject: String,
    pub builder: String,
    pub build_type: String,
    /// `package/bin`.
    pub what: String,
    /// `git <commit>` or `a tree with changes (no commit recorded)`.
    pub source: String,
    /// `finishedOn`, when written.
    pub when: Option<String>,
}

/// Read a statement back (bounded by the caller): it must be an in-toto
/// Statement v1 with a SLSA v1 predicate and one sha256 subject.
pub fn summary(bytes: &[u8]) -> Result<Summary, Failure> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| Failure::new(format!("the provenance is not JSON: {e}")))?;
    if v["_type"] != STATEMENT_TYPE {
        return Err(Failure::new(format!(
            "the provenance is not an in-toto Statement v1 (`_type` {})",
            v["_type"]
        )));
    }
    if v["predicateType"] != PREDICATE_TYPE {
        return Err(Failure::new(format!(
            "the statement is not SLSA provenance v1 (`predicateType` {})",
            v["predicateType"]
        )));
    }
    let hex = v["subject"][0]["digest"]["sha256"].as_str().unwrap_or("");
    if hex.len() != 64 {
        return Err(Failure::new("the statement names no sha256 subject"));
    }
    let p = &v["predicate"];
    let def = &p["buildDefinition"];
    let ext = &def["externalParameters"];
    let text = |x: &Value| x.as_str().unwrap_or("?").to_string();
    let source = def["resolvedDependencies"]
        .as_array()
        .and_then(|deps| deps.iter().find(|d| d["name"] == "source"))
        .and_then(|d| d["digest"]["gitCommit"].as_str())
        .map_or_else(
            || "an unrecorded source (no clean git checkout)".to_string(),
            |c| format!("git {c}"),
        );
    Ok(Summary {
        subject: format!("sha256:{hex}"),
        builder: text(&p["runDetails"]["builder"]["id"]),
        build_type: text(&def["buildType"]),
        what: format!("{}/{}", text(&ext["package"]), text(&ext["bin"])),
        source,
        when: p["runDetails"]["metadata"]["finishedOn"]
            .as_str()
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            subject: Subject {
                name: "localhost/hello".into(),
                digest: format!("sha256:{}", "ab".repeat(32)),
            },
            external: External {
                package: "hello".into(),
                bin: "hello".into(),
                profile: "release".into(),
                platform: "linux/amd64".into(),
                image: "localhost/hello:0.1.0".into(),
                settings: vec![("upx".into(), "false".into())],
                ..External::default()
            },
            internal: Internal {
                rustc: "rustc 1.95.0 (59807616e 2026-04-14)\ncommit-hash: 5980\nrelease: 1.95.0\n"
                    .into(),
                target: "x86_64-unknown-linux-musl".into(),
                linker: "the host's cc".into(),
                rustflags: vec!["--remap-path-prefix=<host path>=/build/hello".into()],
                allocator: Some(("musl".into(), "auto: single-threaded".into())),
            },
            source: Some(GitSource {
                repository: Some("https://example.com/hello/".into()),
                commit: "c0ffee".repeat(6) + "c0ff",
            }),
            crates: vec![
                Crate {
                    name: "hello".into(),
                    version: "0.1.0".into(),
                    sha256: None,
                    download: None,
                },
                Crate {
                    name: "itoa".into(),
                    version: "1.0.11".into(),
                    sha256: Some("cd".repeat(32)),
                    download: Some("https://crates.example/itoa-1.0.11.crate".into()),
                },
            ],
            builder: Builder {
                id: LOCAL_BUILDER.into(),
            },
            epoch: Some(1_700_000_000),
        }
    }

    #[test]
    fn the_statement_says_what_slsa_v1_asks_for() {
        let bytes = statement(&facts()).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["predicateType"], PREDICATE_TYPE);
        assert_eq!(v["subject"][0]["name"], "localhost/hello");
        assert_eq!(v["subject"][0]["digest"]["sha256"], "ab".repeat(32));
        let def = &v["predicate"]["buildDefinition"];
        assert_eq!(def["buildType"], BUILD_TYPE);
        assert_eq!(def["externalParameters"]["platform"], "linux/amd64");
        assert_eq!(def["externalParameters"]["settings"]["upx"], "false");
        assert_eq!(def["internalParameters"]["allocator"]["name"], "musl");
        let deps = def["resolvedDependencies"].as_array().unwrap();
        assert_eq!(deps[0]["name"], "source");
        assert_eq!(
            deps[0]["uri"],
            format!(
                "git+https://example.com/hello@{}",
                facts().source.unwrap().commit
            )
        );
        assert_eq!(deps[1]["uri"], "pkg:generic/rust@1.95.0");
        assert_eq!(deps[1]["digest"]["gitCommit"], "5980");
        assert_eq!(deps[2]["uri"], "pkg:cargo/hello@0.1.0");
        assert!(deps[2].get("digest").is_none());
        assert_eq!(deps[3]["digest"]["sha256"], "cd".repeat(32));
        let run = &v["predicate"]["runDetails"];
        assert_eq!(run["builder"]["id"], LOCAL_BUILDER);
        assert_eq!(run["metadata"]["finishedOn"], "2023-11-14T22:13:20Z");
        // Canonical: what serde_json would re-serialise with sorted keys, compact.
        assert_eq!(canonical_json(&v), bytes);
        assert_eq!(statement(&facts()).unwrap(), bytes, "deterministic");
    }

    #[test]
    fn no_epoch_no_times_and_a_dirty_tree_no_commit() {
        let mut f = facts();
        f.epoch = None;
        f.source = None;
        let v: Value = serde_json::from_slice(&statement(&f).unwrap()).unwrap();
        assert!(v["predicate"]["runDetails"].get("metadata").is_none());
        let s = summary(&statement(&f).unwrap()).unwrap();
        assert!(s.source.contains("unrecorded source"), "{}", s.source);
        assert_eq!(s.when, None);
    }

    #[test]
    fn the_summary_reads_back_who_what_when() {
        let s = summary(&statement(&facts()).unwrap()).unwrap();
        assert_eq!(s.subject, format!("sha256:{}", "ab".repeat(32)));
        assert_eq!(s.builder, LOCAL_BUILDER);
        assert_eq!(s.what, "hello/hello");
        assert!(s.source.starts_with("git c0ffee"), "{}", s.source);
        assert_eq!(s.when.as_deref(), Some("2023-11-14T22:13:20Z"));
        for (bad, why) in [
            (&b"{"[..], "not JSON"),
            (br#"{"_type":"x"}"#, "Statement v1"),
            (
                br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"x"}"#,
                "SLSA provenance v1",
            ),
        ] {
            let e = summary(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    #[test]
    fn builders_come_from_ci_variables() {
        fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        }
        assert_eq!(builder(env(&[])).id, LOCAL_BUILDER);
        let gh: [(&str, &str); 2] = [
            ("GITHUB_ACTIONS", "true"),
            (
                "GITHUB_WORKFLOW_REF",
                "acme/api/.github/workflows/ci.yml@refs/heads/main",
            ),
        ];
        assert_eq!(
            builder(env(&gh)).id,
            "https://github.com/acme/api/.github/workflows/ci.yml@refs/heads/main"
        );
        let gl: [(&str, &str); 3] = [
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_URL", "https://gitlab.example/acme/api"),
            ("CI_COMMIT_REF_NAME", "main"),
        ];
        assert_eq!(
            builder(env(&gl)).id,
            "https://gitlab.example/acme/api/-/blob/main/.gitlab-ci.yml"
        );
    }

    #[test]
    fn the_toolchain_record_leaves_out_the_host() {
        let vv = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\ncommit-hash: 5980\n\
                  commit-date: 2026-04-14\nhost: aarch64-unknown-linux-gnu\nrelease: 1.95.0\n\
                  LLVM version: 22.1.2\n";
        let kept = toolchain_lines(vv);
        assert_eq!(
            kept,
            "rustc 1.95.0 (59807616e 2026-04-14)\ncommit-hash: 5980\ncommit-date: 2026-04-14\n\
             release: 1.95.0\nLLVM version: 22.1.2\n"
        );
        assert_eq!(toolchain_lines(&vv.replace("aarch64", "x86_64")), kept);
    }

    #[test]
    fn modes_parse_and_decide() {
        assert_eq!(Mode::parse("none").unwrap().decide(true).unwrap(), None);
        assert_eq!(
            Mode::parse("auto").unwrap().decide(true).unwrap(),
            Some(true)
        );
        assert_eq!(Mode::Auto.decide(false).unwrap(), Some(false));
        assert_eq!(
            Mode::parse(" unsigned").unwrap().decide(true).unwrap(),
            Some(false)
        );
        let e = Mode::parse("signed").unwrap().decide(false).unwrap_err();
        assert!(e.to_string().contains("needs a signing key"), "{e}");
        let e = Mode::parse("yes").unwrap_err();
        assert!(e.to_string().contains("none, unsigned or signed"), "{e}");
    }
}
