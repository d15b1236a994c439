//! Built by cargo-slim only for the libmimalloc.a its dependency leaves behind.
extern crate libmimalloc_sys;
