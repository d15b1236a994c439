//! The subcommands, one module each, each reading as its pipeline over the stages.
//!
//! In: a resolved request (a `Plan`, paths, options) from the binary. Out: the
//! command's outcome, for the binary to render; nothing here prints to stdout.
//! Why: a reader looking for what `cargo slim X` does starts here.
//!
//! | subcommand | entry | what it runs |
//! |---|---|---|
//! | `build` | [`build::build`] | config → preflight → compile → elf → bloat → strip → upx → image → sbom → write → report |
//! | `report` | [`report::report`] | oci (read the tarball) → report |
//! | `index` | [`index::merge`] | oci + validate (read the inputs) → image (write one index) |
//! | `sign` | [`sign::sign`] | oci + validate (read the tarball) → sign (cosign payloads, signatures, bundles) → image (write it again) |
//! | `sign REF` | [`sign_ref::sign_ref`] | push (read the registry's image) → sign → push (attach: referrers, cosign's tags) |
//! | `init` | [`init::init`] | cargo metadata → `[package.metadata.slim]` and a CI workflow |
//! | `keygen` | [`keygen::keygen`] | sign (a new P-256 pair, cosign's key format) → io (two files, never overwriting) |
//! | `load` | [`load::load`] | the tarball → the local engine (podman or docker) |
//! | `run` | [`run::run`] | `build` → `load` → the engine runs the image |
//! | `resolve` | [`resolve::resolve`] | YAML → `slim://` references → `build` of each → push → the YAML with digests |
//! | `verify` | [`crate::verify::verify_path`] | elf, oci, validate: the stage is the whole command; with `--key` or `--require-provenance`, [`attest::check`] (one read for both); a REF: [`sign_ref::check_ref`] |
//! | `push` | [`crate::push::push`] | oci (read the tarball) → the registry client: the stage is the whole command |

pub mod attest;
pub mod build;
pub mod index;
pub mod init;
pub mod input;
pub mod keygen;
pub mod load;
pub mod report;
pub mod resolve;
pub mod run;
pub mod sign;
pub mod sign_ref;
