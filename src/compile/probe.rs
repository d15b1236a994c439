//! Questions to the toolchain (`rustc -vV`, `--print sysroot`, `--print
//! target-libdir`), answered from the rebuild cache when nothing that decides the
//! answer has changed.
//!
//! In: the folder the build runs in, rustc's arguments, and the rebuild cache. Out:
//! rustc's stdout. Why: each question costs a rustup proxy and a rustc start
//! (50–90 ms here), and a no-op build asked four of them; the answers only change
//! with the toolchain. The key holds what picks the toolchain — `$RUSTC`, the
//! `rustc` found on `PATH` (path, size, mtime, inode), every `RUSTUP_*` variable,
//! `rust-toolchain(.toml)` in the folder and each parent, and rustup's
//! `settings.toml` (default and overrides) — and each entry records the stamp of
//! the toolchain's own `bin/rustc`, checked on every hit, so `rustup update`
//! (a new rustc in place) is a miss too.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use super::{capture, rustc_bin};
use crate::cache::{stamp, Cache};

/// What a cached answer records.
#[derive(serde::Serialize, serde::Deserialize)]
struct Answer {
    out: String,
    sysroot: PathBuf,
    /// [`stamp`] of `<sysroot>/bin/rustc` when the answer was given.
    rustc: String,
}

/// `rustc ARGS` run in `dir`, from the cache when the toolchain is the same.
pub fn rustc(dir: &Path, args: &[&str], what: &str, cache: &Cache) -> Result<String> {
    let run = || capture(Command::new(rustc_bin()).args(args).current_dir(dir), what);
    if !cache.is_on() {
        return run();
    }
    let key = key(dir, args);
    if let Some(a) = cache
        .load("rustc", &key)
        .and_then(|e| serde_json::from_slice::<Answer>(&e.meta).ok())
    {
        if stamp(&a.sysroot.join("bin/rustc")) == a.rustc {
            return Ok(a.out);
        }
    }
    let out = run()?;
    let sysroot = if args == ["--print", "sysroot"] {
        PathBuf::from(out.trim())
    } else {
        PathBuf::from(
            rustc(
                dir,
                &["--print", "sysroot"],
                "`rustc --print sysroot`",
                cache,
            )?
            .trim(),
        )
    };
    let answer = Answer {
        rustc: stamp(&sysroot.join("bin/rustc")),
        out,
        sysroot,
    };
    if let Ok(json) = serde_json::to_vec(&answer) {
        let _ = cache.store_meta("rustc", &key, &json);
    }
    Ok(answer.out)
}

/// Everything that decides which toolchain answers, with the question.
fn key(dir: &Path, args: &[&str]) -> String {
    let mut parts: Vec<Vec<u8>> = vec![b"rustc".to_vec(), args.join("\0").into_bytes()];
    let program = rustc_bin();
    parts.push(program.clone().into_bytes());
    let found = on_path(&program);
    parts.push(found.as_os_str().as_encoded_bytes().to_vec());
    parts.push(stamp(&found).into_bytes());
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("RUSTUP_"))
        .collect();
    vars.sort();
    for (k, v) in vars {
        parts.push(format!("{k}={v}").into_bytes());
    }
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    parts.push(dir.as_os_str().as_encoded_bytes().to_vec());
    for folder in dir.ancestors() {
        for name in ["rust-toolchain", "rust-toolchain.toml"] {
            parts.push(read_or_dash(&folder.join(name)));
        }
    }
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")));
    if let Some(home) = rustup_home {
        parts.push(read_or_dash(&home.join("settings.toml")));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    crate::cache::key(&refs)
}

/// The file's bytes, or `-` when there is none (an absent file is part of the key).
fn read_or_dash(path: &Path) -> Vec<u8> {
    match std::fs::read(path) {
        Ok(mut bytes) => {
            bytes.insert(0, b'+');
            bytes
        }
        Err(_) => b"-".to_vec(),
    }
}

/// Where `program` resolves on `PATH` (itself when it names a path).
pub(crate) fn on_path(program: &str) -> PathBuf {
    if program.contains('/') {
        return PathBuf::from(program);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_answer_is_the_same_as_rustc_s_and_a_new_toolchain_file_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::under(&dir.path().join("target"), true);
        let fresh = rustc(dir.path(), &["-vV"], "rustc -vV", &Cache::off()).unwrap();
        let first = rustc(dir.path(), &["-vV"], "rustc -vV", &cache).unwrap();
        let again = rustc(dir.path(), &["-vV"], "rustc -vV", &cache).unwrap();
        assert_eq!((&first, &again), (&fresh, &fresh));
        let before = key(dir.path(), &["-vV"]);
        std::fs::write(dir.path().join("rust-toolchain.toml"), "[toolchain]\n").unwrap();
        assert_ne!(key(dir.path(), &["-vV"]), before);
        assert_ne!(key(dir.path(), &["--print", "sysroot"]), before);
    }
}
