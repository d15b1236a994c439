//! `cargo slim resolve -f k8s --repository REPO`, standing in the workspace
//! testdata/fleet: every `slim://PACKAGE[/BIN]` scalar of the YAML is built, pushed
//! to `REPO/<bin>` on a real registry on 127.0.0.1 and replaced by
//! `REPO/<bin>@sha256:<digest>`; every other byte (comments, anchors, quoting,
//! `---`) is printed as written. Then the peers: skopeo finds each manifest in the
//! registry, kubernetes-validate accepts the documents, `podman kube play` pulls
//! the images and runs them (the api answers on loopback, the worker's job logs
//! `worker done`), and a second run prints the same bytes. A reference to a package
//! or binary the workspace lacks is an error naming the file and line, before
//! anything is built or pushed.
//!
//! Output expected of `resolve`: the files of the folder in file-name order, each
//! as written with only the references replaced, a file that does not start with
//! `---` joined to the one before by a `---` line.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::kube::{self, have_podman_kube, play, podman_conf, wait_for_http};
use crate::support::registry::{free_port, Registry, RegistryConfig};
use crate::support::*;

/// The files of testdata/fleet/k8s, in the order `resolve` prints them.
const FILES: [&str; 2] = ["api.yaml", "worker.yaml"];
/// The port the api's Deployment names (replaced by a free one before it is played).
const API_PORT: &str = "38471";

fn fleet() -> PathBuf {
    fixture("fleet")
}

/// `cargo-slim slim resolve ARGS…` standing in the fleet workspace, with no
/// credentials of the machine's.
fn resolve(args: &[&str]) -> Command {
    let mut cmd = slim(&["resolve"]);
    cmd.args(args).current_dir(fleet());
    isolate(&mut cmd);
    cmd.env_remove("CARGO_SLIM_REPOSITORY");
    cmd
}

/// One input file as found in the output.
#[derive(Debug)]
struct Resolved {
    name: &'static str,
    /// The file's text in the output (references replaced).
    text: String,
    /// The references that replaced its `slim://` scalars, in order.
    refs: Vec<String>,
}

/// The next `slim://NAME[/NAME]` in `text` with a non-empty name (so the words
/// `slim:// image` in a comment are not one): (text before, the reference, rest).
fn next_reference(text: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    while let Some(i) = text[from..].find("slim://") {
        let start = from + i;
        let name_len = text[start + 7..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_/".contains(c)))
            .unwrap_or(text.len() - start - 7);
        if name_len > 0 {
            let end = start + 7 + name_len;
            return Some((&text[..start], &text[start..end], &text[end..]));
        }
        from = start + 7;
    }
    None
}

/// Step `pos` over `want` in `out`, or fail showing where they differ: `want` is
/// the text of `file` from byte `at` of `input`.
fn expect(out: &str, pos: &mut usize, want: &str, file: &str, input: &str, at: usize) {
    if out[*pos..].starts_with(want) {
        *pos += want.len();
        return;
    }
    let same = out[*pos..]
        .bytes()
        .zip(want.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let line = input.as_bytes()[..at + same]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    let got: String = String::from_utf8_lossy(&out.as_bytes()[*pos + same..])
        .chars()
        .take(80)
        .collect();
    let wanted: String = String::from_utf8_lossy(&want.as_bytes()[same..])
        .chars()
        .take(80)
        .collect();
    panic!(
        "resolve changed {file} at line {line} (byte {} of the output):\n  \
         want: {wanted:?}\n  got:  {got:?}\nwhole output:\n{out}",
        *pos + same
    );
}

/// Read `out` as the fleet's files with each reference replaced: every byte but
/// the references' must be the input's, each reference
/// `REPO/<bin>@sha256:<64 lowercase hex>`, files joined by a `---` line when the
/// next does not start with one (one before the first file is allowed too), and
/// nothing after the last file.
fn read_output(out: &str, repo: &str) -> Vec<Resolved> {
    let mut pos = 0;
    let mut files = Vec::new();
    for (i, name) in FILES.into_iter().enumerate() {
        let input = std::fs::read_to_string(fleet().join("k8s").join(name)).unwrap();
        // A separator line (`---`, perhaps with a comment after it) before a file
        // that has none of its own: required between files, allowed before the first.
        if !input.starts_with("---") && (i > 0 || out.starts_with("---")) {
            assert!(
                out[pos..].starts_with("---"),
                "no `---` line before {name} at byte {pos} of the output:\n{out}"
            );
            pos += out[pos..].find('\n').map_or(out.len() - pos, |n| n + 1);
        }
        let start = pos;
        let mut refs = Vec::new();
        let mut rest = input.as_str();
        while let Some((before, reference, after)) = next_reference(rest) {
            let at = input.len() - rest.len();
            expect(out, &mut pos, before, name, &input, at);
            let bin = reference.rsplit('/').next().unwrap();
            let prefix = format!("{repo}/{bin}@sha256:");
            assert!(
                out[pos..].starts_with(&prefix),
                "{name}: `{reference}` must become `{prefix}<digest>`, got {:?}",
                out[pos..].chars().take(120).collect::<String>()
            );
            let hex = out.get(pos + prefix.len()..pos + prefix.len() + 64);
            assert!(
                hex.is_some_and(|h| h
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))),
                "{name}: `{reference}` must become `{prefix}<64 hex digits>`, got {:?}",
                out[pos..].chars().take(140).collect::<String>()
            );
            refs.push(out[pos..pos + prefix.len() + 64].to_string());
            pos += prefix.len() + 64;
            rest = after;
        }
        let at = input.len() - rest.len();
        expect(out, &mut pos, rest, name, &input, at);
        files.push(Resolved {
            name,
            text: out[start..pos].to_string(),
            refs,
        });
    }
    assert_eq!(
        pos,
        out.len(),
        "output goes on after the last file: {:?}",
        &out[pos..]
    );
    files
}

/// `skopeo inspect` of `reference` on the plain-HTTP registry, as JSON.
fn skopeo_inspect(reference: &str) -> serde_json::Value {
    let o = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{reference}")),
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn resolve_pins_each_image_by_digest_and_the_yaml_validates_and_runs() {
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    let repo = format!("{}/fleet", reg.host());
    let first = run_ok(&mut resolve(&["-f", "k8s", "--repository", &repo]));
    let out = text(&first.stdout);
    let files = read_output(&out, &repo);

    // One reference per file, each to its binary's repository.
    let refs: Vec<&str> = files
        .iter()
        .flat_map(|f| f.refs.iter().map(String::as_str))
        .collect();
    assert_eq!(refs.len(), 2, "{refs:?}");
    assert!(
        refs[0].starts_with(&format!("{repo}/api@sha256:")),
        "{refs:?}"
    );
    assert!(
        refs[1].starts_with(&format!("{repo}/worker@sha256:")),
        "{refs:?}"
    );
    // The registry holds each manifest under that digest, with the fixture's labels.
    for (reference, bin) in refs.iter().zip(["api", "worker"]) {
        let v = skopeo_inspect(reference);
        let digest = reference.split_once('@').unwrap().1;
        assert_eq!(v["Digest"], digest, "{reference}: {v}");
        assert_eq!(v["Labels"]["org.example.fleet"], "fleet", "{v}");
        assert_eq!(v["Labels"]["org.example.role"], bin, "{v}");
        assert_eq!(v["Labels"]["org.opencontainers.image.title"], bin, "{v}");
    }

    // Nothing changed since: a second run (the repository from the environment this
    // time) pushes the same images and prints the same bytes.
    let mut again = resolve(&["-f", "k8s"]);
    again.env("CARGO_SLIM_REPOSITORY", &repo);
    let second = run_ok(&mut again);
    assert!(
        first.stdout == second.stdout,
        "a second run (repository from CARGO_SLIM_REPOSITORY) printed other YAML:\n{}\n--- versus ---\n{}",
        out,
        text(&second.stdout)
    );

    // Valid Kubernetes, file by file as resolved.
    let dir = tempfile::tempdir().unwrap();
    let written: Vec<PathBuf> = files
        .iter()
        .map(|f| {
            let path = dir.path().join(f.name);
            std::fs::write(&path, &f.text).unwrap();
            path
        })
        .collect();
    kube::validate(&written.iter().map(PathBuf::as_path).collect::<Vec<_>>());

    // podman pulls the pinned images from the registry and runs them. The api gets
    // a free port, and both get names of this run's own.
    if !have_podman_kube() {
        return;
    }
    let conf = podman_conf(dir.path());
    let id = std::process::id();
    let port = free_port().to_string();
    let api = &files[0].text;
    assert!(api.contains(API_PORT), "{api}");
    let api = api
        .replace(API_PORT, &port)
        .replace("fleet-api", &format!("fleet-api-{id}"));
    let api_file = dir.path().join("play-api.yaml");
    std::fs::write(&api_file, api).unwrap();
    let worker = files[1]
        .text
        .replace("fleet-worker", &format!("fleet-worker-{id}"));
    let worker_file = dir.path().join("play-worker.yaml");
    std::fs::write(&worker_file, worker).unwrap();

    let addr = format!("127.0.0.1:{port}");
    {
        let deployed = play(&api_file, &conf);
        let answer = wait_for_http(&addr, "/", Duration::from_secs(90));
        assert_eq!(kube::body(&answer), "fleet api 0.4.0\n", "{answer}");
        let health = wait_for_http(&addr, "/healthz", Duration::from_secs(10));
        assert_eq!(kube::body(&health), "ok\n", "{health}");
        assert!(
            deployed
                .logs("api")
                .contains(&format!("api: listening on 0.0.0.0:{port}")),
            "{}",
            deployed.logs("api")
        );

        let job = play(&worker_file, &conf);
        let code = job.wait_exit("worker", Duration::from_secs(90));
        let logs = job.logs("worker");
        assert_eq!(code, 0, "{logs}");
        assert!(
            logs.lines().any(|l| l == "worker done"),
            "the worker's log: {logs}"
        );
        assert!(logs.contains("running job nightly"), "{logs}");
    }
    // `kube down` took the api away.
    assert!(
        http_get(&addr, "/").is_none(),
        "the api still answers after podman kube down"
    );
    for reference in &refs {
        let _ = kube::podman(&conf).args(["rmi", "-f", reference]).output();
    }
}

/// A file whose reference on line 11 is `bad` (after a good one on line 9):
/// `resolve` exits 1 naming the file and the line, prints no YAML, builds nothing
/// (no executable in a fresh target dir) and pushes nothing.
fn refused(bad: &str, names: &str) {
    let Some(reg) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        format!(
            "# a good reference, then `{bad}`\napiVersion: v1\nkind: Pod\nmetadata:\n  \
             name: bad\nspec:\n  containers:\n    - name: ok\n      image: slim://worker\n    \
             - name: bad\n      image: {bad}\n"
        ),
    )
    .unwrap();
    let target = dir.path().join("target");
    let repo = format!("{}/fleet", reg.host());
    let mut cmd = resolve(&["-f", file.to_str().unwrap(), "--repository", &repo]);
    cmd.env("CARGO_TARGET_DIR", &target);
    let o = run_code(&mut cmd, 1);
    let err = text(&o.stderr);
    assert!(
        err.contains("bad.yaml:11"),
        "file and line of `{bad}`: {err}"
    );
    assert!(err.contains(names), "`{names}` named: {err}");
    assert!(o.stdout.is_empty(), "{}", text(&o.stdout));
    let built: Vec<_> = walkdir::WalkDir::new(&target)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name() == "worker")
        .map(|e| e.into_path())
        .collect();
    assert!(built.is_empty(), "built before the error: {built:?}");
    let writes: Vec<_> = reg
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.method != "HEAD")
        .collect();
    assert!(writes.is_empty(), "pushed before the error: {writes:?}");
}

#[test]
fn a_package_not_in_the_workspace_is_an_error_at_its_line() {
    refused("slim://nope", "nope");
}

#[test]
fn a_binary_the_package_lacks_is_an_error_at_its_line() {
    refused("slim://api/nobin", "nobin");
}

#[test]
fn the_fixture_references_are_found_and_comments_are_not() {
    let api = std::fs::read_to_string(fleet().join("k8s/api.yaml")).unwrap();
    // The comment's `slim:// image` is prose, not a reference.
    assert!(api.contains("slim:// image"));
    let (_, r, rest) = next_reference(&api).unwrap();
    assert_eq!(r, "slim://api");
    assert!(next_reference(rest).is_none());
    let worker = std::fs::read_to_string(fleet().join("k8s/worker.yaml")).unwrap();
    let (before, r, _) = next_reference(&worker).unwrap();
    assert_eq!(r, "slim://worker/worker");
    assert!(before.ends_with("image: \""), "quoted: {before:?}");
    // The output reader takes the inputs with fake digests, and refuses a change.
    let repo = "127.0.0.1:5000/fleet";
    let digest = "0123456789abcdef".repeat(4);
    let api_out = api.replace("slim://api", &format!("{repo}/api@sha256:{digest}"));
    let worker_out = worker.replace(
        "slim://worker/worker",
        &format!("{repo}/worker@sha256:{digest}"),
    );
    let out = format!("{api_out}---\n{worker_out}");
    let files = read_output(&out, repo);
    assert_eq!(files[0].text, api_out);
    assert_eq!(files[1].refs, [format!("{repo}/worker@sha256:{digest}")]);
    let changed = out.replace("'fleet'", "fleet");
    let caught = std::panic::catch_unwind(|| read_output(&changed, repo));
    assert!(caught.is_err(), "a changed quoting must be caught");
}

#[test]
fn resolve_sign_pushes_images_that_verify_with_their_provenance() {
    let Some(reg) = Registry::with_skopeo() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = crate::sign::keygen(dir.path(), "a");
    let repo = format!("{}/signed", reg.host());
    let mut cmd = resolve(&["-f", "k8s", "--repository", &repo, "--sign"]);
    cmd.arg(&key)
        .env("COSIGN_PASSWORD", crate::sign::PASSWORD)
        .env_remove("CARGO_SLIM_KEY_PASSWORD");
    let o = run_ok(&mut cmd);
    let files = read_output(&text(&o.stdout), &repo);
    let refs: Vec<&String> = files.iter().flat_map(|f| &f.refs).collect();
    assert_eq!(refs.len(), 2, "{refs:?}");
    // Each pinned reference the YAML names: signed by the key, with its
    // provenance signed too, as a deployment gate would check it.
    for reference in refs {
        let o = run_ok(&mut slim(&[
            "verify",
            reference,
            "--key",
            public.to_str().unwrap(),
            "--require-provenance",
        ]));
        let err = text(&o.stderr);
        assert!(err.contains("by key sha256:"), "{err}");
        assert!(err.contains("signed by the key"), "{err}");
        assert_eq!(text(&o.stdout).trim(), reference.as_str());
    }
}
