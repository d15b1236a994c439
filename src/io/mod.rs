//! File input and output with the guarantees every command relies on.
//!
//! In: paths a user named (a binary, a tarball, a report) and bytes to write.
//! Out: opened regular files, bounded reads, and files created atomically. Why
//! here: a FIFO, `/dev/zero` or a 20 GiB sparse file passed as input must be
//! refused at once, naming what it is, instead of hanging or filling memory; and
//! every file cargo-slim produces (tarball, report, chart, image refs) is written
//! to a temporary file beside the target and renamed, so an interrupted or failed
//! run never leaves a partial file where a user or a CI step will read it, and the
//! temporary file is removed on any error. Files of an earlier run that this one
//! does not rewrite go in the same step ([`commit_replacing`]), and one run at a
//! time writes an output ([`lock_output`]).

use std::fs::{File, Metadata};
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use anyhow::Result;

use crate::error::{io_failure, Failure};

mod lock;
pub use lock::{lock_output, OutputLock};

/// What a non-regular file is, for "`x` is a FIFO, not …" messages.
pub fn describe_kind(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Open `path` for reading only if it is a regular file (symlinks followed),
/// checked with `stat` before `open`, so a FIFO never blocks the process and a
/// device is never read. `expected` names what the caller wanted ("an ELF
/// executable"). Returns the file and its size.
pub fn open_regular(path: &Path, expected: &str) -> Result<(File, u64), Failure> {
    let meta = std::fs::metadata(path).map_err(|e| io_failure("read", path, &e))?;
    if !meta.is_file() {
        let mut f = Failure::new(format!(
            "`{}` is {}, not {expected}",
            path.display(),
            describe_kind(&meta)
        ));
        f = if meta.is_dir() {
            f.help("pass the path of a file; for an OCI layout directory, tar it first: `tar -cf image.tar -C DIR .`")
        } else {
            f.help("cargo slim reads regular files only: save the data to a file first")
        };
        return Err(f);
    }
    let file = File::open(path).map_err(|e| io_failure("open", path, &e))?;
    // The file may have been swapped between stat and open: check the opened one.
    let opened = file.metadata().map_err(|e| io_failure("read", path, &e))?;
    if !opened.is_file() {
        return Err(Failure::new(format!(
            "`{}` is {}, not {expected}",
            path.display(),
            describe_kind(&opened)
        )));
    }
    Ok((file, opened.len()))
}

/// Up to `buf.len()` bytes from the start of `r` (fewer only at end of file).
pub fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Check an output path before any work, and say where the bytes will really go.
///
/// A path ending in `/` or naming a folder is refused; a symlink is written
/// through (its target is replaced, never the link); an existing file that is not
/// a tar archive (e.g. `-o Cargo.toml`) is refused unless `force`.
pub fn check_output(path: &Path, force: bool) -> Result<std::path::PathBuf, Failure> {
    let shown = path.display();
    if path.as_os_str().to_string_lossy().ends_with('/') {
        return Err(Failure::new(format!("output `{shown}` names a folder"))
            .help(format!(
                "give the tarball's file name, e.g. -o {shown}image.tar"
            ))
            .usage());
    }
    let mut real = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&real) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&real)
                    .map_err(|e| io_failure("read the link", &real, &e))?;
                real = match real.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => break,
        }
    }
    match std::fs::metadata(&real) {
        Err(_) => Ok(real),
        Ok(m) if m.is_file() => {
            if !force && m.len() > 0 && !starts_like_tar(&real) {
                return Err(Failure::new(format!(
                    "output `{shown}` exists and is not an image tarball; refusing to overwrite it"
                ))
                .help("choose another path with -o, or pass --force to replace it")
                .usage());
            }
            Ok(real)
        }
        Ok(m) => Err(Failure::new(format!(
            "output `{shown}` is {}, not a file",
            describe_kind(&m)
        ))
        .help("give the tarball's file name, e.g. -o image.tar")
        .usage()),
    }
}

/// A `ustar` magic in the first header: what every image tarball starts with.
fn starts_like_tar(path: &Path) -> bool {
    let mut head = [0u8; 512];
    File::open(path)
        .and_then(|mut f| read_up_to(&mut f, &mut head))
        .is_ok_and(|n| n == 512 && &head[257..262] == b"ustar")
}

/// Whether `a` and `b` are the same file, however each is named: through a
/// symlink, a hard link or `..` (same device and inode). A path that does not
/// exist is no file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Check a small text output (`--image-refs FILE`) before the work that
/// produces it: a path naming a folder is a usage error, and a folder where no
/// file can be created (read-only, missing and not creatable) an error, both
/// found by creating and removing a temporary file there now, not after a push.
pub fn check_text_output(path: &Path, flag: &str) -> Result<(), Failure> {
    let shown = path.display();
    let folder = path.as_os_str().to_string_lossy().ends_with('/')
        || std::fs::metadata(path).is_ok_and(|m| m.is_dir());
    if folder {
        return Err(Failure::new(format!("{flag} `{shown}` names a folder"))
            .help(format!(
                "give a file name, e.g. {flag} {}",
                Path::new(path).join("image-refs.txt").display()
            ))
            .usage());
    }
    if let Ok(m) = std::fs::metadata(path) {
        if !m.is_file() {
            return Err(Failure::new(format!(
                "{flag} `{shown}` is {}, not a file",
                describe_kind(&m)
            ))
            .help("give the path of a regular file")
            .usage());
        }
    }
    let dir = output_dir(path)?;
    tempfile::Builder::new()
        .prefix(".cargo-slim-check.")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            io_failure("create a file in", dir, &e)
                .help(format!("{flag} must name a file in a writable folder"))
        })
}

/// The folder `path` will be written in, created when missing.
pub fn output_dir(path: &Path) -> Result<&Path, Failure> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| io_failure("create the output directory", dir, &e))?;
    Ok(dir)
}

/// A complete file waiting beside its final path: [`Pending::commit`] renames it
/// into place; dropping it removes it. Lets several outputs of one run (the
/// tarball and its report) be written in full before any of them replaces the
/// old ones ([`commit_all`]). While it exists it holds an exclusive `flock` on the
/// temporary file and is registered with [`crate::interrupt`], so a signal removes
/// it, and a run killed by SIGKILL leaves an unlocked file the next run removes.
#[derive(Debug)]
pub struct Pending {
    tmp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
    size: u64,
    swept: Vec<std::path::PathBuf>,
    _registered: crate::interrupt::TempFile,
}

impl Pending {
    /// Bytes written.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The path it will be renamed to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stale temporary files of this output's naming, left by runs that were
    /// killed, that were removed before this one was written.
    pub fn swept(&self) -> &[std::path::PathBuf] {
        &self.swept
    }

    /// Rename into place.
    pub fn commit(self) -> Result<()> {
        commit_all(vec![self])
    }
}

/// Rename every file into place, in order, as one step a signal cannot split.
pub fn commit_all(files: Vec<Pending>) -> Result<()> {
    commit_files(files, &[], true)
}

/// [`commit_all`], then remove `stale` (files of an earlier run that this run
/// does not write, e.g. an SBOM of another image) in the same step; a file
/// already gone is no error.
pub fn commit_replacing(files: Vec<Pending>, stale: &[std::path::PathBuf]) -> Result<()> {
    commit_files(files, stale, true)
}

/// Move every file into place only where nothing exists yet (no file, no link):
/// all of them, or — when one path is taken, even by a file made since it was
/// checked — none (those already moved are removed again) and an error naming it.
pub fn commit_all_new(files: Vec<Pending>) -> Result<()> {
    let (registrations, parts) = split(files);
    let done = crate::interrupt::commit(|renamed| {
        let mut placed: Vec<std::path::PathBuf> = Vec::new();
        for (tmp, path) in parts {
            if let Err(e) = tmp.persist_noclobber(&path) {
                for p in &placed {
                    let _ = std::fs::remove_file(p);
                }
                let f = if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    Failure::new(format!(
                        "`{}` already exists; refusing to overwrite it",
                        path.display()
                    ))
                } else {
                    io_failure("move the file into place at", &path, &e.error)
                };
                return Err(f.into());
            }
            placed.push(path);
        }
        renamed.extend(placed);
        Ok(())
    });
    drop(registrations);
    done
}

/// Temporary files with their final paths.
type Parts = Vec<(tempfile::NamedTempFile, std::path::PathBuf)>;

/// The interrupt registrations of `files`, apart from their temporary files and
/// final paths: a registration is dropped outside the interrupt lock it takes.
fn split(files: Vec<Pending>) -> (Vec<crate::interrupt::TempFile>, Parts) {
    let mut registrations = Vec::with_capacity(files.len());
    let mut parts = Vec::with_capacity(files.len());
    for Pending {
        tmp,
        path,
        _registered,
        ..
    } in files
    {
        registrations.push(_registered);
        parts.push((tmp, path));
    }
    (registrations, parts)
}

/// [`commit_replacing`]; `outputs`: the files are the run's outputs, named on
/// stderr when a signal ends the run after them (a cache entry is not).
fn commit_files(files: Vec<Pending>, stale: &[std::path::PathBuf], outputs: bool) -> Result<()> {
    // Dropping a registration takes the interrupt lock: keep them out of it.
    let (registrations, parts) = split(files);
    let done = crate::interrupt::commit(|renamed| {
        for (tmp, path) in parts {
            tmp.persist(&path)
                .map_err(|e| io_failure("move the file into place at", &path, &e.error))?;
            if outputs {
                renamed.push(path);
            }
        }
        for path in stale {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_failure("remove the stale file", path, &e)
                        .help("it belongs to an earlier build of this output: remove it by hand")
                        .into())
                }
                _ => {}
            }
        }
        Ok(())
    });
    drop(registrations);
    done
}

/// `.NAME.` + six random characters + `.tmp`: how [`prepare_with`] names a
/// temporary file for the output `NAME` (tempfile's default random length).
fn is_temp_name(candidate: &str, prefix: &str) -> bool {
    candidate
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|mid| mid.len() == 6 && mid.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Remove temporary files named for this output that no live run holds locked
/// (a run killed by SIGKILL, or a machine that lost power, left them).
fn sweep_stale(dir: &Path, prefix: &str) -> Vec<std::path::PathBuf> {
    sweep_unlocked(dir, |name| is_temp_name(name, prefix))
}

/// Remove every temporary file of [`prepare_with`] in `dir`, whatever output it
/// was for, that no live run holds locked: for folders of many outputs (the
/// rebuild cache), where the next write of the same name may never come.
pub fn sweep_stale_temps(dir: &Path) -> Vec<std::path::PathBuf> {
    sweep_unlocked(dir, |name| {
        name.strip_prefix('.')
            .and_then(|rest| rest.rsplit_once('.').map(|(stem, _)| stem))
            .and_then(|stem| stem.rsplit_once('.'))
            .is_some_and(|(output, _)| is_temp_name(name, &format!(".{output}.")))
    })
}

/// Remove the regular files of `dir` whose names `temp` accepts and that no
/// live writer holds locked.
fn sweep_unlocked(dir: &Path, temp: impl Fn(&str) -> bool) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !temp(&name.to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        // A live writer holds the lock: leave its file alone.
        let unlocked = regular && File::open(&path).is_ok_and(|f| f.try_lock().is_ok());
        if unlocked && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed.sort();
    removed
}

/// Write the bytes `fill` writes to a temporary file beside `path` (not yet in place).
pub fn prepare_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<Pending> {
    prepare_with_mode(path, 0o644, fill)
}

/// [`prepare_with`], the file given permission bits `mode` once written (it is
/// 0600 while being written, so a private key is never readable by others).
pub fn prepare_with_mode(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<Pending> {
    let dir = output_dir(path)?;
    let file_name = path.file_name().ok_or_else(|| {
        Failure::new(format!("output path `{}` has no file name", path.display()))
    })?;
    let prefix = format!(".{}.", file_name.to_string_lossy());
    let swept = sweep_stale(dir, &prefix);
    let (tmp, registered) = crate::interrupt::TempFile::create(
        || {
            tempfile::Builder::new()
                .prefix(&prefix)
                .suffix(".tmp")
                .tempfile_in(dir)
        },
        |t| t.path(),
    )
    .map_err(|e| io_failure("create a temporary file in", dir, &e))?;
    // Best effort: where the file system has no locks, stale files stay (the sweep
    // removes only files it could lock).
    let _ = tmp.as_file().try_lock();
    let mut writer = BufWriter::with_capacity(1 << 20, tmp.as_file().try_clone()?);
    // A full disk shows here: name the file being written, not just errno 28.
    let writing = || {
        format!(
            "could not write `{}` (to its temporary file `{}`)",
            path.display(),
            tmp.path().display()
        )
    };
    fill(&mut writer).map_err(|e| e.context(writing()))?;
    writer.flush().map_err(|e| {
        let f = io_failure("write", tmp.path(), &e);
        anyhow::Error::new(f).context(writing())
    })?;
    drop(writer);
    let size = tmp.as_file().metadata()?.len();
    // Readable like any build output by default (tempfile creates 0600).
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(Pending {
        tmp,
        path: path.to_path_buf(),
        size,
        swept,
        _registered: registered,
    })
}

/// Create `path` atomically with the bytes `fill` writes; returns the file size.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<u64> {
    write_with(path, fill, true)
}

/// [`write_atomic_with`]; `output`: as in [`commit_files`].
fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
    output: bool,
) -> Result<u64> {
    let pending = prepare_with(path, fill)?;
    let size = pending.size();
    commit_files(vec![pending], &[], output)?;
    Ok(size)
}

/// [`write_atomic_with`] of a file that is no output of the run (a rebuild
/// cache entry): an interrupt removes it while unfinished, and does not name it
/// among the outputs written in full.
pub fn write_internal_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<u64> {
    write_with(path, fill, false)
}

/// `contents` as a [`Pending`] file for `path`.
pub fn prepare(path: &Path, contents: &[u8]) -> Result<Pending> {
    prepare_with(path, |w| {
        w.write_all(contents)
            .map_err(|e| io_failure("write", path, &e).into())
    })
}

/// Create `path` atomically with `contents`.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| {
        w.write_all(contents)
            .map_err(|e| io_failure("write", path, &e).into())
    })
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_names_the_file_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image.tar");
        let Err(e) = prepare_with(&out, |_| {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC).into())
        }) else {
            panic!("the fill failed")
        };
        let shown = format!("{e:#}");
        assert!(
            shown.contains("could not write `") && shown.contains("image.tar"),
            "{shown}"
        );
        assert!(shown.contains("No space left on device"), "{shown}");
    }

    #[test]
    fn failure_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let r = write_atomic_with(&target, |w| {
            w.write_all(b"partial")?;
            anyhow::bail!("interrupted")
        });
        assert!(r.is_err());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no file, no temp file"
        );
        write_atomic(&target, b"whole").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
    }

    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let ok = std::process::Command::new("mkfifo").arg(&fifo).status();
        if ok.map(|s| s.success()).unwrap_or(false) {
            let e = open_regular(&fifo, "an ELF executable").unwrap_err();
            assert!(e.what.contains("FIFO"), "{e:?}");
        }
        let e = open_regular(Path::new("/dev/zero"), "an image tarball").unwrap_err();
        assert!(e.what.contains("character device"), "{e:?}");
        let e = open_regular(dir.path(), "an image tarball").unwrap_err();
        assert!(e.what.contains("a directory"), "{e:?}");
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(open_regular(&file, "x").unwrap().1, 5);
    }
}
