//! cargo-slim's pack-benchmark fixture.
//!
//! A small program over ~22 MiB of embedded tables (written by `build.rs`), so its
//! static release binary is ≥ 20 MB of code and data that `strip` cannot remove and
//! that compresses like a real executable. The program really reads every table,
//! so none of them can be optimised away:
//!
//! ```text
//! big                 summary: table sizes and checksums
//! big record N        print record N
//! big grep WORD       count message lines containing WORD
//! big lut N           print entry N of the lookup tables
//! ```

use std::collections::BTreeMap;
use std::env;
use std::process::ExitCode;

static MESSAGES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/messages.txt"));
static RECORDS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/records.bin"));
static CODE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/code.bin"));
static LUT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lut.bin"));
static RELOCS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/relocs.bin"));

const RECORD_SIZE: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Record {
    id: u32,
    parent: u32,
    kind: u16,
    flags: u16,
    lat_micro: i32,
    lon_micro: i32,
    hash: u32,
    name_off: u32,
    count: u32,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}

fn record(n: usize) -> Option<Record> {
    let b = RECORDS.get(n * RECORD_SIZE..(n + 1) * RECORD_SIZE)?;
    Some(Record {
        id: u32_at(b, 0),
        parent: u32_at(b, 4),
        kind: u16_at(b, 8),
        flags: u16_at(b, 10),
        lat_micro: u32_at(b, 12) as i32,
        lon_micro: u32_at(b, 16) as i32,
        hash: u32_at(b, 20),
        name_off: u32_at(b, 24),
        count: u32_at(b, 28),
    })
}

/// The message line that contains byte offset `off`.
fn line_at(off: usize) -> &'static str {
    let off = off.min(MESSAGES.len().saturating_sub(1));
    let start = MESSAGES[..off]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    let end = MESSAGES[off..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(MESSAGES.len(), |p| off + p);
    std::str::from_utf8(&MESSAGES[start..end]).unwrap_or("<not utf-8>")
}

/// FNV-1a over a whole table, eight bytes at a time.
fn checksum(data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        h ^= u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    for &b in chunks.remainder() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Rough opcode histogram of the code table (first byte of each 16-byte slot).
fn opcode_histogram() -> BTreeMap<u8, usize> {
    let mut m = BTreeMap::new();
    for slot in CODE.chunks(16) {
        *m.entry(slot[0]).or_insert(0) += 1;
    }
    m
}

fn summary() {
    let tables: [(&str, &[u8]); 5] = [
        ("messages", MESSAGES),
        ("records", RECORDS),
        ("code", CODE),
        ("lut", LUT),
        ("relocs", RELOCS),
    ];
    let mut total = 0;
    for (name, data) in tables {
        total += data.len();
        println!(
            "{name:<9} {:>9} bytes  fnv {:016x}",
            data.len(),
            checksum(data)
        );
    }
    println!("{:<9} {total:>9} bytes", "total");
    let lines = MESSAGES.iter().filter(|&&c| c == b'\n').count();
    let records = RECORDS.len() / RECORD_SIZE;
    let mut kinds = [0usize; 64];
    for n in 0..records {
        if let Some(r) = record(n) {
            kinds[usize::from(r.kind) % kinds.len()] += 1;
        }
    }
    let top = kinds
        .iter()
        .enumerate()
        .max_by_key(|&(_, c)| *c)
        .map_or(0, |(k, _)| k);
    let hist = opcode_histogram();
    let (op, n) = hist
        .iter()
        .max_by_key(|&(_, n)| *n)
        .map_or((0, 0), |(o, n)| (*o, *n));
    println!("{lines} message lines, {records} records (most common kind {top}), opcode {op:#04x} leads {n} slots");
    println!("{} relative relocations", relative_relocations());
}

/// `R_X86_64_RELATIVE` entries at the start of the relocation table.
fn relative_relocations() -> usize {
    RELOCS
        .chunks_exact(24)
        .take_while(|e| u64::from_le_bytes(e[8..16].try_into().expect("8 bytes")) == 8)
        .count()
}

fn grep(word: &str) -> usize {
    MESSAGES
        .split(|&c| c == b'\n')
        .filter(|line| line.windows(word.len()).any(|w| w == word.as_bytes()))
        .count()
}

fn run(args: &[String]) -> Result<(), String> {
    let parse = |s: Option<&String>| -> Result<usize, String> {
        s.ok_or("missing number")?
            .parse::<usize>()
            .map_err(|e| e.to_string())
    };
    match args.first().map(String::as_str) {
        None | Some("summary") => summary(),
        Some("record") => {
            let n = parse(args.get(1))?;
            let r = record(n).ok_or(format!("no record {n}"))?;
            println!("{r:?}");
            println!("name: {}", line_at(r.name_off as usize));
        }
        Some("grep") => {
            let w = args.get(1).ok_or("missing word")?;
            println!("{}", grep(w));
        }
        Some("lut") => {
            let n = parse(args.get(1))?;
            let i = (n * 2) % LUT.len();
            println!("{}", i16::from_le_bytes([LUT[i], LUT[i + 1]]));
        }
        Some(other) => return Err(format!("unknown command `{other}`")),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("big: {e}");
            ExitCode::from(2)
        }
    }
}
