//! Reproducible paths: the `--remap-path-prefix` flags that keep the build host's
//! folders out of the binary, and where cargo must be told about them.
//!
//! In: the [`CargoBuild`] (manifest, package, target dir) and the environment
//! (`CARGO_HOME`, the toolchain's sysroot). Out: rustflags that map the workspace
//! root to `/build/<root package>` (`/build/workspace` for a virtual one; when the target dir is inside it), the target dir (build scripts' `OUT_DIR`) to
//! `/build/target`, `CARGO_HOME` (registry and git sources) to `/cargo` and the
//! sysroot to `/rust/toolchain`; and [`flags_key`], the cargo config key that adds
//! them without hiding the user's own rustflags.
//! Why: panic locations and `file!()` of registry crates and of code generated into
//! `OUT_DIR` are absolute paths, so the same crate built under another folder or
//! `CARGO_HOME` gave another binary and digest, and the image told where it was
//! built. Cargo's `trim-paths` does this job but is still unstable on the stable
//! toolchain (1.95: "feature `trim-paths` is required"), so rustc's own flag is used.
//! Cargo keeps rustflags out of the `-C metadata` hash, so the flags' host paths do
//! not change symbol hashes either (checked by tests/repro.rs: two folders, two
//! `CARGO_HOME`s, one digest).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{capture, cargo_bin, CargoBuild};

/// Where each build folder appears in the binary: stable names, the same on every machine.
pub const CARGO_HOME_AS: &str = "/cargo";
pub const TARGET_DIR_AS: &str = "/build/target";
pub const SYSROOT_AS: &str = "/rust/toolchain";

/// The `--remap-path-prefix` flags for `build`, most general folder first (rustc
/// applies the last prefix that matches, so a target dir inside the workspace is
/// mapped as the target dir). Folders whose path is not UTF-8 cannot be put into
/// rustflags; they are returned in the second list, to be named in a warning.
pub fn flags(build: &CargoBuild<'_>, sysroot: Option<&Path>) -> (Vec<String>, Vec<PathBuf>) {
    let (run, package) = (build.run, build.package);
    let workspace = match &run.workspace_root {
        w if !w.as_os_str().is_empty() => w.clone(),
        _ => workspace_root(&package.manifest_path).unwrap_or_else(|| package.dir().to_path_buf()),
    };
    let mut roots = Vec::new();
    // Rustflags are in every crate's fingerprint: a flag naming this workspace would
    // make crates in a target dir shared by several projects (CARGO_TARGET_DIR)
    // rebuild at each switch of project. Members' sources reach rustc as paths
    // relative to the workspace root anyway, so its remap only matters for files
    // included by absolute path; it is added when the target dir is the
    // workspace's own.
    if inside(&run.target_dir, &workspace) {
        let name = match run.workspace_name.as_str() {
            "" => package.package_name.as_str(),
            n => n,
        };
        roots.push((workspace, format!("/build/{name}")));
    }
    if let Some(home) = cargo_home() {
        roots.push((home, CARGO_HOME_AS.to_string()));
    }
    if let Some(s) = sysroot {
        roots.push((s.to_path_buf(), SYSROOT_AS.to_string()));
    }
    roots.push((run.target_dir.clone(), TARGET_DIR_AS.to_string()));
    remap_flags(roots)
}

fn inside(path: &Path, dir: &Path) -> bool {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| abs(p));
    abs(path).starts_with(abs(dir)) || canon(path).starts_with(canon(dir))
}

/// Both spellings of each folder (as given, and with symlinks resolved), ordered
/// so nested folders come after the folders that hold them.
fn remap_flags(roots: Vec<(PathBuf, String)>) -> (Vec<String>, Vec<PathBuf>) {
    let mut pairs: Vec<(PathBuf, String)> = Vec::new();
    for (path, to) in roots {
        let absolute = std::path::absolute(&path).unwrap_or(path);
        if let Ok(real) = absolute.canonicalize() {
            if real != absolute {
                pairs.push((real, to.clone()));
            }
        }
        pairs.push((absolute, to));
    }
    // Stable sort: depth first, then the order above (workspace, home, sysroot, target).
    pairs.sort_by_key(|(p, _)| p.components().count());
    pairs.dedup_by(|a, b| a.0 == b.0);
    let mut flags = Vec::new();
    let mut skipped = Vec::new();
    for (from, to) in pairs {
        match from.to_str() {
            Some(f) if f != "/" => flags.push(format!("--remap-path-prefix={f}={to}")),
            Some(_) => {}
            None => skipped.push(from),
        }
    }
    (flags, skipped)
}

/// The workspace root of `manifest` (`cargo locate-project --workspace`).
fn workspace_root(manifest: &Path) -> Option<PathBuf> {
    let out = capture(
        Command::new(cargo_bin())
            .args(["locate-project", "--workspace", "--message-format", "plain"])
            .arg("--manifest-path")
            .arg(manifest),
        "`cargo locate-project`",
    )
    .ok()?;
    PathBuf::from(out.trim()).parent().map(Path::to_path_buf)
}

/// `CARGO_HOME`, or cargo's default `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

/// The cargo config key our rustflags go under: `target.<triple>.rustflags`, or
/// `build.rustflags` when the user set `build.rustflags` and no target rustflags
/// for `triple` or a `cfg(…)` (taken as matching) — cargo ignores `build.rustflags` as soon as any `target` rustflags apply, so
/// adding target flags then would silently drop the user's.
pub fn flags_key(triple: &str, cargo_args: &[String], config_files: &[PathBuf]) -> String {
    let mut has_build = std::env::var_os("CARGO_BUILD_RUSTFLAGS").is_some();
    let env = super::linker::linker_env(triple).replace("_LINKER", "_RUSTFLAGS");
    let mut has_target = std::env::var_os(env).is_some();
    let mut texts: Vec<String> = config_files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    for pair in cargo_args.windows(2) {
        if pair[0] == "--config" {
            texts.push(
                std::fs::read_to_string(&pair[1])
                    .ok()
                    .filter(|_| !pair[1].contains('='))
                    .unwrap_or_else(|| pair[1].clone()),
            );
        }
    }
    for text in texts {
        let Ok(table) = text.parse::<toml::Table>() else {
            continue;
        };
        has_build |= table
            .get("build")
            .and_then(|b| b.get("rustflags"))
            .is_some();
        has_target |= table
            .get("target")
            .and_then(|t| t.as_table())
            .is_some_and(|t| {
                t.iter().any(|(k, v)| {
                    (k == triple || k.starts_with("cfg(")) && v.get("rustflags").is_some()
                })
            });
    }
    if has_build && !has_target {
        "build.rustflags".to_string()
    } else {
        format!("target.{triple}.rustflags")
    }
}

/// `flags` as provenance records them: a `--remap-path-prefix=FROM=TO` names a
/// folder of this machine (and symlinks add spellings), so only where folders
/// are mapped to is kept, as `--remap-path-prefix=<host path>=TO`, each once, sorted after
/// the other flags, which stay in their order.
pub fn recorded(flags: &[String]) -> Vec<String> {
    const REMAP: &str = "--remap-path-prefix=";
    let (remaps, mut out): (Vec<&String>, Vec<String>) = (
        flags.iter().filter(|f| f.starts_with(REMAP)).collect(),
        flags
            .iter()
            .filter(|f| !f.starts_with(REMAP))
            .cloned()
            .collect(),
    );
    let mut to: Vec<&str> = remaps
        .iter()
        .filter_map(|f| f.rsplit_once('=').map(|(_, to)| to))
        .collect();
    to.sort_unstable();
    to.dedup();
    out.extend(to.into_iter().map(|t| format!("{REMAP}<host path>={t}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_flags_keep_no_local_path() {
        let flags: Vec<String> = [
            "-C",
            "target-feature=+crt-static",
            "--remap-path-prefix=/home/me/.cargo=/cargo",
            "--remap-path-prefix=/work/a=b=/build/app",
            "--remap-path-prefix=/real/.cargo=/cargo",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            recorded(&flags),
            [
                "-C",
                "target-feature=+crt-static",
                "--remap-path-prefix=<host path>=/build/app",
                "--remap-path-prefix=<host path>=/cargo",
            ]
        );
    }

    #[test]
    fn nested_folders_are_mapped_last_and_paths_keep_equals_signs() {
        let (flags, skipped) = remap_flags(vec![
            (PathBuf::from("/nonexistent/ws"), "/build/app".into()),
            (PathBuf::from("/nonexistent/home/.cargo"), "/cargo".into()),
            (
                PathBuf::from("/nonexistent/ws/target"),
                "/build/target".into(),
            ),
            (PathBuf::from("/nonexistent/a=b"), "/x".into()),
        ]);
        assert!(skipped.is_empty());
        assert_eq!(
            flags,
            [
                "--remap-path-prefix=/nonexistent/ws=/build/app",
                "--remap-path-prefix=/nonexistent/a=b=/x",
                "--remap-path-prefix=/nonexistent/home/.cargo=/cargo",
                "--remap-path-prefix=/nonexistent/ws/target=/build/target",
            ]
        );
    }

    #[test]
    fn symlinked_folders_are_mapped_under_both_names() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let (flags, _) = remap_flags(vec![(link.clone(), "/cargo".into())]);
        let real = real.canonicalize().unwrap();
        assert!(flags.contains(&format!("--remap-path-prefix={}=/cargo", link.display())));
        assert!(flags.contains(&format!("--remap-path-prefix={}=/cargo", real.display())));
    }

    #[test]
    fn build_rustflags_of_the_user_choose_the_build_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        let t = "x86_64-unknown-linux-musl";
        let key = |text: &str, args: &[String]| {
            std::fs::write(&file, text).unwrap();
            flags_key(t, args, std::slice::from_ref(&file))
        };
        if std::env::var_os("CARGO_BUILD_RUSTFLAGS").is_some() {
            return;
        }
        let target_key = format!("target.{t}.rustflags");
        if key("", &[]) != target_key {
            // The environment has target rustflags of its own: nothing to assert.
            return;
        }
        assert_eq!(
            key("[build]\nrustflags = ['--cfg', 'x']\n", &[]),
            "build.rustflags"
        );
        assert_eq!(
            key(
                "[build]\nrustflags = ['--cfg', 'x']\n[target.'cfg(unix)']\nrustflags = []\n",
                &[]
            ),
            target_key,
            "cargo ignores build.rustflags when target rustflags apply"
        );
        assert_eq!(
            key("", &["--config".into(), "build.rustflags=['-Cx']".into()]),
            "build.rustflags"
        );
        assert_eq!(key("[build]\njobs = 2\n", &[]), target_key);
        assert_eq!(
            key(
                "[build]\nrustflags = ['-Cx']\n[target.aarch64-unknown-linux-musl]\nrustflags = []\n",
                &[]
            ),
            "build.rustflags",
            "another target's flags do not apply"
        );
    }
}
