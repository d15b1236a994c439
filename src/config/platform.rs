//! `--platform` / `platforms` and `--target` / `target` → the targets to build.
//!
//! In: what the user wrote (`linux/amd64,linux/arm64`, `all`, `arm64`,
//! `aarch64-unknown-linux-musl`), and where (a flag: a usage error, exit 2; the
//! manifest: an error naming the key and the file). Out: [`Targets`], either one
//! explicit triple, the host default, or platforms of the one arch table, in its
//! canonical order (amd64 before arm64 on every machine) without duplicates.
//! Why: a target that can never be a Linux image (`wasm32-wasip1`) or a list
//! (`--target a,b`) went to rustup unchecked, and a platform we cannot build must
//! be refused with the list of those we can, before anything compiles.

use std::path::Path;

use crate::arch::{self, Arch};
use crate::error::Failure;

/// The architectures cargo slim builds images for (musl targets that link here).
pub const BUILDABLE: [&str; 2] = ["amd64", "arm64"];

/// What to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// The host's static default (`<host-arch>-unknown-linux-musl`, else gnu).
    Host,
    /// One explicit target triple.
    Triple(String),
    /// One or more platforms (each built for its musl target).
    Platforms(Vec<&'static Arch>),
}

impl Targets {
    /// The target of each build: one, or one per platform (its musl target);
    /// `None` is the host's static default.
    pub fn each(&self) -> Vec<Option<String>> {
        match self {
            Targets::Host => vec![None],
            Targets::Triple(t) => vec![Some(t.clone())],
            Targets::Platforms(p) => p.iter().map(|a| Some(a.musl_triple())).collect(),
        }
    }

    /// The arch to put in the default output name: one platform or triple that is
    /// not the host's, so an arm64 build never overwrites the host's image.
    pub fn name_suffix(&self) -> Option<&'static str> {
        let one = match self {
            Targets::Host => return None,
            Targets::Triple(t) => arch::from_triple(t)?,
            Targets::Platforms(p) if p.len() == 1 => p[0],
            Targets::Platforms(_) => return None,
        };
        (Some(one.goarch) != arch::host().map(|h| h.goarch)).then_some(one.goarch)
    }
}

/// Where a setting came from, for the error's wording and exit code.
#[derive(Debug, Clone, Copy)]
pub enum Given<'a> {
    Cli,
    Manifest(&'a Path),
}

impl Given<'_> {
    fn fail(self, flag: &str, key: &str, what: String, help: String) -> Failure {
        match self {
            Given::Cli => Failure::new(format!("{flag}: {what}")).help(help).usage(),
            Given::Manifest(m) => Failure::new(format!(
                "`{key}` in [package.metadata.slim] of `{}`: {what}",
                m.display()
            ))
            .help(help),
        }
    }
}

fn buildable_list() -> String {
    BUILDABLE
        .iter()
        .map(|g| format!("linux/{g}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parse a platform list. `all` is every buildable platform.
pub fn parse_platforms(items: &[String], from: Given<'_>) -> Result<Vec<&'static Arch>, Failure> {
    let fail = |what: String| {
        from.fail(
            "--platform",
            "platforms",
            what,
            format!(
                "use one or more of {}, comma-separated, or `all`",
                buildable_list()
            ),
        )
    };
    if items.is_empty() {
        return Err(fail("no platform given".into()));
    }
    let mut out: Vec<&'static Arch> = Vec::new();
    for raw in items {
        let item = raw.trim();
        if item.is_empty() {
            return Err(fail("an empty platform in the list".into()));
        }
        let chosen: Vec<&'static Arch> = if item.eq_ignore_ascii_case("all") {
            BUILDABLE
                .iter()
                .filter_map(|g| arch::from_name(g))
                .collect()
        } else {
            vec![parse_one(item).map_err(fail)?]
        };
        for a in chosen {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    let order = |a: &&Arch| arch::ARCHES.iter().position(|r| r == *a);
    out.sort_by_key(order);
    Ok(out)
}

/// `linux/arm64`, `linux/arm64/v8`, `arm64`, `aarch64`.
fn parse_one(item: &str) -> Result<&'static Arch, String> {
    let parts: Vec<&str> = item.split('/').collect();
    let (os, name, variant) = match parts.as_slice() {
        [a] => ("linux", *a, None),
        [os, a] => (*os, *a, None),
        [os, a, v] => (*os, *a, Some(*v)),
        _ => return Err(format!("`{item}` is not a platform (OS/ARCH[/VARIANT])")),
    };
    if !os.eq_ignore_ascii_case("linux") {
        return Err(format!(
            "`{item}`: cargo slim builds Linux images only, not `{os}`"
        ));
    }
    let Some(a) = arch::from_name(name) else {
        return Err(format!("`{item}`: unknown architecture `{name}`"));
    };
    if !BUILDABLE.contains(&a.goarch) {
        return Err(format!(
            "`{item}` is not a platform cargo slim builds (it builds {})",
            buildable_list()
        ));
    }
    if let Some(v) = variant {
        if Some(v) != a.variant {
            return Err(format!(
                "`{item}`: variant `{v}` is not built; linux/{} is {}",
                a.goarch,
                a.variant
                    .map_or("built without a variant".to_string(), |w| format!("`{w}`"))
            ));
        }
    }
    Ok(a)
}

/// Check one `--target` / `target` triple: a single Linux triple.
pub fn check_triple(triple: &str, from: Given<'_>) -> Result<(), Failure> {
    let fail = |what: String, help: String| from.fail("--target", "target", what, help);
    if triple.contains(',') || triple.contains(char::is_whitespace) {
        return Err(fail(
            format!("`{triple}` is not one target triple"),
            "for several platforms use `--platform linux/amd64,linux/arm64` (`platforms` in the manifest)"
                .into(),
        ));
    }
    if !triple.contains("-linux-") {
        return Err(fail(
            format!("`{triple}` is not a Linux target; a container image runs Linux binaries"),
            format!(
                "build a `*-unknown-linux-musl` target, or use `--platform` ({})",
                buildable_list()
            ),
        ));
    }
    Ok(())
}

/// CLI over manifest; `--target` and `--platform` (or `target` and `platforms`)
/// exclude each other.
pub fn resolve_targets(
    cli_target: Option<&str>,
    cli_platforms: &[String],
    meta_target: Option<&str>,
    meta_platforms: Option<&[String]>,
    manifest: &Path,
) -> Result<Targets, Failure> {
    if cli_target.is_some() && !cli_platforms.is_empty() {
        return Err(Failure::new("--target and --platform exclude each other")
            .help("give --platform linux/arm64 (cargo slim picks the musl target) or one --target")
            .usage());
    }
    if let Some(t) = cli_target {
        check_triple(t, Given::Cli)?;
        return Ok(Targets::Triple(t.to_string()));
    }
    if !cli_platforms.is_empty() {
        return parse_platforms(cli_platforms, Given::Cli).map(Targets::Platforms);
    }
    match (meta_target, meta_platforms) {
        (Some(_), Some(_)) => Err(Failure::new(format!(
            "`target` and `platforms` in [package.metadata.slim] of `{}` exclude each other",
            manifest.display()
        ))
        .help("keep `platforms` (cargo slim picks the musl target for each)")),
        (Some(t), None) => {
            check_triple(t, Given::Manifest(manifest))?;
            Ok(Targets::Triple(t.to_string()))
        }
        (None, Some(p)) => parse_platforms(p, Given::Manifest(manifest)).map(Targets::Platforms),
        (None, None) => Ok(Targets::Host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(items: &[&str]) -> Result<Vec<&'static str>, Failure> {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        parse_platforms(&items, Given::Cli).map(|v| v.iter().map(|a| a.goarch).collect())
    }

    #[test]
    fn platforms_parse_to_one_canonical_order() {
        assert_eq!(names(&["all"]).unwrap(), ["amd64", "arm64"]);
        assert_eq!(
            names(&["linux/arm64", "linux/amd64"]).unwrap(),
            ["amd64", "arm64"]
        );
        assert_eq!(
            names(&["linux/arm64/v8", "aarch64", "all"]).unwrap(),
            ["amd64", "arm64"]
        );
        assert_eq!(names(&["x86_64"]).unwrap(), ["amd64"]);
    }

    #[test]
    fn platforms_we_cannot_build_are_refused_with_the_list() {
        for (bad, says) in [
            ("linux/riscv64", "it builds linux/amd64, linux/arm64"),
            ("windows/amd64", "Linux images only"),
            ("linux/arm64/v7", "variant `v7`"),
            ("linux/amd64/v3", "without a variant"),
            ("linux/sparc", "unknown architecture"),
            ("a/b/c/d", "not a platform"),
            ("", "empty platform"),
        ] {
            let e = names(&[bad]).unwrap_err();
            assert!(e.what.contains(says), "{bad}: {e:?}");
            assert!(e.usage, "a flag's error is a usage error");
            assert!(e.help.as_deref().unwrap().contains("linux/arm64"));
        }
        let m = Path::new("/x/Cargo.toml");
        let e = parse_platforms(&["mips".into()], Given::Manifest(m)).unwrap_err();
        assert!(e.what.contains("`platforms`") && e.what.contains("/x/Cargo.toml"));
        assert!(!e.usage);
    }

    #[test]
    fn targets_are_one_linux_triple() {
        let e = check_triple("a,b", Given::Cli).unwrap_err();
        assert!(e.help.unwrap().contains("--platform"));
        let e = check_triple("wasm32-wasip1", Given::Cli).unwrap_err();
        assert!(e.what.contains("not a Linux target"), "{e:?}");
        check_triple("aarch64-unknown-linux-musl", Given::Cli).unwrap();
    }

    #[test]
    fn cli_wins_and_the_two_keys_exclude_each_other() {
        let m = Path::new("Cargo.toml");
        let all = ["all".to_string()];
        assert_eq!(
            resolve_targets(None, &[], Some("x86_64-unknown-linux-musl"), None, m).unwrap(),
            Targets::Triple("x86_64-unknown-linux-musl".into())
        );
        assert!(matches!(
            resolve_targets(None, &all, Some("x86_64-unknown-linux-musl"), None, m).unwrap(),
            Targets::Platforms(p) if p.len() == 2
        ));
        assert!(resolve_targets(None, &[], Some("t-linux-x"), Some(&all), m).is_err());
        assert!(
            resolve_targets(Some("t"), &all, None, None, m)
                .unwrap_err()
                .usage
        );
        assert_eq!(
            resolve_targets(None, &[], None, None, m).unwrap(),
            Targets::Host
        );
    }

    #[test]
    fn only_a_single_foreign_arch_names_the_output() {
        let host = arch::host().unwrap();
        let other = arch::from_name(if host.goarch == "amd64" {
            "arm64"
        } else {
            "amd64"
        })
        .unwrap();
        assert_eq!(
            Targets::Platforms(vec![other]).name_suffix(),
            Some(other.goarch)
        );
        assert_eq!(Targets::Platforms(vec![host]).name_suffix(), None);
        assert_eq!(
            Targets::Triple(other.musl_triple()).name_suffix(),
            Some(other.goarch)
        );
        assert_eq!(Targets::Host.name_suffix(), None);
        let both = parse_platforms(&["all".into()], Given::Cli).unwrap();
        assert_eq!(Targets::Platforms(both).name_suffix(), None);
    }
}
