//! `cargo slim resolve`: Kubernetes YAML with `slim://` image references in, the same
//! YAML with each reference replaced by the digest of the image built for it out.
//!
//! In: YAML text. Out: the references it holds ([`yaml::find`]) and the rewritten
//! text ([`yaml::rewrite`]). Why: a whole workspace goes to a cluster with one
//! command, and only the image scalars change, so a review of the diff shows
//! nothing but new digests.

pub mod yaml;
