//! `cargo slim sign`: cosign signatures inside the tarball (which every loader
//! still takes), and on push in cosign's `sha256-<hex>.sig` tag of a real
//! registry, read back with skopeo and checked with openssl only — not with our
//! own verifier.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

use crate::support::registry::Registry;
use crate::support::*;

pub(crate) const PASSWORD: &str = "sign test password";

pub(crate) fn keygen(dir: &Path, prefix: &str) -> (PathBuf, PathBuf) {
    run_ok(
        slim(&["keygen", "--output-key-prefix", prefix])
            .current_dir(dir)
            .env("COSIGN_PASSWORD", PASSWORD)
            .env_remove("CARGO_SLIM_KEY_PASSWORD"),
    );
    (
        dir.join(format!("{prefix}.key")),
        dir.join(format!("{prefix}.pub")),
    )
}

fn sign_cmd(tar: &Path, key: &Path, password: &str) -> Command {
    let mut cmd = slim(&[
        "sign",
        tar.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    cmd.env("COSIGN_PASSWORD", password)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    cmd
}

fn sign(tar: &Path, key: &Path) -> String {
    let o = run_ok(&mut sign_cmd(tar, key, PASSWORD));
    text(&o.stdout).trim().to_string()
}

/// `openssl dgst -sha256 -verify PUB -signature SIG PAYLOAD`: its output and success.
pub(crate) fn openssl_verify(
    dir: &Path,
    public: &Path,
    sig_b64: &str,
    payload: &[u8],
) -> (bool, String) {
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig_b64)
        .unwrap();
    let (sig_path, payload_path) = (dir.join("sig.der"), dir.join("payload"));
    std::fs::write(&sig_path, sig).unwrap();
    std::fs::write(&payload_path, payload).unwrap();
    let o = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public)
        .arg("-signature")
        .arg(&sig_path)
        .arg(&payload_path)
        .output()
        .unwrap();
    let said = format!("{}{}", text(&o.stdout), text(&o.stderr));
    eprintln!("openssl: {}", said.trim());
    (o.status.success(), said)
}

/// The `.sig` manifest of `digest` in `host/repo`, and its layers' blobs (by hex).
fn pull_sig(host: &str, repo: &str, digest: &str, into: &Path) -> Value {
    pull_cosign_tag(host, repo, digest, "sig", into)
}

/// cosign's `sha256-<hex>.<suffix>` manifest of `digest` in `host/repo`; its
/// blobs copied by skopeo into `into` (named by hex).
pub(crate) fn pull_cosign_tag(
    host: &str,
    repo: &str,
    digest: &str,
    suffix: &str,
    into: &Path,
) -> Value {
    let at = format!(
        "docker://{host}/{repo}:{}.{suffix}",
        digest.replace(':', "-")
    );
    let raw = run_ok(Command::new("skopeo").args(["inspect", "--tls-verify=false", "--raw", &at]));
    let _ = std::fs::remove_dir_all(into);
    run_ok(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &at,
        &format!("dir:{}", into.display()),
    ]));
    serde_json::from_slice(&raw.stdout).unwrap()
}

pub(crate) fn layer_blob(dir: &Path, layer: &Value) -> Vec<u8> {
    let hex = layer["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    std::fs::read(dir.join(hex)).unwrap()
}

fn sig_of(layer: &Value) -> &str {
    layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap()
}

#[test]
fn sign_attaches_in_the_tarball_and_re_signing_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let tar = build_hello(dir.path(), &[]);
    let (key, _) = keygen(dir.path(), "a");
    let image = cargo_slim::validate::validate_set(&tar).unwrap().images[0]
        .manifest_digest
        .clone();
    assert_eq!(sign(&tar, &key), image);
    let set = cargo_slim::validate::validate_set(&tar).unwrap();
    let sigs: Vec<_> = set
        .artifacts
        .iter()
        .filter(|a| a.format == "cosign")
        .collect();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].subject, image);
    assert_eq!(
        set.images[0].manifest_digest, image,
        "the image is unchanged"
    );
    let before = sha256_file(&tar);
    assert_eq!(sign(&tar, &key), image);
    assert_eq!(
        sha256_file(&tar),
        before,
        "a re-sign with the same key writes nothing"
    );
    let (other, _) = keygen(dir.path(), "b");
    sign(&tar, &other);
    let set = cargo_slim::validate::validate_set(&tar).unwrap();
    assert_eq!(
        set.artifacts
            .iter()
            .filter(|a| a.format == "cosign")
            .count(),
        2
    );
    // A wrong password is an error that shows no secret.
    let o = run_code(&mut sign_cmd(&tar, &key, "wrong"), 1);
    assert!(!text(&o.stderr).contains(PASSWORD), "{}", text(&o.stderr));
    if have("skopeo") {
        for transport in ["oci-archive", "docker-archive"] {
            let o = run_ok(Command::new("skopeo").args([
                "inspect",
                "--raw",
                &format!("{transport}:{}", tar.display()),
            ]));
            assert!(!o.stdout.is_empty());
        }
        let copied = dir.path().join("copied");
        run_ok(Command::new("skopeo").args([
            "copy",
            &format!("oci-archive:{}", tar.display()),
            &format!("dir:{}", copied.display()),
        ]));
        let m = std::fs::read(copied.join("manifest.json")).unwrap();
        assert_eq!(cargo_slim::digest::sha256_digest(&m), image);
    }
}

#[test]
fn push_writes_the_sig_tag_that_openssl_verifies_and_keeps_another_keys_signature() {
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    if !have_cmd("openssl", &["version"]) {
        return;
    }
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let tar_a = build_hello(dir.path(), &[]);
    let tar_b = dir.path().join("hello-b.tar");
    std::fs::copy(&tar_a, &tar_b).unwrap();
    let (key_a, pub_a) = keygen(dir.path(), "a");
    let (key_b, pub_b) = keygen(dir.path(), "b");
    let image = sign(&tar_a, &key_a);
    assert_eq!(sign(&tar_b, &key_b), image);
    let target = format!("{host}/hello:1");
    let o = run_ok(&mut push_cmd(&[tar_a.to_str().unwrap(), &target]));
    assert!(text(&o.stderr).contains(".sig"), "{}", text(&o.stderr));

    let pulled = dir.path().join("sig-a");
    let sig = pull_sig(&host, "hello", &image, &pulled);
    assert_eq!(
        sig["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        sig["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = sig["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{sig}");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload = layer_blob(&pulled, &layers[0]);
    let p: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        p["critical"]["image"]["docker-manifest-digest"],
        image.as_str()
    );
    assert_eq!(
        p["critical"]["identity"]["docker-reference"],
        "localhost/hello"
    );
    assert_eq!(p["critical"]["type"], "cosign container image signature");
    let (ok, said) = openssl_verify(dir.path(), &pub_a, sig_of(&layers[0]), &payload);
    assert!(ok && said.contains("Verified OK"), "{said}");
    let mut flipped = payload.clone();
    flipped[10] ^= 1;
    let (ok, said) = openssl_verify(dir.path(), &pub_a, sig_of(&layers[0]), &flipped);
    assert!(!ok && said.contains("Verification failure"), "{said}");
    let (ok, _) = openssl_verify(dir.path(), &pub_b, sig_of(&layers[0]), &payload);
    assert!(!ok, "another key does not verify A's signature");

    // Key B's signature pushed to the same tag: A's layer stays.
    run_ok(&mut push_cmd(&[tar_b.to_str().unwrap(), &target]));
    let pulled = dir.path().join("sig-ab");
    let sig = pull_sig(&host, "hello", &image, &pulled);
    let layers = sig["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{sig}");
    for (layer, public) in layers.iter().zip([&pub_a, &pub_b]) {
        let payload = layer_blob(&pulled, layer);
        let (ok, said) = openssl_verify(dir.path(), public, sig_of(layer), &payload);
        assert!(ok, "A's signature kept, B's added: {said}");
        // And with sigstore's own library, as `cosign verify --key` checks it.
        let payload_file = dir.path().join("payload");
        std::fs::write(&payload_file, &payload).unwrap();
        let args = [
            "sig".as_ref(),
            public.as_os_str(),
            payload_file.as_os_str(),
            sig_of(layer).as_ref(),
            image.as_ref(),
        ];
        if let Some((ok, said)) = sigstore_verify(&args) {
            assert!(ok && said.starts_with("OK"), "{said}");
        }
    }

    // A again: nothing new, the tag unchanged.
    let mark = reg.mark();
    run_ok(&mut push_cmd(&[tar_a.to_str().unwrap(), &target]));
    let puts: Vec<_> = reg
        .requests_since(mark)
        .into_iter()
        .filter(|r| r.method == "PUT" && r.uri.contains(".sig"))
        .collect();
    assert!(puts.is_empty(), "{puts:?}");
    let again = pull_sig(&host, "hello", &image, &dir.path().join("sig-again"));
    assert_eq!(again, sig);
}

#[test]
fn verify_key_accepts_the_signer_and_names_why_others_fail() {
    let dir = tempfile::tempdir().unwrap();
    let tar = build_hello(dir.path(), &[]);
    let (key, public) = keygen(dir.path(), "a");
    let (_, other) = keygen(dir.path(), "b");
    let verify = |public: &Path, code: i32| {
        let mut cmd = slim(&[
            "verify",
            tar.to_str().unwrap(),
            "--key",
            public.to_str().unwrap(),
        ]);
        text(&run_code(&mut cmd, code).stderr)
    };
    // Unsigned: refused, saying so.
    let err = verify(&public, 1);
    assert!(err.contains("no signature is attached"), "{err}");
    let image = sign(&tar, &key);
    // The signer's key: every image signed over its own digest.
    let err = verify(&public, 0);
    assert!(err.contains(&format!("Signed {image}")), "{err}");
    // Another key: refused, naming the key that was asked for (two signatures:
    // cosign's and the Sigstore bundle).
    let err = verify(&other, 1);
    assert!(
        err.contains("none of its 2 signature(s) verifies with the key"),
        "{err}"
    );
    // JSON: one `signatures` line with each image's verdict.
    let o = run_ok(&mut slim(&[
        "verify",
        tar.to_str().unwrap(),
        "--key",
        public.to_str().unwrap(),
        "--message-format",
        "json",
    ]));
    let line: Value = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["reason"] == "signatures")
        .expect("a signatures line");
    assert_eq!(line["images"][0]["digest"], image);
    assert_eq!(line["images"][0]["valid"], true);
}

#[test]
fn build_sign_attaches_the_signature_in_the_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "a");
    let mut cmd = slim(&["build", "--sign", key.to_str().unwrap()]);
    cmd.env("COSIGN_PASSWORD", PASSWORD)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    let tar = dir.path().join("hello.tar");
    let o = run_ok(
        cmd.arg("--manifest-path")
            .arg(fixture("hello").join("Cargo.toml"))
            .arg("-o")
            .arg(&tar)
            .args(["--message-format", "json"]),
    );
    let report: Value = serde_json::from_str(text(&o.stdout).lines().next().unwrap()).unwrap();
    // The report's numbers are the file's: signed before it was written.
    assert_eq!(
        report["sizes"]["tarball"].as_u64().unwrap(),
        std::fs::metadata(&tar).unwrap().len()
    );
    let err = text(&o.stderr);
    assert!(err.contains("Signed sha256:"), "{err}");
    run_ok(&mut slim(&[
        "verify",
        tar.to_str().unwrap(),
        "--key",
        public.to_str().unwrap(),
    ]));
    // A wrong password stops the build before anything is compiled.
    let mut cmd = slim(&["build", "--sign", key.to_str().unwrap()]);
    cmd.env("COSIGN_PASSWORD", "not it")
        .env_remove("CARGO_SLIM_KEY_PASSWORD")
        .arg("--manifest-path")
        .arg(fixture("hello").join("Cargo.toml"))
        .arg("-o")
        .arg(dir.path().join("other.tar"));
    let err = text(&run_code(&mut cmd, 1).stderr);
    assert!(err.contains("wrong password"), "{err}");
    assert!(
        !err.contains("Compiling") && !err.contains("not it"),
        "{err}"
    );
    assert!(!dir.path().join("other.tar").exists());
}

#[test]
fn a_cosign_key_written_by_an_independent_helper_signs_and_openssl_verifies() {
    if !have_cmd("openssl", &["version"]) || !have_cmd("python3", &["-c", "import nacl.secret"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tar = build_hello(dir.path(), &[]);
    let (pem, der, public, key) = (
        dir.path().join("k.pem"),
        dir.path().join("k.der"),
        dir.path().join("k.pub"),
        dir.path().join("k.key"),
    );
    let openssl = |args: &[&str]| run_ok(Command::new("openssl").args(args));
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        pem.to_str().unwrap(),
    ]);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        pem.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        der.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-in",
        pem.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    // Python's scrypt and PyNaCl's secretbox, PEM lines of 76 columns.
    run_ok(
        Command::new("python3")
            .arg(repo().join("tests/support/cosign_key.py"))
            .args([&der, Path::new(PASSWORD), &key]),
    );
    let image = sign(&tar, &key);
    let signature = cargo_slim::commands::input::read_input(&tar)
        .unwrap()
        .remove(0)
        .artifacts
        .into_iter()
        .find(cargo_slim::image::Artifact::is_signature)
        .unwrap();
    let m: Value = serde_json::from_slice(&signature.manifest.bytes().unwrap()).unwrap();
    let payload = signature.layer.bytes().unwrap();
    assert!(text(&payload).contains(&image));
    let (ok, said) = openssl_verify(dir.path(), &public, sig_of(&m["layers"][0]), &payload);
    assert!(ok && said.contains("Verified OK"), "{said}");
    let err = text(&run_code(&mut sign_cmd(&tar, &key, "not the password"), 1).stderr);
    assert!(err.contains("wrong password"), "{err}");
}
