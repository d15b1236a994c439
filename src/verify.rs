//! `cargo slim verify`: prove that an ELF file or an image will start in a
//! FROM-scratch container, before users find out in production.
//!
//! In: paths to ELF executables or image tarballs (cargo-slim's, or any OCI
//! archive / docker-archive holding one image, gzip or uncompressed layers).
//! Out: one [`Report`] per path, rendered cargo-style or as JSON lines; the
//! command fails (exit 1) when any report has an error, warnings allowed.
//!
//! Why: a "static" binary can still die in an empty filesystem. The checks:
//!
//! - ELF (via [`crate::inspect`], goblin, never `ldd`): `PT_INTERP` or any
//!   `DT_NEEDED` fails, naming the loader and every library; `e_machine` must
//!   match `--arch` (and, in an image, the config's `architecture`); empty,
//!   truncated, non-ELF (scripts: "starts with #!"), 32-bit, big-endian files
//!   and directories fail with what was found. UPX-packed files are
//!   recognised, but only the unpacking stub can be checked (it always looks
//!   static): `cargo slim build` checks the binary before packing.
//! - Image: every regular file in every layer that starts with the ELF magic
//!   gets the ELF checks; the entrypoint (`Entrypoint[0]`, else `Cmd[0]`,
//!   searched in the config's `PATH` when it has no `/`) must exist in the
//!   merged layers as an executable regular file (symlinks followed, at most
//!   40); a script entrypoint needs its `#!` interpreter in the image; a
//!   config `User` that is empty, `root` or `0` is a warning.
//!
//! The library entry point for `build` is [`verify_elf_bytes`]; the whole
//! command is [`run`]. Nothing here panics on bad input; [`verify_path`] and
//! [`verify_bytes`] add a `catch_unwind` as a last line of defence.
//!
//! # JSON output (`--message-format json`)
//!
//! One object per input, one line each, on stdout:
//!
//! ```text
//! {
//!   "reason": "verified",
//!   "path": "target/slim/hello-0.1.0.tar",   // the input as given
//!   "input": "elf" | "image" | null,          // null: unreadable (missing, directory)
//!   "passed": true,                           // == (errors is empty)
//!   "kind": "static" | "static-pie" | "dynamic" | null,
//!   "arch": "amd64" | "arm64" | … | null,     // GOARCH name from e_machine
//!   "interpreter": "/lib/ld-musl-x86_64.so.1" | null,
//!   "needed": ["libc.so"],                    // DT_NEEDED, file order
//!   "packer": "upx" | null,                   // packed: only the stub was checked
//!   "warnings": ["…"],                        // sentences; never fatal
//!   "notes": ["…"],
//!   "errors": [{"message": "…", "details": ["…"], "help": "…" | null}],
//!   "image": null | {                         // image inputs only
//!     "format": "oci" | "docker",
//!     "reference": "localhost/hello:0.1.0" | null,
//!     "os": "linux" | null, "architecture": "amd64" | null, "variant": null,
//!     "entrypoint": ["/hello"],               // Entrypoint, else Cmd, as configured
//!     "entrypoint_path": "/hello" | null,     // resolved in the layers
//!     "user": "65532:65532" | null,
//!     "layers": 1
//!   },
//!   "files": [                                // image inputs: every ELF file found
//!     {"path": "/hello", "layer": 0, "passed": true, "kind": "static-pie",
//!      "arch": "amd64", "interpreter": null, "needed": [], "packer": null,
//!      "warnings": [], "notes": [], "errors": []}
//!   ]
//! }
//! ```
//!
//! For an ELF input, `kind`…`packer` describe the file and `files` is empty.
//! For an image they describe the entrypoint's ELF file (null when it is
//! none); `errors` and `warnings` collect the image's own and every file's
//! (file messages name the path in the image); `layer` counts from 0.

use std::io::{Read, Seek};
use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use crate::archive;
use crate::cli::{MessageFormat, VerifyArgs};
use crate::error::{io_failure, Failure};
use crate::inspect::{arch_for_machine, inspect, InspectError, Inspection, LinkKind};
use crate::shell::{print_out, Shell};

/// Architecture names: the OCI/GOARCH name first, then accepted aliases.
const ARCHES: &[&[&str]] = &[
    &["amd64", "x86_64", "x86-64", "x64"],
    &["arm64", "aarch64", "arm64v8"],
    &["386", "i386", "i486", "i586", "i686", "x86"],
    &[
        "arm",
        "armv7",
        "armv7l",
        "armhf",
        "armv6",
        "armel",
        "thumbv7neon",
    ],
    &["riscv64", "riscv64gc"],
    &["ppc64le", "powerpc64le"],
    &["s390x"],
    &["loong64", "loongarch64"],
    &["mips64le", "mips64el"],
];

/// The OCI/GOARCH name for an architecture given as a GOARCH name, a Rust
/// name (`x86_64`, `aarch64`) or a target triple.
pub fn normalize_arch(name: &str) -> Option<&'static str> {
    let lower = name.trim().to_ascii_lowercase();
    let find = |s: &str| ARCHES.iter().find(|a| a.contains(&s)).map(|a| a[0]);
    find(&lower).or_else(|| find(lower.split('-').next()?))
}

/// clap value parser for `--arch`: normalises, or lists what is accepted.
pub fn parse_arch(name: &str) -> Result<String, String> {
    normalize_arch(name).map(str::to_string).ok_or_else(|| {
        let known: Vec<&str> = ARCHES.iter().map(|a| a[0]).collect();
        format!(
            "unknown architecture `{name}`; use a GOARCH name ({}) or a Rust one (x86_64, aarch64)",
            known.join(", ")
        )
    })
}

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
struct Expect<'a> {
    arch: &'a str,
    why: &'a str,
}

/// Verify one ELF file given as bytes: linkage (static / static-pie pass,
/// dynamic fails), 64-bit little-endian executable, and `e_machine` against
/// `expected_arch` (any name [`normalize_arch`] accepts; an unknown name is
/// an error). `name` is used in messages (a path). Never panics.
pub fn verify_elf_bytes(name: &str, bytes: &[u8], expected_arch: Option<&str>) -> ElfVerdict {
    match expected_arch {
        None => check_elf(name, bytes, None),
        Some(want) => match normalize_arch(want) {
            Some(arch) => check_elf(
                name,
                bytes,
                Some(Expect {
                    arch,
                    why: &format!("the expected architecture is {arch}"),
                }),
            ),
            None => {
                let mut v = check_elf(name, bytes, None);
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

fn check_elf(name: &str, bytes: &[u8], expect: Option<Expect<'_>>) -> ElfVerdict {
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
            if let Err(f) = crate::stages::require_static(&ins, Path::new(name)) {
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

fn arch_help(want: &str) -> String {
    let rust = match want {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "386" => "i686",
        "riscv64" => "riscv64gc",
        "ppc64le" => "powerpc64le",
        "loong64" => "loongarch64",
        other => other,
    };
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
fn is_upx(bytes: &[u8]) -> bool {
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
fn header_arch(b: &[u8]) -> Option<String> {
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
        (m, _, _) => match arch_for_machine(m) {
            Some((a, _)) => a,
            None => return Some(format!("unknown (e_machine {m:#x})")),
        },
    };
    Some(name.to_string())
}

// ---------------------------------------------------------------------------
// Reports.

/// What an input turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Elf,
    Image,
}

/// The verdict on one ELF file inside an image.
#[derive(Debug, Clone)]
pub struct FileVerdict {
    /// Absolute path in the image, e.g. `/hello`.
    pub path: String,
    /// Index of the layer (0 = bottom).
    pub layer: usize,
    pub verdict: ElfVerdict,
}

/// Facts about an image input.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    pub format: archive::Format,
    pub reference: Option<String>,
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub variant: Option<String>,
    pub entrypoint: Vec<String>,
    pub entrypoint_path: Option<String>,
    pub user: Option<String>,
    pub layers: usize,
}

/// The verdict on one input.
#[derive(Debug, Clone)]
pub struct Report {
    pub path: String,
    pub input: Option<Input>,
    /// The ELF file (ELF input) or the entrypoint's ELF file (image input).
    pub subject: Option<ElfVerdict>,
    pub image: Option<ImageSummary>,
    pub files: Vec<FileVerdict>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
    pub errors: Vec<Failure>,
}

impl Report {
    fn new(path: &str, input: Option<Input>) -> Report {
        Report {
            path: path.to_string(),
            input,
            subject: None,
            image: None,
            files: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn failed(path: &str, input: Option<Input>, f: Failure) -> Report {
        let mut r = Report::new(path, input);
        r.errors.push(f);
        r
    }

    fn from_elf(path: &str, v: ElfVerdict) -> Report {
        let mut r = Report::new(path, Some(Input::Elf));
        r.warnings = v.warnings.clone();
        r.notes = v.notes.clone();
        r.errors = v.errors.clone();
        r.subject = Some(v);
        r
    }

    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }

    /// The JSON line documented in the module header.
    pub fn to_json(&self) -> Value {
        let mut v = elf_json(self.subject.as_ref());
        let image = self.image.as_ref().map(|i| {
            json!({
                "format": i.format.as_str(),
                "reference": i.reference,
                "os": i.os,
                "architecture": i.architecture,
                "variant": i.variant,
                "entrypoint": i.entrypoint,
                "entrypoint_path": i.entrypoint_path,
                "user": i.user,
                "layers": i.layers,
            })
        });
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| {
                let mut o = elf_json(Some(&f.verdict));
                o["path"] = json!(f.path);
                o["layer"] = json!(f.layer);
                o["passed"] = json!(f.verdict.passed());
                o["warnings"] = json!(f.verdict.warnings);
                o["notes"] = json!(f.verdict.notes);
                o["errors"] = errors_json(&f.verdict.errors);
                o
            })
            .collect();
        v["reason"] = json!("verified");
        v["path"] = json!(self.path);
        v["input"] = json!(self.input.map(|i| match i {
            Input::Elf => "elf",
            Input::Image => "image",
        }));
        v["passed"] = json!(self.passed());
        v["warnings"] = json!(self.warnings);
        v["notes"] = json!(self.notes);
        v["errors"] = errors_json(&self.errors);
        v["image"] = json!(image);
        v["files"] = json!(files);
        v
    }

    /// `static-pie, amd64` and the like, for the human result line.
    fn summary(&self) -> String {
        let elf = self.subject.as_ref().map(|s| {
            let mut parts: Vec<String> = s.kind.iter().map(|k| k.to_string()).collect();
            if self.image.is_none() {
                parts.extend(s.arch.clone());
            }
            if let Some(p) = s.packer {
                parts.push(format!("{p}-packed"));
            }
            parts.join(", ")
        });
        let Some(i) = &self.image else {
            return elf.unwrap_or_default();
        };
        let mut parts: Vec<String> = i.reference.iter().cloned().collect();
        parts.push(format!(
            "{}/{}",
            i.os.as_deref().unwrap_or("?"),
            i.architecture.as_deref().unwrap_or("?")
        ));
        if let Some(p) = &i.entrypoint_path {
            match elf.filter(|e| !e.is_empty()) {
                Some(e) => parts.push(format!("entrypoint {p}: {e}")),
                None => parts.push(format!("entrypoint {p}")),
            }
        }
        let n = self.files.len();
        parts.push(format!(
            "{n} ELF file{} checked",
            if n == 1 { "" } else { "s" }
        ));
        parts.join(", ")
    }
}

fn elf_json(v: Option<&ElfVerdict>) -> Value {
    json!({
        "kind": v.and_then(|v| v.kind).map(|k| k.as_str()),
        "arch": v.and_then(|v| v.arch.clone()),
        "interpreter": v.and_then(|v| v.interpreter.clone()),
        "needed": v.map(|v| v.needed.clone()).unwrap_or_default(),
        "packer": v.and_then(|v| v.packer),
    })
}

fn errors_json(errors: &[Failure]) -> Value {
    errors
        .iter()
        .map(|f| json!({"message": f.what, "details": f.details, "help": f.help}))
        .collect()
}

/// Run `f`, turning a panic into a failed report (a last line of defence).
fn guarded(path: &str, f: impl FnOnce() -> Report) -> Report {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Report::failed(
            path,
            None,
            Failure::new(format!(
                "internal error: cargo slim verify crashed on `{path}`"
            ))
            .help("please report this with the file attached"),
        )
    })
}

/// Largest gzip-compressed archive decompressed in memory by [`verify_bytes`].
const MAX_GUNZIP_IN_MEMORY: u64 = 256 << 20;

/// Verify an input held in memory (ELF bytes or an image tarball, optionally
/// gzip-compressed), as [`verify_path`] would.
pub fn verify_bytes(name: &str, bytes: &[u8], arch: Option<&str>) -> Report {
    guarded(name, || verify_bytes_uncaught(name, bytes, arch))
}

/// [`verify_bytes`] without the panic guard (for robustness tests and fuzzing).
pub fn verify_bytes_uncaught(name: &str, bytes: &[u8], arch: Option<&str>) -> Report {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let gz = flate2::read::MultiGzDecoder::new(bytes);
        if gz.take(MAX_GUNZIP_IN_MEMORY).read_to_end(&mut out).is_ok()
            && archive::looks_like_tar(&out)
        {
            return verify_archive(name, std::io::Cursor::new(&out[..]), arch);
        }
    }
    if !bytes.starts_with(b"\x7fELF") && archive::looks_like_tar(bytes) {
        return verify_archive(name, std::io::Cursor::new(bytes), arch);
    }
    Report::from_elf(name, verify_elf_bytes(name, bytes, arch))
}

/// Verify the file at `path`: an ELF file, or an image tarball (plain or
/// gzip-compressed). Never panics; I/O problems are failed reports.
pub fn verify_path(path: &Path, arch: Option<&str>) -> Report {
    let name = path.display().to_string();
    guarded(&name, || verify_path_uncaught(path, &name, arch))
}

fn verify_path_uncaught(path: &Path, name: &str, arch: Option<&str>) -> Report {
    let io_fail = |e: &std::io::Error| Report::failed(name, None, io_failure("read", path, e));
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return io_fail(&e),
    };
    if meta.is_dir() {
        return Report::failed(
            name,
            None,
            Failure::new(format!("`{name}` is a directory, not an ELF file or image tarball"))
                .help("pass the binary or the image tarball; for an OCI layout directory, tar it first: `tar -cf image.tar -C DIR .`"),
        );
    }
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return io_fail(&e),
    };
    let mut head = vec![0u8; 512];
    let n = match read_up_to(&mut file, &mut head) {
        Ok(n) => n,
        Err(e) => return io_fail(&e),
    };
    head.truncate(n);
    let rewind = |f: &mut std::fs::File| f.rewind();
    if head.starts_with(&[0x1f, 0x8b]) {
        // `docker save | gzip`: decompress to a temporary file, then seek in it.
        let unpacked = tempfile::tempfile().and_then(|mut tmp| {
            rewind(&mut file)?;
            std::io::copy(&mut flate2::read::MultiGzDecoder::new(&mut file), &mut tmp)?;
            tmp.rewind()?;
            let mut h = vec![0u8; 512];
            let n = read_up_to(&mut tmp, &mut h)?;
            tmp.rewind()?;
            Ok((tmp, archive::looks_like_tar(&h[..n])))
        });
        if let Ok((tmp, true)) = unpacked {
            return verify_archive(name, std::io::BufReader::new(tmp), arch);
        }
    }
    if !head.starts_with(b"\x7fELF") && archive::looks_like_tar(&head) {
        if let Err(e) = rewind(&mut file) {
            return io_fail(&e);
        }
        return verify_archive(name, std::io::BufReader::new(file), arch);
    }
    // Not an archive: judge it as an ELF. Only a file with the ELF magic is
    // read whole; for anything else the first bytes say what it is.
    let bytes = if head.starts_with(b"\x7fELF") {
        match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return io_fail(&e),
        }
    } else {
        head
    };
    Report::from_elf(name, verify_elf_bytes(name, &bytes, arch))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

mod image;
pub use image::verify_archive;

// ---------------------------------------------------------------------------
// The command.

/// Most errors printed per input in human output (JSON has them all).
const MAX_SHOWN_ERRORS: usize = 20;

/// `cargo slim verify PATH...`: exit 0 when every input passes, else an error.
pub fn run(args: &VerifyArgs, format: MessageFormat, shell: &Shell) -> Result<()> {
    let arch = args.arch.as_deref();
    let mut failed = Vec::new();
    for path in &args.paths {
        shell.status("Verifying", path.display());
        let report = verify_path(path, arch);
        match format {
            MessageFormat::Json => print_out(&report.to_json().to_string())?,
            MessageFormat::Human => render_human(&report, shell)?,
        }
        if !report.passed() {
            failed.push(report.path.clone());
        }
    }
    match failed.as_slice() {
        [] => Ok(()),
        [one] if args.paths.len() == 1 => {
            Err(Failure::new(format!("`{one}` failed verification")).into())
        }
        _ => Err(Failure::new(format!(
            "{} of {} inputs failed verification: {}",
            failed.len(),
            args.paths.len(),
            failed.join(", ")
        ))
        .into()),
    }
}

fn render_human(report: &Report, shell: &Shell) -> Result<()> {
    for f in &report.files {
        let v = &f.verdict;
        shell.verbose(
            "Checked",
            format!(
                "{} (layer {}): {}, {}{}",
                f.path,
                f.layer,
                v.kind.map(|k| k.as_str()).unwrap_or("not an executable"),
                v.arch.as_deref().unwrap_or("?"),
                if v.passed() { "" } else { " — FAILED" }
            ),
        );
    }
    for w in &report.warnings {
        shell.warn(format!("{}: {w}", report.path));
    }
    for n in &report.notes {
        shell.note(format!("{}: {n}", report.path));
    }
    for f in report.errors.iter().take(MAX_SHOWN_ERRORS) {
        shell.error(&anyhow::Error::new(f.clone()));
    }
    if report.errors.len() > MAX_SHOWN_ERRORS {
        shell.error(&anyhow::anyhow!(
            "… and {} more errors in `{}` (`--message-format json` lists them all)",
            report.errors.len() - MAX_SHOWN_ERRORS,
            report.path
        ));
    }
    let verdict = if report.passed() { "ok" } else { "FAILED" };
    let summary = report.summary();
    if summary.is_empty() {
        print_out(&format!("{}: {verdict}", report.path))?;
    } else {
        print_out(&format!("{}: {verdict} ({summary})", report.path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names() {
        for (input, want) in [
            ("amd64", Some("amd64")),
            ("x86_64", Some("amd64")),
            ("X86_64", Some("amd64")),
            ("aarch64", Some("arm64")),
            ("arm64", Some("arm64")),
            ("aarch64-unknown-linux-musl", Some("arm64")),
            ("x86_64-unknown-linux-gnu", Some("amd64")),
            ("i686", Some("386")),
            ("riscv64gc", Some("riscv64")),
            ("sparc", None),
            ("", None),
        ] {
            assert_eq!(normalize_arch(input), want, "{input}");
        }
        assert!(parse_arch("sparc").unwrap_err().contains("amd64"));
    }

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
}
