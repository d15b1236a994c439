//! cargo-slim: a Rust binary crate → the smallest correct container image.
//!
//! The library is the tool; `main.rs` (with its `cli` module, the only place the
//! argument parser lives) parses arguments into requests, calls one of
//! [`commands`], and renders the outcome and errors. The library prints nothing
//! to stdout. The modules below are listed by layer, bottom up: a module imports
//! only from its own layer's leaves or from layers below it.
//!
//! `cargo slim build` reads as its list of stages in [`commands::build`]:
//!
//! config → preflight → compile → inspect → bloat → strip → upx → image → write → report

// Leaves: no knowledge of images or builds.
pub mod arch;
pub(crate) mod cache;
pub mod digest;
pub(crate) mod dirfd;
pub mod error;
pub mod interrupt;
pub(crate) mod io;
pub mod reference;
pub mod shell;
pub mod units;

// Models: the OCI image model (read and write), its strict checker, the report
// and its budget verdicts, signing keys and the payloads signatures cover.
pub(crate) mod budget;
pub(crate) mod compress;
pub(crate) mod gzip;
pub mod oci;
pub mod report;
pub mod sign;
pub mod validate;

// Stages: one job each, with their own option and output types.
pub(crate) mod bloat;
pub mod compile;
pub mod elf;
pub mod engine;
pub mod image;
pub(crate) mod preflight;
pub mod provenance;
pub mod push;
pub mod resolve;
pub(crate) mod sbom;
pub(crate) mod strip;
pub mod upx;
pub mod verify;

// Config: `[package.metadata.slim]` and requests → a resolved plan.
pub mod config;

// Commands: one module per subcommand, over everything above.
pub mod commands;

#[doc(hidden)]
pub mod testing;
