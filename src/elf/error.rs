//! Why a file cannot be inspected as a packable executable: the one error
//! of the inspection (`inspect()`) and of its raw-byte prechecks.
//!
//! In: what the prechecks or `goblin` found wrong. Out: an [`InspectError`]
//! whose message is one sentence a user reads (empty, not ELF, truncated,
//! 32-bit, big-endian, not an executable, malformed). Why a file of its own:
//! both the inspection and the prechecks beneath it return it, so it sits
//! below them both.

/// Why a file cannot be inspected as a packable executable.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Zero-length input.
    #[error("the file is empty (0 bytes)")]
    Empty,
    /// No ELF magic; `found` describes what the file looks like instead.
    #[error("not an ELF file: the file {found}")]
    NotElf { found: String },
    /// A header, table or segment lies (partly) past the end of the file.
    #[error("the ELF file is truncated: {detail}")]
    Truncated { detail: String },
    /// `ELFCLASS32`.
    #[error("the file is a 32-bit ELF (ELFCLASS32); cargo-slim packs 64-bit Linux executables")]
    Not64Bit,
    /// `ELFDATA2MSB`.
    #[error(
        "the file is a big-endian ELF (ELFDATA2MSB); cargo-slim packs little-endian executables only"
    )]
    BigEndian,
    /// A relocatable object, core dump, shared library, ...
    #[error("the ELF file is not an executable: it is {kind}")]
    NotExecutable { kind: String },
    /// Anything else structurally wrong, including everything goblin rejects.
    #[error("malformed ELF file: {detail}")]
    Malformed { detail: String },
}
