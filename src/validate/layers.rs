//! Strict checks of one layer blob, streamed: gunzip → sha256 (the diff_id) →
//! tar entries, in one pass.
//!
//! In: a reader over the layer's compressed bytes (a range of the tarball).
//! Out: the layer's entries, its diff_id and uncompressed size, or the first
//! violation. Why streamed: the uncompressed layer of a 128 MiB binary is
//! 128 MiB; holding it (as the checker once did, next to the whole tarball)
//! tripled the peak memory of `cargo slim report`. Here only a few buffers
//! are live at any time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use anyhow::Result;

use super::errors::{bail_at, violation};
use super::outer::describe_type;
use super::valid::{normalize_lookup, LayerEntry};
use crate::oci::Hashing;

/// What [`check_layer`] found.
pub(super) struct Checked {
    pub files: Vec<LayerEntry>,
    pub diff_id: String,
    pub uncompressed_size: u64,
    /// The first problem in the tar itself, reported after the diff_id check
    /// (a wrong diff_id is the more fundamental error).
    pub tar_problem: Option<anyhow::Error>,
}

/// A reader that remembers the first error of the reader it wraps (the gzip
/// decoder), so an error seen by the tar parser can be blamed on gzip.
struct Tracked<R> {
    inner: R,
    error: Rc<RefCell<Option<String>>>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            let mut slot = self.error.borrow_mut();
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
        })
    }
}

/// Uncompress the layer completely — gzip (every member; nothing may follow the
/// last, and each header's mtime must be 0) or, when the manifest says so, zstd —
/// hashing the tar and checking its entries.
pub(super) fn check_layer<R: Read>(
    name: &str,
    label: &str,
    blob: R,
    mtime: u64,
    zstd: bool,
) -> Result<Checked> {
    let mut buffered = BufReader::with_capacity(1 << 16, blob);
    let head = io::BufRead::fill_buf(&mut buffered)
        .map_err(|e| anyhow::anyhow!("reading `{name}`: {e}"))?;
    let found = crate::compress::sniff(head);
    let declared = if zstd { "zstd" } else { "gzip" };
    if found != Some(declared) {
        bail_at!(
            name,
            "{label} is declared {declared} but its bytes are {}",
            found.map_or("not compressed".to_string(), |f| f.to_string())
        );
    }
    if zstd {
        return check_zstd_layer(name, label, buffered, mtime);
    }
    let gzip_error = Rc::new(RefCell::new(None::<String>));
    let mut decoder = flate2::bufread::MultiGzDecoder::new(buffered);
    let gzip_violation =
        |e: &str| violation(name, format!("{label} is not a valid gzip stream: {e}"));
    let (tar_result, diff_id, uncompressed_size) = {
        let tracked = Tracked {
            inner: &mut decoder,
            error: gzip_error.clone(),
        };
        let mut hashing = Hashing::new(tracked);
        let tar_result = check_layer_tar(name, label, &mut hashing, mtime);
        if let Some(e) = gzip_error.borrow().as_ref() {
            return Err(gzip_violation(e));
        }
        // The rest of the stream (after a tar problem, or the padding) still
        // counts for the diff_id; data after the last member is not gzip and
        // fails here.
        io::copy(&mut hashing, &mut io::sink()).map_err(|e| gzip_violation(&e.to_string()))?;
        (tar_result, hashing.digest(), hashing.len())
    };
    let Some(header_mtime) = decoder.header().map(|h| h.mtime()) else {
        bail_at!(name, "{label} is not a gzip stream (no gzip header)");
    };
    if header_mtime != 0 {
        bail_at!(
            name,
            "{label} gzip header mtime is {header_mtime}, expected 0"
        );
    }
    let (files, tar_problem) = match tar_result {
        Ok(files) => (files, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Ok(Checked {
        files,
        diff_id,
        uncompressed_size,
        tar_problem,
    })
}

/// [`check_layer`] for a zstd layer: every frame decoded to the end.
fn check_zstd_layer<R: io::BufRead>(
    name: &str,
    label: &str,
    blob: R,
    mtime: u64,
) -> Result<Checked> {
    let zstd_violation = |e: &dyn std::fmt::Display| {
        violation(name, format!("{label} is not a valid zstd stream: {e}"))
    };
    let decoder = crate::compress::decoder(Some("zstd"), blob).map_err(|e| zstd_violation(&e))?;
    let mut hashing = Hashing::new(decoder);
    let tar_result = check_layer_tar(name, label, &mut hashing, mtime);
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| zstd_violation(&e))?;
    let (files, tar_problem) = match tar_result {
        Ok(files) => (files, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Ok(Checked {
        files,
        diff_id: hashing.digest(),
        uncompressed_size: hashing.len(),
        tar_problem,
    })
}

/// The entries of a layer tar read from `r`, each checked; then only zero
/// bytes may follow the end-of-archive marker.
pub(super) fn check_layer_tar<R: Read>(
    name: &str,
    label: &str,
    mut r: R,
    mtime: u64,
) -> Result<Vec<LayerEntry>> {
    let mut archive = tar::Archive::new(&mut r);
    let mut files: Vec<LayerEntry> = Vec::new();
    // path → kind of every entry so far.
    let mut kinds: HashMap<String, char> = HashMap::new();
    // The previous entry's path as stored in the tar.
    let mut prev_raw: Option<String> = None;
    let entries = archive
        .entries()
        .map_err(|e| violation(name, format!("{label} is not a tar archive: {e}")))?;
    for (i, entry) in entries.enumerate() {
        let mut entry = entry
            .map_err(|e| violation(name, format!("{label} tar entry #{i} is unreadable: {e}")))?;
        let raw_path = entry.path_bytes().into_owned();
        let Ok(raw_path) = String::from_utf8(raw_path) else {
            bail_at!(name, "{label} tar entry #{i}: path is not UTF-8");
        };
        let at = |detail: String| violation(name, format!("{label} path `{raw_path}`: {detail}"));

        let header = entry.header().clone();
        let kind = entry_kind(header.entry_type()).map_err(at)?;
        check_path(&raw_path, kind, &kinds, prev_raw.as_deref()).map_err(at)?;
        let path = raw_path.strip_suffix('/').unwrap_or(&raw_path);

        // Ownership and time, including PAX overrides.
        let attrs = read_attrs(&mut entry, &header).map_err(at)?;
        check_attrs(&attrs, kind, mtime).map_err(at)?;
        // The file's bytes are skipped by the tar parser, streamed through the hash.
        kinds.insert(path.to_string(), kind);
        files.push(LayerEntry {
            path: path.to_string(),
            kind,
            mode: attrs.mode,
            size: attrs.size,
            uid: attrs.uid,
            gid: attrs.gid,
            mtime: attrs.mtime,
        });
        prev_raw = Some(raw_path);
    }
    check_tar_end(archive.into_inner(), name, label)?;
    Ok(files)
}

/// `'f'`, `'d'` or `'l'`: the only entry types a layer may hold.
fn entry_kind(t: tar::EntryType) -> Result<char, String> {
    match t {
        tar::EntryType::Regular => Ok('f'),
        tar::EntryType::Directory => Ok('d'),
        tar::EntryType::Symlink => Ok('l'),
        t @ (tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo) => Err(format!(
            "special file ({}) is not allowed",
            describe_type(t)
        )),
        t => Err(format!(
            "entry type {} is not allowed (only regular files, directories and symlinks)",
            describe_type(t)
        )),
    }
}

/// An entry's ownership, time, mode and size, PAX records applied.
struct Attrs {
    uid: u64,
    gid: u64,
    mtime: u64,
    mode: u32,
    size: u64,
    uname: String,
    gname: String,
}

/// The [`Attrs`] of `entry` (whose header is `header`): the header's fields,
/// then its PAX records' `uid`, `gid`, `mtime`, `uname` and `gname`.
fn read_attrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    header: &tar::Header,
) -> Result<Attrs, String> {
    let field =
        |r: std::io::Result<u64>, what: &str| r.map_err(|e| format!("bad {what} field: {e}"));
    let mut attrs = Attrs {
        uid: field(header.uid(), "uid")?,
        gid: field(header.gid(), "gid")?,
        mtime: field(header.mtime(), "mtime")?,
        mode: field(header.mode().map(u64::from), "mode")? as u32 & 0o7777,
        size: field(header.size(), "size")?,
        uname: String::from_utf8_lossy(header.username_bytes().unwrap_or_default()).into_owned(),
        gname: String::from_utf8_lossy(header.groupname_bytes().unwrap_or_default()).into_owned(),
    };
    let Some(pax) = entry
        .pax_extensions()
        .map_err(|e| format!("bad PAX header: {e}"))?
    else {
        return Ok(attrs);
    };
    for ext in pax {
        let ext = ext.map_err(|e| format!("bad PAX record: {e}"))?;
        let (Ok(key), Ok(value)) = (ext.key(), ext.value()) else {
            return Err("PAX record is not UTF-8".into());
        };
        let number = |v: &str| -> Result<u64, String> {
            // PAX mtimes may carry a fraction; only whole zero fractions are equal.
            let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
            match whole.parse::<u64>() {
                Ok(n) if frac.bytes().all(|b| b == b'0') => Ok(n),
                _ => Err(format!("PAX {key}={v:?} is not a whole number")),
            }
        };
        match key {
            "uid" => attrs.uid = number(value)?,
            "gid" => attrs.gid = number(value)?,
            "mtime" => attrs.mtime = number(value)?,
            "uname" => attrs.uname = value.to_string(),
            "gname" => attrs.gname = value.to_string(),
            _ => {}
        }
    }
    Ok(attrs)
}

/// Names empty, the outer tar's `mtime`, no size unless a regular file.
fn check_attrs(attrs: &Attrs, kind: char, mtime: u64) -> Result<(), String> {
    let Attrs {
        uname, gname, size, ..
    } = attrs;
    // uid:gid are numbers (0:0 unless a `files` entry set `owner`); names,
    // which a runtime would look up on the host's terms, must be empty.
    if !uname.is_empty() || !gname.is_empty() {
        return Err(format!(
            "uname/gname are {uname:?}/{gname:?}, expected empty"
        ));
    }
    if attrs.mtime != mtime {
        return Err(format!(
            "mtime is {}, expected {mtime} (the outer tar mtime)",
            attrs.mtime
        ));
    }
    if kind != 'f' && *size != 0 {
        return Err(format!("size is {size}, expected 0 for a non-regular file"));
    }
    Ok(())
}

/// Only zero bytes after the end-of-archive marker, to the end of `rest`.
fn check_tar_end<R: Read>(mut rest: R, name: &str, label: &str) -> Result<()> {
    let mut pos = 0u64;
    let mut buf = [0u8; 8192];
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(violation(name, format!("{label} is unreadable: {e}"))),
        };
        if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
            let pos = pos + i as u64;
            bail_at!(
                name,
                "{label} tar has non-zero data at byte {pos} after its end-of-archive marker",
            );
        }
        pos += n as u64;
    }
    Ok(())
}

/// Path shape, order, duplicates and parents of one layer entry.
fn check_path(
    raw_path: &str,
    kind: char,
    kinds: &HashMap<String, char>,
    prev_raw: Option<&str>,
) -> Result<(), String> {
    let (path, trailing_slash) = match raw_path.strip_suffix('/') {
        Some(p) => (p, true),
        None => (raw_path, false),
    };
    if path.starts_with('/') {
        return Err("absolute path is not allowed".into());
    }
    if path.is_empty() {
        return Err("empty path (or the root directory) is not allowed".into());
    }
    if let Some(c) = path
        .split('/')
        .find(|c| c.is_empty() || *c == "." || *c == "..")
    {
        return Err(format!(
            "path component {c:?} is not allowed (no `..`, `.` or `//`)"
        ));
    }
    if trailing_slash && kind != 'd' {
        return Err("only directories may end in `/`".into());
    }
    if kinds.contains_key(path) {
        return Err("duplicate path".into());
    }
    if let Some(prev) = prev_raw {
        if prev.as_bytes() > raw_path.as_bytes() {
            return Err(format!(
                "entries are not sorted by path (byte order): `{raw_path}` comes after `{prev}`"
            ));
        }
    }
    for (pos, _) in path.match_indices('/') {
        let parent = &path[..pos];
        match kinds.get(parent) {
            Some('d') => {}
            Some(_) => return Err(format!("parent `{parent}` is not a directory entry")),
            None => {
                return Err(format!(
                    "parent directory `{parent}/` has no entry before it"
                ))
            }
        }
    }
    Ok(())
}

/// What [`read_file`] found at a path.
pub(super) enum Found {
    File(Vec<u8>),
    Symlink(String),
    Other(tar::EntryType),
    Missing,
}

/// The entry `want` (a normalised path) of the gzip or zstd layer read from `blob`.
pub(super) fn read_file<R: Read>(blob: R, want: &str) -> io::Result<Found> {
    let mut buffered = BufReader::with_capacity(1 << 16, blob);
    let kind = crate::compress::sniff(io::BufRead::fill_buf(&mut buffered)?);
    let decoder = crate::compress::decoder(kind, buffered)?;
    let mut archive = tar::Archive::new(decoder);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if normalize_lookup(&path) != want {
            continue;
        }
        return Ok(match entry.header().entry_type() {
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data)?;
                Found::File(data)
            }
            tar::EntryType::Symlink => Found::Symlink(
                entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default(),
            ),
            other => Found::Other(other),
        });
    }
    Ok(Found::Missing)
}
