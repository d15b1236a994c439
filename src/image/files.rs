//! Extra files from the host for the image: the CA bundle and the time-zone
//! database, when `[package.metadata.slim]` asks for them.
//!
//! A scratch image has neither, and programs that read the system trust store or
//! `/usr/share/zoneinfo` fail (or silently fall back to UTC) without them. They
//! are copied as plain read-only files (symlinks followed) so the layer stays
//! deterministic for a given host content.

use std::path::Path;

use anyhow::Result;

use crate::error::{io_failure, Failure};

/// A file to add, owning its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFile {
    pub path: String,
    pub mode: u32,
    pub data: Vec<u8>,
}

pub const IMAGE_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
pub const IMAGE_ZONEINFO: &str = "/usr/share/zoneinfo";

/// The host CA bundle at its conventional image path.
pub fn ca_bundle(host: &Path) -> Result<OwnedFile> {
    let data = std::fs::read(host).map_err(|e| {
        let mut f = io_failure("read the CA bundle", host, &e);
        f.help = Some("install the `ca-certificates` package, or set `ca-certificates = \"/path/to/bundle.pem\"`".into());
        f
    })?;
    Ok(OwnedFile {
        path: IMAGE_CA_BUNDLE.to_string(),
        mode: 0o444,
        data,
    })
}

/// Every zone file under `host` (without the duplicate `posix/` and `right/`
/// trees), at `/usr/share/zoneinfo/...`.
pub fn zoneinfo(host: &Path) -> Result<Vec<OwnedFile>> {
    if !host.is_dir() {
        let what = match std::fs::metadata(host) {
            Ok(m) => format!(
                "`zoneinfo` = `{}` is {}, not a time-zone folder",
                host.display(),
                crate::io::describe_kind(&m)
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("time-zone folder `{}` does not exist", host.display())
            }
            Err(e) => format!("cannot read the time-zone folder `{}`: {e}", host.display()),
        };
        return Err(Failure::new(what)
            .help("install the `tzdata` package, or set `zoneinfo = \"/usr/share/zoneinfo\"` (a folder)")
            .into());
    }
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(host)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !(e.depth() == 1 && (name == "posix" || name == "right"))
        });
    for entry in walker {
        let entry = entry.map_err(|e| {
            Failure::new(format!("could not read `{}`", host.display())).detail(e.to_string())
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(host).unwrap_or(entry.path());
        let data = std::fs::read(entry.path()).map_err(|e| io_failure("read", entry.path(), &e))?;
        out.push(OwnedFile {
            path: format!("{IMAGE_ZONEINFO}/{}", rel.to_string_lossy()),
            mode: 0o444,
            data,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoneinfo_skips_duplicate_trees() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("Europe")).unwrap();
        std::fs::create_dir_all(dir.path().join("posix/Europe")).unwrap();
        std::fs::write(dir.path().join("Europe/Paris"), b"TZif").unwrap();
        std::fs::write(dir.path().join("posix/Europe/Paris"), b"TZif").unwrap();
        std::fs::write(dir.path().join("UTC"), b"TZif2").unwrap();
        let files = zoneinfo(dir.path()).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/usr/share/zoneinfo/Europe/Paris",
                "/usr/share/zoneinfo/UTC"
            ]
        );
        assert!(zoneinfo(&dir.path().join("missing")).is_err());
        assert!(ca_bundle(&dir.path().join("missing.pem")).is_err());
    }
}
