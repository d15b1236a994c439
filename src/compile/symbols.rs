//! Keep the symbol table when the user's profile strips it, for the report.
//!
//! In: the profile being built and every place cargo reads its `strip` from —
//! the user's `--config` flags, `CARGO_PROFILE_<NAME>_STRIP`, the
//! `.cargo/config.toml` files from the crate up to `$CARGO_HOME`, and the
//! workspace root's `[profile.<name>]`, following `inherits` (`bench` →
//! `release`, `test` → `dev`). Out: a [`KeepSymbols`] when the effective value
//! strips the symbol table (`strip = true` or `"symbols"`): the `--config
//! profile.<name>.strip="debuginfo"` pair for `cargo build`, and where the
//! strip was set. Why: per-crate sizes (`bloat`) come from the symbol
//! table, and a release profile with `strip = true` (common) left the report
//! without them. The pipeline strips the binary in-process anyway, so the image
//! gets the same stripped bytes; the user's files are never edited. The value
//! is `"debuginfo"`, not `false`: the symbol table stays, and std's debug info
//! (megabytes) stays out, as in cargo's default release profile.
//!
//! The rebuild cache cannot mix the two builds: its entries are keyed by the
//! file cargo left (inode, size, times) and by the unstripped bytes' digest,
//! and a relinked binary differs in both.

use std::path::{Path, PathBuf};

use super::CargoBuild;

/// The flags that keep the symbol table, and why they are needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepSymbols {
    /// `--config`, `profile.<name>.strip="debuginfo"`.
    pub flags: Vec<String>,
    /// `strip = true` and where it was set, for the `-v` line.
    pub because: String,
}

/// One place cargo reads profiles from, highest precedence first.
enum Layer {
    /// A `--config` flag or a config file, parsed; its description.
    Toml(toml::Table, String),
    /// `CARGO_PROFILE_<NAME>_<KEY>` variables.
    Env,
}

/// The flags for `build`, when its profile would strip the symbol table.
pub fn keep_symbols(build: &CargoBuild<'_>) -> Option<KeepSymbols> {
    let layers = layers(
        &build.run.cargo_args,
        &super::linker::config_files(build.package.dir()),
        &build.run.workspace_root.join("Cargo.toml"),
    );
    let (value, origin, profile) = effective_strip(&layers, &build.package.profile)?;
    let strips = matches!(value.as_str(), "true" | "symbols" | "\"symbols\"");
    strips.then(|| KeepSymbols {
        flags: vec![
            "--config".into(),
            format!("profile.{}.strip=\"debuginfo\"", build.package.profile),
        ],
        because: format!("profile `{profile}` sets strip = {value} ({origin})"),
    })
}

/// [`keep_symbols`]'s flags for `cargo build` (none when the profile keeps
/// its symbols), saying why under `-v`.
pub fn flags_for(build: &CargoBuild<'_>, shell: &crate::shell::Shell) -> Vec<String> {
    let Some(keep) = keep_symbols(build) else {
        return Vec::new();
    };
    shell.verbose(
        "Symbols",
        format!(
            "{}: building with strip = \"debuginfo\" so the report keeps per-crate sizes \
             (the image still gets a stripped binary; your files are unchanged)",
            keep.because
        ),
    );
    keep.flags
}

/// The layers, highest precedence first: the last `--config` flag wins over
/// earlier ones, flags over the environment, the environment over config files
/// (the nearest first), config files over the manifest.
fn layers(cargo_args: &[String], config_files: &[PathBuf], manifest: &Path) -> Vec<Layer> {
    let mut out = Vec::new();
    let flags = cargo_args
        .iter()
        .zip(cargo_args.iter().skip(1))
        .filter(|(flag, _)| *flag == "--config")
        .filter_map(|(_, value)| Some((value.parse::<toml::Table>().ok()?, value)));
    let mut flags: Vec<Layer> = flags
        .map(|(t, v)| Layer::Toml(t, format!("--config {v}")))
        .collect();
    flags.reverse();
    out.extend(flags);
    out.push(Layer::Env);
    for f in config_files.iter().chain([&manifest.to_path_buf()]) {
        if let Some(t) = std::fs::read_to_string(f)
            .ok()
            .and_then(|text| text.parse::<toml::Table>().ok())
        {
            out.push(Layer::Toml(t, f.display().to_string()));
        }
    }
    out
}

/// `key` of `profile` in the first layer that sets it, and where.
fn lookup(layers: &[Layer], profile: &str, key: &str) -> Option<(String, String)> {
    layers.iter().find_map(|l| match l {
        Layer::Toml(t, origin) => {
            let v = t.get("profile")?.get(profile)?.get(key)?;
            Some((v.to_string(), origin.clone()))
        }
        Layer::Env => {
            let var = format!(
                "CARGO_PROFILE_{}_{}",
                profile.to_uppercase().replace('-', "_"),
                key.to_uppercase().replace('-', "_")
            );
            let v = std::env::var(&var).ok()?;
            Some((v, format!("${var}")))
        }
    })
}

/// The `strip` value `profile` ends up with, where it was set, and the profile
/// (itself or one it inherits from) that set it; `None` when nothing sets it
/// (cargo's defaults never strip symbols).
fn effective_strip(layers: &[Layer], profile: &str) -> Option<(String, String, String)> {
    let mut current = profile.to_string();
    // Cargo refuses inheritance cycles; a bound keeps a bad file from looping here.
    for _ in 0..16 {
        if let Some((v, origin)) = lookup(layers, &current, "strip") {
            return Some((v, origin, current));
        }
        current = match lookup(layers, &current, "inherits") {
            Some((parent, _)) => parent.trim_matches('"').to_string(),
            None => match current.as_str() {
                "bench" => "release".into(),
                "test" => "dev".into(),
                _ => return None,
            },
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers_of(flags: &[&str], files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<Layer>) {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            paths.push(p);
        }
        let manifest = paths.pop().unwrap();
        let args: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        let l = layers(&args, &paths, &manifest);
        (dir, l)
    }

    #[test]
    fn the_effective_strip_follows_precedence_and_inheritance() {
        let manifest = "[profile.release]\nstrip = true\n[profile.dist]\ninherits = \"release\"\n";
        let (_d, l) = layers_of(&[], &[("Cargo.toml", manifest)]);
        let (v, origin, from) = effective_strip(&l, "dist").unwrap();
        assert_eq!((v.as_str(), from.as_str()), ("true", "release"));
        assert!(origin.ends_with("Cargo.toml"), "{origin}");
        assert_eq!(effective_strip(&l, "bench").unwrap().0, "true");
        assert!(effective_strip(&l, "dev").is_none());
        // A config file wins over the manifest, a --config flag over both, the last flag last.
        let (_d, l) = layers_of(
            &[
                "--config",
                "profile.release.strip=\"symbols\"",
                "--config",
                "profile.release.strip=false",
            ],
            &[
                ("config.toml", "[profile.release]\nstrip = \"debuginfo\"\n"),
                ("Cargo.toml", manifest),
            ],
        );
        assert_eq!(effective_strip(&l, "release").unwrap().0, "false");
        let (_d, l) = layers_of(
            &["--config", "build.jobs=2", "--config", "not toml at all ="],
            &[
                ("config.toml", "[profile.release]\nstrip = \"debuginfo\"\n"),
                ("Cargo.toml", manifest),
            ],
        );
        assert_eq!(effective_strip(&l, "release").unwrap().0, "\"debuginfo\"");
        // An inheritance cycle ends.
        let (_d, l) = layers_of(
            &[],
            &[(
                "Cargo.toml",
                "[profile.a]\ninherits = \"b\"\n[profile.b]\ninherits = \"a\"\n",
            )],
        );
        assert!(effective_strip(&l, "a").is_none());
    }
}
