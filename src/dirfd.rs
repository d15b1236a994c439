//! Folders and files opened once, relative to a folder handle, never through a
//! symlink the caller did not ask to follow.
//!
//! In: a folder the user named (the package folder: the one path opened by name),
//! then names inside it. Out: [`Dir`] handles, sorted listings, `lstat`-like
//! [`Stat`]s, and files opened with `O_NOFOLLOW | O_NONBLOCK` relative to their
//! folder's handle (or, for a symlink the caller follows, with `openat2`'s
//! `RESOLVE_BENEATH`, which the kernel keeps inside the folder). Why: checking a
//! path and then opening it again by name is a race — a file swapped for a
//! symlink to `/etc/shadow`, or for a FIFO, between the two lands in the image or
//! blocks the build. Here every open is relative to a handle, a symlink is never
//! followed by accident, a FIFO opens without blocking, and the caller compares
//! the opened handle's device and inode with what it listed.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What a folder entry is, as `lstat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device, named for messages.
    Other(&'static str),
}

/// Identity, kind and size of an entry or an opened handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub kind: Kind,
    pub size: u64,
}

impl Stat {
    // `st_dev`/`st_ino` are u64 on Linux, narrower elsewhere.
    #[allow(clippy::unnecessary_cast)]
    fn of(st: &libc::stat) -> Stat {
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            libc::S_IFIFO => Kind::Other("a FIFO (named pipe)"),
            libc::S_IFSOCK => Kind::Other("a socket"),
            libc::S_IFCHR => Kind::Other("a character device"),
            libc::S_IFBLK => Kind::Other("a block device"),
            _ => Kind::Other("not a regular file"),
        };
        Stat {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            kind,
            size: st.st_size.max(0) as u64,
        }
    }

    /// The same entry: device and inode are equal.
    pub fn same(&self, other: &Stat) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// `fstat` of an opened handle.
pub fn stat_of(fd: &impl AsRawFd) -> io::Result<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `fd` is a live descriptor; `st` is written by fstat on success.
    if unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat returned 0, so it filled `st`.
    Ok(Stat::of(unsafe { &st.assume_init() }))
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `-1` → the OS error; else the new descriptor, owned.
fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor the kernel just returned, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Set `errno` to 0, so a null `readdir` tells the end from an error.
fn clear_errno() {
    // SAFETY: the calling thread's errno location, always valid.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    unsafe {
        *libc::__errno_location() = 0;
    }
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    unsafe {
        *libc::__error() = 0;
    }
}

/// Flags of every open here: read-only, closed on exec, never blocking on a FIFO.
const OPEN: libc::c_int = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK;

/// An open folder.
#[derive(Debug)]
pub struct Dir(OwnedFd);

impl Dir {
    /// Open the folder at `path` by name (symlinks followed: the one trusted name).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let c = c_name(path.as_os_str())?;
        // SAFETY: `c` is a NUL-terminated path.
        let fd = owned(unsafe { libc::open(c.as_ptr(), OPEN | libc::O_DIRECTORY) })?;
        Ok(Dir(fd))
    }

    /// A folder handle opened by [`Dir::open_at`] or [`Dir::open_beneath`]; it
    /// must be a folder ([`stat_of`] says so).
    pub fn from_file(file: File) -> Dir {
        Dir(OwnedFd::from(file))
    }

    /// The names in the folder, sorted by bytes, without `.` and `..`.
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        // SAFETY: dup of a live descriptor; fdopendir takes the copy, closedir closes it.
        let copy = owned(unsafe { libc::fcntl(self.0.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
        let raw = copy.as_raw_fd();
        // SAFETY: `raw` is a folder descriptor we own; on success the DIR owns it.
        let dir = unsafe { libc::fdopendir(raw) };
        if dir.is_null() {
            return Err(io::Error::last_os_error());
        }
        std::mem::forget(copy);
        let mut names = Vec::new();
        // SAFETY: `dir` is a valid DIR* until closedir below; each dirent is read
        // before the next readdir call.
        unsafe {
            libc::rewinddir(dir);
            loop {
                clear_errno();
                let ent = libc::readdir(dir);
                if ent.is_null() {
                    let err = io::Error::last_os_error();
                    libc::closedir(dir);
                    if err.raw_os_error().unwrap_or(0) != 0 {
                        return Err(err);
                    }
                    break;
                }
                let name = CStr::from_ptr((*ent).d_name.as_ptr()).to_bytes();
                if name != b"." && name != b".." {
                    names.push(OsStr::from_bytes(name).to_os_string());
                }
            }
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        Ok(names)
    }

    /// `lstat` of `name` in this folder (a symlink is described, not followed).
    pub fn stat_at(&self, name: &OsStr) -> io::Result<Stat> {
        let c = c_name(name)?;
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: live folder descriptor, NUL-terminated name, `st` filled on success.
        let rc = unsafe {
            libc::fstatat(
                self.0.as_raw_fd(),
                c.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstatat returned 0.
        Ok(Stat::of(unsafe { &st.assume_init() }))
    }

    /// Open `name` in this folder for reading, refusing a symlink (`ELOOP`) and
    /// never blocking on a FIFO.
    pub fn open_at(&self, name: &OsStr) -> io::Result<File> {
        let c = c_name(name)?;
        // SAFETY: live folder descriptor, NUL-terminated name.
        let fd = unsafe { libc::openat(self.0.as_raw_fd(), c.as_ptr(), OPEN | libc::O_NOFOLLOW) };
        Ok(File::from(owned(fd)?))
    }

    /// Open the relative path `rel` below this folder, following symlinks only
    /// while they stay inside it: one that leads out (or is absolute) fails with
    /// `EXDEV`. Where the kernel has no `openat2` (before Linux 5.6, other
    /// systems): `ENOSYS`.
    pub fn open_beneath(&self, rel: &Path) -> io::Result<File> {
        #[cfg(target_os = "linux")]
        {
            let c = c_name(rel.as_os_str())?;
            // SAFETY: open_how is plain data; zeroed is its documented default.
            let mut how: libc::open_how = unsafe { std::mem::zeroed() };
            how.flags = OPEN as u64;
            how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
            // SAFETY: live folder descriptor, NUL-terminated path, `how` of its size.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.0.as_raw_fd(),
                    c.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            };
            Ok(File::from(owned(fd as libc::c_int)?))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = rel;
            Err(io::Error::from_raw_os_error(libc::ENOSYS))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_fifos_never_open_as_files() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/b"), b"b").unwrap();
        std::fs::write(root.join("a"), b"a").unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink("../a", root.join("sub/up")).unwrap();
        let fifo = CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);

        let d = Dir::open(root).unwrap();
        let names: Vec<String> = d
            .names()
            .unwrap()
            .iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a", "fifo", "out", "sub"]);
        let name = |s: &str| OsString::from(s);
        assert_eq!(d.stat_at(&name("out")).unwrap().kind, Kind::Symlink);
        assert_eq!(d.stat_at(&name("sub")).unwrap().kind, Kind::Dir);
        let e = d.open_at(&name("out")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        // A FIFO opens at once (no writer needed) and says what it is.
        let f = d.open_at(&name("fifo")).unwrap();
        assert_eq!(
            stat_of(&f).unwrap().kind,
            Kind::Other("a FIFO (named pipe)")
        );
        let a = d.open_at(&name("a")).unwrap();
        assert!(stat_of(&a).unwrap().same(&d.stat_at(&name("a")).unwrap()));
        // Beneath: a link inside is followed, one leading out is refused.
        let up = d.open_beneath(Path::new("sub/up")).unwrap();
        assert!(stat_of(&up).unwrap().same(&stat_of(&a).unwrap()));
        let e = d.open_beneath(Path::new("out")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EXDEV), "{e}");
        let e = d.open_beneath(Path::new("../x")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EXDEV), "{e}");
        let sub = Dir::from_file(d.open_at(&name("sub")).unwrap());
        assert_eq!(sub.names().unwrap(), [name("b"), name("up")]);
    }
}
