//! `cargo slim keygen`: the pair it writes (modes, formats, refusal to overwrite),
//! checked by OpenSSL: the public key parses, and a signature the library makes
//! with the private key — read back with the password — verifies with
//! `openssl dgst -sha256 -verify cosign.pub`, while one over other bytes does not;
//! and the other way round, signatures `openssl dgst -sign` makes verify with the library.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use cargo_slim::sign::{KeySigner, PublicKey, Signer, SigningKey};

use crate::support::*;

const PASSWORD: &str = "correct horse battery staple";

fn keygen_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = slim(&["keygen"]);
    cmd.args(args)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    cmd
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_writes_a_pair_openssl_checks_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(&mut keygen_in(dir.path(), &[]));
    assert_eq!(text(&out.stdout), "cosign.key\ncosign.pub\n");
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains(PASSWORD) && !stderr.contains("PRIVATE KEY"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("warning"),
        "the password was set: {stderr}"
    );
    let (key, public) = (dir.path().join("cosign.key"), dir.path().join("cosign.pub"));
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&public), 0o644);
    let key_text = std::fs::read_to_string(&key).unwrap();
    assert!(key_text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));

    // A second run changes nothing and names the file.
    let before = (
        std::fs::read(&key).unwrap(),
        std::fs::read(&public).unwrap(),
    );
    let refused = run_code(&mut keygen_in(dir.path(), &[]), 1);
    let err = text(&refused.stderr);
    assert!(
        err.contains("`cosign.key` and `cosign.pub` already exist"),
        "{err}"
    );
    assert_eq!(refused.stdout, b"");
    assert_eq!(
        before,
        (
            std::fs::read(&key).unwrap(),
            std::fs::read(&public).unwrap()
        )
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

    // The library reads the key back with the password, and only with it.
    let signing = SigningKey::read(&key, PASSWORD.as_bytes()).unwrap();
    let e = SigningKey::read(&key, b"wrong").unwrap_err();
    assert!(e.to_string().contains("wrong password"), "{e}");
    assert_eq!(signing.public_key(), PublicKey::read(&public).unwrap());

    if !have_cmd("openssl", &["version"]) {
        return;
    }
    run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubin", "-noout", "-in"])
            .arg(&public),
    );
    let text_out = run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubin", "-noout", "-text", "-in"])
            .arg(&public),
    );
    assert!(
        text(&text_out.stdout).contains("P-256"),
        "{}",
        text(&text_out.stdout)
    );
    let payload = dir.path().join("payload");
    std::fs::write(&payload, b"{\"critical\":{}}").unwrap();
    let sig = dir.path().join("sig.der");
    std::fs::write(
        &sig,
        KeySigner::new(signing).sign(b"{\"critical\":{}}").unwrap(),
    )
    .unwrap();
    let verify = |file: &Path| {
        Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(&public)
            .arg("-signature")
            .arg(&sig)
            .arg(file)
            .output()
            .unwrap()
    };
    let ok = verify(&payload);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert_eq!(text(&ok.stdout).trim(), "Verified OK");
    let other = dir.path().join("other");
    std::fs::write(&other, b"{\"critical\":{ }}").unwrap();
    let bad = verify(&other);
    let said = text(&bad.stdout);
    assert!(
        !bad.status.success(),
        "a signature over other bytes must fail"
    );
    assert!(said.contains("Verification failure"), "{said}");
}

#[test]
fn keygen_takes_a_prefix_prints_json_and_warns_without_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = keygen_in(
        dir.path(),
        &[
            "--output-key-prefix",
            "keys/release",
            "--message-format",
            "json",
        ],
    );
    cmd.env_remove("COSIGN_PASSWORD");
    let out = run_ok(&mut cmd);
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["reason"], "key-generated");
    assert_eq!(line["key"], "keys/release.key");
    assert_eq!(line["pub"], "keys/release.pub");
    assert_eq!(line["fingerprint"].as_str().unwrap().len(), 64);
    assert!(
        text(&out.stderr).contains("warning: neither CARGO_SLIM_KEY_PASSWORD nor COSIGN_PASSWORD")
    );
    let key = dir.path().join("keys/release.key");
    assert_eq!(mode(&key), 0o600);
    // Unset means the empty password.
    SigningKey::read(&key, b"").unwrap();

    // CARGO_SLIM_KEY_PASSWORD comes before COSIGN_PASSWORD.
    let mut cmd = keygen_in(dir.path(), &["--output-key-prefix", "second"]);
    cmd.env("CARGO_SLIM_KEY_PASSWORD", "ours");
    run_ok(&mut cmd);
    SigningKey::read(&dir.path().join("second.key"), b"ours").unwrap();
}

#[test]
fn signatures_openssl_makes_verify_with_the_library() {
    if !have_cmd("openssl", &["version"]) {
        return;
    }
    let key = repo().join("testdata/keys/ec-p256-sec1.pem");
    let public = SigningKey::read(&key, b"").unwrap().public_key();
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("payload");
    std::fs::write(&payload, b"signed by openssl").unwrap();
    // Random nonces: eight signatures cover high-S and low-S alike (1 - 2^-8).
    for i in 0..8 {
        let sig = dir.path().join(format!("sig{i}.der"));
        run_ok(
            Command::new("openssl")
                .args(["dgst", "-sha256", "-sign"])
                .arg(&key)
                .arg("-out")
                .arg(&sig)
                .arg(&payload),
        );
        let sig = std::fs::read(&sig).unwrap();
        cargo_slim::sign::verify(&public, b"signed by openssl", &sig).unwrap();
        assert!(cargo_slim::sign::verify(&public, b"signed by openssl!", &sig).is_err());
    }
}
