//! The structural checks the ELF inspection runs on raw bytes before `goblin`
//! parses them.
//!
//! In: the file's bytes. Out: `Ok` when the file is a little-endian ELF64
//! `ET_EXEC`/`ET_DYN` whose header, program header table, every segment's
//! file bytes and section header table lie inside the file; else the
//! [`InspectError`] a user reads (empty, not ELF — naming what the file looks
//! like —, truncated, 32-bit, big-endian, not an executable, malformed). Why:
//! ordinary malformed inputs become plain errors here instead of reaching
//! goblin, whose panics are only the last line of defence.

use std::borrow::Cow;

use goblin::elf::header::{
    EI_CLASS, EI_DATA, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, ELFMAG, ET_CORE, ET_DYN,
    ET_EXEC, ET_NONE, ET_REL, SELFMAG,
};

use super::error::InspectError;

// Raw layout constants (ELF64, little-endian only: everything else is refused
// before these are used).

const EHDR64_SIZE: usize = 64;
pub(super) const PHDR64_SIZE: usize = 56;
pub(super) const SHDR64_SIZE: usize = 64;

pub(super) fn rd_u16(b: &[u8], off: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[off..off + 2]);
    u16::from_le_bytes(a)
}

pub(super) fn rd_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

pub(super) fn rd_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// Name a program header type for messages.
fn pt_name(p_type: u32) -> Cow<'static, str> {
    match p_type {
        0 => "PT_NULL".into(),
        1 => "PT_LOAD".into(),
        2 => "PT_DYNAMIC".into(),
        3 => "PT_INTERP".into(),
        4 => "PT_NOTE".into(),
        5 => "PT_SHLIB".into(),
        6 => "PT_PHDR".into(),
        7 => "PT_TLS".into(),
        0x6474_e550 => "PT_GNU_EH_FRAME".into(),
        0x6474_e551 => "PT_GNU_STACK".into(),
        0x6474_e552 => "PT_GNU_RELRO".into(),
        0x6474_e553 => "PT_GNU_PROPERTY".into(),
        other => format!("type {other:#x}").into(),
    }
}

/// Describe a non-ELF file for [`InspectError::NotElf`].
fn describe_non_elf(bytes: &[u8]) -> String {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"#!") {
        return "starts with #! (a script)".into();
    }
    if starts(&[0x1f, 0x8b]) {
        return "is a gzip file".into();
    }
    if bytes.len() >= 262 && &bytes[257..262] == b"ustar" {
        return "is a tar archive".into();
    }
    let known: &[(&[u8], &str)] = &[
        (b"!<arch>\n", "is an ar archive (a static library?)"),
        (b"PK\x03\x04", "is a zip archive"),
        (b"\xfd7zXZ\x00", "is an xz file"),
        (b"\x28\xb5\x2f\xfd", "is a zstd file"),
        (b"BZh", "is a bzip2 file"),
        (b"\0asm", "is a WebAssembly module"),
        (b"MZ", "is a Windows PE/DOS executable"),
        (b"\xcf\xfa\xed\xfe", "is a Mach-O file"),
        (b"\xce\xfa\xed\xfe", "is a Mach-O file"),
        (b"\xfe\xed\xfa\xcf", "is a Mach-O file"),
        (b"\xfe\xed\xfa\xce", "is a Mach-O file"),
        (
            b"\xca\xfe\xba\xbe",
            "is a Mach-O universal binary (or Java class file)",
        ),
    ];
    for (magic, what) in known {
        if starts(magic) {
            return (*what).into();
        }
    }
    let hex: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let mut s = format!("starts with bytes {}", hex.join(" "));
    if bytes.len() < 4 {
        s.push_str(&format!(" and is only {} bytes long", bytes.len()));
    } else if bytes[..4]
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        s.push_str(" (looks like text)");
    }
    s
}

/// Structural checks on the raw bytes: everything that can be verified
/// cheaply before handing the file to goblin. On success the file is a
/// little-endian ELF64 `ET_EXEC`/`ET_DYN` whose header, program header table,
/// every segment's file bytes, and section header table lie in the file.
pub(super) fn precheck(bytes: &[u8]) -> Result<(), InspectError> {
    check_ident(bytes)?;
    check_type(rd_u16(bytes, 16))?;
    let e_phoff = rd_u64(bytes, 0x20);
    let e_shoff = rd_u64(bytes, 0x28);
    let e_phentsize = rd_u16(bytes, 0x36);
    let e_phnum = rd_u16(bytes, 0x38);
    let e_shentsize = rd_u16(bytes, 0x3a);
    let e_shnum = rd_u16(bytes, 0x3c);
    let ph_start = program_header_table(bytes.len(), e_phoff, e_phentsize, e_phnum)?;
    check_segments(bytes, ph_start, e_phnum)?;
    check_section_header_table(bytes, e_shoff, e_shentsize, e_shnum)
}

/// Magic, class (64-bit), data encoding (little-endian), and room for the header.
fn check_ident(bytes: &[u8]) -> Result<(), InspectError> {
    let len = bytes.len();
    if len == 0 {
        return Err(InspectError::Empty);
    }
    let magic_len = len.min(SELFMAG);
    if bytes[..magic_len] != ELFMAG[..magic_len] {
        return Err(InspectError::NotElf {
            found: describe_non_elf(bytes),
        });
    }
    ident_byte(
        bytes,
        (EI_CLASS, "class"),
        format!("the file is only {len} bytes, an ELF header needs at least 52"),
        (ELFCLASS64, ELFCLASS32, InspectError::Not64Bit),
    )?;
    ident_byte(
        bytes,
        (EI_DATA, "data encoding"),
        format!("the file is only {len} bytes, an ELF64 header needs {EHDR64_SIZE}"),
        (ELFDATA2LSB, ELFDATA2MSB, InspectError::BigEndian),
    )?;
    if len < EHDR64_SIZE {
        return Err(InspectError::Truncated {
            detail: format!("the file is only {len} bytes, an ELF64 header needs {EHDR64_SIZE}"),
        });
    }
    Ok(())
}

/// The identification byte at `at` (its `name` for messages): present (else
/// `truncated`), and `good`; `other`, the one other valid value, is `refused`;
/// any other value is malformed.
fn ident_byte(
    bytes: &[u8],
    (at, name): (usize, &str),
    truncated: String,
    (good, other, refused): (u8, u8, InspectError),
) -> Result<(), InspectError> {
    match bytes.get(at) {
        None => Err(InspectError::Truncated { detail: truncated }),
        Some(&b) if b == good => Ok(()),
        Some(&b) if b == other => Err(refused),
        Some(b) => Err(InspectError::Malformed {
            detail: format!("invalid ELF {name} byte {b} (expected 1 or 2)"),
        }),
    }
}

/// `e_type` is an executable (`ET_EXEC`) or a position-independent one (`ET_DYN`).
fn check_type(e_type: u16) -> Result<(), InspectError> {
    let kind = match e_type {
        ET_EXEC | ET_DYN => return Ok(()),
        ET_REL => "a relocatable object file (ET_REL), not a linked program".into(),
        ET_CORE => "a core dump (ET_CORE)".into(),
        ET_NONE => "an ELF file of no type (ET_NONE)".into(),
        other => format!("an ELF file of unknown or OS-specific type (e_type {other:#x})"),
    };
    Err(InspectError::NotExecutable { kind })
}

/// The program header table: present, of ELF64 entries, inside a file of
/// `len` bytes. Returns its offset.
fn program_header_table(
    len: usize,
    e_phoff: u64,
    e_phentsize: u16,
    e_phnum: u16,
) -> Result<usize, InspectError> {
    if e_phnum == 0 {
        return Err(InspectError::Malformed {
            detail: "the executable has no program headers (e_phnum is 0), so nothing would be \
                     loaded"
                .into(),
        });
    }
    if usize::from(e_phentsize) != PHDR64_SIZE {
        return Err(InspectError::Malformed {
            detail: format!(
                "program header entry size e_phentsize is {e_phentsize}, ELF64 requires \
                 {PHDR64_SIZE}"
            ),
        });
    }
    let ph_table = table_range(e_phoff, e_phnum, PHDR64_SIZE);
    match ph_table {
        Some((start, end)) if end <= len as u64 => Ok(start as usize),
        _ => Err(InspectError::Truncated {
            detail: format!(
                "the program header table ({e_phnum} entries of {PHDR64_SIZE} bytes at \
                 offset {e_phoff:#x}) {}, but the file is only {len} bytes",
                ends_at(ph_table)
            ),
        }),
    }
}

/// Every segment's file bytes lie inside the file.
fn check_segments(bytes: &[u8], ph_start: usize, e_phnum: u16) -> Result<(), InspectError> {
    let len = bytes.len();
    for i in 0..usize::from(e_phnum) {
        let ph = ph_start + i * PHDR64_SIZE;
        let p_type = rd_u32(bytes, ph);
        let p_offset = rd_u64(bytes, ph + 8);
        let p_filesz = rd_u64(bytes, ph + 32);
        if p_filesz == 0 {
            continue;
        }
        let end = p_offset.checked_add(p_filesz);
        if !matches!(end, Some(end) if end <= len as u64) {
            return Err(InspectError::Truncated {
                detail: format!(
                    "segment {i} ({}) covers {p_filesz} bytes at offset {p_offset:#x} and {}, \
                     but the file is only {len} bytes",
                    pt_name(p_type),
                    match end {
                        Some(end) => format!("ends at {end}"),
                        None => "ends past 2^64".into(),
                    }
                ),
            });
        }
    }
    Ok(())
}

/// The section header table (optional: e_shoff 0 means none). goblin reads
/// the table whenever e_shoff is non-zero, using section 0's sh_size as the
/// count when e_shnum is 0 (extended numbering).
fn check_section_header_table(
    bytes: &[u8],
    e_shoff: u64,
    e_shentsize: u16,
    e_shnum: u16,
) -> Result<(), InspectError> {
    if e_shoff == 0 {
        return Ok(());
    }
    let len = bytes.len();
    if usize::from(e_shentsize) != SHDR64_SIZE {
        return Err(InspectError::Malformed {
            detail: format!(
                "section header entry size e_shentsize is {e_shentsize}, ELF64 requires \
                 {SHDR64_SIZE}"
            ),
        });
    }
    let count = if e_shnum != 0 {
        u64::from(e_shnum)
    } else {
        // Extended numbering: read section 0 (checked below as 1 entry).
        match table_range(e_shoff, 1, SHDR64_SIZE) {
            Some((start, end)) if end <= len as u64 => rd_u64(bytes, start as usize + 32),
            r => {
                return Err(InspectError::Truncated {
                    detail: format!(
                        "section header 0 at offset {e_shoff:#x} {}, but the file is only \
                         {len} bytes",
                        ends_at(r)
                    ),
                });
            }
        }
    };
    let sh_table = count
        .checked_mul(SHDR64_SIZE as u64)
        .and_then(|size| e_shoff.checked_add(size))
        .map(|end| (e_shoff, end));
    if !matches!(sh_table, Some((_, end)) if end <= len as u64) {
        return Err(InspectError::Truncated {
            detail: format!(
                "the section header table ({count} entries of {SHDR64_SIZE} bytes at offset \
                 {e_shoff:#x}) {}, but the file is only {len} bytes",
                ends_at(sh_table)
            ),
        });
    }
    Ok(())
}

/// `(start, end)` of a table of `count` entries of `entsize` bytes at `off`,
/// `None` on overflow.
fn table_range(off: u64, count: u16, entsize: usize) -> Option<(u64, u64)> {
    let size = u64::from(count).checked_mul(entsize as u64)?;
    Some((off, off.checked_add(size)?))
}

fn ends_at(range: Option<(u64, u64)>) -> String {
    match range {
        Some((_, end)) => format!("would end at byte {end}"),
        None => "would end past 2^64".into(),
    }
}
