//! `cargo slim init`: `cargo new` → `init` → `build` → podman runs the image; the
//! workflows it writes parse as YAML and name the crate; nothing that exists is
//! replaced (a refused run changes no byte); `--ci gitlab`; workspaces.

use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::support::*;

/// `cargo new --vcs none NAME` in a fresh temp dir: (the dir, the crate folder).
fn new_crate(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        Command::new("cargo")
            .args(["new", "--quiet", "--vcs", "none", name])
            .current_dir(dir.path()),
    );
    let krate = dir.path().join(name);
    (dir, krate)
}

fn init_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = slim(&["init"]);
    cmd.args(args).current_dir(dir);
    cmd
}

fn yaml(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap();
    let mut docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}\n{text}", path.display()));
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

fn strings(list: &Yaml) -> Vec<String> {
    list.as_vec()
        .unwrap_or_else(|| panic!("not a list: {list:?}"))
        .iter()
        .map(|y| y.as_str().unwrap().to_string())
        .collect()
}

/// The GitHub workflow builds `packages`, within the budget, and pushes on main
/// with a token from a secret.
fn check_github(path: &Path, packages: &[&str]) {
    let wf = yaml(path);
    let job = &wf["jobs"]["image"];
    assert_eq!(strings(&job["strategy"]["matrix"]["package"]), packages);
    let steps = job["steps"].as_vec().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs
        .iter()
        .any(|r| r.contains("cargo slim build --locked -p \"${{ matrix.package }}\"")));
    // Optional signing: the key from a secret, handed over as CARGO_SLIM_SIGN_KEY.
    let build = steps
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("cargo slim build"))
        })
        .expect("a build step");
    assert_eq!(
        build["env"]["COSIGN_PRIVATE_KEY"].as_str(),
        Some("${{ secrets.COSIGN_PRIVATE_KEY }}")
    );
    assert!(build["run"]
        .as_str()
        .unwrap()
        .contains("export CARGO_SLIM_SIGN_KEY="));
    let push = steps
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("cargo slim push"))
        })
        .expect("a push step");
    assert_eq!(
        push["if"].as_str().unwrap(),
        "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    );
    let password = push["env"]["CARGO_SLIM_REGISTRY_PASSWORD"]
        .as_str()
        .unwrap();
    assert!(
        password.starts_with("${{ secrets.") && password.ends_with("}}"),
        "the token must come from a secret: {password}"
    );
    assert_eq!(
        strings(&wf["on"]["push"]["branches"]),
        ["main"],
        "builds on main"
    );
    assert!(!wf["on"]["pull_request"].is_badvalue());
    // On main, k8s/ is resolved to the pushed images' digests.
    let kube = &wf["jobs"]["kubernetes"];
    assert_eq!(kube["needs"].as_str(), Some("image"));
    let steps = kube["steps"].as_vec().unwrap();
    let resolve = steps
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("cargo slim resolve"))
        })
        .expect("a resolve step");
    assert_eq!(resolve["if"].as_str(), Some("hashFiles('k8s/**') != ''"));
    assert!(resolve["env"]["CARGO_SLIM_REGISTRY_PASSWORD"]
        .as_str()
        .unwrap()
        .starts_with("${{ secrets."));
}

#[test]
fn new_crate_init_build_and_the_image_runs() {
    let (_dir, krate) = new_crate("initdemo");
    let before = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    let o = run_ok(&mut init_in(&krate, &[]));
    let workflow = krate.join(".github/workflows/slim.yml");
    assert_eq!(
        text(&o.stdout).lines().collect::<Vec<_>>(),
        [
            workflow.display().to_string(),
            krate.join("Cargo.toml").display().to_string()
        ]
    );
    let after = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    let section = format!(
        "\n[package.metadata.slim]\n{}",
        cargo_slim::commands::init::SECTION
    );
    assert!(after.contains(&section), "{after}");
    assert_eq!(
        after.replacen(&section, "", 1),
        before,
        "every byte of cargo new's manifest is kept"
    );
    check_github(&workflow, &["initdemo"]);
    assert!(std::fs::read_to_string(&workflow)
        .unwrap()
        .starts_with("# Written by `cargo slim init` for initdemo:"));

    // The setup builds: the budget key is one cargo slim accepts, and the image runs.
    let tag = format!("localhost/slim-init-demo:{}", std::process::id());
    let out = krate.join("initdemo.tar");
    let built =
        run_ok(slim(&["build", "--tag", &tag, "-o", out.to_str().unwrap()]).current_dir(&krate));
    assert_eq!(last_line(&built), out);
    cargo_slim::validate::validate_tarball(&out).unwrap();
    if !have("podman") {
        return;
    }
    run_ok(Command::new("podman").args(["load", "-q", "-i"]).arg(&out));
    let run = run_ok(Command::new("podman").args(["run", "--rm", "--runtime", "runc", &tag]));
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
    assert_eq!(text(&run.stdout).trim(), "Hello, world!");
}

#[test]
fn a_second_init_is_refused_and_changes_nothing() {
    let (_dir, krate) = new_crate("twice");
    run_ok(&mut init_in(&krate, &[]));
    let manifest = krate.join("Cargo.toml");
    let workflow = krate.join(".github/workflows/slim.yml");
    let (m1, w1) = (
        std::fs::read(&manifest).unwrap(),
        std::fs::read(&workflow).unwrap(),
    );
    let e = text(&run_code(&mut init_in(&krate, &[]), 1).stderr);
    assert!(e.contains("already has [package.metadata.slim]"), "{e}");
    assert!(
        e.contains(&manifest.display().to_string()),
        "names the file: {e}"
    );
    assert!(e.contains("--force"), "{e}");
    assert_eq!(std::fs::read(&manifest).unwrap(), m1);
    assert_eq!(std::fs::read(&workflow).unwrap(), w1);

    // Only the workflow exists: still refused, and Cargo.toml keeps every byte.
    let (_d2, fresh) = new_crate("wfonly");
    let wf = fresh.join(".github/workflows/slim.yml");
    std::fs::create_dir_all(wf.parent().unwrap()).unwrap();
    std::fs::write(&wf, "# mine\n").unwrap();
    let m = std::fs::read(fresh.join("Cargo.toml")).unwrap();
    let e = text(&run_code(&mut init_in(&fresh, &[]), 1).stderr);
    assert!(
        e.contains(&format!("`{}` already exists", wf.display())),
        "{e}"
    );
    assert_eq!(std::fs::read(fresh.join("Cargo.toml")).unwrap(), m);
    assert_eq!(std::fs::read(&wf).unwrap(), b"# mine\n");
    let leftovers: Vec<_> = std::fs::read_dir(&fresh)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // --force replaces both, with the same content as a first run.
    run_ok(&mut init_in(&krate, &["--force"]));
    assert_eq!(std::fs::read(&manifest).unwrap(), m1);
    assert_eq!(std::fs::read(&workflow).unwrap(), w1);
}

#[test]
fn ci_gitlab_writes_gitlab_ci_yml() {
    let (_dir, krate) = new_crate("gl-app");
    let o = run_ok(&mut init_in(
        &krate,
        &["--ci", "gitlab", "--message-format", "json"],
    ));
    let line: serde_json::Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(line["reason"], "initialized");
    assert_eq!(line["packages"], serde_json::json!(["gl-app"]));
    assert!(!krate.join(".github").exists());
    let ci = yaml(&krate.join(".gitlab-ci.yml"));
    let job = &ci["slim"];
    assert_eq!(
        strings(&job["parallel"]["matrix"][0]["PACKAGE"]),
        ["gl-app"]
    );
    let script = strings(&job["script"]).join("\n");
    assert!(script.contains("cargo slim build --locked -p \"$PACKAGE\""));
    assert!(script.contains("if [ \"$CI_COMMIT_BRANCH\" = \"$CI_DEFAULT_BRANCH\" ]"));
    assert!(script.contains("CARGO_SLIM_REGISTRY_PASSWORD=\"$CI_REGISTRY_PASSWORD\""));
    let kube = &ci["kubernetes"];
    assert_eq!(kube["stage"].as_str(), Some("kubernetes"));
    assert!(strings(&kube["script"])
        .join("\n")
        .contains("cargo slim resolve --locked -R -f k8s/ --repository \"$CI_REGISTRY_IMAGE\""));
    // An unknown CI system is a usage error.
    run_code(&mut init_in(&krate, &["--ci", "jenkins"]), 2);
}

#[test]
fn workspaces_take_p_or_get_the_workspace_table() {
    // testdata/ws already has [workspace.metadata.slim]: refused at the root.
    let ws = copy_fixture("ws");
    let root = std::fs::read(ws.path().join("Cargo.toml")).unwrap();
    let e = text(&run_code(&mut init_in(ws.path(), &[]), 1).stderr);
    assert!(e.contains("already has [workspace.metadata.slim]"), "{e}");
    assert_eq!(std::fs::read(ws.path().join("Cargo.toml")).unwrap(), root);
    assert!(!ws.path().join(".github").exists());

    // -p: the member's own table, the workflow at the workspace root.
    run_ok(&mut init_in(ws.path(), &["-p", "alpha"]));
    let alpha = std::fs::read_to_string(ws.path().join("alpha/Cargo.toml")).unwrap();
    assert!(alpha.contains("[package.metadata.slim]"), "{alpha}");
    assert_eq!(std::fs::read(ws.path().join("Cargo.toml")).unwrap(), root);
    check_github(&ws.path().join(".github/workflows/slim.yml"), &["alpha"]);
    // A library member is refused.
    let e = text(&run_code(&mut init_in(ws.path(), &["-p", "common", "--force"]), 1).stderr);
    assert!(e.contains("package `common` has no binary target"), "{e}");

    // A virtual root without the table, without -p: [workspace.metadata.slim] and
    // a workflow building every member with a binary.
    let ws2 = copy_fixture("ws");
    std::fs::write(
        ws2.path().join("Cargo.toml"),
        "[workspace]\nmembers = [\"alpha\", \"beta\", \"common\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    run_ok(&mut init_in(ws2.path(), &[]));
    let root2 = std::fs::read_to_string(ws2.path().join("Cargo.toml")).unwrap();
    assert!(root2.contains("\n[workspace.metadata.slim]\n"), "{root2}");
    check_github(
        &ws2.path().join(".github/workflows/slim.yml"),
        &["alpha", "beta"],
    );
    // The members' settings resolve through it: a build of one member works.
    let out = ws2.path().join("beta.tar");
    run_ok(slim(&["build", "-p", "beta", "-o", out.to_str().unwrap()]).current_dir(ws2.path()));
}
