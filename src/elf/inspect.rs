//! ELF inspection of the binary that goes into the image.
//!
//! In: the raw bytes of the file cargo built (never a path, never a
//! subprocess). Out: an [`Inspection`] saying what the file is — its
//! architecture (`e_machine` mapped to an OCI/GOARCH name), how it is linked
//! ([`LinkKind`]: static, static-pie or dynamic, with the `PT_INTERP` and
//! every `DT_NEEDED` library for the dynamic case), whether it carries a
//! symbol table or debug info, and human warnings (executable stack, glibc
//! NSS/`dlopen` use) — or an [`InspectError`] explaining in one sentence why
//! the file cannot be packed (empty, not ELF, truncated, 32-bit, big-endian,
//! not an executable, malformed).
//!
//! Why: a FROM-scratch image has no dynamic loader and no libraries, so a
//! dynamically linked binary would fail at `exec` with a baffling "no such
//! file or directory". We decide that from the ELF headers ourselves and
//! never shell out to `ldd`: it runs the binary's own loader (unsafe on
//! untrusted files, impossible for a foreign architecture or a missing
//! loader) and is not installed everywhere. Inspection runs BEFORE UPX: a
//! packed file shows only the UPX stub's headers, which always look static.
//!
//! Robustness: the input may be anything (a script, a truncated copy, a
//! corrupt file). Cheap structural checks (magic, class, data encoding, file
//! type, program and section header tables and every segment lying inside the
//! file: the sibling `precheck.rs`) run before `goblin` sees the bytes, so
//! ordinary malformed inputs are plain errors; as a last line of defence the
//! `goblin` call is also wrapped in [`std::panic::catch_unwind`] and a panic
//! becomes [`InspectError::Malformed`].

use std::panic::{catch_unwind, AssertUnwindSafe};

use goblin::elf::dynamic::{DF_1_PIE, DT_NEEDED};
use goblin::elf::header::{EI_OSABI, ET_DYN, ET_EXEC};
use goblin::elf::program_header::{PF_X, PT_GNU_STACK, PT_INTERP, PT_NOTE};
use goblin::elf::section_header::SHT_SYMTAB;
use goblin::elf::Elf;

pub use super::error::InspectError;
use super::precheck::precheck;

/// How the executable gets its libc and other libraries at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// `ET_EXEC`, no `PT_INTERP`, no `DT_NEEDED`.
    Static,
    /// `ET_DYN` with `DF_1_PIE`, no `PT_INTERP`, no `DT_NEEDED`: relocates itself.
    StaticPie,
    /// Has a `PT_INTERP` or at least one `DT_NEEDED`: needs a loader and libraries.
    Dynamic,
}

impl LinkKind {
    /// Short lowercase name for messages and reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            LinkKind::Static => "static",
            LinkKind::StaticPie => "static-pie",
            LinkKind::Dynamic => "dynamic",
        }
    }

    /// The kind [`LinkKind::as_str`] names.
    pub fn from_name(name: &str) -> Option<LinkKind> {
        [LinkKind::Static, LinkKind::StaticPie, LinkKind::Dynamic]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// The OCI architecture and variant of an `e_machine` (`"unknown"` when unmapped).
pub fn arch_of(machine: u16) -> (&'static str, Option<&'static str>) {
    crate::arch::from_machine(machine).map_or(("unknown", None), |a| (a.goarch, a.variant))
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`inspect`] found out about an ELF executable.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Raw `e_machine`.
    pub machine: u16,
    /// OCI/GOARCH architecture name (`amd64`, `arm64`, ...), `"unknown"` if
    /// `e_machine` has no mapping.
    pub arch: &'static str,
    /// OCI architecture variant, e.g. `Some("v8")` for arm64.
    pub variant: Option<&'static str>,
    /// How the executable is linked.
    pub kind: LinkKind,
    /// The `PT_INTERP` string (the dynamic loader), if any.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` library names, in file order.
    pub needed: Vec<String>,
    /// A `.symtab` (`SHT_SYMTAB`) section exists: the binary is not stripped.
    pub has_symtab: bool,
    /// Any `.debug*` or `.zdebug*` section exists.
    pub has_debug: bool,
    /// `PT_GNU_STACK` asks for an executable stack (`PF_X`).
    pub exec_stack: bool,
    /// Human-readable warnings (full sentences); never fatal by themselves.
    pub warnings: Vec<String>,
    /// The allocators the symbol table shows (`None`: stripped).
    pub allocator: Option<super::allocator::Found>,
}

impl Inspection {
    /// True for [`LinkKind::Static`] and [`LinkKind::StaticPie`]: runs in a
    /// FROM-scratch image without a loader or libraries.
    pub fn is_static(&self) -> bool {
        matches!(self.kind, LinkKind::Static | LinkKind::StaticPie)
    }
}

/// Inspect an ELF executable given as raw bytes. Never panics.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, InspectError> {
    match catch_unwind(AssertUnwindSafe(|| inspect_uncaught(bytes))) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(InspectError::Malformed {
                detail: format!("the ELF parser crashed on this file ({msg})"),
            })
        }
    }
}

/// `NT_GNU_ABI_TAG`: written by glibc's crt1.o, never by musl.
const NT_GNU_ABI_TAG: u32 = 1;

/// Symbols whose presence in a glibc-linked binary means NSS or `dlopen` at
/// run time (both load shared objects that a FROM-scratch image lacks).
const NSS_SYMBOLS: &[&str] = &[
    "getaddrinfo",
    "getnameinfo",
    "gethostbyname",
    "gethostbyname_r",
    "gethostbyname2",
    "gethostbyname2_r",
    "gethostbyaddr",
    "gethostbyaddr_r",
    "getpwnam",
    "getpwnam_r",
    "getpwuid",
    "getpwuid_r",
    "getgrnam",
    "getgrnam_r",
    "getgrgid",
    "getgrgid_r",
    "getgrouplist",
    "initgroups",
    "getservbyname",
    "getservbyname_r",
    "dlopen",
];

/// The glibc NSS/`dlopen` warning, if the binary looks glibc-linked and
/// uses NSS (by symbol, or by the `libnss_`/`nsswitch.conf` strings).
fn glibc_nss_warning(elf: &Elf<'_>, bytes: &[u8]) -> Option<String> {
    let mut api: Vec<&str> = Vec::new(); // public NSS_SYMBOLS names, first-seen order
    let mut nss_internal = false; // any __nss_* symbol
    let mut libc_start_main = false;
    for (syms, strtab) in [(&elf.syms, &elf.strtab), (&elf.dynsyms, &elf.dynstrtab)] {
        for sym in syms.iter() {
            let Some(name) = strtab.get_at(sym.st_name) else {
                continue;
            };
            // Strip a symbol version suffix ("dlopen@GLIBC_2.34", "x@@V").
            let base = name.split('@').next().unwrap_or(name);
            if base.starts_with("__nss_") {
                nss_internal = true;
            } else if let Some(known) = NSS_SYMBOLS.iter().find(|&&n| n == base) {
                if !api.contains(known) {
                    api.push(known);
                }
            } else if base == "__libc_start_main" {
                libc_start_main = true;
            }
        }
    }
    let markers = scan_bytes(bytes);
    let looks_glibc = markers.glibc || (libc_start_main && has_gnu_abi_tag(elf, bytes));
    if !looks_glibc || (api.is_empty() && !nss_internal && !markers.nss) {
        return None;
    }
    const SHOWN: usize = 6;
    let mut named: Vec<String> = api.iter().take(SHOWN).map(|s| s.to_string()).collect();
    if api.len() > SHOWN {
        named.push(format!("{} more", api.len() - SHOWN));
    }
    if nss_internal {
        named.push("glibc's __nss_* internals".into());
    }
    let what = if named.is_empty() {
        "mentions libnss_*/nsswitch.conf".to_string()
    } else {
        format!("uses {}", named.join(", "))
    };
    Some(format!(
        "the binary looks glibc-linked and {what}: glibc loads NSS modules (libnss_*.so) \
         and dlopen()ed libraries at run time, which a FROM-scratch image does not contain, \
         so user, group and host name lookups may fail; build for a musl target instead"
    ))
}

/// Byte strings searched for in the whole file.
#[derive(Default)]
struct ByteMarkers {
    glibc: bool,
    nss: bool,
}

fn scan_bytes(bytes: &[u8]) -> ByteMarkers {
    // memchr's SIMD substring search: a full pass over a 20 MB binary (the common
    // musl case, where nothing is found) costs a few milliseconds, not 50.
    let any = |needles: &[&[u8]]| {
        needles
            .iter()
            .any(|n| memchr::memmem::find(bytes, n).is_some())
    };
    ByteMarkers {
        glibc: any(&[b"GLIBC_", b"glibc"]),
        nss: any(&[b"libnss_", b"nsswitch.conf"]),
    }
}

/// Like [`inspect`] but without the `catch_unwind` guard, so tests can prove
/// that the pre-checks alone keep goblin from panicking.
pub(crate) fn inspect_uncaught(bytes: &[u8]) -> Result<Inspection, InspectError> {
    precheck(bytes)?;
    let elf = Elf::parse(bytes).map_err(|e| InspectError::Malformed {
        detail: e.to_string(),
    })?;
    let machine = elf.header.e_machine;
    let (arch, variant) = arch_of(machine);
    let (interpreter, exec_stack) = program_headers(&elf, bytes)?;
    let (needed, flags_1) = dynamic_needed(&elf);
    let kind = link_kind(elf.header.e_type, interpreter.is_some(), &needed, flags_1)?;
    let (has_symtab, has_debug) = symbols_and_debug(&elf);
    Ok(Inspection {
        machine,
        arch,
        variant,
        kind,
        interpreter,
        needed,
        has_symtab,
        has_debug,
        exec_stack,
        warnings: warnings(&elf, bytes, exec_stack),
        allocator: super::allocator::detect(&elf),
    })
}

/// The `PT_INTERP` string (read here: goblin drops non-UTF-8 interpreters), and
/// whether `PT_GNU_STACK` asks for an executable stack.
fn program_headers(elf: &Elf<'_>, bytes: &[u8]) -> Result<(Option<String>, bool), InspectError> {
    let mut interpreter = None;
    let mut exec_stack = false;
    for ph in &elf.program_headers {
        if ph.p_type == PT_INTERP {
            // The prechecks put non-empty segments inside the file; an empty
            // one may carry any offset. The kernel refuses an empty interpreter.
            let raw = usize::try_from(ph.p_offset)
                .ok()
                .zip(usize::try_from(ph.p_filesz).ok())
                .filter(|&(_, size)| size > 0)
                .and_then(|(start, size)| bytes.get(start..start.checked_add(size)?))
                .ok_or_else(|| InspectError::Malformed {
                    detail: "the PT_INTERP segment (dynamic loader path) is empty".into(),
                })?;
            let raw = raw.split(|&b| b == 0).next().unwrap_or(raw);
            interpreter = Some(String::from_utf8_lossy(raw).into_owned());
        } else if ph.p_type == PT_GNU_STACK && ph.p_flags & PF_X != 0 {
            exec_stack = true;
        }
    }
    Ok((interpreter, exec_stack))
}

/// The `DT_NEEDED` libraries in file order, and the `DT_FLAGS_1` bits.
fn dynamic_needed(elf: &Elf<'_>) -> (Vec<String>, u64) {
    let Some(dynamic) = &elf.dynamic else {
        return (Vec::new(), 0);
    };
    let needed = dynamic
        .dyns
        .iter()
        .filter(|d| d.d_tag == DT_NEEDED)
        .map(|d| match elf.dynstrtab.get_at(d.d_val as usize) {
            Some(name) => name.to_string(),
            None => format!(
                "<unreadable DT_NEEDED name at string offset {:#x}>",
                d.d_val
            ),
        })
        .collect();
    (needed, dynamic.info.flags_1)
}

/// How the file is linked; an `ET_DYN` that is neither a PIE nor has a
/// loader is a shared library, not a program.
fn link_kind(
    e_type: u16,
    has_interpreter: bool,
    needed: &[String],
    flags_1: u64,
) -> Result<LinkKind, InspectError> {
    let is_pie = flags_1 & DF_1_PIE != 0;
    if e_type == ET_DYN && !has_interpreter && !is_pie {
        return Err(InspectError::NotExecutable {
            kind: "a shared library (ET_DYN without PT_INTERP or DF_1_PIE)".into(),
        });
    }
    Ok(if has_interpreter || !needed.is_empty() {
        LinkKind::Dynamic
    } else if e_type == ET_EXEC {
        LinkKind::Static
    } else {
        LinkKind::StaticPie
    })
}

/// Whether a `.symtab` and any `.debug*`/`.zdebug*` section exist.
fn symbols_and_debug(elf: &Elf<'_>) -> (bool, bool) {
    let mut has_symtab = false;
    let mut has_debug = false;
    for sh in &elf.section_headers {
        if sh.sh_type == SHT_SYMTAB {
            has_symtab = true;
        }
        if let Some(name) = elf.shdr_strtab.get_at(sh.sh_name) {
            if name.starts_with(".debug") || name.starts_with(".zdebug") {
                has_debug = true;
            }
        }
    }
    (has_symtab, has_debug)
}

/// The human warnings: a foreign OS/ABI byte, an executable stack, glibc NSS use.
fn warnings(elf: &Elf<'_>, bytes: &[u8], exec_stack: bool) -> Vec<String> {
    let mut warnings = Vec::new();
    let osabi = bytes[EI_OSABI];
    if osabi != 0 && osabi != 3 {
        warnings.push(format!(
            "the ELF OS/ABI byte is {osabi} (neither System V nor GNU/Linux); the binary may not \
             be built for Linux"
        ));
    }
    if exec_stack {
        warnings.push(
            "the binary asks for an executable stack (PT_GNU_STACK has PF_X), which disables a \
             basic exploit mitigation; usually an assembly object lacks a .note.GNU-stack section"
                .into(),
        );
    }
    if let Some(w) = glibc_nss_warning(elf, bytes) {
        warnings.push(w);
    }
    warnings
}

/// A `PT_NOTE` holds a GNU `NT_GNU_ABI_TAG` note (glibc's crt1.o adds one).
fn has_gnu_abi_tag(elf: &Elf<'_>, bytes: &[u8]) -> bool {
    if !elf.program_headers.iter().any(|ph| ph.p_type == PT_NOTE) {
        return false;
    }
    match elf.iter_note_headers(bytes) {
        Some(notes) => notes
            .take(64)
            .map_while(Result::ok)
            .any(|n| n.n_type == NT_GNU_ABI_TAG && n.name == "GNU"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::precheck::{rd_u16, rd_u32, rd_u64, PHDR64_SIZE, SHDR64_SIZE};
    use super::*;
    use goblin::elf::header::{EI_DATA, ELFDATA2MSB, ET_CORE};

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/testdata/elf/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {path}: {e}"))
    }

    struct Good {
        name: &'static str,
        kind: LinkKind,
        arch: &'static str,
        interpreter: Option<&'static str>,
        needed: &'static [&'static str],
        has_symtab: bool,
        has_debug: bool,
        nss_warning: bool,
    }

    const GOOD: &[Good] = &[
        Good {
            name: "static",
            kind: LinkKind::Static,
            arch: "amd64",
            interpreter: None,
            needed: &[],
            has_symtab: false,
            has_debug: false,
            nss_warning: false,
        },
        Good {
            name: "static-unstripped",
            kind: LinkKind::Static,
            arch: "amd64",
            interpreter: None,
            needed: &[],
            has_symtab: true,
            has_debug: true,
            nss_warning: false,
        },
        Good {
            name: "static-pie",
            kind: LinkKind::StaticPie,
            arch: "amd64",
            interpreter: None,
            needed: &[],
            has_symtab: false,
            has_debug: false,
            nss_warning: false,
        },
        Good {
            name: "glibc-dynamic",
            kind: LinkKind::Dynamic,
            arch: "amd64",
            interpreter: Some("/lib64/ld-linux-x86-64.so.2"),
            needed: &["libc.so.6"],
            has_symtab: false,
            has_debug: false,
            nss_warning: true,
        },
        Good {
            name: "musl-dynamic",
            kind: LinkKind::Dynamic,
            arch: "amd64",
            interpreter: Some("/lib/ld-musl-x86_64.so.1"),
            needed: &["libc.so"],
            has_symtab: false,
            has_debug: false,
            nss_warning: false,
        },
        Good {
            name: "aarch64-static",
            kind: LinkKind::Static,
            arch: "arm64",
            interpreter: None,
            needed: &[],
            has_symtab: false,
            has_debug: false,
            nss_warning: false,
        },
    ];

    #[test]
    fn good_fixtures() {
        for g in GOOD {
            let ins = inspect(&fixture(g.name)).unwrap_or_else(|e| panic!("{}: {e}", g.name));
            assert_eq!(ins.kind, g.kind, "{}", g.name);
            assert_eq!(ins.arch, g.arch, "{}", g.name);
            assert_eq!(ins.interpreter.as_deref(), g.interpreter, "{}", g.name);
            assert_eq!(ins.needed, g.needed, "{}", g.name);
            assert_eq!(ins.has_symtab, g.has_symtab, "{}", g.name);
            assert_eq!(ins.has_debug, g.has_debug, "{}", g.name);
            assert!(!ins.exec_stack, "{}", g.name);
            assert_eq!(ins.is_static(), g.kind != LinkKind::Dynamic, "{}", g.name);
            let nss = ins.warnings.iter().any(|w| w.contains("glibc-linked"));
            assert_eq!(nss, g.nss_warning, "{}: {:?}", g.name, ins.warnings);
            if !g.nss_warning {
                assert!(ins.warnings.is_empty(), "{}: {:?}", g.name, ins.warnings);
            }
        }
        let arm = inspect(&fixture("aarch64-static")).unwrap();
        assert_eq!(
            (arm.machine, arm.variant),
            (goblin::elf::header::EM_AARCH64, Some("v8"))
        );
        let x86 = inspect(&fixture("static")).unwrap();
        assert_eq!(
            (x86.machine, x86.variant),
            (goblin::elf::header::EM_X86_64, None)
        );
    }

    #[test]
    fn glibc_warning_names_symbols() {
        let ins = inspect(&fixture("glibc-dynamic")).unwrap();
        assert!(
            ins.warnings.iter().any(|w| w.contains("getaddrinfo")),
            "{:?}",
            ins.warnings
        );
    }

    #[test]
    fn bad_fixtures() {
        use InspectError as E;
        let check = |name: &str, ok: fn(&E) -> bool| {
            let err = inspect(&fixture(name)).expect_err(name);
            assert!(ok(&err), "{name}: unexpected {err:?}");
            // Every error renders as a non-empty sentence.
            assert!(err.to_string().len() > 10, "{name}: {err}");
        };
        check("empty", |e| matches!(e, E::Empty));
        check(
            "script",
            |e| matches!(e, E::NotElf { found } if found.contains("#!")),
        );
        check(
            "random",
            |e| matches!(e, E::NotElf { found } if found.starts_with("starts with bytes")),
        );
        check("truncated", |e| matches!(e, E::Truncated { .. }));
        check("i386", |e| matches!(e, E::Not64Bit));
        check(
            "shared-lib",
            |e| matches!(e, E::NotExecutable { kind } if kind.contains("shared library")),
        );
        check(
            "object",
            |e| matches!(e, E::NotExecutable { kind } if kind.contains("ET_REL")),
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            inspect(&[]).unwrap_err().to_string(),
            "the file is empty (0 bytes)"
        );
        let e = inspect(b"\x7fELF").unwrap_err();
        assert!(matches!(e, InspectError::Truncated { .. }), "{e:?}");
        let e = inspect(b"\x7fEL").unwrap_err();
        assert!(matches!(e, InspectError::Truncated { .. }), "{e:?}");
        let e = inspect(b"\x1f\x8b\x08\x00rest").unwrap_err();
        assert_eq!(e.to_string(), "not an ELF file: the file is a gzip file");
        let mut tar = vec![0u8; 1024];
        tar[257..263].copy_from_slice(b"ustar\0");
        let e = inspect(&tar).unwrap_err();
        assert!(e.to_string().contains("tar archive"), "{e}");
        let e = inspect(b"\x00\x01").unwrap_err();
        assert!(e.to_string().contains("00 01"), "{e}");
        let e = inspect(b"hello world").unwrap_err();
        assert!(e.to_string().contains("68 65 6c 6c"), "{e}");

        let mut be = fixture("static");
        be[EI_DATA] = ELFDATA2MSB;
        assert!(matches!(inspect(&be), Err(InspectError::BigEndian)));

        let mut core = fixture("static");
        core[16..18].copy_from_slice(&ET_CORE.to_le_bytes());
        assert!(
            matches!(inspect(&core), Err(InspectError::NotExecutable { kind }) if kind.contains("core"))
        );

        // Cut inside the program header table / inside a segment.
        let full = fixture("static");
        for cut in [64, 64 + 56 + 3, 300, full.len() / 2, full.len() - 1] {
            let e = inspect(&full[..cut]).unwrap_err();
            assert!(
                matches!(e, InspectError::Truncated { .. }),
                "cut {cut}: {e:?}"
            );
        }
    }

    #[test]
    fn exec_stack_is_reported() {
        let mut bytes = fixture("static");
        let phoff = rd_u64(&bytes, 0x20) as usize;
        let phnum = rd_u16(&bytes, 0x38) as usize;
        let mut patched = false;
        for i in 0..phnum {
            let ph = phoff + i * PHDR64_SIZE;
            if rd_u32(&bytes, ph) == PT_GNU_STACK {
                let flags = rd_u32(&bytes, ph + 4) | PF_X;
                bytes[ph + 4..ph + 8].copy_from_slice(&flags.to_le_bytes());
                patched = true;
            }
        }
        assert!(patched, "static fixture has no PT_GNU_STACK");
        let ins = inspect(&bytes).unwrap();
        assert!(ins.exec_stack);
        assert!(ins.warnings.iter().any(|w| w.contains("executable stack")));
    }

    /// File offsets of the `PT_DYNAMIC` entries of a little-endian ELF64.
    fn dyn_entries(bytes: &[u8]) -> Vec<usize> {
        let phoff = rd_u64(bytes, 0x20) as usize;
        let phnum = usize::from(rd_u16(bytes, 0x38));
        (0..phnum)
            .map(|i| phoff + i * PHDR64_SIZE)
            .filter(|&ph| rd_u32(bytes, ph) == goblin::elf::program_header::PT_DYNAMIC)
            .flat_map(|ph| {
                let off = rd_u64(bytes, ph + 8) as usize;
                let n = rd_u64(bytes, ph + 32) as usize / 16;
                (0..n).map(move |i| off + 16 * i)
            })
            .collect()
    }

    #[test]
    fn static_pie_rules() {
        use goblin::elf::dynamic::{DT_FLAGS_1, DT_NULL};
        let base = fixture("static-pie");
        let entries = dyn_entries(&base);
        let flags_1 = *entries
            .iter()
            .find(|&&e| rd_u64(&base, e) == DT_FLAGS_1)
            .expect("static-pie has DT_FLAGS_1");

        // Without DF_1_PIE an interpreter-less ET_DYN is a shared library.
        let mut no_pie = base.clone();
        let v = rd_u64(&no_pie, flags_1 + 8) & !DF_1_PIE;
        no_pie[flags_1 + 8..flags_1 + 16].copy_from_slice(&v.to_le_bytes());
        let e = inspect(&no_pie).unwrap_err();
        assert!(
            matches!(&e, InspectError::NotExecutable { kind } if kind.contains("shared library")),
            "{e:?}"
        );

        // A DT_NEEDED makes it dynamic even without PT_INTERP; a name that is
        // not in the string table is still reported.
        let mut needs = base.clone();
        let last = *entries
            .iter()
            .find(|&&e| rd_u64(&base, e) == DT_NULL)
            .expect("DT_NULL");
        needs[last..last + 8].copy_from_slice(&DT_NEEDED.to_le_bytes());
        needs[last + 8..last + 16].copy_from_slice(&0xffff_fff0u64.to_le_bytes());
        let ins = inspect(&needs).unwrap();
        assert_eq!(ins.kind, LinkKind::Dynamic);
        assert!(!ins.is_static());
        assert_eq!(ins.interpreter, None);
        assert_eq!(ins.needed.len(), 1);
        assert!(ins.needed[0].contains("unreadable"), "{:?}", ins.needed);
    }

    #[test]
    fn byte_markers() {
        let m = scan_bytes(b"xx glibc yy");
        assert!(m.glibc && !m.nss);
        let m = scan_bytes(b"/etc/nsswitch.conf\0GLIBC_2.34");
        assert!(m.glibc && m.nss);
        let m = scan_bytes(b"libnss_files.so.2");
        assert!(!m.glibc && m.nss);
        let m = scan_bytes(b"musl libc, gli bc, GLIBC");
        assert!(!m.glibc && !m.nss);
        // The musl fixtures carry getaddrinfo in .symtab but no glibc marker.
        assert!(inspect(&fixture("static-unstripped"))
            .unwrap()
            .warnings
            .is_empty());
    }

    #[test]
    fn arch_table() {
        let mut odd = fixture("static");
        odd[0x12..0x14].copy_from_slice(&0xfff0u16.to_le_bytes());
        let ins = inspect(&odd).unwrap();
        assert_eq!((ins.arch, ins.machine), ("unknown", 0xfff0));
        assert_eq!(LinkKind::StaticPie.as_str(), "static-pie");
        assert_eq!(LinkKind::Dynamic.to_string(), "dynamic");
    }

    // ---- robustness -----------------------------------------------------

    use crate::testing::XorShift;

    fn put(buf: &mut [u8], off: usize, val: u64, width: usize) {
        if off.checked_add(width).is_some_and(|end| end <= buf.len()) {
            buf[off..off + width].copy_from_slice(&val.to_le_bytes()[..width]);
        }
    }

    fn get(buf: &[u8], off: usize, width: usize) -> u64 {
        if off.checked_add(width).is_some_and(|end| end <= buf.len()) {
            let mut a = [0u8; 8];
            a[..width].copy_from_slice(&buf[off..off + width]);
            u64::from_le_bytes(a)
        } else {
            0
        }
    }

    /// An "interesting" value: boundary, huge, near the file size, small, random.
    fn value(rng: &mut XorShift, len: usize, orig: u64) -> u64 {
        match rng.below(12) {
            0 => 0,
            1 => 1,
            2 => u64::MAX,
            3 => u64::MAX - rng.below(64) as u64,
            4 => u64::from(u32::MAX),
            5 => len as u64,
            6 => (len as u64).saturating_sub(rng.below(128) as u64),
            7 => rng.below(len + 1) as u64,
            8 => orig.wrapping_add(rng.below(256) as u64),
            9 => orig.wrapping_sub(rng.below(256) as u64),
            10 => 1u64 << rng.below(64),
            _ => rng.next(),
        }
    }

    /// Interesting d_tag values for dynamic-section mutations.
    const DYN_TAGS: &[u64] = &[
        0,
        1,
        4,
        5,
        6,
        7,
        8,
        10,
        11,
        12,
        13,
        14,
        17,
        18,
        20,
        23,
        25,
        26,
        27,
        28,
        29,
        30,
        0x6fff_fef5,
        0x6fff_fff0,
        0x6fff_fffb,
        0x6fff_fffc,
        0x6fff_fffd,
        0x6fff_fffe,
        0x6fff_ffff,
        0x6fff_fff9,
    ];

    fn mutate(rng: &mut XorShift, base: &[u8]) -> Vec<u8> {
        let mut b = base.to_vec();
        let rounds = 1 + rng.below(3);
        for _ in 0..rounds {
            let len = b.len();
            if len == 0 {
                break;
            }
            let phoff = get(&b, 0x20, 8) as usize;
            let phnum = get(&b, 0x38, 2) as usize;
            let shoff = get(&b, 0x28, 8) as usize;
            let shnum = get(&b, 0x3c, 2) as usize;
            match rng.below(8) {
                // Bit flips, biased towards the first 4 KiB (headers, dynamic).
                0 => {
                    for _ in 0..1 + rng.below(8) {
                        let span = if rng.below(2) == 0 {
                            len.min(4096)
                        } else {
                            len
                        };
                        let i = rng.below(span);
                        b[i] ^= 1 << rng.below(8);
                    }
                }
                // Truncate.
                1 => {
                    let n = rng.below(len);
                    b.truncate(n);
                }
                // ELF header fields.
                2 => {
                    let fields: &[(usize, usize)] = &[
                        (0x10, 2), // e_type
                        (0x12, 2), // e_machine
                        (0x20, 8), // e_phoff
                        (0x28, 8), // e_shoff
                        (0x36, 2), // e_phentsize
                        (0x38, 2), // e_phnum
                        (0x3a, 2), // e_shentsize
                        (0x3c, 2), // e_shnum
                        (0x3e, 2), // e_shstrndx
                    ];
                    let (off, w) = fields[rng.below(fields.len())];
                    let v = value(rng, len, get(&b, off, w));
                    put(&mut b, off, v, w);
                }
                // Program header fields.
                3 if phnum > 0 => {
                    let ph = phoff.wrapping_add(rng.below(phnum) * PHDR64_SIZE);
                    let fields: &[(usize, usize)] =
                        &[(0, 4), (4, 4), (8, 8), (16, 8), (32, 8), (40, 8), (48, 8)];
                    let (off, w) = fields[rng.below(fields.len())];
                    let v = if off == 0 && rng.below(2) == 0 {
                        [1, 2, 3, 4, 7, 0x6474_e551][rng.below(6)]
                    } else {
                        value(rng, len, get(&b, ph.wrapping_add(off), w))
                    };
                    put(&mut b, ph.wrapping_add(off), v, w);
                }
                // Dynamic entries.
                4 | 5 => {
                    let dynamic = (0..phnum)
                        .map(|i| phoff.wrapping_add(i * PHDR64_SIZE))
                        .find(
                            |&ph| get(&b, ph, 4) == 2, // PT_DYNAMIC
                        );
                    if let Some(ph) = dynamic {
                        let off = get(&b, ph.wrapping_add(8), 8) as usize;
                        let n = (get(&b, ph.wrapping_add(32), 8) as usize / 16).clamp(1, 64);
                        let entry = off.wrapping_add(rng.below(n) * 16);
                        if rng.below(2) == 0 {
                            put(&mut b, entry, DYN_TAGS[rng.below(DYN_TAGS.len())], 8);
                        }
                        let v = value(rng, len, get(&b, entry.wrapping_add(8), 8));
                        put(&mut b, entry.wrapping_add(8), v, 8);
                    }
                }
                // Section header fields.
                6 if shnum > 0 => {
                    let sh = shoff.wrapping_add(rng.below(shnum) * SHDR64_SIZE);
                    let fields: &[(usize, usize)] = &[
                        (0, 4),  // sh_name
                        (4, 4),  // sh_type
                        (24, 8), // sh_offset
                        (32, 8), // sh_size
                        (40, 4), // sh_link
                        (44, 4), // sh_info
                        (56, 8), // sh_entsize
                    ];
                    let (off, w) = fields[rng.below(fields.len())];
                    let v = if off == 4 && rng.below(2) == 0 {
                        [
                            1,
                            2,
                            3,
                            4,
                            6,
                            8,
                            9,
                            11,
                            0x6fff_fff6,
                            0x6fff_fffd,
                            0x6fff_fffe,
                            0x6fff_ffff,
                        ][rng.below(12)]
                    } else {
                        value(rng, len, get(&b, sh.wrapping_add(off), w))
                    };
                    put(&mut b, sh.wrapping_add(off), v, w);
                }
                // Random byte run overwrite.
                _ => {
                    let start = rng.below(len.min(8192));
                    let end = (start + 1 + rng.below(16)).min(len);
                    for byte in &mut b[start..end] {
                        *byte = rng.next() as u8;
                    }
                }
            }
        }
        b
    }

    const FUZZ_FIXTURES: &[&str] = &[
        "static",
        "static-unstripped",
        "static-pie",
        "glibc-dynamic",
        "musl-dynamic",
        "aarch64-static",
        "shared-lib",
        "i386",
    ];

    /// Every mutated input must come back as Ok or Err from the function
    /// WITHOUT the catch_unwind guard. Set INSPECT_FUZZ_ITERS to run longer.
    #[test]
    fn mutated_fixtures_never_panic() {
        let per_fixture: usize = std::env::var("INSPECT_FUZZ_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let seed: u64 = std::env::var("INSPECT_FUZZ_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0x5eed_cafe_f00d_d00d);
        let mut total = 0;
        let mut oks = 0;
        for (n, name) in FUZZ_FIXTURES.iter().enumerate() {
            let base = fixture(name);
            let mut rng = XorShift(seed ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            for i in 0..per_fixture {
                let input = mutate(&mut rng, &base);
                // catch_unwind here only to report the offending input: a
                // panic still fails the test.
                match std::panic::catch_unwind(|| inspect_uncaught(&input).is_ok()) {
                    Ok(true) => oks += 1,
                    Ok(false) => {}
                    Err(_) => {
                        let dump = std::env::temp_dir().join(format!("inspect-panic-{name}-{i}"));
                        let _ = std::fs::write(&dump, &input);
                        panic!(
                            "inspect_uncaught panicked on mutation {i} of {name}, input saved to {}",
                            dump.display()
                        );
                    }
                }
                total += 1;
            }
        }
        assert!(total >= 5000, "only {total} inputs");
        // Sanity: the mutations are not all rejected outright.
        assert!(
            oks > total / 20,
            "only {oks} of {total} mutated inputs parsed"
        );
    }

    #[test]
    fn every_truncation_of_small_fixtures() {
        for name in ["aarch64-static", "i386"] {
            let base = fixture(name);
            for n in 0..base.len() {
                let _ = inspect_uncaught(&base[..n]);
            }
        }
        let base = fixture("static-pie");
        for n in (0..base.len()).step_by(97) {
            assert!(
                inspect_uncaught(&base[..n]).is_err(),
                "static-pie cut at {n}"
            );
        }
    }
}
