//! Attribute: where the bytes of a binary go, per crate and per section.
//!
//! In: the **unstripped** ELF bytes, optionally with the build's `.rlib` files.
//! Out: an [`Attribution`]: each allocated section's size, and every allocated
//! file byte charged to a crate, `[C/unknown]` or `[unattributed]`. Why here:
//! the answer is in `.symtab`, which strip deletes, so this stage reads the
//! binary cargo wrote, before strip and UPX.
//!
//! Rules (cargo-bloat's approach, our own code):
//! - Only sized `STT_FUNC`/`STT_OBJECT` symbols count; overlaps (aliases) count once.
//! - The rlib index decides first: a symbol defined in the objects of one
//!   crate's rlib(s) (exported Rust symbols; any non-Rust name, such as C
//!   statics and `anon.*` constants) is that crate's, so `Vec<State>::push`
//!   emitted by regex_automata counts for it, as in cargo-bloat. The crate
//!   name comes from the file name, `lib<crate>-<hash>.rlib`.
//! - Otherwise a Rust name (legacy `_ZN…17h<hash>E` or v0 `_R…`, demangled by
//!   `rustc-demangle`) belongs to its first path component: std generics
//!   inlined into your crate (`core::ptr::drop_in_place::<regex::Regex>`) stay
//!   std's. In `<Type as Trait>::f` the type's crate wins; the trait's if the
//!   type has no path (`<&T as …>`) or is std's and the trait is not (the
//!   orphan rule puts that impl in the trait's crate). `<[T]>::sort`: core.
//! - Other names (musl's libc, asm, C++ without the Rust hash) are `[C/unknown]`.
//! - Unless `split_std`, `std`, `core`, `alloc`, `compiler_builtins`,
//!   `std_detect`, `panic_*`, `proc_macro`, `rustc_std_workspace_*` and
//!   `__rustc` (the allocator shim) are `std`. std's dependencies that are also
//!   crates.io names (`memchr`, `hashbrown`, `gimli`, …) are `std` only on the
//!   index's word: an rlib under `…/lib/rustlib/…`, or rlibs given and none of
//!   that name built. With no rlibs they keep their names. Pass
//!   [`sysroot_rlibs`] too, as cargo-bloat does, to place `memcpy` & co.
//! - Allocated bytes that no symbol covers (padding, literals, `.eh_frame`,
//!   `.rela.dyn`, `.got`, TLS data) and Rust names with no crate are
//!   `[unattributed]`: `crates` sums to exactly [`Attribution::allocated_total`].
//! - `SHT_NOBITS` sections (`.bss`, `.tbss`) take no file bytes: listed in
//!   `nobits`, not in `sections` nor any sum.
//! - `text_crates` counts symbols in `.text` only, without gaps, like
//!   `cargo bloat --crates`: its sum is at most `text_size`.
//!
//! Unreadable rlibs are skipped. No input panics: a bad ELF is `Err(Parse)`.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::archive::ArchiveFile;
use object::read::elf::{FileHeader, SectionHeader, Sym};
use object::{Endianness, FileKind, SectionIndex};

/// The row for the standard library and its private dependencies.
pub const STD: &str = "std";
/// The row for non-Rust symbols that no rlib defines (libc, asm).
pub const C_UNKNOWN: &str = "[C/unknown]";
/// The row for allocated bytes no symbol covers, and Rust symbols with no crate.
pub const UNATTRIBUTED: &str = "[unattributed]";

/// Bytes charged to one crate (or to one of the bracketed rows).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CrateSize {
    pub name: String,
    pub bytes: u64,
}

/// One allocated section and its size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SectionSize {
    pub name: String,
    pub bytes: u64,
}

/// Where the bytes go. Every list is sorted by bytes descending, then name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attribution {
    /// Every allocated file byte by crate, always with [`C_UNKNOWN`] and
    /// [`UNATTRIBUTED`] rows (maybe 0).
    pub crates: Vec<CrateSize>,
    /// Allocated sections that occupy file bytes (`SHF_ALLOC`, not `SHT_NOBITS`).
    pub sections: Vec<SectionSize>,
    /// Symbols in `.text` by crate, without gaps: compare with `cargo bloat --crates`.
    pub text_crates: Vec<CrateSize>,
    /// Size of `.text` (0 if there is none).
    pub text_size: u64,
    /// Allocated `SHT_NOBITS` sections (`.bss`, `.tbss`): memory, not file bytes.
    pub nobits: Vec<SectionSize>,
}

impl Attribution {
    /// File bytes of all allocated sections: what `crates` sums to.
    #[cfg(test)]
    pub fn allocated_total(&self) -> u64 {
        self.sections.iter().map(|s| s.bytes).sum()
    }

    /// Bytes charged to `name` in `crates` (0 if absent).
    #[cfg(test)]
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
    /// ideally plus [`sysroot_rlibs`]; files that are not archives are skipped.
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

/// Crates that are std's whatever the build contains.
fn is_core_std(name: &str) -> bool {
    const CORE: &str = "std core alloc compiler_builtins std_detect panic_unwind panic_abort \
                        proc_macro __rustc";
    CORE.split(' ').any(|n| n == name) || name.starts_with("rustc_std_workspace_")
}

/// std's private dependencies that are also crates.io names.
fn is_std_dep(name: &str) -> bool {
    const DEPS: &str = "hashbrown adler adler2 miniz_oxide gimli addr2line object rustc_demangle \
                        memchr cfg_if libc unwind getopts rustc_literal_escaper unicode_width \
                        profiler_builtins sysroot test";
    DEPS.split(' ').any(|n| n == name)
}

/// A toolchain's std rlibs for `target`: `<sysroot>/lib/rustlib/<target>/lib/*.rlib`.
pub fn sysroot_rlibs(sysroot: &Path, target: &str) -> std::io::Result<Vec<PathBuf>> {
    let dir = std::fs::read_dir(sysroot.join("lib/rustlib").join(target).join("lib"))?;
    let mut out = dir
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    out.retain(|p| p.extension().is_some_and(|e| e == "rlib"));
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
}

impl Index {
    fn load(paths: &[PathBuf]) -> Index {
        let mut index = Index::default();
        for path in paths {
            let _ = index.add(path);
        }
        index
    }

    /// Indexes one rlib; `None` if it is not a readable archive.
    fn add(&mut self, path: &Path) -> Option<()> {
        let name = rlib_crate_name(path)?;
        let data = std::fs::read(path).ok()?;
        let archive = ArchiveFile::parse(&*data).ok()?;
        let id = self.crates.len() as u32;
        let sysroot = path.components().any(|c| c.as_os_str() == "rustlib");
        self.crates.push((name, sysroot));
        for member in archive.members().flatten() {
            for_each_defined(member.data(&*data).unwrap_or(&[]), |sym| {
                self.define(sym, id)
            });
        }
        Some(())
    }

    fn define(&mut self, sym: &[u8], id: u32) {
        let ids = self.defs.entry(sym.to_vec()).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    /// Whether an rlib of the build (`sysroot == false`) or of the sysroot is named `krate`.
    fn has(&self, krate: &str, sysroot: bool) -> bool {
        self.crates.iter().any(|(n, s)| n == krate && *s == sysroot)
    }

    fn defining_crates(&self, sym: &[u8]) -> impl Iterator<Item = &(String, bool)> {
        let ids = self.defs.get(sym).map_or(&[][..], |v| &v[..]);
        ids.iter().filter_map(|&i| self.crates.get(i as usize))
    }
}

/// Calls `f` with the name of each defined symbol of an ELF object; other
/// members (`lib.rmeta`) are skipped.
fn for_each_defined(data: &[u8], f: impl FnMut(&[u8])) {
    let _ = match FileKind::parse(data) {
        Ok(FileKind::Elf32) => defined::<elf::FileHeader32<Endianness>>(data, f),
        Ok(FileKind::Elf64) => defined::<elf::FileHeader64<Endianness>>(data, f),
        _ => Ok(()),
    };
}

fn defined<E>(data: &[u8], mut f: impl FnMut(&[u8])) -> object::Result<()>
where
    E: FileHeader<Endian = Endianness>,
{
    let header = E::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let symtab = sections.symbols(endian, data, elf::SHT_SYMTAB)?;
    for sym in symtab.iter().skip(1) {
        let t = sym.st_type();
        if sym.is_undefined(endian) || t == elf::STT_SECTION || t == elf::STT_FILE {
            continue;
        }
        let name = sym.name(endian, symtab.strings())?;
        // A crate-local Rust symbol is mostly a private copy of generic (std)
        // code: leave it to its demangled name, as cargo-bloat does.
        let rust = name.starts_with(b"_ZN") || name.starts_with(b"_R");
        if name.is_empty() || (rust && sym.st_bind() == elf::STB_LOCAL) {
            continue;
        }
        f(name);
    }
    Ok(())
}

/// The crates a demangled Rust name points at: `(path or self type, trait)`.
/// `depth` bounds the recursion into nested `<…>`: no name overflows the stack.
fn demangled_crates(s: &str, depth: u8) -> (Option<&str>, Option<&str>) {
    let Some(rest) = s.strip_prefix('<') else {
        return (path_root(s, depth), None);
    };
    let bytes = rest.as_bytes();
    let (mut nest, mut as_at) = (0usize, None);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' | b'(' | b'[' => nest += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {} // `fn() -> T`
            b'>' | b')' | b']' if nest > 0 => nest -= 1,
            b'>' => {
                let Some(a) = as_at else {
                    // An inherent impl on a type with no path (`<[T]>::sort`):
                    // only core, alloc and std may write one.
                    return (path_root(&rest[..i], depth).or(Some("core")), None);
                };
                let (ty, tr) = (&rest[..a], &rest[a + 4..i]);
                return (path_root(ty, depth), path_root(tr, depth));
            }
            b' ' if nest == 0 && as_at.is_none() && rest[i..].starts_with(" as ") => {
                as_at = Some(i)
            }
            _ => {}
        }
    }
    (path_root(rest, depth), None)
}

/// The first component of the first path in `s`: `&mut regex::Foo<T>` →
/// `regex`; `None` for `T`, `[u8]`, `&str`.
fn path_root(s: &str, depth: u8) -> Option<&str> {
    if s.starts_with('<') && depth < 8 {
        let (ty, tr) = demangled_crates(s, depth + 1);
        return ty.or(tr);
    }
    let head = &s[..s.find("::")?];
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let start = head.char_indices().rev().find(|&(_, c)| !ident(c));
    let start = start.map_or(0, |(i, c)| i + c.len_utf8());
    let lifetime = head[..start].ends_with('\'');
    Some(&head[start..]).filter(|name| !name.is_empty() && !lifetime)
}

/// The demangled name (without hashes) if `name` is a Rust symbol.
fn demangle_rust(name: &str) -> Option<String> {
    let d = rustc_demangle::try_demangle(name).ok()?;
    if !["_R", "R", "__R"].iter().any(|p| name.starts_with(p)) {
        // Legacy Rust names end in a `h<16 hex>` segment; C++ `_ZN…E` names don't.
        let full = d.to_string();
        let hash = full.rsplit("::").next().and_then(|h| h.strip_prefix('h'));
        hash.filter(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))?;
    }
    Some(format!("{d:#}"))
}

/// Turns symbol names into row labels.
struct Labeler<'a> {
    index: &'a Index,
    split_std: bool,
}

impl Labeler<'_> {
    fn is_std(&self, krate: &str) -> bool {
        let ix = self.index;
        // Given rlibs, a std dependency that the build did not compile is the sysroot's.
        let unbuilt_dep = !ix.crates.is_empty() && is_std_dep(krate) && !ix.has(krate, false);
        !self.split_std && (is_core_std(krate) || ix.has(krate, true) || unbuilt_dep)
    }

    /// `krate`'s row for `sym`. A name of both a build and a sysroot crate (a
    /// user's `memchr`) is the build's unless only the sysroot's rlib defines `sym`.
    fn label_crate(&self, krate: &str, sym: &[u8]) -> String {
        let mut defs = self.index.defining_crates(sym).filter(|(n, _)| n == krate);
        let sysroot_only = defs.next().is_some_and(|(_, sys)| *sys) && defs.all(|(_, s)| *s);
        let built = self.index.has(krate, false) && !is_core_std(krate) && !sysroot_only;
        let std = self.is_std(krate) && !built;
        String::from(if std { STD } else { krate })
    }

    fn label(&self, raw: &[u8]) -> String {
        // The index first: the one label of the crates whose rlibs define `raw`.
        let defs = self.index.defining_crates(raw);
        let mut labels = defs.map(|(n, _)| self.label_crate(n, raw));
        if let Some(first) = labels.next() {
            if labels.all(|l| l == first) {
                return first;
            }
        }
        let Some(demangled) = std::str::from_utf8(raw).ok().and_then(demangle_rust) else {
            return C_UNKNOWN.to_string();
        };
        let krate = match demangled_crates(&demangled, 0) {
            (None, None) => return UNATTRIBUTED.to_string(),
            (Some(a), None) | (None, Some(a)) => a,
            (Some(ty), Some(tr)) => {
                let defined_by = |k| self.index.defining_crates(raw).any(|(n, _)| n == k);
                let trait_impl = self.is_std(ty) && !self.is_std(tr);
                let by_trait = ty != tr && !defined_by(ty) && (defined_by(tr) || trait_impl);
                if by_trait {
                    tr
                } else {
                    ty
                }
            }
        };
        self.label_crate(krate, raw)
    }
}

/// One allocated section, with the spans `(start, end, label)` of its
/// symbols as offsets into it.
struct Section {
    name: String,
    size: u64,
    nobits: bool,
    spans: Vec<(u64, u64, String)>,
}

/// Attribute the bytes of the unstripped ELF `elf` to crates and sections.
pub fn attribute(elf: &[u8], opts: &Options) -> Result<Attribution, BloatError> {
    let (index, split_std) = (&Index::load(&opts.rlibs), opts.split_std);
    let labeler = Labeler { index, split_std };
    let sections = match FileKind::parse(elf) {
        Ok(FileKind::Elf32) => read_elf::<elf::FileHeader32<Endianness>>(elf, &labeler)?,
        Ok(FileKind::Elf64) => read_elf::<elf::FileHeader64<Endianness>>(elf, &labeler)?,
        Ok(other) => return Err(BloatError::Parse(format!("not an ELF file ({other:?})"))),
        Err(e) => return Err(parse_err(e)),
    };
    let mut out = Attribution::default();
    let (mut crates, mut text_crates) = (HashMap::new(), HashMap::new());
    for name in [C_UNKNOWN, UNATTRIBUTED] {
        crates.insert(name.to_string(), 0);
        text_crates.insert(name.to_string(), 0);
    }
    for mut sec in sections.into_iter().flatten() {
        let (name, bytes) = (sec.name.clone(), sec.size);
        let rows = if sec.nobits {
            &mut out.nobits
        } else {
            &mut out.sections
        };
        rows.push(SectionSize { name, bytes });
        let is_text = sec.name == ".text" && !sec.nobits;
        if is_text {
            out.text_size = sec.size;
        }
        // A span that starts where a longer one does (an alias) counts inside it.
        let spans = &mut sec.spans;
        spans.sort_by(|a, b| (a.0, b.1, &a.2).cmp(&(b.0, a.1, &b.2)));
        let (mut covered_to, mut covered) = (0u64, 0u64);
        for (start, end, label) in sec.spans {
            let bytes = end.saturating_sub(start.max(covered_to));
            if bytes == 0 {
                continue;
            }
            (covered_to, covered) = (end, covered + bytes);
            if is_text {
                *text_crates.entry(label.clone()).or_default() += bytes;
            }
            *crates.entry(label).or_default() += bytes;
        }
        if !sec.nobits {
            *crates.entry(UNATTRIBUTED.to_string()).or_default() += sec.size - covered;
        }
    }
    let key = |s: &SectionSize| (Reverse(s.bytes), s.name.clone());
    out.sections.sort_by_key(key);
    out.nobits.sort_by_key(key);
    (out.crates, out.text_crates) = (sorted(crates), sorted(text_crates));
    Ok(out)
}

fn sorted(map: HashMap<String, u64>) -> Vec<CrateSize> {
    let mut rows = Vec::with_capacity(map.len());
    for (name, bytes) in map {
        rows.push(CrateSize { name, bytes });
    }
    rows.sort_by_key(|c| (Reverse(c.bytes), c.name.clone()));
    rows
}

/// Allocated sections by header index (`None` for the others), each with the
/// labelled spans of the sized function/object symbols of `.symtab` in it.
fn read_elf<E>(data: &[u8], labeler: &Labeler) -> Result<Vec<Option<Section>>, BloatError>
where
    E: FileHeader<Endian = Endianness>,
{
    let header = E::parse(data).map_err(parse_err)?;
    let endian = header.endian().map_err(parse_err)?;
    let table = header.sections(endian, data).map_err(parse_err)?;
    let (mut sections, mut addrs) = (Vec::new(), Vec::new());
    for sh in table.iter() {
        addrs.push(sh.sh_addr(endian).into());
        if sh.sh_flags(endian).0 & elf::SHF_ALLOC.0 == 0 {
            sections.push(None);
            continue;
        }
        let name = table.section_name(endian, sh).map_err(parse_err)?;
        let name = String::from_utf8_lossy(name).into_owned();
        let size = sh.sh_size(endian).into();
        let nobits = sh.sh_type(endian) == elf::SHT_NOBITS;
        let spans = Vec::new();
        sections.push(Some(Section {
            name,
            size,
            nobits,
            spans,
        }));
    }
    let symtab = table.symbols(endian, data, elf::SHT_SYMTAB);
    let symtab = symtab.map_err(parse_err)?;
    if symtab.len() <= 1 {
        return Err(BloatError::NoSymbols);
    }
    let (strings, secs) = (symtab.strings(), &sections);
    let span = |(i, sym): (_, &E::Sym)| {
        let size: u64 = sym.st_size(endian).into();
        let kind = size > 0 && matches!(sym.st_type(), elf::STT_FUNC | elf::STT_OBJECT);
        let SectionIndex(s) = symtab.symbol_section(endian, sym, i).ok()??;
        let sec = secs.get(s)?.as_ref().filter(|x| kind && !x.nobits)?;
        // Offset in the section (in an ET_REL object sh_addr is 0: st_value is one).
        let start = sym.st_value(endian).into().checked_sub(*addrs.get(s)?)?;
        let end = start.saturating_add(size).min(sec.size);
        Some((s, start, end, sym.name(endian, strings).ok()?)).filter(|_| start < sec.size)
    };
    let spans: Vec<_> = symtab.enumerate().skip(1).filter_map(span).collect();
    for (s, start, end, name) in spans {
        if let Some(Some(sec)) = sections.get_mut(s) {
            sec.spans.push((start, end, labeler.label(name)));
        }
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::{Object, StandardSection, Symbol as WSym, SymbolSection};
    use object::{Architecture, BinaryFormat, SymbolFlags, SymbolKind, SymbolScope};
    use std::process::Command;
    use std::sync::OnceLock;

    /// Legacy-mangles `a/b/c` (segments may hold `<`, `>`, ` `, `&`, `::`).
    fn legacy(path: &str) -> String {
        let mut out = String::from("_ZN");
        for seg in path.split('/').chain(["h0123456789abcdef"]) {
            let mut seg = seg.replace('&', "$RF$");
            for (from, to) in [("::", ".."), ("<", "$LT$"), (">", "$GT$"), (" ", "$u20$")] {
                seg = seg.replace(from, to);
            }
            out += &format!("{}{seg}", seg.len());
        }
        out + "E"
    }

    /// `a/b` legacy-mangled; a name without `/` as it is.
    fn sym(name: &str) -> String {
        Some(name)
            .filter(|s| s.contains('/'))
            .map_or(name.into(), legacy)
    }

    /// Rows of `a | b | c` (a blank cell is `None` for [`opt`]).
    fn table(text: &str) -> impl Iterator<Item = Vec<&str>> {
        let rows = text.lines().map(str::trim).filter(|l| !l.is_empty());
        rows.map(|l| l.split('|').map(str::trim).collect())
    }

    fn opt(s: &str) -> Option<&str> {
        Some(s).filter(|s| !s.is_empty())
    }

    #[test]
    fn demangled_crate_names() {
        for row in table(
            "regex_automata::meta::Regex::new                     | regex_automata |
             core::ptr::drop_in_place::<regex::Regex>             | core  |
             <regex::Pool<T,F> as core::ops::drop::Drop>::drop    | regex | core
             <&T as core::fmt::Debug>::fmt                        |       | core
             <&'a mut regex::Foo as core::fmt::Write>::write_str  | regex | core
             <fn(&regex::A) -> u8 as core::ops::FnOnce<()>>::call | regex | core
             <alloc::vec::Vec<x::X> as serde::Serialize>::f       | alloc | serde
             <[u8]>::copy_within::<core::ops::Range<usize>>       | core  |
             <usize>::_fmt                                        | core  |
             <u8 as <[_]>::to_vec_in::ConvertVec>::to_vec         |       | core
             <regex::Foo>::new::{closure#0}                       | regex |
             <é::X>::f                                            | é     |
             main                                                 |       |",
        ) {
            let want = (opt(row[1]), opt(row[2]));
            assert_eq!(demangled_crates(row[0], 0), want, "{}", row[0]);
        }
        let _ = demangled_crates(&("<".repeat(100_000) + "a::b"), 0); // no stack overflow
    }

    #[test]
    fn rlib_file_names() {
        for row in table(
            "/t/deps/libregex_automata-16c15850d2933eda.rlib | regex_automata
             /s/lib/rustlib/x/lib/libstd-286e4795762d614b.rlib | std
             libfoo.rlib | foo
             lib.rlib |",
        ) {
            let name = rlib_crate_name(Path::new(row[0]));
            assert_eq!(name.as_deref(), opt(row[1]), "{row:?}");
        }
    }

    #[test]
    fn labels() {
        let none = Index::default();
        let mut build = Index::default();
        for (id, row) in table(
            "memchr            | build   |
             memchr            | sysroot | memchr/memchr
             compiler_builtins | sysroot | memcpy
             a                 | build   | anon.1 dup
             b                 | build   | dup",
        )
        .enumerate()
        {
            build.crates.push((row[0].to_string(), row[1] == "sysroot"));
            for name in row[2].split_whitespace() {
                build.define(sym(name).as_bytes(), id as u32);
            }
        }
        // index | split_std | symbol (legacy-mangled if it has `/`) | row
        for row in table(
            "none  | n | core/fmt/write | std
             none  | y | core/fmt/write | core
             none  | n | hashbrown/raw/f | hashbrown
             none  | n | memchr/memchr | memchr
             none  | n | memcpy | [C/unknown]
             none  | n | _ZN9libunwind4initE | [C/unknown]
             none  | n | _RNvCs1234_7___rustc12___rust_alloc | std
             build | n | hashbrown/raw/f | std
             build | y | hashbrown/raw/f | hashbrown
             build | n | memchr/other | memchr
             build | n | memchr/memchr | std
             build | n | memcpy | std
             build | n | anon.1 | a
             build | n | dup | [C/unknown]
             build | n | <alloc::vec::Vec<T> as serde::Ser>/ser | serde
             build | n | <a::X as b::Y>/f | a",
        ) {
            let index = if row[0] == "none" { &none } else { &build };
            let split_std = row[1] == "y";
            let label = Labeler { index, split_std }.label(sym(row[2]).as_bytes());
            assert_eq!(label, row[3], "{row:?}");
        }
    }

    /// A relocatable x86_64 object: .text 64 bytes (two overlapping Rust
    /// functions, `memcpy`, a 32-byte gap), .rodata 32 (an 8-byte `anon`
    /// object), .bss 16. Every symbol is global.
    fn synthetic() -> Vec<u8> {
        let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
        let text = obj.section_id(StandardSection::Text);
        obj.append_section_data(text, &[0x90; 64], 16);
        let rodata = obj.section_id(StandardSection::ReadOnlyData);
        obj.append_section_data(rodata, &[1; 32], 8);
        let bss = obj.section_id(StandardSection::UninitializedData);
        obj.append_section_bss(bss, 16, 8);
        for (name, section, value, size, kind) in [
            (legacy("regex/Regex/new"), text, 0, 16, SymbolKind::Text),
            (legacy("core/fmt/write"), text, 8, 16, SymbolKind::Text),
            ("memcpy".to_string(), text, 32, 8, SymbolKind::Text),
            ("anon.1".to_string(), rodata, 0, 8, SymbolKind::Data),
            (legacy("regex/CACHE"), bss, 0, 16, SymbolKind::Data),
        ] {
            let (scope, weak, flags) = (SymbolScope::Linkage, false, SymbolFlags::None);
            let (section, name) = (SymbolSection::Section(section), name.into_bytes());
            obj.add_symbol(WSym {
                name,
                value,
                size,
                kind,
                scope,
                weak,
                section,
                flags,
            });
        }
        obj.write().expect("write object")
    }

    /// `name=bytes` rows, space separated.
    fn rows(list: &[CrateSize]) -> String {
        let rows = list.iter().map(|c| format!("{}={}", c.name, c.bytes));
        rows.collect::<Vec<_>>().join(" ")
    }

    fn opts(split_std: bool, rlibs: &[PathBuf]) -> Options {
        let rlibs = rlibs.to_vec();
        Options { split_std, rlibs }
    }

    #[test]
    fn synthetic_object() {
        let a = attribute(&synthetic(), &Options::default()).expect("attribute");
        // core::fmt::write overlaps regex's function by 8 bytes: counted once.
        // Gaps: 32 bytes of .text, 24 of .rodata.
        let want = "[unattributed]=56 [C/unknown]=16 regex=16 std=8";
        assert_eq!(
            (rows(&a.crates).as_str(), a.allocated_total()),
            (want, 64 + 32)
        );
        let want = "regex=16 [C/unknown]=8 std=8 [unattributed]=0";
        assert_eq!((rows(&a.text_crates).as_str(), a.text_size), (want, 64));
        let bss = (a.nobits.len(), a.nobits[0].name.as_str(), a.nobits[0].bytes);
        assert_eq!(bss, (1, ".bss", 16));
    }

    #[test]
    fn rlib_index_resolves_symbols() {
        let dir = std::env::temp_dir().join(format!("bloat-rlibs-{}", std::process::id()));
        let sys = dir.join("lib/rustlib").join(TARGET).join("lib");
        std::fs::create_dir_all(&sys).unwrap();
        let member = synthetic();
        let header = format!("{:<48}{:<10}`\n", "lib.o/", member.len());
        let ar = [b"!<arch>\n", header.as_bytes(), &member].concat();
        let (fast, std) = (dir.join("libfast-01ab.rlib"), sys.join("libstd-89.rlib"));
        let rlibs = [fast, std, dir.join("libgone-1.rlib")];
        std::fs::write(&rlibs[0], ar).unwrap();
        std::fs::write(&rlibs[1], b"not an archive").unwrap();
        let a = attribute(&synthetic(), &opts(false, &rlibs)).unwrap();
        // Every symbol is defined in fast's rlib: the definition wins.
        assert_eq!(rows(&a.crates), "[unattributed]=56 fast=40 [C/unknown]=0");
        assert_eq!(sysroot_rlibs(&dir, TARGET).unwrap(), [rlibs[1].clone()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let good = synthetic();
        let garbage = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8);
        let garbage: Vec<u8> = garbage.collect();
        let elf_garbage = [&good[..16], &garbage].concat();
        for data in [&[][..], b"\x7fELF", &garbage, &elf_garbage, &good[..100]] {
            let res = attribute(data, &Options::default());
            assert!(matches!(res, Err(BloatError::Parse(_))), "{res:?}");
        }
        for i in 0..good.len() {
            let _ = attribute(&good[..i], &Options::default()); // truncated
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = attribute(&bad, &Options::default()); // one byte flipped
        }
        // No `.symtab`: retype it as PROGBITS (sh_type is 4 bytes into its header).
        let header = elf::FileHeader64::<Endianness>::parse(&*good).unwrap();
        let endian = header.endian().unwrap();
        let mut table = header.sections(endian, &*good).unwrap().iter();
        let idx = table.position(|s| s.sh_type(endian) == elf::SHT_SYMTAB);
        let entry = header.e_shentsize(endian) as usize;
        let at = header.e_shoff(endian) as usize + idx.unwrap() * entry + 4;
        let mut stripped = good.clone();
        stripped[at..at + 4].copy_from_slice(&elf::SHT_PROGBITS.0.to_le_bytes());
        let err = attribute(&stripped, &Options::default()).unwrap_err();
        assert!(matches!(err, BloatError::NoSymbols));
        let msg = "the binary has no symbol table (already stripped?)";
        assert_eq!(err.to_string(), msg);
    }

    const TARGET: &str = "x86_64-unknown-linux-musl";

    /// cargo in testdata/regexy, with the fixtures' shared target dir.
    fn cargo(args: &str) -> Command {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        cmd.args(args.split(' '));
        cmd.current_dir(repo.join("testdata/regexy"));
        cmd.env("CARGO_TARGET_DIR", repo.join("target/fixtures"));
        cmd.env_remove("RUSTFLAGS");
        cmd.env_remove("CARGO_ENCODED_RUSTFLAGS");
        cmd
    }

    fn run(cmd: &mut Command) -> String {
        let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cmd:?} failed:\n{stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// testdata/regexy, built once: its executable, and its rlibs + the sysroot's.
    fn regexy() -> &'static (Vec<u8>, Vec<PathBuf>) {
        static BUILT: OnceLock<(Vec<u8>, Vec<PathBuf>)> = OnceLock::new();
        BUILT.get_or_init(|| {
            let args = format!("build --release --locked --target {TARGET} --message-format=json");
            let json = run(&mut cargo(&args));
            let (mut exe, mut rlibs) = (None, Vec::new());
            for line in json.lines() {
                let msg: serde_json::Value = serde_json::from_str(line).expect("cargo JSON");
                if msg["reason"] == "compiler-artifact" {
                    exe = msg["executable"].as_str().map(PathBuf::from).or(exe);
                    let files = msg["filenames"].as_array().into_iter().flatten();
                    let files = files.filter_map(|f| f.as_str().filter(|f| f.ends_with(".rlib")));
                    rlibs.extend(files.map(PathBuf::from));
                }
            }
            let rustc = std::env::var_os("RUSTC").unwrap_or("rustc".into());
            let sysroot = run(Command::new(rustc).args(["--print", "sysroot"]));
            rlibs.extend(sysroot_rlibs(Path::new(sysroot.trim()), TARGET).expect("sysroot"));
            let exe = exe.expect("regexy executable in cargo's output");
            (std::fs::read(exe).expect("read regexy"), rlibs)
        })
    }

    #[test]
    fn regexy_fixture() {
        let (exe, rlibs) = regexy();
        let a = attribute(exe, &opts(false, rlibs)).unwrap();
        for name in ["regex_automata", "regex_syntax", STD, "regexy", C_UNKNOWN] {
            assert!(a.crate_bytes(name) > 0, "{name} missing: {a:#?}");
        }
        assert!(a.crates.iter().any(|c| c.name == UNATTRIBUTED));
        let sum = |rows: &[CrateSize]| rows.iter().map(|c| c.bytes).sum::<u64>();
        assert_eq!(sum(&a.crates), a.allocated_total());
        assert!(sum(&a.text_crates) <= a.text_size);
        let text = a.sections.iter().find(|s| s.name == ".text");
        assert_eq!(text.map(|s| s.bytes), Some(a.text_size));
        assert!(a.nobits.iter().any(|s| s.name == ".bss"));
        // Without the index std's own dependencies keep their names; split_std splits.
        let bare = attribute(exe, &Options::default()).unwrap();
        let (gimli, std) = (bare.crate_bytes("gimli"), bare.crate_bytes(STD));
        assert!(gimli > 0 && std > 0, "{bare:#?}");
        let split = attribute(exe, &opts(true, rlibs)).unwrap();
        assert!(split.crate_bytes("core") > 0 && split.crate_bytes(STD) < a.crate_bytes(STD));
    }

    #[test]
    fn agrees_with_cargo_bloat() {
        let installed = cargo("bloat --version").output();
        if !installed.is_ok_and(|o| o.status.success()) {
            let why = "cargo-bloat is not installed (cargo install cargo-bloat --locked)";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            return eprintln!("skipping agrees_with_cargo_bloat: {why}");
        }
        let (exe, rlibs) = regexy();
        let ours = attribute(exe, &opts(false, rlibs)).unwrap();
        let args = format!("bloat --release --locked --target {TARGET} --crates -n 0");
        let json = run(&mut cargo(&(args + " --message-format json")));
        let theirs: serde_json::Value = serde_json::from_str(&json).expect("cargo-bloat JSON");
        assert_eq!(theirs["text-section-size"].as_u64(), Some(ours.text_size));
        for c in theirs["crates"].as_array().expect("crates").iter().take(5) {
            let (name, theirs) = (c["name"].as_str().unwrap(), c["size"].as_u64().unwrap());
            let ours_name = if name == "[Unknown]" { C_UNKNOWN } else { name };
            let row = ours.text_crates.iter().find(|r| r.name == ours_name);
            let ours = row.map_or(0, |r| r.bytes);
            let diff = (ours as f64 - theirs as f64) / theirs as f64 * 100.0;
            eprintln!("{name:>16}: cargo-bloat {theirs:>8}  ours {ours:>8}  {diff:+.1}%");
            let why = format!("{name}: {ours} vs cargo-bloat's {theirs}");
            assert!(diff.abs() <= 10.0, "{why}");
        }
    }
}
