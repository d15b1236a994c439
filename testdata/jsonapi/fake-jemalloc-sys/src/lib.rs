//! What `JEMALLOC_SYS_WITH_LG_PAGE` was when this crate's build script ran.
pub const LG_PAGE: &str = env!("SEEN_LG_PAGE");
