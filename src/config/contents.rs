//! Resolve the image-contents keys — `files`, `tmp`, `passwd`, `stop-signal`,
//! `annotations` — into [`Contents`].
//!
//! In: the raw [`SlimMetadata`], the package folder and its manifest, the binary's
//! path in the image. Out: [`Contents`] with every source an existing path inside
//! the package folder, every destination absolute and normalised, modes and owners
//! parsed, the signal a known one. Why here, before the build: a typo in a mode or
//! a source that escapes the package is an error naming the key, the entry and the
//! manifest, before minutes of compiling.

use std::collections::BTreeSet;
use std::path::{Component, Path};

use anyhow::Result;

use super::schema::{bad_key, FileEntry, SlimMetadata, StopSignal};
use crate::error::Failure;
use crate::image::{Contents, UserFile};

/// Signal names a container runtime understands (`SIGRTMIN+n` aside), by number.
const SIGNALS: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// The user names `passwd = true` defines.
pub const PASSWD_NAMES: [&str; 2] = ["root", "nonroot"];

/// Resolve the contents keys of `meta` (`cli_stop_signal` overrides `stop-signal`).
pub fn contents(
    meta: &SlimMetadata,
    root: &Path,
    manifest: &Path,
    binary_path: &str,
    cli_stop_signal: Option<&str>,
) -> Result<Contents> {
    let bad =
        |key: &str, value: &str, why: String, help: &str| bad_key(manifest, key, value, why, help);
    let mut files = Vec::new();
    let mut dests = BTreeSet::new();
    for (i, e) in meta.files.iter().flatten().enumerate() {
        let f = file_entry(i, e, root)
            .map_err(|(why, help)| bad(&format!("files[{i}]"), &e.src, why, help))?;
        let label = format!("files[{i}]");
        if f.dest == binary_path
            || binary_path.starts_with(&format!("{}/", f.dest)) && root.join(&e.src).is_file()
        {
            return Err(bad(
                &label,
                &e.dest,
                format!("`dest` is where the binary goes (`path` = `{binary_path}`)"),
                "choose another destination, or move the binary with `path`",
            ));
        }
        if !dests.insert(f.dest.clone()) {
            return Err(bad(
                &label,
                &e.dest,
                format!("another entry of `files` already goes to `{}`", f.dest),
                "give each entry its own destination",
            ));
        }
        files.push(f);
    }
    let stop_signal = match (cli_stop_signal, &meta.stop_signal) {
        (Some(s), _) => Some(signal(s).map_err(|why| {
            Failure::new(format!("invalid --stop-signal `{s}`"))
                .detail(why)
                .help("give a signal name such as SIGTERM or SIGQUIT, or its number")
                .usage()
        })?),
        (None, Some(StopSignal::Name(s))) => Some(signal(s).map_err(|why| {
            bad(
                "stop-signal",
                s,
                why,
                "give a signal name such as \"SIGTERM\" or \"SIGQUIT\", or its number",
            )
        })?),
        (None, Some(StopSignal::Number(n))) => Some(signal(&n.to_string()).map_err(|why| {
            bad(
                "stop-signal",
                &n.to_string(),
                why,
                "give a signal number from 1 to 64",
            )
        })?),
        (None, None) => None,
    };
    let annotations = meta.annotations.clone().unwrap_or_default();
    if let Some(k) = annotations.keys().find(|k| k.trim().is_empty()) {
        return Err(bad(
            "annotations",
            k,
            "an annotation key is empty".into(),
            "keys look like \"org.example.note\"",
        ));
    }
    Ok(Contents {
        root: root.to_path_buf(),
        manifest: manifest.to_path_buf(),
        files,
        tmp: meta.tmp.unwrap_or(false),
        passwd: meta.passwd.unwrap_or(false),
        stop_signal,
        annotations,
    })
}

/// One `files` entry, or why not and what to do.
fn file_entry(i: usize, e: &FileEntry, root: &Path) -> Result<UserFile, (String, &'static str)> {
    const SRC_HELP: &str = "give a file or folder inside the package folder, relative to Cargo.toml, e.g. src = \"public/\"";
    let src = Path::new(&e.src);
    if e.src.is_empty() {
        return Err(("`src` is empty".into(), SRC_HELP));
    }
    if src.is_absolute() {
        return Err((
            "`src` is an absolute path; sources are relative to the package folder".into(),
            SRC_HELP,
        ));
    }
    if src.components().any(|c| c == Component::ParentDir) {
        return Err((
            "`src` goes up with `..`, out of the package folder".into(),
            SRC_HELP,
        ));
    }
    let full = root.join(src);
    let real = match full.canonicalize() {
        Ok(r) => r,
        Err(e2) if e2.kind() == std::io::ErrorKind::NotFound => {
            return Err((
                format!("`src` `{}` does not exist", full.display()),
                SRC_HELP,
            ))
        }
        Err(e2) => {
            return Err((
                format!("`src` `{}` cannot be read: {e2}", full.display()),
                SRC_HELP,
            ))
        }
    };
    let real_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    if !real.starts_with(&real_root) {
        return Err((
            format!(
                "`src` is a symlink that leads outside the package folder, to `{}`",
                real.display()
            ),
            SRC_HELP,
        ));
    }
    if e.dest.trim_end_matches('/').is_empty() && e.dest.starts_with('/') {
        return Err((
            "`dest` is the root folder".into(),
            "give a folder below /, e.g. dest = \"/public\"",
        ));
    }
    let dest = crate::oci::runtime::image_path(e.dest.strip_suffix('/').unwrap_or(&e.dest))
        .map_err(|why| {
            (
                format!("`dest`: {why}"),
                "give an absolute, normalised path inside the image, e.g. dest = \"/public\"",
            )
        })?;
    if real.is_dir() {
        tree_fits(&real, &dest)?;
    }
    let mode = e
        .mode
        .as_deref()
        .map(parse_mode)
        .transpose()
        .map_err(|why| {
            (
                format!("`mode`: {why}"),
                "give the mode as an octal string, e.g. mode = \"0444\"",
            )
        })?;
    let owner = e
        .owner
        .as_deref()
        .map(parse_owner)
        .transpose()
        .map_err(|why| {
            (
                format!("`owner`: {why}"),
                "give numeric ids, e.g. owner = \"65532:65532\"",
            )
        })?;
    Ok(UserFile {
        label: format!("files[{i}] (src = \"{}\")", e.src),
        src: full,
        dest,
        mode,
        owner,
    })
}

/// Whether every name under the folder `src` can be stored at `dest` in the
/// image: UTF-8, and the whole path within what Linux opens. Checked before the
/// build (a cheap listing) so the error does not wait for the compiler; the
/// layer is written from a second, safe walk.
fn tree_fits(src: &Path, dest: &str) -> Result<(), (String, &'static str)> {
    const HELP: &str = "rename or move the file, or choose a shorter `dest`";
    for entry in walkdir::WalkDir::new(src).min_depth(1) {
        let Ok(entry) = entry else {
            continue; // unreadable: the layer's walk says so, naming the file
        };
        let rel = entry.path().strip_prefix(src).unwrap_or(entry.path());
        let Some(text) = rel.to_str() else {
            return Err((
                format!(
                    "`src` holds a name that is not UTF-8: `{}`",
                    entry.path().display()
                ),
                HELP,
            ));
        };
        let path = format!("{dest}/{text}");
        if path.len() > crate::oci::runtime::PATH_MAX {
            return Err((
                format!(
                    "`{}` would be `{}…` in the image, {} bytes; a Linux path has at most {}",
                    entry.path().display(),
                    path.chars().take(40).collect::<String>(),
                    path.len(),
                    crate::oci::runtime::PATH_MAX
                ),
                HELP,
            ));
        }
    }
    Ok(())
}

/// `"0444"`, `"644"` or `"0o644"` → the mode bits (at most `07777`).
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Err(format!("`{s}` is not an octal mode"));
    }
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(format!("`{s}` is larger than 07777")),
    }
}

/// `"uid:gid"`, both numeric.
pub fn parse_owner(s: &str) -> Result<(u32, u32), String> {
    let Some((u, g)) = s.split_once(':') else {
        return Err(format!("`{s}` is not of the form UID:GID"));
    };
    match (u.parse::<u32>(), g.parse::<u32>()) {
        (Ok(u), Ok(g)) => Ok((u, g)),
        _ => Err(format!(
            "`{s}` is not two numeric ids (names are not looked up)"
        )),
    }
}

/// A signal name (`SIGQUIT`, `quit`, `QUIT`) or number (1–64) → the image's
/// `StopSignal` form: the `SIG` name, or the number for real-time signals.
pub fn signal(s: &str) -> Result<String, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u32>() {
        return match n {
            1..=31 => Ok(SIGNALS[n as usize - 1].to_string()),
            32..=64 => Ok(n.to_string()),
            _ => Err(format!("signal number {n} is outside 1-64")),
        };
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if SIGNALS.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(format!("`{s}` is not a known signal"))
    }
}

/// Whether `user` (`NAME` or `NAME:GROUP`, each part a number or a name) only
/// names ids the `passwd = true` files define.
pub fn passwd_user(user: &str) -> bool {
    let parts: Vec<&str> = user.split(':').collect();
    parts.len() <= 2
        && parts
            .iter()
            .all(|p| p.parse::<u32>().is_ok() || PASSWD_NAMES.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_slim_table;
    use serde_json::json;

    fn resolve(files: serde_json::Value, root: &Path) -> Result<Contents> {
        let meta = parse_slim_table(json!({ "files": files }), &root.join("Cargo.toml"))?;
        contents(&meta, root, &root.join("Cargo.toml"), "/app", None)
    }

    fn refusal(files: serde_json::Value, root: &Path) -> String {
        let e = resolve(files, root).unwrap_err();
        let f = e.downcast_ref::<Failure>().expect("a Failure");
        format!("{} | {}", f.what, f.details.join(" | "))
    }

    #[test]
    fn every_bad_entry_is_refused_naming_key_entry_and_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("public")).unwrap();
        std::fs::write(root.join("a.toml"), b"").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        let manifest = root.join("Cargo.toml").display().to_string();
        for (files, want) in [
            (json!([{"src": "../x", "dest": "/x"}]), "`..`"),
            (json!([{"src": "/etc/passwd", "dest": "/x"}]), "absolute"),
            (json!([{"src": "link", "dest": "/x"}]), "leads outside"),
            (json!([{"src": "missing", "dest": "/x"}]), "does not exist"),
            (json!([{"src": "", "dest": "/x"}]), "empty"),
            (json!([{"src": "public", "dest": "public"}]), "`dest`"),
            (json!([{"src": "public", "dest": "/a/../b"}]), "`dest`"),
            (json!([{"src": "public", "dest": "/"}]), "root folder"),
            (
                json!([{"src": "a.toml", "dest": "/app"}]),
                "where the binary goes",
            ),
            (
                json!([{"src": "a.toml", "dest": "/x", "mode": "0999"}]),
                "octal",
            ),
            (
                json!([{"src": "a.toml", "dest": "/x", "mode": "rw"}]),
                "octal",
            ),
            (
                json!([{"src": "a.toml", "dest": "/x", "mode": "17777"}]),
                "07777",
            ),
            (
                json!([{"src": "a.toml", "dest": "/x", "owner": "65532"}]),
                "UID:GID",
            ),
            (
                json!([{"src": "a.toml", "dest": "/x", "owner": "nonroot:nonroot"}]),
                "numeric",
            ),
            (
                json!([{"src": "a.toml", "dest": "/x"}, {"src": "public", "dest": "/x/"}]),
                "already goes to `/x`",
            ),
        ] {
            let got = refusal(files.clone(), root);
            assert!(got.contains(want), "{files}: {got}");
            assert!(
                got.contains(&manifest) && got.contains("files["),
                "{files}: {got}"
            );
        }
        // A mistyped key in an entry names it too.
        let e = resolve(json!([{"src": "a.toml", "dst": "/x"}]), root).unwrap_err();
        let f = e.downcast_ref::<Failure>().unwrap();
        assert!(f.what.contains("files[0]"), "{f:?}");
    }

    #[test]
    fn good_entries_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("public")).unwrap();
        let c = resolve(
            json!([{"src": "public/", "dest": "/srv//public/", "mode": "0o640", "owner": "1:2"}]),
            root,
        )
        .unwrap();
        assert_eq!(c.files[0].dest, "/srv/public");
        assert_eq!(c.files[0].mode, Some(0o640));
        assert_eq!(c.files[0].owner, Some((1, 2)));
    }

    #[test]
    fn signals_and_other_keys() {
        assert_eq!(signal("SIGQUIT").unwrap(), "SIGQUIT");
        assert_eq!(signal("term").unwrap(), "SIGTERM");
        assert_eq!(signal("9").unwrap(), "SIGKILL");
        assert_eq!(signal("40").unwrap(), "40");
        for bad in ["SIGNOPE", "0", "65", "", "-3"] {
            assert!(signal(bad).is_err(), "{bad}");
        }
        let root = Path::new("/nonexistent");
        let m = Path::new("/p/Cargo.toml");
        let meta = parse_slim_table(json!({"stop-signal": "SIGBOGUS"}), m).unwrap();
        let e = contents(&meta, root, m, "/app", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`stop-signal`") && e.contains("/p/Cargo.toml"),
            "{e}"
        );
        let meta = parse_slim_table(json!({"stop-signal": 3, "tmp": true}), m).unwrap();
        let c = contents(&meta, root, m, "/app", None).unwrap();
        assert_eq!((c.stop_signal.as_deref(), c.tmp), (Some("SIGQUIT"), true));
        let c = contents(&meta, root, m, "/app", Some("INT")).unwrap();
        assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
        let e = contents(&meta, root, m, "/app", Some("nope")).unwrap_err();
        assert!(e.downcast_ref::<Failure>().unwrap().usage);
        let meta = parse_slim_table(json!({"annotations": {" ": "x"}}), m).unwrap();
        assert!(contents(&meta, root, m, "/app", None).is_err());
        assert!(passwd_user("nonroot") && passwd_user("nonroot:nonroot"));
        assert!(passwd_user("root:0") && !passwd_user("alice") && !passwd_user("a:b:c"));
    }
}
