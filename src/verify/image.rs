//! Image mode of `cargo slim verify`: judge a whole image archive.
//!
//! In: a seekable archive (see [`crate::oci`]). Out: a [`Report`] with a
//! verdict for every ELF file in every layer, plus the image-level checks a
//! FROM-scratch image needs: the config's platform matches the files and
//! `--arch`, the entrypoint exists as an executable file (or a script whose
//! interpreter exists), the user is not root, and a user given by name is
//! listed in the image's `/etc/passwd`. An OCI archive's `index.json` is listed
//! once: its platforms, the image to check and the SBOMs attached to it all
//! come from that [`Listing`]. Kept apart from `verify.rs` because this is the
//! part that knows about layers and configs.

use std::io::{Read, Seek};

use super::{FileVerdict, ImageSummary, Input, Report};
use crate::arch;
use crate::elf::verdict::arch_help;
use crate::elf::{check, inspect, Expect, InspectError};
use crate::error::Failure;
use crate::oci::runtime;
use crate::oci::{
    Archive, ArtifactEntry, EntryKind, Fs, ImageRef, Listing, Node, NodeKind, Resolved, Strictness,
};

/// Bytes of `/etc/passwd` read to look a `User` name up (a real one is a few KiB).
const PASSWD_LIMIT: u64 = 1 << 20;

/// Docker's default `PATH` when the config's `Env` sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Verify an image archive read from `r` (without the panic guard: tests
/// and the fuzz target call this to prove it needs none).
pub fn verify_archive<R: Read + Seek>(name: &str, r: R, arch: Option<&str>) -> Report {
    let mut report = Report::new(name, Some(Input::Image));
    let want = match arch.map(|a| (a, arch::from_name(a).map(|r| r.goarch))) {
        Some((a, None)) => {
            report
                .errors
                .push(Failure::new(format!("unknown architecture `{a}`")));
            return report;
        }
        Some((_, Some(w))) => Some(w),
        None => None,
    };
    let prefix = |f: Failure| Failure {
        what: format!("`{name}`: {}", f.what),
        ..f
    };
    let mut ar = match Archive::open(r, Strictness::Lenient) {
        Ok(a) => a,
        Err(f) => {
            report.errors.push(prefix(f));
            return report;
        }
    };
    // `index.json` is listed once: the platforms, the image and its SBOMs all
    // come from this listing.
    let listing = match ar.has("index.json").then(|| ar.list()).transpose() {
        Ok(l) => l,
        Err(f) => {
            report.errors.push(prefix(f));
            return report;
        }
    };
    if let (None, Some(l)) = (want, &listing) {
        if let Some(platforms) = platforms(l) {
            return verify_each(name, &mut ar, l, &platforms, report);
        }
    }
    let img = match &listing {
        Some(l) => ar.image_in(l, want),
        None => ar.image(want),
    };
    let img = match img {
        Ok(i) => i,
        Err(f) => {
            report.errors.push(prefix(f));
            return report;
        }
    };
    let artifacts = listing.as_ref().map_or(&[][..], |l| &l.artifacts);
    check_image(name, &mut ar, &img, artifacts, want, report)
}

/// The platforms (display form, architecture) of a multi-platform OCI archive,
/// when there are several and their architectures tell them apart.
fn platforms(listing: &Listing) -> Option<Vec<(String, String)>> {
    let found: Vec<(String, String)> = listing
        .images
        .iter()
        .map(|i| {
            Some((
                i.platform(),
                i.descriptor.platform.as_ref()?.architecture.clone(),
            ))
        })
        .collect::<Option<_>>()?;
    let mut arches: Vec<&String> = found.iter().map(|(_, a)| a).collect();
    arches.sort();
    arches.dedup();
    (found.len() > 1 && arches.len() == found.len()).then_some(found)
}

/// Verify every platform's image: one sub-report each (in
/// [`Report::platforms`]); the whole report carries their errors, warnings and
/// notes, each starting with the platform, so a failure names it.
fn verify_each<R: Read + Seek>(
    name: &str,
    ar: &mut Archive<R>,
    listing: &Listing,
    platforms: &[(String, String)],
    mut report: Report,
) -> Report {
    for (platform, arch) in platforms {
        let sub = Report::new(name, Some(Input::Image));
        let sub = match ar.image_in(listing, Some(arch)) {
            Ok(img) => check_image(name, ar, &img, &listing.artifacts, None, sub),
            Err(f) => Report {
                errors: vec![f],
                ..sub
            },
        };
        let tag = |s: &str| format!("{platform}: {s}");
        report.warnings.extend(sub.warnings.iter().map(|w| tag(w)));
        report.notes.extend(sub.notes.iter().map(|n| tag(n)));
        report.errors.extend(sub.errors.iter().map(|f| Failure {
            what: tag(&f.what),
            ..f.clone()
        }));
        report.platforms.push((platform.clone(), sub));
    }
    report
}

/// Every check of one image of the archive; `artifacts` are the archive's
/// (from its listing), among them the image's SBOMs.
fn check_image<R: Read + Seek>(
    name: &str,
    ar: &mut Archive<R>,
    img: &ImageRef,
    artifacts: &[ArtifactEntry],
    want: Option<&str>,
    mut report: Report,
) -> Report {
    let prefix = |f: Failure| Failure {
        what: format!("`{name}`: {}", f.what),
        ..f
    };

    // Platform.
    let cfg_arch = img
        .architecture()
        .map(|a| arch::from_name(a).map_or(a, |r| r.goarch).to_string());
    let platform = format!(
        "{}/{}",
        img.os().unwrap_or("?"),
        cfg_arch.as_deref().unwrap_or("?")
    );
    match img.os() {
        Some("linux") => {}
        Some(os) => report.errors.push(
            Failure::new(format!("`{name}` is an image for `{os}`, not linux"))
                .help("cargo slim builds and verifies Linux images"),
        ),
        None => report
            .warnings
            .push("the image config has no `os`; assuming linux".into()),
    }
    if let (Some(w), Some(c)) = (want, &cfg_arch) {
        if w != c {
            report.errors.push(
                Failure::new(format!("`{name}` is a {platform} image, but --arch is {w}"))
                    .help(arch_help(w)),
            );
        }
    }
    if cfg_arch.is_none() {
        report.warnings.push(
            "the image config has no `architecture`, so ELF files are checked against --arch only"
                .into(),
        );
    }
    let expect = match (&cfg_arch, want) {
        (Some(a), _) => Some((a.clone(), format!("the image platform is {platform}"))),
        (None, Some(w)) => Some((w.to_string(), format!("--arch is {w}"))),
        (None, None) => None,
    };

    // Layers: every ELF file, and the merged filesystem.
    let mut fs = Fs::default();
    let mut files: Vec<FileVerdict> = Vec::new();
    let mut escapes: Vec<Failure> = Vec::new();
    // The last /etc/passwd the layers write (its first bytes): a `User` name must be in it.
    let mut passwd: Option<Vec<u8>> = None;
    let layer_count = img.layers.len();
    for (i, layer) in img.layers.iter().enumerate() {
        let result = ar.walk_layer(layer, |entry, data| {
            if let Some(why) = runtime::entry_path(&entry.raw_path) {
                escapes.push(
                    Failure::new(format!(
                        "`{name}`: layer {} entry `{}` {why}: it points outside the image root",
                        i + 1,
                        entry.raw_path
                    ))
                    .help("runtimes refuse such an entry or put it elsewhere than meant: rebuild the layer with relative paths inside the root"),
                );
            }
            if let Some((link, target)) = escaping_parent(&fs, &entry.path) {
                escapes.push(
                    Failure::new(format!(
                        "`{name}`: layer {} entry `/{}` is written through the symlink `/{link}` → `{target}`, which leads outside the image root",
                        i + 1,
                        entry.path
                    ))
                    .help("a runtime keeps the write inside the root, so the file is not where the layer means it to be: rebuild the layer without the symlink"),
                );
            }
            let mut head = Vec::new();
            let mut tag = None;
            if entry.kind == EntryKind::File && entry.path == "etc/passwd" {
                let mut text = Vec::new();
                data.take(PASSWD_LIMIT)
                    .read_to_end(&mut text)
                    .map_err(|e| read_failure(&entry.path, &e))?;
                head = text[..text.len().min(Fs::HEAD)].to_vec();
                passwd = Some(text);
            } else if entry.kind == EntryKind::File {
                data.take(Fs::HEAD as u64)
                    .read_to_end(&mut head)
                    .map_err(|e| read_failure(&entry.path, &e))?;
                if head.starts_with(b"\x7fELF") {
                    let mut bytes = head.clone();
                    data.read_to_end(&mut bytes)
                        .map_err(|e| read_failure(&entry.path, &e))?;
                    let path = format!("/{}", entry.path);
                    let mut verdict = check(
                        &path,
                        &bytes,
                        expect.as_ref().map(|(arch, why)| Expect { arch, why }),
                    );
                    for e in &mut verdict.errors {
                        e.details
                            .push(format!("in layer {} of {layer_count}", i + 1));
                    }
                    files.push(FileVerdict {
                        path,
                        layer: i,
                        verdict,
                        dep_v0: crate::sbom::auditable::read_embedded(&bytes),
                    });
                    tag = Some(files.len() - 1);
                }
            }
            fs.add(entry, i, head, tag);
            Ok(())
        });
        fs.end_layer();
        if let Err(f) = result {
            report
                .errors
                .push(prefix(f).detail("files in this layer after the problem were not checked"));
        }
    }
    report.errors.extend(escapes);
    check_config(img, &fs, name, &mut report);
    let passwd = passwd.filter(|_| matches!(fs.resolve("/etc/passwd"), Resolved::Found { .. }));
    check_user_name(img, passwd.as_deref(), name, &mut report);
    if layer_count == 0 {
        report.errors.push(Failure::new(format!(
            "`{name}` has no layers: the image is empty"
        )));
    }

    // Entrypoint and user.
    let (entry_path, entry) = check_entrypoint(&fs, img, &files, &mut report);
    check_user(img, &mut report);

    for f in &files {
        for w in &f.verdict.warnings {
            report.warnings.push(format!("`{}`: {w}", f.path));
        }
        for n in &f.verdict.notes {
            let note = format!("`{}`: {n}", f.path);
            if !report.notes.contains(&note) {
                report.notes.push(note);
            }
        }
        report.errors.extend(f.verdict.errors.iter().cloned());
    }
    report.subject = entry.and_then(|t| files.get(t)).map(|f| f.verdict.clone());
    let sboms = super::supply::sboms_in(ar, artifacts, img);
    super::supply::record(&mut report, sboms, entry.and_then(|t| files.get(t)));
    report.image = Some(ImageSummary {
        format: img.format,
        reference: img.reference.clone(),
        os: img.os().map(str::to_string),
        architecture: img.architecture().map(str::to_string),
        variant: img.variant().map(str::to_string),
        entrypoint: entrypoint_argv(img).0,
        entrypoint_path: entry_path,
        user: img.run_str("User").map(str::to_string),
        layers: layer_count,
    });
    report.files = files;
    report
}

fn read_failure(path: &str, e: &std::io::Error) -> Failure {
    Failure::new(format!("cannot read `/{path}` from the layer")).detail(e.to_string())
}

/// `Entrypoint`, or `Cmd` when there is no `Entrypoint`, and which it was.
fn entrypoint_argv(img: &ImageRef) -> (Vec<String>, &'static str) {
    let ep = img.run_list("Entrypoint");
    if !ep.is_empty() {
        return (ep, "Entrypoint");
    }
    (img.run_list("Cmd"), "Cmd")
}

const ENTRYPOINT_HELP: &str = "point the entrypoint at the binary's path in the image (`path` in \
                               [package.metadata.slim]), or add the file to the image";

/// Check the program the container starts; returns its resolved path and
/// the index of its ELF verdict.
fn check_entrypoint(
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

/// The symlink among the parents of `path` (as merged so far) whose target leads
/// outside the root, with that target.
fn escaping_parent(fs: &Fs, path: &str) -> Option<(String, String)> {
    let mut prefix = String::new();
    let parts: Vec<&str> = path.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        if let Some(Node {
            kind: NodeKind::Symlink(target),
            ..
        }) = fs.get_current(&prefix)
        {
            if runtime::link_escapes(&prefix, target) {
                return Some((prefix.clone(), target.clone()));
            }
        }
    }
    None
}

/// What runc and containerd refuse in the runtime config: a relative
/// `WorkingDir`, a `User` that is not `UID[:GID]` (or a name with no
/// `/etc/passwd` in the image), an exposed port outside 1-65535.
fn check_config(img: &ImageRef, fs: &Fs, name: &str, report: &mut Report) {
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
fn check_user_name(img: &ImageRef, passwd: Option<&[u8]>, name: &str, report: &mut Report) {
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

fn check_user(img: &ImageRef, report: &mut Report) {
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
