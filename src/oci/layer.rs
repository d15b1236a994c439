//! Reading one layer blob as a stream: decompress, hash, walk the tar entries.
//!
//! In: a layer's byte range in the archive. Out: every entry of the layer tar,
//! handed to a visitor with a reader over its bytes, after which the blob's
//! digest and the uncompressed `diff_id` are checked. One pass, constant
//! memory: the compressed bytes are hashed as they are read, the decompressed
//! ones as the tar parser pulls them — or, when the caller has a second reader
//! of the same bytes ([`Archive::walk_layer_parallel`], push's full check), the
//! compressed ones on a second thread: the two SHA-256s are most of the time a
//! layer takes, and they then run on two cores. gzip and uncompressed layers
//! are read; zstd, xz and bzip2 are named as unsupported.

use std::io::{self, Read, Seek};

use super::{normalize, Archive, LayerRef};
use crate::digest::Sha256Writer;
use crate::error::Failure;
use crate::io::read_up_to;

/// The two sizes of a layer read to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSizes {
    /// Bytes of the blob as stored.
    pub blob: u64,
    /// Bytes of the uncompressed tar stream.
    pub uncompressed: u64,
}

/// Kind of a layer entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink(String),
    HardLink(String),
    /// Device, fifo, …: the tar type byte.
    Other(char),
}

/// One entry of a layer tar, path normalised (no leading `/` or `./`).
#[derive(Debug, Clone)]
pub struct LayerEntry {
    /// Normalised: no leading `/` or `./`, `..` resolved inside the root.
    pub path: String,
    /// The path exactly as the tar stores it.
    pub raw_path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
}

/// A reader that hashes what passes through it.
pub struct Hashing<R> {
    inner: R,
    hash: Sha256Writer,
}

impl<R> Hashing<R> {
    pub fn new(inner: R) -> Self {
        Hashing {
            inner,
            hash: Sha256Writer::new(),
        }
    }
    /// `sha256:<hex>` of the bytes read so far.
    pub fn digest(&self) -> String {
        self.hash.clone().digest()
    }
    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.hash.len()
    }
    pub fn is_empty(&self) -> bool {
        self.hash.is_empty()
    }
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// The compression a layer's first bytes announce, if any.
pub use crate::compress::sniff as compression;

impl<R: Read + Seek> Archive<R> {
    /// Read layer `layer`, calling `visit` for every entry with a reader over
    /// its bytes (empty for non-files). Checks the blob digest and diff_id.
    pub fn walk_layer(
        &mut self,
        layer: &LayerRef,
        visit: impl FnMut(&LayerEntry, &mut dyn Read) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        self.walk_layer_sized(layer, visit).map(|_| ())
    }

    /// [`Archive::walk_layer`], returning the blob's size and the size of the
    /// uncompressed tar stream (what `report` shows).
    pub fn walk_layer_sized(
        &mut self,
        layer: &LayerRef,
        visit: impl FnMut(&LayerEntry, &mut dyn Read) -> Result<(), Failure>,
    ) -> Result<LayerSizes, Failure> {
        // Hashed here, so `blob_digest` is set.
        let walked = self.walk_streams(layer, true, visit)?;
        check_digests(
            layer,
            walked.blob_digest.as_deref().unwrap_or(""),
            &walked.diff,
        )?;
        Ok(walked.sizes)
    }

    /// [`Archive::walk_layer`], the blob's digest computed by `blob_digest` on
    /// a second thread (over a second reader of the same bytes) while this one
    /// inflates the layer and hashes its tar stream: a layer's two SHA-256s on
    /// two cores. Same verdicts, in the same order: the tar stream's errors
    /// first, then the blob's digest, then the `diff_id`.
    pub fn walk_layer_parallel(
        &mut self,
        layer: &LayerRef,
        blob_digest: impl FnOnce() -> Result<String, Failure> + Send,
        visit: impl FnMut(&LayerEntry, &mut dyn Read) -> Result<(), Failure>,
    ) -> Result<LayerSizes, Failure> {
        std::thread::scope(|s| {
            let blob = s.spawn(blob_digest);
            let walked = self.walk_streams(layer, false, visit);
            let blob = blob
                .join()
                .unwrap_or_else(|_| Err(Failure::new("the blob hashing thread panicked")));
            let walked = walked?;
            check_digests(layer, &blob?, &walked.diff)?;
            Ok(walked.sizes)
        })
    }

    /// Read layer `layer` to the end, the blob hashed as it is read when
    /// `hash_blob`, the tar stream always, every entry handed to `visit`.
    fn walk_streams(
        &mut self,
        layer: &LayerRef,
        hash_blob: bool,
        visit: impl FnMut(&LayerEntry, &mut dyn Read) -> Result<(), Failure>,
    ) -> Result<Walked, Failure> {
        let name = layer.name.clone();
        let ctx = |what: &str, e: &dyn std::fmt::Display| {
            Failure::new(format!("layer `{name}`: {what}")).detail(e.to_string())
        };
        // The blob, hashed as it is read, and decompressed by its first bytes.
        let (blob, _) = self.open_file(&name)?;
        let mut blob = Tally::new(blob, hash_blob);
        let mut magic = [0u8; 6];
        let n = read_up_to(&mut blob, &mut magic).map_err(|e| ctx("cannot read", &e))?;
        let head = &magic[..n];
        let compressed = io::Cursor::new(head.to_vec()).chain(&mut blob);
        let kind = compression(head);
        let decoded = crate::compress::decoder(kind, compressed).map_err(|e| {
            Failure::new(format!(
                "layer `{name}` is {}-compressed",
                kind.unwrap_or("oddly")
            ))
            .detail(e.to_string())
            .help("convert the image, e.g. `skopeo copy --dest-decompress oci-archive:IN oci-archive:OUT`")
        })?;
        // The tar stream, hashed as the parser pulls it.
        let mut diff_hash = Hashing::new(decoded);
        visit_entries(&mut diff_hash, visit, &ctx)?;
        // Hash the whole streams, trailing padding included.
        io::copy(&mut diff_hash, &mut io::sink())
            .map_err(|e| ctx("corrupt compressed stream", &e))?;
        let diff = diff_hash.digest();
        let uncompressed = diff_hash.len();
        drop(diff_hash);
        io::copy(&mut blob, &mut io::sink()).map_err(|e| ctx("cannot read", &e))?;
        Ok(Walked {
            sizes: LayerSizes {
                blob: blob.len,
                uncompressed,
            },
            blob_digest: blob.hash.map(Sha256Writer::digest),
            diff,
        })
    }
}

/// What reading a layer to the end found.
struct Walked {
    sizes: LayerSizes,
    /// `sha256:<hex>` of the blob, when it was hashed here.
    blob_digest: Option<String>,
    /// `sha256:<hex>` of the tar stream.
    diff: String,
}

/// A reader that counts what passes through it, and hashes it when asked to.
struct Tally<R> {
    inner: R,
    hash: Option<Sha256Writer>,
    len: u64,
}

impl<R> Tally<R> {
    fn new(inner: R, hash: bool) -> Self {
        Tally {
            inner,
            hash: hash.then(Sha256Writer::new),
            len: 0,
        }
    }
}

impl<R: Read> Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hash {
            h.update(&buf[..n]);
        }
        self.len += n as u64;
        Ok(n)
    }
}

/// Hand every entry of the layer tar `stream` to `visit`, with a reader over
/// its bytes (empty for non-files).
fn visit_entries(
    stream: &mut dyn Read,
    mut visit: impl FnMut(&LayerEntry, &mut dyn Read) -> Result<(), Failure>,
    ctx: &dyn Fn(&str, &dyn std::fmt::Display) -> Failure,
) -> Result<(), Failure> {
    let mut tar = tar::Archive::new(stream);
    let entries = tar.entries().map_err(|e| ctx("not a tar stream", &e))?;
    for (i, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| {
            ctx(
                &format!("the tar stream is corrupt or truncated after {i} entries"),
                &e,
            )
        })?;
        let Some(info) = entry_of(&entry) else {
            continue;
        };
        if info.kind == EntryKind::File {
            visit(&info, &mut entry)?;
        } else {
            visit(&info, &mut io::empty())?;
        }
    }
    Ok(())
}

/// What a layer's tar `entry` is; `None` for the headers that only extend
/// another (PAX, GNU long names) and for the root itself.
fn entry_of<R: Read>(entry: &tar::Entry<R>) -> Option<LayerEntry> {
    let h = entry.header();
    let ty = h.entry_type();
    if ty.is_pax_global_extensions()
        || ty.is_pax_local_extensions()
        || ty.is_gnu_longname()
        || ty.is_gnu_longlink()
    {
        return None;
    }
    let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    let path = normalize(&raw_path);
    let link = || {
        entry
            .link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let kind = if ty.is_file() || ty.is_contiguous() || ty.is_gnu_sparse() {
        EntryKind::File
    } else if ty.is_dir() {
        EntryKind::Dir
    } else if ty.is_symlink() {
        EntryKind::Symlink(link())
    } else if ty.is_hard_link() {
        EntryKind::HardLink(normalize(&link()))
    } else {
        EntryKind::Other(ty.as_byte() as char)
    };
    // Lenient: an empty or garbled numeric field (some writers leave them
    // blank) reads as 0 rather than failing the layer.
    let info = LayerEntry {
        mode: h.mode().unwrap_or(0) & 0o7777,
        uid: h.uid().unwrap_or(0),
        gid: h.gid().unwrap_or(0),
        size: entry.size(),
        path,
        raw_path,
        kind,
    };
    (!info.path.is_empty()).then_some(info)
}

/// The blob must hash to the manifest's digest and its tar stream to the
/// config's `diff_id`, where they are sha256 digests.
fn check_digests(layer: &LayerRef, blob: &str, diff: &str) -> Result<(), Failure> {
    let name = &layer.name;
    if let Some(want) = &layer.digest {
        if want.starts_with("sha256:") && want != blob {
            return Err(Failure::new(format!(
                "layer `{name}` does not match its digest: the archive is corrupt"
            ))
            .detail(format!("manifest digest: {want}"))
            .detail(format!("actual digest:   {blob}")));
        }
    }
    if let Some(want) = &layer.diff_id {
        if want.starts_with("sha256:") && want != diff {
            return Err(Failure::new(format!(
                "layer `{name}` does not match the config's diff_id: the archive is corrupt"
            ))
            .detail(format!("rootfs.diff_ids: {want}"))
            .detail(format!("actual:          {diff}")));
        }
    }
    Ok(())
}
