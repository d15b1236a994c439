//! Size presets: `--opt size` → the cargo profile settings of a small binary.
//!
//! In: the preset name (`--opt`, metadata `opt`), the cargo profile being built,
//! and the workspace root's `Cargo.toml` (where cargo reads `[profile.*]`).
//! Out: a [`PresetPlan`]: the `--config profile.<p>.<key>=<value>` flags for
//! `cargo build`, and the keys the user set themselves, which win and are named
//! in the report. Why flags and not an edit: the user's Cargo.toml is never
//! touched, and a `--config` profile value would override the manifest's, so a
//! key the user wrote is left out instead.
//!
//! `size` is the min-sized-rust recipe for a stable toolchain: `opt-level = "z"`,
//! `lto = "fat"`, `codegen-units = 1`, `panic = "abort"`. It trades away
//! unwinding: a panic ends the process at once, without running destructors.
//!
//! `min` is `size` on a nightly toolchain (checked by [`super::nightly`]) that
//! also rebuilds std for the binary: cargo's `[unstable]` keys `build-std =
//! ["std", "panic_abort"]`, `build-std-features = ["optimize_for_size"]` and
//! `panic-immediate-abort = true` (all as `--config unstable.<key>=…`, which is
//! `-Zbuild-std=…` and the rest), `panic = "immediate-abort"` in the profile
//! (cargo 1.97-nightly refuses that key without `panic-immediate-abort`, and then
//! builds std with it too: checked, hello runs), and the rustflags
//! `-Zlocation-detail=none -Zfmt-debug=none`, added beside the user's. Settings
//! keyed `unstable.*` go to cargo's `[unstable]` table, `rustflags` to
//! [`PresetPlan::rustflags`], the rest to the profile.

use std::path::Path;

use crate::error::Failure;

/// `static-pie = false`: a non-PIE static `ET_EXEC` binary.
pub const NON_PIE_FLAG: &str = "-Crelocation-model=static";

/// How the binary is relocated: a static-pie (the default), or a static non-PIE
/// binary (`static-pie = false`, `--no-static-pie`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Relocation {
    #[default]
    StaticPie,
    /// [`NON_PIE_FLAG`]; `baseline`: also build a static-pie to measure what
    /// this saves (off with `--no-pie-baseline`).
    Static { baseline: bool },
}

impl Relocation {
    /// The rustflag that asks rustc for it (none for the default).
    pub fn rustflag(self) -> Option<&'static str> {
        match self {
            Relocation::StaticPie => None,
            Relocation::Static { .. } => Some(NON_PIE_FLAG),
        }
    }
}

/// What `static-pie = false` trades away, for the note printed with it.
pub const NON_PIE_NOTE: &str =
    "static-pie = false builds a static, non-PIE binary (-C relocation-model=static): \
     it drops the .rela.dyn relocations a static-pie applies at start, and with them ASLR \
     (the program is always loaded at the same address)";

/// A size preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// `opt-level = "z"`, fat LTO, one codegen unit, `panic = "abort"`.
    Size,
    /// `size` + build-std with `optimize_for_size`, immediate abort, no
    /// locations and no `{:?}` output (nightly with `rust-src`).
    Min,
}

impl Preset {
    pub fn parse(text: &str) -> Result<Preset, String> {
        match text.trim() {
            "size" => Ok(Preset::Size),
            "min" => Ok(Preset::Min),
            other => Err(format!(
                "`{other}` is not a size preset; use `size` (stable) or `min` (nightly with rust-src)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Size => "size",
            Preset::Min => "min",
        }
    }

    /// The profile keys and TOML values the preset sets.
    pub fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Preset::Size => &[
                ("opt-level", "\"z\""),
                ("lto", "\"fat\""),
                ("codegen-units", "1"),
                ("panic", "\"abort\""),
            ],
            Preset::Min => &[
                ("opt-level", "\"z\""),
                ("lto", "\"fat\""),
                ("codegen-units", "1"),
                ("panic", "\"immediate-abort\""),
                ("unstable.build-std", "[\"std\", \"panic_abort\"]"),
                ("unstable.build-std-features", "[\"optimize_for_size\"]"),
                ("unstable.panic-immediate-abort", "true"),
                (
                    "rustflags",
                    "[\"-Zlocation-detail=none\", \"-Zfmt-debug=none\"]",
                ),
            ],
        }
    }

    /// What the preset gives up, for the note printed with it.
    pub fn trade_off(self) -> &'static str {
        match self {
            Preset::Size => {
                "the size preset sets panic = \"abort\": a panic ends the process at once, without unwinding or running destructors"
            }
            Preset::Min => {
                "the min preset builds std with a nightly toolchain and trades away: unwinding and destructors on panic \
                 (panic = \"immediate-abort\"), every panic message and its file:line (-Zlocation-detail=none), \
                 and `{:?}` output, which prints nothing useful (-Zfmt-debug=none)"
            }
        }
    }
}

/// The preset resolved for one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetPlan {
    pub preset: Preset,
    /// `--config profile.<p>.<key>=<value>` pairs, flag and value apart.
    pub cargo_flags: Vec<String>,
    /// `key = value` the user's `[profile.<p>]` sets; they win over the preset.
    pub kept: Vec<String>,
    /// Rustflags added beside the user's (`min`: `-Zlocation-detail=none`, …).
    pub rustflags: Vec<String>,
    /// Whether the build needs a nightly toolchain with `rust-src` (`min`).
    pub nightly: bool,
}

/// Plan `preset` for `profile`, leaving out what `[profile.<profile>]` of the
/// workspace root manifest already sets.
pub fn plan(preset: Preset, profile: &str, root_manifest: &Path) -> Result<PresetPlan, Failure> {
    let text = std::fs::read_to_string(root_manifest)
        .map_err(|e| crate::error::io_failure("read the workspace manifest", root_manifest, &e))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        Failure::new(format!("`{}` is not valid TOML", root_manifest.display()))
            .detail(e.to_string())
    })?;
    let user = table
        .get("profile")
        .and_then(|p| p.get(profile))
        .and_then(|p| p.as_table());
    let mut cargo_flags = Vec::new();
    let mut kept = Vec::new();
    let mut rustflags = Vec::new();
    for (key, value) in preset.settings() {
        if *key == "rustflags" {
            let list: toml::Value = value
                .parse::<toml::Value>()
                .unwrap_or(toml::Value::Array(vec![]));
            rustflags.extend(
                list.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str().map(str::to_string)),
            );
            continue;
        }
        if key.starts_with("unstable.") {
            cargo_flags.push("--config".into());
            cargo_flags.push(format!("{key}={value}"));
            continue;
        }
        match user.and_then(|t| t.get(*key)) {
            Some(theirs) => kept.push(format!("{key} = {theirs}")),
            None => {
                cargo_flags.push("--config".into());
                cargo_flags.push(format!("profile.{profile}.{key}={value}"));
            }
        }
    }
    Ok(PresetPlan {
        preset,
        cargo_flags,
        kept,
        rustflags,
        nightly: preset == Preset::Min,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_profile_keys_win() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("Cargo.toml");
        std::fs::write(
            &m,
            "[package]\nname = \"a\"\n[profile.release]\nopt-level = 3\n",
        )
        .unwrap();
        let p = plan(Preset::Size, "release", &m).unwrap();
        assert_eq!(p.kept, ["opt-level = 3"]);
        assert_eq!(
            p.cargo_flags,
            [
                "--config",
                "profile.release.lto=\"fat\"",
                "--config",
                "profile.release.codegen-units=1",
                "--config",
                "profile.release.panic=\"abort\"",
            ]
        );
        // Another profile is not the user's release settings.
        let p = plan(Preset::Size, "dist", &m).unwrap();
        assert!(p.kept.is_empty());
        assert_eq!(p.cargo_flags.len(), 8);
        assert!(Preset::parse("tiny").is_err());
        assert_eq!(Preset::parse("size").unwrap().name(), "size");
    }

    #[test]
    fn min_adds_unstable_keys_and_rustflags() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("Cargo.toml");
        std::fs::write(&m, "[package]\nname = \"a\"\n").unwrap();
        let p = plan(Preset::parse("min").unwrap(), "release", &m).unwrap();
        assert!(p.nightly);
        assert_eq!(p.rustflags, ["-Zlocation-detail=none", "-Zfmt-debug=none"]);
        let flags = p.cargo_flags.join(" ");
        assert!(
            flags.contains("profile.release.panic=\"immediate-abort\""),
            "{flags}"
        );
        assert!(
            flags.contains("unstable.build-std=[\"std\", \"panic_abort\"]"),
            "{flags}"
        );
        assert!(flags.contains("unstable.build-std-features=[\"optimize_for_size\"]"));
        assert!(flags.contains("unstable.panic-immediate-abort=true"));
        assert!(!flags.contains("rustflags"), "{flags}");
        assert_eq!(p.cargo_flags.len(), 14);
        assert!(!plan(Preset::Size, "release", &m).unwrap().nightly);
    }
}
