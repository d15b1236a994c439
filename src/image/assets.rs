//! The user's `files` (`[package.metadata.slim] files = [{ src, dest, mode, owner }]`)
//! → the [`Node`]s of their layer.
//!
//! In: entries already checked by `config` (source inside the package folder,
//! destination absolute and normalised, mode and owner parsed). Out: every file and
//! folder under each source, at its destination, sorted, with fixed modes — files
//! `0444` unless `mode` is set, folders `0555`; owner-writable (`0644` / `0755`) and
//! owned by `owner` when that is set — so the layer depends only on the files'
//! contents. Why the walk checks again: a symlink deep inside a source folder may
//! lead outside the package, and that is refused here, naming the entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::layers::Node;
use crate::error::{io_failure, Failure};

/// One `files` entry, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFile {
    /// How the entry is named in errors: `files[0] (src = "public/")`.
    pub label: String,
    /// The source on the host, absolute (a file or a folder).
    pub src: PathBuf,
    /// Absolute, normalised path inside the image.
    pub dest: String,
    /// File mode (`mode = "0444"`); folders keep theirs.
    pub mode: Option<u32>,
    /// `owner = "uid:gid"`.
    pub owner: Option<(u32, u32)>,
}

/// Image settings beyond [`super::ImageSpec`]: what the extra layers hold and the
/// config and manifest fields they come with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// The package folder: no source may lead outside it.
    pub root: PathBuf,
    /// The manifest the keys were read from, for errors.
    pub manifest: PathBuf,
    pub files: Vec<UserFile>,
    pub tmp: bool,
    pub passwd: bool,
    /// Image config `StopSignal`, e.g. `SIGQUIT`.
    pub stop_signal: Option<String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

impl Contents {
    fn refuse(&self, f: &UserFile, why: impl Into<String>) -> anyhow::Error {
        Failure::new(format!(
            "`{}` in [package.metadata.slim] of `{}` {}",
            f.label,
            self.manifest.display(),
            why.into()
        ))
        .help("sources are files or folders inside the package folder; destinations are absolute paths that nothing else in the image uses")
        .into()
    }

    /// The nodes of every `files` entry. `taken` lists the image paths other
    /// layers hold (the binary, system files): a collision is an error.
    pub fn user_nodes(&self, taken: &[String]) -> Result<Vec<Node>> {
        let root = self
            .root
            .canonicalize()
            .map_err(|e| io_failure("open the package folder", &self.root, &e))?;
        let mut nodes: Vec<Node> = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for f in &self.files {
            for node in self.expand(f, &root)? {
                for t in taken {
                    let under = |a: &str, b: &str| a.starts_with(&format!("{b}/"));
                    if &node.path == t || under(t, &node.path) || under(&node.path, t) {
                        if node.data.is_none() && under(t, &node.path) {
                            continue; // a folder above the binary: both can hold
                        }
                        return Err(self.refuse(
                            f,
                            format!("puts `{}` where the image already has `{t}`", node.path),
                        ));
                    }
                }
                if let Some(other) = seen.insert(node.path.clone(), f.label.clone()) {
                    return Err(self.refuse(
                        f,
                        format!("puts `{}` in the image, and so does `{other}`", node.path),
                    ));
                }
                nodes.push(node);
            }
        }
        nodes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(nodes)
    }

    /// The nodes of one entry: a file, or a folder and everything under it.
    fn expand(&self, f: &UserFile, root: &Path) -> Result<Vec<Node>> {
        let inside = |p: &Path| -> Result<PathBuf> {
            let real = p
                .canonicalize()
                .map_err(|e| self.refuse(f, format!("cannot be read: `{}`: {e}", p.display())))?;
            if !real.starts_with(root) {
                return Err(self.refuse(
                    f,
                    format!(
                        "leads outside the package folder: `{}` is `{}`",
                        p.display(),
                        real.display()
                    ),
                ));
            }
            Ok(real)
        };
        let (file_mode, dir_mode, (uid, gid)) = match f.owner {
            Some(o) => (f.mode.unwrap_or(0o644), 0o755, o),
            None => (f.mode.unwrap_or(0o444), 0o555, (0, 0)),
        };
        let node = |path: String, data: Option<Vec<u8>>| Node {
            path,
            mode: if data.is_some() { file_mode } else { dir_mode },
            uid,
            gid,
            data,
        };
        let read = |p: &Path| std::fs::read(p).map_err(|e| io_failure("read", p, &e));
        let src = inside(&f.src)?;
        if src.is_file() {
            return Ok(vec![node(f.dest.clone(), Some(read(&src)?))]);
        }
        if !src.is_dir() {
            return Err(self.refuse(f, "is neither a file nor a folder"));
        }
        let mut out = vec![node(f.dest.clone(), None)];
        let walker = walkdir::WalkDir::new(&f.src)
            .follow_links(true)
            .min_depth(1)
            .sort_by_file_name();
        for entry in walker {
            let entry = entry.map_err(|e| self.refuse(f, format!("cannot be read: {e}")))?;
            let real = inside(entry.path())?;
            let rel = entry.path().strip_prefix(&f.src).unwrap_or(entry.path());
            let Some(rel) = rel.to_str() else {
                return Err(self.refuse(
                    f,
                    format!("holds a name that is not UTF-8: `{}`", rel.display()),
                ));
            };
            let path = format!("{}/{rel}", f.dest);
            if entry.file_type().is_dir() {
                out.push(node(path, None));
            } else if entry.file_type().is_file() {
                out.push(node(path, Some(read(&real)?)));
            } else {
                return Err(self.refuse(
                    f,
                    format!("holds `{}`, which is not a file or a folder", rel),
                ));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(root: &Path, files: Vec<UserFile>) -> Contents {
        Contents {
            root: root.to_path_buf(),
            manifest: root.join("Cargo.toml"),
            files,
            ..Contents::default()
        }
    }

    fn entry(root: &Path, i: usize, src: &str, dest: &str) -> UserFile {
        UserFile {
            label: format!("files[{i}] (src = \"{src}\")"),
            src: root.join(src),
            dest: dest.into(),
            mode: None,
            owner: None,
        }
    }

    #[test]
    fn folders_expand_sorted_with_fixed_modes_and_owners() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("public/css")).unwrap();
        std::fs::write(root.join("public/index.html"), b"<p>").unwrap();
        std::fs::write(root.join("public/css/a.css"), b"a").unwrap();
        std::fs::create_dir(root.join("data")).unwrap();
        std::fs::write(root.join("app.toml"), b"x = 1").unwrap();
        let mut data = entry(root, 1, "data", "/data");
        data.owner = Some((65532, 65532));
        let mut app = entry(root, 2, "app.toml", "/etc/app/app.toml");
        app.mode = Some(0o400);
        let c = contents(root, vec![entry(root, 0, "public", "/public"), data, app]);
        let nodes = c.user_nodes(&["/app".into()]).unwrap();
        let got: Vec<(&str, u32, u32, bool)> = nodes
            .iter()
            .map(|n| (n.path.as_str(), n.mode, n.uid, n.data.is_some()))
            .collect();
        assert_eq!(
            got,
            [
                ("/data", 0o755, 65532, false),
                ("/etc/app/app.toml", 0o400, 0, true),
                ("/public", 0o555, 0, false),
                ("/public/css", 0o555, 0, false),
                ("/public/css/a.css", 0o444, 0, true),
                ("/public/index.html", 0o444, 0, true),
            ]
        );
    }

    #[test]
    fn collisions_and_escaping_symlinks_are_refused_naming_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("public")).unwrap();
        std::fs::write(root.join("a"), b"a").unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("public/leak"))
            .unwrap();
        let err = |c: Contents, taken: &[String]| {
            let e = c.user_nodes(taken).unwrap_err();
            e.downcast_ref::<Failure>().unwrap().what.clone()
        };
        let e = err(contents(root, vec![entry(root, 0, "public", "/p")]), &[]);
        assert!(e.contains("files[0]") && e.contains("outside"), "{e}");

        let e = err(
            contents(root, vec![entry(root, 3, "a", "/app")]),
            &["/app".into()],
        );
        assert!(
            e.contains("files[3]") && e.contains("already has `/app`"),
            "{e}"
        );
        let e = err(
            contents(
                root,
                vec![entry(root, 0, "a", "/x"), entry(root, 1, "a", "/x")],
            ),
            &[],
        );
        assert!(e.contains("files[1]") && e.contains("files[0]"), "{e}");
        let e = err(contents(root, vec![entry(root, 0, "gone", "/x")]), &[]);
        assert!(
            e.contains("files[0]") && e.contains("cannot be read"),
            "{e}"
        );
        // A file above the binary's path cannot be a folder too.
        let e = err(
            contents(root, vec![entry(root, 0, "a", "/usr")]),
            &["/usr/bin/app".into()],
        );
        assert!(e.contains("already has"), "{e}");
    }
}
