//! Where each blob sits inside an image tarball, and a stream over one blob.
//!
//! The outer tar is uncompressed, so every `blobs/sha256/<hex>` entry is one
//! contiguous byte range of the file. Push streams a layer straight from that range
//! (with a progress bar) instead of holding a 100 MB layer in memory, and a retry
//! simply opens the range again. [`peek`] reads only the tar headers and the small
//! JSON documents (index, manifest), so push can start talking to the registry
//! while `validate` checks every byte; no blob is uploaded before that check ends.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bytes::Bytes;
use futures_util::Stream;
use indicatif::ProgressBar;

/// A blob's byte range inside the tarball.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRange {
    pub offset: u64,
    pub size: u64,
}

/// `sha256:<hex>` → where that blob's bytes are in the tarball.
pub fn locate_blobs(path: &Path) -> Result<HashMap<String, BlobRange>> {
    Ok(locate_entries(path)?
        .into_iter()
        .filter_map(|(name, r)| {
            Some((format!("sha256:{}", name.strip_prefix("blobs/sha256/")?), r))
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

/// Read `index.json` → manifest → the blobs it names, and where each one is.
pub fn peek(path: &Path) -> Result<Peek> {
    let entries = locate_entries(path)?;
    let read = |name: &str| -> Result<Vec<u8>> {
        let r = entries
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("no `{name}` entry"))?;
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(r.offset))?;
        let mut buf = vec![0u8; usize::try_from(r.size)?];
        f.read_exact(&mut buf)?;
        Ok(buf)
    };
    let index: serde_json::Value = serde_json::from_slice(&read("index.json")?)?;
    let manifests = index["manifests"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let [desc] = manifests else {
        anyhow::bail!("index.json has {} manifests, expected 1", manifests.len());
    };
    let digest = desc["digest"].as_str().unwrap_or("").to_string();
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| anyhow::anyhow!("index.json: manifest digest `{digest}` is not sha256"))?;
    let manifest = read(&format!("blobs/sha256/{hex}"))?;
    let actual = crate::digest::sha256_digest(&manifest);
    anyhow::ensure!(
        actual == digest,
        "manifest blob {digest} hashes to {actual}"
    );
    let m: serde_json::Value = serde_json::from_slice(&manifest)?;
    let media_type = m["mediaType"]
        .as_str()
        .unwrap_or(oci_client::manifest::OCI_IMAGE_MEDIA_TYPE)
        .to_string();
    let mut blobs: Vec<BlobRef> = Vec::new();
    let config = std::iter::once(("config", &m["config"]));
    let layers = m["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| ("layer", l));
    for (kind, d) in config.chain(layers) {
        let digest = d["digest"].as_str().unwrap_or("").to_string();
        let size = d["size"].as_u64();
        let name = format!(
            "blobs/sha256/{}",
            digest.strip_prefix("sha256:").unwrap_or("")
        );
        let range = *entries.get(&name).ok_or_else(|| {
            anyhow::anyhow!("the manifest names {kind} `{digest}`, which is not in the tarball")
        })?;
        anyhow::ensure!(
            size == Some(range.size),
            "{kind} {digest}: the manifest says {size:?} bytes, the tarball holds {}",
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

/// Entry name → its byte range, for every entry of the outer tar.
fn locate_entries(path: &Path) -> Result<HashMap<String, BlobRange>> {
    let file = File::open(path).with_context(|| format!("could not open `{}`", path.display()))?;
    let mut archive = tar::Archive::new(file);
    let mut blobs = HashMap::new();
    let entries = archive
        .entries_with_seek()
        .with_context(|| format!("could not read the tar entries of `{}`", path.display()))?;
    for entry in entries {
        let entry =
            entry.with_context(|| format!("could not read a tar entry of `{}`", path.display()))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        blobs.insert(
            name,
            BlobRange {
                offset: entry.raw_file_position(),
                size: entry.size(),
            },
        );
    }
    Ok(blobs)
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
