//! `cargo slim resolve -f PATH...`: Kubernetes YAML with `slim://PACKAGE[/BIN]`
//! image references in; the same YAML with each reference pinned to the digest
//! of the image built and pushed for it out.
//!
//! In: files, folders (their `.yaml`/`.yml` files in name order; `-R` walks
//! subfolders) or `-` for stdin, and a build request whose push goes to
//! `--repository REPO` (each image to `REPO/<binary name>`). Out: the YAML
//! text — the inputs in order, each as written but for its references
//! ([`crate::resolve::yaml`]), joined by a `---` line where the next one does
//! not start with its own — and the pushed references. Steps: read and parse
//! every input; check every reference against the workspace (a package it
//! does not have, or a binary the package lacks, is an error at its file and
//! line, before anything is built); build each distinct image once, all in one
//! run ([`super::build::build_all`]); push each; rewrite. Nothing is printed
//! when any step fails, so `resolve | kubectl apply -f -` never applies half.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::build::{build_all, summary};
use crate::config::{self, selection, BuildRequest};
use crate::error::{io_failure, Failure};
use crate::push::{self, PushOptions};
use crate::resolve::yaml::{self, ImageRef, Site};
use crate::shell::Shell;

/// The largest YAML input read (a rendered Helm chart is far below it).
const MAX_INPUT: u64 = 16 << 20;

/// What `resolve` was asked.
#[derive(Debug, Clone, Default)]
pub struct ResolveRequest {
    /// Files, folders, or `-` for stdin.
    pub inputs: Vec<PathBuf>,
    /// `-R`: the folders' subfolders too.
    pub recursive: bool,
    /// The build and push settings (the push goes to `--repository`).
    pub build: BuildRequest,
    /// `--sign KEY` (or `$CARGO_SLIM_SIGN_KEY`): each image signed before it is
    /// pushed; else each package's own `sign` key.
    pub sign: Option<PathBuf>,
    /// How key files are read (with their password); `None`: keys are refused.
    pub read_key: Option<super::sign::KeyReader>,
}

/// The result: the YAML to print, and each image pushed.
#[derive(Debug)]
pub struct Resolution {
    pub yaml: String,
    /// `REPO/<bin>@sha256:…` of each image, in the order first referenced.
    pub pinned: Vec<String>,
    /// The table of the images built ([`summary::table`]).
    pub table: String,
}

/// One YAML input: its name in errors and its text.
struct Input {
    origin: String,
    text: String,
}

/// Resolve every reference in the inputs (see the module doc).
pub fn resolve(req: &ResolveRequest, shell: &Shell) -> Result<Resolution> {
    let inputs = read_inputs(&req.inputs, req.recursive)?;
    let mut sites: Vec<Vec<Site>> = Vec::new();
    for input in &inputs {
        sites.push(yaml::find(&input.text, &input.origin)?);
    }
    // Each distinct reference once, in the order first met, with where.
    let mut wanted: Vec<(&ImageRef, String)> = Vec::new();
    for (input, found) in inputs.iter().zip(&sites) {
        for site in found {
            if !wanted.iter().any(|(r, _)| *r == &site.reference) {
                let at = format!("{}:{}:{}", input.origin, site.line, site.column);
                wanted.push((&site.reference, at));
            }
        }
    }
    if wanted.is_empty() {
        shell.note("no `slim://` image reference in the input: it is printed as it is");
        return Ok(Resolution {
            yaml: joined(&inputs, &sites, &[]),
            pinned: Vec::new(),
            table: String::new(),
        });
    }
    let metadata = config::workspace(&req.build)?;
    let mut selected = Vec::new();
    for (reference, at) in &wanted {
        let s = selection::named(&metadata, &reference.package, reference.bin.as_deref())
            .map_err(|e| placed(e, at, reference))?;
        selected.push(s);
    }
    selection::distinct_names(&selected)?;
    if req.build.push.repository.is_none() {
        if let Some(s) = selected.iter().find(|s| s.meta.repository.is_none()) {
            return Err(Failure::new(format!(
                "resolve pushes every image, and `{}` has nowhere to go",
                s.bin
            ))
            .help(
                "pass --repository REPO or set CARGO_SLIM_REPOSITORY (each image goes to \
                 REPO/<binary name>), or set `repository` in the package's [package.metadata.slim]",
            )
            .usage()
            .into());
        }
    }
    let mut plans = config::plans(&req.build, &metadata, &selected)?;
    let read = req.read_key.unwrap_or(|_| {
        Err(crate::error::Failure::new(
            "signing keys cannot be read here",
        ))
    });
    super::sign::set_signers(&mut plans, req.sign.as_deref(), read)?;
    let outcomes = build_all(&plans, shell)?;
    let table = summary::table(&outcomes);
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.name.as_str())
        .collect();
    if !failed.is_empty() {
        shell.print_err(&table);
        return Err(Failure::new(format!(
            "{} of {} images failed to build: {}",
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        ))
        .detail("nothing was pushed, and no YAML is printed")
        .into());
    }
    let pinned = push_all(&plans, &outcomes, shell)?;
    let by_ref: Vec<(&ImageRef, &str)> = wanted
        .iter()
        .map(|(r, _)| *r)
        .zip(pinned.iter().map(String::as_str))
        .collect();
    Ok(Resolution {
        yaml: joined(&inputs, &sites, &by_ref),
        pinned,
        table,
    })
}

/// Push every built image (signing a multi-platform index where it lands), then
/// write the one `--image-refs` file listing them all: their pinned references.
fn push_all(
    plans: &[config::Plan],
    outcomes: &[super::build::ImageOutcome],
    shell: &Shell,
) -> Result<Vec<String>> {
    let mut pinned = Vec::new();
    for (plan, outcome) in plans.iter().zip(outcomes) {
        let built = outcome.result.as_ref().expect("every image was built");
        let opts = plan.push.as_ref().expect("resolve's request pushes");
        // One `--image-refs` file for all images, written below.
        let one = PushOptions {
            image_refs: None,
            ..opts.clone()
        };
        let signer = plan.signer.as_ref().map(|s| s as &dyn crate::sign::Signer);
        let pushed = super::sign_ref::push_and_sign(&built.path, &one, signer, shell)?;
        pinned.push(pushed.pinned());
    }
    if let Some(path) = plans
        .iter()
        .find_map(|p| p.push.as_ref()?.image_refs.as_ref())
    {
        push::write_image_refs(path, &pinned)?;
    }
    Ok(pinned)
}

/// `e` at the reference's place: `k8s/api.yaml:11:14: `slim://nope`: …`.
fn placed(e: anyhow::Error, at: &str, reference: &ImageRef) -> anyhow::Error {
    match e.downcast::<Failure>() {
        Ok(f) => Failure {
            what: format!("{at}: `{reference}`: {}", f.what),
            help: Some(
                "write `slim://PACKAGE` with a member of the workspace, or `slim://PACKAGE/BIN` \
                 with one of its binaries"
                    .into(),
            ),
            ..f
        }
        .into(),
        Err(e) => e.context(format!("{at}: `{reference}`")),
    }
}

/// The inputs rewritten and joined: a `---` line between two inputs when the
/// second does not start with one.
fn joined(inputs: &[Input], sites: &[Vec<Site>], pinned: &[(&ImageRef, &str)]) -> String {
    let mut out = String::new();
    for (i, (input, found)) in inputs.iter().zip(sites).enumerate() {
        if i > 0 {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if !input.text.starts_with("---") {
                out.push_str("---\n");
            }
        }
        out.push_str(&yaml::rewrite(&input.text, found, |r| {
            pinned
                .iter()
                .find(|(p, _)| *p == r)
                .map_or_else(|| r.to_string(), |(_, to)| to.to_string())
        }));
    }
    out
}

/// Every input, in order: stdin for `-`, a file as it is, a folder's YAML
/// files in name order (its subfolders' too with `recursive`).
fn read_inputs(paths: &[PathBuf], recursive: bool) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .take(MAX_INPUT + 1)
                .read_to_string(&mut text)
                .map_err(|e| Failure::new(format!("could not read the YAML on stdin: {e}")))?;
            if text.len() as u64 > MAX_INPUT {
                return Err(too_big("stdin").into());
            }
            inputs.push(Input {
                origin: "<stdin>".into(),
                text,
            });
        } else if path.is_dir() {
            for file in yaml_files(path, recursive)? {
                inputs.push(read_file(&file)?);
            }
        } else {
            inputs.push(read_file(path)?);
        }
    }
    Ok(inputs)
}

/// The `.yaml` and `.yml` files of `dir` (and below, with `recursive`), sorted
/// by path.
fn yaml_files(dir: &Path, recursive: bool) -> Result<Vec<PathBuf>> {
    let walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(if recursive { usize::MAX } else { 1 })
        .sort_by_file_name();
    let mut files = Vec::new();
    for entry in walk {
        let entry =
            entry.map_err(|e| Failure::new(format!("could not read `{}`: {e}", dir.display())))?;
        let yaml = matches!(
            entry.path().extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if yaml && entry.file_type().is_file() {
            files.push(entry.into_path());
        }
    }
    if files.is_empty() {
        return Err(Failure::new(format!(
            "`{}` holds no .yaml or .yml file{}",
            dir.display(),
            if recursive {
                ""
            } else {
                " (add -R for its subfolders)"
            }
        ))
        .into());
    }
    Ok(files)
}

/// One YAML file, bounded, refusing what is not a regular file.
fn read_file(path: &Path) -> Result<Input> {
    let (file, size) = crate::io::open_regular(path, "a YAML file")?;
    if size > MAX_INPUT {
        return Err(too_big(&path.display().to_string()).into());
    }
    let mut text = String::new();
    file.take(MAX_INPUT + 1)
        .read_to_string(&mut text)
        .map_err(|e| io_failure("read", path, &e))?;
    Ok(Input {
        origin: path.display().to_string(),
        text,
    })
}

fn too_big(what: &str) -> Failure {
    Failure::new(format!(
        "{what} holds more than {} MiB of YAML",
        MAX_INPUT >> 20
    ))
    .help("resolve the manifests in smaller files")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str) -> (Input, Vec<Site>) {
        let sites = yaml::find(text, "t.yaml").unwrap();
        (
            Input {
                origin: "t.yaml".into(),
                text: text.into(),
            },
            sites,
        )
    }

    #[test]
    fn inputs_are_joined_by_a_separator_only_where_one_is_missing() {
        let (a, sa) = input("a: slim://api # pinned\nb: 'x'");
        let (b, sb) = input("---\nc: \"slim://worker/job\"\n");
        let (c, sc) = input("d: 1\n");
        let api = ImageRef::parse("slim://api").unwrap().unwrap();
        let job = ImageRef::parse("slim://worker/job").unwrap().unwrap();
        let pinned = [(&api, "r/api@sha256:1"), (&job, "r/job@sha256:2")];
        let out = joined(&[a, b, c], &[sa, sb, sc], &pinned);
        assert_eq!(
            out,
            "a: r/api@sha256:1 # pinned\nb: 'x'\n---\nc: \"r/job@sha256:2\"\n---\nd: 1\n"
        );
    }

    #[test]
    fn a_folder_gives_its_yaml_files_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        for f in ["b.yaml", "a.yml", "notes.txt", "sub/c.yaml"] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x: 1\n").unwrap();
        }
        let names = |files: Vec<PathBuf>| -> Vec<String> {
            files
                .iter()
                .map(|f| f.strip_prefix(d.path()).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            names(yaml_files(d.path(), false).unwrap()),
            ["a.yml", "b.yaml"]
        );
        assert_eq!(
            names(yaml_files(d.path(), true).unwrap()),
            ["a.yml", "b.yaml", "sub/c.yaml"]
        );
        let empty = tempfile::tempdir().unwrap();
        let e = yaml_files(empty.path(), false).unwrap_err().to_string();
        assert!(
            e.contains("no .yaml or .yml file") && e.contains("-R"),
            "{e}"
        );
    }
}
