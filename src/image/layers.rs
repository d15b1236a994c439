//! The layers of an image besides the binary: system files (CA bundle, zoneinfo,
//! `/etc/passwd` + `/etc/group`, `/tmp`) and the user's `files`.
//!
//! In: [`Node`]s — absolute paths with a mode, a numeric owner and, for a file, its
//! bytes. Out: a [`Layer`] holding them plus every parent folder they need, sorted.
//! Why apart from the binary's layer: layers are ordered by how often they change
//! (system files → user files → the binary), so a new binary leaves the other
//! layers' digests as they were and a registry or a node pulls only the binary
//! again. Implicit parent folders are `0555` root-owned; nothing from the host
//! (uid, gid, mtime) reaches the tar headers.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use super::layer_tar::{write_layer, Content, LayerEntry, Owner};
use super::source::OpenedFile;
use super::{Blob, Compression, Layer};
use crate::cache::Cache;

/// Mode of the folders a layer needs as parents but nobody configured.
pub const PARENT_MODE: u32 = 0o555;

/// The uid/gid of `nonroot` in the `/etc/passwd` that `passwd = true` writes.
pub const NONROOT_ID: u32 = 65532;

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

/// Build one gzip layer of `nodes` and their parent folders, spooled to
/// `spool_dir` when given. Two nodes at one path are an error.
pub fn build_node_layer(
    nodes: &[Node],
    epoch: u64,
    spool_dir: Option<&Path>,
    compression: super::Compression,
) -> Result<Layer> {
    Ok(build_node_layer_cached(nodes, epoch, spool_dir, compression, &Cache::off())?.0)
}

/// [`build_node_layer`], reusing the compressed layer from `cache` when the same
/// entries were compressed the same way before (`true`: reused).
pub fn build_node_layer_cached(
    nodes: &[Node],
    epoch: u64,
    spool_dir: Option<&Path>,
    compression: super::Compression,
    cache: &Cache,
) -> Result<(Layer, bool)> {
    let mut entries: BTreeMap<String, LayerEntry> = BTreeMap::new();
    for n in nodes {
        let rel = n.path.trim_start_matches('/');
        let owner = Owner {
            mode: n.mode,
            uid: n.uid,
            gid: n.gid,
        };
        let (key, entry) = match &n.data {
            Some(Data::Bytes(d)) => (rel.to_string(), LayerEntry::File(owner, Content::Bytes(d))),
            Some(Data::Opened(f)) => (rel.to_string(), LayerEntry::File(owner, Content::Opened(f))),
            None => (format!("{rel}/"), LayerEntry::Dir(owner)),
        };
        if entries.insert(key, entry).is_some() {
            anyhow::bail!("`{}` is added to the image twice", n.path);
        }
    }
    let mut parents = Vec::new();
    for key in entries.keys() {
        let trimmed = key.trim_end_matches('/');
        let mut at = 0;
        while let Some(pos) = trimmed[at..].find('/') {
            at += pos + 1;
            parents.push(trimmed[..at].to_string());
        }
    }
    for p in parents {
        if entries.contains_key(p.trim_end_matches('/')) {
            anyhow::bail!("`/{}` is a file and a folder", p.trim_end_matches('/'));
        }
        entries
            .entry(p)
            .or_insert(LayerEntry::Dir(Owner::root(PARENT_MODE)));
    }
    write_cached(&entries, epoch, spool_dir, compression, cache)
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
pub(super) type KeyRow = (&'static str, Owner, String);

/// The cache key of a layer: every byte of the tar follows from the entries
/// (path, kind, mode, owner, the sha256 of the data), the epoch of every header,
/// and the compression (its kind and level).
fn key_of(rows: &BTreeMap<String, KeyRow>, epoch: u64, compression: Compression) -> String {
    let mut parts: Vec<Vec<u8>> = vec![
        b"layer".to_vec(),
        epoch.to_le_bytes().to_vec(),
        format!("{compression:?}").into_bytes(),
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

/// [`key_of`] the entries, hashing each file's data.
fn layer_key(
    entries: &BTreeMap<String, LayerEntry<'_>>,
    epoch: u64,
    compression: Compression,
) -> String {
    let rows = entries
        .iter()
        .map(|(path, entry)| {
            let row = match entry {
                LayerEntry::Dir(o) => ("dir", *o, String::new()),
                LayerEntry::File(o, c) => ("file", *o, c.digest()),
            };
            (path.clone(), row)
        })
        .collect();
    key_of(&rows, epoch, compression)
}

/// The layer stored under `key`, if the cache holds a sound one.
fn load(cache: &Cache, key: &str, compression: Compression) -> Option<Layer> {
    let entry = cache.load("layer", key)?;
    let meta = serde_json::from_slice::<LayerMeta>(&entry.meta).ok()?;
    let blob = Blob::in_file(
        super::layer_media_type(compression),
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

/// The layer of the entries `rows` describe, if the cache holds it: nothing is
/// compressed, and the files' bytes need not be at hand (only their digests).
pub(super) fn cached(
    rows: &BTreeMap<String, KeyRow>,
    epoch: u64,
    compression: Compression,
    cache: &Cache,
) -> Option<Layer> {
    load(cache, &key_of(rows, epoch, compression), compression)
}

/// Compress `entries` into a layer, or take the layer compressed from the same
/// entries before out of `cache` (`true`: reused). A fresh layer is stored.
pub(super) fn write_cached(
    entries: &BTreeMap<String, LayerEntry<'_>>,
    epoch: u64,
    spool_dir: Option<&Path>,
    compression: Compression,
    cache: &Cache,
) -> Result<(Layer, bool)> {
    if !cache.is_on() {
        return Ok((write_layer(entries, epoch, spool_dir, compression)?, false));
    }
    let key = layer_key(entries, epoch, compression);
    if let Some(layer) = load(cache, &key, compression) {
        return Ok((layer, true));
    }
    let layer = write_layer(entries, epoch, spool_dir, compression)?;
    let meta = LayerMeta {
        digest: layer.blob.digest.clone(),
        diff_id: layer.diff_id.clone(),
        uncompressed_size: layer.uncompressed_size,
    };
    // A cache that cannot be written is no cache: the layer is still right.
    let _ = cache.store(
        "layer",
        &key,
        &serde_json::to_vec(&meta)?,
        &mut layer.blob.reader(),
    );
    Ok((layer, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_layer_is_found_by_its_files_digest_without_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::under(dir.path(), true);
        let data = b"\x7fELF pretend binary".to_vec();
        let file = [crate::image::LayerFile {
            path: "/usr/bin/app".into(),
            mode: 0o555,
            data: &data,
        }];
        let c = Compression::Gzip;
        let digest = crate::digest::sha256_digest(&data);
        let find = |mode, digest: &str, epoch| {
            crate::image::cached_file_layer("/usr/bin/app", mode, digest, epoch, c, &cache)
        };
        assert!(find(0o555, &digest, 0).is_none(), "nothing stored yet");
        let (made, hit) = crate::image::build_layer_cached(&file, 0, None, c, &cache).unwrap();
        assert!(!hit);
        let found = find(0o555, &digest, 0).expect("the same key as the built layer");
        assert_eq!(found.blob.digest, made.blob.digest);
        assert_eq!(found.diff_id, made.diff_id);
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
        let layer = build_node_layer(&nodes, 7, None, crate::image::Compression::Gzip).unwrap();
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
        assert_eq!(
            build_node_layer(&nodes, 7, None, crate::image::Compression::Gzip).unwrap(),
            layer
        );
    }

    #[test]
    fn a_path_twice_or_as_file_and_folder_is_refused() {
        let twice = [Node::dir("/a", 0o555), Node::dir("/a", 0o755)];
        assert!(build_node_layer(&twice, 0, None, crate::image::Compression::Gzip).is_err());
        let both = [
            Node::file("/a", 0o444, vec![]),
            Node::file("/a/b", 0o444, vec![]),
        ];
        let e = build_node_layer(&both, 0, None, crate::image::Compression::Gzip)
            .unwrap_err()
            .to_string();
        assert!(e.contains("file and a folder"), "{e}");
    }
}
