//! An image archive as a registry would store it: the documents and blobs of
//! any OCI or docker archive, read without hashing a blob.
//!
//! In: the path of an image archive — cargo-slim's tarball, an OCI layout in a tar
//! (`skopeo copy … oci-archive:`, `docker save` ≥ 25), a multi-platform OCI archive
//! (`index.json` → one image index → one manifest per platform), or a docker-archive
//! (`manifest.json` + config + `<hex>.tar` layers, as `docker save` and `skopeo copy
//! … docker-archive:` write it). Out: a [`Peek`]: the document the tags will name
//! (an image manifest or an image index, exactly as stored, so the registry's digest
//! is the local one), the manifests to PUT by digest before it (one per platform),
//! every blob they reference once (a blob two platforms share is listed once), and
//! the artifacts (SBOMs, signatures): those attached to an image ([`Attached`],
//! sent as its referrers) and the others, found and left out.
//!
//! Why in the model: `push` sends these documents and `report` measures them, and
//! both must name an image by the same digest (for a docker-archive: the OCI
//! manifest written for it here), the way go-containerregistry's `tarball.Image`
//! reads a docker-archive into its one `v1.Image`. Through the lenient
//! [`Archive`], so any valid archive is taken, not only cargo-slim's exact layout.
//! Only the tar headers and the small JSON documents are read (documents hashed,
//! blob sizes compared with their descriptors); the full check of every blob
//! byte is [`check`].

mod attached;
mod docker;
mod layout;

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use crate::digest::{sha256_digest, sha256_hex_of, Sha256Writer};
use crate::error::Failure;
use crate::oci::{compression, looks_like_tar, Archive, ArtifactEntry, Descriptor, Format};
use crate::oci::{LayerRef, Range, Strictness, MAX_JSON};

/// [`BlobRef::kind`] of an artifact's config and layers.
pub const ARTIFACT_BLOB: &str = "artifact blob";

/// One blob a manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// `config`, `layer` or [`ARTIFACT_BLOB`].
    pub kind: &'static str,
    pub digest: String,
    /// Where its bytes are in the archive.
    pub range: Range,
}

/// A manifest or index, exactly as it is stored (or, for what the archive does
/// not hold as a document, as it is written here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
    /// `os/arch[/variant]` of a per-platform manifest.
    pub platform: Option<String>,
}

/// An artifact manifest attached to an image of the archive, all its blobs held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The artifact manifest, exactly as stored.
    pub doc: Document,
    /// `sha256:<hex>` of the image manifest it refers to.
    pub subject: String,
    pub artifact_type: String,
}

/// What to check byte for byte before trusting the archive ([`check`]).
#[derive(Debug, Clone)]
pub enum Check {
    /// A config blob: its bytes must hash to `digest` (the size is checked here).
    Blob(String, Range),
    /// A layer: digest, `diff_id` and a readable tar stream.
    Layer(LayerRef),
}

/// An archive as a registry would store it, read without hashing any blob.
#[derive(Debug, Clone)]
pub struct Peek {
    pub format: Format,
    /// What the tags will name: an image manifest, or an image index.
    pub top: Document,
    /// With an index on top: each platform's manifest, PUT by digest first.
    pub children: Vec<Document>,
    /// Every blob of every manifest, without repeats, configs first per manifest.
    pub blobs: Vec<BlobRef>,
    /// The full check's work list.
    pub checks: Vec<Check>,
    /// Artifact manifests attached to the images (SBOMs): PUT by digest and
    /// listed as referrers of their subject.
    pub attached: Vec<Attached>,
    /// Artifact manifests (signatures, attestations) found and not attached.
    pub artifacts: Vec<ArtifactEntry>,
    /// What the reader decided that a user should hear (printed as notes).
    pub notes: Vec<String>,
    /// The name the archive gives itself, if any (the reference on the command
    /// line decides where the image goes).
    pub name: Option<String>,
}

impl Peek {
    /// An empty peek of a `format` archive naming itself `name`.
    fn new(format: Format, name: Option<String>) -> Peek {
        Peek {
            format,
            top: Document {
                digest: String::new(),
                media_type: String::new(),
                bytes: Vec::new(),
                platform: None,
            },
            children: Vec::new(),
            blobs: Vec::new(),
            checks: Vec::new(),
            attached: Vec::new(),
            artifacts: Vec::new(),
            notes: Vec::new(),
            name,
        }
    }

    /// Artifacts (`attached`, their blobs `blobs`) for an image already in a
    /// registry, `top` being that image's manifest or index: what a push sends
    /// when it only attaches (a signature of a pushed image).
    pub fn of_attachments(top: Document, attached: Vec<Attached>, blobs: Vec<BlobRef>) -> Peek {
        Peek {
            top,
            attached,
            blobs,
            ..Peek::new(Format::Oci, None)
        }
    }

    /// `sha256:<hex>` of what the tags name.
    pub fn digest(&self) -> &str {
        &self.top.digest
    }

    /// The image manifests, one per platform: the children under an index,
    /// else the top document.
    pub fn images(&self) -> Vec<&Document> {
        if self.children.is_empty() {
            vec![&self.top]
        } else {
            self.children.iter().collect()
        }
    }

    /// Add `blob` to the blobs (with its check), unless one of that digest is there.
    fn add_blob(&mut self, blob: BlobRef, check: Check) {
        if !self.blobs.iter().any(|b| b.digest == blob.digest) {
            self.blobs.push(blob);
            self.checks.push(check);
        }
    }
}

/// The archive at `path`, opened leniently once its first bytes say it is a tar.
fn open(path: &Path) -> Result<Archive<BufReader<File>>, Failure> {
    let mut file = File::open(path).map_err(|e| {
        Failure::new(format!("could not open `{}`", path.display())).detail(e.to_string())
    })?;
    let mut head = [0u8; 512];
    let n = crate::io::read_up_to(&mut file, &mut head).map_err(|e| {
        Failure::new(format!("could not read `{}`", path.display())).detail(e.to_string())
    })?;
    if !looks_like_tar(&head[..n]) {
        return Err(not_an_archive(path, what_it_is(&head[..n])));
    }
    drop(file);
    let file = File::open(path).map_err(|e| {
        Failure::new(format!("could not open `{}`", path.display())).detail(e.to_string())
    })?;
    Archive::open(BufReader::new(file), Strictness::Lenient)
}

/// One phrase for a file that is not a tar archive, from its first bytes.
fn what_it_is(head: &[u8]) -> &'static str {
    if head.starts_with(b"\x7fELF") {
        "it is an ELF executable (`cargo slim build --binary` packs one into an image)"
    } else if head.is_empty() {
        "it is empty"
    } else if let Some(c) = compression(head) {
        match c {
            "gzip" => "it is gzip-compressed (a compressed tarball? `gunzip` it first)",
            "zstd" => "it is zstd-compressed",
            "xz" => "it is xz-compressed",
            _ => "it is bzip2-compressed",
        }
    } else if head.starts_with(b"{") || head.starts_with(b"[") {
        "it is a JSON document"
    } else {
        "its first bytes are not a tar header"
    }
}

/// The sentence for anything that is not an image archive.
pub fn not_an_archive(path: &Path, what: &str) -> Failure {
    Failure::new(format!(
        "`{}` is not an image tarball: {what}",
        path.display()
    ))
    .detail("push and report take a tar holding an OCI image layout (`index.json` + `blobs/`) or a docker-archive (`manifest.json`)")
    .help("pass the tarball of `cargo slim build`, of `skopeo copy … oci-archive:FILE` or `docker-archive:FILE`, or of `docker save`")
}

/// Read the archive at `path` into what a registry would store.
pub fn peek(path: &Path) -> Result<Peek, Failure> {
    let mut ar = open(path)?;
    if ar.has("index.json") {
        layout::peek(&mut ar)
    } else if ar.has("manifest.json") {
        docker::peek(&mut ar)
    } else {
        Err(not_an_archive(
            path,
            "a tar archive without `index.json` or `manifest.json`",
        ))
    }
}

impl<R: Read + Seek> Archive<R> {
    /// Read the document `blob` names and check it against its descriptor
    /// `d` (digest and size); `what` names it in errors.
    pub fn read_document(
        &mut self,
        blob: &str,
        d: &Descriptor,
        what: &str,
    ) -> Result<Vec<u8>, Failure> {
        let bytes = self.read_small(blob, MAX_JSON, what)?;
        if sha256_hex_of(&d.digest).is_none() {
            return Err(Failure::new(format!(
                "{what} `{}` is not a sha256 digest",
                d.digest
            )));
        }
        let actual = sha256_digest(&bytes);
        if actual != d.digest {
            return Err(Failure::new(format!(
                "{what} {} does not match its digest: the archive is corrupt",
                d.digest
            ))
            .detail(format!("actual digest: {actual}")));
        }
        if d.size.is_some_and(|s| s != bytes.len() as u64) {
            return Err(Failure::new(format!(
                "{what} {}: the descriptor says {} bytes, the archive holds {}",
                d.digest,
                d.size.unwrap_or(0),
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

/// Check every blob byte the archive's documents rely on: each config hashes
/// to its digest, each layer to its digest and (uncompressed) to its
/// `diff_id` and reads as a tar stream. Returns the digest of what the tags
/// name, re-read from the archive, so a file changed since [`peek`] is caught.
/// A layer's digest is computed on a second thread over a second handle on
/// the file while the layer is inflated ([`Archive::walk_layer_parallel`]):
/// push waits for this check before its first upload.
pub fn check(path: &Path) -> Result<String, Failure> {
    let peek = peek(path)?;
    let mut ar = open(path)?;
    for c in &peek.checks {
        match c {
            Check::Blob(digest, range) => {
                let mut r = ar.open_range(digest, *range)?;
                let mut h = Sha256Writer::new();
                std::io::copy(&mut r, &mut h).map_err(|e| {
                    Failure::new(format!("cannot read blob {digest}")).detail(e.to_string())
                })?;
                let actual = h.digest();
                if actual != *digest {
                    return Err(Failure::new(format!(
                        "blob {digest} does not match its digest: the archive is corrupt"
                    ))
                    .detail(format!("actual digest: {actual}")));
                }
            }
            Check::Layer(layer) => {
                // The blob's digest over a second handle on the file, on a
                // second core, while `ar` inflates the layer.
                let range = ar.locate(&layer.name)?;
                let blob = || hash_range(path, range, &layer.name);
                ar.walk_layer_parallel(layer, blob, |_, _| Ok(()))?;
            }
        }
    }
    Ok(peek.top.digest)
}

/// Bytes per read when hashing a blob straight from the file.
const HASH_CHUNK: usize = 256 << 10;

/// `sha256:<hex>` of the bytes of `range` in the file at `path` (`name` in
/// errors); fewer bytes than the range if the file was cut since.
fn hash_range(path: &Path, range: Range, name: &str) -> Result<String, Failure> {
    let failed = |e: std::io::Error| {
        Failure::new(format!("layer `{name}`: cannot read")).detail(e.to_string())
    };
    let mut file = File::open(path).map_err(failed)?;
    file.seek(std::io::SeekFrom::Start(range.offset))
        .map_err(failed)?;
    let mut blob = file.take(range.size);
    let mut buf = vec![0u8; HASH_CHUNK];
    let mut h = Sha256Writer::new();
    loop {
        match blob.read(&mut buf) {
            Ok(0) => return Ok(h.digest()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failed(e)),
        }
    }
}
