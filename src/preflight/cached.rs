//! `cargo metadata` answers from the rebuild cache, when nothing they were read
//! from has changed.
//!
//! In: the question (a [`CargoBuild`] and target for the resolved graph; a
//! manifest and cargo arguments for config's `--no-deps` read) and the cache.
//! Out: the `Metadata` cargo would print. Why: a no-op build asked cargo twice
//! (80 ms and 200–340 ms here), more than cargo's own no-op build takes. The key
//! holds the question, the working folder, every `CARGO*`/`RUST*` variable and
//! the toolchain (its sysroot and the stamps of its `cargo` and `rustc`); each
//! entry records every file and folder the answer came from — each local
//! package's manifest, the folders cargo discovers targets in and the presence
//! of `build.rs`/`src/main.rs`/`src/lib.rs`, a member's parent folder (where a
//! `members = ["crates/*"]` glob finds a new one), the workspace manifest and
//! `Cargo.lock`, every `.cargo/config(.toml)` cargo reads and `--config` files —
//! and is reused only when all of them look the same.

use std::path::{Path, PathBuf};

use anyhow::Result;
use cargo_metadata::Metadata;

use crate::cache::{look, presence, unchanged, Cache};
use crate::compile::CargoBuild;

/// A cached answer and what it was read from.
#[derive(serde::Serialize, serde::Deserialize)]
struct Answer {
    seen: Vec<(PathBuf, String)>,
    metadata: Metadata,
}

/// [`super::metadata`], from the cache when nothing it was read from changed
/// (`true`: reused).
pub fn metadata_reused(build: &CargoBuild<'_>, triple: &str) -> Result<(Metadata, bool)> {
    let cache = build.cache;
    if !cache.is_on() {
        return Ok((super::run_metadata(build, triple)?, false));
    }
    let (run, package) = (build.run, build.package);
    let dir = package.dir();
    let (features, lock) = (&package.features, run.lock);
    let question = [
        b"metadata".to_vec(),
        triple.as_bytes().to_vec(),
        package
            .manifest_path
            .as_os_str()
            .as_encoded_bytes()
            .to_vec(),
        features.list.join("\0").into_bytes(),
        run.cargo_args.join("\0").into_bytes(),
        format!(
            "{} {} {} {} {}",
            features.all, features.no_default, lock.locked, lock.offline, lock.frozen
        )
        .into_bytes(),
    ];
    let key = key(&question, dir, cache);
    if let Some(m) = load(cache, &key) {
        return Ok((m, true));
    }
    let metadata = super::run_metadata(build, triple)?;
    store(cache, &key, dir, &run.cargo_args, metadata).map(|m| (m, false))
}

/// Config's `cargo metadata --no-deps` (`run`), from the cache when nothing it
/// was read from changed. Its cache is in the target dir, which this answer
/// names: it is looked for in `target_dir` (given), `$CARGO_TARGET_DIR`,
/// `$CARGO_BUILD_TARGET_DIR`, and `target/` in the crate's folder and each
/// parent; an entry found in a folder is used only if that folder is the target
/// dir given or the one the entry names.
pub fn workspace_metadata(
    manifest_path: Option<&Path>,
    cargo_args: &[String],
    target_dir: Option<&Path>,
    enabled: bool,
    run: impl FnOnce() -> Result<Metadata>,
) -> Result<Metadata> {
    if !enabled || crate::cache::disabled_by_env() {
        return run();
    }
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let cwd = std::env::current_dir().unwrap_or_default();
    let dir = manifest_path
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .map(abs)
        .unwrap_or_else(|| cwd.clone());
    let question = [
        b"no-deps".to_vec(),
        manifest_path
            .map(abs)
            .unwrap_or_default()
            .into_os_string()
            .into_encoded_bytes(),
        cargo_args.join("\0").into_bytes(),
    ];
    let mut places: Vec<(PathBuf, bool)> = Vec::new();
    places.extend(target_dir.map(|t| (abs(t), true)));
    for var in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
        places.extend(std::env::var_os(var).map(|v| (abs(Path::new(&v)), false)));
    }
    places.extend(dir.ancestors().map(|d| (d.join("target"), false)));
    for (place, given) in &places {
        if !place.join("slim-cache").is_dir() {
            continue;
        }
        let cache = Cache::under(place, true);
        let key = key(&question, &dir, &cache);
        if let Some(m) = load(&cache, &key) {
            if *given || m.target_directory.as_std_path() == place {
                return Ok(m);
            }
        }
    }
    let metadata = run()?;
    let place = target_dir
        .map(abs)
        .unwrap_or_else(|| metadata.target_directory.clone().into_std_path_buf());
    let cache = Cache::under(&place, true);
    let key = key(&question, &dir, &cache);
    store(&cache, &key, &dir, cargo_args, metadata)
}

fn load(cache: &Cache, key: &str) -> Option<Metadata> {
    let a = serde_json::from_slice::<Answer>(&cache.load("metadata", key)?.meta).ok()?;
    unchanged(&a.seen).then_some(a.metadata)
}

/// Record what `metadata` was read from, store it, and hand it back.
fn store(
    cache: &Cache,
    key: &str,
    dir: &Path,
    cargo_args: &[String],
    metadata: Metadata,
) -> Result<Metadata> {
    let (looked, present) = read_from(dir, cargo_args, &metadata);
    let seen = looked
        .into_iter()
        .map(|p| {
            let l = look(&p);
            (p, l)
        })
        .chain(present.into_iter().map(|p| {
            let l = presence(&p);
            (p, l)
        }))
        .collect();
    let answer = Answer { seen, metadata };
    if let Ok(json) = serde_json::to_vec(&answer) {
        // A cache that cannot be written is no cache.
        let _ = cache.store_meta("metadata", key, &json);
    }
    Ok(answer.metadata)
}

/// The question, where it is asked, the environment and the toolchain.
fn key(question: &[Vec<u8>], dir: &Path, cache: &Cache) -> String {
    let mut parts = question.to_vec();
    if let Ok(cwd) = std::env::current_dir() {
        parts.push(cwd.into_os_string().into_encoded_bytes());
    }
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CARGO") || k.starts_with("RUST"))
        .collect();
    vars.sort();
    for (k, v) in vars {
        parts.push(format!("{k}={v}").into_bytes());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let cargo = crate::compile::probe::on_path(&cargo);
    parts.push(cargo.as_os_str().as_encoded_bytes().to_vec());
    parts.push(crate::cache::stamp(&cargo).into_bytes());
    match crate::compile::sysroot(dir, cache) {
        Ok(sysroot) => {
            parts.push(sysroot.as_os_str().as_encoded_bytes().to_vec());
            for tool in ["bin/cargo", "bin/rustc"] {
                parts.push(crate::cache::stamp(&sysroot.join(tool)).into_bytes());
            }
        }
        // No known toolchain: a key no other run shares.
        Err(_) => parts.push(format!("{:?}", std::time::SystemTime::now()).into_bytes()),
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    crate::cache::key(&refs)
}

/// The files and folders an answer depends on: those whose bytes or names
/// matter, and those whose presence matters.
fn read_from(
    dir: &Path,
    cargo_args: &[String],
    metadata: &Metadata,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let root = metadata.workspace_root.as_std_path();
    let mut paths = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    let mut present = Vec::new();
    for p in metadata.packages.iter().filter(|p| p.source.is_none()) {
        let manifest = p.manifest_path.as_std_path();
        paths.push(manifest.to_path_buf());
        let Some(pkg) = manifest.parent() else {
            continue;
        };
        for sub in ["src/bin", "examples", "tests", "benches"] {
            paths.push(pkg.join(sub));
        }
        for file in ["build.rs", "src/main.rs", "src/lib.rs"] {
            present.push(pkg.join(file));
        }
        if pkg != root {
            paths.extend(pkg.parent().map(Path::to_path_buf));
        }
    }
    let mut starts = vec![dir.to_path_buf()];
    starts.extend(std::env::current_dir().ok());
    for start in starts {
        let start = std::path::absolute(&start).unwrap_or(start);
        for d in start.ancestors() {
            paths.push(d.join(".cargo/config.toml"));
            paths.push(d.join(".cargo/config"));
        }
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(h) = home {
        paths.push(h.join("config.toml"));
        paths.push(h.join("config"));
    }
    paths.extend(cargo_args.iter().map(PathBuf::from).filter(|p| p.is_file()));
    paths.sort();
    paths.dedup();
    (paths, present)
}
