//! Attribute: where the bytes of a binary go, per crate and per section.
//!
//! In: the **unstripped** ELF bytes, plus (optionally) the `.rlib` files of the
//! build. Out: an [`Attribution`] — every allocated section with its size, and
//! every allocated byte charged to a crate, `[C/unknown]` or `[unattributed]`.
//!
//! Why here: the answer lives in `.symtab`, which the strip stage deletes, so
//! this stage runs on the binary cargo wrote, before strip and UPX.
//!
//! How (the approach of `cargo bloat --crates`, our own code):
//! - Sized `STT_FUNC`/`STT_OBJECT` symbols of `.symtab` are demangled with
//!   `rustc-demangle` (legacy `_ZN…17h<hash>E` and v0 `_R…`); a `_ZN` name
//!   without the Rust hash is C++ (e.g. LLVM's libunwind), not Rust.
//! - A Rust symbol belongs to the first path component of its demangled name:
//!   `regex_automata::meta::Regex::new` → `regex_automata`. Generic std code is
//!   std's even when instantiated for your types (`core::ptr::drop_in_place::<regex::Regex>`
//!   → std), as cargo-bloat counts it. For `<Type as Trait>::f` the type's crate
//!   wins; if the type has no crate (`<&T as …>`, `<[u8] as …>`) the trait's
//!   does; if the type is std's and the trait is not, the trait's crate wins
//!   (the orphan rule puts such an impl in the trait's crate); if both are
//!   non-std crates, the rlib that defines the symbol decides, else the type.
//! - std and its private dependencies collapse into `std` unless `split_std`.
//!   `std`, `core`, `alloc`, `compiler_builtins`, `std_detect`, `panic_*`,
//!   `proc_macro`, `rustc_std_workspace_*` and `__rustc` (rustc's allocator
//!   shim) always do. Names that also exist on crates.io (`memchr`,
//!   `hashbrown`, `object`, `gimli`, …) collapse only when the rlib index says
//!   they come from the sysroot: an rlib under `…/lib/rustlib/…`, or (given any
//!   rlibs) a std dependency that the build did not compile itself. With no
//!   rlibs at all they keep their own name.
//! - A non-Rust symbol (C, C++, asm, `anon.*` constants) is looked up in the
//!   rlib index (every defined symbol of every ELF member of every rlib; crate
//!   name from the file name `lib<crate>-<hash>.rlib`): defined in crates that
//!   all give one label → that label; otherwise `[C/unknown]`.
//! - Overlapping symbols (aliases) count once. Bytes of an allocated section
//!   that no symbol covers — padding, string literals, `.eh_frame`,
//!   `.rela.dyn`, `.got`, … — and Rust symbols with no crate in their name are
//!   `[unattributed]`. So `crates` sums exactly to the file bytes of all
//!   allocated sections ([`Attribution::allocated_total`]).
//! - `SHT_NOBITS` sections (`.bss`, `.tbss`) take no file bytes: they are not
//!   in `sections` or in the sums, but listed in `nobits`. TLS symbols are not
//!   charged (their values are TLS offsets): `.tdata` is `[unattributed]`.
//! - `text_crates` is the same charging restricted to symbols in `.text`,
//!   without the gap row, which is what `cargo bloat --crates` reports.
//!
//! Rlibs that cannot be read or parsed are skipped: the index only sharpens
//! the answer. Any input gives `Ok` or `Err`, never a panic.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use object::elf;
use object::read::archive::ArchiveFile;
use object::read::elf::{FileHeader, SectionHeader, Sym};
use object::{Endianness, FileKind, SectionIndex};

/// The row for the standard library and its private dependencies.
pub const STD: &str = "std";
/// The row for symbols that are not Rust and that no rlib defines (libc, asm).
pub const C_UNKNOWN: &str = "[C/unknown]";
/// The row for allocated bytes no symbol covers, and Rust symbols with no crate.
pub const UNATTRIBUTED: &str = "[unattributed]";

/// Bytes charged to one crate (or to one of the bracketed rows).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CrateSize {
    pub name: String,
    pub bytes: u64,
}

/// One allocated section and its size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SectionSize {
    pub name: String,
    pub bytes: u64,
}

/// Where the bytes go. All lists are sorted by bytes descending, then name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Attribution {
    /// Every allocated file byte, by crate; always has the [`C_UNKNOWN`] and
    /// [`UNATTRIBUTED`] rows (possibly 0).
    pub crates: Vec<CrateSize>,
    /// Allocated sections that occupy file bytes (`SHF_ALLOC`, not `SHT_NOBITS`).
    pub sections: Vec<SectionSize>,
    /// Symbols in `.text` only, by crate (no gap row): compare with `cargo bloat --crates`.
    pub text_crates: Vec<CrateSize>,
    /// Size of `.text` (0 if there is none).
    pub text_size: u64,
    /// Allocated `SHT_NOBITS` sections (`.bss`, `.tbss`): memory, not file bytes.
    pub nobits: Vec<SectionSize>,
}

impl Attribution {
    /// File bytes of all allocated sections: what `crates` sums to.
    pub fn allocated_total(&self) -> u64 {
        self.sections.iter().map(|s| s.bytes).sum()
    }

    /// Bytes charged to `name` in `crates` (0 if absent).
    pub fn crate_bytes(&self, name: &str) -> u64 {
        self.crates
            .iter()
            .find(|c| c.name == name)
            .map_or(0, |c| c.bytes)
    }
}

/// How to attribute.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep `core`, `alloc`, … as their own rows instead of one `std` row.
    pub split_std: bool,
    /// `.rlib` files of the build (cargo's `compiler-artifact` `filenames`),
    /// optionally plus the sysroot's ([`sysroot_rlibs`]); other files are skipped.
    pub rlibs: Vec<PathBuf>,
}

/// Why a binary could not be attributed.
#[derive(Debug, thiserror::Error)]
pub enum BloatError {
    #[error("the binary has no symbol table (already stripped?)")]
    NoSymbols,
    #[error("cannot read the binary as ELF: {0}")]
    Parse(String),
}

fn parse_err(e: object::Error) -> BloatError {
    BloatError::Parse(e.to_string())
}

/// Crates that are std's whatever the build contains (`__rustc`: rustc's allocator shim).
fn is_core_std(name: &str) -> bool {
    const CORE: &str = "std core alloc compiler_builtins std_detect panic_unwind panic_abort \
                        proc_macro __rustc";
    CORE.split_whitespace().any(|n| n == name) || name.starts_with("rustc_std_workspace_")
}

/// std's private dependencies that also exist on crates.io: collapsed only on
/// the rlib index's word.
fn is_std_dep(name: &str) -> bool {
    const DEPS: &str = "hashbrown adler adler2 miniz_oxide gimli addr2line object \
                        rustc_demangle memchr cfg_if libc unwind getopts rustc_literal_escaper \
                        unicode_width profiler_builtins sysroot test";
    DEPS.split_whitespace().any(|n| n == name)
}

/// The `.rlib` files of a toolchain's std for `target`:
/// `<sysroot>/lib/rustlib/<target>/lib/*.rlib`, sorted.
pub fn sysroot_rlibs(sysroot: &Path, target: &str) -> std::io::Result<Vec<PathBuf>> {
    let dir = sysroot.join("lib").join("rustlib").join(target).join("lib");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rlib") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// `…/libregex_automata-16c1….rlib` → `regex_automata`.
fn rlib_crate_name(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    let stem = stem.strip_prefix("lib").unwrap_or(stem);
    let name = stem.rsplit_once('-').map_or(stem, |(name, _hash)| name);
    (!name.is_empty()).then(|| name.replace('-', "_"))
}

/// Which rlib defines which symbol, and which crates the build compiled.
#[derive(Default)]
struct Index {
    crates: Vec<(String, bool)>, // (name, from the sysroot)
    defs: HashMap<Vec<u8>, Vec<u32>>,
    build: HashSet<String>,
    sysroot: HashSet<String>,
}

impl Index {
    fn load(paths: &[PathBuf]) -> Index {
        let mut index = Index::default();
        for path in paths {
            let Some(name) = rlib_crate_name(path) else {
                continue;
            };
            let Ok(data) = std::fs::read(path) else {
                continue;
            };
            let Ok(archive) = ArchiveFile::parse(&*data) else {
                continue;
            };
            let from_sysroot = path.components().any(|c| c.as_os_str() == "rustlib");
            let id = index.crates.len() as u32;
            index.crates.push((name.clone(), from_sysroot));
            if from_sysroot {
                index.sysroot.insert(name);
            } else {
                index.build.insert(name);
            }
            for member in archive.members().flatten() {
                if let Ok(bytes) = member.data(&*data) {
                    for_each_defined(bytes, |sym| {
                        let ids = index.defs.entry(sym.to_vec()).or_default();
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    });
                }
            }
        }
        index
    }

    fn defining_crates(&self, sym: &[u8]) -> impl Iterator<Item = &(String, bool)> {
        let ids = self.defs.get(sym).map_or(&[][..], |v| &v[..]);
        ids.iter().filter_map(|&i| self.crates.get(i as usize))
    }
}

/// Calls `f` with the name of every defined symbol of an ELF object (members
/// that are not ELF, like `lib.rmeta`, are skipped).
fn for_each_defined(data: &[u8], f: impl FnMut(&[u8])) {
    match FileKind::parse(data) {
        Ok(FileKind::Elf32) => defined::<elf::FileHeader32<Endianness>>(data, f),
        Ok(FileKind::Elf64) => defined::<elf::FileHeader64<Endianness>>(data, f),
        _ => {}
    }
}

fn defined<E: FileHeader<Endian = Endianness>>(data: &[u8], mut f: impl FnMut(&[u8])) {
    let Ok(header) = E::parse(data) else { return };
    let Ok(endian) = header.endian() else { return };
    let Ok(sections) = header.sections(endian, data) else {
        return;
    };
    let Ok(symtab) = sections.symbols(endian, data, elf::SHT_SYMTAB) else {
        return;
    };
    for sym in symtab.iter().skip(1) {
        let t = sym.st_type();
        if sym.is_undefined(endian) || t == elf::STT_SECTION || t == elf::STT_FILE {
            continue;
        }
        let Ok(name) = sym.name(endian, symtab.strings()) else {
            continue;
        };
        // A crate-local Rust symbol is usually its private copy of generic
        // (often std) code: leave it to its demangled path, as cargo-bloat does.
        let rust = name.starts_with(b"_ZN") || name.starts_with(b"_R");
        if !name.is_empty() && !(rust && sym.st_bind() == elf::STB_LOCAL) {
            f(name);
        }
    }
}

/// The crate names a demangled Rust symbol points at: `(primary, trait)`.
/// For a plain path only `primary` is set; for `<Type as Trait>::f` both.
fn demangled_crates(s: &str) -> (Option<&str>, Option<&str>) {
    qualified_crates(s, 0)
}

// `depth` bounds the recursion into nested `<…>` so no name can overflow the stack.
fn qualified_crates(s: &str, depth: u8) -> (Option<&str>, Option<&str>) {
    let Some(rest) = s.strip_prefix('<') else {
        return (path_root(s, depth), None);
    };
    let bytes = rest.as_bytes();
    let mut nest = 0usize;
    let mut as_at = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' | b'(' | b'[' => nest += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {} // `fn() -> T`
            b'>' | b')' | b']' if nest > 0 => nest -= 1,
            b'>' => {
                return match as_at {
                    Some(a) => (
                        path_root(&rest[..a], depth),
                        path_root(&rest[a + 4..i], depth),
                    ),
                    // An inherent impl on a type with no path (`<[T]>::sort`,
                    // `<usize>::_fmt`): only core, alloc and std may write one.
                    None => (path_root(&rest[..i], depth).or(Some("core")), None),
                };
            }
            b' ' if nest == 0 && as_at.is_none() && rest[i..].starts_with(" as ") => {
                as_at = Some(i)
            }
            _ => {}
        }
    }
    (path_root(rest, depth), None)
}

/// The first component of the first path in `s` (`&mut regex::Foo<T>` →
/// `regex`); `None` for `T`, `[u8]`, `&str`.
fn path_root(s: &str, depth: u8) -> Option<&str> {
    if s.starts_with('<') && depth < 8 {
        let (ty, tr) = qualified_crates(s, depth + 1);
        return ty.or(tr);
    }
    let end = s.find("::")?;
    let head = &s[..end];
    let start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let name = &head[start..];
    let after_quote = start > 0 && head.as_bytes()[start - 1] == b'\'';
    (!name.is_empty() && !after_quote).then_some(name)
}

/// The demangled name (without hashes) if `name` is a Rust symbol.
fn demangle_rust(name: &str) -> Option<String> {
    let d = rustc_demangle::try_demangle(name).ok()?;
    let v0 = ["_R", "R", "__R"].iter().any(|p| name.starts_with(p));
    if !v0 {
        // Legacy Rust names always end in a `h<16 hex>` hash segment; an
        // Itanium C++ `_ZN…E` name that happens to demangle has none.
        let full = d.to_string();
        let last = full.rsplit("::").next().unwrap_or("");
        let hash = last.strip_prefix('h').filter(|h| h.len() == 16);
        hash.filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
    }
    Some(format!("{d:#}"))
}

/// Names crates: demangled crate names and rlib definitions → row labels.
struct Labeler<'a> {
    index: &'a Index,
    split_std: bool,
}

impl Labeler<'_> {
    fn is_std(&self, krate: &str) -> bool {
        if self.split_std {
            return false;
        }
        if is_core_std(krate) || self.index.sysroot.contains(krate) {
            return true;
        }
        // Given rlibs, a std dependency the build did not compile is the sysroot's.
        !self.index.crates.is_empty() && is_std_dep(krate) && !self.index.build.contains(krate)
    }

    fn label_crate(&self, krate: &str, sym: &[u8]) -> String {
        if self.is_std(krate) && !self.built_here(krate, sym) {
            STD.to_string()
        } else {
            krate.to_string()
        }
    }

    /// A name that is both a build crate and a sysroot crate (a user's
    /// `memchr`): the build's unless only the sysroot's rlib defines `sym`.
    fn built_here(&self, krate: &str, sym: &[u8]) -> bool {
        if !self.index.build.contains(krate) || self.split_std || is_core_std(krate) {
            return false;
        }
        let mut defs = self.index.defining_crates(sym).filter(|(n, _)| n == krate);
        let first = defs.next();
        !(first.is_some_and(|(_, sys)| *sys) && defs.all(|(_, sys)| *sys))
    }

    fn label(&self, raw: &[u8]) -> String {
        if let Some(label) = self.from_index(raw) {
            return label;
        }
        let Some(demangled) = std::str::from_utf8(raw).ok().and_then(demangle_rust) else {
            return C_UNKNOWN.to_string();
        };
        let krate = match demangled_crates(&demangled) {
            (None, None) => return UNATTRIBUTED.to_string(),
            (Some(a), None) | (None, Some(a)) => a.to_string(),
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(ty), Some(tr)) => {
                let defs: Vec<&str> = self
                    .index
                    .defining_crates(raw)
                    .map(|(n, _)| n.as_str())
                    .collect();
                let pick = if defs.contains(&ty) {
                    ty
                } else if defs.contains(&tr) || (self.is_std(ty) && !self.is_std(tr)) {
                    tr
                } else {
                    ty
                };
                pick.to_string()
            }
        };
        self.label_crate(&krate, raw)
    }

    /// The one label of the crates whose rlibs define `sym`, if they agree.
    fn from_index(&self, sym: &[u8]) -> Option<String> {
        let mut labels = self
            .index
            .defining_crates(sym)
            .map(|(n, _)| self.label_crate(n, sym));
        let first = labels.next()?;
        labels.all(|l| l == first).then_some(first)
    }
}

/// One allocated section, as read from the header table.
struct Section {
    name: String,
    addr: u64,
    size: u64,
    nobits: bool,
}

/// A sized function/object symbol, located in its section.
struct Symbol<'d> {
    section: usize,
    start: u64, // offset in the section
    size: u64,
    name: &'d [u8],
}

/// Attribute the bytes of the unstripped ELF `elf` to crates and sections.
pub fn attribute(elf: &[u8], opts: &Options) -> Result<Attribution, BloatError> {
    let (sections, symbols) = match FileKind::parse(elf) {
        Ok(FileKind::Elf32) => read_elf::<elf::FileHeader32<Endianness>>(elf)?,
        Ok(FileKind::Elf64) => read_elf::<elf::FileHeader64<Endianness>>(elf)?,
        Ok(other) => return Err(BloatError::Parse(format!("not an ELF file ({other:?})"))),
        Err(e) => return Err(parse_err(e)),
    };
    let index = Index::load(&opts.rlibs);
    let labeler = Labeler {
        index: &index,
        split_std: opts.split_std,
    };

    // Per section: the symbols' spans with their labels, sorted so that a
    // span starting at the same place as a longer one is counted inside it.
    let mut by_section: Vec<Vec<(u64, u64, String)>> = vec![Vec::new(); sections.len()];
    for sym in &symbols {
        let Some(Some(sec)) = sections.get(sym.section) else {
            continue;
        };
        if sec.nobits || sym.start >= sec.size {
            continue;
        }
        let end = sym.start.saturating_add(sym.size).min(sec.size);
        by_section[sym.section].push((sym.start, end, labeler.label(sym.name)));
    }

    let mut crates: HashMap<String, u64> = HashMap::new();
    let mut text_crates: HashMap<String, u64> = HashMap::new();
    for name in [C_UNKNOWN, UNATTRIBUTED] {
        crates.insert(name.to_string(), 0);
        text_crates.insert(name.to_string(), 0);
    }
    let mut section_rows = Vec::new();
    let mut nobits = Vec::new();
    let mut text_size = 0;
    for (i, sec) in sections.iter().enumerate() {
        let Some(sec) = sec else { continue };
        let row = SectionSize {
            name: sec.name.clone(),
            bytes: sec.size,
        };
        if sec.nobits {
            nobits.push(row);
            continue;
        }
        section_rows.push(row);
        let is_text = sec.name == ".text";
        if is_text {
            text_size = sec.size;
        }
        let spans = &mut by_section[i];
        spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let mut covered_to = 0u64;
        let mut covered = 0u64;
        for (start, end, label) in spans.iter() {
            let from = (*start).max(covered_to);
            if *end <= from {
                continue;
            }
            let bytes = end - from;
            covered_to = *end;
            covered += bytes;
            *crates.entry(label.clone()).or_default() += bytes;
            if is_text {
                *text_crates.entry(label.clone()).or_default() += bytes;
            }
        }
        *crates.entry(UNATTRIBUTED.to_string()).or_default() += sec.size - covered;
    }
    section_rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    nobits.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    Ok(Attribution {
        crates: sorted(crates),
        sections: section_rows,
        text_crates: sorted(text_crates),
        text_size,
        nobits,
    })
}

fn sorted(map: HashMap<String, u64>) -> Vec<CrateSize> {
    let mut rows: Vec<CrateSize> = map
        .into_iter()
        .map(|(name, bytes)| CrateSize { name, bytes })
        .collect();
    rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    rows
}

/// Allocated sections (by header index; `None` for the others) and sized
/// function/object symbols of `.symtab`.
type ElfParts<'d> = (Vec<Option<Section>>, Vec<Symbol<'d>>);

fn read_elf<E: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<ElfParts<'_>, BloatError> {
    let header = E::parse(data).map_err(parse_err)?;
    let endian = header.endian().map_err(parse_err)?;
    let table = header.sections(endian, data).map_err(parse_err)?;
    let relocatable = header.e_type(endian) == elf::ET_REL;
    let mut sections = Vec::with_capacity(table.len());
    for sh in table.iter() {
        if sh.sh_flags(endian).0 & elf::SHF_ALLOC.0 == 0 {
            sections.push(None);
            continue;
        }
        let name = table.section_name(endian, sh).map_err(parse_err)?;
        sections.push(Some(Section {
            name: String::from_utf8_lossy(name).into_owned(),
            addr: sh.sh_addr(endian).into(),
            size: sh.sh_size(endian).into(),
            nobits: sh.sh_type(endian) == elf::SHT_NOBITS,
        }));
    }
    let symtab = table
        .symbols(endian, data, elf::SHT_SYMTAB)
        .map_err(parse_err)?;
    if symtab.len() <= 1 {
        return Err(BloatError::NoSymbols);
    }
    let mut symbols = Vec::new();
    for (i, sym) in symtab.enumerate().skip(1) {
        let size: u64 = sym.st_size(endian).into();
        if size == 0 || !matches!(sym.st_type(), elf::STT_FUNC | elf::STT_OBJECT) {
            continue;
        }
        let section = match symtab.symbol_section(endian, sym, i) {
            Ok(Some(SectionIndex(s))) => s,
            _ => continue,
        };
        let Some(Some(sec)) = sections.get(section) else {
            continue;
        };
        let value: u64 = sym.st_value(endian).into();
        let start = if relocatable {
            Some(value)
        } else {
            value.checked_sub(sec.addr)
        };
        let (Some(start), Ok(name)) = (start, sym.name(endian, symtab.strings())) else {
            continue;
        };
        symbols.push(Symbol {
            section,
            start,
            size,
            name,
        });
    }
    Ok((sections, symbols))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::{Object, StandardSection, Symbol as WSym, SymbolSection};
    use object::{Architecture, BinaryFormat, SymbolFlags, SymbolKind, SymbolScope};
    use std::process::Command;
    use std::sync::OnceLock;

    /// A legacy-mangled Rust name (`<`, `>`, ` `, `&`, `::` escaped as rustc does).
    fn legacy(path: &[&str]) -> String {
        let mut out = String::from("_ZN");
        for seg in path.iter().copied().chain(["h0123456789abcdef"]) {
            let seg = seg
                .replace("::", "..")
                .replace('<', "$LT$")
                .replace('>', "$GT$")
                .replace(' ', "$u20$")
                .replace('&', "$RF$");
            out += &format!("{}{seg}", seg.len());
        }
        out + "E"
    }

    #[test]
    fn demangled_crate_names() {
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            (
                "regex_automata::meta::Regex::new",
                Some("regex_automata"),
                None,
            ),
            (
                "core::ptr::drop_in_place::<regex::Regex>",
                Some("core"),
                None,
            ),
            (
                "<regex::Pool<T,F> as core::ops::drop::Drop>::drop",
                Some("regex"),
                Some("core"),
            ),
            ("<&T as core::fmt::Debug>::fmt", None, Some("core")),
            (
                "<&'a mut regex::Foo as core::fmt::Write>::write_str",
                Some("regex"),
                Some("core"),
            ),
            (
                "<fn(&a::A) -> u8 as core::ops::FnOnce<()>>::call_once",
                Some("a"),
                Some("core"),
            ),
            (
                "<alloc::vec::Vec<x::X> as serde::Serialize>::serialize",
                Some("alloc"),
                Some("serde"),
            ),
            (
                "<[u8]>::copy_within::<core::ops::Range<usize>>",
                Some("core"),
                None,
            ),
            ("<usize>::_fmt", Some("core"), None),
            (
                "<u8 as <[_]>::to_vec_in::ConvertVec>::to_vec",
                None,
                Some("core"),
            ),
            ("<regex::Foo>::new::{closure#0}", Some("regex"), None),
            ("main", None, None),
        ];
        for &(name, ty, tr) in cases {
            assert_eq!(demangled_crates(name), (ty, tr), "{name}");
        }
        let deep = "<".repeat(100_000) + "a::b";
        let _ = demangled_crates(&deep); // bounded recursion: no stack overflow
    }

    #[test]
    fn rlib_file_names() {
        for (path, name) in [
            (
                "/t/deps/libregex_automata-16c15850d2933eda.rlib",
                Some("regex_automata"),
            ),
            (
                "/s/lib/rustlib/x/lib/libstd-286e4795762d614b.rlib",
                Some("std"),
            ),
            ("libfoo.rlib", Some("foo")),
            ("lib.rlib", None),
        ] {
            assert_eq!(rlib_crate_name(Path::new(path)).as_deref(), name, "{path}");
        }
    }

    fn index(crates: &[(&str, bool, &[&str])]) -> Index {
        let mut ix = Index::default();
        for (id, (name, sys, syms)) in crates.iter().enumerate() {
            ix.crates.push((name.to_string(), *sys));
            let set = if *sys { &mut ix.sysroot } else { &mut ix.build };
            set.insert(name.to_string());
            for s in *syms {
                ix.defs
                    .entry(s.as_bytes().to_vec())
                    .or_default()
                    .push(id as u32);
            }
        }
        ix
    }

    #[test]
    fn labels() {
        let none = Index::default();
        let user_memchr = legacy(&["memchr", "memchr"]);
        let build = index(&[
            ("memchr", false, &[]),
            ("memchr", true, &[user_memchr.as_str()]),
            ("compiler_builtins", true, &["memcpy"]),
            ("a", false, &["anon.1", "dup"]),
            ("b", false, &["dup"]),
        ]);
        let cases: &[(&Index, bool, String, &str)] = &[
            (&none, false, legacy(&["core", "fmt", "write"]), STD),
            (&none, true, legacy(&["core", "fmt", "write"]), "core"),
            (
                &none,
                false,
                legacy(&["hashbrown", "raw", "f"]),
                "hashbrown",
            ),
            (&none, false, legacy(&["memchr", "memchr"]), "memchr"),
            (&none, false, "memcpy".into(), C_UNKNOWN),
            (&none, false, "_ZN9libunwind4initE".into(), C_UNKNOWN),
            (
                &none,
                false,
                "_RNvCs1234_7___rustc12___rust_alloc".into(),
                STD,
            ),
            (&build, false, legacy(&["hashbrown", "raw", "f"]), STD),
            (
                &build,
                true,
                legacy(&["hashbrown", "raw", "f"]),
                "hashbrown",
            ),
            (&build, false, legacy(&["memchr", "other"]), "memchr"),
            (&build, false, user_memchr.clone(), STD), // only the sysroot's rlib defines it
            (&build, false, "memcpy".into(), STD),
            (&build, false, "anon.1".into(), "a"),
            (&build, false, "dup".into(), C_UNKNOWN),
            (
                &build,
                false,
                legacy(&["<alloc::vec::Vec<T> as serde::Serialize>", "serialize"]),
                "serde",
            ),
            (&build, false, legacy(&["<a::X as b::Y>", "f"]), "a"),
        ];
        for (ix, split_std, sym, want) in cases {
            let l = Labeler {
                index: ix,
                split_std: *split_std,
            };
            assert_eq!(
                l.label(sym.as_bytes()),
                *want,
                "{sym} split_std={split_std}"
            );
        }
    }

    /// A relocatable x86_64 object: .text 64 bytes (two overlapping Rust
    /// functions, `memcpy`, a 24-byte gap), .rodata 32 (one `anon` object),
    /// .bss 16.
    fn synthetic() -> Vec<u8> {
        let mut obj = Object::new(
            BinaryFormat::Elf,
            Architecture::X86_64,
            object::Endianness::Little,
        );
        let text = obj.section_id(StandardSection::Text);
        obj.append_section_data(text, &[0x90; 64], 16);
        let rodata = obj.section_id(StandardSection::ReadOnlyData);
        obj.append_section_data(rodata, &[1; 32], 8);
        let bss = obj.section_id(StandardSection::UninitializedData);
        obj.append_section_bss(bss, 16, 8);
        let syms = [
            (
                legacy(&["regex", "Regex", "new"]),
                text,
                0,
                16,
                SymbolKind::Text,
            ),
            (
                legacy(&["core", "fmt", "write"]),
                text,
                8,
                16,
                SymbolKind::Text,
            ),
            ("memcpy".to_string(), text, 32, 8, SymbolKind::Text),
            ("anon.1".to_string(), rodata, 0, 8, SymbolKind::Data),
            (legacy(&["regex", "CACHE"]), bss, 0, 16, SymbolKind::Data),
        ];
        for (name, section, value, size, kind) in syms {
            obj.add_symbol(WSym {
                name: name.into_bytes(),
                value,
                size,
                kind,
                scope: SymbolScope::Linkage,
                weak: false,
                section: SymbolSection::Section(section),
                flags: SymbolFlags::None,
            });
        }
        obj.write().expect("write object")
    }

    fn rows(list: &[CrateSize]) -> Vec<(&str, u64)> {
        list.iter().map(|c| (c.name.as_str(), c.bytes)).collect()
    }

    #[test]
    fn synthetic_object() {
        let a = attribute(&synthetic(), &Options::default()).expect("attribute");
        // core::fmt::write overlaps regex's function by 8 bytes: counted once.
        // Gaps: 32 of .text, 24 of .rodata.
        let want = [
            (UNATTRIBUTED, 48),
            (C_UNKNOWN, 16),
            ("regex", 16),
            (STD, 16),
        ];
        assert_eq!(rows(&a.crates), want);
        assert_eq!(a.allocated_total(), 96);
        let text = [("regex", 16), (C_UNKNOWN, 8), (STD, 8), (UNATTRIBUTED, 0)];
        assert_eq!(rows(&a.text_crates), text);
        assert_eq!(a.text_size, 64);
        assert_eq!(
            a.nobits,
            [SectionSize {
                name: ".bss".into(),
                bytes: 16
            }]
        );
    }

    /// `bytes` as a one-member ar archive.
    fn ar(member: &[u8]) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            "lib.o/",
            0,
            0,
            0,
            644,
            member.len()
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(member);
        out
    }

    #[test]
    fn rlib_index_resolves_c_symbols() {
        let dir = std::env::temp_dir().join(format!("bloat-rlibs-{}", std::process::id()));
        let sys = dir.join("lib/rustlib/x86_64-unknown-linux-musl/lib");
        std::fs::create_dir_all(&sys).unwrap();
        let user = dir.join("libfastcopy-0123abcd.rlib");
        std::fs::write(&user, ar(&synthetic())).unwrap();
        let std_rlib = sys.join("libstd-89ab.rlib");
        std::fs::write(&std_rlib, b"not an archive").unwrap();
        let missing = dir.join("libgone-1.rlib");
        let opts = Options {
            split_std: false,
            rlibs: vec![user, std_rlib, missing],
        };
        let a = attribute(&synthetic(), &opts).expect("attribute");
        // memcpy and anon.1 are defined in fastcopy's rlib; so are the Rust
        // symbols (exported definitions win, as in cargo-bloat).
        assert_eq!(
            rows(&a.crates),
            [(UNATTRIBUTED, 56), ("fastcopy", 40), (C_UNKNOWN, 0)]
        );
        assert_eq!(
            sysroot_rlibs(&dir, "x86_64-unknown-linux-musl")
                .unwrap()
                .len(),
            1
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let good = synthetic();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut garbage = vec![0u8; 4096];
        for b in &mut garbage {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        let mut elf_garbage = good[..16].to_vec();
        elf_garbage.extend_from_slice(&garbage);
        for data in [&[][..], b"\x7fELF", &garbage, &elf_garbage, &good[..100]] {
            assert!(matches!(
                attribute(data, &Options::default()),
                Err(BloatError::Parse(_))
            ));
        }
        for len in 0..good.len() {
            let _ = attribute(&good[..len], &Options::default());
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = attribute(&bad, &Options::default());
        }
        // No `.symtab`: retype it (sh_type is 4 bytes into its header) as PROGBITS.
        let header = elf::FileHeader64::<Endianness>::parse(&*good).unwrap();
        let endian = header.endian().unwrap();
        let table = header.sections(endian, &*good).unwrap();
        let idx = table
            .iter()
            .position(|s| s.sh_type(endian) == elf::SHT_SYMTAB)
            .unwrap();
        let at = header.e_shoff(endian) as usize + idx * header.e_shentsize(endian) as usize + 4;
        let mut stripped = good.clone();
        stripped[at..at + 4].copy_from_slice(&elf::SHT_PROGBITS.0.to_le_bytes());
        let err = attribute(&stripped, &Options::default()).unwrap_err();
        assert!(matches!(err, BloatError::NoSymbols));
        assert_eq!(
            err.to_string(),
            "the binary has no symbol table (already stripped?)"
        );
    }

    const TARGET: &str = "x86_64-unknown-linux-musl";

    fn cargo() -> Command {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        cmd.current_dir(repo.join("testdata/regexy"))
            .env("CARGO_TARGET_DIR", repo.join("target/fixtures"))
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        cmd
    }

    fn run(cmd: &mut Command) -> String {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cmd:?} failed:\n{stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// testdata/regexy, built once: (executable, its rlibs + the sysroot's).
    fn regexy() -> &'static (Vec<u8>, Vec<PathBuf>) {
        static BUILT: OnceLock<(Vec<u8>, Vec<PathBuf>)> = OnceLock::new();
        BUILT.get_or_init(|| {
            let json = run(cargo()
                .args(["build", "--release", "--locked", "--target", TARGET])
                .args(["--manifest-path", "Cargo.toml", "--message-format=json"]));
            let (mut exe, mut rlibs) = (None, Vec::new());
            for line in json.lines() {
                let msg: serde_json::Value = serde_json::from_str(line).expect("cargo JSON");
                if msg["reason"] != "compiler-artifact" {
                    continue;
                }
                if let Some(path) = msg["executable"].as_str() {
                    exe = Some(PathBuf::from(path));
                }
                let files = msg["filenames"].as_array().into_iter().flatten();
                let files = files
                    .filter_map(|f| f.as_str())
                    .filter(|f| f.ends_with(".rlib"));
                rlibs.extend(files.map(PathBuf::from));
            }
            let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
            let sysroot = run(Command::new(rustc).args(["--print", "sysroot"]));
            rlibs.extend(sysroot_rlibs(Path::new(sysroot.trim()), TARGET).expect("sysroot rlibs"));
            let exe = exe.expect("regexy executable in cargo's output");
            (std::fs::read(exe).expect("read regexy"), rlibs)
        })
    }

    #[test]
    fn regexy_fixture() {
        let (exe, rlibs) = regexy();
        let opts = Options {
            split_std: false,
            rlibs: rlibs.clone(),
        };
        let a = attribute(exe, &opts).expect("attribute regexy");
        for name in [
            "regex_automata",
            "regex_syntax",
            STD,
            "regexy",
            C_UNKNOWN,
            UNATTRIBUTED,
        ] {
            assert!(
                a.crates.iter().any(|c| c.name == name),
                "{name} missing: {a:#?}"
            );
        }
        assert!(a.crate_bytes("regex_automata") > 100_000, "{a:#?}");
        let sum: u64 = a.crates.iter().map(|c| c.bytes).sum();
        assert_eq!(sum, a.allocated_total());
        assert!(a.text_crates.iter().map(|c| c.bytes).sum::<u64>() <= a.text_size);
        assert!(a
            .sections
            .iter()
            .any(|s| s.name == ".text" && s.bytes == a.text_size));
        assert!(a.nobits.iter().any(|s| s.name == ".bss"));
        // Without the index, std's own dependencies keep their names.
        let bare = attribute(exe, &Options::default()).expect("attribute regexy");
        assert!(
            bare.crate_bytes("gimli") > 0 && bare.crate_bytes(STD) > 0,
            "{bare:#?}"
        );
        let split = attribute(
            exe,
            &Options {
                split_std: true,
                rlibs: rlibs.clone(),
            },
        )
        .unwrap();
        assert!(split.crate_bytes("core") > 0 && split.crate_bytes(STD) < a.crate_bytes(STD));
    }

    #[test]
    fn agrees_with_cargo_bloat() {
        if !cargo()
            .args(["bloat", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            let why = "cargo-bloat is not installed (cargo install cargo-bloat --locked)";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("skipping agrees_with_cargo_bloat: {why}");
            return;
        }
        let (exe, rlibs) = regexy();
        let ours = attribute(
            exe,
            &Options {
                split_std: false,
                rlibs: rlibs.clone(),
            },
        )
        .unwrap();
        let json = run(cargo()
            .args(["bloat", "--release", "--locked", "--target", TARGET])
            .args(["--crates", "-n", "0", "--message-format", "json"]));
        let theirs: serde_json::Value = serde_json::from_str(&json).expect("cargo-bloat JSON");
        assert_eq!(theirs["text-section-size"].as_u64(), Some(ours.text_size));
        let crates = theirs["crates"].as_array().expect("crates");
        for c in crates.iter().take(5) {
            let name = c["name"].as_str().expect("name");
            let theirs = c["size"].as_u64().expect("size");
            let ours_name = if name == "[Unknown]" { C_UNKNOWN } else { name };
            let row = ours.text_crates.iter().find(|r| r.name == ours_name);
            let ours = row.map_or(0, |r| r.bytes);
            let diff = (ours as f64 - theirs as f64) / theirs as f64 * 100.0;
            eprintln!("{name:>16}: cargo-bloat {theirs:>8}  ours {ours:>8}  {diff:+.1}%");
            assert!(
                diff.abs() <= 10.0,
                "{name}: {ours} vs cargo-bloat's {theirs}"
            );
        }
    }
}
