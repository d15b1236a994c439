//! The allocator linked into the binary: musl's own, or mimalloc in its place.
//!
//! In: the `allocator` choice (`auto`, `musl`, `mimalloc`), the decision
//! `preflight::allocator` made of it from the crate graph, the target and the
//! build. Out: the folder holding `libmimalloc.a` built for the target, and the
//! rustc arguments that link it into the final binary. Why: musl's malloc takes one
//! global lock, so a multi-threaded service in a scratch image served an
//! allocation-heavy endpoint at 0.34–0.68× the rate of a glibc build of the same
//! source; mimalloc in its place serves at glibc's rate or above, with no change
//! to the user's code or manifest.
//!
//! How: mimalloc's C is built by cargo from the pinned `libmimalloc-sys` crate
//! (feature `override`: it defines every function of the malloc family) in a helper
//! crate under `<target-dir>/slim-alloc/`, with the C toolchain the target needs
//! (the host's `cc` for the host's arch, zig through `cargo zigbuild` for another;
//! `SOURCE_DATE_EPOCH=0`, so mimalloc's `__DATE__` is the same everywhere). The
//! final binary is then built by a plain `cargo build` (or `cargo zigbuild`) with
//! cargo-slim as cargo's `RUSTC_WORKSPACE_WRAPPER` ([`super::wrap`]): it adds `-L
//! native=DIR -l static:+whole-archive=mimalloc` to the compile of the chosen
//! binaries only, as `cargo rustc … --` would, so one cargo run can build several
//! packages and link mimalloc into exactly the binaries that get it. Only the final
//! crate's link carries the archive (in `RUSTFLAGS` every rlib would, and link it
//! several times: "multiple definition of `_mi_page_empty`"), and rustc puts it
//! before `-lc`, so musl's `malloc.o` is never pulled in (a `-C link-arg` lands
//! after `-lc`: "multiple definition of `free`").

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use cargo_metadata::Message;

use super::{linker, CargoBuild, TargetChoice};
use crate::error::Failure;
use crate::shell::Shell;

/// `allocator` in `[package.metadata.slim]` and `--allocator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// mimalloc for a multi-threaded program without an allocator of its own,
    /// musl's otherwise.
    #[default]
    Auto,
    /// musl's own malloc (the smallest footprint).
    Musl,
    /// mimalloc in place of musl's malloc.
    Mimalloc,
}

impl Choice {
    pub fn parse(s: &str) -> Result<Choice, String> {
        match s {
            "auto" => Ok(Choice::Auto),
            "musl" => Ok(Choice::Musl),
            "mimalloc" => Ok(Choice::Mimalloc),
            other => Err(format!(
                "`{other}` is not an allocator: use \"auto\", \"musl\" or \"mimalloc\""
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Auto => "auto",
            Choice::Musl => "musl",
            Choice::Mimalloc => "mimalloc",
        }
    }
}

/// What the build links, and why, in the report's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Link mimalloc in place of musl's malloc.
    pub mimalloc: bool,
    /// The allocator the binary is meant to serve its allocations with:
    /// `mimalloc`, `musl`, `glibc`, or the program's own (`jemalloc`, …).
    pub expected: String,
    /// Why: `linked by cargo-slim; auto: tokio multi-thread runtime`.
    pub why: String,
    /// Something the user should know about the choice (a note, not a warning).
    pub note: Option<String>,
    /// Environment for the build (`JEMALLOC_SYS_WITH_LG_PAGE=16` for arm64).
    pub env: Vec<(String, String)>,
}

/// What the build adds for the allocator: the archive to link, the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Linkage {
    pub archive: Option<Archive>,
    pub env: Vec<(String, String)>,
}

/// The pinned helper crate (see the module doc), written out before each use.
const HELPER_MANIFEST: &str = include_str!("../../templates/mimalloc/Cargo.toml.template");
const HELPER_LOCK: &str = include_str!("../../templates/mimalloc/Cargo.lock");
const HELPER_LIB: &str = include_str!("../../templates/mimalloc/lib.rs");

/// `libmimalloc.a` built for the target: its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    pub dir: PathBuf,
    /// The folder of the C compiler's `libgcc.a`, linked after mimalloc when the
    /// standard library is built from source (`--opt min`): gcc turns mimalloc's
    /// `__builtin_popcountll` into a call to `__popcountdi2`, which Rust's prebuilt
    /// `compiler_builtins` carries and a `-Zbuild-std` one does not.
    pub libgcc: Option<PathBuf>,
    /// The folder where [`super::wrap::install`] linked cargo-slim under the name
    /// cargo runs as its workspace wrapper.
    pub wrapper: PathBuf,
}

impl Archive {
    /// The rustc arguments that link it into the binary (added by [`super::wrap`]).
    pub fn rustc_args(&self) -> Vec<String> {
        let mut args = vec![
            "-L".into(),
            format!("native={}", self.dir.display()),
            "-l".into(),
            "static:+whole-archive=mimalloc".into(),
        ];
        if let Some(dir) = &self.libgcc {
            args.extend([
                "-L".into(),
                format!("native={}", dir.display()),
                "-l".into(),
                "static=gcc".into(),
            ]);
        }
        args
    }
}

/// Build `libmimalloc.a` for `target` (a no-op cargo run once built), or find
/// it built: the rebuild cache keeps where the archive of the same helper crate,
/// target, toolchain, C toolchain and C environment is (`archive_key`), which
/// spares a no-op rebuild that cargo run (~30 ms a target).
pub fn mimalloc(build: &CargoBuild<'_>, target: &TargetChoice, shell: &Shell) -> Result<Archive> {
    let dir = build.package.dir();
    // The C toolchain the target needs: the host's cc, or zig for another arch
    // (an error naming `libmimalloc-sys` and how to install zig when it is missing).
    let link = linker::choose(
        &target.triple,
        &["libmimalloc-sys".into()],
        &build.run.cargo_args,
        dir,
    )?;
    let libgcc = (build.nightly() && matches!(link, linker::Linker::Default(_)))
        .then(libgcc_dir)
        .flatten();
    let key = archive_key(build, target, &link);
    let kept = key.as_deref().and_then(|k| build.cache.load("mimalloc", k));
    if let Some(entry) = kept {
        let lib = PathBuf::from(String::from_utf8_lossy(&entry.meta).into_owned());
        if lib.join("libmimalloc.a").is_file() {
            shell.verbose(
                "Reused",
                format!("mimalloc for {} in {}", target.triple, lib.display()),
            );
            return Ok(Archive {
                dir: lib,
                libgcc,
                wrapper: super::wrap::install(&build.run.target_dir)?,
            });
        }
    }
    let archive = build_helper(build, target, &link, libgcc, shell)?;
    if let Some(k) = &key {
        let meta = archive.dir.display().to_string();
        if let Err(e) = build.cache.store_meta("mimalloc", k, meta.as_bytes()) {
            shell.verbose("Skipping", format!("the rebuild cache: {e}"));
        }
    }
    Ok(archive)
}

/// The rebuild cache's key of mimalloc's archive: everything its build reads
/// besides the pinned sources — the helper crate's files, the target, the Rust
/// toolchain (`rustc -vV`), the C toolchain cargo-slim chose and the
/// environment the `cc` crate reads (`CC*`, `CFLAGS*`, `AR*`, `TARGET_*`, …,
/// `PATH`). `None` (always rebuild) without the cache.
fn archive_key(
    build: &CargoBuild<'_>,
    target: &TargetChoice,
    link: &linker::Linker,
) -> Option<String> {
    if !build.cache.is_on() {
        return None;
    }
    let rustc = match &target.toolchain {
        Some(tc) => format!("{}|{}", tc.name, tc.rustc.display()),
        None => {
            super::probe::rustc(build.package.dir(), &["-vV"], "`rustc -vV`", build.cache).ok()?
        }
    };
    let prefixes = [
        "CC",
        "CFLAGS",
        "CXX",
        "AR",
        "TARGET_",
        "HOST_",
        "CROSS_COMPILE",
        "ZIG",
        "CRATE_CC",
    ];
    let mut env: Vec<String> = std::env::vars()
        .filter(|(k, _)| k == "PATH" || prefixes.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.sort();
    let link_env: Vec<String> = link
        .env(&target.triple)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    Some(crate::cache::key(&[
        b"mimalloc",
        HELPER_MANIFEST.as_bytes(),
        HELPER_LOCK.as_bytes(),
        HELPER_LIB.as_bytes(),
        target.triple.as_bytes(),
        rustc.as_bytes(),
        link.describe().as_bytes(),
        link_env.join("\n").as_bytes(),
        env.join("\n").as_bytes(),
        build.run.target_dir.as_os_str().as_encoded_bytes(),
    ]))
}

/// [`mimalloc`] by running cargo on the helper crate.
fn build_helper(
    build: &CargoBuild<'_>,
    target: &TargetChoice,
    link: &linker::Linker,
    libgcc: Option<PathBuf>,
    shell: &Shell,
) -> Result<Archive> {
    let root = build.run.target_dir.join("slim-alloc");
    let crate_dir = root.join("mimalloc");
    write_helper(&crate_dir)?;
    let mut cmd = super::cargo_command(target);
    cmd.envs(link.env(&target.triple))
        .arg(link.subcommand())
        .args(["--release", "--locked", "--message-format=json"])
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .args(["--target", &target.triple])
        .arg("--target-dir")
        .arg(root.join("target"))
        // mimalloc prints `__DATE__` in its verbose banner: one date everywhere.
        .env("SOURCE_DATE_EPOCH", "0")
        // The user's flags and profile settings are for their crate, not for this
        // helper (a profile's `debug` would compile mimalloc with `-g`).
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO_PROFILE_")
            || (k.starts_with("CARGO_TARGET_") && k.ends_with("_RUSTFLAGS"))
        {
            cmd.env_remove(k.as_ref());
        }
    }
    if build.run.lock.offline || build.run.lock.frozen {
        cmd.arg("--offline");
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    shell.verbose("Running", format!("{cmd:?}"));
    let mut child = cmd
        .spawn()
        .context("could not run cargo to build mimalloc")?;
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
            s
        })
    });
    let mut out_dir = None;
    if let Some(stdout) = child.stdout.take() {
        for m in Message::parse_stream(BufReader::new(stdout)).flatten() {
            if let Message::BuildScriptExecuted(s) = m {
                if s.package_id.repr.contains("libmimalloc-sys") {
                    out_dir = Some(s.out_dir.into_std_path_buf());
                }
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    let said = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    let archive = out_dir.map(|d| (d.join("libmimalloc.a").is_file(), d));
    match archive {
        Some((true, dir)) if status.success() => Ok(Archive {
            dir: by_content(&root, &dir.join("libmimalloc.a"))?,
            libgcc,
            wrapper: super::wrap::install(&build.run.target_dir)?,
        }),
        _ => Err(Failure::new(format!(
            "could not build mimalloc for `{}` ({status})",
            target.triple
        ))
        .detail(format!("helper crate: {}", crate_dir.display()))
        .detail(format!("C toolchain: {}", link.describe()))
        .detail(last_lines(&said, 12))
        .help("set `allocator = \"musl\"` (or pass --allocator musl) to keep musl's malloc, or fix the C toolchain named above")
        .into()),
    }
}

/// A copy of `archive` in a folder named by its digest (`slim-alloc/lib/<hex>`):
/// the `-L` path then changes exactly when the archive's bytes do, and cargo,
/// which fingerprints the arguments (through the wrapper's env-dep) but not the
/// files they name, relinks the binary then and only then.
fn by_content(root: &Path, archive: &Path) -> Result<PathBuf> {
    let bytes =
        std::fs::read(archive).map_err(|e| crate::error::io_failure("read", archive, &e))?;
    let hex = crate::digest::sha256_hex(&bytes);
    let dir = root.join("lib").join(&hex[..32]);
    let copy = dir.join("libmimalloc.a");
    if std::fs::read(&copy).ok().as_deref() != Some(&bytes[..]) {
        std::fs::create_dir_all(&dir).map_err(|e| crate::error::io_failure("create", &dir, &e))?;
        crate::io::write_atomic(&copy, &bytes)?;
    }
    Ok(dir)
}

/// The folder of the host C compiler's `libgcc.a` (`cc -print-libgcc-file-name`).
fn libgcc_dir() -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc)
        .arg("-print-libgcc-file-name")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // clang answers with its compiler-rt archive, which `-l static=gcc` cannot name.
    let named = path.file_name() == Some(std::ffi::OsStr::new("libgcc.a"));
    (out.status.success() && named && path.is_file())
        .then(|| path.parent().map(Path::to_path_buf))?
}

/// Write the helper crate's files when they differ (an unchanged file keeps its
/// mtime, so cargo's fingerprint of it holds).
fn write_helper(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| crate::error::io_failure("create the allocator's helper crate", dir, &e))?;
    for (name, text) in [
        ("Cargo.toml", HELPER_MANIFEST),
        ("Cargo.lock", HELPER_LOCK),
        ("lib.rs", HELPER_LIB),
    ] {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
            crate::io::write_atomic(&path, text.as_bytes())?;
        }
    }
    Ok(())
}

/// The last `n` lines of `text`, for an error's detail.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    format!("cargo said:\n{}", lines[start..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print() {
        for c in [Choice::Auto, Choice::Musl, Choice::Mimalloc] {
            assert_eq!(Choice::parse(c.as_str()), Ok(c));
        }
        let e = Choice::parse("jemalloc").unwrap_err();
        assert!(e.contains("\"auto\", \"musl\" or \"mimalloc\""), "{e}");
    }

    #[test]
    fn the_archive_is_linked_whole_and_only_by_the_final_crate() {
        let a = Archive {
            dir: PathBuf::from("/t/out"),
            libgcc: None,
            wrapper: PathBuf::from("/t/slim-alloc/wrapper"),
        };
        assert_eq!(
            a.rustc_args(),
            [
                "-L",
                "native=/t/out",
                "-l",
                "static:+whole-archive=mimalloc"
            ]
        );
        // The helper is the pinned one.
        assert!(HELPER_MANIFEST.contains("libmimalloc-sys = { version = \"=0.1.49\""));
        assert!(HELPER_LOCK.contains("name = \"libmimalloc-sys\"\nversion = \"0.1.49\""));
    }
}
