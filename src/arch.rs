//! The one architecture table: ELF `e_machine` ↔ Rust target arch ↔ OCI
//! `architecture`/`variant` ↔ GOARCH names.
//!
//! In: a machine number from an ELF header, a target triple, or a name a user
//! typed (`amd64`, `x86_64`, `aarch64-unknown-linux-musl`, …). Out: the [`Arch`]
//! row, whose `goarch` is what an OCI image config and index platform carry. Why
//! one table: build, verify, UPX and the image writer must agree on what a
//! binary is built for; four hand-written tables drifted apart before.

use goblin::elf::header::{
    EM_386, EM_AARCH64, EM_ARM, EM_LOONGARCH, EM_MIPS, EM_PPC64, EM_RISCV, EM_S390, EM_X86_64,
};

/// One architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arch {
    /// The OCI / GOARCH name (`amd64`, `arm64`): the image config's `architecture`.
    pub goarch: &'static str,
    /// The OCI `variant` an image of this arch carries (`v8` for arm64).
    pub variant: Option<&'static str>,
    /// ELF `e_machine`. One number may cover several widths (`EM_RISCV`); the row
    /// is the 64-bit little-endian one, the only kind cargo slim packs.
    pub machine: u16,
    /// The first component of a Rust target triple (`x86_64`, `aarch64`).
    pub rust: &'static str,
    /// Other names users and tools give it (Rust, Debian, Docker spellings).
    pub aliases: &'static [&'static str],
}

impl Arch {
    /// The static Linux target cargo slim builds for this arch by default.
    pub fn musl_triple(&self) -> String {
        format!("{}-unknown-linux-musl", self.rust)
    }

    /// `amd64`, or `arm64/v8`: the arch part of an OCI platform string.
    pub fn platform_suffix(&self) -> String {
        match self.variant {
            Some(v) => format!("{}/{v}", self.goarch),
            None => self.goarch.to_string(),
        }
    }
}

/// Every architecture cargo slim knows, the common ones first.
pub const ARCHES: &[Arch] = &[
    Arch {
        goarch: "amd64",
        variant: None,
        machine: EM_X86_64,
        rust: "x86_64",
        aliases: &["x86-64", "x64"],
    },
    Arch {
        goarch: "arm64",
        variant: Some("v8"),
        machine: EM_AARCH64,
        rust: "aarch64",
        aliases: &["arm64v8"],
    },
    Arch {
        goarch: "386",
        variant: None,
        machine: EM_386,
        rust: "i686",
        aliases: &["i386", "i486", "i586", "x86"],
    },
    Arch {
        goarch: "arm",
        variant: None,
        machine: EM_ARM,
        rust: "armv7",
        aliases: &["armv7l", "armhf", "armv6", "armel", "thumbv7neon"],
    },
    Arch {
        goarch: "riscv64",
        variant: None,
        machine: EM_RISCV,
        rust: "riscv64gc",
        aliases: &["riscv64"],
    },
    Arch {
        goarch: "ppc64le",
        variant: None,
        machine: EM_PPC64,
        rust: "powerpc64le",
        aliases: &[],
    },
    Arch {
        goarch: "s390x",
        variant: None,
        machine: EM_S390,
        rust: "s390x",
        aliases: &[],
    },
    Arch {
        goarch: "loong64",
        variant: None,
        machine: EM_LOONGARCH,
        rust: "loongarch64",
        aliases: &[],
    },
    Arch {
        goarch: "mips64le",
        variant: None,
        machine: EM_MIPS,
        rust: "mips64el",
        aliases: &[],
    },
];

/// The row for an ELF `e_machine`.
pub fn from_machine(machine: u16) -> Option<&'static Arch> {
    ARCHES.iter().find(|a| a.machine == machine)
}

/// The row for a GOARCH name, a Rust arch, an alias, or a whole target triple
/// (case-insensitive).
pub fn from_name(name: &str) -> Option<&'static Arch> {
    let lower = name.trim().to_ascii_lowercase();
    let exact = |s: &str| {
        ARCHES
            .iter()
            .find(|a| a.goarch == s || a.rust == s || a.aliases.contains(&s))
    };
    exact(&lower).or_else(|| from_triple(&lower))
}

/// The row for a target triple's architecture (`aarch64-unknown-linux-musl`).
pub fn from_triple(triple: &str) -> Option<&'static Arch> {
    let first = triple.split('-').next().unwrap_or("");
    let by = |goarch: &str| ARCHES.iter().find(|a| a.goarch == goarch);
    match first {
        "x86_64" => by("amd64"),
        "aarch64" => by("arm64"),
        "i686" | "i586" | "i386" => by("386"),
        "riscv64gc" | "riscv64" => by("riscv64"),
        "powerpc64le" => by("ppc64le"),
        "s390x" => by("s390x"),
        "loongarch64" => by("loong64"),
        "mips64el" => by("mips64le"),
        a if a.starts_with("arm") || a.starts_with("thumbv7") => by("arm"),
        _ => None,
    }
}

/// The architecture this program runs on.
pub fn host() -> Option<&'static Arch> {
    from_triple(std::env::consts::ARCH)
}

/// The GOARCH names, for "use one of …" messages.
pub fn known_names() -> Vec<&'static str> {
    ARCHES.iter().map(|a| a.goarch).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_maps_to_one_row() {
        for (name, goarch) in [
            ("amd64", "amd64"),
            ("x86_64", "amd64"),
            ("X86-64", "amd64"),
            ("x86_64-unknown-linux-musl", "amd64"),
            ("arm64", "arm64"),
            ("aarch64", "arm64"),
            ("aarch64-unknown-linux-gnu", "arm64"),
            ("i686", "386"),
            ("i586-unknown-linux-musl", "386"),
            ("armv7-unknown-linux-musleabihf", "arm"),
            ("thumbv7neon-unknown-linux-gnueabihf", "arm"),
            ("riscv64gc-unknown-linux-musl", "riscv64"),
            ("powerpc64le", "ppc64le"),
            ("loongarch64", "loong64"),
        ] {
            assert_eq!(from_name(name).map(|a| a.goarch), Some(goarch), "{name}");
        }
        for bad in ["", "wasm32", "wasm32-wasip1", "sparc64", "x86_65"] {
            assert_eq!(from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn machines_and_triples_round_trip() {
        for a in ARCHES {
            assert_eq!(from_machine(a.machine), Some(a), "{}", a.goarch);
            assert_eq!(from_triple(&a.musl_triple()), Some(a), "{}", a.goarch);
            assert_eq!(from_name(a.goarch), Some(a));
        }
        assert_eq!(from_machine(0), None);
        let arm64 = from_name("arm64").unwrap();
        assert_eq!(arm64.platform_suffix(), "arm64/v8");
        assert_eq!(arm64.musl_triple(), "aarch64-unknown-linux-musl");
        assert!(host().is_some());
    }
}
