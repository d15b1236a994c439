//! Several images' binaries in as few cargo runs as possible.
//!
//! In: one [`Unit`] per image of a platform (its [`CargoBuild`], target,
//! linker and allocator linkage). Out: one [`Artifact`] result per unit, in
//! order. Why: cargo compiles the dependencies the binaries share once and
//! their own crates in parallel only when they are built by one `cargo build -p
//! a -p b --bin x --bin y`; separate runs queue on cargo's build lock, one
//! after the other. Units are merged when their command lines differ only in
//! what they select (`--manifest-path`, `-p`, `--bin`): same toolchain,
//! target, profile, features, flags and environment — so each binary is built
//! exactly as a run of its own would build it, with cargo's feature
//! unification over the selected packages as in any multi-package `cargo
//! build`. A merged run passes `--keep-going`: one crate that fails to compile
//! fails its image only, and the others' binaries are still built. Units that
//! cannot share a run — `cargo rustc`, which links mimalloc into one final
//! crate only ([`super::alloc`]), or other settings — run alone.

use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

use anyhow::Result;

use super::{alloc, command, finish, run_cargo, Artifact, CargoBuild, Linker, TargetChoice};
use crate::shell::Shell;

/// One binary to build for one platform.
pub struct Unit<'a> {
    pub build: CargoBuild<'a>,
    pub target: &'a TargetChoice,
    pub link: &'a Linker,
    pub allocator: &'a alloc::Linkage,
}

/// The flags that select what a cargo command builds, each followed by a value.
const SELECTION: [&str; 3] = ["--manifest-path", "-p", "--bin"];

/// Build every unit, merging those that can share one cargo run (see the
/// module doc). `announce` is called before each run with the binaries it builds.
pub fn build_all(
    units: &[Unit<'_>],
    shell: &Shell,
    mut announce: impl FnMut(&[&Unit<'_>]),
) -> Result<Vec<Result<Artifact>>> {
    let commands: Vec<(Command, &'static str)> = units
        .iter()
        .map(|u| command(&u.build, u.target, u.link, u.allocator, shell))
        .collect();
    let keys: Vec<Option<String>> = commands
        .iter()
        .map(|(cmd, sub)| (*sub != "rustc").then(|| shared_key(cmd)))
        .collect();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let joins = key
            .as_ref()
            .and_then(|k| groups.iter().position(|g| keys[g[0]].as_ref() == Some(k)));
        match joins {
            Some(g) => groups[g].push(i),
            None => groups.push(vec![i]),
        }
    }
    let mut results: Vec<Option<Result<Artifact>>> = units.iter().map(|_| None).collect();
    let mut commands: Vec<Option<(Command, &'static str)>> =
        commands.into_iter().map(Some).collect();
    for group in groups {
        let members: Vec<&Unit<'_>> = group.iter().map(|&i| &units[i]).collect();
        announce(&members);
        let (mut cmd, subcommand) = commands[group[0]].take().expect("each group runs once");
        if group.len() > 1 {
            for u in &members[1..] {
                cmd.args(["-p", &u.build.package.package_id]);
                cmd.args(["--bin", &u.build.package.bin]);
            }
            cmd.arg("--keep-going");
        }
        let wanted: Vec<(&str, &str)> = members
            .iter()
            .map(|u| {
                (
                    u.build.package.package_id.as_str(),
                    u.build.package.bin.as_str(),
                )
            })
            .collect();
        let (status, found, rlibs) = run_cargo(cmd, &wanted, shell)?;
        for ((&i, u), mut paths) in group.iter().zip(&members).zip(found) {
            // In a merged run, a binary that was built is this unit's success,
            // whatever another crate's failure made of cargo's exit status.
            let own = if group.len() > 1 && !paths.is_empty() {
                ExitStatus::from_raw(0)
            } else {
                status
            };
            let path = paths.pop();
            results[i] = Some(finish(
                u.build.package,
                u.target,
                u.link,
                subcommand,
                own,
                path.into_iter().collect(),
                rlibs.clone(),
            ));
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every unit is in a group"))
        .collect())
}

/// A command line with its selection left out, and its environment: equal
/// keys build the same way.
fn shared_key(cmd: &Command) -> String {
    let mut parts: Vec<String> = vec![cmd.get_program().to_string_lossy().into_owned()];
    let mut args = cmd.get_args();
    while let Some(a) = args.next() {
        if SELECTION.iter().any(|s| OsStr::new(s) == a) {
            args.next();
            continue;
        }
        parts.push(a.to_string_lossy().into_owned());
    }
    let mut envs: Vec<String> = cmd
        .get_envs()
        .map(|(k, v)| {
            format!(
                "{}={}",
                k.to_string_lossy(),
                v.map(|v| v.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )
        })
        .collect();
    envs.sort();
    parts.extend(envs);
    parts.join("\u{1f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new("cargo");
        c.args(args).envs(env.iter().copied());
        c
    }

    #[test]
    fn commands_that_differ_only_in_selection_share_a_key() {
        let a = cmd(
            &[
                "build",
                "--manifest-path",
                "a/Cargo.toml",
                "-p",
                "a",
                "--bin",
                "a",
                "--profile",
                "release",
            ],
            &[("X", "1")],
        );
        let b = cmd(
            &[
                "build",
                "--manifest-path",
                "b/Cargo.toml",
                "-p",
                "b",
                "--bin",
                "bee",
                "--profile",
                "release",
            ],
            &[("X", "1")],
        );
        assert_eq!(shared_key(&a), shared_key(&b));
    }

    #[test]
    fn another_profile_flag_or_environment_is_another_key() {
        let base = ["build", "-p", "a", "--bin", "a", "--profile", "release"];
        let a = cmd(&base, &[]);
        let other_profile = cmd(&["build", "-p", "b", "--bin", "b", "--profile", "dev"], &[]);
        let extra_flag = cmd(&[&base[..], &["--all-features"]].concat(), &[]);
        let env = cmd(&base, &[("CC", "zig cc")]);
        for other in [other_profile, extra_flag, env] {
            assert_ne!(shared_key(&a), shared_key(&other), "{other:?}");
        }
    }
}
