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
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::layers::{Data, Node};
use super::source::OpenedFile;
use crate::dirfd::{stat_of, Dir, Kind, Stat};
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
        if self.files.is_empty() {
            return Ok(Vec::new());
        }
        let root = Dir::open(&self.root)
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

    /// "cannot be read": which source, and the system's reason.
    fn unreadable(&self, f: &UserFile, path: &Path, e: &io::Error) -> anyhow::Error {
        let mut fail = Failure::new(format!(
            "`{}` in [package.metadata.slim] of `{}` cannot be read: `{}`",
            f.label,
            self.manifest.display(),
            path.display()
        ))
        .detail(e.to_string());
        fail = match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE) => fail.help(
                "each file is kept open from its check until it is in the layer: raise the                  open-file limit (`ulimit -n`), or put fewer files in `files`",
            ),
            Some(libc::EACCES | libc::EPERM) => fail.help(
                "make it readable by the user running cargo slim, or leave it out of `files`",
            ),
            _ => fail.help("check that the source exists and is a file or folder"),
        };
        fail.into()
    }

    /// The nodes of one entry: a file, or a folder and everything under it, each
    /// opened once relative to its folder's handle.
    fn expand(&self, f: &UserFile, root: &Dir) -> Result<Vec<Node>> {
        let rel = f.src.strip_prefix(&self.root).unwrap_or(&f.src);
        let opened = root.open_beneath(rel).map_err(|e| match e.raw_os_error() {
            Some(libc::EXDEV) => self.refuse(
                f,
                format!(
                    "leads outside the package folder: `{}` is (or passes) a symlink out of it, or an absolute one",
                    f.src.display()
                ),
            ),
            _ => self.unreadable(f, &f.src, &e),
        })?;
        let walk = Walk {
            contents: self,
            f,
            root,
            modes: modes(f),
        };
        let stat = stat_of(&opened).map_err(|e| self.unreadable(f, &f.src, &e))?;
        match stat.kind {
            Kind::File => Ok(vec![walk.file(f.dest.clone(), opened, stat, &f.src)?]),
            Kind::Dir => {
                let mut out = vec![walk.node(f.dest.clone(), None)];
                let mut seen = vec![stat];
                let dir = Dir::from_file(opened);
                walk.dir(&dir, rel, &f.dest, &f.src, &mut seen, &mut out)?;
                Ok(out)
            }
            _ => Err(self.refuse(f, "is neither a file nor a folder")),
        }
    }
}

/// File mode, folder mode and owner of an entry's nodes.
fn modes(f: &UserFile) -> (u32, u32, (u32, u32)) {
    match f.owner {
        Some(o) => (f.mode.unwrap_or(0o644), 0o755, o),
        None => (f.mode.unwrap_or(0o444), 0o555, (0, 0)),
    }
}

/// The walk of one `files` entry's folder.
struct Walk<'a> {
    contents: &'a Contents,
    f: &'a UserFile,
    /// The package folder: symlinks are followed only below it.
    root: &'a Dir,
    modes: (u32, u32, (u32, u32)),
}

impl Walk<'_> {
    fn node(&self, path: String, data: Option<Data>) -> Node {
        let (file_mode, dir_mode, (uid, gid)) = self.modes;
        Node {
            path,
            mode: if data.is_some() { file_mode } else { dir_mode },
            uid,
            gid,
            data,
        }
    }

    /// A file node, hashed from the handle it was opened as.
    fn file(&self, dest: String, file: std::fs::File, stat: Stat, shown: &Path) -> Result<Node> {
        let opened = OpenedFile::hash(file, stat, shown.to_path_buf())
            .map_err(|e| self.contents.unreadable(self.f, shown, &e))?;
        Ok(self.node(dest, Some(Data::Opened(opened))))
    }

    /// Open the entry `name` of the open folder `dir` (at `rel` below the
    /// package folder, `host` on the host): a symlink is followed only below the
    /// package folder; a file or folder must be the one the listing showed.
    fn open(
        &self,
        dir: &Dir,
        rel: &Path,
        name: &std::ffi::OsStr,
        host: &Path,
    ) -> Result<(std::fs::File, Stat)> {
        let (c, f) = (self.contents, self.f);
        let listed = dir.stat_at(name).map_err(|e| c.unreadable(f, host, &e))?;
        match listed.kind {
            Kind::Symlink => {
                let file = self.root.open_beneath(rel).map_err(|e| {
                    if e.raw_os_error() == Some(libc::EXDEV) {
                        c.refuse(f, format!("leads outside the package folder: `{}` is a symlink out of it (or an absolute one)", host.display()))
                    } else {
                        c.unreadable(f, host, &e)
                    }
                })?;
                let stat = stat_of(&file).map_err(|e| c.unreadable(f, host, &e))?;
                Ok((file, stat))
            }
            Kind::File | Kind::Dir => {
                let file = dir.open_at(name).map_err(|e| match e.raw_os_error() {
                    Some(libc::ELOOP) => swapped(c, f, host),
                    _ => c.unreadable(f, host, &e),
                })?;
                let stat = stat_of(&file).map_err(|e| c.unreadable(f, host, &e))?;
                if !stat.same(&listed) || stat.kind != listed.kind {
                    return Err(swapped(c, f, host));
                }
                Ok((file, stat))
            }
            Kind::Other(what) => Err(c.refuse(
                f,
                format!(
                    "holds `{}`, which is {what}, not a file or a folder",
                    host.display()
                ),
            )),
        }
    }

    /// Every entry below the open folder `dir` (at `rel` below the package
    /// folder, `dest` in the image, `shown` on the host), sorted by name.
    fn dir(
        &self,
        dir: &Dir,
        rel: &Path,
        dest: &str,
        shown: &Path,
        seen: &mut Vec<Stat>,
        out: &mut Vec<Node>,
    ) -> Result<()> {
        let (c, f) = (self.contents, self.f);
        let names = dir.names().map_err(|e| c.unreadable(f, shown, &e))?;
        for name in names {
            let host = shown.join(&name);
            let Some(text) = name.to_str() else {
                return Err(c.refuse(
                    f,
                    format!("holds a name that is not UTF-8: `{}`", host.display()),
                ));
            };
            let path = format!("{dest}/{text}");
            let below = rel.join(&name);
            let (file, stat) = self.open(dir, &below, &name, &host)?;
            match stat.kind {
                Kind::File => out.push(self.file(path, file, stat, &host)?),
                Kind::Dir => {
                    if seen.iter().any(|s| s.same(&stat)) {
                        return Err(
                            c.refuse(f, format!("holds a symlink loop at `{}`", host.display()))
                        );
                    }
                    out.push(self.node(path.clone(), None));
                    seen.push(stat);
                    let sub = Dir::from_file(file);
                    self.dir(&sub, &below, &path, &host, seen, out)?;
                    seen.pop();
                }
                Kind::Symlink | Kind::Other(_) => {
                    return Err(c.refuse(
                        f,
                        format!(
                            "holds `{}`, which is not a file or a folder",
                            host.display()
                        ),
                    ))
                }
            }
        }
        Ok(())
    }
}

/// An entry that changed between its listing and its opening.
fn swapped(c: &Contents, f: &UserFile, host: &Path) -> anyhow::Error {
    c.refuse(
        f,
        format!(
            "changed while it was read: `{}` was replaced (by a symlink, a FIFO or another file)",
            host.display()
        ),
    )
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

    #[test]
    fn links_inside_are_followed_fifos_refused_and_files_streamed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("public/sub")).unwrap();
        std::fs::write(root.join("shared.txt"), b"shared").unwrap();
        std::os::unix::fs::symlink("../../shared.txt", root.join("public/sub/link")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("abs")).unwrap();
        let c = contents(root, vec![entry(root, 0, "public", "/p")]);
        let nodes = c.user_nodes(&[]).unwrap();
        let Some(Data::Opened(f)) = &nodes[2].data else {
            panic!("{nodes:?}")
        };
        assert_eq!(nodes[2].path, "/p/sub/link");
        assert_eq!(f.digest, crate::digest::sha256_digest(b"shared"));
        let e = c.refuse_text(vec![entry(root, 0, "abs", "/x")]);
        assert!(e.contains("leads outside"), "{e}");
        let fifo = std::ffi::CString::new(
            root.join("public/fifo")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let e = c.refuse_text(vec![entry(root, 0, "public", "/p")]);
        assert!(e.contains("FIFO") && e.contains("files[0]"), "{e}");
    }

    impl Contents {
        fn refuse_text(&self, files: Vec<UserFile>) -> String {
            let c = Contents {
                files,
                ..self.clone()
            };
            let e = c.user_nodes(&[]).unwrap_err();
            e.downcast_ref::<Failure>().unwrap().what.clone()
        }
    }
}
