//! A memo of tarballs that passed the full check, so an unchanged re-push does not
//! hash and gunzip a 50 MB layer again.
//!
//! The full check (`validate`) reads every byte of every blob: on a 32 MB layer it
//! takes longer than the whole network part of a re-push. After it passes, push
//! records the file's identity — device, inode, size, and the nanosecond mtime and
//! ctime — with the manifest digest, in `$XDG_CACHE_HOME/cargo-slim/verified/`
//! (else `~/.cache/…`). The next push of the same path skips the full check only if
//! all of these are unchanged and the manifest still hashes to the same digest.
//! Any write to the file, in place or by replacing it, changes its ctime (which no
//! unprivileged process can set back), so a modified tarball is always checked
//! again; a memo that cannot be read or written just means checking again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    pub fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Memo {
    path: PathBuf,
    stamp: Stamp,
    manifest_digest: String,
}

fn cache_base() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
}

fn memo_file(base: Option<PathBuf>, path: &Path) -> Option<(PathBuf, PathBuf)> {
    let canonical = std::fs::canonicalize(path).ok()?;
    let base = base?;
    let key = crate::digest::sha256_digest(canonical.as_os_str().as_encoded_bytes());
    let name = format!("{}.json", &key["sha256:".len()..][..32]);
    Some((base.join("cargo-slim/verified").join(name), canonical))
}

/// Whether `path`, as it is now (`stamp`), passed the full check with this manifest.
pub fn is_verified(path: &Path, stamp: Option<Stamp>, manifest_digest: &str) -> bool {
    is_verified_in(cache_base(), path, stamp, manifest_digest)
}

fn is_verified_in(
    base: Option<PathBuf>,
    path: &Path,
    stamp: Option<Stamp>,
    manifest_digest: &str,
) -> bool {
    let (Some(stamp), Some((file, canonical))) = (stamp, memo_file(base, path)) else {
        return false;
    };
    let Ok(bytes) = std::fs::read(&file) else {
        return false;
    };
    match serde_json::from_slice::<Memo>(&bytes) {
        Ok(m) => m.path == canonical && m.stamp == stamp && m.manifest_digest == manifest_digest,
        Err(_) => false,
    }
}

/// Record that `path` (unchanged since `stamp` was taken) passed the full check.
pub fn remember(path: &Path, stamp: Option<Stamp>, manifest_digest: &str) {
    remember_in(cache_base(), path, stamp, manifest_digest)
}

fn remember_in(base: Option<PathBuf>, path: &Path, stamp: Option<Stamp>, manifest_digest: &str) {
    let (Some(stamp), Some((file, canonical))) = (stamp, memo_file(base, path)) else {
        return;
    };
    // Changed while it was being checked: what was checked is not what is there.
    if Stamp::of(path) != Some(stamp) {
        return;
    }
    let memo = Memo {
        path: canonical,
        stamp,
        manifest_digest: manifest_digest.to_string(),
    };
    let Some(dir) = file.parent() else { return };
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer(tmp.as_file(), &memo)?;
        tmp.persist(&file).map_err(|e| e.error)?;
        Ok(())
    };
    let _ = write();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    #[test]
    fn any_write_invalidates_the_memo() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Some(dir.path().join("cache"));
        let path = dir.path().join("image.tar");
        std::fs::write(&path, b"0123456789").unwrap();
        remember_in(cache.clone(), &path, Stamp::of(&path), "sha256:aa");
        assert!(is_verified_in(
            cache.clone(),
            &path,
            Stamp::of(&path),
            "sha256:aa"
        ));
        assert!(!is_verified_in(
            cache.clone(),
            &path,
            Stamp::of(&path),
            "sha256:bb"
        ));

        // One byte written in place, same inode and size: the ctime moves.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(std::io::SeekFrom::Start(3)).unwrap();
        f.write_all(b"3").unwrap();
        drop(f);
        assert!(!is_verified_in(
            cache.clone(),
            &path,
            Stamp::of(&path),
            "sha256:aa"
        ));

        // Replaced by another file with the same bytes: another inode.
        remember_in(cache.clone(), &path, Stamp::of(&path), "sha256:aa");
        let other = dir.path().join("other.tar");
        std::fs::copy(&path, &other).unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(!is_verified_in(cache, &path, Stamp::of(&path), "sha256:aa"));
    }

    #[test]
    fn a_stamp_taken_before_a_change_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Some(dir.path().join("cache"));
        let path = dir.path().join("image.tar");
        std::fs::write(&path, b"a").unwrap();
        let before = Stamp::of(&path);
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"b").unwrap();
        remember_in(cache.clone(), &path, before, "sha256:aa");
        assert!(!is_verified_in(
            cache.clone(),
            &path,
            Stamp::of(&path),
            "sha256:aa"
        ));
        assert!(!is_verified_in(cache, &path, before, "sha256:aa"));
    }
}
