//! Generates the fixture's data tables into OUT_DIR, deterministically.
//!
//! The goal is a binary that is mostly *realistic* read-only data: it must survive
//! `strip` (so no debug info) and compress like a real executable does with
//! `gzip -6` (whole file ~40 %, each table 30–75 %: not all zeros, not pure
//! noise). Five tables, shaped and weighted like the sections of a real static
//! Rust executable (mostly code, then strings, then tables and relocations):
//!
//! * `code.bin`      ~10 MiB: an x86-64-like instruction stream drawn from common
//!   opcode templates with random registers, displacements and call targets,
//!   a third of the functions near-copies of recent ones (monomorphisation).
//! * `messages.txt`  ~6 MiB: log/diagnostic lines built from a Zipf-weighted
//!   vocabulary, identifiers, paths and numbers (compresses like `.rodata` strings).
//! * `records.bin`   ~3 MiB: 32-byte little-endian structs (sequential ids, skewed
//!   enums, sparse flags, fixed-point random-walk coordinates, a full-entropy
//!   hash, offsets and counts).
//! * `relocs.bin`    ~2 MiB: `.rela.dyn`-style `R_X86_64_RELATIVE` entries and
//!   `.data.rel.ro`-style `&str` (pointer, length) pairs.
//! * `lut.bin`       ~1 MiB: quantised curves and CRC/permutation tables.
//!
//! Everything comes from one xorshift generator with a fixed seed, so every run
//! writes the same bytes (the only floating point is `powf`/`sin`/`exp` from the
//! host's libm, which could in principle round differently on another libc).
//! Generation takes about 0.15 s.

use std::env;
use std::fs;
use std::path::PathBuf;

const MIB: usize = 1 << 20;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
    /// Roughly Zipf-distributed index in 0..n (small indices far more likely).
    fn zipf(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let x = (n as f64 + 1.0).powf(u) - 1.0;
        (x as usize).min(n - 1)
    }
}

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "the", "a", "to", "of", "in", "is", "not", "for", "with", "could", "failed", "error",
    "value", "request", "response", "connection", "file", "path", "buffer", "expected",
    "found", "index", "out", "bounds", "invalid", "utf", "sequence", "timeout", "after",
    "retry", "client", "server", "header", "length", "missing", "field", "while",
    "parsing", "configuration", "unknown", "variant", "type", "argument", "called",
    "unwrap", "on", "none", "option", "result", "closed", "stream", "unexpected", "end",
    "input", "permission", "denied", "resource", "temporarily", "unavailable", "address",
    "already", "use", "broken", "pipe", "would", "block", "interrupted", "operation",
    "cancelled", "deadline", "exceeded", "schema", "version", "mismatch", "table",
    "column", "row", "transaction", "rollback", "commit", "lock", "poisoned", "thread",
    "panicked", "at", "task", "spawned", "runtime", "shutdown", "signal", "received",
    "certificate", "verify", "handshake", "protocol", "tls", "alert", "cipher", "key",
    "token", "expired", "scope", "user", "group", "role", "policy", "allow", "deny",
    "cache", "hit", "miss", "evicted", "entry", "bytes", "capacity", "limit", "queue",
    "full", "empty", "drained", "worker", "pool", "idle", "busy", "metrics", "exported",
    "span", "trace", "level", "debug", "info", "warn", "compressed", "encoding", "gzip",
    "chunked", "body", "json", "yaml", "toml", "serialize", "deserialize", "struct",
    "enum", "map", "sequence", "string", "integer", "float", "boolean", "null",
];
const MODULES: &[&str] = &[
    "core", "net", "http", "db", "cache", "auth", "config", "io", "fs", "sync", "rt", "codec",
    "proto", "metrics", "trace", "store", "index", "query", "plan", "exec",
];
const LEVELS: &[&str] = &["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

fn messages(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = String::with_capacity(size + 256);
    let mut line_no = 0u32;
    while out.len() < size {
        line_no += 1;
        let level = LEVELS[rng.zipf(LEVELS.len())];
        let m1 = MODULES[rng.zipf(MODULES.len())];
        let m2 = MODULES[rng.below(MODULES.len() as u64) as usize];
        out.push_str(&format!("E{:04} [{level}] {m1}::{m2}::", rng.below(2000)));
        // a snake_case function name
        let parts = 1 + rng.below(3);
        for i in 0..parts {
            if i > 0 {
                out.push('_');
            }
            out.push_str(WORDS[rng.zipf(WORDS.len())]);
        }
        out.push_str(": ");
        let n = 4 + rng.below(10);
        for i in 0..n {
            if i > 0 {
                out.push(' ');
            }
            match rng.below(16) {
                0 => out.push_str(&format!("{}", rng.below(100_000))),
                1 => out.push_str(&format!("0x{:08x}", rng.next() as u32)),
                2 => out.push_str(&format!(
                    "`src/{}/{}.rs:{}`",
                    MODULES[rng.zipf(MODULES.len())],
                    WORDS[rng.zipf(WORDS.len())],
                    rng.below(3000)
                )),
                _ => out.push_str(WORDS[rng.zipf(WORDS.len())]),
            }
        }
        out.push_str(&format!(" (#{line_no})\n"));
    }
    out.truncate(size);
    out.into_bytes()
}

fn records(rng: &mut Rng, size: usize, text_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    // coordinates as fixed-point micro-degrees, moving in a random walk
    let (mut lat, mut lon) = (48_137_000i32, 11_575_000i32);
    let mut id = 1000u32;
    let mut name_off = 0u32;
    while out.len() + 32 <= size {
        id += 1 + (rng.below(8) == 0) as u32 * rng.below(16) as u32;
        let parent = id.saturating_sub(1 + rng.zipf(500) as u32);
        let kind = rng.zipf(40) as u16;
        let mut flags = 0u16;
        for _ in 0..rng.below(3) {
            flags |= 1 << rng.zipf(16);
        }
        lat += rng.below(101) as i32 - 50;
        lon += rng.below(101) as i32 - 50;
        let hash = rng.next() as u32;
        // records are sorted by name: offsets into the text only move forward
        name_off = (name_off + rng.zipf(256) as u32) % text_len as u32;
        let count = rng.zipf(1 << 10) as u32;
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&parent.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&lat.to_le_bytes());
        out.extend_from_slice(&lon.to_le_bytes());
        out.extend_from_slice(&hash.to_le_bytes());
        out.extend_from_slice(&name_off.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
    }
    out.resize(size, 0);
    out
}

/// An x86-64-shaped instruction stream: common templates, random operands.
fn code(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    while out.len() < size {
        // Generic code is monomorphised many times: a third of the functions are
        // near-copies of a recent one.
        if out.len() > 4096 && rng.below(3) == 0 {
            let len = 64 + rng.zipf(1024);
            let back = len + rng.zipf(16 * 1024);
            if back < out.len() {
                let start = out.len() - back;
                let copy: Vec<u8> = out[start..start + len].to_vec();
                out.extend_from_slice(&copy);
                // patch a few displacements, as a different type would
                for _ in 0..rng.below(4) {
                    let i = out.len() - 1 - rng.below(len as u64) as usize;
                    out[i] = rng.next() as u8;
                }
                continue;
            }
        }
        // function prologue
        out.extend_from_slice(&[0x55, 0x48, 0x89, 0xe5, 0x41, 0x57, 0x41, 0x56, 0x53]);
        let body = 8 + rng.zipf(200);
        for _ in 0..body {
            let reg = rng.below(8) as u8;
            let reg2 = rng.below(8) as u8;
            match rng.zipf(14) {
                0 => out.extend_from_slice(&[0x48, 0x89, 0xc0 | reg << 3 | reg2]), // mov r,r
                1 => {
                    // mov r, [rbp+disp8]
                    out.extend_from_slice(&[
                        0x48,
                        0x8b,
                        0x45 | reg << 3,
                        (rng.zipf(64) as u8 * 8).wrapping_neg(),
                    ]);
                }
                2 => {
                    // call rel32 (targets cluster: nearby functions)
                    out.push(0xe8);
                    let rel = (rng.zipf(1 << 20) as i32 - (1 << 19)) * 16;
                    out.extend_from_slice(&rel.to_le_bytes());
                }
                3 => {
                    // mov [rsp+disp8], r
                    out.extend_from_slice(&[
                        0x48,
                        0x89,
                        0x44 | reg << 3,
                        0x24,
                        rng.zipf(32) as u8 * 8,
                    ]);
                }
                4 => {
                    // test r,r ; jcc rel8
                    out.extend_from_slice(&[0x48, 0x85, 0xc0 | reg << 3 | reg]);
                    out.extend_from_slice(&[0x74 + rng.below(4) as u8, rng.below(120) as u8]);
                }
                5 => {
                    // lea r, [rip+disp32]
                    out.extend_from_slice(&[0x48, 0x8d, 0x05 | reg << 3]);
                    out.extend_from_slice(&(rng.next() as u32 & 0x003f_fff0).to_le_bytes());
                }
                6 => out.extend_from_slice(&[0x31, 0xc0 | reg << 3 | reg]), // xor r,r
                7 => {
                    // add/sub r, imm8
                    out.extend_from_slice(&[
                        0x48,
                        0x83,
                        0xc0 | (rng.below(2) as u8 * 5) << 3 | reg,
                        rng.zipf(128) as u8,
                    ]);
                }
                8 => {
                    // mov r32, imm32
                    out.push(0xb8 | reg);
                    out.extend_from_slice(&(rng.zipf(1 << 16) as u32).to_le_bytes());
                }
                9 => {
                    // cmp r, imm8 ; jcc rel32
                    out.extend_from_slice(&[0x48, 0x83, 0xf8 | reg, rng.zipf(64) as u8]);
                    out.extend_from_slice(&[0x0f, 0x84 + rng.below(4) as u8]);
                    out.extend_from_slice(&(rng.below(4096) as u32).to_le_bytes());
                }
                10 => out.extend_from_slice(&[0x0f, 0x1f, 0x44, 0x00, 0x00]), // nop
                11 => {
                    // movups xmm, [r+disp8]
                    out.extend_from_slice(&[
                        0x0f,
                        0x10,
                        0x40 | reg << 3 | reg2,
                        rng.zipf(16) as u8 * 16,
                    ]);
                }
                12 => out.extend_from_slice(&[0x4c, 0x89, 0xc0 | reg << 3 | reg2]),
                _ => {
                    // push/pop pairs
                    out.extend_from_slice(&[0x50 | reg, 0x58 | reg]);
                }
            }
        }
        // epilogue + padding to 16
        out.extend_from_slice(&[0x5b, 0x41, 0x5e, 0x41, 0x5f, 0x5d, 0xc3]);
        while out.len() % 16 != 0 {
            out.push(0xcc);
        }
    }
    out.truncate(size);
    out
}

fn lut(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    // CRC-32 tables for a handful of polynomials (u32 each)
    for poly in [0xedb8_8320u32, 0x82f6_3b78, 0xeb31_d82e, 0xd5828281] {
        for n in 0..256u32 {
            let mut c = n;
            for _ in 0..8 {
                c = if c & 1 != 0 { poly ^ (c >> 1) } else { c >> 1 };
            }
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    let mut k = 0u32;
    while out.len() < size {
        k += 1;
        match k % 6 {
            // quantised sine/exp curves with a little noise (i16)
            0 | 3 => {
                let f = 1.0 + rng.below(64) as f64;
                for i in 0..4096 {
                    let x = i as f64 / 4096.0;
                    let y = (x * f).sin() * (-x * 2.0).exp() * 30000.0 + rng.below(3) as f64 - 1.0;
                    out.extend_from_slice(&(y as i16).to_le_bytes());
                }
            }
            // permutation tables (u16), as used by hash/shuffle code
            1 => {
                let mut p: Vec<u16> = (0..4096).collect();
                for i in (1..p.len()).rev() {
                    p.swap(i, rng.below(i as u64 + 1) as usize);
                }
                for v in p {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            // monotone offset tables (u32 with small deltas)
            _ => {
                let mut v = rng.below(1 << 20) as u32;
                for _ in 0..2048 {
                    v += rng.zipf(256) as u32;
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    out.truncate(size);
    out
}

/// Relocation-shaped data: 24-byte `Elf64_Rela` entries (`r_offset` rising by a
/// word at a time, `R_X86_64_RELATIVE`, addends pointing into the image), then
/// 16-byte `&str` pairs (rising pointers into the strings, short lengths).
fn relocs(rng: &mut Rng, size: usize) -> Vec<u8> {
    const BASE: u64 = 0x0040_0000;
    let mut out = Vec::with_capacity(size);
    let mut offset = BASE + 0x0180_0000;
    while out.len() + 24 <= size / 2 {
        offset += 8 * (1 + (rng.below(4) == 0) as u64 * rng.zipf(8) as u64);
        let addend = if rng.below(2) == 0 {
            // a function pointer (vtable slot): somewhere in .text
            BASE + 0x1000 + (rng.below(0x0100_0000) & !0xf)
        } else {
            // a pointer near the previous one (string table, static data)
            offset - 0x0080_0000 + rng.zipf(4096) as u64
        };
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&8u64.to_le_bytes());
        out.extend_from_slice(&addend.to_le_bytes());
    }
    let mut ptr = BASE + 0x0120_0000;
    while out.len() + 16 <= size {
        let len = 1 + rng.zipf(120) as u64;
        out.extend_from_slice(&ptr.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        ptr += len + rng.zipf(16) as u64;
    }
    out.resize(size, 0);
    out
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let text = messages(&mut rng, 6 * MIB);
    let rec = records(&mut rng, 3 * MIB, text.len());
    let code = code(&mut rng, 10 * MIB);
    let lut = lut(&mut rng, MIB);
    let relocs = relocs(&mut rng, 2 * MIB);
    for (name, data) in [
        ("messages.txt", &text),
        ("records.bin", &rec),
        ("code.bin", &code),
        ("lut.bin", &lut),
        ("relocs.bin", &relocs),
    ] {
        fs::write(out_dir.join(name), data).expect("write generated table");
    }
}
