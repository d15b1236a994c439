//! The allocator: `auto` links mimalloc in place of musl's malloc into
//! a tokio multi-thread service and leaves a single-threaded program on musl's;
//! a program's own `#[global_allocator]` is kept; `musl` keeps musl's. What the
//! report says is checked against the binary itself (`nm` on the unstripped file)
//! and against the running program: mimalloc prints its banner under
//! `MIMALLOC_VERBOSE=1`, musl's malloc prints nothing. Images run in podman from
//! the tarball (`oci-archive:`), arm64 under qemu.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::*;

/// The `image-built` JSON line of a build's stdout.
fn built(o: &Output) -> Value {
    text(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["reason"] == "image-built")
        .unwrap_or_else(|| panic!("no image-built line:\n{}", text(&o.stdout)))
}

/// `nm` of `binary`: symbol name → address.
fn symbols(binary: &Path) -> std::collections::HashMap<String, String> {
    let o = run_ok(Command::new("nm").arg(binary));
    text(&o.stdout)
        .lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            let (addr, _, name) = (p.next()?, p.next()?, p.next()?);
            Some((name.to_string(), addr.to_string()))
        })
        .collect()
}

/// Run the image in `tar` with `MIMALLOC_VERBOSE=1`: (stdout, stderr).
fn run_image(tar: &Path, platform: &str) -> (String, String) {
    let o = run_ok(Command::new("podman").args([
        "run",
        "--rm",
        "--runtime",
        "runc",
        "--platform",
        platform,
        "-e",
        "MIMALLOC_VERBOSE=1",
        &format!("oci-archive:{}", tar.display()),
    ]));
    (text(&o.stdout), text(&o.stderr))
}

fn jsonapi(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--message-format", "json"];
    args.extend_from_slice(extra);
    run_ok(&mut build_fixture("jsonapi", out, &args))
}

/// The unstripped binary cargo left for the host's musl target.
fn unstripped() -> std::path::PathBuf {
    fixture_target_dir().join("x86_64-unknown-linux-musl/release/jsonapi")
}

/// One test for every x86 build of the fixture: they share the file cargo leaves.
#[test]
fn auto_links_mimalloc_into_a_threaded_service_and_every_other_choice_holds() {
    if !have("podman") || !have("nm") || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("auto.tar");

    // auto, tokio multi-thread: mimalloc, and none of musl's allocator.
    let o = jsonapi(&tar, &[]);
    let a = &built(&o)["allocator"];
    assert_eq!(a["name"], "mimalloc", "{a}");
    assert_eq!(
        a["why"], "linked by cargo-slim; auto: tokio multi-thread runtime",
        "{a}"
    );
    assert_eq!(
        (&a["malloc"], &a["present"]),
        (&"mimalloc".into(), &serde_json::json!(["mimalloc"]))
    );
    let human = run_ok(&mut slim(&["report", tar.to_str().unwrap()]));
    let human = format!("{}{}", text(&human.stdout), text(&human.stderr));
    assert!(
        human.contains(
            "allocator: mimalloc (linked by cargo-slim; auto: tokio multi-thread runtime)"
        ),
        "{human}"
    );
    let syms = symbols(&unstripped());
    for musl in ["__libc_malloc_impl", "alloc_slot"] {
        assert!(!syms.contains_key(musl), "musl's `{musl}` is in the binary");
    }
    assert_eq!(
        syms.get("malloc"),
        syms.get("mi_malloc"),
        "malloc is mimalloc's"
    );
    let (out, err) = run_image(&tar, "linux/amd64");
    assert!(out.contains("jsonapi: 200 items, /ok says ok"), "{out}");
    assert!(
        err.contains("mimalloc: process init"),
        "mimalloc serves malloc:\n{err}"
    );
    let digest = built(&o)["manifest_digest"].clone();

    // The same source elsewhere, in another target dir: the same digest.
    let copy = copy_fixture_in("jsonapi", &fixture_target_dir().join("alloc-copy"));
    let elsewhere = dir.path().join("elsewhere.tar");
    let o = run_ok(&mut slim(&[
        "build",
        "--message-format",
        "json",
        "--manifest-path",
        copy.path().join("Cargo.toml").to_str().unwrap(),
        "--target-dir",
        copy.path().join("target").to_str().unwrap(),
        "-o",
        elsewhere.to_str().unwrap(),
    ]));
    assert_eq!(
        built(&o)["manifest_digest"],
        digest,
        "reproducible with mimalloc"
    );

    // allocator = musl: musl's malloc is the one called, and a note says the cost.
    let musl = dir.path().join("musl.tar");
    let o = jsonapi(&musl, &["--allocator", "musl"]);
    let a = &built(&o)["allocator"];
    assert_eq!(
        (&a["name"], &a["malloc"]),
        (&"musl".into(), &"musl".into()),
        "{a}"
    );
    assert!(
        text(&o.stderr).contains("slow under contention"),
        "{}",
        text(&o.stderr)
    );
    let syms = symbols(&unstripped());
    assert!(syms.contains_key("__libc_malloc_impl") && !syms.contains_key("mi_malloc"));
    let (out, err) = run_image(&musl, "linux/amd64");
    assert!(out.contains("jsonapi: 200 items"), "{out}");
    assert!(
        !err.contains("mimalloc"),
        "musl's malloc prints nothing:\n{err}"
    );

    // The program's own #[global_allocator] is kept; mimalloc next to it refused.
    let own = dir.path().join("own.tar");
    let o = jsonapi(&own, &["--features", "own"]);
    let a = &built(&o)["allocator"];
    assert_eq!(a["name"], "mimalloc", "{a}");
    assert!(
        a["why"]
            .as_str()
            .unwrap()
            .contains("own #[global_allocator], crate mimalloc; malloc: musl"),
        "{a}"
    );
    assert_eq!(a["malloc"], "musl", "{a}");
    let o = run_code(
        &mut build_fixture(
            "jsonapi",
            &own,
            &["--features", "own", "--allocator", "mimalloc"],
        ),
        1,
    );
    assert!(
        text(&o.stderr).contains("has its own global allocator (crate `mimalloc`)"),
        "{}",
        text(&o.stderr)
    );

    // Presets, non-PIE and UPX: still mimalloc, still starts.
    for (name, extra) in [
        ("size", &["--opt", "size", "--no-static-pie"][..]),
        ("min", &["--opt", "min", "--upx"][..]),
    ] {
        if extra.contains(&"--upx") && !have("upx") {
            continue;
        }
        let t = dir.path().join(format!("{name}.tar"));
        let o = jsonapi(&t, extra);
        assert_eq!(built(&o)["allocator"]["malloc"], "mimalloc", "{name}");
        let (out, err) = run_image(&t, "linux/amd64");
        assert!(out.contains("jsonapi: 200 items"), "{name}: {out}");
        assert!(err.contains("mimalloc: process init"), "{name}:\n{err}");
    }
}

#[test]
fn a_single_threaded_program_keeps_musl() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("hello.tar");
    let o = run_ok(&mut build_fixture(
        "hello",
        &tar,
        &["--message-format", "json"],
    ));
    let a = &built(&o)["allocator"];
    assert_eq!(a["name"], "musl", "{a}");
    assert!(
        a["why"]
            .as_str()
            .unwrap()
            .contains("auto: no multi-threaded runtime"),
        "{a}"
    );
    assert_eq!(a["malloc"], "musl");
}

#[test]
fn arm64_gets_mimalloc_built_by_zig_and_jemalloc_is_told_64k_pages() {
    if !have("podman") || !have("cargo-zigbuild") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("arm.tar");
    let o = jsonapi(&tar, &["--platform", "linux/arm64", "--features", "lgpage"]);
    let a = &built(&o)["allocator"];
    assert_eq!(
        (&a["name"], &a["malloc"]),
        (&"mimalloc".into(), &"mimalloc".into()),
        "{a}"
    );
    let err = text(&o.stderr);
    assert!(err.contains("JEMALLOC_SYS_WITH_LG_PAGE=16"), "{err}");
    let (out, err) = run_image(&tar, "linux/arm64");
    assert!(out.contains("jsonapi: 200 items"), "{out}");
    assert!(
        out.contains("jsonapi: lg_page=16"),
        "the build script saw it:\n{out}"
    );
    assert!(err.contains("mimalloc: process init"), "{err}");
}
