//! The merged filesystem of an image: every layer applied in order, with
//! OCI whiteouts (`.wh.NAME` hides a lower path, `.wh..wh..opq` empties a
//! lower directory), and path resolution through symlinks the way `execve`
//! does it (every component, relative and absolute targets, `..` never above
//! the root, at most [`MAX_LINK_HOPS`] links).
//!
//! In: the [`LayerEntry`]s [`super::Archive::walk_layer`] yields, layer by
//! layer. Out: [`Fs::resolve`] answers "what would the runtime find at this
//! path?", which is how `verify` checks the entrypoint and a script's
//! interpreter without unpacking anything to disk.

use std::collections::BTreeMap;

use super::{normalize, EntryKind, LayerEntry, MAX_LINK_HOPS};

/// What a path in the image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    File,
    Dir,
    Symlink(String),
    Other(char),
}

/// One path of the merged image filesystem.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Index of the layer the entry came from.
    pub layer: usize,
    /// The first bytes of a regular file (up to [`Fs::HEAD`]).
    pub head: Vec<u8>,
    /// Caller's tag, e.g. the index of the file's ELF verdict.
    pub tag: Option<usize>,
}

/// The image's filesystem: all layers applied in order, whiteouts honoured.
#[derive(Debug, Default)]
pub struct Fs {
    nodes: BTreeMap<String, Node>,
    pending: BTreeMap<String, Node>,
    whiteouts: Vec<String>,
    opaque: Vec<String>,
}

/// Outcome of [`Fs::resolve`].
#[derive(Debug, Clone)]
pub enum Resolved<'a> {
    Found {
        path: String,
        node: Option<&'a Node>,
        /// `link -> target` steps taken.
        chain: Vec<String>,
    },
    Missing {
        path: String,
        chain: Vec<String>,
    },
    NotADirectory {
        path: String,
    },
    Loop {
        chain: Vec<String>,
    },
}

impl Fs {
    /// Bytes kept from the start of each regular file.
    pub const HEAD: usize = 128;

    /// Record an entry of the layer being read (applied by [`Fs::end_layer`]).
    pub fn add(&mut self, entry: &LayerEntry, layer: usize, head: Vec<u8>, tag: Option<usize>) {
        let (dir, base) = match entry.path.rfind('/') {
            Some(i) => (&entry.path[..i], &entry.path[i + 1..]),
            None => ("", entry.path.as_str()),
        };
        if base == ".wh..wh..opq" {
            self.opaque.push(dir.to_string());
            return;
        }
        if let Some(name) = base.strip_prefix(".wh.") {
            self.whiteouts.push(if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            });
            return;
        }
        let kind = match &entry.kind {
            EntryKind::File => NodeKind::File,
            EntryKind::Dir => NodeKind::Dir,
            EntryKind::Symlink(t) => NodeKind::Symlink(t.clone()),
            EntryKind::Other(c) => NodeKind::Other(*c),
            EntryKind::HardLink(target) => {
                let Some(t) = self.pending.get(target).or_else(|| self.nodes.get(target)) else {
                    return;
                };
                let mut n = t.clone();
                n.mode = entry.mode;
                n.layer = layer;
                self.pending.insert(entry.path.clone(), n);
                return;
            }
        };
        self.pending.insert(
            entry.path.clone(),
            Node {
                kind,
                mode: entry.mode,
                uid: entry.uid,
                gid: entry.gid,
                layer,
                head,
                tag,
            },
        );
    }

    /// Apply the current layer: its whiteouts hide lower layers' paths, then
    /// its entries are added.
    pub fn end_layer(&mut self) {
        for dir in std::mem::take(&mut self.opaque) {
            self.remove_under(&dir, false);
        }
        for path in std::mem::take(&mut self.whiteouts) {
            self.remove_under(&path, true);
        }
        let pending = std::mem::take(&mut self.pending);
        self.nodes.extend(pending);
    }

    fn remove_under(&mut self, path: &str, itself: bool) {
        if itself {
            self.nodes.remove(path);
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(&normalize(path))
    }

    /// Like [`Fs::get`], but also sees the entries of the layer being added.
    pub fn get_current(&self, path: &str) -> Option<&Node> {
        let p = normalize(path);
        self.pending.get(&p).or_else(|| self.nodes.get(&p))
    }

    /// A path with no entry of its own but with entries below it.
    fn implicit_dir(&self, path: &str) -> bool {
        let prefix = format!("{path}/");
        self.nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// Resolve an absolute path, following symlinks in every component
    /// (at most [`MAX_LINK_HOPS`]), like the kernel's `execve` would.
    pub fn resolve(&self, path: &str) -> Resolved<'_> {
        let mut todo: Vec<String> = path
            .split('/')
            .rev()
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let mut cur: Vec<String> = Vec::new();
        let mut chain = Vec::new();
        let mut last: Option<&Node> = None;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    cur.pop();
                    last = None;
                    continue;
                }
                _ => {}
            }
            cur.push(c);
            let p = cur.join("/");
            match self.nodes.get(&p) {
                Some(Node {
                    kind: NodeKind::Symlink(target),
                    ..
                }) => {
                    if chain.len() >= MAX_LINK_HOPS {
                        return Resolved::Loop { chain };
                    }
                    chain.push(format!("/{p} -> {target}"));
                    cur.pop();
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    todo.extend(
                        target
                            .split('/')
                            .rev()
                            .filter(|c| !c.is_empty())
                            .map(str::to_string),
                    );
                    last = None;
                }
                Some(node) => {
                    if node.kind != NodeKind::Dir && !todo.is_empty() {
                        return Resolved::NotADirectory {
                            path: format!("/{p}"),
                        };
                    }
                    last = Some(node);
                }
                None if self.implicit_dir(&p) => last = None,
                None => {
                    return Resolved::Missing {
                        path: format!("/{p}"),
                        chain,
                    }
                }
            }
        }
        Resolved::Found {
            path: format!("/{}", cur.join("/")),
            node: last,
            chain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: EntryKind) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            raw_path: path.into(),
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
        }
    }

    fn found(fs: &Fs, p: &str) -> Option<String> {
        match fs.resolve(p) {
            Resolved::Found { path, .. } => Some(path),
            _ => None,
        }
    }

    #[test]
    fn layers_merge_with_whiteouts_and_opaque_dirs() {
        let mut fs = Fs::default();
        for p in ["etc/a", "etc/b", "bin/app", "gone"] {
            fs.add(&entry(p, EntryKind::File), 0, Vec::new(), None);
        }
        fs.end_layer();
        // Layer 1: hide /gone, make /etc opaque but add etc/c in the same
        // layer (whiteouts only hide lower layers), hard link /bin/app.
        fs.add(&entry(".wh.gone", EntryKind::File), 1, Vec::new(), None);
        fs.add(&entry("etc/c", EntryKind::File), 1, Vec::new(), None);
        fs.add(
            &entry("etc/.wh..wh..opq", EntryKind::File),
            1,
            Vec::new(),
            None,
        );
        fs.add(
            &entry("app2", EntryKind::HardLink("bin/app".into())),
            1,
            Vec::new(),
            None,
        );
        fs.end_layer();
        assert!(fs.get("gone").is_none());
        assert!(fs.get("etc/a").is_none() && fs.get("etc/b").is_none());
        assert!(fs.get("etc/c").is_some());
        assert_eq!(fs.get("/app2").unwrap().kind, NodeKind::File);
        assert_eq!(fs.get("app2").unwrap().layer, 1);
        // `etc` has no entry of its own, but entries below it.
        assert_eq!(found(&fs, "/etc/../etc/c").as_deref(), Some("/etc/c"));
        assert!(matches!(
            fs.resolve("/etc"),
            Resolved::Found { node: None, .. }
        ));
    }

    #[test]
    fn symlinks_resolve_like_the_kernel() {
        let mut fs = Fs::default();
        fs.add(&entry("usr/bin/real", EntryKind::File), 0, Vec::new(), None);
        fs.add(
            &entry("bin", EntryKind::Symlink("usr/bin".into())),
            0,
            Vec::new(),
            None,
        );
        fs.add(
            &entry("usr/bin/rel", EntryKind::Symlink("../bin/real".into())),
            0,
            Vec::new(),
            None,
        );
        fs.add(
            &entry("abs", EntryKind::Symlink("/bin/rel".into())),
            0,
            Vec::new(),
            None,
        );
        fs.add(
            &entry("up", EntryKind::Symlink("../../../bin/real".into())),
            0,
            Vec::new(),
            None,
        );
        fs.add(
            &entry("l1", EntryKind::Symlink("l2".into())),
            0,
            Vec::new(),
            None,
        );
        fs.add(
            &entry("l2", EntryKind::Symlink("/l1".into())),
            0,
            Vec::new(),
            None,
        );
        fs.add(
            &entry("dangling", EntryKind::Symlink("/nowhere/x".into())),
            0,
            Vec::new(),
            None,
        );
        fs.end_layer();
        for p in ["/bin/real", "/abs", "/up", "/bin/../bin/rel"] {
            assert_eq!(found(&fs, p).as_deref(), Some("/usr/bin/real"), "{p}");
        }
        match fs.resolve("/abs") {
            Resolved::Found { chain, .. } => assert_eq!(chain.len(), 3, "{chain:?}"),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(fs.resolve("/l1"), Resolved::Loop { chain } if chain.len() == MAX_LINK_HOPS)
        );
        assert!(
            matches!(fs.resolve("/dangling"), Resolved::Missing { path, .. } if path == "/nowhere")
        );
        assert!(matches!(
            fs.resolve("/bin/real/x"),
            Resolved::NotADirectory { .. }
        ));
    }
}
