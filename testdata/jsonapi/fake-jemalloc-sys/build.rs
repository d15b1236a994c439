fn main() {
    println!("cargo:rerun-if-env-changed=JEMALLOC_SYS_WITH_LG_PAGE");
    let seen = std::env::var("JEMALLOC_SYS_WITH_LG_PAGE").unwrap_or_else(|_| "unset".into());
    println!("cargo:rustc-env=SEEN_LG_PAGE={seen}");
}
