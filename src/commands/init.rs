//! `cargo slim init`: a working setup in one command.
//!
//! In: an [`InitRequest`] (manifest, `-p`, which CI, `--force`). Out: a commented
//! `[package.metadata.slim]` section added to the package's Cargo.toml — or
//! `[workspace.metadata.slim]` at a virtual workspace root without `-p` — and a CI
//! workflow rendered from the top-level `templates/` folder (compiled in) with the
//! packages to build: `.github/workflows/slim.yml`, or `.gitlab-ci.yml`.
//! Why: a new user should get a build with a size budget, a size report in CI and
//! a push from the main branch without reading the whole README. The manifest is
//! edited with `toml_edit`, so the user's formatting and comments stay byte for
//! byte; nothing that exists is replaced without `--force`, and when anything is
//! refused nothing at all is written. Both files are written through `crate::io`
//! (temporary file, then rename).

use std::path::{Path, PathBuf};

use anyhow::Result;
use cargo_metadata::{Metadata, TargetKind};
use toml_edit::{DocumentMut, Item, Table};

use crate::config::{self, Selector};
use crate::error::{io_failure, Failure};
use crate::shell::Shell;

const GITHUB_TEMPLATE: &str = include_str!("../../templates/github-workflow.yml");
const GITLAB_TEMPLATE: &str = include_str!("../../templates/gitlab-ci.yml");

/// The section `init` adds: every key commented out except the size budget, which
/// the workflow relies on to fail a build that grew.
pub const SECTION: &str = r#"# Settings of `cargo slim build` (every key is optional; `cargo slim build --help`
# and the README list them all). Written by `cargo slim init`.
# user = "65532:65532"                # image User, numeric (the default: non-root)
# cmd = ["--port", "8080"]            # default arguments of the binary (Cmd)
# env = { RUST_LOG = "info" }         # Env
# expose = ["8080"]                   # ExposedPorts
# ca-certificates = true              # the built-in Mozilla root store ("path": your own bundle)
# zoneinfo = true                     # the built-in IANA time-zone database ("path": your own)
# repository = "ghcr.io/OWNER/NAME"   # where `--push` without REF goes ...
# tags = ["{version}", "latest"]      # ... with these tags
# provenance = "signed"              # SLSA provenance: none, unsigned (default without a key), signed
# The size budget: `cargo slim build` exits 3 when the image's pull size is over it.
budget = { image = "16 MiB" }
"#;

/// Which CI system the workflow is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ci {
    #[default]
    Github,
    Gitlab,
}

impl Ci {
    /// Where the workflow goes, relative to the workspace root.
    pub fn path(self) -> &'static str {
        match self {
            Ci::Github => ".github/workflows/slim.yml",
            Ci::Gitlab => ".gitlab-ci.yml",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Ci::Github => GITHUB_TEMPLATE,
            Ci::Gitlab => GITLAB_TEMPLATE,
        }
    }
}

/// What `cargo slim init` was asked.
#[derive(Debug, Clone, Default)]
pub struct InitRequest {
    pub manifest_path: Option<PathBuf>,
    pub package: Option<String>,
    pub ci: Ci,
    pub force: bool,
}

/// What it wrote.
#[derive(Debug, Clone)]
pub struct InitOutcome {
    /// The Cargo.toml that got the section.
    pub manifest: PathBuf,
    /// `package.metadata.slim` or `workspace.metadata.slim`.
    pub table: &'static str,
    pub workflow: PathBuf,
    /// The packages the workflow builds.
    pub packages: Vec<String>,
}

impl InitOutcome {
    /// The `initialized` line of `--message-format json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "reason": "initialized",
            "workflow": self.workflow,
            "manifest": self.manifest,
            "table": self.table,
            "packages": self.packages,
        })
    }
}

/// Where the section goes and what the workflow builds.
struct Target {
    manifest: PathBuf,
    table: &'static str,
    packages: Vec<String>,
    name: String,
}

/// `cargo slim init`.
pub fn init(req: &InitRequest, shell: &Shell) -> Result<InitOutcome> {
    let metadata = config::load_metadata(req.manifest_path.as_deref(), &[])?;
    let target = choose(&metadata, req)?;
    let root = metadata.workspace_root.as_std_path();
    let workflow = root.join(req.ci.path());

    let text = std::fs::read_to_string(&target.manifest)
        .map_err(|e| io_failure("read", &target.manifest, &e))?;
    let edited = add_section(&text, target.table, req.force)
        .map_err(|f| f.detail(format!("manifest: {}", target.manifest.display())))?;
    if workflow.exists() && !req.force {
        return Err(
            Failure::new(format!("`{}` already exists", workflow.display()))
                .detail("nothing was changed")
                .help("pass --force to replace it, or move it away first")
                .into(),
        );
    }
    let rendered = render(req.ci.template(), &target.name, &target.packages);

    if let Some(dir) = workflow.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_failure("create the folder", dir, &e))?;
    }
    // Both are prepared in full before either replaces anything.
    let files = vec![
        crate::io::prepare(&workflow, rendered.as_bytes())?,
        crate::io::prepare(&target.manifest, edited.as_bytes())?,
    ];
    crate::io::commit_all(files)?;
    shell.status(
        "Created",
        format!(
            "{} (builds {})",
            workflow.display(),
            target.packages.join(", ")
        ),
    );
    shell.status(
        "Updated",
        format!("{}: added [{}]", target.manifest.display(), target.table),
    );
    Ok(InitOutcome {
        manifest: target.manifest,
        table: target.table,
        workflow,
        packages: target.packages,
    })
}

/// `-p` picks a member; a package manifest is its own; a virtual workspace root
/// gets `[workspace.metadata.slim]` and a workflow for every member with a binary.
fn choose(metadata: &Metadata, req: &InitRequest) -> Result<Target> {
    let root_manifest = metadata.workspace_root.as_std_path().join("Cargo.toml");
    let virtual_root = metadata.root_package().is_none();
    let cwd = std::env::current_dir().ok();
    let at_root = match &req.manifest_path {
        Some(m) => same_file(m, &root_manifest),
        None => cwd
            .as_deref()
            .and_then(nearest_manifest)
            .is_some_and(|m| same_file(&m, &root_manifest)),
    };
    if virtual_root && at_root && req.package.is_none() {
        let packages: Vec<String> = metadata
            .workspace_packages()
            .iter()
            .filter(|p| has_bin(p))
            .map(|p| p.name.to_string())
            .collect();
        if packages.is_empty() {
            return Err(Failure::new(format!(
                "no member of the workspace at `{}` has a binary target",
                metadata.workspace_root
            ))
            .help("cargo slim builds binaries: add a `src/main.rs` or a [[bin]] target to a member")
            .into());
        }
        let name = metadata
            .workspace_root
            .file_name()
            .unwrap_or("workspace")
            .to_string();
        return Ok(Target {
            manifest: root_manifest,
            table: "workspace.metadata.slim",
            packages,
            name,
        });
    }
    let package = config::select_package(
        metadata,
        Selector {
            spec: req.package.as_deref(),
            bin: None,
            manifest: req.manifest_path.as_deref(),
            cwd: cwd.as_deref(),
        },
    )?;
    if !has_bin(package) {
        return Err(
            Failure::new(format!("package `{}` has no binary target", package.name))
                .help("cargo slim builds binaries: add a `src/main.rs` or a [[bin]] target")
                .into(),
        );
    }
    Ok(Target {
        manifest: package.manifest_path.clone().into_std_path_buf(),
        table: "package.metadata.slim",
        packages: vec![package.name.to_string()],
        name: package.name.to_string(),
    })
}

fn has_bin(p: &cargo_metadata::Package) -> bool {
    p.targets.iter().any(|t| t.kind.contains(&TargetKind::Bin))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn nearest_manifest(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|m| m.is_file())
}

/// `text` with [`SECTION`] added as `[<table>]` (`package.metadata.slim`), the
/// rest of the file unchanged. An existing table is an error unless `force`, which
/// replaces it.
pub fn add_section(text: &str, table: &str, force: bool) -> Result<String, Failure> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Failure::new("Cargo.toml is not valid TOML").detail(e.to_string().trim().to_string())
    })?;
    let (top, _) = table.split_once('.').unwrap_or((table, ""));
    let Some(top_table) = doc.get_mut(top).and_then(Item::as_table_like_mut) else {
        return Err(Failure::new(format!("Cargo.toml has no [{top}] table")));
    };
    let metadata = top_table.entry("metadata").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let Some(metadata) = metadata.as_table_mut() else {
        let inline_slim = metadata
            .as_table_like()
            .is_some_and(|t| t.contains_key("slim"));
        if inline_slim && !force {
            return Err(Failure::new(format!("Cargo.toml already has [{table}]"))
                .detail("nothing was changed")
                .help("pass --force to replace it with the commented defaults"));
        }
        return Err(Failure::new(format!(
            "`{top}.metadata` in Cargo.toml is not a [{top}.metadata] table"
        ))
        .detail("nothing was changed")
        .help(format!(
            "write it as a [{top}.metadata] table, or add the [{table}] section by hand"
        )));
    };
    if metadata.contains_key("slim") {
        if !force {
            return Err(Failure::new(format!("Cargo.toml already has [{table}]"))
                .detail("nothing was changed")
                .help("pass --force to replace it with the commented defaults"));
        }
        metadata.remove("slim");
    }
    // A new table has no position: it is written after every table the user wrote.
    metadata.insert("slim", Item::Table(section_table()));
    let mut out = doc.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// [`SECTION`] as a table whose keys carry the comments.
fn section_table() -> Table {
    let doc: DocumentMut = SECTION.parse().expect("SECTION is valid TOML");
    let mut table = Table::new();
    for (name, _) in doc.as_table().iter() {
        if let Some((key, item)) = doc.as_table().get_key_value(name) {
            // The key keeps its decor: the comment lines above it.
            table.insert_formatted(key, item.clone());
        }
    }
    table.decor_mut().set_prefix("\n");
    table
}

/// The template with `@NAME@` and `@PACKAGES@` (a YAML list of quoted names) filled in.
pub fn render(template: &str, name: &str, packages: &[String]) -> String {
    let list: Vec<String> = packages.iter().map(|p| format!("\"{p}\"")).collect();
    template
        .replace("@NAME@", name)
        .replace("@PACKAGES@", &format!("[{}]", list.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "# my app\n[package]\nname = \"app\"   # the name\nversion = \"0.1.0\"\n\n[dependencies]\n# none yet\n";

    #[test]
    fn the_section_is_added_after_package_and_the_rest_is_kept() {
        let out = add_section(USER, "package.metadata.slim", false).unwrap();
        // Right after [package], every other byte as the user wrote it.
        let added = format!("\n[package.metadata.slim]\n{SECTION}");
        assert!(
            out.contains(&format!("version = \"0.1.0\"\n{added}\n[dependencies]")),
            "{out}"
        );
        assert_eq!(out.replacen(&added, "", 1), USER);
        // The keys it sets are ones cargo slim accepts.
        let parsed: toml::Table = out.parse().unwrap();
        let slim = parsed["package"]["metadata"]["slim"].clone();
        config::parse_slim_table(serde_json::to_value(slim).unwrap(), Path::new("Cargo.toml"))
            .unwrap();
    }

    #[test]
    fn an_existing_table_is_refused_unless_forced() {
        let once = add_section(USER, "package.metadata.slim", false).unwrap();
        let e = add_section(&once, "package.metadata.slim", false).unwrap_err();
        assert!(
            e.what.contains("already has [package.metadata.slim]"),
            "{e:?}"
        );
        let inline = "[package]\nname = \"a\"\nmetadata = { slim = { user = \"1\" } }\n";
        assert!(add_section(inline, "package.metadata.slim", false).is_err());
        let forced = add_section(&once, "package.metadata.slim", true).unwrap();
        assert_eq!(forced.matches("[package.metadata.slim]").count(), 1);
        assert_eq!(forced, once, "forcing rewrites the same section");
    }

    #[test]
    fn other_metadata_and_workspaces_are_kept() {
        let text = "[package]\nname = \"a\"\n\n[package.metadata.deb]\nx = 1\n";
        let out = add_section(text, "package.metadata.slim", false).unwrap();
        let added = format!("\n[package.metadata.slim]\n{SECTION}");
        assert_eq!(out.replacen(&added, "", 1), text, "{out}");
        let inline = "[package]\nname = \"a\"\nmetadata = { deb = { x = 1 } }\n";
        let e = add_section(inline, "package.metadata.slim", true).unwrap_err();
        assert!(
            e.what.contains("is not a [package.metadata] table"),
            "{e:?}"
        );
        let ws = "[workspace]\nmembers = [\"a\"]\n";
        let out = add_section(ws, "workspace.metadata.slim", false).unwrap();
        assert_eq!(out, format!("{ws}\n[workspace.metadata.slim]\n{SECTION}"));
        let e = add_section(
            "[package]\nname = \"a\"\n",
            "workspace.metadata.slim",
            false,
        )
        .unwrap_err();
        assert!(e.what.contains("no [workspace] table"), "{e:?}");
        assert!(add_section("[package\n", "package.metadata.slim", false).is_err());
    }

    #[test]
    fn templates_render_every_placeholder() {
        for ci in [Ci::Github, Ci::Gitlab] {
            let out = render(ci.template(), "app", &["app".into(), "tool".into()]);
            assert!(
                !out.contains("@NAME@") && !out.contains("@PACKAGES@"),
                "{out}"
            );
            assert!(out.contains("[\"app\", \"tool\"]"), "{out}");
            assert!(out.contains("for app:"));
        }
    }
}
