//! The one tar builder of the integration tests: outer image archives and layer
//! tars made by hand, for the shapes other tools write (`./` prefixes, symlinked
//! layer files, GNU headers) and for broken ones.

/// A tar archive under construction, in memory.
pub struct Tar {
    b: tar::Builder<Vec<u8>>,
    gnu: bool,
}

impl Default for Tar {
    fn default() -> Self {
        Tar::ustar()
    }
}

impl Tar {
    /// ustar headers (what cargo-slim and skopeo write).
    pub fn ustar() -> Tar {
        Tar {
            b: tar::Builder::new(Vec::new()),
            gnu: false,
        }
    }

    /// GNU headers (what `docker save` and GNU tar write).
    pub fn gnu() -> Tar {
        Tar {
            gnu: true,
            ..Tar::ustar()
        }
    }

    fn header(&self) -> tar::Header {
        if self.gnu {
            tar::Header::new_gnu()
        } else {
            tar::Header::new_ustar()
        }
    }

    /// A regular file with `mode`.
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> &mut Tar {
        let mut h = self.header();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append_data(&mut h, path, data).unwrap();
        self
    }

    /// A regular file whose name is stored exactly as given, even where the tar
    /// crate would refuse it (`../x`, `/abs`): for hostile archives.
    pub fn raw_file(&mut self, path: &str, mode: u32, data: &[u8]) -> &mut Tar {
        let mut h = self.header();
        let name = &mut h.as_old_mut().name;
        name.fill(0);
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    /// A regular file, mode 0644 (an outer archive entry).
    pub fn add(&mut self, path: &str, data: &[u8]) -> &mut Tar {
        self.file(path, 0o644, data)
    }

    /// A directory, mode 0755.
    pub fn dir(&mut self, path: &str) -> &mut Tar {
        let mut h = self.header();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_cksum();
        self.b.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    /// A symlink `path` → `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Tar {
        let mut h = self.header();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        self.b.append_link(&mut h, path, target).unwrap();
        self
    }

    /// A symlink or hard link (`kind`) whose name and target are stored exactly
    /// as given (`/abs`, `../../etc/passwd`): for hostile archives.
    pub fn raw_link(&mut self, kind: ::tar::EntryType, path: &str, target: &str) -> &mut Tar {
        let mut h = self.header();
        let old = h.as_old_mut();
        old.name.fill(0);
        old.name[..path.len()].copy_from_slice(path.as_bytes());
        old.linkname.fill(0);
        old.linkname[..target.len()].copy_from_slice(target.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_cksum();
        self.b.append(&h, std::io::empty()).unwrap();
        self
    }

    /// The archive's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}
