//! Which linker a target needs: the host's, `rust-lld`, or zig through `cargo zigbuild`.
//!
//! In: the target triple, the crates of its dependency graph that compile C
//! (`preflight::Graph::native`), and where the user may have chosen a linker
//! (`CARGO_TARGET_<TRIPLE>_LINKER`, `--config target.<triple>.linker=…`, or
//! `[target.<triple>] linker` in a `.cargo/config.toml` cargo reads).
//! Out: a [`Linker`]: how cargo is run, the environment it gets, and a phrase for
//! the status line ("linking with rust-lld").
//! Why: the host `cc` cannot link an aarch64 binary ("Relocations in generic ELF
//! (EM: 183)") and cargo's only hint is its own error. A pure-Rust crate links
//! for any musl target with the `rust-lld` every toolchain ships; a crate whose
//! build script compiles C also needs a C cross compiler, which zig is. Both
//! problems are found before compiling, naming the crate that needs C.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::arch;
use crate::error::Failure;

/// How one target is compiled and linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linker {
    /// What cargo would use anyway: the host's `cc` for the host's arch, or the
    /// linker the user configured (named here).
    Default(Option<String>),
    /// `rust-lld`, set through `CARGO_TARGET_<TRIPLE>_LINKER`.
    RustLld,
    /// `cargo zigbuild`: zig as C compiler and linker.
    Zig,
}

impl Linker {
    /// `rust-lld`, `zig (cargo zigbuild)`, `cc`, or the user's linker.
    pub fn describe(&self) -> String {
        match self {
            Linker::Default(Some(user)) => format!("{user} (your setting)"),
            Linker::Default(None) => "the host's cc".into(),
            Linker::RustLld => "rust-lld".into(),
            Linker::Zig => "zig (cargo zigbuild)".into(),
        }
    }

    /// [`Linker::describe`] without a host path: the user's linker by its file
    /// name only (`/home/me/bin/mold` → `mold`), for a record that must read
    /// the same on every machine (provenance).
    pub fn recorded(&self) -> String {
        match self {
            Linker::Default(Some(user)) => {
                let name = std::path::Path::new(user)
                    .file_name()
                    .map_or(user.clone(), |n| n.to_string_lossy().into_owned());
                format!("{name} (your setting)")
            }
            other => other.describe(),
        }
    }

    /// The cargo subcommand that builds: `build`, or `zigbuild`.
    pub fn subcommand(&self) -> &'static str {
        match self {
            Linker::Zig => "zigbuild",
            _ => "build",
        }
    }

    /// Environment cargo needs for this linker.
    pub fn env(&self, triple: &str) -> Vec<(String, String)> {
        match self {
            Linker::RustLld => vec![(linker_env(triple), "rust-lld".into())],
            _ => Vec::new(),
        }
    }
}

/// `CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER`.
pub fn linker_env(triple: &str) -> String {
    format!(
        "CARGO_TARGET_{}_LINKER",
        triple.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// Choose the linker for `triple`. `native` lists the crates whose build script
/// compiles C for the target; `cargo_args` are the user's `--config` flags;
/// `dir` is the crate's folder (where cargo looks for config files).
pub fn choose(
    triple: &str,
    native: &[String],
    cargo_args: &[String],
    dir: &Path,
) -> Result<Linker, Failure> {
    let target = arch::from_triple(triple);
    let cross = match (target, arch::host()) {
        (Some(t), Some(h)) => t.goarch != h.goarch,
        _ => false,
    };
    if let Some(user) = user_linker(triple, cargo_args, dir) {
        return Ok(Linker::Default(Some(user)));
    }
    if !cross {
        return Ok(Linker::Default(None));
    }
    let Some(first) = native.first() else {
        return Ok(Linker::RustLld);
    };
    let crates = native
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let missing: Vec<&str> = [
        (!runs("cargo-zigbuild", &["--version"]), "cargo-zigbuild"),
        (!zig_available(), "zig"),
    ]
    .into_iter()
    .filter_map(|(gone, name)| gone.then_some(name))
    .collect();
    if missing.is_empty() {
        return Ok(Linker::Zig);
    }
    Err(Failure::new(format!(
        "`{first}` compiles C code, so building for `{triple}` needs a C cross compiler, and {} not installed",
        match missing.as_slice() {
            [one] => format!("`{one}` is"),
            _ => "`cargo-zigbuild` and `zig` are".to_string(),
        }
    ))
    .detail(format!("crates that compile C for the target: {crates}"))
    .detail("pure-Rust crates link with rust-lld; C code is compiled and linked by zig through `cargo zigbuild`")
    .help("install both with `pip install ziglang cargo-zigbuild` (or `cargo install cargo-zigbuild` and a zig on $PATH), or set `target.<triple>.linker` and a CC for the target yourself"))
}

/// Whether `program args…` runs and succeeds.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// zig where cargo-zigbuild looks for it: `$ZIG`, `zig` on $PATH, or the
/// `ziglang` Python package.
fn zig_available() -> bool {
    if let Some(z) = std::env::var_os("ZIG") {
        if runs(&z.to_string_lossy(), &["version"]) {
            return true;
        }
    }
    runs("zig", &["version"]) || runs("python3", &["-m", "ziglang", "version"])
}

/// A linker the user chose for `triple`, from the environment, a `--config`
/// flag or a cargo config file, in cargo's order of precedence.
fn user_linker(triple: &str, cargo_args: &[String], dir: &Path) -> Option<String> {
    let key = format!("target.{triple}.linker");
    for pair in cargo_args.windows(2).rev() {
        if pair[0] == "--config" {
            if let Some((k, v)) = pair[1].split_once('=') {
                if k.trim() == key || k.trim() == format!("target.\"{triple}\".linker") {
                    return Some(v.trim().trim_matches('"').to_string());
                }
            }
        }
    }
    if let Ok(v) = std::env::var(linker_env(triple)) {
        return Some(v);
    }
    config_files(dir)
        .iter()
        .find_map(|f| linker_in(&std::fs::read_to_string(f).ok()?, triple))
}

/// The cargo config files for a build in `dir`, nearest first.
pub(super) fn config_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut push = |d: &Path| {
        for name in ["config.toml", "config"] {
            let f = d.join(name);
            if f.is_file() {
                out.push(f);
                break;
            }
        }
    };
    let start = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    for d in start.ancestors() {
        push(&d.join(".cargo"));
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(h) = home {
        push(&h);
    }
    out
}

/// `[target.<triple>] linker = "…"` in one config file's text.
fn linker_in(text: &str, triple: &str) -> Option<String> {
    let table: toml::Table = text.parse().ok()?;
    table
        .get("target")?
        .get(triple)?
        .get("linker")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARM: &str = "aarch64-unknown-linux-musl";

    #[test]
    fn env_name_follows_cargo() {
        assert_eq!(
            linker_env(ARM),
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER"
        );
    }

    #[test]
    fn a_config_file_linker_is_found_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let krate = dir.path().join("app");
        std::fs::create_dir_all(&krate).unwrap();
        std::fs::create_dir_all(dir.path().join(".cargo")).unwrap();
        assert_eq!(linker_in("[target.x]\nlinker = 'y'", ARM), None);
        std::fs::write(
            dir.path().join(".cargo/config.toml"),
            format!("[target.{ARM}]\nlinker = \"my-ld\"\n"),
        )
        .unwrap();
        // Found in a parent folder, as cargo does.
        assert_eq!(
            config_files(&krate)
                .iter()
                .find_map(|f| linker_in(&std::fs::read_to_string(f).unwrap(), ARM)),
            Some("my-ld".into())
        );
        // A --config flag wins over files.
        let flags = [
            "--config".to_string(),
            format!("target.{ARM}.linker=\"lld2\""),
        ];
        assert_eq!(user_linker(ARM, &flags, &krate), Some("lld2".into()));
    }

    #[test]
    fn cross_pure_rust_links_with_rust_lld_and_c_needs_zig() {
        let host = arch::host().unwrap();
        let other = if host.goarch == "amd64" {
            "aarch64-unknown-linux-musl"
        } else {
            "x86_64-unknown-linux-musl"
        };
        let empty = tempfile::tempdir().unwrap();
        if std::env::var_os(linker_env(other)).is_some() {
            return;
        }
        // A folder with no cargo config above it is not guaranteed (HOME may have
        // one), so only assert when no file names a linker for `other`.
        if config_files(empty.path())
            .iter()
            .any(|f| linker_in(&std::fs::read_to_string(f).unwrap_or_default(), other).is_some())
        {
            return;
        }
        assert_eq!(
            choose(other, &[], &[], empty.path()).unwrap(),
            Linker::RustLld
        );
        assert_eq!(
            choose(&host.musl_triple(), &["ring".into()], &[], empty.path()).unwrap(),
            Linker::Default(None),
            "the host's own arch needs no cross compiler"
        );
        match choose(
            other,
            &["zstd-sys".into(), "ring".into()],
            &[],
            empty.path(),
        ) {
            Ok(l) => assert_eq!(l, Linker::Zig),
            Err(f) => {
                assert!(f.what.contains("`zstd-sys` compiles C code"), "{f:?}");
                assert!(f
                    .help
                    .unwrap()
                    .contains("pip install ziglang cargo-zigbuild"));
            }
        }
    }
}
