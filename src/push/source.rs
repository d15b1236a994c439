//! What a push sends: the [`Peek`] of the archive, read by the one image model.
//!
//! In: the path of any OCI or docker archive. Out: [`peek`] (the documents and
//! blobs, no blob hashed) and [`check`] (every blob byte), both from
//! [`crate::oci`], which also writes the OCI manifest of a docker-archive. Why
//! this adapter: the rest of `push` names the archive's parts by these names;
//! reading an archive, in any layout, is the model's job.

pub use crate::oci::{check, peek, BlobRef, Peek};
