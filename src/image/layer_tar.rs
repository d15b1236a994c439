//! One layer's tar: sorted entries → the compressed tar stream, in memory or
//! spooled to an unnamed file.
//!
//! In: entries (paths relative, folders ending in `/`) with their mode, numeric
//! owner and, for a file, its bytes or an [`OpenedFile`] streamed from its handle.
//! Out: a [`Layer`] (compressed blob, `diff_id`, uncompressed size). Headers are
//! ustar with the epoch as mtime, uid/gid numbers and empty user/group names; a
//! path ustar cannot hold (a name over 100 bytes, a path over 255) gets a PAX
//! `path` record before its header — the only record written, so the bytes stay
//! reproducible — which podman, containerd, skopeo and GNU tar read. Why apart:
//! writing is where a full disk or a file changed under us shows, and each must
//! name the file.

use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::Result;

use super::source::OpenedFile;
use super::{layer_media_type, Blob, Layer, LayerOptions};
use crate::compress::LayerWriter;
use crate::error::Failure;

/// Mode and numeric owner of one tar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Owner {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub const fn root(mode: u32) -> Owner {
        Owner {
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

/// The bytes of a file entry: at hand, or behind an opened handle.
#[derive(Clone, Copy)]
pub(super) enum Content<'a> {
    Bytes(&'a [u8]),
    Opened(&'a OpenedFile),
}

impl Content<'_> {
    fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Opened(f) => f.size,
        }
    }

    /// `sha256:<hex>` of the bytes (an opened file's was taken when it was opened).
    pub fn digest(&self) -> String {
        match self {
            Content::Bytes(b) => crate::digest::sha256_digest(b),
            Content::Opened(f) => f.digest.clone(),
        }
    }
}

/// An entry of a layer tar: a directory, or a file with its content.
pub(super) enum LayerEntry<'a> {
    Dir(Owner),
    File(Owner, Content<'a>),
}

/// Why a layer could not be written: a source could not be read, or the output
/// could not be written (at which entry).
enum TarError {
    Read(anyhow::Error),
    Write(String, io::Error),
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        TarError::Write("the end of the layer".into(), e)
    }
}

/// Compress the sorted `entries` into a layer as `options` say (their epoch and
/// compression), in memory or spooled to an unnamed file in `spool_dir`.
pub(super) fn write_layer(
    entries: &std::collections::BTreeMap<String, LayerEntry<'_>>,
    options: &LayerOptions,
    spool_dir: Option<&Path>,
) -> Result<Layer> {
    let entries: Vec<(&String, &LayerEntry)> = entries.iter().collect();
    let media = layer_media_type(options.compression);
    let failed = |e: TarError, place: &str| -> anyhow::Error {
        match e {
            TarError::Read(e) => e,
            TarError::Write(at, e) => Failure::new(format!("could not write a layer to {place}"))
                .detail(format!("at `{at}`: {e}"))
                .help("layers are spooled beside the --output file: free space there, or choose another --output")
                .into(),
        }
    };
    let (blob, s) = match spool_dir {
        None => {
            let s =
                write_layer_tar(&entries, options, Vec::new()).map_err(|e| failed(e, "memory"))?;
            let blob = Blob::new_with_digest(media, s.digest.clone(), s.inner);
            (blob, (s.diff_id, s.uncompressed_size))
        }
        Some(dir) => {
            let place = format!("a temporary file in `{}`", dir.display());
            let file = tempfile::tempfile_in(dir)
                .map_err(|e| crate::error::io_failure("create a temporary file in", dir, &e))?;
            let w = io::BufWriter::with_capacity(1 << 20, file);
            let s = write_layer_tar(&entries, options, w).map_err(|e| failed(e, &place))?;
            let file = s
                .inner
                .into_inner()
                .map_err(|e| failed(TarError::from(e.into_error()), &place))?;
            let blob = Blob::spooled(media, s.digest.clone(), file)?;
            (blob, (s.diff_id, s.uncompressed_size))
        }
    };
    Ok(Layer {
        blob,
        diff_id: s.0,
        uncompressed_size: s.1,
    })
}

/// A reader that remembers whether it failed, so a failed append tells a source
/// that could not be read from an output that could not be written.
struct Noted<R> {
    inner: R,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Noted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.failed = Some(io::Error::new(e.kind(), e.to_string()));
        })
    }
}

/// The ustar header of one entry, and the PAX `path` record it needs first when
/// ustar cannot hold its path.
fn header(path: &str, owner: &Owner, epoch: u64, size: Option<u64>) -> (tar::Header, bool) {
    let mut h = tar::Header::new_ustar();
    let long = h.set_path(path).is_err();
    if long {
        // Readers take the PAX record; the header keeps a deterministic prefix.
        let name = &mut h.as_ustar_mut().expect("a ustar header").name;
        let mut cut = path.len().min(name.len());
        while !path.is_char_boundary(cut) {
            cut -= 1;
        }
        name[..cut].copy_from_slice(&path.as_bytes()[..cut]);
    }
    h.set_uid(owner.uid.into());
    h.set_gid(owner.gid.into());
    h.set_mtime(epoch);
    // Empty names on a ustar header cannot fail.
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    h.set_mode(owner.mode);
    match size {
        None => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
        }
        Some(n) => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(n);
        }
    }
    h.set_cksum();
    (h, long)
}

/// The tar entries (sorted, parents first), compressed into `w`.
fn write_layer_tar<W: Write + Send>(
    entries: &[(&String, &LayerEntry<'_>)],
    options: &LayerOptions,
    w: W,
) -> Result<crate::compress::Summary<W>, TarError> {
    let gz = LayerWriter::new(options.compression, w)?;
    let mut tar = tar::Builder::new(gz);
    for (path, entry) in entries {
        let at = |e: io::Error| TarError::Write(path.to_string(), e);
        let (owner, content) = match entry {
            LayerEntry::Dir(o) => (o, None),
            LayerEntry::File(o, c) => (o, Some(*c)),
        };
        let (h, long) = header(path, owner, options.epoch, content.map(|c| c.len()));
        if long {
            tar.append_pax_extensions([("path", path.as_bytes())])
                .map_err(at)?;
        }
        match content {
            None => tar.append(&h, io::empty()).map_err(at)?,
            Some(Content::Bytes(b)) => tar.append(&h, b).map_err(at)?,
            Some(Content::Opened(f)) => {
                let mut src = Noted {
                    inner: f.stream(),
                    failed: None,
                };
                if let Err(e) = tar.append(&h, &mut src) {
                    return Err(match src.failed {
                        Some(re) => TarError::Read(
                            Failure::new(format!(
                                "could not read `{}` into the image",
                                f.shown.display()
                            ))
                            .detail(re.to_string())
                            .into(),
                        ),
                        None => at(e),
                    });
                }
            }
        }
    }
    let gz = tar.into_inner()?;
    Ok(gz.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A writer whose disk is full.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn long_paths_get_one_pax_record_and_read_back() {
        let long_name = format!("d/{}", "n".repeat(101));
        let deep = format!("{}/f", vec!["p".repeat(60); 5].join("/"));
        let wide = format!("{}/", "w".repeat(255));
        let mut entries = BTreeMap::new();
        for p in [&long_name, &deep] {
            entries.insert(
                p.clone(),
                LayerEntry::File(Owner::root(0o444), Content::Bytes(b"x")),
            );
        }
        entries.insert(wide.clone(), LayerEntry::Dir(Owner::root(0o555)));
        let options = LayerOptions {
            epoch: 3,
            ..LayerOptions::default()
        };
        let layer = write_layer(&entries, &options, None).unwrap();
        let again = write_layer(&entries, &options, None).unwrap();
        assert_eq!(layer, again, "reproducible");
        let mut tar_bytes = Vec::new();
        flate2::read::GzDecoder::new(&layer.blob.bytes().unwrap()[..])
            .read_to_end(&mut tar_bytes)
            .unwrap();
        let mut ar = tar::Archive::new(&tar_bytes[..]);
        let mut got = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let keys: Vec<String> = e
                .pax_extensions()
                .unwrap()
                .map(|x| x.map(|x| x.unwrap().key().unwrap().to_string()).collect())
                .unwrap_or_default();
            assert!(keys.is_empty() || keys == ["path"], "{keys:?}");
            assert_eq!(e.header().mtime().unwrap(), 3);
            got.push(String::from_utf8(e.path_bytes().into_owned()).unwrap());
        }
        let mut want = vec![long_name, deep, wide];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn a_full_disk_names_the_entry_being_written() {
        let mut entries = BTreeMap::new();
        entries.insert(
            "etc/x".to_string(),
            LayerEntry::File(Owner::root(0o444), Content::Bytes(&[7; 70_000])),
        );
        let listed: Vec<(&String, &LayerEntry)> = entries.iter().collect();
        let Err(TarError::Write(at, e)) = write_layer_tar(&listed, &LayerOptions::default(), Full)
        else {
            panic!("expected a write error");
        };
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
        assert!(at == "etc/x" || at == "the end of the layer", "{at}");
    }
}
