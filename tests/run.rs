//! `cargo slim run`: build, load and run with podman; the container's exit code is
//! ours, its output is the only thing on stdout, and SIGINT to cargo-slim stops
//! the container (nothing is left running).
//!
//! podman in this sandbox needs runc and the host network; `cargo slim run` takes
//! engine settings from the engine's own configuration, so the tests hand podman a
//! `containers.conf` (CONTAINERS_CONF) as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A containers.conf: the system's, with runc and the host network added.
fn containers_conf(dir: &Path) -> PathBuf {
    let system = std::fs::read_to_string("/etc/containers/containers.conf").unwrap_or_default();
    let mut conf = String::new();
    let (mut containers, mut engine) = (false, false);
    for line in system.lines() {
        conf.push_str(line);
        conf.push('\n');
        match line.trim() {
            "[containers]" => {
                conf.push_str("netns = \"host\"\n");
                containers = true;
            }
            "[engine]" => {
                conf.push_str("runtime = \"runc\"\n");
                engine = true;
            }
            _ => {}
        }
    }
    if !containers {
        conf.push_str("[containers]\nnetns = \"host\"\n");
    }
    if !engine {
        conf.push_str("[engine]\nruntime = \"runc\"\n");
    }
    let path = dir.join("containers.conf");
    std::fs::write(&path, conf).unwrap();
    path
}

/// `cargo slim run` of the service fixture with `args` after `--`.
fn run_service(dir: &Path, tag: &str, args: &[&str]) -> Command {
    let manifest = fixture("service").join("Cargo.toml");
    let out = dir.join("service.tar");
    let mut all = vec![
        "run",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--tag",
        tag,
        "--engine",
        "podman",
        "--",
    ];
    all.extend_from_slice(args);
    let mut cmd = slim(&all);
    cmd.env("CONTAINERS_CONF", containers_conf(dir));
    cmd
}

#[test]
fn run_prints_the_programs_output_and_returns_its_exit_code() {
    if !have("podman") {
        return;
    }
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("localhost/slim-run-service:{}", std::process::id());
    let o = run_ok(&mut run_service(dir.path(), &tag, &["check"]));
    let out = text(&o.stdout);
    // stdout is the container's: no tarball path, no reference.
    assert!(out.starts_with("service build A\n"), "{out}");
    assert!(!out.contains("service.tar") && !out.contains(&tag), "{out}");
    assert!(text(&o.stderr).contains("Running"), "{}", text(&o.stderr));
    let o = run_code(&mut run_service(dir.path(), &tag, &["exit", "7"]), 7);
    assert!(!text(&o.stderr).contains("error:"), "{}", text(&o.stderr));
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
}

#[test]
fn sigint_stops_the_running_service_and_leaves_no_container() {
    if !have("podman") {
        return;
    }
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("localhost/slim-run-serve:{}", std::process::id());
    let port = crate::support::registry::free_port().to_string();
    let mut child = run_service(dir.path(), &tag, &["serve", &port])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let name = format!("cargo-slim-run-{}", child.id());
    // The service answers while `run` holds it (the build comes first).
    let deadline = Instant::now() + Duration::from_secs(240);
    let answered = loop {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "run ended ({status}) before the service answered: {}",
                text(&out.stderr)
            );
        }
        if let Some(body) = http_get(&format!("127.0.0.1:{port}"), "/index.html") {
            break body;
        }
        assert!(Instant::now() < deadline, "the service never answered");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    // SIGINT to cargo-slim alone, as `kill -INT` sends it.
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "run did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interrupted by SIGINT"),
        "{}",
        text(&out.stderr)
    );
    let ps = run_ok(Command::new("podman").args([
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Names}}",
    ]));
    assert_eq!(text(&ps.stdout).trim(), "", "the container outlived run");
    assert!(http_get(&format!("127.0.0.1:{port}"), "/index.html").is_none());
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
}
