//! A content-addressed blob: its media type, `sha256:` digest, size, and bytes —
//! in memory (JSON documents, small layers) or spooled to an unnamed temporary
//! file (the compressed layer of a large binary).
//!
//! In: bytes, or a file the gzip writer filled. Out: a [`Blob`] the tarball writer
//! streams from. Why spool: a 128 MiB binary compresses to a layer of about the
//! same size, and holding both in memory doubled the peak RSS of `build`. The
//! spool file is created with `O_TMPFILE` semantics (no name), so it never outlives
//! the process, whatever happens. A blob can also be a byte range of an existing
//! file ([`Blob::in_file`]: a layer inside an input tarball of `cargo slim index`),
//! streamed from there and never copied into memory.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use anyhow::Result;
use oci_spec::image::{Descriptor, DescriptorBuilder, MediaType};

use crate::digest::sha256_digest;

#[derive(Debug, Clone)]
enum Data {
    Memory(Vec<u8>),
    /// `size` bytes of `file` from `offset`.
    Spooled {
        file: Arc<File>,
        offset: u64,
    },
}

/// A content-addressed blob.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: MediaType,
    /// `sha256:<hex>`
    pub digest: String,
    size: u64,
    data: Data,
}

impl PartialEq for Blob {
    /// Content-addressed: the same digest, size and media type are the same blob.
    fn eq(&self, other: &Blob) -> bool {
        self.digest == other.digest
            && self.size == other.size
            && self.media_type == other.media_type
    }
}

impl Eq for Blob {}

impl Blob {
    pub fn new(media_type: MediaType, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type,
            digest: sha256_digest(&bytes),
            size: bytes.len() as u64,
            data: Data::Memory(bytes),
        }
    }

    /// A blob in memory whose digest the writer computed while it wrote.
    pub(super) fn new_with_digest(media_type: MediaType, digest: String, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type,
            digest,
            size: bytes.len() as u64,
            data: Data::Memory(bytes),
        }
    }

    /// A blob already written to `file` (from its start), whose digest the
    /// writer computed while it wrote.
    pub fn spooled(media_type: MediaType, digest: String, file: File) -> io::Result<Blob> {
        let size = file.metadata()?.len();
        Ok(Blob {
            media_type,
            digest,
            size,
            data: Data::Spooled {
                file: Arc::new(file),
                offset: 0,
            },
        })
    }

    /// The `size` bytes of `file` at `offset`, whose sha256 is `digest` (the
    /// caller has checked it, e.g. by validating the tarball they are in).
    pub fn in_file(
        media_type: MediaType,
        digest: String,
        file: Arc<File>,
        offset: u64,
        size: u64,
    ) -> Blob {
        Blob {
            media_type,
            digest,
            size,
            data: Data::Spooled { file, offset },
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hex part of the digest (the blob's file name).
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    /// A reader over the whole blob (positional reads: clones share no cursor).
    pub fn reader(&self) -> Box<dyn Read + '_> {
        match &self.data {
            Data::Memory(v) => Box::new(&v[..]),
            Data::Spooled { file, offset } => Box::new(AtReader {
                file,
                pos: *offset,
                end: offset + self.size,
            }),
        }
    }

    /// All the bytes (read from the spool file when spooled).
    pub fn bytes(&self) -> io::Result<Cow<'_, [u8]>> {
        match &self.data {
            Data::Memory(v) => Ok(Cow::Borrowed(v)),
            Data::Spooled { .. } => {
                let mut v = Vec::with_capacity(usize::try_from(self.size).unwrap_or(0));
                self.reader().read_to_end(&mut v)?;
                Ok(Cow::Owned(v))
            }
        }
    }

    pub(super) fn descriptor(&self) -> Result<Descriptor> {
        Ok(DescriptorBuilder::default()
            .media_type(self.media_type.clone())
            .digest(self.digest.parse::<oci_spec::image::Digest>()?)
            .size(self.size())
            .build()?)
    }
}

/// Reads `file[pos..end]` with `pread`, so a shared `Arc<File>` needs no seek.
struct AtReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for AtReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the blob's file is shorter than when the blob was made",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    #[test]
    fn spooled_and_in_memory_blobs_read_the_same() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mem = Blob::new(MediaType::ImageLayerGzip, data.clone());
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        f.rewind().unwrap();
        let spooled = Blob::spooled(MediaType::ImageLayerGzip, mem.digest.clone(), f).unwrap();
        assert_eq!(spooled, mem);
        assert_eq!(spooled.size(), data.len() as u64);
        assert_eq!(&*spooled.bytes().unwrap(), &data[..]);
        let mut via_reader = Vec::new();
        spooled
            .clone()
            .reader()
            .read_to_end(&mut via_reader)
            .unwrap();
        assert_eq!(via_reader, data);
    }

    #[test]
    fn a_blob_in_file_reads_only_its_range() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"headBLOBBYtail").unwrap();
        let want = Blob::new(MediaType::ImageLayerGzip, b"BLOBBY".to_vec());
        let blob = Blob::in_file(
            MediaType::ImageLayerGzip,
            want.digest.clone(),
            Arc::new(f),
            4,
            6,
        );
        assert_eq!(blob, want);
        assert_eq!(&*blob.bytes().unwrap(), b"BLOBBY");
        let mut via_reader = Vec::new();
        blob.reader().read_to_end(&mut via_reader).unwrap();
        assert_eq!(via_reader, b"BLOBBY");
    }
}
