//! A lenient reader of container image archives, for `cargo slim verify`.
//!
//! In: any seekable byte source holding one image as an OCI archive (an OCI
//! image layout in a tar: `index.json` + `blobs/`, as written by cargo-slim,
//! `skopeo copy … oci-archive:`, `docker save` ≥ 25) or a docker-archive
//! (`manifest.json` + config + `layer.tar` files, as written by `docker save`
//! and `skopeo copy … docker-archive:`). Out: the image's config and, layer by
//! layer, every entry with a reader for its bytes ([`Archive::walk_layer`]),
//! plus [`Fs`], the merged view of all layers (whiteouts applied) in which
//! paths are resolved through symlinks.
//!
//! Why not `validate`: that module proves cargo-slim's own byte-exact layout
//! and rejects everything else. Verify must accept what other tools write:
//! any entry order, `./` prefixes, PAX and GNU headers, symlinked layer files,
//! gzip or uncompressed layers, nested indexes and attestation manifests.
//! Every structural problem is a [`Failure`] naming the entry; nothing here
//! panics on bad input, and nothing is read into memory beyond the JSON
//! documents (≤ 16 MiB each) and what the caller asks for: blobs are read in
//! place by seeking, so a multi-gigabyte archive costs little memory.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::error::Failure;

/// Largest JSON document (index, manifest, config) read from an archive.
pub const MAX_JSON: u64 = 16 << 20;
/// Symlinks followed while resolving one path (Linux's `MAXSYMLINKS`).
pub const MAX_LINK_HOPS: usize = 40;
/// Nested image indexes followed from `index.json`.
const MAX_INDEX_DEPTH: usize = 4;

/// Which layout the image was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `index.json` + `blobs/<alg>/<hex>`.
    Oci,
    /// `manifest.json` (`docker save`).
    Docker,
}

impl Format {
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Oci => "oci",
            Format::Docker => "docker",
        }
    }
}

/// One layer as listed by the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// Path of the layer file inside the archive.
    pub name: String,
    /// `sha256:<hex>` the blob must hash to, when the layout says (OCI).
    pub digest: Option<String>,
    /// `sha256:<hex>` of the uncompressed tar, from the config's `rootfs.diff_ids`.
    pub diff_id: Option<String>,
}

/// The image an archive holds: its config and layers, not yet read.
#[derive(Debug, Clone)]
pub struct ImageRef {
    pub format: Format,
    /// A name for the image, when the archive records one.
    pub reference: Option<String>,
    /// The parsed image config (`architecture`, `os`, `config.Entrypoint`, …).
    pub config: Value,
    pub layers: Vec<LayerRef>,
}

impl ImageRef {
    fn config_str(&self, key: &str) -> Option<&str> {
        self.config.get(key).and_then(Value::as_str)
    }
    pub fn architecture(&self) -> Option<&str> {
        self.config_str("architecture").filter(|s| !s.is_empty())
    }
    pub fn os(&self) -> Option<&str> {
        self.config_str("os").filter(|s| !s.is_empty())
    }
    pub fn variant(&self) -> Option<&str> {
        self.config_str("variant").filter(|s| !s.is_empty())
    }
    /// A string array from the runtime config (`Entrypoint`, `Cmd`, `Env`).
    pub fn run_list(&self, key: &str) -> Vec<String> {
        self.config
            .get("config")
            .and_then(|c| c.get(key))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    /// A string from the runtime config (`User`, `WorkingDir`).
    pub fn run_str(&self, key: &str) -> Option<&str> {
        self.config
            .get("config")
            .and_then(|c| c.get(key))
            .and_then(Value::as_str)
    }
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
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
}

#[derive(Debug, Clone)]
enum Outer {
    File { offset: u64, size: u64 },
    Link(String),
    Other,
}

/// An opened archive: the outer tar's table of contents and the reader.
pub struct Archive<R> {
    r: R,
    entries: HashMap<String, Outer>,
}

fn bad(what: impl Into<String>) -> Failure {
    Failure::new(what)
}

/// Lexically normalise a tar path: no leading `/` or `./`, no `.`, `..`
/// resolved (never above the root), no trailing `/`.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Join a link target to the directory of the link, then normalise.
fn link_target(link_path: &str, target: &str) -> String {
    if target.starts_with('/') {
        return normalize(target);
    }
    match link_path.rfind('/') {
        Some(i) => normalize(&format!("{}/{target}", &link_path[..i])),
        None => normalize(target),
    }
}

/// Whether `bytes` (the start of a file) look like a tar archive: `ustar`
/// magic, or a v7 header with a valid checksum.
pub fn looks_like_tar(bytes: &[u8]) -> bool {
    if bytes.len() < 512 {
        return false;
    }
    if &bytes[257..262] == b"ustar" {
        return true;
    }
    let field = &bytes[148..156];
    let digits: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| ('0'..='7').contains(c))
        .collect();
    let Ok(want) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let sum: u32 = bytes[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    bytes[0] != 0 && sum == want
}

impl<R: Read + Seek> Archive<R> {
    /// Index the outer tar (entry names → positions) without reading blobs.
    pub fn open(mut r: R) -> Result<Archive<R>, Failure> {
        let mut entries = HashMap::new();
        {
            let mut ar = tar::Archive::new(&mut r);
            let iter = ar
                .entries_with_seek()
                .map_err(|e| bad("the file is not a readable tar archive").detail(e.to_string()))?;
            for (n, entry) in iter.enumerate() {
                let entry = entry.map_err(|e| {
                    bad(format!(
                        "the tar archive is corrupt or truncated after {n} entries"
                    ))
                    .detail(e.to_string())
                })?;
                let name = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
                let kind = entry.header().entry_type();
                let outer = if kind.is_file() || kind == tar::EntryType::Continuous {
                    Outer::File {
                        offset: entry.raw_file_position(),
                        size: entry.size(),
                    }
                } else if kind.is_symlink() || kind.is_hard_link() {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    Outer::Link(if kind.is_symlink() {
                        link_target(&name, &target)
                    } else {
                        normalize(&target)
                    })
                } else {
                    Outer::Other
                };
                entries.insert(name, outer);
            }
        }
        if entries.is_empty() {
            return Err(bad("the tar archive is empty"));
        }
        Ok(Archive { r, entries })
    }

    /// Whether the outer tar has an entry `name`.
    pub fn has(&self, name: &str) -> bool {
        self.entries.contains_key(&normalize(name))
    }

    /// (offset, size) of the regular file `name`, following links in the tar.
    fn locate(&self, name: &str) -> Result<(u64, u64), Failure> {
        let mut cur = normalize(name);
        for _ in 0..=MAX_LINK_HOPS {
            match self.entries.get(&cur) {
                Some(Outer::File { offset, size }) => return Ok((*offset, *size)),
                Some(Outer::Link(target)) => cur = target.clone(),
                Some(Outer::Other) => {
                    return Err(bad(format!(
                        "`{name}` in the archive is not a regular file"
                    )))
                }
                None => {
                    return Err(bad(format!("the archive has no entry `{name}`")).detail(
                        if cur == normalize(name) {
                            "a file the image's manifest refers to is missing".to_string()
                        } else {
                            format!("`{name}` is a link to `{cur}`, which is missing")
                        },
                    ))
                }
            }
        }
        Err(bad(format!("`{name}` in the archive is a link loop")))
    }

    /// A reader over the bytes of `name`.
    pub fn open_file(&mut self, name: &str) -> Result<(io::Take<&mut R>, u64), Failure> {
        let (offset, size) = self.locate(name)?;
        self.r.seek(SeekFrom::Start(offset)).map_err(|e| {
            bad(format!("cannot read `{name}` in the archive")).detail(e.to_string())
        })?;
        Ok(((&mut self.r).take(size), size))
    }

    /// Read and parse a JSON document.
    pub fn read_json(&mut self, name: &str) -> Result<Value, Failure> {
        let (reader, size) = self.open_file(name)?;
        if size > MAX_JSON {
            return Err(bad(format!(
                "`{name}` is {size} bytes, too large for an image JSON document (limit {MAX_JSON})"
            )));
        }
        let mut buf = Vec::new();
        let mut reader = reader;
        reader
            .read_to_end(&mut buf)
            .map_err(|e| bad(format!("cannot read `{name}`")).detail(e.to_string()))?;
        if (buf.len() as u64) < size {
            return Err(bad(format!(
                "`{name}` is truncated: the tar header says {size} bytes, the file has {}",
                buf.len()
            )));
        }
        serde_json::from_slice(&buf)
            .map_err(|e| bad(format!("`{name}` is not valid JSON")).detail(e.to_string()))
    }

    /// Find the one image in the archive. With several (a multi-platform
    /// index), `arch` picks the one for that architecture.
    pub fn image(&mut self, arch: Option<&str>) -> Result<ImageRef, Failure> {
        if self.has("index.json") {
            self.oci_image(arch)
        } else if self.has("manifest.json") {
            self.docker_image()
        } else {
            Err(bad("the tar archive is not a container image")
                .detail("it has neither `index.json` (OCI layout) nor `manifest.json` (docker save)")
                .help("pass an image tarball (cargo slim build, `docker save`, `skopeo copy … oci-archive:`) or an ELF executable"))
        }
    }

    fn docker_image(&mut self) -> Result<ImageRef, Failure> {
        let doc = self.read_json("manifest.json")?;
        let list = doc
            .as_array()
            .ok_or_else(|| bad("`manifest.json` is not a JSON array"))?;
        let item = match list.as_slice() {
            [one] => one,
            [] => return Err(bad("`manifest.json` lists no image")),
            many => {
                return Err(bad(format!(
                    "the archive holds {} images; cargo slim verify checks one at a time",
                    many.len()
                ))
                .detail(format!("images: {}", docker_names(many)))
                .help("save or copy a single image, e.g. `skopeo copy docker-archive:IN:NAME docker-archive:OUT`"))
            }
        };
        let config_name = item
            .get("Config")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("`manifest.json` has no `Config` path"))?
            .to_string();
        let config = self.read_json(&config_name)?;
        let names: Vec<String> = match item.get("Layers") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad("`manifest.json` has a non-string layer path"))
                })
                .collect::<Result<_, _>>()?,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(bad("`manifest.json` `Layers` is not an array")),
        };
        let layers = with_diff_ids(&config, names.into_iter().map(|n| (n, None)));
        let reference = item
            .get("RepoTags")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(ImageRef {
            format: Format::Docker,
            reference,
            config,
            layers,
        })
    }

    fn oci_image(&mut self, arch: Option<&str>) -> Result<ImageRef, Failure> {
        let index = self.read_json("index.json")?;
        let mut found = Vec::new();
        self.collect_manifests(&index, "index.json", None, 0, &mut found)?;
        if found.len() > 1 {
            if let Some(want) = arch {
                found.retain(|c| c.platform.split('/').nth(1) == Some(want));
            }
        }
        let chosen = match found.len() {
            1 => found.remove(0),
            0 if arch.is_some() => {
                return Err(bad(format!(
                    "the archive holds no image for architecture {}",
                    arch.unwrap_or_default()
                )))
            }
            0 => {
                return Err(bad(
                    "`index.json` lists no image manifest present in the archive",
                ))
            }
            n => {
                let platforms: Vec<&str> = found.iter().map(|c| c.platform.as_str()).collect();
                return Err(bad(format!(
                    "the archive holds {n} images; cargo slim verify checks one at a time"
                ))
                .detail(format!("platforms: {}", platforms.join(", ")))
                .help("choose one with --arch, or copy a single platform with `skopeo copy --override-arch`"));
            }
        };
        let manifest = &chosen.manifest;
        let config_desc = manifest
            .get("config")
            .ok_or_else(|| bad(format!("manifest `{}` has no config", chosen.name)))?;
        let config_name = blob_path(config_desc, &chosen.name)?;
        let config = self.read_json(&config_name)?;
        let descs = match manifest.get("layers") {
            Some(Value::Array(a)) => a.clone(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                return Err(bad(format!(
                    "manifest `{}`: `layers` is not an array",
                    chosen.name
                )))
            }
        };
        let mut named = Vec::new();
        for d in &descs {
            let digest = d.get("digest").and_then(Value::as_str).map(str::to_string);
            named.push((blob_path(d, &chosen.name)?, digest));
        }
        let layers = with_diff_ids(&config, named.into_iter());
        Ok(ImageRef {
            format: Format::Oci,
            reference: chosen.reference,
            config,
            layers,
        })
    }

    fn collect_manifests(
        &mut self,
        index: &Value,
        name: &str,
        reference: Option<String>,
        depth: usize,
        out: &mut Vec<Candidate>,
    ) -> Result<(), Failure> {
        if depth > MAX_INDEX_DEPTH {
            return Err(bad(format!(
                "image indexes nest deeper than {MAX_INDEX_DEPTH} levels"
            )));
        }
        let Some(manifests) = index.get("manifests").and_then(Value::as_array) else {
            return Err(bad(format!("`{name}` has no `manifests` list")));
        };
        for d in manifests {
            let ann = |k: &str| {
                d.get("annotations")
                    .and_then(|a| a.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            if ann("vnd.docker.reference.type").as_deref() == Some("attestation-manifest") {
                continue;
            }
            let platform = d.get("platform");
            let pf = |k: &str| {
                platform
                    .and_then(|p| p.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            };
            if pf("os") == "unknown" {
                continue;
            }
            let reference = ann("io.containerd.image.name")
                .or_else(|| ann("org.opencontainers.image.ref.name"))
                .or_else(|| reference.clone());
            let path = blob_path(d, name)?;
            if !self.has(&path) {
                // `docker save` of a multi-platform image lists every
                // platform but may carry the blobs of only one.
                continue;
            }
            let doc = self.read_json(&path)?;
            let media = d
                .get("mediaType")
                .and_then(Value::as_str)
                .or_else(|| doc.get("mediaType").and_then(Value::as_str))
                .unwrap_or("");
            if media.contains("index")
                || media.contains("manifest.list")
                || doc.get("manifests").is_some()
            {
                self.collect_manifests(&doc, &path, reference, depth + 1, out)?;
            } else {
                let mut platform = format!("{}/{}", pf("os"), pf("architecture"));
                if !pf("variant").is_empty() {
                    platform = format!("{platform}/{}", pf("variant"));
                }
                out.push(Candidate {
                    name: path,
                    platform,
                    reference,
                    manifest: doc,
                });
            }
        }
        Ok(())
    }

    /// Read layer `layer`, calling `visit` for every entry with a reader over
    /// its bytes (empty for non-files). Checks the blob digest and diff_id.
    pub fn walk_layer(
        &mut self,
        layer: &LayerRef,
        mut visit: impl FnMut(&LayerEntry, &mut dyn Read) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let name = layer.name.clone();
        let ctx = |what: &str, e: &dyn std::fmt::Display| {
            bad(format!("layer `{name}`: {what}")).detail(e.to_string())
        };
        let (blob, _) = self.open_file(&name)?;
        let mut blob_hash = Hashing::new(blob);
        let mut magic = [0u8; 6];
        let n = read_up_to(&mut blob_hash, &mut magic).map_err(|e| ctx("cannot read", &e))?;
        let head = &magic[..n];
        let compressed = io::Cursor::new(head.to_vec()).chain(&mut blob_hash);
        let unsupported = |what: &str| {
            bad(format!("layer `{name}` is {what}-compressed"))
                .detail("cargo slim verify reads gzip and uncompressed layers")
                .help("convert the image, e.g. `skopeo copy --dest-decompress oci-archive:IN oci-archive:OUT`")
        };
        let decoded: Box<dyn Read + '_> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(compressed))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Err(unsupported("zstd"));
        } else if head.starts_with(b"\xfd7zXZ\x00") {
            return Err(unsupported("xz"));
        } else if head.starts_with(b"BZh") {
            return Err(unsupported("bzip2"));
        } else {
            Box::new(compressed)
        };
        let mut diff_hash = Hashing::new(decoded);
        {
            let mut tar = tar::Archive::new(&mut diff_hash);
            let entries = tar.entries().map_err(|e| ctx("not a tar stream", &e))?;
            for (i, entry) in entries.enumerate() {
                let mut entry = entry.map_err(|e| {
                    ctx(
                        &format!("the tar stream is corrupt or truncated after {i} entries"),
                        &e,
                    )
                })?;
                let h = entry.header();
                let ty = h.entry_type();
                if ty.is_pax_global_extensions()
                    || ty.is_pax_local_extensions()
                    || ty.is_gnu_longname()
                    || ty.is_gnu_longlink()
                {
                    continue;
                }
                let path = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
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
                // Lenient: an empty or garbled numeric field (some writers
                // leave them blank) reads as 0 rather than failing the layer.
                let info = LayerEntry {
                    mode: h.mode().unwrap_or(0) & 0o7777,
                    uid: h.uid().unwrap_or(0),
                    gid: h.gid().unwrap_or(0),
                    size: entry.size(),
                    path,
                    kind,
                };
                if info.path.is_empty() {
                    continue;
                }
                if info.kind == EntryKind::File {
                    visit(&info, &mut entry)?;
                } else {
                    visit(&info, &mut io::empty())?;
                }
            }
        }
        // Hash the whole streams, trailing padding included.
        io::copy(&mut diff_hash, &mut io::sink())
            .map_err(|e| ctx("corrupt compressed stream", &e))?;
        let diff = diff_hash.digest();
        drop(diff_hash);
        io::copy(&mut blob_hash, &mut io::sink()).map_err(|e| ctx("cannot read", &e))?;
        let blob = blob_hash.digest();
        if let Some(want) = &layer.digest {
            if want.starts_with("sha256:") && *want != blob {
                return Err(bad(format!(
                    "layer `{name}` does not match its digest: the archive is corrupt"
                ))
                .detail(format!("manifest digest: {want}"))
                .detail(format!("actual digest:   {blob}")));
            }
        }
        if let Some(want) = &layer.diff_id {
            if want.starts_with("sha256:") && *want != diff {
                return Err(bad(format!(
                    "layer `{name}` does not match the config's diff_id: the archive is corrupt"
                ))
                .detail(format!("rootfs.diff_ids: {want}"))
                .detail(format!("actual:          {diff}")));
            }
        }
        Ok(())
    }
}

struct Candidate {
    name: String,
    platform: String,
    reference: Option<String>,
    manifest: Value,
}

fn docker_names(items: &[Value]) -> String {
    items
        .iter()
        .map(|i| {
            i.get("RepoTags")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .unwrap_or("<untagged>")
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pair layer names with the config's `rootfs.diff_ids` (when the counts agree).
fn with_diff_ids(
    config: &Value,
    layers: impl Iterator<Item = (String, Option<String>)>,
) -> Vec<LayerRef> {
    let layers: Vec<_> = layers.collect();
    let ids: Vec<Option<String>> = config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let use_ids = ids.len() == layers.len();
    layers
        .into_iter()
        .enumerate()
        .map(|(i, (name, digest))| LayerRef {
            name,
            digest,
            diff_id: if use_ids { ids[i].clone() } else { None },
        })
        .collect()
}

/// `blobs/<alg>/<hex>` for a descriptor; refuses digests that could escape.
fn blob_path(desc: &Value, within: &str) -> Result<String, Failure> {
    let digest = desc
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("a descriptor in `{within}` has no digest")))?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'_' | b'-' | b'='))
            && s != "."
            && s != ".."
    };
    match digest.split_once(':') {
        Some((alg, hex)) if ok(alg) && ok(hex) => Ok(format!("blobs/{alg}/{hex}")),
        _ => Err(bad(format!("`{within}` has an invalid digest `{digest}`"))),
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
        }
    }
    fn digest(&self) -> String {
        format!("sha256:{}", hex(&self.hash.clone().finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

mod fs;
pub use fs::{Fs, Node, NodeKind, Resolved};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise() {
        for (input, want) in [
            ("./a/b", "a/b"),
            ("/a//b/", "a/b"),
            ("a/./b/../c", "a/c"),
            ("../../etc/passwd", "etc/passwd"),
            (".", ""),
        ] {
            assert_eq!(normalize(input), want, "{input}");
        }
        assert_eq!(link_target("x/layer.tar", "../abc.tar"), "abc.tar");
        assert_eq!(link_target("x/y", "/z"), "z");
        assert_eq!(link_target("top", "other"), "other");
    }

    #[test]
    fn blob_paths_cannot_escape() {
        let d = |s: &str| serde_json::json!({ "digest": s });
        assert_eq!(
            blob_path(&d("sha256:ab12"), "i").unwrap(),
            "blobs/sha256/ab12"
        );
        for bad in [
            "sha256:../x",
            "sha256:a/b",
            "sha256:",
            ":ab",
            "nocolon",
            "sha256:..",
        ] {
            assert!(blob_path(&d(bad), "i").is_err(), "{bad}");
        }
        assert!(blob_path(&serde_json::json!({}), "i").is_err());
    }

    #[test]
    fn tar_sniffing() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_old();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "v7", &b"hi"[..]).unwrap();
        let v7 = b.into_inner().unwrap();
        assert!(looks_like_tar(&v7), "a v7 header with a valid checksum");
        let mut broken = v7.clone();
        broken[0] ^= 1;
        assert!(!looks_like_tar(&broken));
        assert!(!looks_like_tar(&[0u8; 1024]));
        assert!(!looks_like_tar(b"short"));
    }
}
