//! `cargo slim sign` flags.
//!
//! In: the tarball, `--key`, and the key's password from `CARGO_SLIM_KEY_PASSWORD`
//! / `COSIGN_PASSWORD` ([`super::keygen::password_from_env`]). Out: the key file's
//! path and password for [`cargo_slim::sign::SigningKey::read`]. Why here: the
//! environment is read in the binary; the library takes values.

use std::path::{Path, PathBuf};

use clap::Args;
use p256::elliptic_curve::zeroize::Zeroizing;

use cargo_slim::error::Failure;
use cargo_slim::push::remote::RemoteRef;
use cargo_slim::sign::{KeySigner, SigningKey};

/// The signer of the key file `key`, its password from the environment
/// (`sign --key`, `build --sign`, `resolve --sign`).
pub fn read_signer(key: &Path) -> Result<KeySigner, Failure> {
    let password = Zeroizing::new(super::password_from_env().unwrap_or_default());
    Ok(KeySigner::new(SigningKey::read(key, &password)?))
}

/// `cargo slim sign TARBALL|REF --key KEY`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = "\
REF (an image in a registry: registry/repo:tag or registry/repo@sha256:…) is signed where
it is: the index and each platform manifest, as `cosign sign --recursive` does, each
signature listed as a referrer and merged into cosign's `sha256-<hex>.sig` tag (a
multi-platform index can only be signed there: its tarball lists the attachments).

Signs each platform's image manifest in TARBALL as `cosign sign --key` does (cosign's
simple-signing payload, docker-reference = the repository the tarball names, e.g.
localhost/hello) and attaches the signatures inside the tarball, which is rewritten in
place (atomically). `cargo slim push` then writes them to cosign's `sha256-<hex>.sig`
tag, so `cosign verify --key cosign.pub` accepts the pushed image. Signing again with
the same key replaces its signature; another key's signature is kept.

KEY is cosign's encrypted key (`cargo slim keygen`, `cosign generate-key-pair`) or a
PEM P-256 private key; its password comes from CARGO_SLIM_KEY_PASSWORD, else
COSIGN_PASSWORD (empty when neither is set). Prints each signed digest.

Exit codes: 0 ok, 1 error (not an image tarball, wrong password, cannot write), 2 usage error.")]
pub struct SignArgs {
    /// The image tarball to sign (rewritten in place), or an image in a registry
    #[arg(value_name = "TARBALL|REF")]
    pub target: PathBuf,

    /// The private key file (cosign.key)
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,

    #[command(flatten)]
    pub registry: RemoteArgs,
}

/// How `sign REF` / `verify REF` reach a registry.
#[derive(Debug, Clone, Default, Args)]
pub struct RemoteArgs {
    /// With a REF: allow plain HTTP and unverified TLS for a registry that is not on
    /// loopback
    #[arg(long)]
    pub insecure: bool,

    /// With a REF: a PEM file of CA certificates to trust besides the system's
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

impl RemoteArgs {
    /// Push's options with these settings.
    pub fn options(&self) -> cargo_slim::push::PushOptions {
        cargo_slim::commands::sign_ref::options(self.insecure, self.ca_file.clone())
    }
}

/// `arg` as an image in a registry: not an existing path, not written as a file
/// (`./…`, `/…`, `….tar`), and a name whose first part is a registry
/// (`localhost`, or with a `.` or a `:`), as docker reads it.
pub fn as_remote(arg: &Path) -> Option<Result<RemoteRef, Failure>> {
    if arg.exists() {
        return None;
    }
    let text = arg.to_str()?;
    let first = text.split('/').next().unwrap_or("");
    // `./x`, `/x`, `../x` and `*.tar` are files, missing or not.
    let file_like = text.starts_with('.') || text.starts_with('/') || text.ends_with(".tar");
    let registry = !file_like
        && text.contains('/')
        && (first == "localhost" || first.contains('.') || first.contains(':'));
    registry.then(|| RemoteRef::parse(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_references_and_files_are_told_apart() {
        let remote = |s: &str| as_remote(Path::new(s)).map(|r| r.is_ok());
        assert_eq!(remote("localhost:5000/app:1"), Some(true));
        assert_eq!(remote("ghcr.io/acme/app"), Some(true));
        let pinned = format!("ghcr.io/acme/app@sha256:{}", "ab".repeat(32));
        assert_eq!(remote(&pinned), Some(true));
        assert_eq!(remote("ghcr.io/acme/app@sha256:short"), Some(false));
        for file in [
            "./missing.tar",
            "/no/such.tar",
            "out.d/app.tar",
            "dist/app",
            "app.tar",
        ] {
            assert_eq!(remote(file), None, "{file}");
        }
        // An existing file is a file, whatever its name looks like.
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("localhost");
        std::fs::create_dir(&odd).unwrap();
        assert_eq!(as_remote(&odd).map(|r| r.is_ok()), None);
    }
}
