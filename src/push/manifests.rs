//! Step 5 of a push: the manifests, after every blob is in the registry.
//!
//! In: the [`Job`] (what to push, where) and the registry it prepared. Out: each
//! platform's manifest PUT by digest (when an image index is on top: the registry
//! accepts an index only once every manifest it names is there), then the top
//! document, byte for byte, under every tag that does not name it yet, each tag
//! read back so the digest printed is the registry's. Why apart: the blob part of
//! `push` is about streaming and progress; this part about order and proof.

use super::client::Client;
use super::transport::{gave_up, retry, Attempt};
use super::{short, Job};
use crate::error::Failure;
use anyhow::Result;

impl Job<'_> {
    /// PUT the per-platform manifests and the top document under every tag.
    pub(super) async fn put_manifests(
        &self,
        client: &Client,
        base: &str,
        tag_digests: &[Option<String>],
    ) -> Result<()> {
        let (shell, policy) = (self.shell, &self.opts.retry);
        let registry = &self.target.registry;
        // 5. Each platform's manifest by digest (an index names them), unless a tag
        // already names our index; then the top document, byte for byte, under
        // every tag; then what the registry says.
        let ours = self.peek.digest();
        if !tag_digests.iter().any(|d| d.as_deref() == Some(ours)) {
            // The artifacts an index on top names (SBOMs) go before it, too.
            let artifacts = self.peek.attached.iter().map(|a| &a.doc);
            let named = self
                .peek
                .children
                .iter()
                .chain(artifacts.filter(|_| !self.peek.children.is_empty()));
            for child in named {
                let platform = child.platform.as_deref().unwrap_or("an artifact");
                retry(
                    policy,
                    &format!("PUT manifest {} ({platform})", short(&child.digest)),
                    shell,
                    Attempt::clone,
                    || client.put_manifest(&child.digest, &child.media_type, &child.bytes),
                )
                .await
                .map_err(|g| {
                    gave_up(
                        g,
                        &format!("push the {platform} manifest {}", child.digest),
                        base,
                    )
                })?;
                shell.verbose(
                    "Manifest",
                    format!("{} for {platform}", short(&child.digest)),
                );
            }
        }
        for (tag, before) in self.tags.iter().zip(tag_digests) {
            if before.as_deref() == Some(ours) {
                shell.verbose(
                    "Unchanged",
                    format!(
                        "{registry}/{}:{tag} is already {ours}",
                        self.target.repository
                    ),
                );
                continue;
            }
            let top = &self.peek.top;
            retry(
                policy,
                &format!("PUT manifest {}:{tag}", self.target.repository),
                shell,
                Attempt::clone,
                || client.put_manifest(tag, &top.media_type, &top.bytes),
            )
            .await
            .map_err(|g| gave_up(g, &format!("push the manifest as `{tag}`"), base))?;
            let remote = self
                .remote_digest(client, base, tag)
                .await?
                .unwrap_or_else(|| "nothing".to_string());
            if remote != ours {
                return Err(Failure::new(format!(
                    "{registry} reports {remote} for `{}:{tag}`, but the pushed manifest is {ours}",
                    self.target.repository
                ))
                .help("the registry rewrote the manifest (or another push raced this one); pin the digest it reports only after checking it")
                .into());
            }
            shell.verbose(
                "Tagged",
                format!("{registry}/{}:{tag} → {remote}", self.target.repository),
            );
        }
        Ok(())
    }
}
