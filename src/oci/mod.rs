//! The one image model: read any OCI or docker archive into typed documents.
//!
//! In: a seekable image tarball — an OCI image layout in a tar (`index.json` +
//! `blobs/`, as cargo-slim, `skopeo copy … oci-archive:` and `docker save` ≥ 25
//! write it) or a docker-archive (`manifest.json` + config + layer files).
//! Out: an [`Archive`]: the outer tar's [`TarIndex`] (names → byte ranges,
//! headers only), and on request the JSON documents ([`read_json`], at most
//! [`MAX_JSON`] bytes each), the [`Listing`] of every image and artifact
//! manifest reachable from `index.json` (nested indexes followed, at most
//! [`MAX_INDEX_DEPTH`] deep, a cycle an error), the one image to check
//! ([`Archive::image`]), and streams over blobs ([`Archive::open_file`],
//! [`Archive::walk_layer`]), and the [`SbomFormat`] table every reader and
//! writer of attached SBOMs looks artifact types up in (and the SBOMs an image
//! carries, [`Archive::sboms_of`]). On top of these, [`peek`]
//! reads any archive (a docker-archive too) as a registry would store it: the
//! documents the tags name, the blobs, the attached artifacts ([`Peek`], what
//! `push` sends and `report` measures). Beside them, the [`media`] types and the
//! [`canonical`] JSON writer every writer of an OCI document uses.
//!
//! Why one module: `validate` (strict, cargo-slim's exact layout), `verify`
//! (lenient: any entry order, `./` prefixes, symlinked layer files, gzip or
//! uncompressed layers, attestations) and `push` (blob ranges and the manifest)
//! used to parse the tar and the documents three ways; a fix to one (bounded
//! sizes, say) missed the others. [`Strictness`] is the only difference, like
//! the options of go-containerregistry's `validate`. Blobs are never all in
//! memory: they are byte ranges of the file, streamed when read. Nothing here
//! panics on any input.
//!
//! [`read_json`]: Archive::read_json

use std::io::{self, Read, Seek, SeekFrom};

use serde_json::Value;

use crate::error::Failure;

pub mod canonical;
pub mod documents;
pub mod fs;
mod image;
mod layer;
mod listing;
pub mod media;
mod peek;
pub mod runtime;
mod sbom_format;
mod sboms;
pub mod tar_index;

pub use documents::{Config, Descriptor, DockerEntry, Index, Manifest, Platform};
pub use fs::{Fs, Node, NodeKind, Resolved};
pub use image::{Format, ImageRef, LayerRef};
pub use layer::{compression, EntryKind, Hashing, LayerEntry, LayerSizes};
pub use listing::{ArtifactEntry, ImageEntry, Listing};
pub use peek::{
    check, not_an_archive, peek, Attached, BlobRef, Check, Document, Peek, ARTIFACT_BLOB,
};
pub use sbom_format::SbomFormat;
pub use sboms::SbomFound;
pub use tar_index::{first_nonzero, Range, TarEntry, TarIndex};

/// Largest JSON document (index, manifest, config) read from an archive.
pub const MAX_JSON: u64 = 16 << 20;
/// Symlinks followed while resolving one path (Linux's `MAXSYMLINKS`).
pub const MAX_LINK_HOPS: usize = 40;
/// Nested image indexes followed from `index.json`.
pub const MAX_INDEX_DEPTH: usize = 4;

/// How the outer tar is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Names exactly as stored in each header (no PAX or GNU long names, no
    /// normalisation, links not followed), for `validate`, which then checks
    /// every header itself.
    Strict,
    /// What other tools write: long names applied, `./` and `/` prefixes
    /// normalised away, symlinks and hard links between entries followed.
    Lenient,
}

/// An opened archive: the reader and the outer tar's table of contents.
pub struct Archive<R> {
    r: R,
    index: TarIndex,
}

impl<R: Read + Seek> Archive<R> {
    /// Index the outer tar (entry names → positions) without reading blobs.
    pub fn open(mut r: R, mode: Strictness) -> Result<Archive<R>, Failure> {
        let index = TarIndex::build(&mut r, mode)?;
        if index.entries().is_empty() && mode == Strictness::Lenient {
            return Err(Failure::new("the tar archive is empty"));
        }
        Ok(Archive { r, index })
    }

    /// The outer tar's table of contents.
    pub fn index(&self) -> &TarIndex {
        &self.index
    }

    /// The reader, e.g. to scan the bytes after the end-of-archive marker.
    pub fn reader(&mut self) -> &mut R {
        &mut self.r
    }

    /// Whether the outer tar has an entry `name`.
    pub fn has(&self, name: &str) -> bool {
        self.index.has(name)
    }

    /// Where the regular file `name` is, following links in the tar.
    pub fn locate(&self, name: &str) -> Result<Range, Failure> {
        self.index.locate(name)
    }

    /// A reader over the bytes of `name`, and their count.
    pub fn open_file(&mut self, name: &str) -> Result<(io::Take<&mut R>, u64), Failure> {
        let range = self.locate(name)?;
        Ok((self.open_range(name, range)?, range.size))
    }

    /// A reader over `range` (named `name` in errors).
    pub fn open_range(&mut self, name: &str, range: Range) -> Result<io::Take<&mut R>, Failure> {
        self.r.seek(SeekFrom::Start(range.offset)).map_err(|e| {
            Failure::new(format!("cannot read `{name}` in the archive")).detail(e.to_string())
        })?;
        Ok((&mut self.r).take(range.size))
    }

    /// The bytes of `name`, refused unread when over `limit`.
    pub fn read_small(&mut self, name: &str, limit: u64, what: &str) -> Result<Vec<u8>, Failure> {
        let (reader, size) = self.open_file(name)?;
        if size > limit {
            return Err(Failure::new(format!(
                "`{name}` is {size} bytes, too large for {what} (limit {limit})"
            )));
        }
        let mut buf = Vec::with_capacity(size as usize);
        let mut reader = reader;
        reader
            .read_to_end(&mut buf)
            .map_err(|e| Failure::new(format!("cannot read `{name}`")).detail(e.to_string()))?;
        if (buf.len() as u64) < size {
            return Err(Failure::new(format!(
                "`{name}` is truncated: the tar header says {size} bytes, the file has {}",
                buf.len()
            )));
        }
        Ok(buf)
    }

    /// Read and parse a JSON document of at most [`MAX_JSON`] bytes.
    pub fn read_json(&mut self, name: &str) -> Result<Value, Failure> {
        let buf = self.read_small(name, MAX_JSON, "an image JSON document")?;
        serde_json::from_slice(&buf)
            .map_err(|e| Failure::new(format!("`{name}` is not valid JSON")).detail(e.to_string()))
    }
}

/// Lexically normalise a tar path: no leading `/` or `./`, no `.`, `..`
/// resolved (never above the root), no trailing `/`.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Join a link target to the directory of the link, then normalise.
fn link_target(link_path: &str, target: &str) -> String {
    if target.starts_with('/') {
        return normalize(target);
    }
    match link_path.rfind('/') {
        Some(i) => normalize(&format!("{}/{target}", &link_path[..i])),
        None => normalize(target),
    }
}

/// Whether `bytes` (the start of a file) look like a tar archive: `ustar`
/// magic, or a v7 header with a valid checksum.
pub fn looks_like_tar(bytes: &[u8]) -> bool {
    if bytes.len() < 512 {
        return false;
    }
    if &bytes[257..262] == b"ustar" {
        return true;
    }
    let field = &bytes[148..156];
    let digits: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| ('0'..='7').contains(c))
        .collect();
    let Ok(want) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let sum: u32 = bytes[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    bytes[0] != 0 && sum == want
}

/// `blobs/<alg>/<hex>` for a digest; refuses digests that could escape.
pub fn blob_path(digest: &str, within: &str) -> Result<String, Failure> {
    if digest.is_empty() {
        return Err(Failure::new(format!(
            "a descriptor in `{within}` has no digest"
        )));
    }
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'_' | b'-' | b'='))
            && s != "."
            && s != ".."
    };
    match digest.split_once(':') {
        Some((alg, hex)) if ok(alg) && ok(hex) => Ok(format!("blobs/{alg}/{hex}")),
        _ => Err(Failure::new(format!(
            "`{within}` has an invalid digest `{digest}`"
        ))),
    }
}

#[cfg(test)]
mod tests;
