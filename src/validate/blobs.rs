//! The readers every document check shares: the blobs of the outer tar by
//! name, a descriptor's media type and size, a bounded read of a JSON
//! document, and the canonical-JSON rule.
//!
//! In: the strict [`Archive`] and the checked outer entries. Out: a document's
//! bytes and parsed value once it is present, of its descriptor's size, at most
//! [`MAX_JSON`] bytes and canonical — or the [`super::errors::Violation`] saying
//! which of these fails. Why apart: the index, manifest and artifact checks all
//! read their documents this way, so it sits below them.

use std::collections::HashMap;
use std::io::{Read, Seek};

use anyhow::Result;
use serde_json::Value;

use super::errors::{bail_at, ensure_at, from_failure, show_num, violation};
use super::outer::{blob_name_of, OuterEntry};
use crate::oci::documents::Descriptor;
use crate::oci::{Archive, Range, MAX_JSON};

pub(super) use crate::oci::canonical::canonical_json;

/// Parse `bytes` as JSON and require them to be canonical.
pub(super) fn parse_canonical(entry: &str, what: &str, bytes: &[u8]) -> Result<Value> {
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

/// The blobs of the outer tar by name.
pub(super) struct Blobs<'a>(HashMap<&'a str, Range>);

/// A descriptor and where it is listed: `field` (`manifests[0]`) of the
/// document `referrer` (`index.json`, an image index blob), both named in errors.
#[derive(Clone, Copy)]
pub(super) struct Listed<'a> {
    pub referrer: &'a str,
    pub field: &'a str,
    pub desc: &'a Descriptor,
}

impl<'a> Blobs<'a> {
    pub fn new(entries: &'a [OuterEntry]) -> Blobs<'a> {
        Blobs(entries.iter().map(|e| (e.name.as_str(), e.range)).collect())
    }

    /// The range of blob `name`, which `referrer`'s `field` points to.
    pub fn find(&self, referrer: &str, field: &str, name: &str) -> Result<Range> {
        self.0.get(name).copied().ok_or_else(|| {
            violation(
                referrer,
                format!("{field} points to `{name}`, which is not in the tarball"),
            )
        })
    }

    /// The JSON document (`what`: an index or a manifest) the descriptor `at`
    /// points to: its blob name, its bytes (present, of the descriptor's size,
    /// canonical JSON) and their value.
    pub fn read_json<R: Read + Seek>(
        &self,
        ar: &mut Archive<R>,
        at: Listed<'_>,
        what: &str,
    ) -> Result<(String, Vec<u8>, Value)> {
        let Listed {
            referrer,
            field,
            desc,
        } = at;
        let name = blob_name_of(referrer, field, &desc.digest)?;
        let range = self.find(referrer, field, &name)?;
        check_size(referrer, &format!("{referrer} {field}"), &name, desc, range)?;
        let bytes = read_doc(ar, &name, range, what)?;
        let value = parse_canonical(&name, what, &bytes)?;
        Ok((name, bytes, value))
    }
}

/// The bytes of a small outer entry (a JSON document), refused when larger
/// than [`MAX_JSON`] before anything is read.
pub(super) fn read_doc<R: Read + Seek>(
    ar: &mut Archive<R>,
    name: &str,
    range: Range,
    what: &str,
) -> Result<Vec<u8>> {
    ensure_at!(
        range.size <= MAX_JSON,
        name,
        "{what} is {} bytes, more than the {MAX_JSON} bytes a JSON document may have",
        range.size
    );
    let mut buf = Vec::with_capacity(range.size as usize);
    ar.open_range(name, range)
        .map_err(from_failure)?
        .read_to_end(&mut buf)
        .map_err(|e| anyhow::anyhow!("reading outer tar entry `{name}`: {e}"))?;
    ensure_at!(
        buf.len() as u64 == range.size,
        name,
        "{what} is truncated: the tar header says {} bytes, the file has {}",
        range.size,
        buf.len()
    );
    Ok(buf)
}

/// A descriptor must carry a media type and a size (the digest is checked
/// where it is turned into a blob name).
pub(super) fn require_descriptor(
    entry: &str,
    field: &str,
    d: &Descriptor,
) -> Result<(String, u64)> {
    let Some(media_type) = d.media_type.clone() else {
        bail_at!(entry, "{field}.mediaType is missing");
    };
    let Some(size) = d.size else {
        bail_at!(
            entry,
            "{field}.size is missing or not a non-negative integer"
        );
    };
    Ok((media_type, size))
}

/// A descriptor's size equals its blob's.
pub(super) fn check_size(
    referrer: &str,
    field: &str,
    blob_name: &str,
    desc: &Descriptor,
    blob: Range,
) -> Result<()> {
    ensure_at!(
        desc.size == Some(blob.size),
        referrer,
        "{field} descriptor size is {}, but blob `{blob_name}` is {} bytes",
        show_num(desc.size),
        blob.size
    );
    Ok(())
}
