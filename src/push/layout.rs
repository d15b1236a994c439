//! Where each blob sits inside an image tarball, and a stream over one blob.
//!
//! The outer tar is uncompressed, so every `blobs/sha256/<hex>` entry is one
//! contiguous byte range of the file. Push streams a layer straight from that range
//! (with a progress bar) instead of holding a 100 MB layer in memory, and a retry
//! simply opens the range again. [`peek`] reads, through [`crate::oci`], only the tar
//! headers and the small JSON documents (index, manifest), so push can start talking
//! to the registry while `validate` checks every byte; no blob is uploaded before
//! that check ends.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bytes::Bytes;
use futures_util::Stream;
use indicatif::ProgressBar;

use crate::oci::{Archive, Strictness};

/// A blob's byte range inside the tarball.
pub type BlobRange = crate::oci::Range;

/// `sha256:<hex>` → where that blob's bytes are in the tarball.
pub fn locate_blobs(path: &Path) -> Result<HashMap<String, BlobRange>> {
    let ar = open(path)?;
    Ok(ar
        .index()
        .entries()
        .iter()
        .filter_map(|e| {
            let hex = e.name.strip_prefix("blobs/sha256/")?;
            Some((
                format!("sha256:{hex}"),
                BlobRange {
                    offset: e.offset,
                    size: e.size,
                },
            ))
        })
        .collect())
}

/// One blob the manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// `config` or `layer`.
    pub kind: &'static str,
    pub digest: String,
    pub range: BlobRange,
}

/// The manifest of a tarball and the blobs it names, read without hashing blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peek {
    /// `sha256:<hex>`; checked against the manifest bytes.
    pub manifest_digest: String,
    /// The manifest exactly as stored.
    pub manifest: Vec<u8>,
    pub media_type: String,
    /// The config, then the layers, without repeats.
    pub blobs: Vec<BlobRef>,
}

fn open(path: &Path) -> Result<Archive<BufReader<File>>> {
    let file = File::open(path).with_context(|| format!("could not open `{}`", path.display()))?;
    Ok(Archive::open(BufReader::new(file), Strictness::Strict)?)
}

/// Read `index.json` → manifest → the blobs it names, and where each one is
/// (the oci reader: headers only, documents bounded, nothing hashed but the
/// manifest).
pub fn peek(path: &Path) -> Result<Peek> {
    let mut ar = open(path)?;
    let listing = ar.list()?;
    let [image] = listing.images.as_slice() else {
        anyhow::bail!(
            "index.json lists {} images, expected 1",
            listing.images.len()
        );
    };
    let digest = image.descriptor.digest.clone();
    anyhow::ensure!(
        crate::digest::sha256_hex_of(&digest).is_some(),
        "index.json: manifest digest `{digest}` is not sha256"
    );
    let manifest = ar.read_small(&image.blob, crate::oci::MAX_JSON, "an image manifest")?;
    let actual = crate::digest::sha256_digest(&manifest);
    anyhow::ensure!(
        actual == digest,
        "manifest blob {digest} hashes to {actual}"
    );
    let m = &image.manifest;
    let media_type = m
        .media_type
        .clone()
        .unwrap_or_else(|| oci_client::manifest::OCI_IMAGE_MEDIA_TYPE.to_string());
    let Some(config) = &m.config else {
        anyhow::bail!("the manifest {digest} has no config");
    };
    let Some(layers) = &m.layers else {
        anyhow::bail!("the manifest {digest}: `layers` is not an array");
    };
    let mut blobs: Vec<BlobRef> = Vec::new();
    let all = std::iter::once(("config", config)).chain(layers.iter().map(|l| ("layer", l)));
    for (kind, d) in all {
        let digest = d.digest.clone();
        let name = format!(
            "blobs/sha256/{}",
            crate::digest::sha256_hex_of(&digest).unwrap_or("")
        );
        let range = ar.locate(&name).map_err(|_| {
            anyhow::anyhow!("the manifest names {kind} `{digest}`, which is not in the tarball")
        })?;
        anyhow::ensure!(
            d.size == Some(range.size),
            "{kind} {digest}: the manifest says {:?} bytes, the tarball holds {}",
            d.size,
            range.size
        );
        if !blobs.iter().any(|b| b.digest == digest) {
            blobs.push(BlobRef {
                kind,
                digest,
                range,
            });
        }
    }
    Ok(Peek {
        manifest_digest: digest,
        manifest,
        media_type,
        blobs,
    })
}

/// Bytes per chunk handed to the HTTP body.
const CHUNK: usize = 1 << 20;

/// A stream over one blob of the tarball, advancing `progress` as it is read.
///
/// The file is read synchronously: push runs on a current-thread runtime and a
/// 1 MiB read from the page cache is far shorter than the socket write it feeds.
pub fn blob_stream(
    path: PathBuf,
    range: BlobRange,
    progress: Option<ProgressBar>,
) -> impl Stream<Item = oci_client::errors::Result<Bytes>> + Send + 'static {
    struct State {
        path: PathBuf,
        file: Option<std::io::Take<File>>,
        range: BlobRange,
        progress: Option<ProgressBar>,
        done: bool,
    }
    let state = State {
        path,
        file: None,
        range,
        progress,
        done: false,
    };
    fn failed(mut st: State) -> State {
        st.done = true;
        st
    }
    futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        if st.file.is_none() {
            let opened = File::open(&st.path).and_then(|mut f| {
                f.seek(SeekFrom::Start(st.range.offset))?;
                Ok(f.take(st.range.size))
            });
            match opened {
                Ok(f) => st.file = Some(f),
                Err(e) => return Some((Err(io_error(&st.path, e)), failed(st))),
            }
            if let Some(p) = &st.progress {
                p.set_position(0);
            }
        }
        let file = st.file.as_mut()?;
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Some((Err(io_error(&st.path, e)), failed(st))),
            }
        }
        if filled == 0 {
            if file.limit() > 0 {
                let e = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the tarball is shorter than when it was checked",
                );
                return Some((Err(io_error(&st.path, e)), failed(st)));
            }
            return None;
        }
        buf.truncate(filled);
        if let Some(p) = &st.progress {
            p.inc(filled as u64);
        }
        Some((Ok(Bytes::from(buf)), st))
    })
}

fn io_error(path: &Path, e: std::io::Error) -> oci_client::errors::OciDistributionError {
    oci_client::errors::OciDistributionError::IoError(std::io::Error::new(
        e.kind(),
        format!("reading `{}`: {e}", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn finds_blob_ranges_and_streams_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tar");
        let big: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 7 % 251) as u8).collect();
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("oci-layout", &b"{}"[..]),
            ("blobs/sha256/aa", &b"hello"[..]),
            ("blobs/sha256/bb", &big[..]),
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        }
        std::fs::write(&path, b.into_inner().unwrap()).unwrap();

        let blobs = locate_blobs(&path).unwrap();
        assert_eq!(blobs.len(), 2);
        let raw = std::fs::read(&path).unwrap();
        let r = blobs["sha256:aa"];
        assert_eq!(
            &raw[r.offset as usize..(r.offset + r.size) as usize],
            b"hello"
        );

        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bar = ProgressBar::hidden();
        let chunks: Vec<Bytes> = rt.block_on(
            blob_stream(path.clone(), blobs["sha256:bb"], Some(bar.clone()))
                .map(|c| c.unwrap())
                .collect(),
        );
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks.concat(), big);
        assert_eq!(bar.position(), big.len() as u64);
    }
}
