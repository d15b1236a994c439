//! Compile: [`CargoBuild`] → [`Artifact`] (the unstripped ELF and how it was built).
//! A `CargoBuild` borrows what the run shares ([`CargoRun`]), what the package's
//! image needs ([`PackageBuild`]) and names one target, so each platform of a
//! multi-platform build is the same settings with another target.
//!
//! Runs `cargo build --message-format=json-render-diagnostics`, so cargo still
//! renders its own diagnostics on stderr while we read `compiler-artifact` messages
//! from stdout to find the executable. Static by default: the host's `-musl` target
//! (installed with rustup when missing), else `-gnu` with `+crt-static`. Our extra
//! rustflags never replace the user's: they are appended to `RUSTFLAGS` /
//! `CARGO_ENCODED_RUSTFLAGS` when those are set, and otherwise passed as
//! `--config target.<triple>.rustflags`, which cargo merges with `.cargo/config.toml`.
//! `--opt min` builds with the nightly toolchain that [`nightly`] finds and checks
//! first (its cargo, with `RUSTC` and `RUSTUP_TOOLCHAIN` set to it). A profile
//! that strips the symbol table is built with it kept ([`symbols`]), for the
//! report's per-crate sizes.

use std::io::BufReader;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use cargo_metadata::{Message, TargetKind};

use crate::error::{command_not_found, Failure};
use crate::shell::{Shell, Verbosity};

pub mod alloc;
pub mod group;
pub mod linker;
pub mod nightly;
pub mod preset;
pub mod probe;
pub mod remap;
mod settings;
pub mod symbols;
pub mod wrap;
pub use linker::Linker;
pub use settings::{CargoBuild, CargoRun, Features, Lock, PackageBuild};

/// The binary cargo produced.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub path: PathBuf,
    pub target: String,
    pub package: String,
    pub bin: String,
    /// Every rlib of the build, for attributing symbols to crates.
    pub rlibs: Vec<PathBuf>,
}

/// How the binary is made static.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetChoice {
    pub triple: String,
    /// Extra rustflags we must add (`+crt-static` for glibc targets).
    pub rustflags: Vec<String>,
    /// The nightly `--opt min` builds with; `None`: the active toolchain.
    pub toolchain: Option<nightly::Toolchain>,
}

const CRT_STATIC: [&str; 2] = ["-C", "target-feature=+crt-static"];

fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn rustc_bin() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string())
}

/// Run a command and return its stdout, with a clear error when it fails.
fn capture(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.stderr(Stdio::piped()).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::Error::from(command_not_found(
                &cmd.get_program().to_string_lossy(),
                "install Rust with rustup, or set $RUSTC / $CARGO",
            ))
        } else {
            anyhow::anyhow!("could not run {what}: {e}")
        }
    })?;
    if !out.status.success() {
        return Err(Failure::new(format!("{what} failed ({})", out.status))
            .detail(String::from_utf8_lossy(&out.stderr).trim().to_string())
            .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The host triple, from `rustc -vV`.
pub fn host_triple(dir: &Path, cache: &crate::cache::Cache) -> Result<String> {
    let out = probe::rustc(dir, &["-vV"], "`rustc -vV`", cache)?;
    out.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|s| s.trim().to_string())
        .ok_or_else(|| anyhow::anyhow!("`rustc -vV` printed no host line"))
}

/// The active toolchain's sysroot (`rustc --print sysroot`).
pub fn sysroot(dir: &Path, cache: &crate::cache::Cache) -> Result<PathBuf> {
    let out = probe::rustc(
        dir,
        &["--print", "sysroot"],
        "`rustc --print sysroot`",
        cache,
    )?;
    Ok(PathBuf::from(out.trim()))
}

/// Whether the standard library for `triple` is installed for the active toolchain.
pub fn target_installed(dir: &Path, triple: &str, cache: &crate::cache::Cache) -> bool {
    let args = ["--print", "target-libdir", "--target", triple];
    let Ok(libdir) = probe::rustc(dir, &args, "rustc --print target-libdir", cache) else {
        return false;
    };
    std::fs::read_dir(libdir.trim())
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
        .unwrap_or(false)
}

fn rustup_available() -> bool {
    Command::new("rustup")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn rustup_add(dir: &Path, triple: &str, shell: &Shell) -> Result<()> {
    shell.status("Installing", format!("target {triple} (rustup target add)"));
    capture(
        Command::new("rustup")
            .args(["target", "add", triple])
            .current_dir(dir),
        &format!("`rustup target add {triple}`"),
    )
    .map(|_| ())
}

/// Rustflags needed for a fully static binary on `triple`.
fn static_flags(triple: &str) -> Vec<String> {
    if triple.contains("-linux-gnu") {
        CRT_STATIC.iter().map(|s| s.to_string()).collect()
    } else {
        Vec::new()
    }
}

/// Choose the target: an explicit one, else `<arch>-unknown-linux-musl`, installing
/// it when allowed, else the `-gnu` fallback with `+crt-static`.
pub fn choose_target(build: &CargoBuild<'_>, shell: &Shell) -> Result<TargetChoice> {
    if let preset::Relocation::Static { .. } = build.package.relocation {
        shell.note(preset::NON_PIE_NOTE);
    }
    if !build.nightly() {
        return choose_active_target(build, shell);
    }
    let toolchain = nightly::preflight(build.package.dir())?;
    // build-std compiles std with the nightly, so an explicit target (`--target`,
    // `--platform linux/arm64`) needs the nightly's files for it (checked below),
    // never the active toolchain's std: checking that would install it for nothing,
    // or refuse with a `rustup target add` that does not fix the nightly.
    let choice = match build.target {
        Some(t) => TargetChoice {
            triple: t.to_string(),
            rustflags: static_flags(t),
            toolchain: None,
        },
        None => choose_active_target(build, shell)?,
    };
    nightly::require_target(&toolchain, &choice.triple, build.run.install_target, shell)?;
    Ok(TargetChoice {
        toolchain: Some(toolchain),
        ..choice
    })
}

/// [`choose_target`] for the active toolchain.
fn choose_active_target(build: &CargoBuild<'_>, shell: &Shell) -> Result<TargetChoice> {
    let dir = build.package.dir();
    if let Some(t) = build.target {
        if !target_installed(dir, t, build.cache) {
            if build.run.install_target && rustup_available() {
                rustup_add(dir, t, shell)?;
            } else {
                return Err(Failure::new(format!(
                    "the standard library for `{t}` is not installed"
                ))
                .help(format!("run `rustup target add {t}`"))
                .into());
            }
        }
        return Ok(TargetChoice {
            triple: t.to_string(),
            rustflags: static_flags(t),
            toolchain: None,
        });
    }
    let host = host_triple(dir, build.cache)?;
    let arch = host.split('-').next().unwrap_or("x86_64");
    let musl = format!("{arch}-unknown-linux-musl");
    if target_installed(dir, &musl, build.cache) {
        return Ok(TargetChoice {
            triple: musl,
            rustflags: Vec::new(),
            toolchain: None,
        });
    }
    let why = if !build.run.install_target {
        "--no-install-target was given".to_string()
    } else if !rustup_available() {
        "rustup is not available".to_string()
    } else {
        match rustup_add(dir, &musl, shell) {
            Ok(()) => {
                return Ok(TargetChoice {
                    triple: musl,
                    rustflags: Vec::new(),
                    toolchain: None,
                })
            }
            Err(e) => format!("`rustup target add {musl}` failed: {e}"),
        }
    };
    let gnu = format!("{arch}-unknown-linux-gnu");
    shell.warn(format!(
        "the `{musl}` target is not installed ({why}); building `{gnu}` with +crt-static instead"
    ));
    shell.note(
        "a static glibc binary still dlopen()s NSS modules for getaddrinfo/getpwnam at run time, \
         which fail in a scratch image; install the musl target (`rustup target add ...-musl`) to avoid that",
    );
    Ok(TargetChoice {
        rustflags: static_flags(&gnu),
        triple: gnu,
        toolchain: None,
    })
}

/// Build the crate and return the executable cargo produced.
///
/// With mimalloc's archive for the target in `allocator`, only the final crate's
/// link gets the archive ([`alloc`], through [`wrap`]); its environment goes to
/// every build script.
pub fn build(
    build: &CargoBuild<'_>,
    target: &TargetChoice,
    link: &Linker,
    allocator: &alloc::Linkage,
    shell: &Shell,
) -> Result<Artifact> {
    let (cmd, subcommand) = command(build, target, link, allocator, shell);
    let package = build.package;
    let wanted = [(package.package_id.as_str(), package.bin.as_str())];
    let (status, mut found, rlibs) = run_cargo(cmd, &wanted, shell)?;
    finish(
        package,
        target,
        link,
        subcommand,
        status,
        found.pop().unwrap_or_default(),
        rlibs,
    )
}

/// What one cargo run gave: how it ended, the executables of each wanted
/// (package id, binary) in order, and every rlib it built or reused.
type CargoOutcome = (std::process::ExitStatus, Vec<Vec<PathBuf>>, Vec<PathBuf>);

/// Run `cmd` (a cargo command with JSON messages on stdout), in its own process
/// group, and read the executables of `wanted` from its messages.
fn run_cargo(mut cmd: Command, wanted: &[(&str, &str)], shell: &Shell) -> Result<CargoOutcome> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    shell.verbose("Running", format!("{cmd:?}"));
    // Its own process group: a signal to cargo-slim reaches cargo and every job it
    // started (build scripts, rustc, cc1) through crate::interrupt, and cargo-slim
    // waits for them before it exits.
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::Error::from(command_not_found(&cargo_bin(), "install Rust with rustup"))
        } else {
            anyhow::anyhow!("could not run cargo: {e}")
        }
    })?;
    let _forward = crate::interrupt::ChildGroup::watch(child.id());
    let stdout = child.stdout.take().expect("stdout is piped");
    let (found, mut rlibs) = artifacts(stdout, wanted)?;
    // Sorted: cargo's message order varies with its job order, and the rlibs
    // are part of the per-crate sizes' cache key.
    rlibs.sort();
    rlibs.dedup();
    let status = child.wait().context("waiting for cargo")?;
    Ok((status, found, rlibs))
}

/// `cargo` of the toolchain that builds `target` (the nightly of `--opt min`, or
/// the active one), with that toolchain's environment.
pub(crate) fn cargo_command(target: &TargetChoice) -> Command {
    match &target.toolchain {
        Some(tc) => {
            let mut c = Command::new(&tc.cargo);
            c.envs(tc.env());
            c
        }
        None => Command::new(cargo_bin()),
    }
}

/// The cargo command line of [`build`] and its subcommand (`build` or `zigbuild`).
/// With mimalloc, cargo runs cargo-slim as its workspace wrapper ([`wrap`]), which
/// adds the archive's rustc arguments to the final binary's compile only.
pub(crate) fn command(
    build: &CargoBuild<'_>,
    target: &TargetChoice,
    link: &Linker,
    allocator: &alloc::Linkage,
    shell: &Shell,
) -> (Command, &'static str) {
    let (mut cmd, subcommand) = (cargo_command(target), link.subcommand());
    if let Some(a) = &allocator.archive {
        let package = build.package;
        cmd.envs(wrap::cargo_env(&a.wrapper));
        let (var, value) = wrap::alloc_env(&package.package_name, &package.bin, &a.rustc_args());
        cmd.env(var, value);
    }
    cmd.envs(link.env(&target.triple));
    cmd.envs(allocator.env.iter().map(|(k, v)| (k, v)));
    let (run, package) = (build.run, build.package);
    cmd.arg(subcommand)
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(&package.manifest_path)
        .args(["-p", &package.package_id])
        .args(["--bin", &package.bin])
        .args(["--target", &target.triple])
        .args(["--profile", &package.profile])
        .args(&run.cargo_args)
        .args(&run.build_args)
        .args(package.preset.iter().flat_map(|p| &p.cargo_flags));
    // After the user's own `--config` flags: the last one wins.
    cmd.args(symbols::flags_for(build, shell));
    if run.target_dir_given {
        cmd.arg("--target-dir").arg(&run.target_dir);
    }
    if !package.features.list.is_empty() {
        cmd.arg("--features").arg(package.features.list.join(","));
    }
    for (on, flag) in [
        (package.features.all, "--all-features"),
        (package.features.no_default, "--no-default-features"),
    ] {
        if on {
            cmd.arg(flag);
        }
    }
    cmd.args(run.lock.flags());
    match shell.verbosity {
        Verbosity::Quiet => {
            cmd.arg("--quiet");
        }
        Verbosity::Verbose => {
            cmd.arg("--verbose");
        }
        Verbosity::Normal => {}
    }
    let (flags, skipped) = our_rustflags(build, target);
    for path in skipped {
        shell.warn(format!(
            "`{}` is not UTF-8, so it cannot be remapped and may appear in the binary",
            path.display()
        ));
    }
    let dir = package.dir();
    let key = remap::flags_key(&target.triple, &run.cargo_args, &linker::config_files(dir));
    add_rustflags(&mut cmd, &key, &flags);
    (cmd, subcommand)
}

/// The rustflags cargo-slim adds for `build` (the target's, the preset's, the
/// path remaps), and the folders that could not be remapped (not UTF-8).
fn our_rustflags(build: &CargoBuild<'_>, target: &TargetChoice) -> (Vec<String>, Vec<PathBuf>) {
    let mut flags = target.rustflags.clone();
    flags.extend(build.rustflags());
    let sysroot = match &target.toolchain {
        Some(tc) => Some(tc.sysroot.clone()),
        None => sysroot(build.package.dir(), build.cache).ok(),
    };
    let (remaps, skipped) = remap::flags(build, sysroot.as_deref());
    flags.extend(remaps);
    (flags, skipped)
}

/// The rustflags cargo-slim adds for `build`, as provenance records them: the
/// same on every machine ([`remap::recorded`]).
pub fn recorded_rustflags(build: &CargoBuild<'_>, target: &TargetChoice) -> Vec<String> {
    let (flags, _) = our_rustflags(build, target);
    remap::recorded(&flags)
}

/// `rustc -vV` of the toolchain that builds `target`.
pub fn rustc_version(build: &CargoBuild<'_>, target: &TargetChoice) -> Result<String> {
    let dir = build.package.dir();
    match &target.toolchain {
        Some(tc) => capture(
            Command::new(&tc.rustc).arg("-vV").current_dir(dir),
            "`rustc -vV`",
        ),
        None => probe::rustc(dir, &["-vV"], "`rustc -vV`", build.cache),
    }
}

/// The executables of each wanted (package id, binary) and every rlib, from
/// cargo's messages.
fn artifacts(
    stdout: impl std::io::Read,
    wanted: &[(&str, &str)],
) -> Result<(Vec<Vec<PathBuf>>, Vec<PathBuf>)> {
    let mut found: Vec<Vec<PathBuf>> = vec![Vec::new(); wanted.len()];
    let mut rlibs: Vec<PathBuf> = Vec::new();
    for message in Message::parse_stream(BufReader::new(stdout)) {
        let message = message.context("reading cargo's JSON messages")?;
        if let Message::CompilerArtifact(a) = message {
            rlibs.extend(
                a.filenames
                    .iter()
                    .filter(|f| f.extension() == Some("rlib"))
                    .map(|f| f.clone().into_std_path_buf()),
            );
            if !a.target.kind.contains(&TargetKind::Bin) {
                continue;
            }
            let Some(exe) = a.executable else { continue };
            let slot = wanted
                .iter()
                .position(|(id, bin)| a.package_id.repr == *id && a.target.name == *bin);
            if let Some(i) = slot {
                found[i].push(exe.into_std_path_buf());
            }
        }
    }
    Ok((found, rlibs))
}

/// How cargo ended: the binary it built, or why there is none.
pub(crate) fn finish(
    build: &PackageBuild,
    target: &TargetChoice,
    link: &Linker,
    subcommand: &str,
    status: std::process::ExitStatus,
    mut found: Vec<PathBuf>,
    rlibs: Vec<PathBuf>,
) -> Result<Artifact> {
    if let Some(sig) = crate::interrupt::received() {
        return Err(
            crate::interrupt::interrupted(sig, "while cargo was compiling")
                .detail(format!("cargo stopped: {status}"))
                .into(),
        );
    }
    if !status.success() {
        return Err(Failure::new(format!(
            "`cargo {subcommand}` failed for package `{}` ({status})",
            build.package_name
        ))
        .detail(format!(
            "target: {}, profile: {}, linker: {}",
            target.triple,
            build.profile,
            link.describe()
        ))
        .help("cargo's own errors are printed above")
        .into());
    }
    match found.pop() {
        Some(path) => Ok(Artifact {
            path,
            target: target.triple.clone(),
            package: build.package_name.clone(),
            bin: build.bin.clone(),
            rlibs,
        }),
        None => Err(Failure::new(format!(
            "cargo reported no executable for binary `{}` of package `{}`",
            build.bin, build.package_name
        ))
        .into()),
    }
}

/// Add `flags` without clobbering the user's own rustflags (see the module doc):
/// `key` is the config key from [`remap::flags_key`]. `RUSTFLAGS` is split the way
/// cargo splits it and passed on encoded, so a flag holding a path with a space
/// (`--remap-path-prefix=/home/my dir=…`) stays one flag.
fn add_rustflags(cmd: &mut Command, key: &str, flags: &[String]) {
    if flags.is_empty() {
        return;
    }
    let existing: Option<Vec<String>> = match std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(enc) => Some(
            enc.split('\x1f')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        Err(_) => std::env::var("RUSTFLAGS").ok().map(|r| {
            r.split(' ')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        }),
    };
    if let Some(mut all) = existing {
        all.extend(flags.iter().cloned());
        cmd.env_remove("RUSTFLAGS");
        cmd.env("CARGO_ENCODED_RUSTFLAGS", all.join("\x1f"));
    } else {
        let list = toml::Value::Array(
            flags
                .iter()
                .map(|f| toml::Value::String(f.clone()))
                .collect(),
        );
        cmd.arg("--config").arg(format!("{key}={list}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_flags_only_for_gnu() {
        assert!(static_flags("x86_64-unknown-linux-musl").is_empty());
        assert_eq!(
            static_flags("aarch64-unknown-linux-gnu"),
            vec!["-C", "target-feature=+crt-static"]
        );
    }

    #[test]
    fn config_flag_is_valid_toml_array() {
        let mut cmd = Command::new("cargo");
        // Only meaningful when the user has no RUSTFLAGS of their own.
        if std::env::var_os("RUSTFLAGS").is_none()
            && std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_none()
        {
            let mut flags = static_flags("x86_64-unknown-linux-gnu");
            flags.push("--remap-path-prefix=/a \"b\"\\c=/d".into());
            add_rustflags(
                &mut cmd,
                "target.x86_64-unknown-linux-gnu.rustflags",
                &flags,
            );
            let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into()).collect();
            assert_eq!(
                args,
                vec![
                    "--config",
                    r#"target.x86_64-unknown-linux-gnu.rustflags=["-C", "target-feature=+crt-static", '--remap-path-prefix=/a "b"\c=/d']"#
                ]
            );
        }
    }
}
