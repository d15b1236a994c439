//! One writer per output: an exclusive lock beside the tarball for the whole run.
//!
//! In: the output path a `build` or `index` will write. Out: an [`OutputLock`]
//! held until it is dropped, on the file `.NAME.lock` beside `NAME`. Why: every
//! output of a run is renamed into place in one step ([`super::commit_all`]), but
//! two runs writing the same `-o` at once could interleave those steps and leave
//! the tarball of one beside the report of the other. The second run says which
//! output and which lock it waits for, and waits for as long as the first one
//! runs (as cargo waits for its build directory); Ctrl-C ends the wait.
//!
//! The lock is `flock(2)` (std's `File::lock`): the kernel releases it when its
//! holder exits in any way, SIGKILL included, so no run is left waiting for a
//! dead one. The holder removes the file when it is done (or on a signal,
//! through [`crate::interrupt`]), so it does not outlive the run; a waiter whose
//! lock turns out to be on a removed file opens the path again. The name starts
//! with a dot and ends in `.lock`, so no glob for tarballs, reports or SBOMs
//! matches it, and the sweep of stale temporary files never removes it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{io_failure, Failure};
use crate::shell::Shell;

/// The lock on one output, released (and its file removed) on drop.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    path: PathBuf,
    _registered: crate::interrupt::TempFile,
}

impl OutputLock {
    /// The lock file, `.NAME.lock` beside the output.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file of `output`: `dir/.NAME.lock`.
pub fn lock_path(output: &Path) -> Result<PathBuf, Failure> {
    let name = output.file_name().ok_or_else(|| {
        Failure::new(format!(
            "output path `{}` has no file name",
            output.display()
        ))
    })?;
    Ok(super::output_dir(output)?.join(format!(".{}.lock", name.to_string_lossy())))
}

/// Take the lock of `output`, waiting (and saying so on `shell`) while another
/// run holds it. `None` where the file system has no locks (the run goes on
/// unserialised, as before, with a note under `-v`).
pub fn lock_output(output: &Path, shell: &Shell) -> Result<Option<OutputLock>, Failure> {
    let path = lock_path(output)?;
    let mut said = false;
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_failure("create the lock file", &path, &e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                if !said {
                    shell.warn(format!(
                        "another cargo slim build is writing `{}` (lock `{}`{}); waiting",
                        output.display(),
                        path.display(),
                        holder(&file)
                    ));
                    said = true;
                }
                file.lock()
                    .map_err(|e| io_failure("lock the lock file", &path, &e))?;
            }
            Err(TryLockError::Error(e)) => {
                shell.verbose(
                    "Unlocked",
                    format!(
                        "`{}` cannot be locked here ({e}): concurrent runs are not serialised",
                        path.display()
                    ),
                );
                return Ok(None);
            }
        }
        // The holder we waited for removes the file before it unlocks: a lock on
        // a file no longer at `path` serialises nothing.
        if !still_at(&file, &path) {
            continue;
        }
        if said {
            shell.status("Locked", format!("`{}`", path.display()));
        }
        let ((file, path), registered) =
            crate::interrupt::TempFile::create(|| Ok((file, path.clone())), |t| t.1.as_path())
                .map_err(|e| io_failure("register the lock file", &path, &e))?;
        let mut writer = &file;
        // Who holds it, for the message of the next run that waits (best effort).
        let _ = file.set_len(0);
        let _ = writeln!(writer, "{}", std::process::id());
        return Ok(Some(OutputLock {
            file,
            path,
            _registered: registered,
        }));
    }
}

/// `, held by process N` from the pid its holder wrote, or nothing.
fn holder(file: &File) -> String {
    let mut text = String::new();
    match Read::take(file, 32).read_to_string(&mut text) {
        Ok(_) if text.trim().parse::<u32>().is_ok() => {
            format!(", held by process {}", text.trim())
        }
        _ => String::new(),
    }
}

/// Whether the open `file` is still the file at `path`.
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still locked: a run that opens the path after this sees
        // no file or a new one, never this one unlocked.
        if still_at(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_waits_and_the_file_goes_with_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("app.tar");
        let shell = Shell::buffer(crate::shell::Verbosity::Normal);
        let first = lock_output(&out, &shell).unwrap().unwrap();
        assert_eq!(first.path(), dir.path().join(".app.tar.lock"));
        let held = std::fs::read_to_string(first.path()).unwrap();
        assert_eq!(held.trim(), std::process::id().to_string());
        // flock locks belong to the open file: a second open in this process
        // conflicts like another process would.
        let (tx, rx) = std::sync::mpsc::channel();
        let out2 = out.clone();
        let waiter = std::thread::spawn(move || {
            let shell = Shell::buffer(crate::shell::Verbosity::Normal);
            let second = lock_output(&out2, &shell).unwrap().unwrap();
            tx.send(()).unwrap();
            (shell.captured(), second.path().exists())
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err());
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        let (said, existed) = waiter.join().unwrap();
        assert!(
            said.contains("another cargo slim build is writing"),
            "{said}"
        );
        assert!(said.contains(".app.tar.lock"), "{said}");
        assert!(existed, "the second holder has its own file");
        assert!(
            !dir.path().join(".app.tar.lock").exists(),
            "removed at the end"
        );
    }
}
