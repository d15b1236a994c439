//! Image mode: tarballs built here — cargo-slim's own (via the library),
//! hand-made docker archives with symlinks and whiteouts, a multi-platform
//! OCI archive, and skopeo's conversions of the hello image.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_slim::digest::sha256_digest;
use cargo_slim::image::{build_image, tarball, ImageSpec, LayerBuilder, LayerFile, Platform};
use cargo_slim::reference::Reference;
use cargo_slim::verify::verify_bytes;
use serde_json::{json, Value};

use super::{elf_bytes, messages, verify_json};
use crate::support::tar::Tar;
use crate::support::*;

pub fn spec(path: &str, user: &str) -> ImageSpec {
    ImageSpec {
        reference: Reference::parse("localhost/verify-test:1").unwrap(),
        path: path.into(),
        user: user.into(),
        cmd: None,
        env: BTreeMap::new(),
        labels: BTreeMap::new(),
        workdir: None,
        expose: Vec::new(),
        name: "verify-test".into(),
        version: None,
        ca_certificates: Default::default(),
        zoneinfo: Default::default(),
    }
}

/// A cargo-slim tarball (via the library) with `files` in one layer.
pub fn slim_tarball(
    dir: &Path,
    files: &[(&str, u32, &[u8])],
    spec: &ImageSpec,
    arch: &str,
) -> PathBuf {
    let files: Vec<LayerFile> = files
        .iter()
        .map(|(path, mode, data)| LayerFile {
            path: path.to_string(),
            mode: *mode,
            data,
        })
        .collect();
    let built = LayerBuilder::files(&files).unwrap();
    let layer = built.build(&Default::default(), None).unwrap().layer;
    let platform = Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: None,
    };
    let image = build_image(spec, &platform, vec![layer], 0).unwrap();
    let path = dir.join(format!(
        "image-{}.tar",
        std::process::id() as u64 + rand_suffix()
    ));
    tarball::write(&image, &path, 0).unwrap();
    path
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn hello_image_passes() {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let tar = build_hello(dir.path(), &[]);
    let (code, lines, stderr) = verify_json(&[&tar], &[]);
    assert_eq!(code, 0, "{lines:?}\n{stderr}");
    let v = &lines[0];
    assert_eq!(v["input"], "image");
    assert_eq!(v["kind"], "static-pie");
    assert_eq!(v["arch"], "amd64");
    assert_eq!(v["warnings"], json!([]));
    assert_eq!(v["image"]["format"], "oci");
    assert_eq!(v["image"]["reference"], "localhost/hello:0.1.0");
    assert_eq!(v["image"]["entrypoint"], json!(["/hello"]));
    assert_eq!(v["image"]["entrypoint_path"], "/hello");
    assert_eq!(v["image"]["user"], "65532:65532");
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["path"], "/hello");
    assert_eq!(files[0]["passed"], true);
    // The image's platform is amd64: asking for arm64 fails.
    let (code, lines, _) = verify_json(&[&tar], &["--arch", "aarch64"]);
    assert_eq!(code, 1);
    assert!(
        messages(&lines[0]).contains("but --arch is arm64"),
        "{}",
        lines[0]
    );

    let out = run_code(slim(&["verify"]).arg(&tar), 0);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ok (localhost/hello:0.1.0, linux/amd64, entrypoint /hello: static-pie, 1 ELF file checked, SBOM spdx (1 crate), .dep-v0 (1 crate))"), "{stdout}");
}

// ---- images made with the library, one row each ----------------------------

/// A file of a table image: an ELF fixture of testdata/elf, or literal bytes.
#[derive(Clone, Copy)]
enum Data {
    Elf(&'static str),
    Bytes(&'static [u8]),
}

/// What the verify of a table image must say, besides its exit code.
#[derive(Clone, Copy)]
enum Want {
    /// In the errors' messages and details ([`messages`]).
    Error(&'static str),
    /// Not in the errors' messages and details.
    NoError(&'static str),
    /// In the errors as JSON (messages, details and help).
    ErrorJson(&'static str),
    /// Not in the errors as JSON.
    NoErrorJson(&'static str),
    /// In the warnings as JSON.
    Warning(&'static str),
    /// In the notes as JSON.
    Note(&'static str),
    /// The value at a JSON pointer of the result (`null` when absent), as JSON.
    At(&'static str, &'static str),
    /// `(path, key, value)`: the value of `key` in the `files` entry of `path`.
    File(&'static str, &'static str, &'static str),
}

/// One image (entrypoint `/app`) built with the library, verified with `args`.
#[derive(Clone, Copy)]
struct ImageCase {
    files: &'static [(&'static str, u32, Data)],
    user: &'static str,
    /// The image platform's architecture.
    arch: &'static str,
    args: &'static [&'static str],
    code: i32,
    wants: &'static [Want],
}

const STATIC_APP: ImageCase = ImageCase {
    files: &[("/app", 0o555, Data::Elf("static"))],
    user: "65532",
    arch: "amd64",
    args: &[],
    code: 0,
    wants: &[],
};

const PASSWD: &[u8] =
    b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/:/sbin/nologin\n";

/// `STATIC_APP` beside the `PASSWD` above, run as `user`.
const fn with_passwd(user: &'static str, code: i32, wants: &'static [Want]) -> ImageCase {
    ImageCase {
        files: &[
            ("/app", 0o555, Data::Elf("static")),
            ("/etc/passwd", 0o444, Data::Bytes(PASSWD)),
        ],
        user,
        code,
        wants,
        ..STATIC_APP
    }
}

/// Build the case's image, verify it, and check every want, naming the case.
fn check_image(name: &str, case: ImageCase) {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<Vec<u8>> = case
        .files
        .iter()
        .map(|(_, _, d)| match d {
            Data::Elf(fixture) => elf_bytes(fixture),
            Data::Bytes(b) => b.to_vec(),
        })
        .collect();
    let files: Vec<(&str, u32, &[u8])> = case
        .files
        .iter()
        .zip(&data)
        .map(|((path, mode, _), d)| (*path, *mode, &d[..]))
        .collect();
    let tar = slim_tarball(dir.path(), &files, &spec("/app", case.user), case.arch);
    let (code, lines, stderr) = verify_json(&[&tar], case.args);
    assert_eq!(code, case.code, "{name}: {lines:?}\n{stderr}");
    let v = &lines[0];
    let json = |s: &str| -> Value { serde_json::from_str(s).unwrap() };
    for want in case.wants {
        match *want {
            Want::Error(s) => assert!(messages(v).contains(s), "{name}: {}", messages(v)),
            Want::NoError(s) => assert!(!messages(v).contains(s), "{name}: {}", messages(v)),
            Want::ErrorJson(s) => assert!(v["errors"].to_string().contains(s), "{name}: {v}"),
            Want::NoErrorJson(s) => assert!(!v["errors"].to_string().contains(s), "{name}: {v}"),
            Want::Warning(s) => assert!(v["warnings"].to_string().contains(s), "{name}: {v}"),
            Want::Note(s) => assert!(v["notes"].to_string().contains(s), "{name}: {v}"),
            Want::At(pointer, value) => assert_eq!(
                v.pointer(pointer).unwrap_or(&Value::Null),
                &json(value),
                "{name}: {pointer} of {v}"
            ),
            Want::File(path, key, value) => {
                let file = v["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["path"] == path)
                    .unwrap_or_else(|| panic!("{name}: no file {path} in {v}"));
                assert_eq!(file[key], json(value), "{name}: {key} of {path} in {v}");
            }
        }
    }
}

/// One `#[test]` per row, named by the row.
macro_rules! image_cases {
    ($($name:ident: $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check_image(stringify!($name), $case);
            }
        )*
    };
}

use Data::{Bytes, Elf};
use Want::*;

image_cases! {
    // A dynamic ELF anywhere fails, naming the file and its libraries.
    dynamic_helper_fails_naming_file_and_libraries: ImageCase {
        files: &[("/app", 0o555, Elf("static")), ("/usr/lib/helper", 0o555, Elf("glibc-dynamic"))],
        user: "65532:65532",
        code: 1,
        wants: &[
            Error("`/usr/lib/helper` is not static"),
            Error("interpreter: /lib64/ld-linux-x86-64.so.2"),
            Error("needs: libc.so.6"),
            NoError("`/app`"), // the static entrypoint is fine
            File("/usr/lib/helper", "kind", r#""dynamic""#),
            File("/usr/lib/helper", "needed", r#"["libc.so.6"]"#),
            File("/usr/lib/helper", "passed", "false"),
            At("/kind", r#""static""#), // the top-level kind is the entrypoint's
        ],
        ..STATIC_APP
    };
    dynamic_entrypoint_fails: ImageCase {
        files: &[("/app", 0o555, Elf("glibc-dynamic"))],
        user: "1000",
        code: 1,
        wants: &[At("/kind", r#""dynamic""#), At("/needed", r#"["libc.so.6"]"#)],
        ..STATIC_APP
    };
    // An entrypoint that is missing or cannot run.
    missing_entrypoint_fails: ImageCase {
        files: &[("/bin/app", 0o555, Elf("static"))],
        code: 1,
        wants: &[
            Error("the entrypoint `/app`"),
            Error("is not in the image"),
            Error("/app does not exist"),
            At("/image/entrypoint_path", "null"),
        ],
        ..STATIC_APP
    };
    unexecutable_entrypoint_fails: ImageCase {
        files: &[("/app", 0o644, Elf("static"))],
        code: 1,
        wants: &[Error("is not executable (mode 0644)")],
        ..STATIC_APP
    };
    script_without_its_interpreter_fails: ImageCase {
        files: &[("/app", 0o555, Bytes(b"#!/bin/sh\necho hi\n"))],
        code: 1,
        wants: &[Error("starts with #!/bin/sh"), Error("`/bin/sh` is not in the image")],
        ..STATIC_APP
    };
    text_entrypoint_fails: ImageCase {
        files: &[("/app", 0o555, Bytes(b"hello world"))],
        code: 1,
        wants: &[Error("is not a program"), Error("looks like text")],
        ..STATIC_APP
    };
    // The image platform must match every ELF.
    arm64_binary_in_an_amd64_image_fails: ImageCase {
        files: &[("/app", 0o555, Elf("aarch64-static"))],
        code: 1,
        wants: &[Error("`/app` is built for arm64, but the image platform is linux/amd64")],
        ..STATIC_APP
    };
    arm64_binary_in_an_arm64_image_passes_with_arch: ImageCase {
        files: &[("/app", 0o555, Elf("aarch64-static"))],
        arch: "arm64",
        args: &["--arch", "aarch64"],
        ..STATIC_APP
    };
    // Root is a warning, not a failure.
    no_user_is_a_warning: ImageCase {
        user: "",
        wants: &[Warning("sets no User")],
        ..STATIC_APP
    };
    root_uid_is_a_warning: ImageCase {
        user: "0:0",
        wants: &[Warning("runs as root")],
        ..STATIC_APP
    };
    // A user name with no /etc/passwd in the image: runc cannot resolve it
    // ("unable to find user root"), so the image would not start.
    user_name_without_passwd_fails: ImageCase {
        user: "root",
        code: 1,
        wants: &[ErrorJson("User `root`"), ErrorJson("/etc/passwd")],
        ..STATIC_APP
    };
    // A name is resolved through the image's /etc/passwd: found, or an error.
    user_name_in_passwd_passes: with_passwd("nonroot", 0, &[NoErrorJson("is not in the image's /etc/passwd")]);
    user_and_group_names_in_passwd_pass: with_passwd("nonroot:nonroot", 0, &[NoErrorJson("is not in the image's /etc/passwd")]);
    user_name_not_in_passwd_fails: with_passwd("alice", 1, &[ErrorJson("is not in the image's /etc/passwd")]);
    // A non-root user that cannot execute a 0500 root-owned binary: warned.
    owner_only_binary_warns_a_non_root_user: ImageCase {
        files: &[("/app", 0o500, Elf("static"))],
        user: "65532:65532",
        wants: &[Warning("not executable by the image's user 65532")],
        ..STATIC_APP
    };
    // What `cargo slim build --upx` ships for a Rust musl binary: a packed
    // static-pie, which has lost PT_DYNAMIC and so looks like a shared library.
    upx_packed_static_pie_passes_with_a_note: ImageCase {
        files: &[("/app", 0o555, Elf("upx-packed-pie"))],
        wants: &[
            At("/kind", r#""static-pie""#),
            At("/packer", r#""upx""#),
            Note("only the unpacking stub"),
        ],
        ..STATIC_APP
    };
}

// ---- hand-made docker archives ----------------------------------------------

pub enum E<'a> {
    Dir(&'a str),
    File(&'a str, u32, &'a [u8]),
    Link(&'a str, &'a str),
    /// A file whose name is stored as is (`../x`, `/abs`).
    Raw(&'a str, &'a [u8]),
}

pub fn layer_tar(entries: &[E]) -> Vec<u8> {
    let mut t = Tar::gnu();
    for e in entries {
        match e {
            E::Dir(p) => t.dir(p),
            E::File(p, mode, data) => t.file(p, *mode, data),
            E::Link(p, target) => t.symlink(p, target),
            E::Raw(p, data) => t.raw_file(p, 0o644, data),
        };
    }
    t.finish()
}

/// A `docker save`-style archive: `./`-prefixed names, config and layers
/// after manifest.json, layer files reached through symlinks.
pub fn docker_archive(entrypoint: &[&str], user: &str, layers: &[Vec<u8>]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256_digest(l)).collect();
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": entrypoint, "User": user, "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let mut names = Vec::new();
    let mut t = Tar::ustar();
    for (i, l) in layers.iter().enumerate() {
        let hex = &diff_ids[i]["sha256:".len()..];
        t.add(&format!("./{hex}.tar"), l);
        t.symlink(&format!("./layer{i}/layer.tar"), &format!("../{hex}.tar"));
        names.push(format!("layer{i}/layer.tar"));
    }
    let manifest =
        json!([{"Config": "cfg.json", "RepoTags": ["example.com/hand:made"], "Layers": names}]);
    t.add("./manifest.json", &serde_json::to_vec(&manifest).unwrap());
    t.add("./cfg.json", &config);
    t.finish()
}

#[test]
fn docker_archive_symlinks_whiteouts_and_path_lookup() {
    let stat = elf_bytes("static");
    let base = layer_tar(&[
        E::Dir("bin/"),
        E::File("bin/real", 0o755, &stat),
        E::Link("bin/app", "real"),
        E::Dir("usr/"),
        E::Link("usr/bin", "../bin"),
        E::File("gone", 0o755, &stat),
    ]);
    let top = layer_tar(&[
        E::File(".wh.gone", 0o644, b""),
        E::Link("loop", "loop2"),
        E::Link("loop2", "loop"),
    ]);

    let check = |entrypoint: &[&str], passed: bool, says: &str| {
        let bytes = docker_archive(entrypoint, "65532", &[base.clone(), top.clone()]);
        let r = verify_bytes("hand.tar", &bytes, None);
        let v = r.to_json();
        assert_eq!(v["passed"], passed, "{entrypoint:?}: {v}");
        assert_eq!(v["image"]["format"], "docker");
        assert_eq!(v["image"]["reference"], "example.com/hand:made");
        let all = format!("{} {}", messages(&v), v["image"]["entrypoint_path"]);
        assert!(all.contains(says), "{entrypoint:?}: {all}");
    };
    check(&["/bin/app"], true, "/bin/real");
    check(&["/usr/bin/app"], true, "/bin/real");
    check(&["app"], true, "/bin/real"); // found through PATH=/usr/bin:/bin
    check(&["/gone"], false, "/gone does not exist"); // whited out in the top layer
    check(&["/loop"], false, "too many levels of symbolic links");
    check(&["/bin/real/x"], false, "is not a directory");
    check(&[], false, "no Entrypoint or Cmd");

    // Gzip the whole archive (`docker save | gzip`): still read.
    let plain = docker_archive(&["/bin/app"], "65532", std::slice::from_ref(&base));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let r = verify_bytes("hand.tar.gz", &gz.finish().unwrap(), None);
    assert!(r.passed(), "{:?}", r.errors);

    // A corrupted layer is caught by its diff_id.
    let mut bad = base.clone();
    let at = bad
        .windows(stat.len())
        .position(|w| w == &stat[..])
        .unwrap()
        + 3000;
    bad[at] ^= 0xff;
    let mut bytes = docker_archive(&["/bin/app"], "65532", std::slice::from_ref(&base));
    let good_id = sha256_digest(&base);
    let bad_id = sha256_digest(&bad);
    let pos = bytes
        .windows(base.len())
        .position(|w| w == &base[..])
        .unwrap();
    bytes[pos..pos + bad.len()].copy_from_slice(&bad);
    assert_ne!(good_id, bad_id);
    let r = verify_bytes("bad.tar", &bytes, None);
    assert!(!r.passed());
    assert!(
        r.errors.iter().any(|e| e.what.contains("diff_id")),
        "{:?}",
        r.errors
    );
}

#[test]
fn non_image_tar_is_a_clean_failure() {
    let tar = layer_tar(&[E::File("hello.txt", 0o644, b"hi")]);
    let r = verify_bytes("plain.tar", &tar, None);
    assert!(!r.passed());
    assert!(
        r.errors[0].what.contains("not a container image"),
        "{:?}",
        r.errors
    );
}

/// An OCI archive like `docker save` of a multi-platform image: index.json →
/// nested index → amd64 and arm64 manifests, an attestation manifest, and a
/// listed platform whose blobs are absent.
fn multi_platform_archive() -> Vec<u8> {
    use cargo_slim::image::Image;
    let amd = elf_bytes("static");
    let arm = elf_bytes("aarch64-static");
    let image = |data: &[u8], arch: &str| -> Image {
        let built = LayerBuilder::file("/app", 0o555, data).unwrap();
        let layer = built.build(&Default::default(), None).unwrap().layer;
        let platform = Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: None,
        };
        build_image(&spec("/app", "65532"), &platform, vec![layer], 0).unwrap()
    };
    let images = [image(&amd, "amd64"), image(&arm, "arm64")];
    let desc = |digest: &str, size: u64, os: &str, arch: &str| {
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
               "size": size, "platform": {"os": os, "architecture": arch}})
    };
    let mut manifests: Vec<Value> = images
        .iter()
        .map(|i| {
            desc(
                &i.manifest.digest,
                i.manifest.size(),
                "linux",
                &i.platform.architecture,
            )
        })
        .collect();
    let mut attestation = desc(&images[0].config.digest, 1, "unknown", "unknown");
    attestation["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest"});
    manifests.push(attestation);
    manifests.push(desc(
        &format!("sha256:{}", "ab".repeat(32)),
        1,
        "linux",
        "s390x",
    ));
    let nested = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})).unwrap();
    let nested_digest = sha256_digest(&nested);
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": nested_digest, "size": nested.len(),
        "annotations": {"io.containerd.image.name": "docker.io/library/multi:1"}}]});
    let mut t = Tar::ustar();
    t.add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    t.add("index.json", &serde_json::to_vec(&index).unwrap());
    t.add(&format!("blobs/sha256/{}", &nested_digest[7..]), &nested);
    for i in &images {
        for blob in [&i.config, &i.manifest]
            .into_iter()
            .chain(i.layers.iter().map(|l| &l.blob))
        {
            t.add(
                &format!("blobs/sha256/{}", blob.hex()),
                &blob.bytes().unwrap(),
            );
        }
    }
    t.finish()
}

#[test]
fn multi_platform_archive_verifies_each_platform_or_the_one_arch_picks() {
    let bytes = multi_platform_archive();
    // Without --arch every platform is verified (the attestation and the absent
    // s390x manifest are not images to check).
    let r = verify_bytes("multi.tar", &bytes, None);
    assert!(r.passed(), "{:?}", r.errors);
    let platforms: Vec<&str> = r.platforms.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(r.platforms[1].1.to_json()["arch"], "arm64");
    for (arch, kind_arch) in [("amd64", "amd64"), ("aarch64", "arm64")] {
        let r = verify_bytes("multi.tar", &bytes, Some(arch));
        assert!(r.passed(), "{arch}: {:?}", r.errors);
        let v = r.to_json();
        assert_eq!(v["arch"], kind_arch);
        assert_eq!(v["image"]["reference"], "docker.io/library/multi:1");
    }
    let r = verify_bytes("multi.tar", &bytes, Some("riscv64"));
    assert!(
        format!("{:?}", r.errors).contains("no image for architecture riscv64"),
        "{:?}",
        r.errors
    );
}

#[test]
fn skopeo_converted_archives_verify() {
    if !have("skopeo") {
        return;
    }
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let tar = build_hello(dir.path(), &[]);
    for (transport, format) in [("docker-archive", "docker"), ("oci-archive", "oci")] {
        let out = dir.path().join(format!("{format}.tar"));
        run_ok(
            Command::new("skopeo")
                .args(["copy", "--quiet"])
                .arg(format!("oci-archive:{}", tar.display()))
                .arg(format!("{transport}:{}", out.display())),
        );
        let (code, lines, stderr) = verify_json(&[&out], &[]);
        assert_eq!(code, 0, "{transport}: {lines:?}\n{stderr}");
        assert_eq!(lines[0]["image"]["format"], format);
        assert_eq!(lines[0]["image"]["entrypoint_path"], "/hello");
        assert_eq!(lines[0]["kind"], "static-pie");
    }
    // skopeo's docker-archive has uncompressed layers; an explicitly
    // uncompressed OCI copy too.
    let out = dir.path().join("plain-oci.tar");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-decompress"])
            .arg(format!("oci-archive:{}", tar.display()))
            .arg(format!("oci-archive:{}", out.display())),
    );
    assert_eq!(verify_json(&[&out], &[]).0, 0);
    // zstd layers (containerd >= 1.5, Docker >= 23, podman 4.3 read them).
    let out = dir.path().join("zstd-oci.tar");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-compress-format", "zstd"])
            .arg(format!("oci-archive:{}", tar.display()))
            .arg(format!("oci-archive:{}", out.display())),
    );
    let raw = std::fs::read(&out).unwrap();
    assert!(
        raw.windows(4).any(|w| w == [0x28, 0xb5, 0x2f, 0xfd]),
        "skopeo wrote a zstd layer"
    );
    let (code, lines, stderr) = verify_json(&[&out], &[]);
    assert_eq!(code, 0, "zstd: {lines:?}\n{stderr}");
    assert_eq!(lines[0]["kind"], "static-pie");
}

#[test]
fn configs_and_entries_no_runtime_accepts_fail_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let stat = elf_bytes("static");
    let app = || E::File("app", 0o555, &stat);
    let mut archives = Vec::new();
    // Config fields runc or containerd refuse.
    for (field, value, want) in [
        ("WorkingDir", json!("relative"), "WorkingDir `relative`"),
        ("User", json!("65532:65532:1"), "User `65532:65532:1`"),
        (
            "ExposedPorts",
            json!({"99999/tcp": {}}),
            "ExposedPorts entry `99999/tcp`",
        ),
    ] {
        let tar = docker_archive(&["/app"], "65532:65532", &[layer_tar(&[app()])]);
        archives.push((field, with_config_field(&tar, field, value), want));
    }
    // Layer entries outside the root, and a file written through an escaping link.
    for (entries, want) in [
        (
            vec![E::Raw("../../x", b"x")],
            "entry `../../x` has a `..` component",
        ),
        (
            vec![E::Raw("/abs", b"x")],
            "entry `/abs` is an absolute path",
        ),
        (
            vec![E::Link("out", "../../.."), E::File("out/file", 0o644, b"x")],
            "is written through the symlink `/out`",
        ),
    ] {
        let mut all = vec![app()];
        all.extend(entries);
        let tar = docker_archive(&["/app"], "65532:65532", &[layer_tar(&all)]);
        archives.push((want, tar, want));
    }
    for (case, tar, want) in archives {
        let path = dir.path().join("case.tar");
        std::fs::write(&path, &tar).unwrap();
        let (code, lines, _) = verify_json(&[&path], &[]);
        assert_eq!(code, 1, "{case}: {}", lines[0]);
        assert!(
            lines[0]["errors"].to_string().contains(want),
            "{case}: {}",
            lines[0]
        );
    }
    // Nothing was written outside while checking.
    assert!(!dir.path().join("x").exists() && !Path::new("/abs").exists());
}

/// `tar` (a docker archive from [`docker_archive`]) with `config[field] = value`.
fn with_config_field(tar: &[u8], field: &str, value: Value) -> Vec<u8> {
    copy_archive(
        tar,
        |name, data| {
            if !name.ends_with("cfg.json") {
                return data;
            }
            let mut cfg: Value = serde_json::from_slice(&data).unwrap();
            cfg["config"][field] = value.clone();
            serde_json::to_vec(&cfg).unwrap()
        },
        |_| {},
    )
}

/// `tar` copied entry by entry (regular files through `edit`, symlinks as
/// they are), then `extra` appended.
pub fn copy_archive(
    tar: &[u8],
    edit: impl Fn(&str, Vec<u8>) -> Vec<u8>,
    extra: impl FnOnce(&mut Tar),
) -> Vec<u8> {
    let mut out = Tar::ustar();
    let mut ar = ::tar::Archive::new(tar);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        if e.header().entry_type().is_symlink() {
            let target = String::from_utf8(e.link_name_bytes().unwrap().into_owned()).unwrap();
            out.symlink(&name, &target);
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.add(&name, &edit(&name, data));
    }
    extra(&mut out);
    out.finish()
}
