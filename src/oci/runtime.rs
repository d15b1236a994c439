//! What a container runtime accepts in an image: the rules `build` applies to
//! settings before anything is built, and `verify` applies to images it reads.
//!
//! In: the values of `path`, `user`, `expose`, `env`, `workdir` (and
//! `SOURCE_DATE_EPOCH`) as a user wrote them, or as an image config holds them. Out: the value to put in the image
//! (normalised where that is safe and unambiguous: `/a//b/./c` → `/a/b/c`,
//! `8080` → `8080/tcp`), or a sentence saying what is wrong. Why: each of these
//! was once accepted and gave an image that podman, runc or skopeo refuse
//! ("duplicates of file paths", "unable to find user root", "Cwd must be an
//! absolute path", a year they cannot parse) — far from the key that caused it.

/// The last second of year 9999: later `created` times are not RFC 3339 years
/// that Go (skopeo, podman, containerd) can parse.
pub const MAX_EPOCH: u64 = 253_402_300_799;

/// An absolute file path in the image, with `//` and `/./` folded away.
pub fn image_path(p: &str) -> Result<String, String> {
    if !p.starts_with('/') {
        return Err("it must be an absolute path inside the image".into());
    }
    if p.contains('\0') {
        return Err("it contains a NUL byte".into());
    }
    if p.ends_with('/') || p.ends_with("/.") {
        return Err("it names a folder; give the file path of the binary".into());
    }
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return Err("`..` is not allowed in an image path".into());
    }
    if parts.is_empty() {
        return Err("it names the root folder".into());
    }
    if let Some(long) = parts.iter().find(|c| c.len() > NAME_MAX) {
        return Err(format!(
            "a component is {} bytes (`{}…`); a Linux file name has at most {NAME_MAX}",
            long.len(),
            long.chars().take(16).collect::<String>()
        ));
    }
    let path = format!("/{}", parts.join("/"));
    if path.len() > PATH_MAX {
        return Err(format!(
            "it is {} bytes; a Linux path has at most {PATH_MAX}",
            path.len()
        ));
    }
    if let Some(mount) = runtime_mount(&path) {
        return Err(format!(
            "it is under `{mount}`, which the runtime mounts over at start (proc, sysfs, a tmpfs of \
             devices): nothing the image puts there is seen"
        ));
    }
    Ok(path)
}

/// The longest file name (one path component) Linux file systems store.
pub const NAME_MAX: usize = 255;
/// The longest path Linux opens (4096 bytes with the NUL).
pub const PATH_MAX: usize = 4095;

/// The folder of `path` that every OCI runtime mounts over when a container
/// starts (`/proc`, `/sys`, `/dev`), if any: the image's own files there are hidden.
pub fn runtime_mount(path: &str) -> Option<&'static str> {
    ["/proc", "/sys", "/dev"]
        .into_iter()
        .find(|m| path == *m || path.strip_prefix(m).is_some_and(|r| r.starts_with('/')))
}

/// The longest single argument or `NAME=value` the kernel passes to a program
/// (`MAX_ARG_STRLEN`, 32 pages, with its NUL): runc's exec fails past it with
/// "argument list too long".
pub const MAX_ARG_STRLEN: usize = 131_072;

/// What arguments and environment may take together: `ARG_MAX` under the default
/// 8 MiB stack (a quarter of it, 2 MiB: the strings with their NULs and one
/// pointer each), less 16 KiB for what the runtime adds (`PATH`, `HOSTNAME`,
/// `TERM`, `container`, `HOME`).
pub const EXEC_ARGS_MAX: usize = 2 * 1024 * 1024 - 16 * 1024;

/// Whether the program (`entrypoint` then `cmd`) can be started with `env`: each
/// string under [`MAX_ARG_STRLEN`], all under [`EXEC_ARGS_MAX`]. The error names
/// the key (`cmd`, `env`) and says by how much.
pub fn exec_args(
    entrypoint: &[String],
    cmd: &[String],
    env: &[String],
) -> Result<(), (&'static str, String)> {
    let mut total = 0usize;
    for (key, items) in [("entrypoint", entrypoint), ("cmd", cmd), ("env", env)] {
        for (i, s) in items.iter().enumerate() {
            let len = s.len() + 1;
            if len > MAX_ARG_STRLEN {
                let what = match key {
                    "env" => format!("`{}`", s.split('=').next().unwrap_or_default()),
                    _ => format!("argument {i}"),
                };
                return Err((
                    key,
                    format!(
                        "{what} is {len} bytes; the kernel passes at most {MAX_ARG_STRLEN} \
                         bytes per argument or variable (runc: \"argument list too long\")"
                    ),
                ));
            }
            total += len + std::mem::size_of::<u64>();
        }
    }
    if total > EXEC_ARGS_MAX {
        return Err((
            if env.is_empty() { "cmd" } else { "env" },
            format!(
                "the arguments and environment take {total} bytes; a container starts with at \
                 most {EXEC_ARGS_MAX} (ARG_MAX under the default 8 MiB stack, less room for \
                 what the runtime adds)"
            ),
        ));
    }
    Ok(())
}

/// Whether the user part of `user` (`UID`, `NAME`, `UID:GID`) is root.
pub fn root_user(user: &str) -> bool {
    let first = user.split(':').next().unwrap_or_default();
    first == "root" || first.parse::<u32>() == Ok(0)
}

/// `UID` or `UID:GID`, numbers only: a scratch image has no `/etc/passwd` or
/// `/etc/group` to look a name up in.
pub fn user(u: &str) -> Result<(), String> {
    let parts: Vec<&str> = u.split(':').collect();
    if parts.len() > 2 {
        return Err("it has more than two parts; the form is UID or UID:GID".into());
    }
    for part in &parts {
        if part.is_empty() {
            return Err("the form is UID or UID:GID, with no empty part".into());
        }
        if part.parse::<u32>().is_err() {
            return Err(if part.bytes().all(|b| b.is_ascii_digit()) {
                format!("`{part}` is larger than the largest id, {}", u32::MAX)
            } else {
                format!(
                    "`{part}` is a name, and a FROM-scratch image has no /etc/passwd to look it up in"
                )
            });
        }
    }
    Ok(())
}

/// `PORT` or `PORT/tcp|udp|sctp`, PORT in 1..=65535; returns the `PORT/proto` form.
pub fn port(p: &str) -> Result<String, String> {
    let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(format!("protocol `{proto}` is not tcp, udp or sctp"));
    }
    match num.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(format!("{n}/{proto}")),
        Ok(n) => Err(format!("port {n} is outside 1-65535")),
        Err(_) => Err(format!("`{num}` is not a port number")),
    }
}

/// An environment variable's name and value.
pub fn env(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a variable has an empty name".into());
    }
    if name.contains('=') {
        return Err(format!("the name `{name}` contains `=`"));
    }
    if name.contains('\0') || value.contains('\0') {
        return Err(format!("`{name}` contains a NUL byte"));
    }
    Ok(())
}

/// The working directory: absolute (runc: "Cwd must be an absolute path").
pub fn workdir(w: &str) -> Result<(), String> {
    if !w.starts_with('/') {
        return Err("it must be an absolute path".into());
    }
    if w.contains('\0') {
        return Err("it contains a NUL byte".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_folded_or_refused() {
        assert_eq!(image_path("/a//b/./c").unwrap(), "/a/b/c");
        assert_eq!(image_path("/app").unwrap(), "/app");
        for bad in ["relative", "/dir/", "/a/../b", "/", "//", "/.", "/a\0b"] {
            assert!(image_path(bad).is_err(), "{bad:?}");
        }
        for mounted in ["/proc/x", "/sys/x", "/dev/x", "/dev", "/a/../proc/x"] {
            let e = image_path(mounted).unwrap_or_else(|e| e);
            assert!(
                e.contains("mounts over") || e.contains("`..`"),
                "{mounted}: {e}"
            );
        }
        for fine in ["/procfs/x", "/devices", "/usr/sys/x"] {
            assert!(image_path(fine).is_ok(), "{fine}");
        }
        let long = format!("/usr/{}", "n".repeat(255));
        assert!(image_path(&long).is_ok(), "a 255-byte name is fine");
        let e = image_path(&format!("/usr/{}", "n".repeat(256))).unwrap_err();
        assert!(e.contains("256 bytes"), "{e}");
        let deep = format!("/{}", vec!["d".repeat(200); 21].join("/"));
        assert!(image_path(&deep).unwrap_err().contains("at most 4095"));
    }

    #[test]
    fn exec_strings_stay_under_the_kernel_limits() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let app = s(&["/app"]);
        assert!(exec_args(&app, &s(&["--port", "80"]), &s(&["A=1"])).is_ok());
        let big = "x".repeat(MAX_ARG_STRLEN - 1);
        assert!(
            exec_args(&app, std::slice::from_ref(&big), &[]).is_ok(),
            "with its NUL: exactly the limit"
        );
        let (key, why) = exec_args(&app, &[format!("{big}y")], &[]).unwrap_err();
        assert_eq!(key, "cmd");
        assert!(
            why.contains("argument 0") && why.contains("131073"),
            "{why}"
        );
        let (key, why) = exec_args(&app, &[], &[format!("BIG={big}")]).unwrap_err();
        assert!(key == "env" && why.contains("`BIG`"), "{why}");
        let many = vec!["y".repeat(100_000); 21];
        let (key, why) = exec_args(&app, &many, &[]).unwrap_err();
        assert!(key == "cmd" && why.contains("at most"), "{why}");
    }

    #[test]
    fn root_users() {
        for root in ["0", "0:0", "root", "root:1", "00"] {
            assert!(root_user(root), "{root}");
        }
        for not in ["65532:65532", "1000", "nonroot", "1:0", ""] {
            assert!(!root_user(not), "{not}");
        }
    }

    #[test]
    fn users_are_numeric() {
        for ok in ["65532", "65532:65532", "0:0", "4294967295"] {
            assert!(user(ok).is_ok(), "{ok}");
        }
        for bad in [
            "root",
            "65532:65532:1",
            "",
            ":",
            "1:",
            "nonroot:1",
            "4294967296",
        ] {
            assert!(user(bad).is_err(), "{bad}");
        }
        assert!(user("root").unwrap_err().contains("/etc/passwd"));
    }

    #[test]
    fn ports_protocols_env_and_workdir() {
        assert_eq!(port("8080").unwrap(), "8080/tcp");
        assert_eq!(port("53/udp").unwrap(), "53/udp");
        for bad in ["99999", "0", "http", "80/icmp", "-1"] {
            assert!(port(bad).is_err(), "{bad}");
        }
        assert!(env("A", "1").is_ok());
        assert!(env("", "y").is_err());
        assert!(env("A=B", "y").is_err());
        assert!(workdir("/srv").is_ok());
        assert!(workdir("relative").is_err());
    }
}

/// Whether a symlink at `link_path` (relative to the image root) pointing at
/// `target` leads outside the root when followed lexically (a relative target
/// with more `..` than the link is deep). Absolute targets resolve inside the
/// root in a container, as they would in a chroot.
pub fn link_escapes(link_path: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth: i64 = link_path
        .trim_matches('/')
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .count() as i64
        - 1;
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// Why a layer entry's path (as stored in the tar) is not inside the root: an
/// absolute path or a `..` component. Runtimes refuse such entries or silently
/// clamp them; neither is what the image's author meant.
pub fn entry_path(raw: &str) -> Option<&'static str> {
    let p = raw.strip_prefix("./").unwrap_or(raw);
    if p.starts_with('/') {
        Some("is an absolute path")
    } else if p.split('/').any(|c| c == "..") {
        Some("has a `..` component")
    } else {
        None
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn escapes_and_entry_paths() {
        assert!(link_escapes("a", ".."));
        assert!(link_escapes("d/l", "../../x"));
        assert!(!link_escapes("d/l", "../x"));
        assert!(!link_escapes("l", "/etc"));
        assert!(!link_escapes("d/e/l", "../../f"));
        assert_eq!(entry_path("../../x"), Some("has a `..` component"));
        assert_eq!(entry_path("/abs"), Some("is an absolute path"));
        assert_eq!(entry_path("./usr/bin/app"), None);
        assert_eq!(entry_path("usr/bin/app"), None);
    }
}
