//! The local container engine: podman or docker, found on `PATH`, to load an image
//! tarball and to run an image.
//!
//! In: the engine the user named (`--engine podman|docker`) or none, a tarball
//! path, an image reference with its `run` arguments. Out: the reference the engine
//! loaded the image as; the `run` command line (the caller runs it so that Ctrl-C
//! reaches it). Why: `--load`, `cargo slim load` and `cargo slim run` give the
//! local loop of `ko build --local` / `ko run` through whichever engine the machine
//! has, with no daemon of ours; engine settings (podman's runtime, storage) stay in
//! the engine's own configuration (`containers.conf`), which it reads as usual.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::Failure;

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Podman,
    Docker,
}

impl Kind {
    /// The order engines are looked for when none is named.
    pub const SEARCH_ORDER: [Kind; 2] = [Kind::Podman, Kind::Docker];

    pub fn program(self) -> &'static str {
        match self {
            Kind::Podman => "podman",
            Kind::Docker => "docker",
        }
    }

    /// `--engine` values.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::SEARCH_ORDER.into_iter().find(|k| k.program() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program())
    }
}

/// An engine found on `PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    pub kind: Kind,
    pub program: PathBuf,
}

/// The engine named, or the first of podman and docker on `PATH`. Nothing found
/// is an error naming what was looked for and where.
pub fn find(wanted: Option<Kind>) -> Result<Engine, Failure> {
    find_in(wanted, std::env::var_os("PATH").unwrap_or_default())
}

fn find_in(wanted: Option<Kind>, path: OsString) -> Result<Engine, Failure> {
    let candidates = match wanted {
        Some(kind) => vec![kind],
        None => Kind::SEARCH_ORDER.to_vec(),
    };
    for kind in &candidates {
        for dir in std::env::split_paths(&path) {
            let program = dir.join(kind.program());
            if is_executable(&program) {
                return Ok(Engine {
                    kind: *kind,
                    program,
                });
            }
        }
    }
    let looked_for = match wanted {
        Some(kind) => format!("`{kind}` was not found"),
        None => "no container engine was found: looked for `podman` and `docker`".to_string(),
    };
    Err(Failure::new(looked_for)
        .detail(format!("searched $PATH: {}", path.to_string_lossy()))
        .help(
            "install podman or docker, or name the engine with `--engine podman|docker`; \
             the image tarball itself needs no engine (`podman load -i`, `docker load -i` \
             or `skopeo copy oci-archive:…` read it)",
        ))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// At most this much of an engine's output is kept for an error message.
const KEPT_OUTPUT: usize = 4096;

impl Engine {
    /// `ENGINE load -i TARBALL`; the reference the image was loaded as.
    pub fn load(&self, tarball: &Path) -> Result<String, Failure> {
        let out = Command::new(&self.program)
            .arg("load")
            .arg("-i")
            .arg(tarball)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                Failure::new(format!("could not run `{}`", self.program.display()))
                    .detail(e.to_string())
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(Failure::new(format!(
                "`{} load` could not load `{}` ({})",
                self.kind,
                tarball.display(),
                out.status
            ))
            .detail(tail(stderr.trim(), KEPT_OUTPUT).to_string())
            .help(format!(
                "check that `{}` works on this machine (`{} info`)",
                self.kind, self.kind
            )));
        }
        loaded_reference(&stdout).ok_or_else(|| {
            Failure::new(format!(
                "`{} load` loaded `{}` but named no image",
                self.kind,
                tarball.display()
            ))
            .detail(tail(stdout.trim(), KEPT_OUTPUT).to_string())
        })
    }

    /// `ENGINE run --rm --name NAME [-p P]… REFERENCE [ARGS]…`: the container is
    /// named so that it can be stopped by name (see [`Engine::stop`]).
    pub fn run_command(
        &self,
        name: &str,
        reference: &str,
        publish: &[String],
        args: &[String],
    ) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(["run", "--rm", "--name", name]);
        for p in publish {
            cmd.arg("--publish").arg(p);
        }
        cmd.arg(reference).args(args);
        cmd
    }

    /// `ENGINE stop --time SECONDS NAME`: SIGTERM, then SIGKILL after the grace
    /// time. A service that is PID 1 of its container and installed no handler
    /// ignores SIGINT and SIGTERM, so the kill is what ends it then.
    pub fn stop(&self, name: &str, grace_seconds: u32) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(["stop", "--time", &grace_seconds.to_string(), name]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// `ENGINE rm --force NAME`: a `--rm` container is removed by the engine in
    /// the background once stopped; this waits for that removal (an error when
    /// it is already gone is of no interest).
    pub fn remove(&self, name: &str) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(["rm", "--force", name]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }
}

/// The reference in `load`'s output: podman and docker print
/// `Loaded image: REF` (podman also `Loaded image(s): REF,…`); an image without a
/// name is loaded as `Loaded image ID: sha256:…`. The last one wins.
fn loaded_reference(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            line.strip_prefix("Loaded image: ")
                .or_else(|| line.strip_prefix("Loaded image(s): "))
                .map(|rest| rest.split(',').next().unwrap_or(rest))
                .or_else(|| line.strip_prefix("Loaded image ID: "))
                .map(|r| r.trim().to_string())
        })
        .rfind(|r| !r.is_empty())
}

/// The last `max` bytes of `s`, cut at a character boundary.
fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_loaded_reference_is_read_from_each_engines_output() {
        let cases = [
            (
                "Getting image source signatures\nCopying blob 1\nWriting manifest to image destination\nStoring signatures\nLoaded image: localhost/hello:0.1.0\n",
                Some("localhost/hello:0.1.0"),
            ),
            ("Loaded image(s): localhost/a:1,localhost/b:2\n", Some("localhost/a:1")),
            ("Loaded image: hello:0.1.0\n", Some("hello:0.1.0")),
            ("Loaded image ID: sha256:abc\n", Some("sha256:abc")),
            ("Loaded image: a:1\nLoaded image: b:2\n", Some("b:2")),
            ("nothing here\n", None),
            ("Loaded image: \n", None),
        ];
        for (out, want) in cases {
            assert_eq!(loaded_reference(out).as_deref(), want, "{out:?}");
        }
    }

    fn fake_bin(dir: &Path, name: &str, mode: u32) {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn podman_is_preferred_and_a_named_engine_is_looked_for_alone() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fake_bin(a.path(), "docker", 0o755);
        fake_bin(b.path(), "podman", 0o755);
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        let found = find_in(None, path.clone()).unwrap();
        assert_eq!(
            (found.kind, found.program),
            (Kind::Podman, b.path().join("podman"))
        );
        let found = find_in(Some(Kind::Docker), path).unwrap();
        assert_eq!(found.program, a.path().join("docker"));
    }

    #[test]
    fn a_missing_engine_names_what_was_looked_for_and_where() {
        let a = tempfile::tempdir().unwrap();
        // Not executable: not an engine.
        fake_bin(a.path(), "podman", 0o644);
        let path = OsString::from(a.path());
        let err = find_in(None, path.clone()).unwrap_err();
        assert!(
            err.what.contains("looked for `podman` and `docker`"),
            "{err}"
        );
        let searched = a.path().display().to_string();
        assert!(err.details.iter().any(|d| d.contains(&searched)), "{err:?}");
        let err = find_in(Some(Kind::Docker), path).unwrap_err();
        assert!(err.what.contains("`docker` was not found"), "{err}");
    }

    #[test]
    fn run_names_the_container_and_passes_ports_and_arguments() {
        let engine = Engine {
            kind: Kind::Podman,
            program: PathBuf::from("/usr/bin/podman"),
        };
        let cmd = engine.run_command(
            "slim-1",
            "localhost/a:1",
            &["8080:8080".into()],
            &["--flag".into()],
        );
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "run",
                "--rm",
                "--name",
                "slim-1",
                "--publish",
                "8080:8080",
                "localhost/a:1",
                "--flag"
            ]
        );
        assert_eq!(Kind::from_name("docker"), Some(Kind::Docker));
        assert_eq!(Kind::from_name("nerdctl"), None);
    }
}
