//! cargo-slim as cargo's `RUSTC_WORKSPACE_WRAPPER`: mimalloc linked into exactly
//! the chosen binaries of ONE `cargo build -p a -p b …`.
//!
//! In: cargo runs `cargo-slim <rustc> <args…>` for every compile of a workspace
//! member (`CARGO_SLIM_RUSTC_WRAPPER=1` tells `main` to come here). A binary unit
//! (cargo sets `CARGO_PKG_NAME`, `CARGO_BIN_NAME`) whose [`alloc_var`] is in the
//! environment gets the rustc arguments that variable holds (`-L native=<dir> -l
//! static:+whole-archive=mimalloc`, see `alloc::Archive::rustc_args`) appended, as
//! `cargo rustc … -- <args>` would: rustc itself places the archive before `-lc`,
//! with `cc`, zig's `zigcc` (cargo-zigbuild) or any other linker. A user's own
//! `RUSTC_WORKSPACE_WRAPPER` is run by this one, in its place.
//! Out: rustc's exit status; for a binary unit, one line appended to the dep-info
//! rustc wrote, `# env-dep:<var>=<value>` (or `# env-dep:<var>` when unset).
//!
//! Why: cargo reads env-deps from rustc's dep-info into its fingerprint, so a
//! binary is rebuilt exactly when its own choice (or the archive's digest folder)
//! changes, and every other unit stays fresh. `RUSTFLAGS` would link the archive
//! into every crate ("multiple definition of `_mi_page_empty`"); a `-C link-arg`
//! lands after `-lc`; a linker wrapper changes `-C linker` of every unit (all
//! rebuilt) and cannot tell cargo what it did; `cargo rustc` builds one package,
//! so images could not share a cargo run.
//!
//! Reproducibility: cargo hashes the wrapper's path, as given, into the metadata
//! of workspace members (`-C metadata`, so symbol hashes and type ids: the
//! binary's bytes). An absolute path — wherever cargo-slim is installed — would
//! give each machine its own image digest. So cargo is given the bare name
//! [`WRAPPER_NAME`], which it hashes as it is and finds on `PATH`: [`install`]
//! links that name to this executable in `<target-dir>/slim-alloc/wrapper/`, and
//! [`cargo_env`] puts that folder first on cargo's `PATH`. The same name on every
//! machine is the same metadata, and the same binary.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Result;

/// Set (to `1`) in cargo's environment when cargo-slim is its workspace wrapper.
pub const MODE_ENV: &str = "CARGO_SLIM_RUSTC_WRAPPER";
/// The user's own `RUSTC_WORKSPACE_WRAPPER`, run by ours in its place.
pub const INNER_ENV: &str = "CARGO_SLIM_INNER_WORKSPACE_WRAPPER";
/// The wrapper's name, the same on every machine: cargo hashes it (see the
/// module doc), and finds it on `PATH`.
pub const WRAPPER_NAME: &str = "cargo-slim";
/// The prefix of every [`alloc_var`].
const ALLOC_PREFIX: &str = "CARGO_SLIM_ALLOC_";

/// The variable that carries binary `bin` of package `package` its extra rustc
/// arguments: `CARGO_SLIM_ALLOC_<16 hex digits>`. Named from the package's name,
/// not its folder: workspace members' names are unique, and no path of the
/// machine enters the name.
pub fn alloc_var(package: &str, bin: &str) -> String {
    let key = format!("{package}\0{bin}");
    let hex = crate::digest::sha256_hex(key.as_bytes());
    format!("{ALLOC_PREFIX}{}", hex[..16].to_ascii_uppercase())
}

/// Whether `name` is an [`alloc_var`]: what one binary of a cargo run gets, not
/// how the run builds (`group` merges those of several binaries).
pub fn is_alloc_var(name: &str) -> bool {
    name.starts_with(ALLOC_PREFIX)
}

/// The [`alloc_var`] of `package`'s `bin` and its value: `args` separated by
/// `\x1f`, as in `CARGO_ENCODED_RUSTFLAGS`.
pub fn alloc_env(package: &str, bin: &str, args: &[String]) -> (String, String) {
    (alloc_var(package, bin), args.join("\x1f"))
}

/// Link [`WRAPPER_NAME`] to this executable in `<target_dir>/slim-alloc/wrapper/`
/// (replaced atomically when it points elsewhere); returns that folder.
pub fn install(target_dir: &Path) -> Result<PathBuf> {
    let dir = target_dir.join("slim-alloc").join("wrapper");
    let exe = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find cargo-slim's own executable: {e}"))?;
    let link = dir.join(WRAPPER_NAME);
    if std::fs::read_link(&link).ok().as_deref() == Some(exe.as_path()) {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir).map_err(|e| crate::error::io_failure("create", &dir, &e))?;
    let tmp = dir.join(format!(".{WRAPPER_NAME}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&exe, &tmp)
        .and_then(|()| std::fs::rename(&tmp, &link))
        .map_err(|e| crate::error::io_failure("link the rustc wrapper at", &link, &e))?;
    Ok(dir)
}

/// The environment for cargo that makes cargo-slim (linked in `dir` by
/// [`install`]) its workspace wrapper; each binary's [`alloc_env`] comes on top.
pub fn cargo_env(dir: &Path) -> Vec<(String, OsString)> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut search = vec![dir.to_path_buf()];
    search.extend(std::env::split_paths(&path));
    // A folder holding `:` cannot be on PATH; cargo then finds whichever
    // cargo-slim PATH has, which still wraps (only the digest may differ).
    let path = std::env::join_paths(search).unwrap_or(path);
    let mut env = vec![
        ("RUSTC_WORKSPACE_WRAPPER".to_string(), WRAPPER_NAME.into()),
        ("PATH".to_string(), path),
        (MODE_ENV.to_string(), "1".into()),
    ];
    if let Some(user) = std::env::var_os("RUSTC_WORKSPACE_WRAPPER").filter(|v| !v.is_empty()) {
        env.push((INNER_ENV.to_string(), user));
    }
    env
}

/// `Some(exit code)` when this process is cargo's workspace wrapper: cargo runs
/// `cargo-slim <rustc> <args…>`, never with `slim` first.
pub fn run_if_wrapper() -> Option<ExitCode> {
    std::env::var_os(MODE_ENV)?;
    let mut argv = std::env::args_os().skip(1);
    let rustc = argv.next()?;
    if rustc == "slim" {
        return None;
    }
    Some(wrap(rustc, argv.collect()))
}

fn wrap(rustc: OsString, mut args: Vec<OsString>) -> ExitCode {
    let unit = match (
        std::env::var("CARGO_PKG_NAME"),
        std::env::var("CARGO_BIN_NAME"),
    ) {
        (Ok(package), Ok(bin)) => Some(alloc_var(&package, &bin)),
        _ => None,
    };
    let value = unit
        .as_ref()
        .and_then(|var| std::env::var(var).ok())
        .filter(|v| !v.is_empty());
    if let Some(v) = &value {
        args.extend(v.split('\x1f').map(OsString::from));
    }
    let mut cmd = match std::env::var_os(INNER_ENV) {
        Some(inner) => {
            let mut c = Command::new(inner);
            c.arg(&rustc);
            c
        }
        None => Command::new(&rustc),
    };
    cmd.args(&args).env_remove(MODE_ENV);
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cargo-slim: could not run {}: {e}", rustc.to_string_lossy());
            return ExitCode::from(101);
        }
    };
    if !status.success() {
        return ExitCode::from(status.code().map_or(101, |c| c as u8));
    }
    let Some(var) = unit else {
        return ExitCode::SUCCESS;
    };
    // Only a compile that wrote dep-info has one to extend (not `-vV`, `--print`).
    let Some(dep_info) = dep_info_path(&args) else {
        return ExitCode::SUCCESS;
    };
    let line = match &value {
        Some(v) => format!("# env-dep:{var}={}\n", escape(v)),
        None => format!("# env-dep:{var}\n"),
    };
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .open(&dep_info)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    if let Err(e) = appended {
        eprintln!(
            "cargo-slim: could not record the allocator in {}: {e}",
            dep_info.display()
        );
        return ExitCode::from(101);
    }
    ExitCode::SUCCESS
}

/// rustc's dep-info file for these arguments: `--emit dep-info=PATH`, else
/// `<out-dir>/<crate-name><extra-filename>.d`; `None` when dep-info is not emitted.
fn dep_info_path(args: &[OsString]) -> Option<PathBuf> {
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
    let (mut out_dir, mut name, mut extra, mut emit) = (None, None, String::new(), None);
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| -> Option<String> {
            if a == flag {
                it.peek().map(|v| v.to_string())
            } else {
                a.strip_prefix(&format!("{flag}=")).map(str::to_string)
            }
        };
        if let Some(v) = value("--out-dir") {
            out_dir = Some(v);
        } else if let Some(v) = value("--crate-name") {
            name = Some(v);
        } else if let Some(v) = value("--emit") {
            emit = Some(v);
        } else if let Some(v) = value("-C").or_else(|| a.strip_prefix("-C").map(str::to_string)) {
            if let Some(e) = v.strip_prefix("extra-filename=") {
                extra = e.to_string();
            }
        }
    }
    let emit = emit?;
    let kind = emit.split(',').find(|k| k.starts_with("dep-info"))?;
    if let Some(path) = kind.strip_prefix("dep-info=") {
        return Some(PathBuf::from(path));
    }
    Some(Path::new(&out_dir?).join(format!("{}{extra}.d", name?)))
}

/// rustc's escaping of an env-dep value (cargo unescapes `\\`, `\n`, `\r`).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_variable_names_one_binary_of_one_package() {
        let a = alloc_var("api", "server");
        assert!(
            a.starts_with(ALLOC_PREFIX) && a.len() == ALLOC_PREFIX.len() + 16,
            "{a}"
        );
        assert!(is_alloc_var(&a) && !is_alloc_var("RUSTC_WORKSPACE_WRAPPER"));
        assert_ne!(a, alloc_var("worker", "server"));
        assert_ne!(a, alloc_var("api", "worker"));
        // The separator keeps `a` + `bc` apart from `ab` + `c`.
        assert_ne!(alloc_var("a", "bc"), alloc_var("ab", "c"));
    }

    #[test]
    fn cargo_is_given_a_bare_name_found_first_on_path() {
        let dir = Path::new("/t/slim-alloc/wrapper");
        let env: std::collections::HashMap<_, _> = cargo_env(dir).into_iter().collect();
        // A bare name: cargo hashes it as given, the same on every machine.
        assert_eq!(env["RUSTC_WORKSPACE_WRAPPER"], WRAPPER_NAME);
        let first = std::env::split_paths(&env["PATH"]).next();
        assert_eq!(first.as_deref(), Some(dir));
        assert_eq!(env[MODE_ENV], "1");
    }

    #[test]
    fn the_link_points_at_this_executable() {
        let t = tempfile::tempdir().unwrap();
        let dir = install(t.path()).unwrap();
        assert_eq!(dir, t.path().join("slim-alloc/wrapper"));
        let link = dir.join(WRAPPER_NAME);
        let exe = std::env::current_exe().unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), exe);
        // Pointing elsewhere: replaced.
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("/elsewhere", &link).unwrap();
        install(t.path()).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), exe);
    }

    #[test]
    fn dep_info_is_found_where_rustc_writes_it() {
        let cargo = os(&[
            "--crate-name",
            "my_bin",
            "--emit=dep-info,link",
            "-C",
            "metadata=1",
            "-C",
            "extra-filename=-0123456789abcdef",
            "--out-dir",
            "/t/release/deps",
        ]);
        assert_eq!(
            dep_info_path(&cargo),
            Some(PathBuf::from("/t/release/deps/my_bin-0123456789abcdef.d"))
        );
        let explicit = os(&["--emit", "link,dep-info=/x/y.d", "--crate-name", "a"]);
        assert_eq!(dep_info_path(&explicit), Some(PathBuf::from("/x/y.d")));
        assert_eq!(dep_info_path(&os(&["-vV"])), None);
    }

    #[test]
    fn values_are_escaped_the_way_cargo_reads_them() {
        assert_eq!(escape("a\\b\nc"), "a\\\\b\\nc");
        assert_eq!(
            alloc_env("p", "b", &["-L".into(), "native=/d".into()]).1,
            "-L\x1fnative=/d"
        );
    }
}
