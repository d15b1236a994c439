//! Pack: stripped ELF → UPX-packed ELF, only when asked, and never a broken one.
//!
//! UPX has sharp edges: some binaries it packs do not start, `upx -t` only checks
//! the compressed data, and a packed file barely gzips, so the registry pull size
//! drops far less than the file size. So this stage: checks `upx -l` first (an
//! already packed input is left alone), refuses `--brute`/`--ultra-brute` unless
//! allowed, keeps the unpacked binary when UPX says it cannot compress it, runs
//! `upx -t` and then the packed program itself with the configured smoke
//! arguments (same output and exit status as the unpacked one, within a timeout),
//! and measures both disk and gzip (wire) sizes and start-up times before and
//! after. Inspection and stripping happen before this stage: a packed file shows
//! only the UPX stub.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::error::{command_not_found, io_failure, Failure};
use crate::gzip::{ParGzWriter, GZIP_LEVEL};
use crate::report::UpxReport;
use crate::shell::Shell;

/// What the user asked for (`[package.metadata.slim] upx = …` and `--upx*`).
#[derive(Debug, Clone, PartialEq)]
pub struct UpxPlan {
    /// `--upx-path` / `upx-path`; else `upx` on `$PATH`.
    pub path: Option<PathBuf>,
    pub args: Vec<String>,
    /// Arguments for the smoke run of the packed binary; `None` skips the run.
    pub smoke: Option<Vec<String>>,
    pub allow_brute: bool,
    /// `--upx-fallback`: keep the unpacked binary when the packed one fails.
    pub fallback: bool,
    pub timeout: Duration,
}

pub const DEFAULT_ARGS: [&str; 1] = ["--best"];
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Runs of each binary for the start-up time median.
const TIMED_RUNS: usize = 5;

/// The binary to put in the image and what happened.
pub struct Packed {
    pub binary: Vec<u8>,
    pub report: UpxReport,
}

fn find_upx(plan: &UpxPlan) -> Result<PathBuf> {
    let hint = "install UPX 4 (Debian/Ubuntu: `apt-get install upx-ucl`; on Debian 12 from bookworm-backports), \
                or point --upx-path / `upx-path` at it";
    if let Some(p) = &plan.path {
        if p.is_file() {
            return Ok(p.clone());
        }
        return Err(
            Failure::new(format!("UPX was not found at `{}`", p.display()))
                .detail("set by --upx-path or `upx-path` in [package.metadata.slim]")
                .help(hint)
                .into(),
        );
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("upx");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(command_not_found("upx", hint).into())
}

fn run(cmd: &mut Command) -> Result<std::process::Output> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.output().map_err(|e| {
        Failure::new(format!("could not run `{program}`"))
            .detail(e.to_string())
            .into()
    })
}

/// Refuse arguments that are known to break Rust binaries or that fight with
/// what this stage does itself.
pub fn check_args(args: &[String], allow_brute: bool) -> Result<(), Failure> {
    for a in args {
        if (a == "--brute" || a == "--ultra-brute") && !allow_brute {
            return Err(Failure::new(format!("UPX argument `{a}` is refused"))
                .detail("--brute and --ultra-brute try filters known to produce Rust binaries that crash at start")
                .help("remove it, or set `allow-brute = true` in the `upx` table of [package.metadata.slim] if you have tested the result"));
        }
        if a == "-o"
            || a.starts_with("--output")
            || a == "-d"
            || a == "--decompress"
            || a == "-t"
            || a == "-l"
        {
            return Err(
                Failure::new(format!("UPX argument `{a}` cannot be used here"))
                    .help("cargo slim chooses the output file and runs `upx -l` / `upx -t` itself"),
            );
        }
    }
    Ok(())
}

/// gzip size of `bytes` (what a registry client downloads for them).
pub fn gzip_size(bytes: &[u8]) -> Result<u64> {
    let mut w = ParGzWriter::new(std::io::sink(), GZIP_LEVEL);
    w.write_all(bytes)?;
    Ok(w.finish()?.compressed_size)
}

/// Pack `binary` as planned. `runnable` says whether this machine can execute it
/// (same architecture); when not, the smoke run is skipped with a note.
pub fn pack(binary: Vec<u8>, plan: &UpxPlan, runnable: bool, shell: &Shell) -> Result<Packed> {
    check_args(&plan.args, plan.allow_brute)?;
    let upx = find_upx(plan)?;
    let version = upx_version(&upx);
    // Removed on Ctrl-C too (crate::interrupt), not only when dropped.
    let (dir, _registered) = crate::interrupt::TempFile::create(tempfile::tempdir, |d| d.path())
        .map_err(|e| io_failure("create a temporary directory in", &std::env::temp_dir(), &e))?;
    let input = dir.path().join("unpacked");
    let output = dir.path().join("packed");
    write_exe(&input, &binary)?;
    let before = binary.len() as u64;
    let mut report = UpxReport {
        version: version.clone(),
        args: plan.args.clone(),
        packed: false,
        note: None,
        binary_before: before,
        binary_after: before,
        gzip_before: gzip_size(&binary)?,
        gzip_after: 0,
        startup_ms_before: None,
        startup_ms_after: None,
    };
    report.gzip_after = report.gzip_before;
    let keep = |mut report: UpxReport, note: String, binary: Vec<u8>| {
        report.note = Some(note);
        Packed { binary, report }
    };

    // Already packed? Then leave it alone.
    let listed = run(Command::new(&upx).arg("-l").arg(&input))?;
    if listed.status.success() {
        shell.note("the binary is already packed by UPX; not packing it again");
        return Ok(keep(report, "already packed by UPX".into(), binary));
    }

    shell.status("Packing", format!("with {version} {}", plan.args.join(" ")));
    if let Some(why) = compress(&upx, plan, (&input, &output), shell)? {
        return Ok(keep(report, why.to_string(), binary));
    }
    let tested = run(Command::new(&upx).arg("-t").arg(&output))?;
    if !tested.status.success() {
        return Err(Failure::new("`upx -t` rejected the packed binary")
            .detail(String::from_utf8_lossy(&tested.stderr).trim().to_string())
            .into());
    }
    let packed_bytes = std::fs::read(&output).map_err(|e| io_failure("read", &output, &e))?;
    if let Some(note) = smoke_test(plan, runnable, (&input, &output), shell, &mut report)? {
        return Ok(keep(report, note, binary));
    }
    report.packed = true;
    report.binary_after = packed_bytes.len() as u64;
    report.gzip_after = gzip_size(&packed_bytes)?;
    Ok(Packed {
        binary: packed_bytes,
        report,
    })
}

/// The first line of `upx --version`.
fn upx_version(upx: &Path) -> String {
    run(Command::new(upx).arg("--version"))
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "upx (unknown version)".into())
}

/// Run UPX on `input` into `output`. `Some(why)` when UPX cannot make the
/// binary smaller (the unpacked one is kept); an error when it fails.
fn compress(
    upx: &Path,
    plan: &UpxPlan,
    (input, output): (&Path, &Path),
    shell: &Shell,
) -> Result<Option<&'static str>> {
    let packed = run(Command::new(upx)
        .args(&plan.args)
        .arg("-o")
        .arg(output)
        .arg(input))?;
    let stderr = String::from_utf8_lossy(&packed.stderr).trim().to_string();
    match packed.status.code() {
        Some(0) => Ok(None),
        Some(2) => {
            shell.warn(format!("upx finished with warnings: {stderr}"));
            Ok(None)
        }
        _ if stderr.contains("NotCompressibleException") || stderr.contains("too small") => {
            let why = if stderr.contains("too small") {
                "the binary is too small for UPX"
            } else {
                "UPX cannot make this binary smaller (NotCompressibleException)"
            };
            shell.note(format!("{why}; keeping the unpacked binary"));
            Ok(Some(why))
        }
        _ => Err(Failure::new(format!("`upx` failed ({})", packed.status))
            .detail(stderr)
            .detail(format!("arguments: {}", plan.args.join(" ")))
            .help("try other `args`, or turn UPX off for this binary")
            .into()),
    }
}

/// The smoke run of the packed `output` beside the unpacked `input`, when
/// asked for and `runnable` here: same status and output, start-up times into
/// `report`. `Some(note)` when it failed and `--upx-fallback` keeps the
/// unpacked binary.
fn smoke_test(
    plan: &UpxPlan,
    runnable: bool,
    (input, output): (&Path, &Path),
    shell: &Shell,
    report: &mut UpxReport,
) -> Result<Option<String>> {
    match (&plan.smoke, runnable) {
        (None, _) => shell.note(
            "the packed binary was not run: set `smoke = [...]` in the `upx` table to prove it starts (e.g. [\"--version\"])",
        ),
        (Some(_), false) => shell.note("the packed binary is for another architecture; its smoke run was skipped"),
        (Some(args), true) => {
            shell.status("Testing", format!("packed binary with `{}`", args.join(" ")));
            let result = smoke_run(input, "unpacked", args, plan.timeout)
                .and_then(|a| smoke_run(output, "packed", args, plan.timeout).map(|b| (a, b)));
            let failure = match result {
                Ok((unpacked, packed)) if unpacked.status == packed.status && unpacked.stdout == packed.stdout => {
                    report.startup_ms_before = Some(unpacked.median_ms);
                    report.startup_ms_after = Some(packed.median_ms);
                    None
                }
                Ok((unpacked, packed)) => Some(
                    Failure::new("the UPX-packed binary does not behave like the unpacked one")
                        .detail(format!("unpacked: {}, packed: {}", unpacked.status, packed.status))
                        .detail(format!("packed stderr: {}", packed.stderr.trim())),
                ),
                Err(f) => Some(f),
            };
            if let Some(f) = failure {
                if plan.fallback {
                    shell.warn(format!("{}; keeping the unpacked binary (--upx-fallback)", f.what));
                    return Ok(Some(format!("packed binary failed its smoke run: {}", f.what)));
                }
                return Err(f
                    .help("pass --upx-fallback to ship the unpacked binary instead, or change the UPX `args`")
                    .into());
            }
        }
    }
    Ok(None)
}

fn write_exe(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| io_failure("write", path, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

struct Smoke {
    status: String,
    stdout: Vec<u8>,
    stderr: String,
    median_ms: f64,
}

/// Run `exe args` a few times; fail on a non-zero exit, a signal or the timeout.
fn smoke_run(
    exe: &Path,
    which: &str,
    args: &[String],
    timeout: Duration,
) -> Result<Smoke, Failure> {
    let mut times = Vec::with_capacity(TIMED_RUNS);
    let mut last = None;
    for _ in 0..TIMED_RUNS {
        let start = Instant::now();
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Failure::new(format!("could not start `{}`", exe.display())).detail(e.to_string())
            })?;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if start.elapsed() > timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Failure::new(format!(
                        "the smoke run of the {which} binary (`{}`) did not finish within {}s",
                        args.join(" "),
                        timeout.as_secs_f64()
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => {
                    return Err(
                        Failure::new("waiting for the smoke run failed").detail(e.to_string())
                    )
                }
            }
        }
        let out = child.wait_with_output().map_err(|e| {
            Failure::new("reading the smoke run's output failed").detail(e.to_string())
        })?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        if !out.status.success() {
            return Err(Failure::new(format!(
                "the smoke run of the {which} binary failed ({})",
                out.status
            ))
            .detail(format!("arguments: {}", args.join(" ")))
            .detail(format!(
                "stderr: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        last = Some(out);
    }
    times.sort_by(f64::total_cmp);
    let out = last.expect("TIMED_RUNS > 0");
    Ok(Smoke {
        status: out.status.to_string(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        median_ms: (times[times.len() / 2] * 100.0).round() / 100.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brute_needs_permission() {
        let args = vec!["--best".to_string(), "--brute".to_string()];
        assert!(check_args(&args, false).is_err());
        assert!(check_args(&args, true).is_ok());
        assert!(check_args(&["--ultra-brute".to_string()], false).is_err());
        assert!(check_args(&["-o".to_string()], true).is_err());
        assert!(check_args(&["--lzma".to_string()], false).is_ok());
    }

    #[test]
    fn gzip_size_is_the_real_compressed_length() {
        let data = vec![7u8; 100_000];
        let n = gzip_size(&data).unwrap();
        let mut w = ParGzWriter::new(Vec::new(), GZIP_LEVEL);
        w.write_all(&data).unwrap();
        assert_eq!(n, w.finish().unwrap().inner.len() as u64);
    }
}
