//! Invariant checker for the image tarballs cargo-slim writes (in the spirit of
//! go-containerregistry's `pkg/v1/validate`).
//!
//! Every tarball the test suite produces is run through [`validate_tarball`],
//! and `push` runs it before uploading anything, so a broken image is caught
//! here with a precise message instead of as an opaque failure in `docker load`,
//! `podman load`, `skopeo` or a registry.
//!
//! The layout checked (one uncompressed outer tar, entries in exactly this order):
//!
//! ```text
//! oci-layout        {"imageLayoutVersion":"1.0.0"}
//! index.json        OCI index: one manifest descriptor with platform and the
//!                   io.containerd.image.name / org.opencontainers.image.ref.name
//!                   annotations, both the full reference
//! manifest.json     docker-archive form: [{"Config":..,"RepoTags":[ref],"Layers":[..]}]
//! blobs/sha256/<C>  image config
//! blobs/sha256/<L>  layer(s), tar+gzip, in manifest order
//! blobs/sha256/<M>  OCI image manifest
//! ```
//!
//! Checks:
//!
//! 1. Outer entry names and order exactly as above, no other entries, no
//!    duplicates; each outer header is ustar, a regular file, mode 0644,
//!    uid/gid 0, empty uname/gname, the same mtime for all entries; only zero
//!    bytes after the end-of-archive marker.
//! 2. `oci-layout` is exactly `{"imageLayoutVersion":"1.0.0"}`.
//! 3. Every blob's sha256 equals its file name; every descriptor's size and
//!    digest (index → manifest, manifest → config, manifest → layers) matches
//!    the real blob; the docker `manifest.json` Config/Layers paths and
//!    RepoTags agree with the OCI manifest and the index reference.
//! 4. Media types of index, manifest, config and layers (tar+gzip).
//! 5. `config.rootfs.type == "layers"`, `rootfs.diff_ids[i]` is the sha256 of
//!    the gunzipped layer `i`, one diff_id per layer; config
//!    architecture/os/variant equal the index platform.
//! 6. Config, manifest and index.json are canonical JSON: the bytes equal the
//!    compact re-serialisation of the parsed value with object keys sorted by
//!    byte order (what serde_json produces with its default `BTreeMap`). The
//!    sorting is done here explicitly, so the check holds even if serde_json's
//!    `preserve_order` feature gets unified in.
//! 7. Layer tars: entries sorted by their tar path in byte order, exactly as
//!    stored (so a directory written as `etc/` sorts after `etc-release`, as
//!    `image::build_layer` writes it); every parent directory present as a
//!    directory entry before its children; no duplicates, no absolute paths,
//!    no `.`/`..` or empty components; uid = gid = 0, empty uname/gname, every
//!    mtime equal to the outer mtime (PAX overrides included); only regular
//!    files, directories and symlinks (no hard links, devices or fifos); only
//!    zero bytes after the end-of-archive marker.
//! 8. Each layer's gzip stream is read to its end, nothing follows it, and the
//!    gzip header mtime is 0.
//!
//! Every violation is an error whose message (plain `Display`, no context
//! chain needed) names the entry and the expected and actual values. The
//! error wraps a [`Violation`], so callers can also `downcast_ref` it.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use crate::digest::{is_sha256_hex, sha256_hex};
use anyhow::{anyhow, Result};
use serde::Deserialize;
use serde_json::Value;

/// `mediaType` of the OCI image index (`index.json`).
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `mediaType` of the OCI image manifest.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `mediaType` of the OCI image config.
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// `mediaType` of a gzip-compressed layer.
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Exact content of the `oci-layout` entry.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// Annotation containerd (and `docker load` with the containerd store) reads the name from.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// OCI reference annotation; set to the full reference as well.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

const FIXED_ENTRIES: [&str; 3] = ["oci-layout", "index.json", "manifest.json"];
const BLOB_PREFIX: &str = "blobs/sha256/";

/// A validated image tarball.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidImage {
    /// Full reference, e.g. `localhost/hello:0.1.0` (from the index.json annotations).
    pub reference: String,
    /// `sha256:<hex>` of the OCI manifest blob.
    pub manifest_digest: String,
    pub manifest_size: u64,
    /// `sha256:<hex>` of the image config blob.
    pub config_digest: String,
    pub config_size: u64,
    /// Layers in manifest order.
    pub layers: Vec<ValidLayer>,
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
    /// The mtime of every outer tar entry (and of every layer entry).
    pub mtime: u64,
    /// The parsed image config.
    pub config: Value,
    pub manifest_bytes: Vec<u8>,
    pub config_bytes: Vec<u8>,
}

impl ValidImage {
    /// The entry for `path` in the topmost layer that has it (leading `/` or
    /// `./` and a trailing `/` are ignored). Whiteouts are not interpreted.
    pub fn find(&self, path: &str) -> Option<&LayerEntry> {
        let want = normalize_lookup(path);
        self.layers
            .iter()
            .rev()
            .find_map(|l| l.files.iter().find(|e| e.path == want))
    }
}

/// One validated layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidLayer {
    /// `sha256:<hex>` of the compressed blob.
    pub digest: String,
    /// Compressed size.
    pub size: u64,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    pub uncompressed_size: u64,
    /// Entries in tar order.
    pub files: Vec<LayerEntry>,
}

/// One entry of a layer tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    /// Relative path without a trailing `/` (directories too), e.g. `etc`, `etc/passwd`.
    pub path: String,
    /// `'f'` regular file, `'d'` directory, `'l'` symlink.
    pub kind: char,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    pub size: u64,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

/// An invariant violation: which entry, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {detail}")]
pub struct Violation {
    /// The outer tar entry (or document) at fault, e.g. `index.json` or `blobs/sha256/…`.
    pub entry: String,
    /// Expected vs actual.
    pub detail: String,
}

fn violation(entry: impl Into<String>, detail: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Violation {
        entry: entry.into(),
        detail: detail.into(),
    })
}

macro_rules! bail_at {
    ($entry:expr, $($fmt:tt)+) => {
        return Err(violation($entry, format!($($fmt)+)))
    };
}

macro_rules! ensure_at {
    ($cond:expr, $entry:expr, $($fmt:tt)+) => {
        if !$cond {
            bail_at!($entry, $($fmt)+);
        }
    };
}

/// Validate the image tarball at `path`.
pub fn validate_tarball(path: &Path) -> Result<ValidImage> {
    let file = open(path)?;
    Ok(validate_inner(std::io::BufReader::new(file), Depth::Full)?.0)
}

/// Validate an image tarball read from `r`.
pub fn validate_reader<R: Read>(r: R) -> Result<ValidImage> {
    Ok(validate_inner(r, Depth::Full)?.0)
}

/// Read one file's bytes out of a layer (for tests that extract the binary).
///
/// The tarball is validated first. The topmost layer holding `path_in_layer`
/// wins; a leading `/` or `./` is ignored. Directories and symlinks are errors.
pub fn read_layer_file(tarball: &Path, path_in_layer: &str) -> Result<Vec<u8>> {
    let file = open(tarball)?;
    let (_, layer_tars) = validate_inner(std::io::BufReader::new(file), Depth::KeepLayerTars)?;
    let want = normalize_lookup(path_in_layer);
    for (i, tar_bytes) in layer_tars.iter().enumerate().rev() {
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let entries = archive
            .entries()
            .map_err(|e| anyhow!("reading layer {i} of {}: {e}", tarball.display()))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| anyhow!("reading layer {i} of {}: {e}", tarball.display()))?;
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if normalize_lookup(&path) != want {
                continue;
            }
            match entry.header().entry_type() {
                tar::EntryType::Regular => {
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).map_err(|e| {
                        anyhow!(
                            "reading `{want}` from layer {i} of {}: {e}",
                            tarball.display()
                        )
                    })?;
                    return Ok(data);
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    anyhow::bail!(
                        "`{want}` in layer {i} of {} is a symlink to `{target}`, not a regular file",
                        tarball.display()
                    );
                }
                other => anyhow::bail!(
                    "`{want}` in layer {i} of {} is a {other:?} entry, not a regular file",
                    tarball.display()
                ),
            }
        }
    }
    anyhow::bail!(
        "`{want}` is not in any of the {} layer(s) of {}",
        layer_tars.len(),
        tarball.display()
    )
}

fn open(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| anyhow!("opening image tarball {}: {e}", path.display()))
}

fn normalize_lookup(path: &str) -> String {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            break;
        }
    }
    p.trim_end_matches('/').to_string()
}

// ---------------------------------------------------------------------------
// JSON documents

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    architecture: String,
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Compact JSON with object keys sorted by byte order, independent of
/// serde_json's `preserve_order` feature.
fn canonical_json(v: &Value) -> Vec<u8> {
    fn write(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push(b'{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut *out, k).expect("writing JSON into a Vec");
                    out.push(b':');
                    write(&map[k], out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(item, out);
                }
                out.push(b']');
            }
            scalar => serde_json::to_writer(&mut *out, scalar).expect("writing JSON into a Vec"),
        }
    }
    let mut out = Vec::new();
    write(v, &mut out);
    out
}

/// Parse `bytes` as JSON and require them to be canonical.
fn parse_canonical(entry: &str, what: &str, bytes: &[u8]) -> Result<Value> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| violation(entry, format!("{what} is not valid JSON: {e}")))?;
    let canonical = canonical_json(&value);
    if canonical != bytes {
        let pos = canonical
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| canonical.len().min(bytes.len()));
        bail_at!(
            entry,
            "{what} is not canonical JSON (compact, object keys sorted): first difference at byte \
             {pos}: expected {:?}, found {:?} ({} canonical bytes, {} actual)",
            snippet(&canonical, pos),
            snippet(bytes, pos),
            canonical.len(),
            bytes.len()
        );
    }
    Ok(value)
}

fn snippet(bytes: &[u8], pos: usize) -> String {
    let end = (pos + 24).min(bytes.len());
    String::from_utf8_lossy(&bytes[pos.min(end)..end]).into_owned()
}

fn from_value<T: for<'de> Deserialize<'de>>(entry: &str, what: &str, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| violation(entry, format!("invalid {what}: {e}")))
}

// ---------------------------------------------------------------------------
// Digests

/// `sha256:<hex>` → `blobs/sha256/<hex>`, or a violation naming `entry`/`field`.
fn blob_name_of(entry: &str, field: &str, digest: &str) -> Result<String> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if is_sha256_hex(hex) => Ok(format!("{BLOB_PREFIX}{hex}")),
        _ => bail_at!(
            entry,
            "{field} digest `{digest}` is not `sha256:` followed by 64 lowercase hex digits"
        ),
    }
}

// ---------------------------------------------------------------------------
// Outer tar

struct OuterEntry {
    name: String,
    data: Vec<u8>,
}

struct OuterTar {
    entries: Vec<OuterEntry>,
    mtime: u64,
}

fn read_outer<R: Read>(r: R) -> Result<OuterTar> {
    let mut archive = tar::Archive::new(r);
    let mut entries: Vec<OuterEntry> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut mtime: Option<(u64, String)> = None;
    {
        let iter = archive
            .entries()
            .map_err(|e| anyhow!("reading the outer tar: {e}"))?
            .raw(true);
        for (i, entry) in iter.enumerate() {
            let mut entry = entry.map_err(|e| anyhow!("reading outer tar entry #{i}: {e}"))?;
            let header = entry.header().clone();
            let name = match std::str::from_utf8(&header.path_bytes()) {
                Ok(n) => n.to_string(),
                Err(_) => bail_at!(
                    format!("outer tar entry #{i}"),
                    "name {:?} is not UTF-8",
                    String::from_utf8_lossy(&header.path_bytes())
                ),
            };

            // Name and position.
            let is_blob = name.strip_prefix(BLOB_PREFIX).is_some_and(is_sha256_hex);
            if !FIXED_ENTRIES.contains(&name.as_str()) && !is_blob {
                bail_at!(
                    &name,
                    "unexpected outer tar entry #{i}: only oci-layout, index.json, manifest.json \
                     and blobs/sha256/<64 lowercase hex> may appear"
                );
            }
            ensure_at!(
                seen.insert(name.clone()),
                &name,
                "duplicate outer tar entry (again at #{i})"
            );
            if let Some(want) = FIXED_ENTRIES.get(i) {
                ensure_at!(
                    name == *want,
                    &name,
                    "outer tar entry #{i} must be `{want}`, found `{name}` (order must be \
                     oci-layout, index.json, manifest.json, config, layers…, manifest)"
                );
            } else {
                ensure_at!(
                    is_blob,
                    &name,
                    "outer tar entry #{i} must be a blob (blobs/sha256/…), found `{name}`"
                );
            }

            check_outer_header(&name, &header, &mut mtime)?;

            let size = header
                .size()
                .map_err(|e| violation(&name, format!("bad size field: {e}")))?;
            let mut data = Vec::with_capacity(size.min(256 << 20) as usize);
            entry
                .read_to_end(&mut data)
                .map_err(|e| anyhow!("reading outer tar entry `{name}`: {e}"))?;
            entries.push(OuterEntry { name, data });
        }
    }
    let mut rest = Vec::new();
    archive
        .into_inner()
        .read_to_end(&mut rest)
        .map_err(|e| anyhow!("reading the end of the outer tar: {e}"))?;
    if let Some(pos) = rest.iter().position(|&b| b != 0) {
        bail_at!(
            "outer tar",
            "non-zero data at byte {pos} after the end-of-archive marker ({} trailing bytes)",
            rest.len()
        );
    }
    Ok(OuterTar {
        entries,
        mtime: mtime.map(|(m, _)| m).unwrap_or(0),
    })
}

fn check_outer_header(
    name: &str,
    header: &tar::Header,
    mtime: &mut Option<(u64, String)>,
) -> Result<()> {
    let raw = header.as_bytes();
    ensure_at!(
        header.as_ustar().is_some(),
        name,
        "outer tar header is not ustar: magic+version {:?}, expected \"ustar\\0\" \"00\"",
        String::from_utf8_lossy(&raw[257..265])
    );
    let typeflag = raw[156];
    ensure_at!(
        typeflag == b'0',
        name,
        "outer tar entry type is {:?} ({}), expected '0' (regular file)",
        typeflag as char,
        describe_type(header.entry_type())
    );
    let mode = header
        .mode()
        .map_err(|e| violation(name, format!("bad mode field: {e}")))?;
    ensure_at!(
        mode == 0o644,
        name,
        "outer tar mode is {mode:#o}, expected 0o644"
    );
    let uid = header
        .uid()
        .map_err(|e| violation(name, format!("bad uid field: {e}")))?;
    let gid = header
        .gid()
        .map_err(|e| violation(name, format!("bad gid field: {e}")))?;
    ensure_at!(uid == 0, name, "outer tar uid is {uid}, expected 0");
    ensure_at!(gid == 0, name, "outer tar gid is {gid}, expected 0");
    let uname = header.username_bytes().unwrap_or_default();
    let gname = header.groupname_bytes().unwrap_or_default();
    ensure_at!(
        uname.is_empty(),
        name,
        "outer tar uname is {:?}, expected empty",
        String::from_utf8_lossy(uname)
    );
    ensure_at!(
        gname.is_empty(),
        name,
        "outer tar gname is {:?}, expected empty",
        String::from_utf8_lossy(gname)
    );
    let link = header.link_name_bytes().unwrap_or_default();
    ensure_at!(
        link.is_empty(),
        name,
        "outer tar link name is {:?}, expected empty",
        String::from_utf8_lossy(&link)
    );
    let m = header
        .mtime()
        .map_err(|e| violation(name, format!("bad mtime field: {e}")))?;
    match mtime {
        None => *mtime = Some((m, name.to_string())),
        Some((first, first_name)) => ensure_at!(
            m == *first,
            name,
            "outer tar mtime is {m}, but `{first_name}` has {first}: all entries must share one mtime"
        ),
    }
    Ok(())
}

fn describe_type(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Regular => "regular file",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Directory => "directory",
        tar::EntryType::Fifo => "fifo",
        tar::EntryType::Continuous => "contiguous file",
        tar::EntryType::GNULongName => "GNU long name",
        tar::EntryType::GNULongLink => "GNU long link",
        tar::EntryType::GNUSparse => "GNU sparse file",
        tar::EntryType::XGlobalHeader => "PAX global header",
        tar::EntryType::XHeader => "PAX header",
        _ => "unknown type",
    }
}

// ---------------------------------------------------------------------------
// The whole image

/// How far to look into the layers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// Outer tar, JSON documents, every blob's digest and size; layers are not
    /// uncompressed (their `diff_id`s and `files` are taken from the config / left empty).
    Blobs,
    Full,
    KeepLayerTars,
}

/// The checks a push needs before uploading: the outer tar, the JSON documents,
/// and every blob's digest and size — without uncompressing the layers, which
/// the registry never looks into. Every invariant of [`validate_tarball`] except
/// the layers' contents and `diff_id`s.
pub fn validate_blobs(path: &Path) -> Result<ValidImage> {
    let file = open(path)?;
    Ok(validate_inner(std::io::BufReader::new(file), Depth::Blobs)?.0)
}

fn validate_inner<R: Read>(r: R, depth: Depth) -> Result<(ValidImage, Vec<Vec<u8>>)> {
    let outer = read_outer(r)?;
    // Hashing the blobs and gunzipping the layers are the two big costs: do them on
    // two cores. A blob whose content does not match its name is reported first.
    std::thread::scope(|s| {
        let names = s.spawn(|| check_blob_names(&outer.entries));
        let rest = validate_entries(&outer, depth);
        names
            .join()
            .map_err(|_| anyhow!("the blob hashing thread panicked"))??;
        rest
    })
}

/// Every blob's sha256 equals the digest in its name.
fn check_blob_names(entries: &[OuterEntry]) -> Result<()> {
    for e in entries {
        if let Some(hex) = e.name.strip_prefix(BLOB_PREFIX) {
            let actual = sha256_hex(&e.data);
            ensure_at!(
                actual == hex,
                &e.name,
                "blob content has sha256:{actual}, but its name says sha256:{hex}"
            );
        }
    }
    Ok(())
}

fn validate_entries(outer: &OuterTar, depth: Depth) -> Result<(ValidImage, Vec<Vec<u8>>)> {
    let entries = &outer.entries;
    let mtime = outer.mtime;
    for (i, want) in FIXED_ENTRIES.iter().enumerate() {
        ensure_at!(
            i < entries.len(),
            *want,
            "missing: the tarball has only {} entries",
            entries.len()
        );
    }

    // 2. oci-layout
    let layout = &entries[0].data;
    ensure_at!(
        layout.as_slice() == OCI_LAYOUT,
        "oci-layout",
        "content is {:?}, expected {:?}",
        String::from_utf8_lossy(layout),
        String::from_utf8_lossy(OCI_LAYOUT)
    );

    // index.json
    let index_value = parse_canonical("index.json", "OCI index", &entries[1].data)?;
    let index: Index = from_value("index.json", "OCI image index", index_value)?;
    ensure_at!(
        index.schema_version == 2,
        "index.json",
        "schemaVersion is {}, expected 2",
        index.schema_version
    );
    ensure_at!(
        index.media_type.as_deref() == Some(MEDIA_TYPE_INDEX),
        "index.json",
        "mediaType is {}, expected {MEDIA_TYPE_INDEX:?}",
        show(index.media_type.as_deref())
    );
    ensure_at!(
        index.manifests.len() == 1,
        "index.json",
        "has {} manifest descriptors, expected exactly 1",
        index.manifests.len()
    );
    let index_desc = &index.manifests[0];
    ensure_at!(
        index_desc.media_type == MEDIA_TYPE_MANIFEST,
        "index.json",
        "manifests[0].mediaType is {:?}, expected {MEDIA_TYPE_MANIFEST:?}",
        index_desc.media_type
    );
    let Some(platform) = &index_desc.platform else {
        bail_at!("index.json", "manifests[0] has no platform");
    };
    ensure_at!(
        !platform.architecture.is_empty() && !platform.os.is_empty(),
        "index.json",
        "manifests[0].platform architecture {:?} / os {:?} must not be empty",
        platform.architecture,
        platform.os
    );
    let reference = index_reference(index_desc)?;

    // manifest.json (docker-archive)
    let docker: Vec<DockerManifestEntry> =
        serde_json::from_slice(&entries[2].data).map_err(|e| {
            violation(
                "manifest.json",
                format!("invalid docker-archive manifest: {e}"),
            )
        })?;
    ensure_at!(
        docker.len() == 1,
        "manifest.json",
        "has {} entries, expected exactly 1",
        docker.len()
    );
    let docker = &docker[0];

    let blobs: HashMap<&str, &[u8]> = entries[3..]
        .iter()
        .map(|e| (e.name.as_str(), e.data.as_slice()))
        .collect();
    let find_blob = |referrer: &str, field: &str, name: &str| -> Result<&[u8]> {
        blobs.get(name).copied().ok_or_else(|| {
            violation(
                referrer,
                format!("{field} points to `{name}`, which is not in the tarball"),
            )
        })
    };

    // 3/4/6. The OCI manifest.
    let manifest_name = blob_name_of("index.json", "manifests[0]", &index_desc.digest)?;
    let manifest_bytes = find_blob("index.json", "manifests[0]", &manifest_name)?;
    check_size(
        "index.json",
        "index.json manifests[0]",
        &manifest_name,
        index_desc,
        manifest_bytes,
    )?;
    let manifest_value = parse_canonical(&manifest_name, "OCI manifest", manifest_bytes)?;
    let manifest: Manifest = from_value(&manifest_name, "OCI image manifest", manifest_value)?;
    ensure_at!(
        manifest.schema_version == 2,
        &manifest_name,
        "OCI manifest schemaVersion is {}, expected 2",
        manifest.schema_version
    );
    ensure_at!(
        manifest.media_type.as_deref() == Some(MEDIA_TYPE_MANIFEST),
        &manifest_name,
        "OCI manifest mediaType is {}, expected {MEDIA_TYPE_MANIFEST:?}",
        show(manifest.media_type.as_deref())
    );
    ensure_at!(
        manifest.config.media_type == MEDIA_TYPE_CONFIG,
        &manifest_name,
        "OCI manifest config.mediaType is {:?}, expected {MEDIA_TYPE_CONFIG:?}",
        manifest.config.media_type
    );
    ensure_at!(
        !manifest.layers.is_empty(),
        &manifest_name,
        "OCI manifest has no layers"
    );
    let config_name = blob_name_of(&manifest_name, "config", &manifest.config.digest)?;
    let mut layer_names = Vec::with_capacity(manifest.layers.len());
    for (i, layer) in manifest.layers.iter().enumerate() {
        let field = format!("layers[{i}]");
        ensure_at!(
            layer.media_type == MEDIA_TYPE_LAYER_GZIP,
            &manifest_name,
            "OCI manifest {field}.mediaType is {:?}, expected {MEDIA_TYPE_LAYER_GZIP:?}",
            layer.media_type
        );
        let name = blob_name_of(&manifest_name, &field, &layer.digest)?;
        ensure_at!(
            !layer_names.contains(&name) && name != config_name,
            &manifest_name,
            "OCI manifest {field} `{name}` is listed more than once"
        );
        layer_names.push(name);
    }

    // 1. Blob order: config, layers in manifest order, manifest.
    let mut expected: Vec<(String, String)> = vec![(config_name.clone(), "config".into())];
    for (i, name) in layer_names.iter().enumerate() {
        expected.push((name.clone(), format!("layer {i}")));
    }
    expected.push((manifest_name.clone(), "OCI manifest".into()));
    for (k, (want, role)) in expected.iter().enumerate() {
        let pos = k + FIXED_ENTRIES.len();
        match entries.get(pos) {
            None => bail_at!(
                want,
                "missing: expected as outer tar entry #{pos} ({role}), but the tarball ends after \
                 {} entries",
                entries.len()
            ),
            Some(e) => ensure_at!(
                e.name == *want,
                &e.name,
                "outer tar entry #{pos} must be the {role} `{want}`, found `{}` (order must be \
                 oci-layout, index.json, manifest.json, config, layers…, manifest)",
                e.name
            ),
        }
    }
    if let Some(extra) = entries.get(FIXED_ENTRIES.len() + expected.len()) {
        bail_at!(
            &extra.name,
            "unexpected outer tar entry after the OCI manifest blob: not referenced by the manifest"
        );
    }

    // 3/6/5. Config.
    let config_bytes = find_blob(&manifest_name, "config", &config_name)?;
    check_size(
        &manifest_name,
        "OCI manifest config",
        &config_name,
        &manifest.config,
        config_bytes,
    )?;
    let config = parse_canonical(&config_name, "image config", config_bytes)?;
    let Some(config_obj) = config.as_object() else {
        bail_at!(&config_name, "image config is not a JSON object");
    };
    let config_str = |key: &str| -> Result<Option<&str>> {
        match config_obj.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => bail_at!(
                &config_name,
                "image config `{key}` is {other}, expected a string"
            ),
        }
    };
    let architecture = config_str("architecture")?;
    ensure_at!(
        architecture == Some(platform.architecture.as_str()),
        &config_name,
        "image config architecture is {}, but index.json platform says {:?}",
        show(architecture),
        platform.architecture
    );
    let os = config_str("os")?;
    ensure_at!(
        os == Some(platform.os.as_str()),
        &config_name,
        "image config os is {}, but index.json platform says {:?}",
        show(os),
        platform.os
    );
    let variant = config_str("variant")?;
    ensure_at!(
        variant == platform.variant.as_deref(),
        &config_name,
        "image config variant is {}, but index.json platform says {}",
        show(variant),
        show(platform.variant.as_deref())
    );
    let rootfs = config_obj.get("rootfs");
    let rootfs_type = rootfs.and_then(|r| r.get("type"));
    ensure_at!(
        rootfs_type == Some(&Value::String("layers".into())),
        &config_name,
        "image config rootfs.type is {}, expected \"layers\"",
        rootfs_type.map_or_else(|| "missing".to_string(), |t| t.to_string())
    );
    let Some(diff_ids) = rootfs
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
    else {
        bail_at!(
            &config_name,
            "image config rootfs.diff_ids is missing or not an array"
        );
    };
    ensure_at!(
        diff_ids.len() == manifest.layers.len(),
        &config_name,
        "image config has {} rootfs.diff_ids, but the OCI manifest has {} layers",
        diff_ids.len(),
        manifest.layers.len()
    );

    // 3/4/5/7/8. Layers.
    let mut layers = Vec::with_capacity(manifest.layers.len());
    let mut layer_tars = Vec::new();
    for (i, (desc, name)) in manifest.layers.iter().zip(&layer_names).enumerate() {
        let blob = find_blob(&manifest_name, &format!("layers[{i}]"), name)?;
        check_size(
            &manifest_name,
            &format!("OCI manifest layers[{i}]"),
            name,
            desc,
            blob,
        )?;
        if depth == Depth::Blobs {
            layers.push(ValidLayer {
                digest: desc.digest.clone(),
                size: blob.len() as u64,
                diff_id: diff_ids[i].as_str().unwrap_or_default().to_string(),
                uncompressed_size: 0,
                files: Vec::new(),
            });
            continue;
        }
        let label = format!("layer {i}");
        let tar_bytes = gunzip_layer(name, &label, blob)?;
        let diff_id = format!("sha256:{}", sha256_hex(&tar_bytes));
        let claimed = diff_ids[i].as_str();
        ensure_at!(
            claimed == Some(diff_id.as_str()),
            &config_name,
            "image config rootfs.diff_ids[{i}] is {}, but layer {i} `{name}` uncompresses to {diff_id}",
            diff_ids[i]
        );
        let files = check_layer_tar(name, &label, &tar_bytes, mtime)?;
        layers.push(ValidLayer {
            digest: desc.digest.clone(),
            size: blob.len() as u64,
            diff_id,
            uncompressed_size: tar_bytes.len() as u64,
            files,
        });
        if depth == Depth::KeepLayerTars {
            layer_tars.push(tar_bytes);
        }
    }

    // 3. docker manifest.json agrees with the OCI manifest and the reference.
    ensure_at!(
        docker.config == config_name,
        "manifest.json",
        "Config is {:?}, but the OCI manifest's config is {config_name:?}",
        docker.config
    );
    ensure_at!(
        docker.layers == layer_names,
        "manifest.json",
        "Layers are {:?}, but the OCI manifest's layers are {layer_names:?}",
        docker.layers
    );
    let want_tags = vec![reference.clone()];
    ensure_at!(
        docker.repo_tags.as_ref() == Some(&want_tags),
        "manifest.json",
        "RepoTags are {}, expected {want_tags:?} (the index.json reference)",
        docker
            .repo_tags
            .as_ref()
            .map_or_else(|| "missing".to_string(), |t| format!("{t:?}"))
    );

    let image = ValidImage {
        reference,
        manifest_digest: index_desc.digest.clone(),
        manifest_size: manifest_bytes.len() as u64,
        config_digest: manifest.config.digest.clone(),
        config_size: config_bytes.len() as u64,
        layers,
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        mtime,
        config: config.clone(),
        manifest_bytes: manifest_bytes.to_vec(),
        config_bytes: config_bytes.to_vec(),
    };
    Ok((image, layer_tars))
}

/// `"value"` or `missing`, for messages.
fn show(v: Option<&str>) -> String {
    v.map_or_else(|| "missing".to_string(), |s| format!("{s:?}"))
}

fn check_size(
    referrer: &str,
    field: &str,
    blob_name: &str,
    desc: &Descriptor,
    blob: &[u8],
) -> Result<()> {
    ensure_at!(
        desc.size == blob.len() as u64,
        referrer,
        "{field} descriptor size is {}, but blob `{blob_name}` is {} bytes",
        desc.size,
        blob.len()
    );
    Ok(())
}

/// The full reference from the two index.json annotations, which must agree.
fn index_reference(desc: &Descriptor) -> Result<String> {
    let annotations = desc.annotations.clone().unwrap_or_default();
    let get = |key: &str| -> Result<String> {
        annotations.get(key).cloned().ok_or_else(|| {
            violation(
                "index.json",
                format!("manifests[0].annotations has no {key:?} (expected the full reference)"),
            )
        })
    };
    let containerd = get(ANNOTATION_CONTAINERD_NAME)?;
    let ref_name = get(ANNOTATION_REF_NAME)?;
    ensure_at!(
        containerd == ref_name,
        "index.json",
        "annotation {ANNOTATION_CONTAINERD_NAME:?} is {containerd:?} but \
         {ANNOTATION_REF_NAME:?} is {ref_name:?}: both must be the full reference"
    );
    check_reference(&containerd)?;
    Ok(containerd)
}

/// A loose check that `reference` is `name:tag` as `docker load` wants it.
fn check_reference(reference: &str) -> Result<()> {
    let last = reference.rsplit('/').next().unwrap_or_default();
    let tag = last.rsplit_once(':').map(|(_, t)| t);
    let name = tag.map_or(reference, |t| &reference[..reference.len() - t.len() - 1]);
    let tag_ok = tag.is_some_and(|t| {
        !t.is_empty()
            && t.len() <= 128
            && !t.starts_with(['.', '-'])
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    });
    let name_ok = !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b));
    ensure_at!(
        tag_ok && name_ok,
        "index.json",
        "reference {reference:?} is not of the form name:tag (e.g. localhost/hello:0.1.0)"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Layers

/// Gunzip a layer blob completely; nothing may follow the gzip member and the
/// gzip header mtime must be 0.
fn gunzip_layer(name: &str, label: &str, blob: &[u8]) -> Result<Vec<u8>> {
    let mut decoder = flate2::bufread::GzDecoder::new(blob);
    let mut tar_bytes = Vec::new();
    decoder
        .read_to_end(&mut tar_bytes)
        .map_err(|e| violation(name, format!("{label} is not a valid gzip stream: {e}")))?;
    let Some(header_mtime) = decoder.header().map(|h| h.mtime()) else {
        bail_at!(name, "{label} is not a gzip stream (no gzip header)");
    };
    let rest = decoder.into_inner();
    ensure_at!(
        rest.is_empty(),
        name,
        "{} bytes of trailing data after the end of {label}'s gzip stream",
        rest.len()
    );
    ensure_at!(
        header_mtime == 0,
        name,
        "{label} gzip header mtime is {header_mtime}, expected 0"
    );
    Ok(tar_bytes)
}

fn check_layer_tar(
    name: &str,
    label: &str,
    tar_bytes: &[u8],
    mtime: u64,
) -> Result<Vec<LayerEntry>> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut files: Vec<LayerEntry> = Vec::new();
    // path → kind of every entry so far.
    let mut kinds: HashMap<String, char> = HashMap::new();
    // The previous entry's path as stored in the tar.
    let mut prev_raw: Option<String> = None;
    let entries = archive
        .entries()
        .map_err(|e| violation(name, format!("{label} is not a tar archive: {e}")))?;
    for (i, entry) in entries.enumerate() {
        let mut entry = entry
            .map_err(|e| violation(name, format!("{label} tar entry #{i} is unreadable: {e}")))?;
        let raw_path = entry.path_bytes().into_owned();
        let Ok(raw_path) = String::from_utf8(raw_path) else {
            bail_at!(name, "{label} tar entry #{i}: path is not UTF-8");
        };
        let at = |detail: String| violation(name, format!("{label} path `{raw_path}`: {detail}"));

        let header = entry.header().clone();
        let kind = match header.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            t @ (tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo) => {
                return Err(at(format!(
                    "special file ({}) is not allowed",
                    describe_type(t)
                )));
            }
            t => {
                return Err(at(format!(
                    "entry type {} is not allowed (only regular files, directories and symlinks)",
                    describe_type(t)
                )));
            }
        };

        // Path shape.
        let (path, trailing_slash) = match raw_path.strip_suffix('/') {
            Some(p) => (p, true),
            None => (raw_path.as_str(), false),
        };
        if path.starts_with('/') {
            return Err(at("absolute path is not allowed".into()));
        }
        if path.is_empty() {
            return Err(at(
                "empty path (or the root directory) is not allowed".into()
            ));
        }
        if let Some(c) = path
            .split('/')
            .find(|c| c.is_empty() || *c == "." || *c == "..")
        {
            return Err(at(format!(
                "path component {c:?} is not allowed (no `..`, `.` or `//`)"
            )));
        }
        if trailing_slash && kind != 'd' {
            return Err(at("only directories may end in `/`".into()));
        }

        // Order, duplicates, parents.
        if kinds.contains_key(path) {
            return Err(at("duplicate path".into()));
        }
        if let Some(prev) = &prev_raw {
            if prev.as_bytes() > raw_path.as_bytes() {
                return Err(at(format!(
                    "entries are not sorted by path (byte order): `{raw_path}` comes after `{prev}`"
                )));
            }
        }
        for (pos, _) in path.match_indices('/') {
            let parent = &path[..pos];
            match kinds.get(parent) {
                Some('d') => {}
                Some(_) => return Err(at(format!("parent `{parent}` is not a directory entry"))),
                None => {
                    return Err(at(format!(
                        "parent directory `{parent}/` has no entry before it"
                    )));
                }
            }
        }

        // Ownership and time, including PAX overrides.
        let field = |r: std::io::Result<u64>, what: &str| {
            r.map_err(|e| at(format!("bad {what} field: {e}")))
        };
        let mut uid = field(header.uid(), "uid")?;
        let mut gid = field(header.gid(), "gid")?;
        let mut entry_mtime = field(header.mtime(), "mtime")?;
        let mode = field(header.mode().map(u64::from), "mode")? as u32 & 0o7777;
        let size = field(header.size(), "size")?;
        let mut uname =
            String::from_utf8_lossy(header.username_bytes().unwrap_or_default()).into_owned();
        let mut gname =
            String::from_utf8_lossy(header.groupname_bytes().unwrap_or_default()).into_owned();
        if let Some(pax) = entry
            .pax_extensions()
            .map_err(|e| at(format!("bad PAX header: {e}")))?
        {
            for ext in pax {
                let ext = ext.map_err(|e| at(format!("bad PAX record: {e}")))?;
                let (Ok(key), Ok(value)) = (ext.key(), ext.value()) else {
                    return Err(at("PAX record is not UTF-8".into()));
                };
                let number = |v: &str| -> Result<u64> {
                    // PAX mtimes may carry a fraction; only whole zero fractions are equal.
                    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
                    match whole.parse::<u64>() {
                        Ok(n) if frac.bytes().all(|b| b == b'0') => Ok(n),
                        _ => Err(at(format!("PAX {key}={v:?} is not a whole number"))),
                    }
                };
                match key {
                    "uid" => uid = number(value)?,
                    "gid" => gid = number(value)?,
                    "mtime" => entry_mtime = number(value)?,
                    "uname" => uname = value.to_string(),
                    "gname" => gname = value.to_string(),
                    _ => {}
                }
            }
        }
        if uid != 0 || gid != 0 {
            return Err(at(format!("uid:gid is {uid}:{gid}, expected 0:0")));
        }
        if !uname.is_empty() || !gname.is_empty() {
            return Err(at(format!(
                "uname/gname are {uname:?}/{gname:?}, expected empty"
            )));
        }
        if entry_mtime != mtime {
            return Err(at(format!(
                "mtime is {entry_mtime}, expected {mtime} (the outer tar mtime)"
            )));
        }
        if kind != 'f' && size != 0 {
            return Err(at(format!(
                "size is {size}, expected 0 for a non-regular file"
            )));
        }

        kinds.insert(path.to_string(), kind);
        prev_raw = Some(raw_path.clone());
        files.push(LayerEntry {
            path: path.to_string(),
            kind,
            mode,
            size,
            uid,
            gid,
            mtime: entry_mtime,
        });
    }
    let rest = archive.into_inner();
    if let Some(pos) = rest.iter().position(|&b| b != 0) {
        bail_at!(
            name,
            "{label} tar has non-zero data at byte {pos} after its end-of-archive marker",
        );
    }
    Ok(files)
}

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests;
