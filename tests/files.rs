//! `files` against a hostile or large package folder, and names ustar cannot hold:
//! a file swapped for a symlink out of the package or for a FIFO while builds run
//! never puts the outside bytes in the image nor blocks the build; a 1 GiB
//! sparse file is streamed (peak RSS measured); 101- and 255-byte names, a
//! 300-byte nested path and a binary `path` with a 120-byte component load in
//! podman, list in GNU tar and pass `verify`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cargo_slim::image::{Contents, LayerBuilder, UserFile};

use crate::support::*;

/// The hello ELF the fixture build leaves (built once by `warm_up`).
fn hello_elf() -> PathBuf {
    warm_up();
    fixture_target_dir().join("x86_64-unknown-linux-musl/release/hello")
}

/// A crate folder whose Cargo.toml has `slim` (the `[package.metadata.slim]` body).
fn crate_with(slim: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.slim]\n{slim}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    dir
}

/// `cargo slim build --binary hello -o OUT` in `krate` (its Cargo.toml's keys apply).
fn build_binary(krate: &Path, out: &Path) -> Command {
    let mut cmd = slim(&["build", "--no-cache", "--binary"]);
    cmd.arg(hello_elf()).arg("-o").arg(out).current_dir(krate);
    cmd
}

/// Every layer of the tarball at `tar`, uncompressed.
fn layer_tars(path: &Path) -> Vec<Vec<u8>> {
    let mut outer = ::tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut out = Vec::new();
    for e in outer.entries().unwrap() {
        let mut e = e.unwrap();
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).unwrap();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut plain)
                .unwrap();
            out.push(plain);
        }
    }
    out
}

/// Swap `at` between a regular file, a symlink to `outside` and a FIFO until
/// `stop`, by atomic renames (the way an attacker with write access would).
fn swapper(at: PathBuf, outside: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        // Made beside the folder, not in it: only the renamed entry is seen in it.
        let dir = at.parent().unwrap().parent().unwrap().to_path_buf();
        let mut swaps = 0u64;
        while !stop.load(Ordering::Relaxed) {
            // Phases of regular ↔ symlink, then regular ↔ FIFO: each change
            // lands between some build's check and its read.
            let tmp = dir.join(format!(".swap{}", swaps % 2));
            let _ = std::fs::remove_file(&tmp);
            match (swaps % 2, swaps / 500 % 2) {
                (0, _) => std::fs::write(&tmp, b"inside bytes").unwrap(),
                (_, 0) => std::os::unix::fs::symlink(&outside, &tmp).unwrap(),
                _ => {
                    let c = std::ffi::CString::new(tmp.as_os_str().as_encoded_bytes()).unwrap();
                    // SAFETY: a NUL-terminated path.
                    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
                }
            }
            std::fs::rename(&tmp, &at).unwrap();
            swaps += 1;
        }
        swaps
    })
}

const SECRET: &[u8] = b"OUTSIDE-THE-PACKAGE-8f3a91";

#[test]
fn a_file_swapped_for_a_symlink_or_fifo_never_leaks_or_blocks() {
    let krate = crate_with("files = [{ src = \"data/\", dest = \"/data\" }]");
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let data = krate.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("hostname"), b"inside bytes").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = swapper(data.join("hostname"), secret, stop.clone());

    // Many in-process builds of the files layer: the race is hit often.
    let contents = Contents {
        root: krate.path().to_path_buf(),
        manifest: krate.path().join("Cargo.toml"),
        files: vec![UserFile {
            label: "files[0] (src = \"data/\")".into(),
            src: data.clone(),
            dest: "/data".into(),
            mode: None,
            owner: None,
        }],
        ..Contents::default()
    };
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let (mut ok, mut refused) = (0, 0);
        let mut seen: Vec<String> = Vec::new();
        let started = Instant::now();
        while ok + refused < 3000 && started.elapsed() < Duration::from_secs(15) {
            let layer = contents.user_nodes(&[]).and_then(|n| {
                let built = LayerBuilder::nodes(&n)?.build(&Default::default(), None)?;
                Ok(built.layer)
            });
            match layer {
                Ok(l) => {
                    let mut plain = Vec::new();
                    flate2::read::GzDecoder::new(&l.blob.bytes().unwrap()[..])
                        .read_to_end(&mut plain)
                        .unwrap();
                    assert!(
                        memchr::memmem::find(&plain, SECRET).is_none(),
                        "the outside file leaked"
                    );
                    ok += 1;
                }
                Err(e) => {
                    let e = format!("{e:#}");
                    assert!(e.contains("files[0]") || e.contains("hostname"), "{e}");
                    let kind: String = e.chars().take(120).collect();
                    if seen.len() < 4 && !seen.contains(&kind) {
                        eprintln!("race: refused: {kind}");
                        seen.push(kind);
                    }
                    refused += 1;
                }
            }
        }
        done_tx.send((ok, refused)).unwrap();
    });
    let (ok, refused) = done_rx
        .recv_timeout(Duration::from_secs(40))
        .expect("a files layer build blocked (on a FIFO?)");
    worker.join().unwrap();

    // And whole builds, each bounded in time.
    let out_dir = tempfile::tempdir().unwrap();
    let mut built = 0;
    for i in 0..6 {
        let out = out_dir.path().join(format!("race{i}.tar"));
        let log = out_dir.path().join(format!("race{i}.log"));
        let mut child = build_binary(krate.path(), &out)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("build {i} blocked for 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if status.success() {
            built += 1;
            for layer in layer_tars(&out) {
                assert!(
                    memchr::memmem::find(&layer, SECRET).is_none(),
                    "build {i} leaked"
                );
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swaps.join().unwrap();
    eprintln!(
        "race: {swaps} swaps; layers {ok} built, {refused} refused; builds {built} of 6 succeeded"
    );
    assert!(ok + refused >= 50 && swaps > 100, "the race ran");
}

/// Peak RSS (`Maximum resident set size`, KiB) that `/usr/bin/time -v` reports.
fn max_rss_kib(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("time -v output")
}

#[test]
fn a_sparse_gib_file_is_streamed_with_bounded_memory() {
    if !Path::new("/usr/bin/time").exists() {
        assert!(!in_ci(), "/usr/bin/time is required in CI");
        eprintln!("SKIPPED: /usr/bin/time is not installed");
        return;
    }
    const SIZE: u64 = 1 << 30;
    let krate = crate_with("files = [{ src = \"big.img\", dest = \"/var/big.img\" }]");
    let big = std::fs::File::create(krate.path().join("big.img")).unwrap();
    big.set_len(SIZE).unwrap();
    drop(big);
    let out = krate.path().join("big.tar");
    let inner = build_binary(krate.path(), &out);
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-v")
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(krate.path());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let started = Instant::now();
    let o = run_ok(&mut cmd);
    let secs = started.elapsed().as_secs_f64();
    let rss = max_rss_kib(&text(&o.stderr));
    let binary = std::fs::metadata(hello_elf()).unwrap().len();
    let bound_kib = (binary * 3 / 2 + (32 << 20)) / 1024;
    eprintln!(
        "sparse {} GiB in `files`: peak RSS {rss} KiB (bound {bound_kib} KiB), {secs:.1} s",
        SIZE >> 30
    );
    assert!(rss < bound_kib, "peak RSS {rss} KiB over {bound_kib} KiB");
    let img = cargo_slim::validate::validate_tarball(&out).unwrap();
    let f = img
        .layers
        .iter()
        .flat_map(|l| &l.files)
        .find(|f| f.path == "var/big.img")
        .expect("the big file is in a layer");
    assert_eq!(f.size, SIZE);
}

#[test]
fn long_names_load_in_podman_list_in_gnu_tar_and_verify() {
    let krate = copy_fixture("service");
    let public = krate.path().join("public");
    let n101 = format!("{}.txt", "a".repeat(97));
    let n255 = "b".repeat(255);
    let deep_dir = ["c".repeat(100), "d".repeat(100), "e".repeat(100)].join("/");
    std::fs::create_dir_all(public.join(&deep_dir)).unwrap();
    for (rel, body) in [(&n101, "101"), (&n255, "255")] {
        std::fs::write(public.join(rel), body).unwrap();
    }
    std::fs::write(public.join(&deep_dir).join("f.txt"), "deep").unwrap();
    let long_bin = format!("/opt/{}/service", "p".repeat(120));
    let manifest = krate.path().join("Cargo.toml");
    add_metadata(
        &manifest,
        &format!("path = \"{long_bin}\"\ntag = \"localhost/slim-long-names:1\""),
    );
    let out = krate.path().join("long.tar");
    run_ok(
        slim(&["build", "--manifest-path"])
            .arg(&manifest)
            .arg("-o")
            .arg(&out),
    );
    let want = [
        format!("public/{n101}"),
        format!("public/{n255}"),
        format!("public/{deep_dir}/f.txt"),
        long_bin.trim_start_matches('/').to_string(),
    ];
    assert!(want[2].len() > 256);

    // Our own readers: verify (lenient) and the strict validator.
    let v = slim(&["verify"]).arg(&out).output().unwrap();
    assert!(v.status.success(), "verify: {}", text(&v.stderr));
    let img = cargo_slim::oci::Archive::open(
        std::fs::File::open(&out).unwrap(),
        cargo_slim::oci::Strictness::Strict,
    )
    .unwrap()
    .image(None)
    .unwrap();
    assert_eq!(img.config["config"]["Entrypoint"][0], long_bin.as_str());

    // GNU tar reads the PAX names.
    if have("tar") {
        let x = tempfile::tempdir().unwrap();
        run_ok(
            Command::new("tar")
                .arg("-xf")
                .arg(&out)
                .arg("-C")
                .arg(x.path()),
        );
        let mut listed = String::new();
        for blob in std::fs::read_dir(x.path().join("blobs/sha256")).unwrap() {
            let blob = blob.unwrap().path();
            let o = Command::new("tar").arg("-tzf").arg(&blob).output().unwrap();
            if o.status.success() {
                listed.push_str(&text(&o.stdout));
            }
        }
        for w in &want {
            assert!(
                listed.lines().any(|l| l == w),
                "GNU tar does not list {w}:\n{listed}"
            );
        }
    }
    if !(have("podman") && have("skopeo")) {
        return;
    }
    let inspect = run_ok(
        Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci-archive:{}", out.display())),
    );
    assert!(text(&inspect.stdout).contains("\"Layers\""));
    let tag = "localhost/slim-long-names:1";
    run_ok(Command::new("podman").args(["load", "-i"]).arg(&out));
    let run = Command::new("podman")
        .args(["run", "--rm", "--runtime", "runc", tag])
        .output()
        .unwrap();
    let _ = Command::new("podman").args(["rmi", "-f", tag]).output();
    let said = text(&run.stdout);
    assert!(run.status.success(), "{said}\n{}", text(&run.stderr));
    for name in [&n101, &n255] {
        assert!(
            said.contains(name.as_str()),
            "podman's container lists no {name}: {said}"
        );
    }
    assert!(said.contains(&format!("{deep_dir}/f.txt")), "{said}");
}
