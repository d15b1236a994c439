//! Robustness of the archive reader: thousands of mutated image tarballs
//! (bit flips, truncations, tar header fields rewritten with a valid
//! checksum, JSON-ish junk) must each give a verdict or a clean error,
//! never a panic, from the lenient reader (verify) and the strict one
//! (validate). `VERIFY_FUZZ_ITERS=N` runs N mutations per base archive.

use std::collections::BTreeMap;

use cargo_slim::verify::verify_bytes_uncaught;

use super::elf_bytes;
use super::images::{docker_archive, layer_tar, slim_tarball, spec, E};

use crate::support::XorShift;

/// Offsets of 512-byte blocks that are valid tar headers (outer ones, and
/// the inner headers of uncompressed layers, which are 512-aligned too).
fn header_offsets(b: &[u8]) -> Vec<usize> {
    (0..b.len() / 512)
        .map(|i| i * 512)
        .filter(|&o| cargo_slim::oci::looks_like_tar(&b[o..]))
        .collect()
}

fn fix_checksum(b: &mut [u8], h: usize) {
    if h + 512 > b.len() {
        return;
    }
    b[h + 148..h + 156].fill(b' ');
    let sum: u32 = b[h..h + 512].iter().map(|&x| u32::from(x)).sum();
    let s = format!("{sum:06o}\0 ");
    b[h + 148..h + 156].copy_from_slice(s.as_bytes());
}

fn mutate(rng: &mut XorShift, base: &[u8], headers: &[usize]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = b.len();
        if len == 0 {
            break;
        }
        match rng.below(7) {
            0 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(len);
                    b[i] ^= 1 << rng.below(8);
                }
            }
            1 => b.truncate(rng.below(len)),
            // A header field rewritten with a valid checksum, so the tar
            // parser gets past the checksum and meets the odd value.
            2..=4 if !headers.is_empty() => {
                let h = headers[rng.below(headers.len())];
                let fields: &[(usize, usize)] = &[
                    (0, 100),
                    (100, 8),
                    (108, 8),
                    (116, 8),
                    (124, 12),
                    (156, 1),
                    (157, 100),
                    (345, 155),
                ];
                let (off, width) = fields[rng.below(fields.len())];
                let val: Vec<u8> = match rng.below(6) {
                    0 => format!("{:o}", rng.next() % (1 << 33)).into_bytes(),
                    1 => b"77777777777".to_vec(),
                    2 => vec![b"0125LKxgSD\0"[rng.below(11)]],
                    3 => b"../../etc/passwd".to_vec(),
                    4 => vec![
                        0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    ],
                    _ => (0..width).map(|_| rng.next() as u8).collect(),
                };
                let n = val.len().min(width);
                if h + off + n <= len {
                    b[h + off..h + off + n].copy_from_slice(&val[..n]);
                    if n < width && h + off + n < len {
                        b[h + off + n] = 0;
                    }
                    fix_checksum(&mut b, h);
                }
            }
            5 => {
                // Overwrite a run inside JSON-ish text, if any.
                let start = rng.below(len);
                let end = (start + 1 + rng.below(12)).min(len);
                let junk = b"{}[]\",:0-9ez\\ \0";
                for x in &mut b[start..end] {
                    *x = junk[rng.below(junk.len())];
                }
            }
            _ => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                for x in &mut b[start..end] {
                    *x = rng.next() as u8;
                }
            }
        }
    }
    b
}

/// An image whose one layer (uncompressed, so its headers get mutated too) holds
/// the binary and names only PAX records can carry: 101 and 255 bytes, a 300-byte path.
fn pax_image(binary: &[u8]) -> Vec<u8> {
    use cargo_slim::image::{layers::Node, LayerBuilder};
    use std::io::Read;
    let deep = format!(
        "/{}/f",
        ["c".repeat(100), "d".repeat(100), "e".repeat(100)].join("/")
    );
    let nodes = [
        Node::file("/app", 0o555, binary.to_vec()),
        Node::file(format!("/p/{}", "a".repeat(101)), 0o444, b"101".to_vec()),
        Node::file(format!("/p/{}", "b".repeat(255)), 0o444, b"255".to_vec()),
        Node::file(deep, 0o444, b"deep".to_vec()),
    ];
    let built = LayerBuilder::nodes(&nodes).unwrap();
    let layer = built.build(&Default::default(), None).unwrap().layer;
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&layer.blob.bytes().unwrap()[..])
        .read_to_end(&mut plain)
        .unwrap();
    cargo_slim::testing::image_with_layer(&plain)
}

#[test]
fn mutated_archives_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let stat = elf_bytes("static");
    let ours = std::fs::read(slim_tarball(
        dir.path(),
        &[("/app", 0o555, &stat)],
        &spec("/app", "65532"),
        "amd64",
    ))
    .unwrap();
    let layer = layer_tar(&[
        E::Dir("bin/"),
        E::File("bin/real", 0o755, &stat),
        E::Link("app", "bin/real"),
        E::File(".wh.x", 0o644, b""),
    ]);
    let docker = docker_archive(&["/app"], "0", &[layer, layer_tar(&[E::Link("a", "a")])]);
    let bases = [
        ("slim", ours),
        ("docker", docker),
        ("pax", pax_image(&stat)),
    ];

    let per_base: usize = std::env::var("VERIFY_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let mut total = 0;
    let mut outcomes = BTreeMap::new();
    for (n, (name, base)) in bases.iter().enumerate() {
        let r = verify_bytes_uncaught(name, base, None);
        assert!(r.passed(), "{name}: {:?}", r.errors);
        let headers = header_offsets(base);
        assert!(headers.len() > 4, "{name}: {headers:?}");
        let mut rng =
            XorShift(0x0dd_ba11_5eed ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for i in 0..per_base {
            let input = mutate(&mut rng, base, &headers);
            // The strict reader (validate, report, push) meets the same inputs.
            let strict = std::panic::catch_unwind(|| {
                let _ = cargo_slim::validate::validate_reader(input.as_slice());
            });
            if strict.is_err() {
                let dump = std::env::temp_dir().join(format!("validate-panic-{name}-{i}.tar"));
                std::fs::write(&dump, &input).unwrap();
                panic!(
                    "validate panicked on mutation {i} of {name}; input saved to {}",
                    dump.display()
                );
            }
            match std::panic::catch_unwind(|| verify_bytes_uncaught(name, &input, None)) {
                Ok(r) => {
                    let key: String = if r.passed() {
                        "passed".into()
                    } else {
                        let what = &r.errors[0].what;
                        let what = what.strip_prefix(&format!("`{name}`: ")).unwrap_or(what);
                        what.chars().take(36).collect()
                    };
                    *outcomes.entry(key).or_insert(0) += 1;
                    // Every failure renders as a non-empty sentence.
                    assert!(r.errors.iter().all(|e| !e.what.is_empty()));
                    let _ = r.to_json().to_string();
                }
                Err(_) => {
                    let dump = std::env::temp_dir().join(format!("verify-panic-{name}-{i}.tar"));
                    std::fs::write(&dump, &input).unwrap();
                    panic!(
                        "verify panicked on mutation {i} of {name}; input saved to {}",
                        dump.display()
                    );
                }
            }
            total += 1;
        }
        // Every truncation point of the outer headers' region, too.
        for cut in (0..base.len().min(8192)).step_by(61) {
            let _ = verify_bytes_uncaught(name, &base[..cut], None);
            total += 1;
        }
    }
    assert!(total >= 1000, "only {total} inputs");
    eprintln!("{total} mutated archives: {outcomes:#?}");
    assert!(
        outcomes.len() > 5,
        "mutations should reach different checks: {outcomes:?}"
    );
}

// Inputs that once crashed the binary: a tar header whose size field runs far
// past the end of the file (`memory allocation of 68719476736 bytes failed`,
// exit 134), and an index that lists itself. push, report and verify must each
// exit 1 with an error naming the entry, quickly, before any connection.

/// How a forged size is written into a 12-byte size field.
#[derive(Clone, Copy, Debug)]
enum Forge {
    /// 2^36 in GNU base-256 (first byte 0x80).
    Base256,
    /// 8 GiB as twelve octal digits, no terminator.
    Octal8GiB,
}

/// `tar` with the size field of the outer entry `name` forged.
fn forge_size(tar: &[u8], name: &str, how: Forge) -> Vec<u8> {
    let mut b = tar.to_vec();
    let mut ar = tar::Archive::new(tar);
    let pos = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path_bytes().as_ref() == name.as_bytes())
        .map(|e| e.raw_header_position() as usize)
        .unwrap_or_else(|| panic!("no entry {name}"));
    let field = &mut b[pos + 124..pos + 136];
    match how {
        Forge::Base256 => {
            field.fill(0);
            field[0] = 0x80;
            field[7] = 0x10; // 2^36 = 0x10_0000_0000 in the last 8 bytes, big-endian
        }
        Forge::Octal8GiB => field.copy_from_slice(b"100000000000"),
    }
    fix_checksum(&mut b, pos);
    b
}

/// A cargo-slim tarball whose `index.json` points at an index that lists itself.
fn self_referring_index(base: &[u8]) -> Vec<u8> {
    let digest = format!("sha256:{}", "e".repeat(64));
    let looping = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": 1,
        }],
    });
    let looping = serde_json::to_vec(&looping).unwrap();
    let mut out = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(base);
    let mut first_header = None;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if name == "index.json" {
            data = looping.clone();
        }
        let mut h = e.header().clone();
        first_header.get_or_insert_with(|| h.clone());
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.append_data(&mut h, &name, data.as_slice()).unwrap();
    }
    // The looping index as a blob, with the same header fields as the others.
    let mut h = first_header.unwrap();
    h.set_size(looping.len() as u64);
    h.set_cksum();
    out.append_data(
        &mut h,
        format!("blobs/sha256/{}", "e".repeat(64)),
        looping.as_slice(),
    )
    .unwrap();
    out.into_inner().unwrap()
}

/// Run `cargo slim ARGS`, require exit 1 within a few seconds, one clean
/// error naming `needle`, and no panic or abort.
fn exits_1_naming(args: &[&str], needle: &str) {
    let started = std::time::Instant::now();
    let out = crate::support::slim(args)
        .env_remove("CARGO_SLIM_REGISTRY_PASSWORD")
        .env(
            "DOCKER_CONFIG",
            std::env::temp_dir().join("no-docker-config"),
        )
        .output()
        .expect("spawn");
    let took = started.elapsed();
    let stderr = crate::support::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(!stderr.contains("memory allocation"), "{args:?}: {stderr}");
    assert!(!stderr.contains("stack backtrace"), "{args:?}: {stderr}");
    assert!(stderr.contains("error:"), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?} should name {needle}: {stderr}"
    );
    assert!(took.as_secs() < 20, "{args:?} took {took:?}");
}

#[test]
fn forged_sizes_and_self_referring_indexes_exit_1_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let stat = elf_bytes("static");
    let good = slim_tarball(
        dir.path(),
        &[("/app", 0o555, &stat)],
        &spec("/app", "65532"),
        "amd64",
    );
    let base = std::fs::read(&good).unwrap();
    // The last outer entry is the manifest blob; the fourth is the config.
    let names: Vec<String> = tar::Archive::new(base.as_slice())
        .entries()
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
        .collect();
    let config = names[3].clone();
    let manifest = names.last().unwrap().clone();

    let mut cases: Vec<(String, Vec<u8>, String)> = Vec::new();
    for how in [Forge::Base256, Forge::Octal8GiB] {
        for entry in ["index.json", config.as_str(), manifest.as_str()] {
            cases.push((
                format!("{how:?} size on {entry}"),
                forge_size(&base, entry, how),
                format!("`{entry}`"),
            ));
        }
    }
    cases.push((
        "self-referring index".into(),
        self_referring_index(&base),
        format!("blobs/sha256/{}", "e".repeat(64)),
    ));
    for (i, (what, bytes, needle)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.tar"));
        std::fs::write(&path, bytes).unwrap();
        let p = path.to_str().unwrap();
        eprintln!("case {i}: {what}");
        exits_1_naming(&["verify", p], needle);
        exits_1_naming(&["report", p], needle);
        exits_1_naming(&["push", p, "127.0.0.1:1/x:1"], needle);
    }
}
