//! `cargo slim run`: the image just built, run by the local engine, with the
//! container's exit code as ours and Ctrl-C stopping it.
//!
//! In: the engine, the loaded image's reference, `--publish` and the arguments
//! after `--`. Out: the container's exit code. Why: the local loop of `ko run` —
//! build, load, run — in one command, without leaving a container behind when it
//! is interrupted: a service that is PID 1 of its container and installed no
//! signal handler ignores the SIGINT the engine forwards, so on a signal the
//! container is stopped by name (SIGTERM, then SIGKILL after [`STOP_GRACE`]).

use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::engine::Engine;
use crate::interrupt;
use crate::shell::Shell;

/// Seconds a container gets after SIGTERM before the engine kills it.
pub const STOP_GRACE: u32 = 5;

/// What `run` passes to the engine besides the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// `--publish HOST:CONTAINER`, each passed as the engine's `--publish`.
    pub publish: Vec<String>,
    /// The arguments after `--`: the container's command line after its entrypoint.
    pub args: Vec<String>,
}

/// Run `reference` with `engine` until it exits (its exit code) or a signal
/// stops it (an error naming the signal; the container is gone by then).
pub fn run(engine: &Engine, reference: &str, opts: &RunOptions, shell: &Shell) -> Result<i32> {
    let name = format!("cargo-slim-run-{}", std::process::id());
    shell.status("Running", format!("{reference} with {}", engine.kind));
    let mut cmd = engine.run_command(&name, reference, &opts.publish, &opts.args);
    // Its own process group, so a signal sent to cargo-slim alone reaches the
    // engine too (crate::interrupt forwards it); no stdin: the engine would
    // otherwise hold the terminal.
    cmd.stdin(Stdio::null()).process_group(0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not run `{}`", engine.program.display()))?;
    let _forward = interrupt::ChildGroup::watch(child.id());
    loop {
        if let Some(status) = child.try_wait().context("waiting for the engine")? {
            if let Some(sig) = interrupt::received() {
                return Err(interrupt::interrupted(sig, "while the container ran").into());
            }
            // The engine gives the container's exit code; a container killed by a
            // signal comes back as 128 + its number, like a shell's.
            return Ok(status.code().unwrap_or(1));
        }
        if let Some(sig) = interrupt::received() {
            stop(engine, &name, &mut child, shell);
            return Err(interrupt::interrupted(sig, "while the container ran").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stop the container by name, wait for the engine to return and for the
/// container to be removed, each bounded.
fn stop(engine: &Engine, name: &str, child: &mut Child, shell: &Shell) {
    shell.status("Stopping", name);
    let deadline = Instant::now() + Duration::from_secs(u64::from(STOP_GRACE) + 10);
    if let Ok(mut stopper) = engine.stop(name, STOP_GRACE).spawn() {
        wait_until(&mut stopper, deadline);
    }
    if !wait_until(child, deadline) {
        let _ = child.kill();
        let _ = child.wait();
    }
    // Gone when we return, not a moment later.
    if let Ok(mut remover) = engine.remove(name).spawn() {
        wait_until(&mut remover, deadline + Duration::from_secs(10));
    }
}

/// Wait for `child` until `deadline`; whether it exited.
fn wait_until(child: &mut Child, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
