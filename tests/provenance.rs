//! SLSA provenance: attached to each image, pushed where cosign and the
//! referrers API look, and checked by the in-toto project's own readers
//! (`in-toto-attestation`'s SLSA v1 model, `securesystemslib`'s DSSE) and
//! openssl over DSSE's PAE — not by our own code; byte-identical across two
//! clean builds of one commit; refused by `verify` when tampered with, about
//! another image, or signed by another key.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use cargo_slim::commands::input::read_input;
use cargo_slim::image::{tarball, Artifact, ImageSet};
use serde_json::Value;

use crate::sign::{keygen, layer_blob, openssl_verify, pull_cosign_tag, PASSWORD};
use crate::support::registry::Registry;
use crate::support::*;

const PREDICATE: &str = "https://slsa.dev/provenance/v1";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Whether the in-toto checkers are installed (a skip outside CI, a failure in it).
fn have_checkers() -> bool {
    have_cmd(
        "python3",
        &[
            "-c",
            "import in_toto_attestation, securesystemslib, sigstore_protobuf_specs",
        ],
    )
}

/// `tests/support/check_provenance.py DOC DIGEST [PUB]`: its output and success.
fn python_check(doc: &[u8], digest: &str, public: Option<&Path>, dir: &Path) -> (bool, String) {
    let path = dir.join("attestation.json");
    std::fs::write(&path, doc).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("tests/support/check_provenance.py"))
        .arg(&path)
        .arg(digest);
    if let Some(p) = public {
        cmd.arg(p);
    }
    let o = cmd.output().unwrap();
    let said = format!("{}{}", text(&o.stdout), text(&o.stderr));
    eprintln!("check_provenance.py: {}", said.trim());
    (o.status.success(), said)
}

/// `tests/support/check_bundle.py BUNDLE DIGEST PUB PREDICATE`: output, success.
fn bundle_check(
    bundle: &[u8],
    digest: &str,
    public: &Path,
    predicate: &str,
    dir: &Path,
) -> (bool, String) {
    let path = dir.join("bundle.json");
    std::fs::write(&path, bundle).unwrap();
    let o = Command::new("python3")
        .arg(repo().join("tests/support/check_bundle.py"))
        .arg(&path)
        .arg(digest)
        .arg(public)
        .arg(predicate)
        .output()
        .unwrap();
    let said = format!("{}{}", text(&o.stdout), text(&o.stderr));
    eprintln!("check_bundle.py: {}", said.trim());
    (o.status.success(), said)
}

/// Build hello signed with `key` (provenance signed too) into `out`.
fn build_signed(out: &Path, key: &Path, extra: &[&str]) -> PathBuf {
    let mut cmd = build_fixture("hello", out, &["--sign", key.to_str().unwrap()]);
    cmd.args(extra)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    run_ok(&mut cmd);
    out.to_path_buf()
}

/// The (only) image of a tarball: its digest and its attestation's document.
fn attestation_of(tar: &Path) -> (String, Artifact) {
    let mut inputs = read_input(tar).unwrap();
    assert_eq!(inputs.len(), 1);
    let input = inputs.remove(0);
    let a = input
        .artifacts
        .into_iter()
        .find(Artifact::is_attestation)
        .expect("a provenance attestation in the tarball");
    (input.image.manifest.digest, a)
}

/// The statement inside a DSSE envelope.
fn payload_of(envelope: &[u8]) -> Vec<u8> {
    let e: Value = serde_json::from_slice(envelope).unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(e["payload"].as_str().unwrap())
        .unwrap()
}

/// DSSE's PAE of an in-toto payload: what the signature covers.
fn pae(body: &[u8]) -> Vec<u8> {
    let t = "application/vnd.in-toto+json";
    let mut out = format!("DSSEv1 {} {t} {} ", t.len(), body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

#[test]
fn signed_provenance_goes_to_the_att_tag_and_in_toto_tools_accept_it() {
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    if !have_checkers() || !have_cmd("openssl", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "a");
    let (_, other) = keygen(dir.path(), "b");
    let tar = build_signed(&dir.path().join("hello.tar"), &key, &[]);
    let (image, _) = attestation_of(&tar);
    let target = format!("{}/hello:1", reg.host());
    let o = run_ok(&mut push_cmd(&[tar.to_str().unwrap(), &target]));
    assert!(text(&o.stderr).contains(".att"), "{}", text(&o.stderr));

    // cosign's attestation tag, as skopeo pulls it.
    let pulled = dir.path().join("att");
    let att = pull_cosign_tag(&reg.host(), "hello", &image, "att", &pulled);
    let layers = att["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{att}");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.dsse.envelope.v1+json"
    );
    assert_eq!(layers[0]["annotations"]["predicateType"], PREDICATE);
    assert_eq!(
        layers[0]["annotations"]["dev.cosignproject.cosign/signature"],
        ""
    );
    let envelope = layer_blob(&pulled, &layers[0]);

    // securesystemslib verifies the envelope; in-toto-attestation parses SLSA v1.
    let (ok, said) = python_check(&envelope, &image, Some(&public), dir.path());
    assert!(ok && said.starts_with("OK"), "{said}");
    let (ok, said) = python_check(&envelope, &image, Some(&other), dir.path());
    assert!(!ok && said.contains("securesystemslib"), "{said}");
    // sigstore's own library, as `cosign verify-attestation --key` wraps it.
    let env_file = dir.path().join("envelope.json");
    std::fs::write(&env_file, &envelope).unwrap();
    for (key, good) in [(&public, true), (&other, false)] {
        let args = [
            "att".as_ref(),
            key.as_os_str(),
            env_file.as_os_str(),
            image.as_ref(),
        ];
        if let Some((ok, said)) = sigstore_verify(&args) {
            assert_eq!(ok, good, "{said}");
        }
    }
    // openssl over the PAE of the payload, with the signature of the envelope.
    let e: Value = serde_json::from_slice(&envelope).unwrap();
    let sig = e["signatures"][0]["sig"].as_str().unwrap();
    let body = payload_of(&envelope);
    let (ok, said) = openssl_verify(dir.path(), &public, sig, &pae(&body));
    assert!(ok && said.contains("Verified OK"), "{said}");
    let mut flipped = body.clone();
    flipped[10] ^= 1;
    let (ok, _) = openssl_verify(dir.path(), &public, sig, &pae(&flipped));
    assert!(!ok);

    // The referrers (the tag fallback on this registry) list it too.
    let referrers = format!("docker://{}/hello:{}", reg.host(), image.replace(':', "-"));
    let raw =
        run_ok(Command::new("skopeo").args(["inspect", "--tls-verify=false", "--raw", &referrers]));
    let index: Value = serde_json::from_slice(&raw.stdout).unwrap();
    let listed = index["manifests"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|m| m["artifactType"] == "application/vnd.in-toto+json"),
        "{index}"
    );
    // And two Sigstore bundles (the image signature, the provenance), each
    // checked by sigstore-protobuf-specs' model and securesystemslib.
    let bundles: Vec<&Value> = listed
        .iter()
        .filter(|m| m["artifactType"] == BUNDLE)
        .collect();
    assert_eq!(bundles.len(), 2, "{index}");
    for b in bundles {
        let predicate = b["annotations"]["dev.sigstore.bundle.predicateType"]
            .as_str()
            .unwrap();
        assert_eq!(
            b["annotations"]["dev.sigstore.bundle.content"],
            "dsse-envelope"
        );
        let into = dir.path().join(predicate.replace(['/', ':'], "_"));
        let d = b["digest"].as_str().unwrap();
        run_ok(Command::new("skopeo").args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/hello@{d}", reg.host()),
            &format!("dir:{}", into.display()),
        ]));
        let m: Value =
            serde_json::from_slice(&std::fs::read(into.join("manifest.json")).unwrap()).unwrap();
        let bytes = layer_blob(&into, &m["layers"][0]);
        let (ok, said) = bundle_check(&bytes, &image, &public, predicate, dir.path());
        assert!(ok && said.starts_with("OK"), "{predicate}: {said}");
        let (ok, _) = bundle_check(&bytes, &image, &other, predicate, dir.path());
        assert!(!ok, "another key");
    }

    // An unchanged re-push writes nothing to the tag.
    let mark = reg.mark();
    run_ok(&mut push_cmd(&[tar.to_str().unwrap(), &target]));
    let puts: Vec<_> = reg
        .requests_since(mark)
        .into_iter()
        .filter(|r| r.method == "PUT" && r.uri.contains(".att"))
        .collect();
    assert!(puts.is_empty(), "{puts:?}");
}

/// A copy of hello in a git repository with one commit.
fn committed_hello(parent: &Path) -> (PathBuf, String) {
    let src = parent.join("src-repo");
    copy_fixture_to("hello", &src);
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c"])
            .arg("commit.gpgsign=false")
            .args(args)
            .current_dir(&src)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", text(&o.stderr));
        text(&o.stdout)
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "hello"]);
    let head = git(&["rev-parse", "HEAD"]).trim().to_string();
    (src, head)
}

#[test]
fn provenance_is_byte_identical_across_two_clean_builds_of_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (src, head) = committed_hello(dir.path());
    let manifest = src.join("Cargo.toml");
    let mut statements = Vec::new();
    for n in ["1", "2"] {
        // Each build cold, in a target dir of its own outside the checkout.
        let out = dir.path().join(format!("hello-{n}.tar"));
        let target = dir.path().join(format!("target-{n}"));
        let mut cmd = build_manifest(&manifest, &["-o", out.to_str().unwrap()]);
        cmd.env("CARGO_TARGET_DIR", &target)
            .env("SOURCE_DATE_EPOCH", "1700000000");
        run_ok(&mut cmd);
        let (digest, a) = attestation_of(&out);
        assert!(!a.is_signed_attestation(), "no key: unsigned");
        statements.push((digest, a.layer.bytes().unwrap().into_owned()));
    }
    assert_eq!(statements[0].0, statements[1].0, "one image digest");
    assert!(
        statements[0].1 == statements[1].1,
        "the statements differ:\n{}\n{}",
        text(&statements[0].1),
        text(&statements[1].1)
    );
    let s: Value = serde_json::from_slice(&statements[0].1).unwrap();
    let deps = s["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert_eq!(deps[0]["digest"]["gitCommit"], head.as_str(), "{s}");
    assert_eq!(
        s["predicate"]["runDetails"]["metadata"]["finishedOn"],
        "2023-11-14T22:13:20Z"
    );
    let text_of = text(&statements[0].1);
    assert!(!text_of.contains(dir.path().to_str().unwrap()), "{text_of}");
    if have_checkers() {
        let (ok, said) = python_check(&statements[0].1, &statements[0].0, None, dir.path());
        assert!(ok, "{said}");
    }
}

/// `tar` rewritten with `artifact` in place of its image's attestation (or
/// signature, when `artifact` is one) and without its Sigstore bundles (which
/// would prove the same on their own), written to `out`.
fn with_artifact(tar: &Path, artifact: Artifact, out: &Path) {
    let kind = artifact.artifact_type.clone();
    rewritten(
        tar,
        |a| a.artifact_type != kind && !a.is_bundle(),
        artifact,
        out,
    );
}

/// `tar`'s image with the artifacts `keep` keeps and `add`, written to `out`.
fn rewritten(tar: &Path, keep: impl Fn(&Artifact) -> bool, add: Artifact, out: &Path) {
    let input = read_input(tar).unwrap().remove(0);
    let mut artifacts: Vec<Artifact> = input.artifacts.into_iter().filter(|a| keep(a)).collect();
    artifacts.push(add);
    let set = ImageSet::new(vec![input.image])
        .unwrap()
        .with_artifacts(artifacts)
        .unwrap();
    tarball::write_set(&set, out, 0).unwrap();
}

/// The first artifact of `tar`'s image that `pick` picks.
fn artifact(tar: &Path, pick: impl Fn(&Artifact) -> bool) -> Artifact {
    read_input(tar)
        .unwrap()
        .remove(0)
        .artifacts
        .into_iter()
        .find(|a| pick(a))
        .expect("an artifact of that kind")
}

fn verify_err(tar: &Path, public: &Path) -> String {
    let o = run_code(
        &mut slim(&[
            "verify",
            tar.to_str().unwrap(),
            "--key",
            public.to_str().unwrap(),
            "--require-provenance",
        ]),
        1,
    );
    text(&o.stderr)
}

#[test]
fn verify_refuses_provenance_and_signatures_of_another_image_or_key_or_tampered() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "a");
    let (_, other) = keygen(dir.path(), "b");
    let a = build_signed(&dir.path().join("a.tar"), &key, &[]);
    // Another image: the same binary with another compression.
    let b = build_signed(&dir.path().join("b.tar"), &key, &["--compression", "zstd"]);
    let ok = run_ok(&mut slim(&[
        "verify",
        b.to_str().unwrap(),
        "--key",
        public.to_str().unwrap(),
        "--require-provenance",
    ]));
    assert!(
        text(&ok.stderr).contains("signed by the key"),
        "{}",
        text(&ok.stderr)
    );
    let (digest_a, att_a) = attestation_of(&a);
    let (digest_b, att_b) = attestation_of(&b);
    assert_ne!(digest_a, digest_b);
    let image_b = read_input(&b).unwrap().remove(0).image;

    // A's signed provenance attached to B: a valid signature, the wrong subject.
    let crafted = dir.path().join("copied.tar");
    let copied = Artifact::attestation(
        &image_b.manifest,
        att_a.layer.bytes().unwrap().into_owned(),
        PREDICATE,
        true,
    )
    .unwrap();
    with_artifact(&b, copied, &crafted);
    let err = verify_err(&crafted, &public);
    assert!(
        err.contains(&format!("about another image, {digest_a}")),
        "{err}"
    );

    // B's own envelope with one byte of its statement flipped.
    let mut e: Value = serde_json::from_slice(&att_b.layer.bytes().unwrap()).unwrap();
    let mut body = payload_of(&att_b.layer.bytes().unwrap());
    let at = body.len() / 2;
    body[at] ^= 0x20;
    e["payload"] = base64::engine::general_purpose::STANDARD
        .encode(&body)
        .into();
    let tampered = dir.path().join("tampered.tar");
    let art = Artifact::attestation(
        &image_b.manifest,
        serde_json::to_vec(&e).unwrap(),
        PREDICATE,
        true,
    )
    .unwrap();
    with_artifact(&b, art, &tampered);
    let err = verify_err(&tampered, &public);
    assert!(
        err.contains("no valid provenance") && err.contains("signed by the key"),
        "{err}"
    );

    // Another key: neither the signature nor the provenance is its.
    let err = verify_err(&b, &other);
    assert!(err.contains("is not signed by the key"), "{err}");
    assert!(err.contains("no valid provenance"), "{err}");

    // B's own cosign signature with one byte of its payload flipped.
    let sig_b = artifact(&b, Artifact::is_signature);
    let mut payload = sig_b.layer.bytes().unwrap().into_owned();
    let at = payload.len() / 3;
    payload[at] ^= 0x01;
    let flipped =
        Artifact::signature(&image_b.manifest, payload, &cosign_signature(&sig_b)).unwrap();
    let crafted = dir.path().join("sig-flipped.tar");
    with_artifact(&b, flipped, &crafted);
    let err = verify_err(&crafted, &public);
    assert!(
        err.contains("none of its 1 signature(s) verifies with the key"),
        "{err}"
    );

    // A's cosign signature attached to B: the key signed another digest.
    let sig_a = artifact(&a, Artifact::is_signature);
    let moved = Artifact::signature(
        &image_b.manifest,
        sig_a.layer.bytes().unwrap().into_owned(),
        &cosign_signature(&sig_a),
    )
    .unwrap();
    let crafted = dir.path().join("sig-copied.tar");
    with_artifact(&b, moved, &crafted);
    let err = verify_err(&crafted, &public);
    assert!(err.contains("the key signed another image"), "{err}");

    // A's bundle-format signature attached to B (and B's own signatures gone).
    let bundle_a = artifact(&a, |x| {
        let m: Value = serde_json::from_slice(&x.manifest.bytes().unwrap()).unwrap();
        x.is_bundle()
            && m["annotations"]["dev.sigstore.bundle.predicateType"]
                == "https://sigstore.dev/cosign/sign/v1"
    });
    let moved = Artifact::bundle(
        &image_b.manifest,
        bundle_a.layer.bytes().unwrap().into_owned(),
        "https://sigstore.dev/cosign/sign/v1",
    )
    .unwrap();
    let crafted = dir.path().join("bundle-copied.tar");
    rewritten(&b, |x| !x.is_signature() && !x.is_bundle(), moved, &crafted);
    let err = verify_err(&crafted, &public);
    assert!(
        err.contains(&format!(
            "the key signed another image: a bundle names {digest_a}"
        )),
        "{err}"
    );
}

/// The DER signature a cosign signature artifact carries.
fn cosign_signature(a: &Artifact) -> Vec<u8> {
    let m: Value = serde_json::from_slice(&a.manifest.bytes().unwrap()).unwrap();
    let b64 = m["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[test]
fn sigstore_bundles_alone_prove_the_signature_and_the_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "a");
    let tar = build_signed(&dir.path().join("hello.tar"), &key, &[]);
    // Only the bundles are kept: no cosign signature, no in-toto artifact.
    let mut inputs = read_input(&tar).unwrap();
    let input = inputs.remove(0);
    let kept: Vec<Artifact> = input
        .artifacts
        .into_iter()
        .filter(|a| a.is_bundle() || a.is_sbom())
        .collect();
    assert_eq!(kept.iter().filter(|a| a.is_bundle()).count(), 2);
    let set = ImageSet::new(vec![input.image])
        .unwrap()
        .with_artifacts(kept)
        .unwrap();
    let only = dir.path().join("bundles.tar");
    tarball::write_set(&set, &only, 0).unwrap();
    let o = run_ok(&mut slim(&[
        "verify",
        only.to_str().unwrap(),
        "--key",
        public.to_str().unwrap(),
        "--require-provenance",
    ]));
    let err = text(&o.stderr);
    assert!(err.contains("by key sha256:"), "{err}");
    assert!(err.contains("signed by the key"), "{err}");
    // Another key: neither verifies.
    let (_, other) = keygen(dir.path(), "b");
    let err = verify_err(&only, &other);
    assert!(err.contains("is not signed by the key"), "{err}");
}

#[test]
fn the_key_comes_from_the_environment_or_the_manifest_and_signed_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "a");
    let signed = |tar: &Path| attestation_of(tar).1.is_signed_attestation();
    // $CARGO_SLIM_SIGN_KEY, no flag.
    let out = dir.path().join("env.tar");
    let mut cmd = build_fixture("hello", &out, &[]);
    cmd.env("CARGO_SLIM_SIGN_KEY", &key)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    run_ok(&mut cmd);
    assert!(signed(&out));
    // `sign = "…"` in the manifest, relative to the package.
    let krate = copy_fixture("hello");
    std::fs::create_dir(krate.path().join("keys")).unwrap();
    std::fs::copy(&key, krate.path().join("keys/a.key")).unwrap();
    let manifest = krate.path().join("Cargo.toml");
    add_metadata(&manifest, "sign = \"keys/a.key\"");
    let out = dir.path().join("meta.tar");
    let mut cmd = build_manifest(&manifest, &["-o", out.to_str().unwrap()]);
    cmd.env("COSIGN_PASSWORD", PASSWORD)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    run_ok(&mut cmd);
    assert!(signed(&out));
    // `--provenance signed` without a key: a usage error before compiling.
    let out = dir.path().join("nokey.tar");
    let o = run_code(
        &mut build_fixture("hello", &out, &["--provenance", "signed"]),
        2,
    );
    let err = text(&o.stderr);
    assert!(err.contains("needs a signing key"), "{err}");
    assert!(!err.contains("Compiling") && !out.exists(), "{err}");
    // `--provenance none`: no attestation; a bad value in the manifest is named.
    let out = dir.path().join("none.tar");
    run_ok(&mut build_fixture("hello", &out, &["--provenance", "none"]));
    let input = read_input(&out).unwrap().remove(0);
    assert!(!input.artifacts.iter().any(Artifact::is_attestation));
    add_metadata(&manifest, "provenance = \"maybe\"");
    let o = run_code(&mut build_manifest(&manifest, &[]), 1);
    let err = text(&o.stderr);
    assert!(err.contains("`maybe` is not a provenance setting"), "{err}");
    assert!(err.contains("provenance"), "{err}");
}

#[test]
fn build_and_report_list_what_is_attached_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "a");
    let tar = dir.path().join("hello.tar");
    let mut cmd = build_fixture("hello", &tar, &["--sign", key.to_str().unwrap()]);
    cmd.args(["--message-format", "json"])
        .env("COSIGN_PASSWORD", PASSWORD)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    let built: Value =
        serde_json::from_str(text(&run_ok(&mut cmd).stdout).lines().next().unwrap()).unwrap();
    let kinds: Vec<&str> = built["attached"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["bundle", "bundle", "provenance", "signature"]);
    // Each digest is an artifact manifest in the tarball.
    let listed: Vec<String> = read_input(&tar)
        .unwrap()
        .remove(0)
        .artifacts
        .iter()
        .map(|a| a.manifest.digest.clone())
        .collect();
    for a in built["attached"].as_array().unwrap() {
        assert!(
            listed.contains(&a["digest"].as_str().unwrap().to_string()),
            "{a}"
        );
    }
    let o = run_ok(&mut slim(&[
        "--message-format",
        "json",
        "report",
        tar.to_str().unwrap(),
    ]));
    let read: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(read["attached"], built["attached"]);
    let o = run_ok(&mut slim(&["report", tar.to_str().unwrap()]));
    assert!(
        text(&o.stderr).contains("attached: cosign signature, SLSA provenance, 2 Sigstore bundles"),
        "{}",
        text(&o.stderr)
    );
}
