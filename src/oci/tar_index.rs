//! The table of contents of an outer image tar, read from its headers only.
//!
//! In: a seekable byte source (an image tarball). Out: a [`TarIndex`]: every
//! entry in tar order with its name, the byte range of its data in the file,
//! its type, its link target and its own 512-byte header (for the strict
//! checks of `validate`), plus where the end-of-archive marker is.
//!
//! Every reader refuses an entry that would land outside the folder the archive
//! is extracted in ([`escape`]: `../x`, `/abs`, links out), naming it, so
//! `verify`, `push`, `report` and `index` inherit the refusal from here.
//!
//! Why: the three readers the crate had each walked the tar their own way, and
//! one of them read every entry into memory, trusting the header's size field.
//! Here no entry data is read at all (`entries_with_seek` seeks over it), and
//! a size that runs past the end of the file is an error naming the entry, so a
//! forged header (a size of 2^36 in base-256, or 8 GiB in octal) can never turn
//! into an allocation of that size further on.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};

use crate::error::Failure;

use super::{link_target, normalize, Strictness};

/// One entry of the outer tar.
#[derive(Clone)]
pub struct TarEntry {
    /// The path as the tar gives it: the raw header name in strict mode, with
    /// PAX and GNU long names applied in lenient mode. Lossy UTF-8.
    pub name: String,
    /// Whether the stored name was valid UTF-8.
    pub name_is_utf8: bool,
    /// The lookup key: `name` itself (strict) or `name` normalised (lenient).
    pub key: String,
    /// Offset of the entry's data in the file.
    pub offset: u64,
    /// Size of the entry's data (checked to lie within the file).
    pub size: u64,
    pub kind: tar::EntryType,
    /// Lenient mode: the normalised target of a symlink or hard link.
    pub link: Option<String>,
    /// The entry's own header, exactly as stored.
    pub header: tar::Header,
}

/// Every entry of the outer tar, in order, and a lookup by name.
pub struct TarIndex {
    entries: Vec<TarEntry>,
    /// key → index into `entries` of the last entry with that key.
    by_key: HashMap<String, usize>,
    /// Length of the whole file.
    pub file_len: u64,
    /// Where reading stopped: just after the end-of-archive block (or the end
    /// of the file when there is no marker).
    pub end: u64,
}

/// Where an entry was found in [`TarIndex::locate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub offset: u64,
    pub size: u64,
}

impl TarIndex {
    /// Read the headers of the tar in `r` (from its start).
    pub fn build<R: Read + Seek>(r: &mut R, mode: Strictness) -> Result<TarIndex, Failure> {
        let io_err = |e: io::Error| Failure::new("cannot read the archive").detail(e.to_string());
        let file_len = r.seek(SeekFrom::End(0)).map_err(io_err)?;
        r.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let mut entries: Vec<TarEntry> = Vec::new();
        let end;
        {
            let mut ar = tar::Archive::new(&mut *r);
            let iter = ar
                .entries_with_seek()
                .map_err(|e| {
                    Failure::new("the file is not a readable tar archive").detail(e.to_string())
                })?
                .raw(mode == Strictness::Strict);
            for (n, entry) in iter.enumerate() {
                let entry = entry.map_err(|e| {
                    Failure::new(format!(
                        "the tar archive is corrupt or truncated after {n} entries"
                    ))
                    .detail(e.to_string())
                })?;
                let raw = entry.path_bytes();
                let name_is_utf8 = std::str::from_utf8(&raw).is_ok();
                let name = String::from_utf8_lossy(&raw).into_owned();
                let offset = entry.raw_file_position();
                let size = entry.size();
                let fits = offset.checked_add(size).is_some_and(|e| e <= file_len);
                if !fits {
                    return Err(Failure::new(format!(
                        "tar entry `{name}` claims {size} bytes, but the file has only {} \
                         bytes after its header: the archive is truncated or its header is corrupt",
                        file_len.saturating_sub(offset)
                    )));
                }
                let kind = entry.header().entry_type();
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                if let Some(why) = escape(&name, kind, target.as_deref()) {
                    return Err(Failure::new(format!("outer tar entry `{name}` {why}"))
                        .detail(
                            "extracted (`tar -xf`, or a tool that unpacks the archive to read \
                             it) it would write or link outside the folder it is extracted in",
                        )
                        .help(
                            "no image tool writes such entries: do not extract or load this \
                             archive; rebuild it from its source",
                        ));
                }
                let key = match mode {
                    Strictness::Strict => name.clone(),
                    Strictness::Lenient => normalize(&name),
                };
                let link = (mode == Strictness::Lenient
                    && (kind.is_symlink() || kind.is_hard_link()))
                .then(|| {
                    let target = target.unwrap_or_default();
                    if kind.is_symlink() {
                        link_target(&key, &target)
                    } else {
                        normalize(&target)
                    }
                });
                entries.push(TarEntry {
                    name,
                    name_is_utf8,
                    key,
                    offset,
                    size,
                    kind,
                    link,
                    header: entry.header().clone(),
                });
            }
            end = ar.into_inner().stream_position().map_err(io_err)?;
        }
        let by_key = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key.clone(), i))
            .collect();
        Ok(TarIndex {
            entries,
            by_key,
            file_len,
            end: end.min(file_len),
        })
    }

    /// Every entry in tar order.
    pub fn entries(&self) -> &[TarEntry] {
        &self.entries
    }

    /// The (last) entry whose key is `key`.
    pub fn get(&self, key: &str) -> Option<&TarEntry> {
        self.by_key.get(key).map(|&i| &self.entries[i])
    }

    /// The byte range of the regular file `name`, following links in the tar
    /// (lenient mode) at most [`super::MAX_LINK_HOPS`] times.
    pub fn locate(&self, name: &str) -> Result<Range, Failure> {
        let start = normalize(name);
        let mut cur = self.key_of(name);
        for _ in 0..=super::MAX_LINK_HOPS {
            match self.get(&cur) {
                Some(e) if e.kind.is_file() || e.kind == tar::EntryType::Continuous => {
                    return Ok(Range {
                        offset: e.offset,
                        size: e.size,
                    })
                }
                Some(TarEntry {
                    link: Some(target), ..
                }) => cur = target.clone(),
                Some(_) => {
                    return Err(Failure::new(format!(
                        "`{name}` in the archive is not a regular file"
                    )))
                }
                None => {
                    return Err(
                        Failure::new(format!("the archive has no entry `{name}`")).detail(
                            if normalize(&cur) == start {
                                "a file the image's manifest refers to is missing".to_string()
                            } else {
                                format!("`{name}` is a link to `{cur}`, which is missing")
                            },
                        ),
                    )
                }
            }
        }
        Err(Failure::new(format!(
            "`{name}` in the archive is a link loop"
        )))
    }

    /// Whether the tar has an entry `name`.
    pub fn has(&self, name: &str) -> bool {
        self.by_key.contains_key(&self.key_of(name))
    }

    fn key_of(&self, name: &str) -> String {
        // Strict keys are the stored names; the names looked up (`index.json`,
        // `blobs/sha256/<hex>`) are already normal.
        if self.by_key.contains_key(name) {
            name.to_string()
        } else {
            normalize(name)
        }
    }
}

/// Why an outer entry would land outside the folder the archive is extracted
/// in, if it would: an absolute name, a `..` that climbs above the top, a
/// symlink whose target (from the link's folder) does either, or a hard link
/// to an absolute path or above the top. `..` that stays inside (`a/../b`) is
/// fine, as the lenient reader normalises it anyway.
pub fn escape(name: &str, kind: tar::EntryType, target: Option<&str>) -> Option<String> {
    if name.starts_with('/') {
        return Some("is an absolute path".into());
    }
    let Some(depth) = climb(name, 0) else {
        return Some("has a `..` component that leaves the archive's top folder".into());
    };
    let target = target.filter(|_| kind.is_symlink() || kind.is_hard_link())?;
    let what = if kind.is_symlink() {
        "a symlink"
    } else {
        "a hard link"
    };
    if target.starts_with('/') {
        return Some(format!("is {what} to the absolute path `{target}`"));
    }
    // A symlink's target is read from the link's folder, a hard link's from the top.
    let from = if kind.is_symlink() {
        depth.saturating_sub(1)
    } else {
        0
    };
    climb(target, from)
        .is_none()
        .then(|| format!("is {what} to `{target}`, outside the archive's top folder"))
}

/// The depth after walking `path` from folder depth `depth`; `None` when a
/// `..` climbs above the top.
fn climb(path: &str, mut depth: usize) -> Option<usize> {
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => depth = depth.checked_sub(1)?,
            _ => depth += 1,
        }
    }
    Some(depth)
}

/// The first non-zero byte in `[from, len)` of `r`, as an offset from `from`,
/// read in small chunks (the tail of a tar is never held in memory).
pub fn first_nonzero<R: Read + Seek>(r: &mut R, from: u64, len: u64) -> io::Result<Option<u64>> {
    r.seek(SeekFrom::Start(from))?;
    let mut rest = r.take(len.saturating_sub(from));
    let mut buf = [0u8; 8192];
    let mut pos = 0u64;
    loop {
        let n = rest.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
            return Ok(Some(pos + i as u64));
        }
        pos += n as u64;
    }
}
