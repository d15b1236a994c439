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

use std::path::Path;

use crate::error::Failure;

/// A size preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// `opt-level = "z"`, fat LTO, one codegen unit, `panic = "abort"`.
    Size,
}

impl Preset {
    pub fn parse(text: &str) -> Result<Preset, String> {
        match text.trim() {
            "size" => Ok(Preset::Size),
            other => Err(format!("`{other}` is not a size preset; use `size`")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Size => "size",
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
        }
    }

    /// What the preset gives up, for the note printed with it.
    pub fn trade_off(self) -> &'static str {
        match self {
            Preset::Size => {
                "the size preset sets panic = \"abort\": a panic ends the process at once, without unwinding or running destructors"
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
    for (key, value) in preset.settings() {
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
}
