//! Which malloc a binary carries, read from its symbol table.
//!
//! In: a parsed ELF with its `.symtab` (an unstripped binary). Out: [`Found`] —
//! every allocator implementation whose own functions are in the binary, and the
//! one the name `malloc` resolves to. Why: the report and `verify` say which
//! allocator a service runs with, as a fact read from the file rather than a
//! promise of the build: mimalloc linked in place of musl's malloc leaves `malloc`
//! and `mi_malloc` at one address and none of musl's allocator (`__libc_malloc_impl`,
//! `alloc_slot`); a program's own `#[global_allocator]` (jemalloc, snmalloc, …)
//! shows its functions beside musl's.

use goblin::elf::Elf;
use serde::{Deserialize, Serialize};

/// What the symbol table says about allocators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    /// Implementations present, in a fixed order: `mimalloc`, `jemalloc`,
    /// `snmalloc`, `rpmalloc`, `tcmalloc`, `musl`, `glibc`.
    pub present: Vec<String>,
    /// What `malloc` is: `mimalloc` (same address as `mi_malloc`), else the C
    /// library's (`musl`, `glibc`), else `None`.
    pub malloc: Option<String>,
}

impl Found {
    pub fn has(&self, name: &str) -> bool {
        self.present.iter().any(|p| p == name)
    }

    /// `malloc: mimalloc (musl's allocator is not in the binary)`, for notes.
    pub fn describe(&self) -> String {
        let malloc = self.malloc.as_deref().unwrap_or("unknown");
        let others: Vec<&str> = self
            .present
            .iter()
            .map(String::as_str)
            .filter(|p| *p != malloc)
            .collect();
        let mut s = format!("malloc is {malloc}'s");
        if malloc == "mimalloc" && !self.has("musl") && !self.has("glibc") {
            s.push_str(" (the C library's allocator is not in the binary)");
        }
        if !others.is_empty() {
            s.push_str(&format!("; also present: {}", others.join(", ")));
        }
        s
    }
}

/// Which implementation a symbol name belongs to.
fn implementation(name: &str) -> Option<&'static str> {
    Some(match name {
        "mi_malloc" | "_mi_malloc_generic" => "mimalloc",
        "__libc_malloc_impl" | "alloc_slot" => "musl",
        "_int_malloc" | "ptmalloc_init" => "glibc",
        "rpmalloc" | "rpmalloc_initialize" => "rpmalloc",
        "tc_malloc" => "tcmalloc",
        "sn_rust_alloc" => "snmalloc",
        n if n.starts_with("_rjem_") || n == "je_malloc" || n == "je_mallocx" => "jemalloc",
        n if n.contains("8snmalloc") => "snmalloc",
        _ => return None,
    })
}

const ORDER: [&str; 7] = [
    "mimalloc", "jemalloc", "snmalloc", "rpmalloc", "tcmalloc", "musl", "glibc",
];

/// Read the allocators of `elf`; `None` without a symbol table (stripped).
pub fn detect(elf: &Elf<'_>) -> Option<Found> {
    if elf.syms.is_empty() {
        return None;
    }
    let mut present = [false; ORDER.len()];
    let (mut malloc, mut mi_malloc) = (None, None);
    for sym in elf.syms.iter() {
        let Some(name) = elf.strtab.get_at(sym.st_name) else {
            continue;
        };
        match name {
            "malloc" if sym.st_value != 0 => malloc = Some(sym.st_value),
            "mi_malloc" if sym.st_value != 0 => mi_malloc = Some(sym.st_value),
            _ => {}
        }
        if let Some(i) = implementation(name).and_then(|k| ORDER.iter().position(|o| *o == k)) {
            present[i] = true;
        }
    }
    let present: Vec<String> = ORDER
        .iter()
        .zip(present)
        .filter(|(_, p)| *p)
        .map(|(n, _)| n.to_string())
        .collect();
    let libc = present.iter().find(|p| *p == "musl" || *p == "glibc");
    let malloc = match (malloc, mi_malloc) {
        (Some(m), Some(mi)) if m == mi => Some("mimalloc".to_string()),
        _ => libc.cloned(),
    };
    Some(Found { present, malloc })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_implementations() {
        for (name, want) in [
            ("mi_malloc", Some("mimalloc")),
            ("__libc_malloc_impl", Some("musl")),
            ("alloc_slot", Some("musl")),
            ("_rjem_mallocx", Some("jemalloc")),
            ("_ZN8snmalloc9Allocator4allocEv", Some("snmalloc")),
            ("_int_malloc", Some("glibc")),
            ("malloc", None),
            ("my_alloc_slot_helper", None),
        ] {
            assert_eq!(implementation(name), want, "{name}");
        }
    }

    #[test]
    fn descriptions_say_what_malloc_is() {
        let f = Found {
            present: vec!["mimalloc".into()],
            malloc: Some("mimalloc".into()),
        };
        assert_eq!(
            f.describe(),
            "malloc is mimalloc's (the C library's allocator is not in the binary)"
        );
        let f = Found {
            present: vec!["jemalloc".into(), "musl".into()],
            malloc: Some("musl".into()),
        };
        assert_eq!(f.describe(), "malloc is musl's; also present: jemalloc");
    }
}
