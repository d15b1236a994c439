//! Ctrl-C and SIGTERM: stop the work, stop cargo with it, and leave nothing half-done.
//!
//! In: SIGINT, SIGTERM and SIGHUP, caught by one watcher thread ([`install`]);
//! the child process groups that are running ([`ChildGroup`]), the temporary
//! files that exist ([`TempFile`]) and the outputs already renamed into place
//! ([`commit`]), as the rest of the program registers them.
//! Out: on a signal, every running child group gets the same signal and the
//! program waits for it (the stage that waited sees [`received`] and fails with
//! [`interrupted`]); with no child running, every temporary file is removed, the
//! outputs already complete are named on stderr, and the process exits with
//! 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as shells expect.
//!
//! Why: the default action of SIGINT kills cargo-slim at once and leaves `cargo
//! build`, its build scripts and `cc1` running with no parent, and a 100 MB
//! `.NAME.tar.XXXXXX.tmp` beside the output. cargo runs in its own process group
//! so that a `kill -INT` sent to cargo-slim alone still reaches every job cargo
//! started. A rename and the signal never interleave: [`commit`] holds the same
//! lock the watcher takes, so "written in full" or "not written" is always true.
//! A SIGKILL cannot be caught: the temporary file it leaves holds no lock any
//! more, and the next run removes it (see `io::prepare_with`).

use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::error::Failure;

#[derive(Default)]
struct State {
    /// Temporary files to remove on a signal (path, registration id).
    temps: Vec<(PathBuf, u64)>,
    /// Process groups to forward a signal to (pgid, registration id).
    children: Vec<(i32, u64)>,
    /// Outputs renamed into place during this run.
    committed: Vec<PathBuf>,
    next_id: u64,
}

static STATE: OnceLock<Mutex<State>> = OnceLock::new();
/// The first signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

fn state() -> MutexGuard<'static, State> {
    // A panic while holding the lock must not stop the cleanup.
    match STATE.get_or_init(Mutex::default).lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

const SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Start the watcher thread. Call once, early in `main`; without it the default
/// signal actions apply (tests of the library do not need it).
pub fn install() -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new(SIGNALS)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                on_signal(sig);
            }
        })?;
    Ok(())
}

/// The signal that interrupted this run, if one did.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The exit code for an interrupted run: 128 + the signal number.
pub fn exit_code(sig: i32) -> u8 {
    u8::try_from(128 + sig).unwrap_or(255)
}

/// `SIGINT`, `SIGTERM`, … for messages.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
}

/// The error of a stage whose child was stopped by a signal.
pub fn interrupted(sig: i32, during: &str) -> Failure {
    Failure::new(format!("interrupted by {} {during}", signal_name(sig)))
}

fn on_signal(sig: i32) {
    let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    let st = state();
    if !st.children.is_empty() {
        // The stage waiting for the child ends the run once the child is gone.
        for (pgid, _) in &st.children {
            // SAFETY: killpg has no memory effects; a group that is gone gives ESRCH.
            unsafe {
                libc::killpg(*pgid, sig);
            }
        }
        return;
    }
    for (path, _) in &st.temps {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            let _ = std::fs::remove_dir_all(path);
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
    let mut msg = format!("error: interrupted by {}\n", signal_name(sig));
    for path in &st.committed {
        msg.push_str(&format!(
            "note: `{}` was written in full before the interrupt\n",
            path.display()
        ));
    }
    {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(msg.as_bytes());
        let _ = err.flush();
    }
    // The lock is still held: no rename can start after the temporaries went.
    std::process::exit(i32::from(exit_code(sig)));
}

fn register(list: impl FnOnce(&mut State, u64)) -> u64 {
    let mut st = state();
    st.next_id += 1;
    let id = st.next_id;
    list(&mut st, id);
    id
}

/// A temporary file (or folder) that is removed if a signal ends the run before
/// it is unregistered (by drop: after it was renamed into place or removed).
#[derive(Debug)]
pub struct TempFile {
    id: u64,
}

impl TempFile {
    /// Create a temporary file with `create` and register the path it returns, in
    /// one step a signal cannot split.
    pub fn create<T>(
        create: impl FnOnce() -> std::io::Result<T>,
        path_of: impl Fn(&T) -> &Path,
    ) -> std::io::Result<(T, TempFile)> {
        let mut st = state();
        let made = create()?;
        st.next_id += 1;
        let id = st.next_id;
        st.temps.push((path_of(&made).to_path_buf(), id));
        Ok((made, TempFile { id }))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        state().temps.retain(|(_, id)| *id != self.id);
    }
}

/// A running child process group; a signal is forwarded to it while this lives.
#[derive(Debug)]
pub struct ChildGroup {
    id: u64,
}

impl ChildGroup {
    /// Forward signals to the process group `pgid` (a child spawned with
    /// `process_group(0)` has its own pid as pgid). If a signal came before the
    /// child was registered, it is forwarded now.
    pub fn watch(pgid: u32) -> ChildGroup {
        let pgid = i32::try_from(pgid).unwrap_or(i32::MAX);
        let id = register(|st, id| st.children.push((pgid, id)));
        if let Some(sig) = received() {
            // SAFETY: as in on_signal.
            unsafe {
                libc::killpg(pgid, sig);
            }
        }
        ChildGroup { id }
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        state().children.retain(|(_, id)| *id != self.id);
    }
}

/// Run `rename` (moving finished outputs into place, pushing each path it
/// renamed) so that a signal comes either before it (nothing was replaced) or
/// after it (the outputs are named as complete), never in between. `rename` must
/// not drop a [`TempFile`] or [`ChildGroup`]: their drop takes the same lock.
pub fn commit<T>(rename: impl FnOnce(&mut Vec<PathBuf>) -> T) -> T {
    let mut st = state();
    let mut renamed = Vec::new();
    let out = rename(&mut renamed);
    st.committed.extend(renamed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code(libc::SIGINT), 130);
        assert_eq!(exit_code(libc::SIGTERM), 143);
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
        assert_eq!(signal_name(50), "signal 50");
    }

    #[test]
    fn registrations_end_with_their_guards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let (file, guard) = TempFile::create(
            || std::fs::File::create(&path).map(|f| (f, path.clone())),
            |t| &t.1,
        )
        .unwrap();
        assert!(state().temps.iter().any(|(p, _)| p == &path));
        drop(guard);
        drop(file);
        assert!(!state().temps.iter().any(|(p, _)| p == &path));
        let g = ChildGroup::watch(u32::MAX);
        let id = g.id;
        assert!(state().children.iter().any(|(_, i)| *i == id));
        drop(g);
        assert!(!state().children.iter().any(|(_, i)| *i == id));
    }
}
