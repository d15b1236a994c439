//! Strict checks of the outer tar: entry names, order and headers, the bytes
//! after the end-of-archive marker, and every blob's digest.
//!
//! In: an [`Archive`] opened in strict mode (names exactly as stored). Out: the
//! entries in tar order with their byte ranges, and the one mtime they share,
//! for the document checks; or the first [`super::Violation`]. No entry's data
//! is read here except to hash blobs, which streams each blob's range. It sits
//! at the bottom of the checks with [`super::errors`]: the others name blobs
//! through it ([`blob_name_of`]), and it imports none of them.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};

use anyhow::{anyhow, Result};

use super::errors::{bail_at, ensure_at, violation};
use crate::digest::is_sha256_hex;
use crate::oci::{first_nonzero, Archive, Hashing, Range};

pub(super) const FIXED_ENTRIES: [&str; 3] = ["oci-layout", "index.json", "manifest.json"];
pub(super) const BLOB_PREFIX: &str = "blobs/sha256/";

/// One outer entry: its name as stored and where its data is.
pub(super) struct OuterEntry {
    pub name: String,
    pub range: Range,
}

/// The outer tar, checked.
pub(super) struct OuterTar {
    pub entries: Vec<OuterEntry>,
    pub mtime: u64,
}

/// Names, order, headers and trailing bytes of the outer tar.
pub(super) fn check<R: Read + Seek>(ar: &mut Archive<R>) -> Result<OuterTar> {
    let mut entries: Vec<OuterEntry> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut mtime: Option<(u64, String)> = None;
    for (i, e) in ar.index().entries().iter().enumerate() {
        if !e.name_is_utf8 {
            bail_at!(
                format!("outer tar entry #{i}"),
                "name {:?} is not UTF-8",
                e.name
            );
        }
        let name = e.name.clone();

        // Name and position.
        let is_blob = name.strip_prefix(BLOB_PREFIX).is_some_and(is_sha256_hex);
        if !FIXED_ENTRIES.contains(&name.as_str()) && !is_blob {
            bail_at!(
                &name,
                "unexpected outer tar entry #{i}: only oci-layout, index.json, manifest.json \
                 and blobs/sha256/<64 lowercase hex> may appear"
            );
        }
        ensure_at!(
            seen.insert(name.clone()),
            &name,
            "duplicate outer tar entry (again at #{i})"
        );
        if let Some(want) = FIXED_ENTRIES.get(i) {
            ensure_at!(
                name == *want,
                &name,
                "outer tar entry #{i} must be `{want}`, found `{name}` (order must be \
                 oci-layout, index.json, manifest.json, config, layers…, manifest)"
            );
        } else {
            ensure_at!(
                is_blob,
                &name,
                "outer tar entry #{i} must be a blob (blobs/sha256/…), found `{name}`"
            );
        }
        check_outer_header(&name, &e.header, &mut mtime)?;
        entries.push(OuterEntry {
            name,
            range: Range {
                offset: e.offset,
                size: e.size,
            },
        });
    }
    let (end, len) = (ar.index().end, ar.index().file_len);
    let trailing = first_nonzero(ar.reader(), end, len)
        .map_err(|e| anyhow!("reading the end of the outer tar: {e}"))?;
    if let Some(pos) = trailing {
        bail_at!(
            "outer tar",
            "non-zero data at byte {pos} after the end-of-archive marker ({} trailing bytes)",
            len - end
        );
    }
    Ok(OuterTar {
        entries,
        mtime: mtime.map(|(m, _)| m).unwrap_or(0),
    })
}

fn check_outer_header(
    name: &str,
    header: &tar::Header,
    mtime: &mut Option<(u64, String)>,
) -> Result<()> {
    let raw = header.as_bytes();
    ensure_at!(
        header.as_ustar().is_some(),
        name,
        "outer tar header is not ustar: magic+version {:?}, expected \"ustar\\0\" \"00\"",
        String::from_utf8_lossy(&raw[257..265])
    );
    let typeflag = raw[156];
    ensure_at!(
        typeflag == b'0',
        name,
        "outer tar entry type is {:?} ({}), expected '0' (regular file)",
        typeflag as char,
        describe_type(header.entry_type())
    );
    let mode = header
        .mode()
        .map_err(|e| violation(name, format!("bad mode field: {e}")))?;
    ensure_at!(
        mode == 0o644,
        name,
        "outer tar mode is {mode:#o}, expected 0o644"
    );
    let uid = header
        .uid()
        .map_err(|e| violation(name, format!("bad uid field: {e}")))?;
    let gid = header
        .gid()
        .map_err(|e| violation(name, format!("bad gid field: {e}")))?;
    ensure_at!(uid == 0, name, "outer tar uid is {uid}, expected 0");
    ensure_at!(gid == 0, name, "outer tar gid is {gid}, expected 0");
    let uname = header.username_bytes().unwrap_or_default();
    let gname = header.groupname_bytes().unwrap_or_default();
    ensure_at!(
        uname.is_empty(),
        name,
        "outer tar uname is {:?}, expected empty",
        String::from_utf8_lossy(uname)
    );
    ensure_at!(
        gname.is_empty(),
        name,
        "outer tar gname is {:?}, expected empty",
        String::from_utf8_lossy(gname)
    );
    let link = header.link_name_bytes().unwrap_or_default();
    ensure_at!(
        link.is_empty(),
        name,
        "outer tar link name is {:?}, expected empty",
        String::from_utf8_lossy(&link)
    );
    let m = header
        .mtime()
        .map_err(|e| violation(name, format!("bad mtime field: {e}")))?;
    match mtime {
        None => *mtime = Some((m, name.to_string())),
        Some((first, first_name)) => ensure_at!(
            m == *first,
            name,
            "outer tar mtime is {m}, but `{first_name}` has {first}: all entries must share one mtime"
        ),
    }
    Ok(())
}

pub(super) fn describe_type(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Regular => "regular file",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Directory => "directory",
        tar::EntryType::Fifo => "fifo",
        tar::EntryType::Continuous => "contiguous file",
        tar::EntryType::GNULongName => "GNU long name",
        tar::EntryType::GNULongLink => "GNU long link",
        tar::EntryType::GNUSparse => "GNU sparse file",
        tar::EntryType::XGlobalHeader => "PAX global header",
        tar::EntryType::XHeader => "PAX header",
        _ => "unknown type",
    }
}

/// Every blob's sha256 equals the digest in its name (each blob streamed
/// from `r`, which must read the same bytes the entries were indexed from).
pub(super) fn check_blob_names<R: Read + Seek>(mut r: R, entries: &[OuterEntry]) -> Result<()> {
    for e in entries {
        if let Some(hex) = e.name.strip_prefix(BLOB_PREFIX) {
            let read = |e2: std::io::Error| anyhow!("reading outer tar entry `{}`: {e2}", e.name);
            r.seek(SeekFrom::Start(e.range.offset)).map_err(read)?;
            let mut hashing = Hashing::new(Read::by_ref(&mut r).take(e.range.size));
            std::io::copy(&mut hashing, &mut std::io::sink()).map_err(read)?;
            let actual = hashing.digest();
            let actual = actual.strip_prefix("sha256:").unwrap_or(&actual);
            ensure_at!(
                actual == hex,
                &e.name,
                "blob content has sha256:{actual}, but its name says sha256:{hex}"
            );
        }
    }
    Ok(())
}

/// `sha256:<hex>` → `blobs/sha256/<hex>`, or a violation naming `entry`/`field`.
pub(super) fn blob_name_of(entry: &str, field: &str, digest: &str) -> Result<String> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if is_sha256_hex(hex) => Ok(format!("{BLOB_PREFIX}{hex}")),
        _ => bail_at!(
            entry,
            "{field} digest `{digest}` is not `sha256:` followed by 64 lowercase hex digits"
        ),
    }
}
