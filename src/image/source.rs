//! A user's file, opened once: its handle, its size and the sha256 of its bytes,
//! read again only through that handle, streamed into the layer.
//!
//! In: a handle the `files` walk opened without following links and checked
//! (a regular file, the device and inode it listed). Out: an [`OpenedFile`] whose
//! digest the layer's cache key uses, and a [`Stream`] of its bytes for the tar
//! writer that fails — naming the file — when they are not the bytes that were
//! hashed. Why: whole files in memory made a 5 GiB file cost 5 GiB of RSS, and
//! opening the file again by name let a swapped-in symlink or FIFO through; with
//! positional reads of one handle the memory is a buffer and the file is the one
//! that was checked.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::digest::Sha256Writer;
use crate::dirfd::Stat;

/// Bytes read at a time, hashing or streaming.
const CHUNK: usize = 256 * 1024;

/// A regular file opened once, with the digest of its bytes.
#[derive(Debug, Clone)]
pub struct OpenedFile {
    file: Arc<File>,
    /// The host path, for messages only: the file is never opened again by it.
    pub shown: PathBuf,
    pub size: u64,
    /// `sha256:<hex>` of the `size` bytes read when it was opened.
    pub digest: String,
    stat: Stat,
}

impl PartialEq for OpenedFile {
    fn eq(&self, other: &Self) -> bool {
        self.stat.same(&other.stat) && self.size == other.size && self.digest == other.digest
    }
}

impl Eq for OpenedFile {}

/// "`x` changed while it was read" (and how), as an I/O error.
fn changed(shown: &std::path::Path, how: &str) -> io::Error {
    io::Error::other(format!(
        "`{}` changed while it was read ({how})",
        shown.display()
    ))
}

/// The bytes at `at..` into `buf`, retrying on `EINTR`.
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, at) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

impl OpenedFile {
    /// Hash the `stat.size` bytes of `file` (checked by the caller to be the
    /// regular file `stat` describes).
    pub fn hash(file: File, stat: Stat, shown: PathBuf) -> io::Result<OpenedFile> {
        let mut opened = OpenedFile {
            file: Arc::new(file),
            shown,
            size: stat.size,
            digest: String::new(),
            stat,
        };
        let mut s = opened.stream();
        io::copy(&mut s, &mut io::sink())?;
        let digest = s.hasher.digest();
        opened.digest = digest;
        Ok(opened)
    }

    /// The bytes again, from the same handle; the stream fails at its end if they
    /// are not the ones [`OpenedFile::hash`] read.
    pub fn stream(&self) -> Stream<'_> {
        Stream {
            file: self,
            at: 0,
            hasher: Sha256Writer::new(),
            done: false,
        }
    }
}

/// The bytes of an [`OpenedFile`], read at positions of its handle.
pub struct Stream<'a> {
    file: &'a OpenedFile,
    at: u64,
    hasher: Sha256Writer,
    done: bool,
}

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let f = self.file;
        if self.at == f.size {
            if !self.done {
                self.done = true;
                let mut probe = [0u8; 1];
                if read_at(&f.file, &mut probe, f.size)? > 0 {
                    return Err(changed(&f.shown, &format!("it grew past {} bytes", f.size)));
                }
                if !f.digest.is_empty() && self.hasher.clone().digest() != f.digest {
                    return Err(changed(&f.shown, "its bytes are not the ones hashed"));
                }
            }
            return Ok(0);
        }
        let want = buf.len().min(CHUNK).min((f.size - self.at) as usize);
        let n = read_at(&f.file, &mut buf[..want], self.at)?;
        if n == 0 {
            return Err(changed(
                &f.shown,
                &format!("it shrank to {} of {} bytes", self.at, f.size),
            ));
        }
        self.hasher.update(&buf[..n]);
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn opened(dir: &std::path::Path, bytes: &[u8]) -> (OpenedFile, PathBuf) {
        let path = dir.join("f");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        let stat = crate::dirfd::stat_of(&file).unwrap();
        (OpenedFile::hash(file, stat, path.clone()).unwrap(), path)
    }

    #[test]
    fn the_stream_is_the_hashed_bytes_or_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (f, path) = opened(dir.path(), b"hello");
        assert_eq!(f.digest, crate::digest::sha256_digest(b"hello"));
        let mut out = Vec::new();
        f.stream().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");
        // Same length, other bytes (written in place: the same inode).
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all(b"HELLO")
            .unwrap();
        let e = f.stream().read_to_end(&mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("not the ones hashed"), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        // Grown, then shrunk.
        std::fs::write(&path, b"HELLO!").unwrap();
        let e = f.stream().read_to_end(&mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("grew"), "{e}");
        std::fs::write(&path, b"he").unwrap();
        let e = f.stream().read_to_end(&mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("shrank to 2 of 5"), "{e}");
    }
}
