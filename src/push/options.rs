//! What to push where, and what was pushed.
//!
//! In: the flags of `cargo slim push`, or what `build --push` resolved from its
//! flags and `[package.metadata.slim]` (in `config`). Out: [`PushOptions`], the
//! one value both hand to [`super::push`], and [`Pushed`], what it returns (and
//! prints as `REPOSITORY@sha256:DIGEST` or a JSON line). Why apart from
//! `mod.rs`: these are the module's public types; `mod.rs` is the push itself.

use std::path::PathBuf;

use anyhow::Result;

use super::retry::RetryPolicy;
use crate::reference::Reference;

/// Where to push and how: the one value `cargo slim push` parses its flags into
/// and `build --push` resolves into (in `config`), handed to [`super::push`] as it
/// is. Only the tarball is apart: given, or just built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// Where the image goes, e.g. `ghcr.io/acme/app:1.2.0` (a missing tag means
    /// `latest`), whatever name the archive gives itself.
    pub reference: String,
    /// More tags for the same manifest, besides the reference's own.
    pub extra_tags: Vec<String>,
    /// Allow plain HTTP and unverified TLS for any registry (not only loopback).
    pub insecure: bool,
    /// A PEM file of CA certificates to trust (besides the system's, or those of
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` when set).
    pub ca_file: Option<PathBuf>,
    /// Tries, backoff, and `--timeout`.
    pub retry: RetryPolicy,
    /// Show progress bars (only ever on a terminal, and only for blobs ≥ 1 MiB).
    pub progress: bool,
    /// `--image-refs`: also write `repository@sha256:<hex>` (and a newline) to
    /// this file once pushed.
    pub image_refs: Option<PathBuf>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            reference: String::new(),
            extra_tags: Vec::new(),
            insecure: false,
            ca_file: None,
            retry: RetryPolicy::default(),
            progress: true,
            image_refs: None,
        }
    }
}

impl PushOptions {
    /// `--image-refs PATH` must be a file that can be written: checked before any
    /// tag is pushed (and by `build --push` before the build), so a folder or a
    /// read-only place fails with nothing pushed.
    pub fn check_image_refs(&self) -> Result<()> {
        match &self.image_refs {
            Some(path) => Ok(crate::io::check_text_output(path, "--image-refs")?),
            None => Ok(()),
        }
    }
}

/// What was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `registry/repository`, e.g. `ghcr.io/acme/app`.
    pub repository: String,
    /// `sha256:<hex>` of the manifest: the same locally and in the registry.
    pub digest: String,
    /// Every tag now pointing at `digest`, the reference's own first.
    pub tags: Vec<String>,
    pub blobs_uploaded: usize,
    /// Blobs the registry already had (HEAD answered 200).
    pub blobs_skipped: usize,
}

impl Pushed {
    /// `registry/repository@sha256:<hex>`: the immutable name of what was pushed.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }

    /// The `{"reason":"pushed",…}` JSON line of `--message-format json`:
    /// `reason`, `reference` (= [`Pushed::pinned`]), `repository`, `digest`, `tags`,
    /// `blobs_uploaded`, `blobs_skipped`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "reason": "pushed",
            "reference": self.pinned(),
            "repository": self.repository,
            "digest": self.digest,
            "tags": self.tags,
            "blobs_uploaded": self.blobs_uploaded,
            "blobs_skipped": self.blobs_skipped,
        })
    }
}

/// The reference's tag first, then the extra tags, each checked, without repeats.
pub(super) fn all_tags(target: &Reference, extra: &[String]) -> Result<Vec<String>> {
    let mut tags = vec![target.tag.clone()];
    for t in extra {
        crate::reference::check_tag(t)?;
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Ok(tags)
}

/// Write `--image-refs FILE`: each pushed image's `REPOSITORY@sha256:DIGEST`,
/// one a line, replacing the file in one step.
pub fn write_image_refs(path: &std::path::Path, pinned: &[String]) -> anyhow::Result<()> {
    let lines: String = pinned.iter().map(|p| format!("{p}\n")).collect();
    crate::io::write_atomic(path, lines.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_and_deduplicated() {
        let r = Reference::parse("127.0.0.1:5000/app:1.0").unwrap();
        let tags = all_tags(&r, &["latest".into(), "1.0".into(), "latest".into()]).unwrap();
        assert_eq!(tags, ["1.0", "latest"]);
        for bad in ["", "-x", "a/b", "a:b", "UPPER ok"] {
            assert!(all_tags(&r, &[bad.into()]).is_err(), "{bad:?}");
        }
        assert!(
            all_tags(&r, &["UPPER".into()]).is_ok(),
            "tags may hold capitals"
        );
    }

    #[test]
    fn json_line_has_the_documented_fields() {
        let p = Pushed {
            repository: "r:1/app".into(),
            digest: "sha256:ab".into(),
            tags: vec!["1".into(), "latest".into()],
            blobs_uploaded: 1,
            blobs_skipped: 1,
        };
        assert_eq!(p.pinned(), "r:1/app@sha256:ab");
        let v = p.to_json();
        assert_eq!(v["reason"], "pushed");
        assert_eq!(v["reference"], "r:1/app@sha256:ab");
        assert_eq!(v["tags"], serde_json::json!(["1", "latest"]));
    }
}
