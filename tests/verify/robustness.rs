//! Robustness of the archive reader: thousands of mutated image tarballs
//! (bit flips, truncations, tar header fields rewritten with a valid
//! checksum, JSON-ish junk) must each give a verdict or a clean error,
//! never a panic. `VERIFY_FUZZ_ITERS=N` runs N mutations per base archive.

use std::collections::BTreeMap;

use cargo_slim::verify::verify_bytes_uncaught;

use super::elf_bytes;
use super::images::{docker_archive, layer_tar, slim_tarball, spec, E};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

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
    let bases = [("slim", ours), ("docker", docker)];

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
