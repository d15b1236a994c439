//! `cargo slim keygen`: a signing key pair, as `cosign generate-key-pair` writes it.
//!
//! In: a [`KeygenRequest`] (where the files go, the password). Out: `PREFIX.key`
//! (cosign's `ENCRYPTED SIGSTORE PRIVATE KEY`, mode 0600) and `PREFIX.pub` (PEM
//! `PUBLIC KEY`, mode 0644), `PREFIX` being `cosign` unless asked otherwise, and
//! the [`KeygenOutcome`] naming them.
//! Why: signing should not need another tool installed, and the pair must work
//! with cosign both ways (`cosign sign --key cosign.key`, `cosign verify --key
//! cosign.pub`). A key is never overwritten — losing one loses every signature's
//! meaning — so an existing file (or link) at either path stops the command
//! before anything is made, and both files are written to temporary files and
//! moved into place only where nothing exists, together or not at all
//! (`io::commit_all_new`). The private key file is 0600 from its first
//! byte.

use std::path::{Path, PathBuf};

use anyhow::Result;
use p256::elliptic_curve::zeroize::Zeroizing;

use crate::error::Failure;
use crate::shell::Shell;

/// What `cargo slim keygen` was asked.
pub struct KeygenRequest {
    /// The files' path without `.key` / `.pub` (`cosign` by default).
    pub prefix: PathBuf,
    /// The private key's password (empty allowed).
    pub password: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for KeygenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeygenRequest")
            .field("prefix", &self.prefix)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What it wrote.
#[derive(Debug, Clone)]
pub struct KeygenOutcome {
    /// The private key file.
    pub key: PathBuf,
    /// The public key file.
    pub public: PathBuf,
    /// SHA-256 (hex) of the public key's DER: a name for it.
    pub fingerprint: String,
}

impl KeygenOutcome {
    /// The `key-generated` JSON line of `--message-format json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "reason": "key-generated",
            "key": self.key,
            "pub": self.public,
            "fingerprint": self.fingerprint,
        })
    }
}

/// `PREFIX.key` and `PREFIX.pub`.
pub fn paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let with = |ext: &str| {
        let mut p = prefix.as_os_str().to_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    (with(".key"), with(".pub"))
}

/// Make a new pair and write it; nothing is written when either file exists.
pub fn keygen(req: &KeygenRequest, shell: &Shell) -> Result<KeygenOutcome> {
    let (key_path, pub_path) = paths(&req.prefix);
    let taken: Vec<&Path> = [key_path.as_path(), pub_path.as_path()]
        .into_iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect();
    if !taken.is_empty() {
        let names: Vec<String> = taken.iter().map(|p| format!("`{}`", p.display())).collect();
        let (verb, it) = if taken.len() > 1 {
            ("exist", "them")
        } else {
            ("exists", "it")
        };
        return Err(Failure::new(format!(
            "{} already {verb}; refusing to overwrite {it}",
            names.join(" and ")
        ))
        .detail("nothing was written: a key is never replaced")
        .help("move the old pair away, or name another with --output-key-prefix PREFIX")
        .into());
    }
    let pair = crate::sign::generate(&req.password)?;
    let private = crate::io::prepare_with_mode(&key_path, 0o600, |w| {
        std::io::Write::write_all(w, pair.private_pem.as_bytes()).map_err(Into::into)
    })?;
    let public = crate::io::prepare_with_mode(&pub_path, 0o644, |w| {
        std::io::Write::write_all(w, pair.public_pem.as_bytes()).map_err(Into::into)
    })?;
    crate::io::commit_all_new(vec![private, public])?;
    let fingerprint = pair.public.fingerprint();
    shell.status(
        "Generated",
        format!(
            "{} and {} (public key sha256:{})",
            key_path.display(),
            pub_path.display(),
            crate::sign::short(&fingerprint)
        ),
    );
    Ok(KeygenOutcome {
        key: key_path,
        public: pub_path,
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::Verbosity;
    use std::os::unix::fs::PermissionsExt;

    fn request(prefix: PathBuf) -> KeygenRequest {
        KeygenRequest {
            prefix,
            password: Zeroizing::new(b"pw".to_vec()),
        }
    }

    #[test]
    fn paths_append_to_the_prefix() {
        assert_eq!(
            paths(Path::new("keys/release.v2")),
            (
                PathBuf::from("keys/release.v2.key"),
                PathBuf::from("keys/release.v2.pub")
            )
        );
    }

    #[test]
    fn writes_a_private_0600_and_a_public_0644_file_that_match() {
        let dir = tempfile::tempdir().unwrap();
        let shell = Shell::buffer(Verbosity::Normal);
        let out = keygen(&request(dir.path().join("sub/cosign")), &shell).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&out.key), 0o600);
        assert_eq!(mode(&out.public), 0o644);
        let key = crate::sign::SigningKey::read(&out.key, b"pw").unwrap();
        let public = crate::sign::PublicKey::read(&out.public).unwrap();
        assert_eq!(key.public_key(), public);
        assert_eq!(out.fingerprint, public.fingerprint());
        assert!(
            shell.captured().contains("Generated"),
            "{}",
            shell.captured()
        );
        let leftovers = std::fs::read_dir(dir.path().join("sub")).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary file stays");
    }

    #[test]
    fn an_existing_file_or_link_stops_it_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let shell = Shell::buffer(Verbosity::Normal);
        let prefix = dir.path().join("cosign");
        std::fs::write(dir.path().join("cosign.pub"), "old").unwrap();
        let e = keygen(&request(prefix.clone()), &shell).unwrap_err();
        assert!(e.to_string().contains("cosign.pub` already exists"), "{e}");
        assert!(!dir.path().join("cosign.key").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("cosign.pub")).unwrap(),
            "old"
        );
        std::fs::remove_file(dir.path().join("cosign.pub")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.path().join("cosign.key")).unwrap();
        let e = keygen(&request(prefix), &shell).unwrap_err();
        assert!(e.to_string().contains("cosign.key` already exists"), "{e}");
        assert!(!dir.path().join("cosign.pub").exists());
    }

    #[test]
    fn a_race_lost_at_the_rename_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (k, p) = paths(&dir.path().join("cosign"));
        let key = crate::io::prepare(&k, b"new key").unwrap();
        let public = crate::io::prepare(&p, b"new pub").unwrap();
        // Made after the check, before the rename.
        std::fs::write(&p, "theirs").unwrap();
        let e = crate::io::commit_all_new(vec![key, public]).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert!(!k.exists(), "the first file is taken back");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "theirs");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn debug_of_a_request_hides_the_password() {
        let shown = format!("{:?}", request(PathBuf::from("cosign")));
        assert!(
            shown.contains("<redacted>") && !shown.contains("112, 119"),
            "{shown}"
        );
    }
}
