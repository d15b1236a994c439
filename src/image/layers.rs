//! The one layer builder: the files of a layer → a [`Layer`], compressed, or
//! taken from the rebuild cache when the same entries were compressed the same
//! way before.
//!
//! In: the entries of one layer — root-owned [`LayerFile`]s (the binary), or
//! [`Node`]s, absolute paths with a mode, a numeric owner and, for a file, its
//! bytes (system files: CA bundle, zoneinfo, `/etc/passwd` + `/etc/group`,
//! `/tmp`; the user's `files`) — and the build's [`LayerOptions`]. Out: a
//! [`BuiltLayer`] holding them plus every parent folder they need, sorted, and
//! whether the cache held it. Why one builder: every layer has the same cache key
//! (each entry's path, kind, owner, mode and data digest, with the epoch and the
//! compression), and layers are ordered by how often they change (system files →
//! user files → the binary), so a new binary leaves the other layers' digests as
//! they were and a registry or a node pulls only the binary again. Implicit
//! parent folders are root-owned, `0755` above a [`LayerFile`] and `0555` above a
//! [`Node`]; nothing from the host (uid, gid, mtime) reaches the tar headers.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use super::layer_tar::{write_layer, Content, LayerEntry, Owner};
use super::source::OpenedFile;
use super::{Blob, Layer, LayerOptions};
use crate::cache::Cache;

/// Mode of the folders a layer of [`Node`]s needs as parents but nobody configured.
pub const PARENT_MODE: u32 = 0o555;

/// Mode of the folders above a [`LayerFile`] (the binary's path).
pub const FILE_PARENT_MODE: u32 = 0o755;

/// The uid/gid of `nonroot` in the `/etc/passwd` that `passwd = true` writes.
pub const NONROOT_ID: u32 = 65532;

/// One root-owned file to put in a layer, its bytes borrowed.
#[derive(Debug, Clone)]
pub struct LayerFile<'a> {
    /// Absolute path inside the image.
    pub path: String,
    pub mode: u32,
    pub data: &'a [u8],
}

/// One entry of a layer: a file (with its bytes) or a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Absolute path inside the image, without a trailing `/`.
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// `None`: a folder.
    pub data: Option<Data>,
}

/// The bytes of a file node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// Made here (`/etc/passwd`) or read whole (the CA bundle).
    Bytes(Vec<u8>),
    /// A user's file, streamed from its handle into the layer.
    Opened(OpenedFile),
}

impl Node {
    /// A root-owned file.
    pub fn file(path: impl Into<String>, mode: u32, data: Vec<u8>) -> Node {
        Node {
            path: path.into(),
            mode,
            uid: 0,
            gid: 0,
            data: Some(Data::Bytes(data)),
        }
    }

    /// A root-owned folder.
    pub fn dir(path: impl Into<String>, mode: u32) -> Node {
        Node {
            path: path.into(),
            mode,
            uid: 0,
            gid: 0,
            data: None,
        }
    }
}

/// `/etc/passwd` and `/etc/group` with `root` (0) and `nonroot` (65532), so
/// `getpwuid(65532)` resolves and `user = "nonroot"` names someone.
pub fn passwd() -> Vec<Node> {
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT_ID}:{NONROOT_ID}:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnonroot:x:{NONROOT_ID}:\n");
    vec![
        Node::file("/etc/group", 0o444, group.into_bytes()),
        Node::file("/etc/passwd", 0o444, passwd.into_bytes()),
    ]
}

/// `/tmp`, world-writable with the sticky bit, as on every Unix.
pub fn tmp() -> Node {
    Node::dir("/tmp", 0o1777)
}

/// A layer, and whether it came from the rebuild cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    pub layer: Layer,
    pub reused: bool,
}

/// The entries of one layer before it is written: each at its path relative to
/// the root (folders ending in `/`), every parent folder present, sorted as the
/// tar lists them.
pub struct LayerBuilder<'a> {
    entries: BTreeMap<String, LayerEntry<'a>>,
}

impl<'a> LayerBuilder<'a> {
    /// A layer of root-owned `files`. Two files at one path are an error.
    pub fn files(files: &[LayerFile<'a>]) -> Result<Self> {
        let mut layer = LayerBuilder {
            entries: BTreeMap::new(),
        };
        for f in files {
            let entry = LayerEntry::File(Owner::root(f.mode), Content::Bytes(f.data));
            layer.add(&f.path, entry)?;
        }
        layer.with_parents(FILE_PARENT_MODE)
    }

    /// A layer of one root-owned file (the binary's).
    pub fn file(path: &str, mode: u32, data: &'a [u8]) -> Result<Self> {
        let path = path.to_string();
        LayerBuilder::files(&[LayerFile { path, mode, data }])
    }

    /// A layer of `nodes`. Two nodes at one path, or a path that is a file and
    /// also the folder of another, are an error.
    pub fn nodes(nodes: &'a [Node]) -> Result<Self> {
        let mut layer = LayerBuilder {
            entries: BTreeMap::new(),
        };
        for n in nodes {
            let owner = Owner {
                mode: n.mode,
                uid: n.uid,
                gid: n.gid,
            };
            let entry = match &n.data {
                Some(Data::Bytes(d)) => LayerEntry::File(owner, Content::Bytes(d)),
                Some(Data::Opened(f)) => LayerEntry::File(owner, Content::Opened(f)),
                None => LayerEntry::Dir(owner),
            };
            layer.add(&n.path, entry)?;
        }
        layer.with_parents(PARENT_MODE)
    }

    fn add(&mut self, path: &str, entry: LayerEntry<'a>) -> Result<()> {
        let rel = path.trim_start_matches('/');
        let key = match entry {
            LayerEntry::Dir(_) => format!("{rel}/"),
            LayerEntry::File(..) => rel.to_string(),
        };
        if self.entries.insert(key, entry).is_some() {
            anyhow::bail!("`{path}` is added to the image twice");
        }
        Ok(())
    }

    /// Every parent folder not listed, root-owned with `mode`.
    fn with_parents(mut self, mode: u32) -> Result<Self> {
        let parents: Vec<String> = self.entries.keys().flat_map(|k| parents_of(k)).collect();
        for p in parents {
            let path = p.trim_end_matches('/');
            if self.entries.contains_key(path) {
                anyhow::bail!("`/{path}` is a file and a folder");
            }
            self.entries
                .entry(p)
                .or_insert(LayerEntry::Dir(Owner::root(mode)));
        }
        Ok(self)
    }

    /// The layer: out of the cache when it holds one of these entries written
    /// with these options, else compressed (spooled to an unnamed file in
    /// `spool` when given, in memory otherwise) and stored.
    pub fn build(&self, options: &LayerOptions, spool: Option<&Path>) -> Result<BuiltLayer> {
        // No cache, no key: the files' bytes are not hashed for nothing.
        let key = options.cache.is_on().then(|| key_of(&self.rows(), options));
        if let Some(layer) = key.as_deref().and_then(|k| load(options, k)) {
            return Ok(BuiltLayer {
                layer,
                reused: true,
            });
        }
        let layer = write_layer(&self.entries, options, spool)?;
        if let Some(key) = &key {
            store(&options.cache, key, &layer)?;
        }
        Ok(BuiltLayer {
            layer,
            reused: false,
        })
    }

    /// What decides the layer's bytes, entry by entry, the files' data hashed.
    fn rows(&self) -> BTreeMap<String, KeyRow> {
        self.entries
            .iter()
            .map(|(path, entry)| {
                let row = match entry {
                    LayerEntry::Dir(o) => ("dir", *o, String::new()),
                    LayerEntry::File(o, c) => ("file", *o, c.digest()),
                };
                (path.clone(), row)
            })
            .collect()
    }

    /// The layer [`LayerBuilder::file`] makes of a file, if the cache holds
    /// it, knowing only the `sha256:<hex>` of the file's bytes: nothing is
    /// compressed and the bytes need not be read (`None`: build it from them).
    pub fn cached_file(
        path: &str,
        mode: u32,
        digest: &str,
        options: &LayerOptions,
    ) -> Option<Layer> {
        let rel = path.trim_start_matches('/');
        let mut rows: BTreeMap<String, KeyRow> = parents_of(rel)
            .map(|d| (d, ("dir", Owner::root(FILE_PARENT_MODE), String::new())))
            .collect();
        rows.insert(
            rel.to_string(),
            ("file", Owner::root(mode), digest.to_string()),
        );
        load(options, &key_of(&rows, options))
    }
}

/// The folders above the relative path `key`, each ending in `/`
/// (`usr/bin/app` → `usr/`, `usr/bin/`).
fn parents_of(key: &str) -> impl Iterator<Item = String> + '_ {
    let trimmed = key.trim_end_matches('/');
    trimmed
        .match_indices('/')
        .map(move |(at, _)| trimmed[..=at].to_string())
}

/// What a cached layer entry records beside the compressed bytes.
#[derive(serde::Serialize, serde::Deserialize)]
struct LayerMeta {
    digest: String,
    diff_id: String,
    uncompressed_size: u64,
}

/// What decides a layer's bytes about one entry: its kind (`dir`, `file`), its
/// owner and mode, and the `sha256:<hex>` of its data (empty for a directory).
type KeyRow = (&'static str, Owner, String);

/// The cache key of a layer: every byte of the tar follows from the entries
/// (path, kind, mode, owner, the sha256 of the data), the epoch of every header,
/// and the compression (its kind and level).
fn key_of(rows: &BTreeMap<String, KeyRow>, options: &LayerOptions) -> String {
    let mut parts: Vec<Vec<u8>> = vec![
        b"layer".to_vec(),
        options.epoch.to_le_bytes().to_vec(),
        format!("{:?}", options.compression).into_bytes(),
    ];
    for (path, (kind, owner, digest)) in rows {
        parts.push(path.as_bytes().to_vec());
        parts.push(
            format!(
                "{kind} {:o} {} {} {digest}",
                owner.mode, owner.uid, owner.gid
            )
            .into_bytes(),
        );
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    crate::cache::key(&refs)
}

/// The layer stored under `key`, if the cache holds a sound one.
fn load(options: &LayerOptions, key: &str) -> Option<Layer> {
    let entry = options.cache.load("layer", key)?;
    let meta = serde_json::from_slice::<LayerMeta>(&entry.meta).ok()?;
    let blob = Blob::in_file(
        super::layer_media_type(options.compression),
        meta.digest,
        entry.file,
        0,
        entry.payload_len,
    );
    Some(Layer {
        blob,
        diff_id: meta.diff_id,
        uncompressed_size: meta.uncompressed_size,
    })
}

/// Keep a fresh `layer` under `key`.
fn store(cache: &Cache, key: &str, layer: &Layer) -> Result<()> {
    let meta = LayerMeta {
        digest: layer.blob.digest.clone(),
        diff_id: layer.diff_id.clone(),
        uncompressed_size: layer.uncompressed_size,
    };
    // A cache that cannot be written is no cache: the layer is still right.
    let _ = cache.store(
        "layer",
        key,
        &serde_json::to_vec(&meta)?,
        &mut layer.blob.reader(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A layer of `nodes` at `epoch`, gzip, no cache.
    fn node_layer(nodes: &[Node], epoch: u64) -> Result<Layer> {
        let options = LayerOptions {
            epoch,
            ..LayerOptions::default()
        };
        Ok(LayerBuilder::nodes(nodes)?.build(&options, None)?.layer)
    }

    #[test]
    fn a_layer_is_found_by_its_files_digest_without_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"\x7fELF pretend binary".to_vec();
        let options = |epoch| LayerOptions {
            epoch,
            compression: crate::image::Compression::Gzip,
            cache: Cache::under(dir.path(), true),
        };
        let digest = crate::digest::sha256_digest(&data);
        let find = |mode, digest: &str, epoch| {
            LayerBuilder::cached_file("/usr/bin/app", mode, digest, &options(epoch))
        };
        assert!(find(0o555, &digest, 0).is_none(), "nothing stored yet");
        let built = LayerBuilder::file("/usr/bin/app", 0o555, &data).unwrap();
        let made = built.build(&options(0), None).unwrap();
        assert!(!made.reused);
        let found = find(0o555, &digest, 0).expect("the same key as the built layer");
        assert_eq!(found.blob.digest, made.layer.blob.digest);
        assert_eq!(found.diff_id, made.layer.diff_id);
        let again = built.build(&options(0), None).unwrap();
        assert!(again.reused && again.layer == made.layer, "{again:?}");
        let other = crate::digest::sha256_digest(b"other bytes");
        assert!(find(0o555, &other, 0).is_none(), "another binary");
        assert!(find(0o755, &digest, 0).is_none(), "another mode");
        assert!(find(0o555, &digest, 1).is_none(), "another epoch");
    }

    fn listing(layer: &Layer) -> Vec<(String, u32, u64, u64)> {
        let mut tar_bytes = Vec::new();
        flate2::read::GzDecoder::new(&layer.blob.bytes().unwrap()[..])
            .read_to_end(&mut tar_bytes)
            .unwrap();
        let mut ar = tar::Archive::new(&tar_bytes[..]);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn nodes_get_sorted_parents_owners_and_the_epoch() {
        let mut nodes = passwd();
        nodes.push(tmp());
        nodes.push(Node {
            uid: 65532,
            gid: 65532,
            ..Node::dir("/data", 0o755)
        });
        nodes.push(Node::file("/srv/www/index.html", 0o444, b"hi".to_vec()));
        let layer = node_layer(&nodes, 7).unwrap();
        assert_eq!(
            listing(&layer),
            [
                ("data/".to_string(), 0o755, 65532, 7),
                ("etc/".into(), 0o555, 0, 7),
                ("etc/group".into(), 0o444, 0, 7),
                ("etc/passwd".into(), 0o444, 0, 7),
                ("srv/".into(), 0o555, 0, 7),
                ("srv/www/".into(), 0o555, 0, 7),
                ("srv/www/index.html".into(), 0o444, 0, 7),
                ("tmp/".into(), 0o1777, 0, 7),
            ]
        );
        assert_eq!(node_layer(&nodes, 7).unwrap(), layer);
    }

    #[test]
    fn a_path_twice_or_as_file_and_folder_is_refused() {
        let twice = [Node::dir("/a", 0o555), Node::dir("/a", 0o755)];
        assert!(node_layer(&twice, 0).is_err());
        let both = [
            Node::file("/a", 0o444, vec![]),
            Node::file("/a/b", 0o444, vec![]),
        ];
        let e = node_layer(&both, 0).unwrap_err().to_string();
        assert!(e.contains("file and a folder"), "{e}");
    }
}
