//! The image config's checks in `cargo slim verify`'s image mode: what the
//! runtime does with `Entrypoint`/`Cmd`, `User`, `WorkingDir`, `Env` and
//! `ExposedPorts` once the layers are merged.
//!
//! In: the image ([`ImageRef`]), its merged filesystem ([`Fs`]) and the ELF
//! verdicts of its files. Out: errors and warnings added to the [`Report`] —
//! the entrypoint missing, not executable, not a program or a script without
//! its interpreter; a `User` runc cannot resolve or that runs as root; a
//! config runc or containerd refuses. Why apart from `image.rs`: these read
//! the config and the merged filesystem, never a layer.

use super::{FileVerdict, Report};
use crate::elf::{inspect, InspectError};
use crate::error::Failure;
use crate::oci::runtime;
use crate::oci::{Fs, ImageRef, Node, NodeKind, Resolved};

/// Docker's default `PATH` when the config's `Env` sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const ENTRYPOINT_HELP: &str = "point the entrypoint at the binary's path in the image (`path` in \
                               [package.metadata.slim]), or add the file to the image";

/// Check the program the container starts; returns its resolved path and
/// the index of its ELF verdict.
pub(super) fn check_entrypoint(
    fs: &Fs,
    img: &ImageRef,
    files: &[FileVerdict],
    report: &mut Report,
) -> (Option<String>, Option<usize>) {
    let name = report.path.clone();
    let (argv, key) = entrypoint_argv(img);
    let Some(argv0) = argv.first().filter(|a| !a.is_empty()) else {
        report.errors.push(
            Failure::new(format!(
                "`{name}` has no Entrypoint or Cmd: the container has nothing to run"
            ))
            .help(ENTRYPOINT_HELP),
        );
        return (None, None);
    };
    // The runtime's lookup: a name without `/` is searched in PATH; a
    // relative path is relative to WorkingDir.
    let candidates: Vec<String> = if argv0.contains('/') {
        if argv0.starts_with('/') {
            vec![argv0.clone()]
        } else {
            let wd = img
                .run_str("WorkingDir")
                .filter(|w| !w.is_empty())
                .unwrap_or("/");
            vec![format!("{wd}/{argv0}")]
        }
    } else {
        let env = img.run_list("Env");
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| format!("{d}/{argv0}"))
            .collect()
    };
    let mut problems = Vec::new();
    for cand in &candidates {
        match fs.resolve(cand) {
            Resolved::Found {
                path,
                node: Some(node),
                chain,
            } if node.kind == NodeKind::File => {
                let user = match user_of(img) {
                    (_, Some(uid), gid) if uid != 0 => Some((uid, gid)),
                    _ => None,
                };
                check_runnable(fs, node, &path, &chain, (argv0, key), user, report);
                let tag = node.tag.filter(|&t| t < files.len());
                return (Some(path), tag);
            }
            Resolved::Found { path, .. } => {
                problems.push(format!("{path} is a directory or special file"))
            }
            Resolved::Missing { path, chain } if chain.is_empty() => {
                problems.push(format!("{path} does not exist"))
            }
            Resolved::Missing { path, chain } => problems.push(format!(
                "{cand} is a symlink ({}) to {path}, which does not exist",
                chain.join(", ")
            )),
            Resolved::NotADirectory { path } => {
                problems.push(format!("{path} (on the way to {cand}) is not a directory"))
            }
            Resolved::Loop { chain } => problems.push(format!(
                "{cand}: too many levels of symbolic links ({} …)",
                chain.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            )),
        }
    }
    let mut f = Failure::new(format!(
        "the entrypoint `{argv0}` of `{name}` is not in the image"
    ))
    .detail(format!("{key}: {}", serde_json::json!(argv)));
    if candidates.len() > 1 {
        f = f.detail(format!(
            "searched PATH: {} candidates, none is a file",
            candidates.len()
        ));
        problems.truncate(3);
    }
    for p in problems {
        f = f.detail(p);
    }
    report.errors.push(f.help(ENTRYPOINT_HELP));
    (None, None)
}

/// The entrypoint file exists: it must be executable, and be an ELF file or
/// a script whose interpreter is in the image.
fn check_runnable(
    fs: &Fs,
    node: &Node,
    path: &str,
    chain: &[String],
    (argv0, key): (&str, &str),
    user: Option<(u64, Option<u64>)>,
    report: &mut Report,
) {
    let shown = if chain.is_empty() {
        format!("`{path}`")
    } else {
        format!("`{argv0}` (→ `{path}`)")
    };
    if node.mode & 0o111 == 0 {
        report.errors.push(
            Failure::new(format!(
                "the entrypoint {shown} is not executable (mode {:04o})",
                node.mode
            ))
            .help("give the file an execute bit (cargo slim writes the binary with mode 0555)"),
        );
    } else if let Some((uid, gid)) = user {
        let ok = (node.uid == uid && node.mode & 0o100 != 0)
            || (gid == Some(node.gid) && node.mode & 0o010 != 0)
            || node.mode & 0o001 != 0;
        if !ok {
            report.warnings.push(format!(
                "the entrypoint {shown} (owner {}:{}, mode {:04o}) is not executable by the image's user {uid}; the container may fail with \"permission denied\"",
                node.uid, node.gid, node.mode
            ));
        }
    }
    if node.tag.is_some() {
        return; // an ELF file: judged with the other files
    }
    if node.head.starts_with(b"#!") {
        let line = node.head[2..]
            .split(|&b| b == b'\n')
            .next()
            .unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let interp = line.split_whitespace().next().unwrap_or("");
        let found = interp.starts_with('/')
            && matches!(fs.resolve(interp), Resolved::Found { node: Some(n), .. } if n.kind == NodeKind::File);
        if !found {
            report.errors.push(
                Failure::new(format!(
                    "the entrypoint {shown} is a script (starts with #!{}), and its interpreter `{interp}` is not in the image",
                    line.trim_end()
                ))
                .help("a FROM-scratch image has no shell: make the entrypoint the compiled binary"),
            );
        }
        return;
    }
    let found = match inspect(&node.head) {
        Err(InspectError::NotElf { found }) => format!("the file {found}"),
        Err(e) => e.to_string(),
        Ok(_) => "the file is not an ELF file".into(),
    };
    report.errors.push(
        Failure::new(format!("the entrypoint {shown} is not a program"))
            .detail(format!("{key}[0] is `{argv0}`"))
            .detail(found)
            .help(ENTRYPOINT_HELP),
    );
}

/// The config `User` string, and its uid and gid when numeric.
fn user_of(img: &ImageRef) -> (String, Option<u64>, Option<u64>) {
    let user = img.run_str("User").unwrap_or("").trim().to_string();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user.as_str(), None),
    };
    (user.clone(), u.parse().ok(), g.and_then(|g| g.parse().ok()))
}

/// What runc and containerd refuse in the runtime config: a relative
/// `WorkingDir`, a `User` that is not `UID[:GID]` (or a name with no
/// `/etc/passwd` in the image), an exposed port outside 1-65535.
pub(super) fn check_config(img: &ImageRef, fs: &Fs, name: &str, report: &mut Report) {
    let bad = |field: &str, value: &str, why: String| {
        Failure::new(format!(
            "`{name}`: the image config's {field} `{value}` {why}"
        ))
    };
    if let Some(w) = img.run_str("WorkingDir").filter(|w| !w.is_empty()) {
        if let Err(why) = runtime::workdir(w) {
            report.errors.push(
                bad("WorkingDir", w, format!("is refused by runc: {why}"))
                    .help("set `workdir` to an absolute folder, e.g. \"/srv\""),
            );
        }
    }
    if let Some(u) = img.run_str("User").filter(|u| !u.is_empty()) {
        let has_passwd = matches!(fs.resolve("/etc/passwd"), Resolved::Found { .. });
        let parts = u.split(':').count();
        let numeric = runtime::user(u).is_ok();
        if parts > 2 || (!numeric && !has_passwd) {
            let why = runtime::user(u).err().unwrap_or_default();
            report.errors.push(
                bad("User", u, format!("cannot be resolved at start: {why}"))
                    .help("use a numeric UID or UID:GID, e.g. 65532:65532"),
            );
        }
    }
    let (entrypoint, cmd) = (img.run_list("Entrypoint"), img.run_list("Cmd"));
    if let Err((key, why)) = runtime::exec_args(&entrypoint, &cmd, &img.run_list("Env")) {
        let field = match key {
            "env" => "Env",
            "cmd" => "Cmd",
            _ => "Entrypoint",
        };
        report.errors.push(
            Failure::new(format!(
                "`{name}`: the image config's {field} cannot be passed to the program: {why}"
            ))
            .help("pass big data in a file or at run time"),
        );
    }
    let argv0 = entrypoint
        .first()
        .or(cmd.first())
        .cloned()
        .unwrap_or_default();
    if let Some(mount) = runtime::runtime_mount(&argv0) {
        report.errors.push(
            bad("entrypoint", &argv0, format!("is under `{mount}`, which the runtime mounts over at start: the program is not there when the container runs"))
                .help("set `path` outside /proc, /sys and /dev, e.g. \"/app\""),
        );
    }
    if let Some(ports) = img
        .config
        .get("config")
        .and_then(|c| c.get("ExposedPorts"))
        .and_then(|p| p.as_object())
    {
        for port in ports.keys() {
            if let Err(why) = runtime::port(port) {
                report.errors.push(
                    bad("ExposedPorts entry", port, format!("is invalid: {why}"))
                        .help("ports look like \"8080/tcp\" or \"53/udp\""),
                );
            }
        }
    }
}

/// A `User` name (not a number) must be a user of the image's `/etc/passwd`, or
/// the runtime fails at start ("unable to find user").
pub(super) fn check_user_name(
    img: &ImageRef,
    passwd: Option<&[u8]>,
    name: &str,
    report: &mut Report,
) {
    let (user, uid, _) = user_of(img);
    let user_part = user.split(':').next().unwrap_or("");
    let (Some(passwd), None) = (passwd, uid) else {
        return;
    };
    if user_part.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(passwd);
    let known = text.lines().any(|l| l.split(':').next() == Some(user_part));
    if !known {
        report.errors.push(
            Failure::new(format!(
                "`{name}`: the image config's User `{user}` is not in the image's /etc/passwd"
            ))
            .detail("the container fails at start: unable to find user")
            .help("use a user /etc/passwd lists (with cargo slim's `passwd = true`: nonroot or root), or a numeric UID:GID"),
        );
    }
}

pub(super) fn check_user(img: &ImageRef, report: &mut Report) {
    let (user, uid, _) = user_of(img);
    if user.is_empty() {
        report.warnings.push(
            "the image config sets no User, so the container runs as root; set `user` in \
             [package.metadata.slim] (cargo slim's default is 65532:65532)"
                .into(),
        );
    } else if runtime::root_user(&user) || uid == Some(0) {
        report.warnings.push(format!(
            "the image runs as root (User `{user}`); prefer an unprivileged numeric user such as 65532:65532"
        ));
    }
}

/// `Entrypoint`, or `Cmd` when there is no `Entrypoint`, and which it was.
pub(super) fn entrypoint_argv(img: &ImageRef) -> (Vec<String>, &'static str) {
    let ep = img.run_list("Entrypoint");
    if !ep.is_empty() {
        return (ep, "Entrypoint");
    }
    (img.run_list("Cmd"), "Cmd")
}
