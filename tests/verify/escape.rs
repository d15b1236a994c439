//! Outer entries that would land outside the folder an archive is extracted in
//! (`../x`, `/abs`, a symlink or hard link pointing out) fail `verify` of OCI
//! and docker archives alike, exit 1, naming the entry; `push` reads archives
//! through the same reader and refuses them before it connects anywhere.

use std::path::Path;

use ::tar::EntryType;

use super::images::{copy_archive, docker_archive, layer_tar, slim_tarball, spec, E};
use super::{elf_bytes, verify_json};
use crate::support::*;

/// `archive` with the hostile outer entry `(kind, name, target)` appended.
fn with_outer(archive: &[u8], entry: Option<&(EntryType, &str, &str)>) -> Vec<u8> {
    copy_archive(
        archive,
        |_, data| data,
        |t| match entry {
            Some((EntryType::Regular, name, _)) => {
                t.raw_file(name, 0o644, b"x");
            }
            Some((kind, name, target)) => {
                t.raw_link(*kind, name, target);
            }
            None => {}
        },
    )
}

/// The hostile outer entries (type, name, link target), each with what the
/// error must say.
const HOSTILE: [((EntryType, &str, &str), &str); 6] = [
    (
        (EntryType::Regular, "../../evil-outer", ""),
        "outer tar entry `../../evil-outer` has a `..` component",
    ),
    (
        (EntryType::Regular, "/tmp/evil-abs", ""),
        "outer tar entry `/tmp/evil-abs` is an absolute path",
    ),
    (
        (EntryType::Link, "passwd", "/etc/passwd"),
        "outer tar entry `passwd` is a hard link to the absolute path `/etc/passwd`",
    ),
    (
        (EntryType::Link, "up", "../outside"),
        "outer tar entry `up` is a hard link to `../outside`, outside",
    ),
    (
        (EntryType::Symlink, "blobs/out", "../../x"),
        "outer tar entry `blobs/out` is a symlink to `../../x`, outside",
    ),
    (
        (EntryType::Symlink, "etc", "/etc"),
        "outer tar entry `etc` is a symlink to the absolute path `/etc`",
    ),
];

/// `verify` fails with exit 1 and the entry named, in JSON and human output.
fn refused(path: &Path, want: &str) {
    let (code, lines, _) = verify_json(&[path], &[]);
    assert_eq!(code, 1, "{want}: {}", lines[0]);
    assert_eq!(lines[0]["passed"], false);
    assert!(
        lines[0]["errors"].to_string().contains(want),
        "{want}: {}",
        lines[0]
    );
    let o = run_code(&mut slim(&["verify", path.to_str().unwrap()]), 1);
    assert!(text(&o.stderr).contains(want), "{}", text(&o.stderr));
}

/// A cargo-slim tarball whose one layer holds the static ELF `stat` as `/app`.
fn oci_archive(dir: &Path, stat: &[u8]) -> Vec<u8> {
    let tarball = slim_tarball(
        dir,
        &[("/app", 0o555, stat)],
        &spec("/app", "65532"),
        "amd64",
    );
    std::fs::read(tarball).unwrap()
}

#[test]
fn escaping_outer_entries_fail_verify_of_oci_and_docker_archives() {
    let dir = tempfile::tempdir().unwrap();
    let stat = elf_bytes("static");
    let oci = oci_archive(dir.path(), &stat);
    let docker = docker_archive(
        &["/app"],
        "65532:65532",
        &[layer_tar(&[E::File("app", 0o555, &stat)])],
    );
    for (kind, base) in [("oci", &oci), ("docker", &docker)] {
        // The archive itself passes; its docker-style `../` symlinks stay inside.
        let clean = dir.path().join(format!("{kind}-clean.tar"));
        std::fs::write(&clean, with_outer(base, None)).unwrap();
        assert_eq!(verify_json(&[&clean], &[]).0, 0, "{kind}");
        for (i, (entry, want)) in HOSTILE.iter().enumerate() {
            let path = dir.path().join(format!("{kind}-{i}.tar"));
            std::fs::write(&path, with_outer(base, Some(entry))).unwrap();
            refused(&path, want);
        }
    }
    // Nothing was extracted while checking.
    assert!(!dir.path().join("evil-outer").exists());
    assert!(!Path::new("/tmp/evil-abs").exists());
}

/// `push` reads archives with the same reader: an escaping entry fails before
/// any connection (the address has nothing listening), naming the entry.
#[test]
fn push_refuses_an_escaping_archive_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let stat = elf_bytes("static");
    let oci = oci_archive(dir.path(), &stat);
    let evil = dir.path().join("evil.tar");
    std::fs::write(&evil, with_outer(&oci, Some(&HOSTILE[0].0))).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let o = run_code(
        &mut push_cmd(&[
            evil.to_str().unwrap(),
            &format!("127.0.0.1:{port}/evil:1"),
            "--insecure",
        ]),
        1,
    );
    let err = text(&o.stderr);
    assert!(err.contains("`../../evil-outer`"), "{err}");
    assert!(o.stdout.is_empty());
}
