//! Strip: ELF bytes → ELF bytes without symbols or debug info.
//!
//! Done in-process with `object::build::elf::Builder` (delete `.symtab`, `.strtab`,
//! `.debug*`/`.zdebug*` and every static symbol, then orphans) so no binutils are
//! needed and every architecture works the same. The symbol table is what the size
//! attribution reads, so this stage runs after inspection and attribution. A binary
//! with nothing to strip is passed through untouched (no copy, no rewrite).
//!
//! The same pass may add one section (cargo-auditable's `.dep-v0`, the list of
//! crates in the binary that image scanners read): non-allocated, so nothing is
//! loaded at run time, and skipped when the binary already carries one (built
//! with `cargo auditable`) or has no section table (UPX-packed).

#[cfg(test)]
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Seek};
use std::path::Path;

use object::build::elf::Builder;
use object::write::{StreamingBuffer, WritableBuffer};

use crate::error::{io_failure, Failure};

/// Whether a section name is one `--strip-all` removes.
fn strippable(name: &[u8]) -> bool {
    name == b".symtab"
        || name == b".strtab"
        || name == b".symtab_shndx"
        || name.starts_with(b".debug")
        || name.starts_with(b".zdebug")
}

/// Remove symbols and debug sections. Returns the input unchanged (borrowed) when
/// there is nothing to remove.
#[cfg(test)]
pub fn strip(data: &[u8]) -> Result<Cow<'_, [u8]>, Failure> {
    let Some(builder) = plan(data, None)? else {
        return Ok(Cow::Borrowed(data));
    };
    let mut out = Vec::with_capacity(data.len());
    write(builder, &mut out)?;
    Ok(Cow::Owned(out))
}

/// A section to add while stripping: its name and contents.
pub struct Added<'a> {
    pub name: &'a str,
    pub data: Vec<u8>,
}

/// Remove symbols and debug sections from `data`, writing the stripped file to an
/// unnamed temporary file in `dir` (rewound) instead of memory, so the caller can
/// drop the unstripped bytes before reading it: a big binary is never held twice.
/// With `add`, also add that section (unless a section of that name exists).
/// `None`: nothing to strip or add.
pub fn strip_to_file_adding(
    data: &[u8],
    dir: &Path,
    add: Option<Added<'_>>,
) -> Result<Option<File>, Failure> {
    let Some(builder) = plan(data, add)? else {
        return Ok(None);
    };
    let file = tempfile::tempfile_in(dir)
        .map_err(|e| io_failure("create a temporary file in", dir, &e))?;
    let mut out = StreamingBuffer::new(BufWriter::with_capacity(1 << 20, file));
    write(builder, &mut out)?;
    out.result()
        .map_err(|e| Failure::new("could not write the stripped ELF file").detail(e.to_string()))?;
    let mut file = out
        .into_inner()
        .into_inner()
        .map_err(|e| io_failure("write", dir, e.error()))?;
    file.rewind().map_err(|e| io_failure("read", dir, &e))?;
    Ok(Some(file))
}

fn write(builder: Builder<'_>, out: &mut dyn WritableBuffer) -> Result<(), Failure> {
    builder
        .write(out)
        .map_err(|e| Failure::new("could not write the stripped ELF file").detail(e.to_string()))
}

/// The builder with everything to strip marked deleted, or `None` when there is
/// nothing to remove.
fn plan<'d>(data: &'d [u8], add: Option<Added<'_>>) -> Result<Option<Builder<'d>>, Failure> {
    if has_no_sections(data) {
        // e.g. a UPX-packed file: only program headers, nothing to strip.
        return Ok(None);
    }
    let mut builder = Builder::read(data).map_err(|e| {
        Failure::new("could not parse the ELF file for stripping").detail(e.to_string())
    })?;
    let mut changed = false;
    for section in builder.sections.iter_mut() {
        if strippable(section.name.as_slice()) {
            section.delete = true;
            changed = true;
        }
    }
    for symbol in builder.symbols.iter_mut() {
        symbol.delete = true;
        changed = true;
    }
    if let Some(add) = add {
        let name = add.name.as_bytes();
        if !builder.sections.iter().any(|s| s.name.as_slice() == name) {
            let section = builder.sections.add();
            section.name = name.to_vec().into();
            section.sh_type = object::elf::SHT_PROGBITS;
            section.sh_flags = object::elf::SectionFlags(0);
            section.sh_addralign = 1;
            section.data = object::build::elf::SectionData::Data(add.data.into());
            changed = true;
        }
    }
    if !changed {
        return Ok(None);
    }
    builder.delete_orphans();
    Ok(Some(builder))
}

/// A 64-bit little-endian ELF without a section header table.
fn has_no_sections(data: &[u8]) -> bool {
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return false;
    }
    let shoff = u64::from_le_bytes(data[0x28..0x30].try_into().expect("8 bytes"));
    let shnum = u16::from_le_bytes([data[0x3c], data[0x3d]]);
    shoff == 0 || shnum == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (n, want) in [
            (".symtab", true),
            (".strtab", true),
            (".debug_info", true),
            (".zdebug_line", true),
            (".dynstr", false),
            (".text", false),
            (".shstrtab", false),
        ] {
            assert_eq!(strippable(n.as_bytes()), want, "{n}");
        }
    }

    #[test]
    fn section_less_files_pass_through() {
        let packed =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/upx/packed")).unwrap();
        assert!(matches!(strip(&packed).unwrap(), Cow::Borrowed(_)));
        let unstripped = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/elf/static-unstripped"
        ))
        .unwrap();
        let out = strip(&unstripped).unwrap();
        assert!(out.len() < unstripped.len());
        let insp = crate::elf::inspect(&out).unwrap();
        assert!(!insp.has_symtab && !insp.has_debug);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(strip(b"not an elf").is_err());
        assert!(strip(&[]).is_err());
    }
}
