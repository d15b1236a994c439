//! The rebuild cache: derived products of a build, kept under the target dir
//! (`<target-dir>/slim-cache/`) so an unchanged rebuild reuses them.
//!
//! In: a kind (`layer`, `stripped`, `binary`, `bloat`, `rustc`, …), a key that the caller computes
//! from EVERYTHING that decides the product ([`key`]), and the product (a small
//! JSON `meta` plus an optional `payload`, e.g. a compressed layer). Out: the
//! entry stored under that key, or nothing. Why: a no-op `cargo slim build`
//! spent most of its time recomputing what it had computed the run before
//! (compressing the layer, attributing symbols, asking rustc and cargo the same
//! questions); a cache makes it cost little more than cargo's own no-op build.
//!
//! Safety rules: a wrong hit is far worse than a miss. Keys hash the format
//! version and cargo-slim's own version with the caller's parts, each
//! length-prefixed. Every entry ends with the sha256 of the key and its whole
//! contents: a flipped byte, a truncated file or a file copied under another key
//! fails that check and is ignored (and removed), never trusted. Entries are
//! written atomically (`crate::io`), so a killed run leaves no half entry. A
//! cache that cannot be read or written is simply no cache.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::Sha256Writer;

/// Bumped whenever an entry's format or a product's derivation changes.
const FORMAT: &str = "cargo-slim-cache/1";
/// The trailer: the meta length (16 hex digits) and the sha256 (64 hex digits).
const TRAILER: usize = 16 + 64;
/// The environment variable that turns the cache off (like `--no-cache`).
pub const NO_CACHE_ENV: &str = "CARGO_SLIM_NO_CACHE";

/// Where entries live, or nowhere (`--no-cache`, `--binary` without a target dir).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cache {
    dir: Option<PathBuf>,
}

/// One verified entry.
#[derive(Debug)]
pub struct Entry {
    pub meta: Vec<u8>,
    /// The entry's file: the payload is its first `payload_len` bytes.
    pub file: Arc<File>,
    pub payload_len: u64,
}

impl Entry {
    /// The payload, read into memory.
    pub fn payload(&self) -> std::io::Result<Vec<u8>> {
        let mut out = vec![0; usize::try_from(self.payload_len).unwrap_or(0)];
        self.file.read_exact_at(&mut out, 0)?;
        Ok(out)
    }
}

/// The sha256 (hex) of the format, our version and each part, length-prefixed so
/// no two different lists of parts give the same bytes.
pub fn key(parts: &[&[u8]]) -> String {
    let mut h = Sha256Writer::new();
    let ours = [
        FORMAT.as_bytes(),
        env!("CARGO_PKG_VERSION").as_bytes(),
        this_program().as_bytes(),
    ];
    for part in ours.into_iter().chain(parts.iter().copied()) {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.digest().trim_start_matches("sha256:").to_string()
}

/// The [`stamp`] of the running cargo-slim executable: a rebuilt cargo-slim (new
/// code, same version number) never reuses what an older one derived.
fn this_program() -> &'static str {
    static STAMP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    STAMP.get_or_init(|| match std::env::current_exe() {
        Ok(exe) => format!("{} {}", exe.display(), stamp(&exe)),
        Err(_) => "-".to_string(),
    })
}

/// The key of a binary's per-crate attribution: the sha256 `digest` of the
/// unstripped bytes, the `split-std` choice, and each rlib read for crate names
/// with its size and modification time.
pub fn attribution_key(digest: &str, split_std: bool, rlibs: &[PathBuf]) -> String {
    let mut parts = vec![
        b"bloat".to_vec(),
        digest.as_bytes().to_vec(),
        vec![u8::from(split_std)],
    ];
    for rlib in rlibs {
        parts.push(rlib.as_os_str().as_encoded_bytes().to_vec());
        parts.push(stamp(rlib).into_bytes());
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    key(&refs)
}

/// `size mtime-ns inode` of a file (`-` when it cannot be read): a file changed in
/// place changes at least one of them.
pub fn stamp(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => format!("{} {}.{} {}", m.len(), m.mtime(), m.mtime_nsec(), m.ino()),
        Err(_) => "-".to_string(),
    }
}

/// How long a file must have been left alone before its [`identity`] is trusted:
/// file times come from a clock that ticks every few milliseconds, so a write in
/// the same tick as the last one could leave every field as it was.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

/// Local file systems whose kernel keeps ctime as the time of the last change
/// (`statfs` `f_type`): ext2/3/4, xfs, btrfs, tmpfs, overlayfs, zfs, f2fs and
/// bcachefs. Elsewhere (NFS, virtiofs, 9p, sshfs and other FUSE mounts, read-only
/// images) ctime may be cached, copied from mtime or fixed: the bytes are read.
const LOCAL_FS: [u32; 8] = [
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0x0102_1994,
    0x794C_7630,
    0x2FC1_2FC2,
    0xF2F5_2010,
    0xCA45_1A4E,
];

/// Whether `path` is on one of the [`LOCAL_FS`] file systems.
fn on_local_fs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string and `buf` is a writable
    // `statfs`; the result is read only when the call succeeded.
    let ok = unsafe { libc::statfs(c_path.as_ptr(), buf.as_mut_ptr()) } == 0;
    if !ok {
        return false;
    }
    // SAFETY: statfs returned 0, so it filled `buf`.
    let kind = unsafe { buf.assume_init() }.f_type;
    // `f_type` is a signed or unsigned word depending on the platform: its low
    // 32 bits are the magic number.
    #[allow(clippy::unnecessary_cast)]
    let magic = kind as u64 as u32;
    LOCAL_FS.contains(&magic)
}

/// A file's identity without reading it: device, inode, size, and mtime and
/// ctime to the nanosecond. Any write, rename onto it, `touch` or copy of other
/// bytes over it moves ctime, which no user can set back. `None` (read the
/// bytes instead) when the file is unreadable, not on a local file system the
/// kernel keeps change times for, has whole-second times (both nanosecond
/// fields 0), or changed less than 100 ms ago: only a settled file shows every
/// later write as a new ctime.
pub fn identity(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    if m.ctime_nsec() == 0 && m.mtime_nsec() == 0 {
        return None;
    }
    let age = age_of_change(&m)?;
    (age >= SETTLE && on_local_fs(path)).then(|| {
        format!(
            "{} {} {} {}.{} {}.{}",
            m.dev(),
            m.ino(),
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        )
    })
}

/// [`identity`], after waiting out the rest of the 100 ms when the file changed
/// just now (cargo linked it a moment ago), so this build can store what the
/// next one reuses.
pub fn settled_identity(path: &Path) -> Option<String> {
    if !on_local_fs(path) {
        return None;
    }
    let m = std::fs::metadata(path).ok()?;
    if let Some(age) = age_of_change(&m) {
        if let Some(rest) = SETTLE.checked_sub(age) {
            std::thread::sleep(rest + std::time::Duration::from_millis(1));
        }
    }
    identity(path)
}

/// How long ago the file's ctime was (`None`: in the future, or out of range).
fn age_of_change(m: &std::fs::Metadata) -> Option<std::time::Duration> {
    use std::os::unix::fs::MetadataExt;
    let nanos = u32::try_from(m.ctime_nsec())
        .ok()
        .filter(|n| *n < 1_000_000_000)?;
    let changed = std::time::UNIX_EPOCH.checked_add(std::time::Duration::new(
        u64::try_from(m.ctime()).ok()?,
        nanos,
    ))?;
    std::time::SystemTime::now().duration_since(changed).ok()
}

/// What a file or folder looked like: `file <sha256>`, `dir <sha256 of the sorted
/// names>`, or `-` when absent. Recorded beside an answer derived from the file,
/// and compared again before the answer is reused ([`unchanged`]).
pub fn look(path: &Path) -> String {
    if let Ok(bytes) = std::fs::read(path) {
        return format!("file {}", crate::digest::sha256_hex(&bytes));
    }
    match std::fs::read_dir(path) {
        Ok(rd) => {
            let mut names: Vec<Vec<u8>> = rd
                .flatten()
                .map(|e| e.file_name().as_encoded_bytes().to_vec())
                .collect();
            names.sort();
            format!("dir {}", crate::digest::sha256_hex(&names.join(&b'/')))
        }
        Err(_) => "-".to_string(),
    }
}

/// Whether something is at `path`: `there` or `absent` (for files whose presence
/// matters, not their bytes, like a crate's `src/main.rs`).
pub fn presence(path: &Path) -> String {
    match std::fs::symlink_metadata(path) {
        Ok(_) => "there".to_string(),
        Err(_) => "absent".to_string(),
    }
}

/// Whether every recorded path still looks as it did ([`look`] or [`presence`]).
pub fn unchanged(seen: &[(PathBuf, String)]) -> bool {
    seen.iter().all(|(path, was)| match was.as_str() {
        "there" | "absent" => presence(path) == *was,
        _ => look(path) == *was,
    })
}

/// `CARGO_SLIM_NO_CACHE` is set to anything but `0` or empty.
pub fn disabled_by_env() -> bool {
    std::env::var_os(NO_CACHE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

impl Cache {
    /// No cache: every lookup misses and nothing is stored.
    pub fn off() -> Cache {
        Cache { dir: None }
    }

    /// The cache under `target_dir`, unless `enabled` is false or
    /// `CARGO_SLIM_NO_CACHE` is set to anything but `0` or empty.
    pub fn under(target_dir: &Path, enabled: bool) -> Cache {
        if !enabled || disabled_by_env() {
            return Cache::off();
        }
        Cache {
            dir: Some(target_dir.join("slim-cache")),
        }
    }

    pub fn is_on(&self) -> bool {
        self.dir.is_some()
    }

    fn path(&self, kind: &str, key: &str) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(kind).join(key))
    }

    /// The entry `kind/key` if it exists and passes its digest check; a corrupt
    /// entry is removed and counts as a miss.
    pub fn load(&self, kind: &str, key: &str) -> Option<Entry> {
        let path = self.path(kind, key)?;
        let file = File::open(&path).ok()?;
        match verify(&file, key) {
            Some((meta, payload_len)) => Some({
                // Most recently used first when the kind is pruned.
                let _ = file.set_modified(std::time::SystemTime::now());
                Entry {
                    meta,
                    file: Arc::new(file),
                    payload_len,
                }
            }),
            None => {
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Store `meta` and `payload` under `kind/key`, atomically. Failing to store
    /// is not an error of the build: the reason is returned for a verbose note.
    pub fn store(
        &self,
        kind: &str,
        key: &str,
        meta: &[u8],
        payload: &mut dyn Read,
    ) -> Result<(), String> {
        let Some(path) = self.path(kind, key) else {
            return Ok(());
        };
        let write = crate::io::write_internal_with(&path, |w| {
            let mut h = Sha256Writer::new();
            h.update(key.as_bytes());
            let mut buf = vec![0; 1 << 16];
            loop {
                let n = payload.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                w.write_all(&buf[..n])?;
            }
            let len = format!("{:016x}", meta.len());
            h.update(meta);
            h.update(len.as_bytes());
            w.write_all(meta)?;
            w.write_all(len.as_bytes())?;
            w.write_all(h.digest().trim_start_matches("sha256:").as_bytes())?;
            Ok(())
        });
        write.map_err(|e| format!("{e:#}"))?;
        if let Some(dir) = path.parent() {
            prune(dir, keep(kind));
        }
        Ok(())
    }

    /// [`Cache::store`] of a meta-only entry.
    pub fn store_meta(&self, kind: &str, key: &str, meta: &[u8]) -> Result<(), String> {
        self.store(kind, key, meta, &mut std::io::empty())
    }
}

/// Entries kept per kind: compressed layers and stripped binaries are big (a
/// build has one to three layers and one binary per platform), the rest are
/// small JSON.
const KEEP_LAYERS: usize = 12;
const KEEP: usize = 64;

/// How many entries of `kind` are kept: few of the kinds whose payloads are
/// big (compressed layers, stripped binaries), more of the small JSON answers.
fn keep(kind: &str) -> usize {
    match kind {
        "layer" | "stripped" => KEEP_LAYERS,
        _ => KEEP,
    }
}

/// Remove all but the `keep` most recently used entries of `dir` (not the
/// temporary files of a writer: they start with `.`).
fn prune(dir: &Path, keep: usize) {
    // A writer killed by SIGKILL left its temporary file; live writers hold theirs locked.
    crate::io::sweep_stale_temps(dir);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = rd
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if entries.len() <= keep {
        return;
    }
    entries.sort();
    for (_, path) in &entries[..entries.len() - keep] {
        let _ = std::fs::remove_file(path);
    }
}

/// Check the trailer's digest over the key and contents; the meta and payload length.
fn verify(file: &File, key: &str) -> Option<(Vec<u8>, u64)> {
    let size = file.metadata().ok()?.len();
    let body = size.checked_sub(TRAILER as u64)?;
    let mut trailer = [0u8; TRAILER];
    file.read_exact_at(&mut trailer, body).ok()?;
    let trailer = std::str::from_utf8(&trailer).ok()?;
    let meta_len = u64::from_str_radix(&trailer[..16], 16).ok()?;
    let payload_len = body.checked_sub(meta_len)?;
    let mut h = Sha256Writer::new();
    h.update(key.as_bytes());
    let mut reader = file.take(body);
    let mut buf = vec![0; 1 << 16];
    let mut meta = Vec::new();
    let mut at = 0u64;
    loop {
        let n = reader.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        // Bytes past the payload are the meta.
        let start = payload_len.saturating_sub(at).min(n as u64) as usize;
        meta.extend_from_slice(&buf[start..n]);
        at += n as u64;
    }
    h.update(&trailer.as_bytes()[..16]);
    let ok = at == body && h.digest().trim_start_matches("sha256:") == &trailer[16..];
    ok.then_some((meta, payload_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache {
            dir: Some(dir.path().join("slim-cache")),
        };
        (dir, cache)
    }

    #[test]
    fn an_entry_comes_back_as_stored() {
        let (_d, c) = cache();
        let k = key(&[b"a", b"b"]);
        c.store("layer", &k, b"{\"x\":1}", &mut &b"payload bytes"[..])
            .unwrap();
        let e = c.load("layer", &k).expect("a hit");
        assert_eq!(e.meta, b"{\"x\":1}");
        assert_eq!(e.payload().unwrap(), b"payload bytes");
        assert!(c.load("layer", &key(&[b"a", b"c"])).is_none());
        assert!(c.load("bloat", &k).is_none());
    }

    #[test]
    fn keys_separate_their_parts() {
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
        assert_ne!(key(&[b"ab"]), key(&[b"ab", b""]));
        assert_eq!(key(&[b"x"]), key(&[b"x"]));
    }

    #[test]
    fn a_flipped_byte_a_truncation_or_a_renamed_entry_is_a_miss() {
        let (_d, c) = cache();
        let k = key(&[b"k"]);
        let path = c.path("layer", &k).unwrap();
        let payload = vec![7u8; 100_000];
        let fresh = |c: &Cache| {
            c.store("layer", &k, b"meta", &mut &payload[..]).unwrap();
            std::fs::read(&path).unwrap()
        };
        for at in [0, 50_000, 100_001, 100_010] {
            let mut bytes = fresh(&c);
            bytes[at] ^= 1;
            std::fs::write(&path, &bytes).unwrap();
            assert!(c.load("layer", &k).is_none(), "flip at {at}");
            assert!(!path.exists(), "a corrupt entry is removed");
        }
        for cut in [1, 40, 90, 100_000] {
            let bytes = fresh(&c);
            std::fs::write(&path, &bytes[..bytes.len() - cut]).unwrap();
            assert!(c.load("layer", &k).is_none(), "cut {cut}");
        }
        let bytes = fresh(&c);
        let other = key(&[b"other"]);
        std::fs::write(c.path("layer", &other).unwrap(), &bytes).unwrap();
        assert!(c.load("layer", &other).is_none());
        assert!(c.load("layer", &k).is_some());
    }

    #[test]
    fn only_the_most_recently_used_entries_are_kept() {
        let (_d, c) = cache();
        let keys: Vec<String> = (0..KEEP + 3).map(|i| key(&[&[i as u8]])).collect();
        for (i, k) in keys.iter().enumerate() {
            c.store_meta("bloat", k, b"m").unwrap();
            let old =
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(i as u64 + 10);
            let f = File::options()
                .write(true)
                .open(c.path("bloat", k).unwrap())
                .unwrap();
            f.set_modified(old).unwrap();
            if i == 0 {
                // Used again: the newest, kept.
                assert!(c.load("bloat", k).is_some());
            }
        }
        c.store_meta("bloat", &key(&[b"last"]), b"m").unwrap();
        let left = std::fs::read_dir(c.dir.as_ref().unwrap().join("bloat"))
            .unwrap()
            .count();
        assert_eq!(left, KEEP);
        assert!(
            c.load("bloat", &keys[0]).is_some(),
            "the entry used last is kept"
        );
        assert!(c.load("bloat", &keys[1]).is_none(), "the oldest is gone");
    }

    #[test]
    fn identity_waits_for_a_settled_file_and_moves_with_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"one").unwrap();
        assert_eq!(identity(&path), None, "a file written just now");
        std::thread::sleep(SETTLE + std::time::Duration::from_millis(50));
        let first = identity(&path).expect("a settled file");
        assert_eq!(identity(&path).as_deref(), Some(first.as_str()));
        // Same size, the modification time set back: the ctime still moves.
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, b"two").unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let second = settled_identity(&path).expect("settled_identity waits for it");
        assert_ne!(first, second);
        assert_eq!(identity(&dir.path().join("absent")), None);
    }

    #[test]
    fn a_store_sweeps_what_a_killed_writer_left_but_not_a_live_ones_file() {
        let (_d, c) = cache();
        c.store_meta("bloat", &key(&[b"first"]), b"m").unwrap();
        let dir = c.dir.as_ref().unwrap().join("bloat");
        let stale = dir.join(format!(".{}.aB3xY9.tmp", key(&[b"dead"])));
        let live = dir.join(format!(".{}.Qw7rT2.tmp", key(&[b"live"])));
        let other = dir.join(".notes.txt");
        std::fs::write(&stale, b"half").unwrap();
        std::fs::write(&other, b"not ours").unwrap();
        let held = File::create(&live).unwrap();
        held.lock().unwrap();
        c.store_meta("bloat", &key(&[b"second"]), b"m").unwrap();
        assert!(!stale.exists(), "the killed writer's file is swept");
        assert!(live.exists(), "a live writer's file stays");
        assert!(other.exists(), "only temporary files are swept");
        drop(held);
    }

    #[test]
    fn an_off_cache_stores_and_finds_nothing() {
        let c = Cache::off();
        c.store_meta("rustc", "k", b"m").unwrap();
        assert!(c.load("rustc", "k").is_none());
        assert!(!c.is_on());
    }
}
