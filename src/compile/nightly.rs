//! The nightly toolchain of `--opt min`, found and checked before anything compiles.
//!
//! In: the crate's folder (for a `rust-toolchain.toml` above it), the environment
//! (`RUSTUP_TOOLCHAIN`), and the target triple. Out: a [`Toolchain`] — its name and
//! the absolute paths of its `cargo`, `rustc` and sysroot — or a [`Failure`] that
//! names the `rustup` command which installs what is missing.
//! Why: `-Zbuild-std` needs a nightly cargo and the standard library's sources
//! (the `rust-src` component); without them cargo fails after resolving and
//! half-building, with an error that does not say what to install. A musl target
//! also needs that toolchain's `rust-std` component for the target: build-std
//! compiles std itself, but links with the crt objects, `libc.a` and `libunwind.a`
//! of `lib/rustlib/<triple>/lib/self-contained` (checked: without it the link
//! fails with "cannot find rcrt1.o"). A `-gnu` target links the host's C library
//! and needs nothing more. The same holds for a cross target: `--platform
//! linux/arm64` needs `rustup target add --toolchain nightly
//! aarch64-unknown-linux-musl` (checked: then hello builds, links with rust-lld
//! and runs under qemu), but not the active toolchain's std for it.
//!
//! Which nightly: `RUSTUP_TOOLCHAIN` when it names a nightly, else the channel of
//! the nearest `rust-toolchain.toml` / `rust-toolchain` when it is a nightly, else
//! `nightly`. Its cargo is run by absolute path (`rustup which --toolchain T cargo`)
//! with `RUSTC` set to its rustc and `RUSTUP_TOOLCHAIN=T`, because `cargo slim`
//! runs with `$CARGO` pointing at the stable cargo. rustup is asked with
//! `RUSTUP_AUTO_INSTALL=0`, so a check never downloads a toolchain.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::Failure;
use crate::shell::Shell;

/// The command that installs what `--opt min` needs.
pub const INSTALL: &str = "rustup toolchain install nightly -c rust-src";

/// A nightly toolchain that has `rust-src`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchain {
    /// As rustup names it: `nightly`, `nightly-2026-05-19`.
    pub name: String,
    pub cargo: PathBuf,
    pub rustc: PathBuf,
    pub sysroot: PathBuf,
}

impl Toolchain {
    /// Environment for the cargo it runs, and what cargo runs in turn.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("RUSTC".into(), self.rustc.to_string_lossy().into_owned()),
            ("RUSTUP_TOOLCHAIN".into(), self.name.clone()),
        ]
    }
}

/// The nightly to use for a crate in `dir` (see the module doc).
pub fn requested(dir: &Path) -> String {
    if let Ok(t) = std::env::var("RUSTUP_TOOLCHAIN") {
        if t.starts_with("nightly") {
            return t;
        }
    }
    let start = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    for d in start.ancestors() {
        for name in ["rust-toolchain.toml", "rust-toolchain"] {
            if let Ok(text) = std::fs::read_to_string(d.join(name)) {
                return channel_of(&text)
                    .filter(|c| c.starts_with("nightly"))
                    .unwrap_or_else(|| "nightly".to_string());
            }
        }
    }
    "nightly".to_string()
}

/// `[toolchain] channel = "…"`, or the legacy one-line file.
fn channel_of(text: &str) -> Option<String> {
    if let Ok(table) = text.parse::<toml::Table>() {
        if let Some(c) = table
            .get("toolchain")
            .and_then(|t| t.get("channel"))
            .and_then(|c| c.as_str())
        {
            return Some(c.to_string());
        }
    }
    let line = text.trim();
    (!line.is_empty() && !line.contains(['\n', '=', '['])).then(|| line.to_string())
}

/// `rustup which --toolchain NAME TOOL`, never installing anything.
fn which(name: &str, tool: &str) -> Result<PathBuf, String> {
    let out = Command::new("rustup")
        .args(["which", "--toolchain", name, tool])
        .env("RUSTUP_AUTO_INSTALL", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run `rustup`: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // rustup prints a backtrace under RUST_BACKTRACE; its first line is the error.
        return Err(err.lines().next().unwrap_or("").trim().to_string());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The failure of a missing nightly or `rust-src`: `rustup toolchain install
/// <name> -c rust-src` installs either (and adds the component to an installed one).
fn missing(name: &str, what: String, detail: String) -> Failure {
    let install = if name == "nightly" {
        INSTALL.to_string()
    } else {
        format!("rustup toolchain install {name} -c rust-src")
    };
    Failure::new(what)
        .detail(detail.trim_start_matches("error: ").to_string())
        .detail("`--opt min` builds the standard library itself (-Zbuild-std), which needs a nightly toolchain and its `rust-src` component")
        .help(format!("run `{install}` (or use `--opt size`, which works on stable)"))
}

/// Find the nightly for `dir` and check it is a nightly with `rust-src`.
pub fn preflight(dir: &Path) -> Result<Toolchain, Failure> {
    let name = requested(dir);
    let rustc = which(&name, "rustc").map_err(|e| {
        missing(
            &name,
            format!("`--opt min` needs the nightly toolchain `{name}`, which is not installed"),
            if e.is_empty() {
                "rustup found no such toolchain".into()
            } else {
                e
            },
        )
    })?;
    let cargo = which(&name, "cargo")
        .map_err(|e| missing(&name, format!("the toolchain `{name}` has no cargo"), e))?;
    let run = |args: &[&str]| -> Result<String, Failure> {
        let out = Command::new(&rustc)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Failure::new(format!("could not run `{}`: {e}", rustc.display())))?;
        if !out.status.success() {
            return Err(Failure::new(format!(
                "`{} {}` failed ({})",
                rustc.display(),
                args.join(" "),
                out.status
            ))
            .detail(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let version = run(&["-vV"])?;
    let release = version
        .lines()
        .find_map(|l| l.strip_prefix("release: "))
        .unwrap_or("");
    if !(release.contains("nightly") || release.contains("dev")) {
        return Err(missing(
            &name,
            format!("the toolchain `{name}` is not a nightly (rustc {release})"),
            "-Z flags are refused by stable and beta compilers".into(),
        ));
    }
    let sysroot = PathBuf::from(run(&["--print", "sysroot"])?);
    let library = sysroot.join("lib/rustlib/src/rust/library");
    if !library.join("Cargo.lock").is_file() {
        return Err(missing(
            &name,
            format!("the nightly toolchain `{name}` has no `rust-src` component"),
            format!("not found: {}", library.join("Cargo.lock").display()),
        ));
    }
    Ok(Toolchain {
        name,
        cargo,
        rustc,
        sysroot,
    })
}

/// What the target needs beside rust-src: for musl, the toolchain's crt objects
/// and libc (its `rust-std` for the target), installed when allowed.
pub fn require_target(
    tc: &Toolchain,
    triple: &str,
    install: bool,
    shell: &Shell,
) -> Result<(), Failure> {
    let crt = tc
        .sysroot
        .join("lib/rustlib")
        .join(triple)
        .join("lib/self-contained/libc.a");
    if !triple.contains("-musl") || crt.is_file() {
        return Ok(());
    }
    let add = format!("rustup target add --toolchain {} {triple}", tc.name);
    if install {
        shell.status(
            "Installing",
            format!("target {triple} for {} ({add})", tc.name),
        );
        let ok = Command::new("rustup")
            .args(["target", "add", "--toolchain", &tc.name, triple])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok && crt.is_file() {
            return Ok(());
        }
    }
    Err(Failure::new(format!(
        "the nightly toolchain `{}` has no `{triple}` target",
        tc.name
    ))
    .detail(format!("not found: {}", crt.display()))
    .detail("build-std compiles std itself but links with the target's crt objects and libc.a from that toolchain's rust-std")
    .help(format!("run `{add}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolchain_files_name_the_nightly() {
        assert_eq!(
            channel_of(
                "[toolchain]\nchannel = \"nightly-2026-05-19\"\ncomponents = [\"rust-src\"]\n"
            )
            .as_deref(),
            Some("nightly-2026-05-19")
        );
        assert_eq!(channel_of("nightly\n").as_deref(), Some("nightly"));
        assert_eq!(channel_of("[toolchain]\nprofile = \"minimal\"\n"), None);
        let dir = tempfile::tempdir().unwrap();
        let krate = dir.path().join("app");
        std::fs::create_dir(&krate).unwrap();
        if std::env::var("RUSTUP_TOOLCHAIN").is_ok_and(|t| t.starts_with("nightly")) {
            return;
        }
        std::fs::write(
            dir.path().join("rust-toolchain.toml"),
            "[toolchain]\nchannel = \"nightly-2026-01-02\"\n",
        )
        .unwrap();
        assert_eq!(requested(&krate), "nightly-2026-01-02");
        // A stable pin is not used for build-std: the default nightly is.
        std::fs::write(
            dir.path().join("rust-toolchain.toml"),
            "[toolchain]\nchannel = \"1.89\"\n",
        )
        .unwrap();
        assert_eq!(requested(&krate), "nightly");
    }
}
