//! One integration-test binary (like ripgrep's `tests/`), so linking stays fast.
//! The end-to-end tests use real peers: cargo builds the fixture crates, podman
//! loads and runs the images, skopeo reads the tarballs.

mod support;

mod alloc;
mod attached;
mod build;
mod cache;
mod certs;
mod compression;
mod errors;
mod files;
mod index;
mod init;
mod inputs;
mod keygen;
mod load;
mod outputs;
mod platforms;
mod presets;
mod provenance;
mod push;
mod push_bounds;
mod push_faults;
mod report;
mod repro;
mod resolve;
mod run;
mod sbom;
mod service;
mod sign;
mod sign_ref;
mod signals;
mod upx;
mod verify;
mod workspace;
