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
//! fails its image only, and the others' binaries are still built. Binaries
//! that get mimalloc share a run too: cargo runs cargo-slim as its workspace
//! wrapper ([`super::wrap`]) with one variable per binary naming its link
//! arguments, so those variables are part of the selection, and the merged run
//! sets all of them; the wrapper itself is part of the key, as it changes how
//! cargo hashes workspace members — mimalloc and musl binaries never share a
//! run, so an image's bytes never depend on the images built beside it.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

use anyhow::Result;

use super::{alloc, command, finish, run_cargo, wrap, Artifact, CargoBuild, Linker, TargetChoice};
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
    let groups = groups(commands.iter().map(|(cmd, _)| cmd));
    let mut results: Vec<Option<Result<Artifact>>> = units.iter().map(|_| None).collect();
    let mut commands: Vec<Option<(Command, &'static str)>> =
        commands.into_iter().map(Some).collect();
    for group in groups {
        let members: Vec<&Unit<'_>> = group.iter().map(|&i| &units[i]).collect();
        announce(&members);
        let (mut cmd, subcommand) = commands[group[0]].take().expect("each group runs once");
        if group.len() > 1 {
            for (&i, u) in group.iter().zip(&members).skip(1) {
                cmd.args(["-p", &u.build.package.package_id]);
                cmd.args(["--bin", &u.build.package.bin]);
                // Its own binary's variables: the run sets the union of them.
                let other = &commands[i].as_ref().expect("not run yet").0;
                cmd.envs(per_bin(other));
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

/// Indices of `commands` in groups that can share one cargo run, each in order:
/// a command joins the first group with its [`shared_key`] whose binaries'
/// variables ([`per_bin`]) agree with its own (the same binary given other
/// arguments runs apart), else starts a group.
fn groups<'c>(commands: impl Iterator<Item = &'c Command>) -> Vec<Vec<usize>> {
    type Group = (String, BTreeMap<OsString, OsString>, Vec<usize>);
    let mut groups: Vec<Group> = Vec::new();
    for (i, cmd) in commands.enumerate() {
        let (key, vars) = (shared_key(cmd), per_bin(cmd));
        let agrees = |set: &BTreeMap<OsString, OsString>| {
            vars.iter().all(|(k, v)| set.get(k).is_none_or(|w| w == v))
        };
        match groups.iter_mut().find(|g| g.0 == key && agrees(&g.1)) {
            Some(g) => {
                g.1.extend(vars);
                g.2.push(i);
            }
            None => groups.push((key, vars, vec![i])),
        }
    }
    groups.into_iter().map(|g| g.2).collect()
}

/// The variables a command sets for its own binary only ([`wrap::alloc_var`]).
fn per_bin(cmd: &Command) -> BTreeMap<OsString, OsString> {
    cmd.get_envs()
        .filter(|(k, _)| wrap::is_alloc_var(&k.to_string_lossy()))
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect()
}

/// A command line with its selection and its binaries' variables left out, and its environment: equal
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
        .filter(|(k, _)| !wrap::is_alloc_var(&k.to_string_lossy()))
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

    #[test]
    fn binaries_with_mimalloc_share_a_run_that_sets_each_ones_variable() {
        let base = ["build", "-p", "a", "--bin", "a", "--profile", "release"];
        let wrapped = [("RUSTC_WORKSPACE_WRAPPER", "cargo-slim")];
        let (va, vb) = (wrap::alloc_var("a", "a"), wrap::alloc_var("b", "b"));
        let a = cmd(&base, &[wrapped[0], (&va, "-L\x1fnative=/x")]);
        let b = cmd(
            &["build", "-p", "b", "--bin", "b", "--profile", "release"],
            &[wrapped[0], (&vb, "-L\x1fnative=/x")],
        );
        // Without the wrapper: another key (cargo hashes members otherwise).
        let musl = cmd(
            &["build", "-p", "c", "--bin", "c", "--profile", "release"],
            &[],
        );
        // The same binary with other arguments: its own run.
        let again = cmd(&base, &[wrapped[0], (&va, "-L\x1fnative=/y")]);
        let all = [a, b, musl, again];
        assert_eq!(groups(all.iter()), [vec![0, 1], vec![2], vec![3]]);
        assert_eq!(shared_key(&all[0]), shared_key(&all[1]));
        let union: BTreeMap<_, _> = per_bin(&all[0])
            .into_iter()
            .chain(per_bin(&all[1]))
            .collect();
        assert_eq!(union.len(), 2);
    }
}
