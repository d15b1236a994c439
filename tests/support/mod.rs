//! The integration tests' helpers, in one place: running cargo-slim, the
//! fixtures' shared target dir, tool checks that skip on a laptop but fail in CI
//! (`CI=true`), the one tar builder ([`tar::Tar`]), the one PRNG ([`XorShift`],
//! shared with the library's unit tests), the push harness ([`registry`]: a
//! real registry, certificates, a token service and a fault-injecting proxy), and
//! the Kubernetes peers ([`kube`]: kubernetes-validate, `podman kube play`).

#![allow(dead_code)]

mod archives;
pub mod index;
pub mod kube;
pub mod registry;
pub mod tar;
pub use archives::*;

pub use cargo_slim::testing::XorShift;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;

pub const HELLO_LINE: &str = "Hello from a FROM-scratch image!";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("testdata").join(name)
}

/// One target dir for every fixture build, so cargo's cache is shared.
pub fn fixture_target_dir() -> PathBuf {
    repo().join("target").join("fixtures")
}

/// `cargo-slim slim <args>` with the fixtures' target dir.
pub fn slim(args: &[&str]) -> Command {
    slim_at(Path::new(env!("CARGO_BIN_EXE_cargo-slim")), args)
}

/// [`slim`] with the cargo-slim executable at `exe` (a copy placed elsewhere).
pub fn slim_at(exe: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("slim")
        .args(args)
        .env("CARGO_TARGET_DIR", fixture_target_dir())
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TERM_COLOR", "never");
    cmd
}

pub fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Run and require success, printing both streams on failure.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "command failed: {cmd:?}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Run and require the exit code, returning stderr.
pub fn run_code(cmd: &mut Command, code: i32) -> Output {
    let out = cmd.output().expect("spawn");
    assert_eq!(
        out.status.code(),
        Some(code),
        "unexpected exit for {cmd:?}\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("panicked"),
        "panic in {cmd:?}: {}",
        text(&out.stderr)
    );
    out
}

/// The last line of stdout: the tarball path.
pub fn last_line(out: &Output) -> PathBuf {
    PathBuf::from(
        text(&out.stdout)
            .lines()
            .last()
            .expect("stdout has a path")
            .trim(),
    )
}

pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Whether `tool --version` runs. In CI a missing tool is a failure, elsewhere a
/// skip with the reason printed.
pub fn have(tool: &str) -> bool {
    have_cmd(tool, &["--version"])
}

/// Whether `tool args…` runs and succeeds (for tools without `--version`:
/// `openssl version`, `htpasswd -nbB u p`). Like [`have`]: a skip outside CI, a
/// failure in CI.
pub fn have_cmd(tool: &str, args: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if in_ci() {
            panic!(
                "`{tool}` is required in CI (CI=true) but is not installed; .ci/run installs it"
            );
        }
        eprintln!("SKIPPED: `{tool}` is not installed (install it, or run .ci/run)");
    }
    ok
}

/// `target/tools/sigstore-verify ARGS…` (testdata/sigstore-verify: sigstore's own
/// Go library, what cosign verifies with): its output and success; `None` when
/// it is not built (a skip outside CI, a failure in it).
pub fn sigstore_verify(args: &[&std::ffi::OsStr]) -> Option<(bool, String)> {
    let bin = repo().join("target/tools/sigstore-verify");
    if !bin.exists() {
        assert!(!in_ci(), "{} is missing: .ci/run builds it", bin.display());
        eprintln!("SKIPPED: no {} (see .ci/run)", bin.display());
        return None;
    }
    let o = Command::new(&bin).args(args).output().unwrap();
    let said = format!("{}{}", text(&o.stdout), text(&o.stderr));
    eprintln!("sigstore-verify: {}", said.trim());
    Some((o.status.success(), said))
}

/// Build testdata/hello once per test run into `dir`, returning the tarball.
pub fn build_hello(out_dir: &Path, extra: &[&str]) -> PathBuf {
    let out = out_dir.join("hello.tar");
    let manifest = fixture("hello").join("Cargo.toml");
    let mut args = vec![
        "build",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run_ok(&mut slim(&args));
    assert_eq!(last_line(&o), out);
    out
}

static WARM: Once = Once::new();

/// Make sure the fixture's dependencies are fetched and the musl target exists
/// before tests race to build it.
pub fn warm_up() {
    WARM.call_once(|| {
        let dir = tempfile::tempdir().unwrap();
        build_hello(dir.path(), &[]);
    });
}

pub fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    cargo_slim::digest::sha256_hex(&bytes)
}

/// Copy a fixture crate into a fresh temp dir (for tests that edit it).
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    copy_fixture_in(name, &std::env::temp_dir())
}

/// [`copy_fixture`] into a fresh temp dir inside `parent` (e.g. under `target/`).
pub fn copy_fixture_in(name: &str, parent: &Path) -> tempfile::TempDir {
    std::fs::create_dir_all(parent).unwrap();
    let dir = tempfile::tempdir_in(parent).unwrap();
    copy_fixture_to(name, dir.path());
    dir
}

/// The fixture crate `name` (without its `target/`) copied into the folder `dst`.
pub fn copy_fixture_to(name: &str, dst: &Path) {
    let src = fixture(name);
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&src).unwrap();
        if rel.starts_with("target") {
            continue;
        }
        let to = dst.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// One `#[test]` per row of a table, named by the row: `cases! { check; name: row; … }`
/// defines `fn name()` running `check("name", row)`, so a failure names its row.
macro_rules! cases {
    ($check:path; $($name:ident: $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                $check(stringify!($name), $case);
            }
        )*
    };
}
pub(crate) use cases;

/// `lines` added at the top of the `[package.metadata.slim]` table of `manifest`.
pub fn add_metadata(manifest: &Path, lines: &str) {
    let toml = std::fs::read_to_string(manifest).unwrap();
    assert!(
        toml.contains("[package.metadata.slim]\n"),
        "{}",
        manifest.display()
    );
    let toml = toml.replace(
        "[package.metadata.slim]\n",
        &format!("[package.metadata.slim]\n{lines}\n"),
    );
    std::fs::write(manifest, toml).unwrap();
}

/// A `.cargo/config.toml` in `krate` whose `build.rustflags` set `--cfg
/// slim_user_flag` (hello then prints "user rustflags applied"); cargo reads it
/// when run in `krate`.
pub fn add_user_rustflags(krate: &Path) {
    std::fs::create_dir_all(krate.join(".cargo")).unwrap();
    std::fs::write(
        krate.join(".cargo/config.toml"),
        "[build]\nrustflags = [\"--cfg\", \"slim_user_flag\"]\n",
    )
    .unwrap();
}

/// `cargo-slim slim push …` with every credential and CA source cleared, so only
/// what a test sets applies.
pub fn push_cmd(args: &[&str]) -> Command {
    let mut cmd = slim(&[]);
    cmd.arg("push").args(args);
    isolate(&mut cmd);
    cmd
}

/// No credentials, proxies or caches of the machine's reach the command.
pub fn isolate(cmd: &mut Command) {
    for v in [
        "DOCKER_CONFIG",
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
        "SSL_CERT_FILE",
        "XDG_CACHE_HOME",
        "CARGO_SLIM_REGISTRY_USERNAME",
        "CARGO_SLIM_REGISTRY_PASSWORD",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(v);
    }
    // An empty HOME: no ~/.docker/config.json of the machine's.
    cmd.env("HOME", empty_home());
}

pub fn empty_home() -> &'static Path {
    static HOME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HOME.get_or_init(|| shared_dir("empty-home"))
}

/// An empty folder for what one test run shares between tests (a static lives
/// until the process exits, so a `TempDir` in one is never removed): under the
/// fixtures' target dir, emptied when first asked for in a run.
pub fn shared_dir(name: &str) -> PathBuf {
    let dir = fixture_target_dir().join("shared").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Write a one-file image (`/payload.bin` = `data`) named `localhost/NAME:1` to
/// `path` with the library: a valid tarball without a cargo build.
pub fn payload_tarball(path: &Path, name: &str, data: &[u8]) {
    let image = payload_image(name, data, "amd64");
    cargo_slim::image::tarball::write(&image, path, 0).unwrap();
}

/// `len` bytes from the shared PRNG: deterministic, and gzip cannot shrink them.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = XorShift(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `cargo-slim slim build --manifest-path testdata/<name>/Cargo.toml -o <out> <extra…>`.
pub fn build_fixture(name: &str, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = build_manifest(
        &fixture(name).join("Cargo.toml"),
        &["-o", out.to_str().unwrap()],
    );
    cmd.args(extra);
    cmd
}

/// `cargo-slim slim build --manifest-path <manifest> <extra…>`.
pub fn build_manifest(manifest: &Path, extra: &[&str]) -> Command {
    let mut cmd = slim(&["build", "--manifest-path", manifest.to_str().unwrap()]);
    cmd.args(extra);
    cmd
}

/// `cargo-slim slim --message-format json build --manifest-path <manifest> <extra…>`.
pub fn build_manifest_json(manifest: &Path, extra: &[&str]) -> Command {
    let mut cmd = slim(&[
        "--message-format",
        "json",
        "build",
        "--manifest-path",
        manifest.to_str().unwrap(),
    ]);
    cmd.args(extra);
    cmd
}

/// The last line of stdout, as JSON (the `image-built` or `image-report` line).
pub fn last_json(out: &Output) -> serde_json::Value {
    let stdout = text(&out.stdout);
    let line = stdout.lines().last().expect("a JSON line");
    serde_json::from_str(line).expect("valid JSON")
}

/// `skopeo copy SOURCE dir:DIR`, then the bytes of the manifest it wrote.
pub fn skopeo_copied_manifest(source: &str, dir: &Path) -> Vec<u8> {
    run_ok(
        Command::new("skopeo")
            .arg("copy")
            .arg(source)
            .arg(format!("dir:{}", dir.display())),
    );
    std::fs::read(dir.join("manifest.json")).unwrap()
}

/// One HTTP/1.1 GET; `None` when nothing answers.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    use std::time::Duration;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    (!body.is_empty()).then_some(body)
}
