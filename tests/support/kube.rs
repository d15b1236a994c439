//! Kubernetes YAML checked by real peers: `kubernetes-validate` (the API schemas,
//! offline) and `podman kube play` (the documents run as pods on this machine).
//!
//! In: paths of YAML files. Out: a pass or a skip (a missing tool skips on a laptop,
//! fails with `CI=true`), a [`KubeGuard`] that owns what `podman kube play` started
//! and runs `podman kube down` on drop, an HTTP wait with a deadline, and a pod
//! container's exit code and logs. Why: `cargo slim resolve` writes YAML for a
//! cluster; these prove the output is valid Kubernetes and that the images it names
//! pull from the registry and run.
//!
//! Facts of podman 4.3 (Debian 12) that shape this, checked by hand:
//! - Pods, Deployments (one pod, named `NAME-pod-0`) and ConfigMaps play; a `Job`
//!   does not ("YAML document does not contain any supported kube kind"), so
//!   [`play`] runs a Job as the Pod its template describes ([`jobs_as_pods`]), which
//!   is what a cluster's job controller creates. A `Service` in the file is ignored.
//! - No bridge network here: pods need `hostNetwork: true`, and then a container
//!   may not list `ports` ("PortMappings can only be used with Bridge or
//!   slirp4netns networking").
//! - `readinessProbe` is not run by podman 4.3 (no health check is created): the
//!   wait is ours ([`wait_for_http`]).
//! - The infra container's pause image is built on first use from Debian's
//!   `catatonit`.
//! - `--tls-verify=false` pulls from the plain-HTTP registry on 127.0.0.1.
//! - runc, as the other podman tests use it: [`podman_conf`].

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

use crate::support::{have, have_cmd, http_get, text};

/// Validate `paths` with `kubernetes-validate --strict` (unknown fields are errors)
/// against the newest Kubernetes version the installed package knows. `false`
/// when the tool is missing outside CI (the skip is printed); a failure panics with
/// the tool's output.
pub fn validate(paths: &[&Path]) -> bool {
    if !have("kubernetes-validate") {
        return false;
    }
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .args(paths)
        .output()
        .expect("spawn kubernetes-validate");
    assert!(
        out.status.success(),
        "kubernetes-validate --strict {paths:?} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    true
}

/// Whether `podman kube play` can run here: podman, and catatonit for the pause
/// image. Like [`have`]: a skip outside CI, a failure in CI.
pub fn have_podman_kube() -> bool {
    have("podman") && have_cmd("catatonit", &["--version"])
}

/// A containers.conf for the tests' podman: the system's (it has `default_ulimits
/// = []`, which this sandbox needs) with `runtime = "runc"` (crun refuses this
/// machine's cgroup layout). Written into `dir`.
pub fn podman_conf(dir: &Path) -> PathBuf {
    let system = std::fs::read_to_string("/etc/containers/containers.conf").unwrap_or_default();
    let mut conf = String::new();
    let mut engine = false;
    for line in system.lines() {
        conf.push_str(line);
        conf.push('\n');
        if line.trim() == "[engine]" {
            conf.push_str("runtime = \"runc\"\n");
            engine = true;
        }
    }
    if !engine {
        conf.push_str("[engine]\nruntime = \"runc\"\n");
    }
    let path = dir.join("containers.conf");
    std::fs::write(&path, conf).unwrap();
    path
}

/// What `podman kube play` started from one file; `podman kube down` on drop.
pub struct KubeGuard {
    /// The file played (a Job's file is played as its Pod: this is that copy).
    pub file: PathBuf,
    conf: PathBuf,
    /// The pods started, by ID, as `kube play` printed them.
    pub pods: Vec<String>,
}

/// `podman kube play --tls-verify=false FILE` with the containers.conf `conf`
/// ([`podman_conf`]). A file holding a `Job` is played as a copy (in the folder of
/// `conf`) where each Job is the Pod of its template. Panics when podman fails.
pub fn play(path: &Path, conf: &Path) -> KubeGuard {
    let yaml = std::fs::read_to_string(path).unwrap();
    let file = match jobs_as_pods(&yaml) {
        Some(pods) => {
            let name = path.file_name().unwrap().to_string_lossy();
            let copy = conf.with_file_name(format!("pod-of-{name}"));
            std::fs::write(&copy, pods).unwrap();
            copy
        }
        None => path.to_path_buf(),
    };
    let out = podman(conf)
        .args(["kube", "play", "--tls-verify=false"])
        .arg(&file)
        .output()
        .expect("spawn podman");
    // Whatever started is taken down, even when the play failed half-way.
    let guard = KubeGuard {
        pods: pod_ids(&text(&out.stdout)),
        file,
        conf: conf.to_path_buf(),
    };
    assert!(
        out.status.success(),
        "podman kube play {} failed ({}):\n{}{}",
        guard.file.display(),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        !guard.pods.is_empty(),
        "no pod started: {}",
        text(&out.stdout)
    );
    guard
}

/// The pod IDs in `kube play`'s output: the lines after each `Pod:` line.
fn pod_ids(stdout: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut lines = stdout.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "Pod:" {
            if let Some(id) = lines.next() {
                ids.push(id.trim().to_string());
            }
        }
    }
    ids
}

impl KubeGuard {
    /// The full name of container `name` (as named in the YAML) in the played pods.
    pub fn container(&self, name: &str) -> String {
        for pod in &self.pods {
            let out = podman(&self.conf)
                .args(["ps", "-a", "--filter"])
                .arg(format!("pod={pod}"))
                .args(["--format", "{{.Names}}"])
                .output()
                .expect("spawn podman");
            // podman names a pod's container POD-NAME-CONTAINER-NAME.
            if let Some(found) = text(&out.stdout)
                .lines()
                .find(|n| n.ends_with(&format!("-{name}")))
            {
                return found.to_string();
            }
        }
        panic!("no container `{name}` in pods {:?}", self.pods);
    }

    /// Wait (at most `timeout`) for container `name` to exit: its exit code.
    pub fn wait_exit(&self, name: &str, timeout: Duration) -> i32 {
        let full = self.container(name);
        let deadline = Instant::now() + timeout;
        loop {
            let out = podman(&self.conf)
                .args([
                    "inspect",
                    "--format",
                    "{{.State.Status}} {{.State.ExitCode}}",
                ])
                .arg(&full)
                .output()
                .expect("spawn podman");
            let state = text(&out.stdout);
            if let Some(code) = state.trim().strip_prefix("exited ") {
                return code.parse().expect("an exit code");
            }
            assert!(
                Instant::now() < deadline,
                "container {full} still `{}` after {timeout:?}; logs:\n{}",
                state.trim(),
                self.logs(name)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `podman logs` of container `name`: stdout and stderr, in that order.
    pub fn logs(&self, name: &str) -> String {
        let out = podman(&self.conf)
            .arg("logs")
            .arg(self.container(name))
            .output()
            .expect("spawn podman");
        format!("{}{}", text(&out.stdout), text(&out.stderr))
    }
}

impl Drop for KubeGuard {
    fn drop(&mut self) {
        let out = podman(&self.conf)
            .args(["kube", "down"])
            .arg(&self.file)
            .output();
        if let Ok(out) = out {
            if !out.status.success() {
                eprintln!(
                    "podman kube down {}: {}",
                    self.file.display(),
                    text(&out.stderr)
                );
            }
        }
    }
}

/// `podman` with the containers.conf `conf`.
pub fn podman(conf: &Path) -> Command {
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", conf);
    cmd
}

/// GET `path` on `addr` until the answer's status line is `200`, for at most
/// `timeout`: the whole answer (head and body). Panics at the deadline.
pub fn wait_for_http(addr: &str, path: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let answer = http_get(addr, path);
        if let Some(a) = &answer {
            if a.starts_with("HTTP/1.1 200") {
                return a.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "http://{addr}{path} did not answer 200 within {timeout:?}; last answer: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The body of an HTTP answer (after the blank line).
pub fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// `yaml` with every `kind: Job` document replaced by the Pod its template makes
/// (`metadata.name` of the Job, the template's labels, `spec` = the template's
/// spec); `None` when there is no Job. Other documents are kept (re-emitted).
pub fn jobs_as_pods(yaml: &str) -> Option<String> {
    let docs = YamlLoader::load_from_str(yaml).expect("valid YAML");
    let key = |k: &str| Yaml::String(k.to_string());
    if !docs.iter().any(|d| d["kind"].as_str() == Some("Job")) {
        return None;
    }
    let mut out = String::new();
    for doc in docs {
        let doc = if doc["kind"].as_str() == Some("Job") {
            let template = &doc["spec"]["template"];
            let mut metadata = Hash::new();
            metadata.insert(key("name"), doc["metadata"]["name"].clone());
            if !template["metadata"]["labels"].is_badvalue() {
                metadata.insert(key("labels"), template["metadata"]["labels"].clone());
            }
            let mut pod = Hash::new();
            pod.insert(key("apiVersion"), key("v1"));
            pod.insert(key("kind"), key("Pod"));
            pod.insert(key("metadata"), Yaml::Hash(metadata));
            pod.insert(key("spec"), template["spec"].clone());
            Yaml::Hash(pod)
        } else {
            doc
        };
        YamlEmitter::new(&mut out).dump(&doc).unwrap();
        out.push('\n');
    }
    Some(out)
}

#[test]
fn a_job_plays_as_the_pod_of_its_template() {
    let job = "# a comment\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n  \
               backoffLimit: 0\n  template:\n    metadata:\n      labels: {app: j}\n    spec:\n      \
               restartPolicy: Never\n      containers:\n        - name: c\n          \
               image: \"127.0.0.1:5000/a/b@sha256:00\"\n---\napiVersion: v1\nkind: ConfigMap\n\
               metadata:\n  name: m\n";
    let pods = jobs_as_pods(job).unwrap();
    let docs = YamlLoader::load_from_str(&pods).unwrap();
    assert_eq!(docs.len(), 2, "{pods}");
    let pod = &docs[0];
    assert_eq!(pod["apiVersion"].as_str(), Some("v1"));
    assert_eq!(pod["kind"].as_str(), Some("Pod"));
    assert_eq!(pod["metadata"]["name"].as_str(), Some("j"));
    assert_eq!(pod["metadata"]["labels"]["app"].as_str(), Some("j"));
    assert_eq!(pod["spec"]["restartPolicy"].as_str(), Some("Never"));
    assert_eq!(
        pod["spec"]["containers"][0]["image"].as_str(),
        Some("127.0.0.1:5000/a/b@sha256:00")
    );
    assert!(pod["spec"]["backoffLimit"].is_badvalue());
    assert_eq!(docs[1]["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(jobs_as_pods("kind: Pod\n"), None);
    assert_eq!(
        pod_ids("Pod:\nabc\nContainer:\ndef\n\nPod:\nghi\n"),
        ["abc", "ghi"]
    );
}
