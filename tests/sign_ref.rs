//! `cargo slim sign REF` and `verify REF`: signing what a registry holds (a
//! multi-platform index and each of its manifests, as `cosign sign --recursive`
//! does), read back with skopeo and checked with openssl; and `verify REF`
//! refusing an image re-tagged to another digest, another key's signatures and
//! a tag with no provenance.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::sign::{keygen, layer_blob, openssl_verify, pull_cosign_tag, PASSWORD};
use crate::support::registry::Registry;
use crate::support::*;

fn sign_ref(reference: &str, key: &Path) -> std::process::Output {
    let mut cmd = slim(&["sign", reference, "--key", key.to_str().unwrap()]);
    cmd.env("COSIGN_PASSWORD", PASSWORD)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    run_ok(&mut cmd)
}

fn verify_ref(reference: &str, public: &Path, extra: &[&str], code: i32) -> String {
    let mut cmd = slim(&["verify", reference, "--key", public.to_str().unwrap()]);
    cmd.args(extra);
    let o = run_code(&mut cmd, code);
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// The `.sig` payload of `digest` verifies with openssl and names `digest`.
fn assert_openssl_signed(host: &str, repo: &str, digest: &str, public: &Path, dir: &Path) {
    let into = dir.join(digest.replace(':', "-"));
    let sig = pull_cosign_tag(host, repo, digest, "sig", &into);
    let layer = &sig["layers"][0];
    let payload = layer_blob(&into, layer);
    let p: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(p["critical"]["image"]["docker-manifest-digest"], digest);
    let b64 = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    let (ok, said) = openssl_verify(dir, public, b64, &payload);
    assert!(ok && said.contains("Verified OK"), "{digest}: {said}");
}

/// `localhost/multi:TAG` for amd64 and arm64 (one payload of `seed`), written
/// as an OCI archive in `dir`: its path and what it holds.
fn two_platforms(dir: &Path, seed: u64, tag: &str) -> (std::path::PathBuf, Written) {
    let tar = dir.join(format!("multi-{tag}.tar"));
    let data = noise(seed, 50_000);
    let images = [
        payload_image("multi", &data, "amd64"),
        payload_image("multi", &data, "arm64"),
    ];
    let reference = format!("localhost/multi:{tag}");
    let w = multi_platform_archive(&tar, &reference, &images, Shape::Nested, false);
    (tar, w)
}

#[test]
fn sign_ref_signs_an_index_and_each_manifest_and_verify_ref_checks_them() {
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    if !have_cmd("openssl", &["version"]) {
        return;
    }
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let (tar, w) = two_platforms(dir.path(), 21, "1");
    let index = cargo_slim::digest::sha256_digest(&w.index.unwrap());
    let reference = format!("{host}/multi:1");
    run_ok(&mut push_cmd(&[tar.to_str().unwrap(), &reference]));
    let (key, public) = keygen(dir.path(), "a");
    let (_, other) = keygen(dir.path(), "b");

    let o = sign_ref(&reference, &key);
    let signed: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
    let mut want = vec![index.clone()];
    want.extend(w.manifests.iter().cloned());
    assert_eq!(signed, want, "the index, then each platform's manifest");
    for d in &want {
        assert_openssl_signed(&host, "multi", d, &public, dir.path());
    }

    // verify REF: every document signed by the key; another key is refused.
    let said = verify_ref(&reference, &public, &[], 0);
    assert!(said.contains(&format!("{host}/multi@{index}")), "{said}");
    assert_eq!(said.matches("by key sha256:").count(), 3, "{said}");
    let said = verify_ref(&reference, &other, &[], 1);
    assert!(said.contains("is not signed by the key"), "{said}");
    // Pinned by digest, the same.
    verify_ref(&format!("{host}/multi@{index}"), &public, &[], 0);
    // No provenance on these payload images: required, it fails and says so.
    let said = verify_ref(&reference, &public, &["--require-provenance"], 1);
    assert!(said.contains("no provenance is attached"), "{said}");

    // Signing again writes nothing to the tags (the same signatures are there).
    let mark = reg.mark();
    sign_ref(&reference, &key);
    let puts: Vec<_> = reg
        .requests_since(mark)
        .into_iter()
        .filter(|r| r.method == "PUT" && r.uri.contains(".sig"))
        .collect();
    assert!(puts.is_empty(), "{puts:?}");

    // The tag re-pointed at another image: its digest carries no signature.
    let other_tar = dir.path().join("other.tar");
    let single = [payload_image("multi", &noise(22, 50_000), "amd64")];
    multi_platform_archive(&other_tar, "localhost/multi:1", &single, Shape::Flat, false);
    run_ok(&mut push_cmd(&[other_tar.to_str().unwrap(), &reference]));
    let said = verify_ref(&reference, &public, &[], 1);
    assert!(said.contains("no signature is attached"), "{said}");
    // A reference that is not there is named.
    let said = verify_ref(&format!("{host}/nothing:1"), &public, &[], 1);
    assert!(said.contains("is not in the registry"), "{said}");
}

#[test]
fn verify_ref_shows_the_pushed_provenance_signed_by_the_key() {
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "a");
    let tar = dir.path().join("hello.tar");
    let mut cmd = build_fixture("hello", &tar, &["--sign", key.to_str().unwrap()]);
    cmd.env("COSIGN_PASSWORD", PASSWORD)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    run_ok(&mut cmd);
    let reference = format!("{}/hello:1", reg.host());
    run_ok(&mut push_cmd(&[tar.to_str().unwrap(), &reference]));
    let said = verify_ref(&reference, &public, &["--require-provenance"], 0);
    assert!(said.contains("Provenance sha256:"), "{said}");
    assert!(said.contains("hello/hello built by"), "{said}");
    assert!(said.contains("signed by the key"), "{said}");
    // JSON: one signatures line and one provenance line.
    let mut cmd = slim(&[
        "--message-format",
        "json",
        "verify",
        &reference,
        "--key",
        public.to_str().unwrap(),
        "--require-provenance",
    ]);
    let o = run_ok(&mut cmd);
    let lines: Vec<Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|l| l["reason"] == "signatures"));
    let p = lines.iter().find(|l| l["reason"] == "provenance").unwrap();
    assert_eq!(p["images"][0]["valid"], true);
    assert_eq!(p["images"][0]["signed"], true);
}

#[test]
fn build_sign_push_of_all_platforms_signs_the_pushed_index_too() {
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    if !have_cmd("openssl", &["version"]) {
        return;
    }
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "a");
    let reference = format!("{host}/hello:all");
    let tar = dir.path().join("hello.tar");
    let mut cmd = build_fixture(
        "hello",
        &tar,
        &[
            "--platform",
            "all",
            "--sign",
            key.to_str().unwrap(),
            "--push",
            &reference,
        ],
    );
    cmd.env("COSIGN_PASSWORD", PASSWORD)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    let o = run_ok(&mut cmd);
    let pinned = text(&o.stdout).lines().last().unwrap().to_string();
    let index = pinned.split_once('@').unwrap().1.to_string();
    // The index a policy engine is given (`image@sha256:<index>`) is signed.
    assert_openssl_signed(&host, "hello", &index, &public, dir.path());
    // Each platform manifest keeps the one signature its tarball brought: the
    // signing after the push left it alone (no second layer by the same key).
    let raw = run_ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{reference}"),
    ]));
    let listed: Value = serde_json::from_slice(&raw.stdout).unwrap();
    let children: Vec<&str> = listed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["platform"]["os"] == "linux")
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(children.len(), 2, "{listed}");
    for d in children {
        let into = dir.path().join(format!("child-{}", &d[7..19]));
        let sig = pull_cosign_tag(&host, "hello", d, "sig", &into);
        assert_eq!(sig["layers"].as_array().unwrap().len(), 1, "{d}: {sig}");
    }
    // verify REF: the index and both platforms signed, both with provenance.
    let said = verify_ref(&reference, &public, &["--require-provenance"], 0);
    assert_eq!(said.matches("by key sha256:").count(), 3, "{said}");
    assert!(
        said.contains("(linux/arm64/v8): hello/hello built by"),
        "{said}"
    );
    assert!(
        said.contains("(linux/amd64): hello/hello built by"),
        "{said}"
    );
}

#[test]
fn push_sign_signs_what_it_pushed_in_the_registry() {
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let (tar, w) = two_platforms(dir.path(), 23, "2");
    let (key, public) = keygen(dir.path(), "a");
    let reference = format!("{host}/multi:2");
    let mut cmd = push_cmd(&[tar.to_str().unwrap(), &reference]);
    cmd.args(["--sign", key.to_str().unwrap()])
        .env("COSIGN_PASSWORD", PASSWORD)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    run_ok(&mut cmd);
    let said = verify_ref(&reference, &public, &[], 0);
    assert_eq!(said.matches("by key sha256:").count(), 3, "{said}");
    let index = cargo_slim::digest::sha256_digest(&w.index.unwrap());
    assert!(said.contains(&index), "{said}");
    // A wrong password stops before anything is pushed.
    let mut cmd = push_cmd(&[tar.to_str().unwrap(), &format!("{host}/other:1")]);
    cmd.args(["--sign", key.to_str().unwrap()])
        .env("COSIGN_PASSWORD", "no")
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    let err = text(&run_code(&mut cmd, 1).stderr);
    assert!(
        err.contains("wrong password") && !err.contains("Pushing"),
        "{err}"
    );
}

#[test]
fn an_index_listing_more_than_the_limit_is_refused_not_cut() {
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("wide.tar");
    let images: Vec<_> = (0..65u64)
        .map(|i| payload_image("wide", &noise(100 + i, 64), "amd64"))
        .collect();
    multi_platform_archive(&tar, "localhost/wide:1", &images, Shape::Flat, false);
    let reference = format!("{}/wide:1", reg.host());
    run_ok(&mut push_cmd(&[tar.to_str().unwrap(), &reference]));
    let (_, public) = keygen(dir.path(), "a");
    let said = verify_ref(&reference, &public, &[], 1);
    assert!(
        said.contains("lists 65 manifests, more than the 64 read"),
        "{said}"
    );
}
