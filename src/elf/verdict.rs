//! The one ELF verdict: "will this file start in an empty filesystem?", used by
//! `cargo slim build` (before strip and UPX) and by `cargo slim verify` alike.
//!
//! In: the bytes of a file, the name to call it in messages, and optionally the
//! architecture it must be built for with the reason (`--arch is amd64`, `the
//! target x86_64-unknown-linux-musl is amd64`). Out: an [`ElfVerdict`] — link
//! kind, arch, interpreter, needed libraries, packer, warnings, notes and every
//! error as a [`Failure`] with a help line for its kind of fault. Why one place:
//! build and verify must say the same thing, in the same words, about one file.

use std::path::Path;

use crate::arch;
use crate::error::Failure;

use super::inspect::{inspect, InspectError, Inspection, LinkKind};

/// The verdict on one ELF file.
#[derive(Debug, Clone)]
pub struct ElfVerdict {
    /// How the file was named in messages.
    pub name: String,
    /// `None` when the file is not an executable ELF at all.
    pub kind: Option<LinkKind>,
    /// GOARCH name from `e_machine` (also for 32-bit / big-endian files).
    pub arch: Option<String>,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    /// `Some("upx")` for a packed file.
    pub packer: Option<&'static str>,
    /// The full inspection, when [`inspect`] accepted the file.
    pub inspection: Option<Inspection>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
    pub errors: Vec<Failure>,
}

impl ElfVerdict {
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }

    /// The first error (others appended as detail lines), or the verdict.
    pub fn into_result(mut self) -> Result<ElfVerdict, Failure> {
        if self.errors.is_empty() {
            return Ok(self);
        }
        let mut first = self.errors.remove(0);
        for more in &self.errors {
            first.details.push(format!("also: {}", more.what));
        }
        Err(first)
    }
}

/// What the ELF must match, and a phrase saying why ("--arch is amd64").
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// GOARCH name.
    pub arch: &'a str,
    pub why: &'a str,
}

/// Verify one ELF file given as bytes: linkage (static / static-pie pass,
/// dynamic fails), 64-bit little-endian executable, and `e_machine` against
/// `expected_arch` (any name [`arch::from_name`] accepts; an unknown name is
/// an error). `name` is used in messages (a path). Never panics.
///
/// Where the file has its symbol table, a note says which allocator it carries
/// (`build` puts that in its report instead).
pub fn verify_elf_bytes(name: &str, bytes: &[u8], expected_arch: Option<&str>) -> ElfVerdict {
    let mut v = verify_elf_bytes_inner(name, bytes, expected_arch);
    if let Some(a) = v.inspection.as_ref().and_then(|i| i.allocator.as_ref()) {
        v.notes.push(format!("allocator: {}", a.describe()));
    }
    v
}

fn verify_elf_bytes_inner(name: &str, bytes: &[u8], expected_arch: Option<&str>) -> ElfVerdict {
    match expected_arch {
        None => check(name, bytes, None),
        Some(want) => match arch::from_name(want) {
            Some(a) => check(
                name,
                bytes,
                Some(Expect {
                    arch: a.goarch,
                    why: &format!("the expected architecture is {}", a.goarch),
                }),
            ),
            None => {
                let mut v = check(name, bytes, None);
                v.errors.push(Failure::new(format!(
                    "unknown architecture `{want}` to check `{name}` against"
                )));
                v
            }
        },
    }
}

const UPX_NOTE: &str = "packed with UPX: only the unpacking stub's headers were checked (a packed \
                        file always looks static); verify the binary before packing — `cargo \
                        slim build` does";

/// Judge one ELF file: linkage (static / static-pie pass, dynamic fails), a
/// 64-bit little-endian executable, and `e_machine` against `expect`. Never panics.
pub fn check(name: &str, bytes: &[u8], expect: Option<Expect<'_>>) -> ElfVerdict {
    let packer = is_upx(bytes).then_some("upx");
    let mut v = ElfVerdict {
        name: name.to_string(),
        kind: None,
        arch: header_arch(bytes),
        interpreter: None,
        needed: Vec::new(),
        packer,
        inspection: None,
        warnings: Vec::new(),
        notes: Vec::new(),
        errors: Vec::new(),
    };
    match inspect(bytes) {
        Ok(ins) => {
            v.kind = Some(ins.kind);
            v.interpreter = ins.interpreter.clone();
            v.needed = ins.needed.clone();
            v.warnings = ins.warnings.clone();
            if let Err(f) = require_static(&ins, Path::new(name)) {
                v.errors.push(f);
            }
            v.inspection = Some(ins);
        }
        // A packed static-pie keeps ET_DYN but loses PT_DYNAMIC (and with it
        // DF_1_PIE), so inspect takes it for a shared library.
        Err(InspectError::NotExecutable { .. }) if packer.is_some() && packed_pie(bytes) => {
            v.kind = Some(LinkKind::StaticPie);
        }
        Err(e) => v.errors.push(inspect_failure(name, &e, v.arch.as_deref())),
    }
    if packer.is_some() {
        v.notes.push(UPX_NOTE.into());
    }
    if let (Some(want), Some(have)) = (expect, &v.arch) {
        if have != want.arch {
            v.errors.push(
                Failure::new(format!("`{name}` is built for {have}, but {}", want.why))
                    .help(arch_help(want.arch)),
            );
        }
    }
    v
}

/// The help line for a binary built for the wrong architecture.
pub fn arch_help(want: &str) -> String {
    let rust = arch::from_name(want).map_or(want, |a| a.rust);
    format!("build for the matching target, e.g. `--target {rust}-unknown-linux-musl`")
}

fn inspect_failure(name: &str, e: &InspectError, arch: Option<&str>) -> Failure {
    use InspectError as E;
    let built_for = arch
        .map(|a| format!(" (built for {a})"))
        .unwrap_or_default();
    let generic = "pass a compiled binary (e.g. target/x86_64-unknown-linux-musl/release/NAME) \
                   or an image tarball";
    let wrong_class = "cargo slim builds 64-bit little-endian Linux executables: build for a \
                       target such as x86_64-unknown-linux-musl or aarch64-unknown-linux-musl";
    let (what, help) = match e {
        E::Empty => {
            return Failure::new(format!("`{name}` is empty (0 bytes)")).help(generic);
        }
        E::NotElf { found } => {
            return Failure::new(format!(
                "`{name}` is not an ELF executable: the file {found}"
            ))
            .help(if found.contains("#!") {
                "a FROM-scratch image has no shell or script interpreter: ship the compiled \
                     binary"
            } else {
                generic
            });
        }
        E::Truncated { .. } => (
            format!("`{name}` is a truncated ELF file"),
            "the file was cut short (an interrupted copy or build?): rebuild it",
        ),
        E::Not64Bit => (
            format!("`{name}` is a 32-bit ELF file{built_for}"),
            wrong_class,
        ),
        E::BigEndian => (
            format!("`{name}` is a big-endian ELF file{built_for}"),
            wrong_class,
        ),
        E::NotExecutable { .. } => (
            format!("`{name}` is not an executable program"),
            "pass the linked program, not a library or object file",
        ),
        E::Malformed { .. } => (
            format!("`{name}` is a malformed ELF file"),
            "rebuild the binary; if a tool rewrote it, check that tool's output",
        ),
    };
    Failure::new(what).detail(e.to_string()).help(help)
}

/// UPX writes its `UPX!` header right after the program headers.
pub fn is_upx(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
        && bytes[..bytes.len().min(4096)]
            .windows(4)
            .any(|w| w == b"UPX!")
}

/// ET_DYN little-endian ELF64 with neither `PT_INTERP` nor `PT_DYNAMIC`.
fn packed_pie(b: &[u8]) -> bool {
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
    };
    if u16_at(16) != Some(goblin::elf::header::ET_DYN) {
        return false;
    }
    let (Some(phoff), Some(phnum)) = (u64_at(0x20), u16_at(0x38)) else {
        return false;
    };
    (0..usize::from(phnum)).all(|i| {
        let at = usize::try_from(phoff)
            .ok()
            .and_then(|o| o.checked_add(i * 56));
        match at.and_then(u32_at) {
            Some(t) => {
                t != goblin::elf::program_header::PT_INTERP
                    && t != goblin::elf::program_header::PT_DYNAMIC
            }
            None => false,
        }
    })
}

/// GOARCH name from the ELF header of any class and byte order.
pub fn header_arch(b: &[u8]) -> Option<String> {
    if b.len() < 20 || !b.starts_with(b"\x7fELF") {
        return None;
    }
    let big = b[5] == 2;
    let machine = if big {
        u16::from_be_bytes([b[18], b[19]])
    } else {
        u16::from_le_bytes([b[18], b[19]])
    };
    let is32 = b[4] == 1;
    use goblin::elf::header::{EM_MIPS, EM_PPC, EM_PPC64, EM_RISCV};
    let name = match (machine, is32, big) {
        (EM_PPC64, _, true) => "ppc64",
        (EM_PPC, _, _) => "ppc",
        (EM_MIPS, true, false) => "mipsle",
        (EM_MIPS, true, true) => "mips",
        (EM_MIPS, false, true) => "mips64",
        (EM_RISCV, true, _) => "riscv32",
        (m, _, _) => match arch::from_machine(m) {
            Some(a) => a.goarch,
            None => return Some(format!("unknown (e_machine {m:#x})")),
        },
    };
    Some(name.to_string())
}

/// Refuse a dynamic binary, naming its interpreter and libraries.
pub fn require_static(insp: &Inspection, path: &Path) -> Result<(), Failure> {
    if insp.kind != LinkKind::Dynamic {
        return Ok(());
    }
    let mut f = Failure::new(format!("`{}` is not static", path.display()));
    if let Some(i) = &insp.interpreter {
        f = f.detail(format!("interpreter: {i}"));
    }
    if !insp.needed.is_empty() {
        f = f.detail(format!("needs: {}", insp.needed.join(", ")));
    }
    Err(f.help(
        "a FROM-scratch image has no shared libraries: build for a `-musl` target, or add \
         `-C target-feature=+crt-static` for `-gnu`; for C dependencies use their `vendored`/static \
         features (e.g. openssl's `vendored`) or switch to rustls",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_arch_of_odd_files() {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1;
        h[5] = 1;
        h[18] = 3; // EM_386
        assert_eq!(header_arch(&h).as_deref(), Some("386"));
        h[4] = 2;
        h[5] = 2;
        h[19] = 22; // EM_S390, big-endian
        h[18] = 0;
        assert_eq!(header_arch(&h).as_deref(), Some("s390x"));
        assert_eq!(header_arch(b"\x7fELF"), None);
    }

    #[test]
    fn unknown_expected_arch_is_an_error() {
        let v = verify_elf_bytes("x", b"", Some("sparc"));
        assert!(v.errors.iter().any(|e| e.what.contains("sparc")));
    }

    #[test]
    fn wrong_arch_names_both_and_the_target_to_use() {
        let bytes =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/elf/static")).unwrap();
        let v = check(
            "app",
            &bytes,
            Some(Expect {
                arch: "arm64",
                why: "the target `aarch64-unknown-linux-musl` is arm64",
            }),
        );
        let e = v.into_result().unwrap_err();
        assert_eq!(
            e.what,
            "`app` is built for amd64, but the target `aarch64-unknown-linux-musl` is arm64"
        );
        assert!(e.help.unwrap().contains("aarch64-unknown-linux-musl"));
    }
}
