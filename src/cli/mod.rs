//! Command-line interface of the binary: clap definitions, and their mapping to
//! the library's plain request types.
//!
//! In: the process arguments. Out: [`SlimArgs`], then [`BuildRequest`] /
//! [`BudgetRequest`] / shell settings for the library. Parsed values are raw (like
//! ripgrep's `lowargs`); `config` resolves them against `[package.metadata.slim]`
//! into a `Plan`, so no stage reads these structs — they are private to `main.rs`.
//! The top-level enum follows the cargo-subcommand pattern: cargo runs
//! `cargo-slim slim build …` for `cargo slim build …`, and both spellings parse.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use cargo_slim::config::BudgetRequest;
use cargo_slim::push::{PushOptions, RetryPolicy};
use cargo_slim::shell::ColorChoice;

mod build;
mod keygen;
mod resolve;
mod sign;
pub mod trust;
pub use build::BuildArgs;
pub use keygen::{password_from_env, KeygenArgs};
pub use resolve::ResolveArgs;
pub use sign::{as_remote, read_signer, RemoteArgs, SignArgs};
pub use trust::print_out;

#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap_cargo::style::CLAP_STYLING)]
pub enum CargoCli {
    /// Build Rust crates into minimal, static, FROM-scratch OCI images
    Slim(SlimArgs),
}

#[derive(Debug, Args)]
#[command(version, about, long_about = None)]
pub struct SlimArgs {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Print only errors and results (no status lines)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more detail (commands run, per-step timings)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Output format of results on stdout: `human`, or `json` (one JSON object per
    /// line with a `reason` field, like cargo's)
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human, value_name = "FMT")]
    pub message_format: MessageFormat,

    /// Coloring of status output
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
    pub color: Color,
}

/// `--color WHEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Color {
    #[default]
    Auto,
    Always,
    Never,
}

impl From<Color> for ColorChoice {
    fn from(c: Color) -> ColorChoice {
        match c {
            Color::Auto => ColorChoice::Auto,
            Color::Always => ColorChoice::Always,
            Color::Never => ColorChoice::Never,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile a binary crate into a static, stripped binary inside a FROM-scratch image tarball
    Build(Box<BuildArgs>),
    /// Recompute the size report of an image tarball written by cargo slim
    Report(ReportArgs),
    /// Check that ELF files or image tarballs will run in a FROM-scratch image
    Verify(VerifyArgs),
    /// Push an image tarball to an OCI registry; prints REPOSITORY@sha256:DIGEST
    Push(PushArgs),
    /// Merge image tarballs of one image for different platforms into one multi-platform tarball
    Index(IndexArgs),
    /// Add a commented [package.metadata.slim] section to Cargo.toml and write a CI workflow
    Init(InitArgs),
    /// Load an image tarball into the local container engine (podman, else docker); prints the image's reference
    Load(LoadArgs),
    /// Build the image, load it into the local container engine and run it; exits with the container's exit code
    Run(Box<RunArgs>),
    /// Build and push every image `slim://` references in Kubernetes YAML; print the YAML pinned to their digests
    Resolve(Box<ResolveArgs>),
    /// Write a signing key pair as cosign does: cosign.key (encrypted with $COSIGN_PASSWORD) and cosign.pub
    Keygen(KeygenArgs),
    /// Sign the images of a tarball with a cosign key; the signatures go inside it and `push` sends them
    Sign(SignArgs),
}

/// `cargo slim run [BUILD FLAGS] [--publish P]... [-- ARGS]`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub build: BuildArgs,

    /// Publish a container port on the host, HOST:CONTAINER as the engine's --publish
    /// takes it (repeatable; `-p` stays cargo's --package)
    #[arg(long, value_name = "PORTS")]
    pub publish: Vec<String>,

    /// The program's arguments in the container (after its entrypoint)
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// `cargo slim load TARBALL`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Image tarball written by `cargo slim build` (or any OCI or docker archive)
    #[arg(value_name = "TARBALL")]
    pub tarball: PathBuf,

    /// The engine to load into [default: podman if it is on PATH, else docker]
    #[arg(long, value_enum, value_name = "ENGINE")]
    pub engine: Option<EngineName>,
}

/// `--engine`: a container engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineName {
    Podman,
    Docker,
}

impl From<EngineName> for cargo_slim::engine::Kind {
    fn from(e: EngineName) -> Self {
        match e {
            EngineName::Podman => cargo_slim::engine::Kind::Podman,
            EngineName::Docker => cargo_slim::engine::Kind::Docker,
        }
    }
}

/// `cargo slim init`.
#[derive(Debug, Clone, Default, Args)]
#[command(after_long_help = "\
Adds [package.metadata.slim] (with a size budget, every other key commented) to the
package's Cargo.toml, keeping its formatting and comments, and writes a CI workflow that
builds the image within that budget, shows the size report and pushes on the main branch:
.github/workflows/slim.yml, or .gitlab-ci.yml with --ci gitlab. At a virtual workspace root
without -p it writes [workspace.metadata.slim] and a workflow for every member with a binary.
Nothing that exists is replaced without --force; when anything is refused, nothing is written.

Exit codes: 0 ok, 1 error (a file or table already exists), 2 usage error.")]
pub struct InitArgs {
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,

    /// Package to set up (in a workspace)
    #[arg(short, long, value_name = "SPEC")]
    pub package: Option<String>,

    /// Which CI system to write a workflow for
    #[arg(long, value_enum, default_value_t = CiSystem::Github, value_name = "SYSTEM")]
    pub ci: CiSystem,

    /// Replace an existing workflow file and [package.metadata.slim] table
    #[arg(long)]
    pub force: bool,
}

/// `--ci SYSTEM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CiSystem {
    /// GitHub Actions: .github/workflows/slim.yml
    #[default]
    Github,
    /// GitLab CI: .gitlab-ci.yml
    Gitlab,
}

impl InitArgs {
    pub fn to_request(&self) -> cargo_slim::commands::init::InitRequest {
        cargo_slim::commands::init::InitRequest {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
            ci: match self.ci {
                CiSystem::Github => cargo_slim::commands::init::Ci::Github,
                CiSystem::Gitlab => cargo_slim::commands::init::Ci::Gitlab,
            },
            force: self.force,
        }
    }
}

/// Size report and budget flags, shared by `build` and `report`.
#[derive(Debug, Clone, Default, Args)]
pub struct BudgetArgs {
    /// Fail (exit 3) when the image pull size exceeds SIZE, e.g. "2 MiB" (`budget.image`)
    #[arg(long, value_name = "SIZE", value_parser = cargo_slim::units::parse_size)]
    pub max_image_size: Option<u64>,

    /// Fail (exit 3) when the binary in the image exceeds SIZE (`budget.binary`)
    #[arg(long, value_name = "SIZE", value_parser = cargo_slim::units::parse_size)]
    pub max_binary_size: Option<u64>,

    /// An earlier report (JSON) to compare with: shows the change per stage and crate
    #[arg(long, value_name = "REPORT.json")]
    pub baseline: Option<PathBuf>,

    /// Fail (exit 3) when the pull size grew more than PCT percent over --baseline (`budget.increase`)
    #[arg(long, value_name = "PCT", value_parser = cargo_slim::units::parse_percent)]
    pub max_increase: Option<f64>,

    /// Write an SVG bar chart of the stages and the top crates
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
}

/// clap value parser for `--arch`: the GOARCH name, or a list of what is accepted.
fn parse_arch(name: &str) -> Result<String, String> {
    cargo_slim::arch::from_name(name)
        .map(|a| a.goarch.to_string())
        .ok_or_else(|| {
            format!(
                "unknown architecture `{name}`; use a GOARCH name ({}) or a Rust one (x86_64, aarch64)",
                cargo_slim::arch::known_names().join(", ")
            )
        })
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// An image tarball written by `cargo slim build`
    #[arg(value_name = "TARBALL")]
    pub tarball: PathBuf,

    #[command(flatten)]
    pub budget: BudgetArgs,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// ELF executables or image tarballs (OCI archive or docker-archive with one image),
    /// or images in a registry (registry/repo:tag, registry/repo@sha256:…: their
    /// signatures and provenance are checked there)
    #[arg(required = true, value_name = "PATH|REF")]
    pub paths: Vec<PathBuf>,

    /// Architecture every ELF file must be built for: a GOARCH name (amd64, arm64, ...) or a
    /// Rust one (x86_64, aarch64); picks the image of a multi-platform archive
    #[arg(long, value_name = "ARCH", value_parser = parse_arch)]
    pub arch: Option<String>,

    /// Also require each image of a tarball to carry a signature (`cargo slim sign`)
    /// that verifies with this public key (PEM, e.g. cosign.pub) over its own digest
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,

    /// Also require each image of a tarball to carry SLSA provenance about its own
    /// digest (with --key: signed by that key); prints who built it, from what, when
    #[arg(long)]
    pub require_provenance: bool,

    #[command(flatten)]
    pub registry: RemoteArgs,
}

/// `cargo slim push TARBALL REF`.
#[derive(Debug, Clone, Default, Args)]
pub struct PushArgs {
    /// Image tarball written by `cargo slim build`
    #[arg(value_name = "TARBALL")]
    pub tarball: PathBuf,

    /// Where to push, e.g. ghcr.io/acme/app:1.2.0 (a missing tag means `latest`)
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Also tag the pushed manifest as T (repeatable)
    #[arg(long = "tag", value_name = "T")]
    pub tags: Vec<String>,

    /// After the push, sign with this key every image document there that is not
    /// signed by it yet: a multi-platform index (a tarball cannot carry its
    /// signature), and images the tarball brought unsigned
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How `push` and `resolve` reach the registry.
#[derive(Debug, Clone, Default, Args)]
pub struct RegistryArgs {
    /// Allow plain HTTP and unverified TLS (always allowed for localhost, 127.0.0.1, [::1])
    #[arg(long)]
    pub insecure: bool,

    /// PEM file of CA certificates to trust for the registry (SSL_CERT_FILE and SSL_CERT_DIR are honoured too)
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,

    /// Give up on a registry step (a request with its retries, its answer's body
    /// included; a credential helper) not done within SECONDS; an upload fails when
    /// no bytes move for SECONDS (default 60)
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,

    /// Also write REPOSITORY@sha256:DIGEST to FILE
    #[arg(long, value_name = "FILE")]
    pub image_refs: Option<PathBuf>,
}

/// `cargo slim index TARBALL... -o OUT`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = "\
Every input is validated first. They must be images of one reference (name and tag), each
platform in one input only, built with the same SOURCE_DATE_EPOCH. The output is the same
bytes, in whatever order the inputs come, as a multi-platform build of the same images.

Exit codes: 0 ok, 1 error (an invalid or mismatched input), 2 usage error.")]
pub struct IndexArgs {
    /// Image tarballs written by `cargo slim build` (or `cargo slim index`), one per platform
    #[arg(required = true, value_name = "TARBALL")]
    pub inputs: Vec<PathBuf>,

    /// Where to write the multi-platform tarball
    #[arg(short, long, required = true, value_name = "PATH")]
    pub output: PathBuf,

    /// Overwrite the output even if it exists and is not an image tarball
    #[arg(long)]
    pub force: bool,
}

impl BudgetArgs {
    pub fn to_request(&self) -> BudgetRequest {
        BudgetRequest {
            max_image_size: self.max_image_size,
            max_binary_size: self.max_binary_size,
            baseline: self.baseline.clone(),
            max_increase: self.max_increase,
            chart: self.chart.clone(),
        }
    }
}

impl PushArgs {
    /// The push asked for, as it goes to `push::push` (with the tarball apart).
    pub fn to_options(&self) -> PushOptions {
        PushOptions {
            reference: self.reference.clone(),
            extra_tags: self.tags.clone(),
            insecure: self.registry.insecure,
            ca_file: self.registry.ca_file.clone(),
            retry: RetryPolicy::with_timeout(
                self.registry.timeout.map(std::time::Duration::from_secs),
            ),
            image_refs: self.registry.image_refs.clone(),
            ..PushOptions::default()
        }
    }
}

/// Parse the process arguments. `cargo-slim build` (without `slim`) is accepted
/// too, so the binary also works when run directly.
pub fn parse() -> SlimArgs {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a != "slim").unwrap_or(true) {
        args.insert(1, "slim".into());
    }
    args[0] = "cargo".into();
    let CargoCli::Slim(slim) = CargoCli::parse_from(args);
    slim
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        CargoCli::command().debug_assert();
    }

    #[test]
    fn both_spellings_parse() {
        for argv in [
            vec!["cargo", "slim", "build", "--bin", "hello"],
            vec!["cargo-slim", "slim", "build", "--bin", "hello"],
        ] {
            let CargoCli::Slim(s) = CargoCli::try_parse_from(argv).unwrap();
            let Command::Build(b) = s.command else {
                panic!("not a build command")
            };
            assert_eq!(b.flags.cargo.bin.as_deref(), Some("hello"));
        }
    }

    #[test]
    fn sizes_are_validated_by_clap() {
        let CargoCli::Slim(s) =
            CargoCli::try_parse_from(["cargo", "slim", "build", "--max-image-size", "2 MiB"])
                .unwrap();
        let Command::Build(b) = s.command else {
            panic!("not a build command")
        };
        assert_eq!(b.flags.budget.max_image_size, Some(2 * 1024 * 1024));
        let e =
            CargoCli::try_parse_from(["cargo", "slim", "build", "--max-image-size", "2 parsecs"])
                .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("unknown unit"), "{e}");
    }

    #[test]
    fn push_parses_repeated_tags() {
        let CargoCli::Slim(s) = CargoCli::try_parse_from([
            "cargo",
            "slim",
            "push",
            "app.tar",
            "r:5000/app:1",
            "--tag",
            "latest",
            "--tag",
            "1.0",
            "--insecure",
            "--ca-file",
            "ca.pem",
            "--image-refs",
            "refs.txt",
        ])
        .unwrap();
        let Command::Push(p) = s.command else {
            panic!("not a push command")
        };
        assert_eq!(p.tarball, PathBuf::from("app.tar"));
        assert_eq!(p.reference, "r:5000/app:1");
        assert_eq!(p.tags, ["latest", "1.0"]);
        assert!(p.registry.insecure);
        assert_eq!(p.registry.ca_file, Some(PathBuf::from("ca.pem")));
        assert_eq!(p.registry.image_refs, Some(PathBuf::from("refs.txt")));
        assert!(CargoCli::try_parse_from(["cargo", "slim", "push", "app.tar"]).is_err());
    }

    #[test]
    fn binary_conflicts_with_cargo_flags() {
        let r =
            CargoCli::try_parse_from(["cargo", "slim", "build", "--binary", "x", "--target", "t"]);
        assert!(r.is_err());
    }
}
