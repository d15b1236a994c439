//! ELF: what a binary is, and whether it will start in a FROM-scratch image.
//!
//! In: raw file bytes (never a path, never `ldd`). Out: an [`Inspection`] of the
//! headers ([`inspect()`]) and the one [`ElfVerdict`] on top of it ([`verdict`]),
//! shared by `build` and `verify`. Inspection must run before UPX: a packed file
//! shows only the unpacking stub.

pub mod allocator;
mod error;
pub mod inspect;
mod precheck;
pub mod verdict;

pub use inspect::{inspect, InspectError, Inspection, LinkKind};
pub use verdict::{check, require_static, verify_elf_bytes, ElfVerdict, Expect};
