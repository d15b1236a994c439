//! Where each blob sits inside an image tarball, and a stream over one blob.
//!
//! The outer tar is uncompressed, so every `blobs/sha256/<hex>` entry is one
//! contiguous byte range of the file. Push streams a layer straight from that range
//! (with a progress bar) instead of holding a 100 MB layer in memory, and a retry
//! simply opens the range again. Which blobs to send, and where they are, comes
//! from the archive's [`crate::oci::Peek`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bytes::Bytes;
use futures_util::Stream;
use indicatif::ProgressBar;

use super::retry::Progress;
use crate::oci::{Archive, Range, Strictness};

/// `sha256:<hex>` → where that blob's bytes are in the tarball.
pub fn locate_blobs(path: &Path) -> Result<HashMap<String, Range>> {
    let file = File::open(path).with_context(|| format!("could not open `{}`", path.display()))?;
    let ar = Archive::open(BufReader::new(file), Strictness::Lenient)?;
    Ok(ar
        .index()
        .entries()
        .iter()
        .filter_map(|e| {
            let hex = e.name.strip_prefix("blobs/sha256/")?;
            Some((
                format!("sha256:{hex}"),
                Range {
                    offset: e.offset,
                    size: e.size,
                },
            ))
        })
        .collect())
}

/// Bytes per chunk handed to the HTTP body: small, because the next chunk is
/// taken only when the connection has taken the last one, and that is how
/// `--timeout` sees an upload progress (64 KiB is 0.2 s at 320 KiB/s).
const CHUNK: usize = 64 << 10;

/// A stream over one blob of the tarball, advancing `progress` (the bar) and
/// `watch` (the upload's progress timeout) as it is read.
///
/// The file is read synchronously: push runs on a current-thread runtime and a
/// 1 MiB read from the page cache is far shorter than the socket write it feeds.
pub fn blob_stream(
    path: PathBuf,
    range: Range,
    progress: Option<ProgressBar>,
    watch: Option<Progress>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    struct State {
        path: PathBuf,
        file: Option<std::io::Take<File>>,
        range: Range,
        progress: Option<ProgressBar>,
        watch: Option<Progress>,
        done: bool,
    }
    let state = State {
        path,
        file: None,
        range,
        progress,
        watch,
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
        // Read into spare capacity: `read_to_end` does not zero it first (a
        // 32 MiB layer is 32 MiB less memset), and stops at the chunk's end.
        let mut buf = Vec::with_capacity(CHUNK);
        if let Err(e) = file.take(CHUNK as u64).read_to_end(&mut buf) {
            return Some((Err(io_error(&st.path, e)), failed(st)));
        }
        let filled = buf.len();
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
        if let Some(p) = &st.progress {
            p.inc(filled as u64);
        }
        if let Some(w) = &st.watch {
            w.advance(filled as u64);
        }
        Some((Ok(Bytes::from(buf)), st))
    })
}

fn io_error(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("reading `{}`: {e}", path.display()))
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
            blob_stream(path.clone(), blobs["sha256:bb"], Some(bar.clone()), None)
                .map(|c| c.unwrap())
                .collect(),
        );
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks.concat(), big);
        assert_eq!(bar.position(), big.len() as u64);
    }
}
