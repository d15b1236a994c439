//! `cargo slim verify`: prove that an ELF file or an image will start in a
//! FROM-scratch container, before users find out in production.
//!
//! In: paths to ELF executables or image tarballs (cargo-slim's, or any OCI
//! archive / docker-archive holding one image, gzip or uncompressed layers).
//! Out: one [`Report`] per path, with its JSON line ([`Report::to_json`]) and its
//! human summary ([`Report::summary`]); the binary prints them and fails the
//! command (exit 1) when any report has an error, warnings allowed.
//!
//! Why: a "static" binary can still die in an empty filesystem. The checks:
//!
//! - ELF (via [`crate::elf`], goblin, never `ldd`): `PT_INTERP` or any
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
//! The ELF verdict is [`crate::elf::verdict`], the same one `build` gives; the
//! command runs [`verify_path`] per input. Nothing here panics on bad input; [`verify_path`] and
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
//!      "warnings": [], "notes": [], "errors": [],
//!      "dep_v0": null | {"bytes": 79, "packages": 1} | {"error": "…"}}
//!   ],
//!   "sbom": [                                 // image inputs: attached SBOM artifacts
//!     {"format": "spdx", "digest": "sha256:…", "packages": 1}   // crates listed
//!   ],
//!   "dep_v0": null | {"bytes": 79, "packages": 1}   // the entrypoint's `.dep-v0`
//! }
//! ```
//!
//! For an ELF input, `kind`…`packer` describe the file and `files` is empty.
//! For an image they describe the entrypoint's ELF file (null when it is
//! none); `errors` and `warnings` collect the image's own and every file's
//! (file messages name the path in the image); `layer` counts from 0.
//!
//! A multi-platform image (an OCI index of several platforms, as `cargo slim
//! index` writes) without `--arch` is verified platform by platform: the object
//! gets `"platforms": [ {same fields, per platform, plus "platform": "linux/arm64/v8"} ]`,
//! `image` is null and `files` empty at the top, and the top `errors`,
//! `warnings` and `notes` collect every platform's, each starting with the
//! platform (`linux/arm64/v8: …`). The key is absent for every other input.

use std::io::{Read, Seek};
use std::path::Path;

use serde_json::{json, Value};

use crate::elf::{verify_elf_bytes, ElfVerdict};
use crate::error::{io_failure, Failure};
use crate::oci;

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
    /// Its `.dep-v0` dependency list: `None` without one, else what it holds
    /// or why it cannot be read.
    pub dep_v0: Option<Result<crate::sbom::auditable::Embedded, String>>,
}

/// Facts about an image input.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    pub format: oci::Format,
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
    /// Image inputs: the SBOM artifacts attached to the image.
    pub sbom: Vec<SbomFound>,
    /// A multi-platform image: each platform (`linux/arm64/v8`) and its own
    /// report. The fields above then hold every platform's messages, each
    /// starting with its platform; `subject`, `image` and `files` stay empty.
    pub platforms: Vec<(String, Report)>,
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
            sbom: Vec::new(),
            platforms: Vec::new(),
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
                o["dep_v0"] = dep_v0_json(f);
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
        if self.input == Some(Input::Image) && self.platforms.is_empty() {
            v["sbom"] = self
                .sbom
                .iter()
                .map(|s| json!({"format": s.format, "digest": s.digest, "packages": s.packages}))
                .collect();
            v["dep_v0"] = self.entry_file().map_or(Value::Null, dep_v0_json);
        }
        if !self.platforms.is_empty() {
            v["platforms"] = self
                .platforms
                .iter()
                .map(|(p, r)| {
                    let mut o = r.to_json();
                    o["platform"] = json!(p);
                    o
                })
                .collect();
        }
        v
    }

    /// One human line per platform of a multi-platform image
    /// (`linux/arm64/v8: ok (…)`); empty for any other input.
    pub fn platform_lines(&self) -> Vec<String> {
        self.platforms
            .iter()
            .map(|(p, r)| {
                let verdict = if r.passed() { "ok" } else { "FAILED" };
                format!("{} {p}: {verdict} ({})", self.path, r.summary())
            })
            .collect()
    }

    /// `static-pie, amd64` and the like, for the human result line.
    pub fn summary(&self) -> String {
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
        if !self.platforms.is_empty() {
            let mut parts: Vec<String> = self
                .platforms
                .iter()
                .find_map(|(_, r)| r.image.as_ref()?.reference.clone())
                .into_iter()
                .collect();
            let names: Vec<&str> = self.platforms.iter().map(|(p, _)| p.as_str()).collect();
            parts.push(format!("{} platforms: {}", names.len(), names.join(", ")));
            return parts.join(", ");
        }
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
        for s in &self.sbom {
            parts.push(match s.packages {
                Some(k) => format!("SBOM {} ({})", s.format, crates(k)),
                None => format!("SBOM {} (unreadable)", s.format),
            });
        }
        if let Some(Some(Ok(e))) = self.entry_file().map(|f| &f.dep_v0) {
            parts.push(format!(".dep-v0 ({})", crates(e.packages)));
        }
        parts.join(", ")
    }

    /// The entrypoint's ELF file, when it is one.
    fn entry_file(&self) -> Option<&FileVerdict> {
        let path = self.image.as_ref()?.entrypoint_path.as_ref()?;
        self.files.iter().find(|f| &f.path == path)
    }
}

fn crates(n: usize) -> String {
    format!("{n} crate{}", if n == 1 { "" } else { "s" })
}

fn dep_v0_json(f: &FileVerdict) -> Value {
    match &f.dep_v0 {
        None => Value::Null,
        Some(Ok(e)) => json!({"bytes": e.bytes, "packages": e.packages}),
        Some(Err(why)) => json!({"error": why}),
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
        if gz.take(MAX_GUNZIP_IN_MEMORY).read_to_end(&mut out).is_ok() && oci::looks_like_tar(&out)
        {
            return verify_archive(name, std::io::Cursor::new(&out[..]), arch);
        }
    }
    if !bytes.starts_with(b"\x7fELF") && oci::looks_like_tar(bytes) {
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
    // A FIFO, a device or a directory is refused before anything blocks on it.
    let mut file = match crate::io::open_regular(path, "an ELF file or image tarball") {
        Ok((f, _)) => f,
        Err(f) => return Report::failed(name, None, f),
    };
    let mut head = vec![0u8; 512];
    let n = match crate::io::read_up_to(&mut file, &mut head) {
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
            let n = crate::io::read_up_to(&mut tmp, &mut h)?;
            tmp.rewind()?;
            Ok((tmp, oci::looks_like_tar(&h[..n])))
        });
        if let Ok((tmp, true)) = unpacked {
            return verify_archive(name, std::io::BufReader::new(tmp), arch);
        }
    }
    if !head.starts_with(b"\x7fELF") && oci::looks_like_tar(&head) {
        if let Err(e) = rewind(&mut file) {
            return io_fail(&e);
        }
        return verify_archive(name, std::io::BufReader::new(file), arch);
    }
    // Not an archive: judge it as an ELF. Only a file with the ELF magic is
    // read whole; for anything else the first bytes say what it is.
    let bytes = if head.starts_with(b"\x7fELF") {
        let mut all = head;
        match file.read_to_end(&mut all) {
            Ok(_) => all,
            Err(e) => return io_fail(&e),
        }
    } else {
        head
    };
    Report::from_elf(name, verify_elf_bytes(name, &bytes, arch))
}

mod config;
mod image;
mod supply;
pub use image::verify_archive;
pub use supply::{sboms_in, SbomFound};
