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

use cargo_slim::compile::{Features, Lock};
use cargo_slim::config::{
    BudgetRequest, BuildRequest, CargoRequest, ImageRequest, PushRequest, SizeRequest, UpxRequest,
};
use cargo_slim::push::{PushOptions, RetryPolicy};
use cargo_slim::shell::ColorChoice;

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
    /// ELF executables or image tarballs (OCI archive or docker-archive with one image)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Architecture every ELF file must be built for: a GOARCH name (amd64, arm64, ...) or a
    /// Rust one (x86_64, aarch64); picks the image of a multi-platform archive
    #[arg(long, value_name = "ARCH", value_parser = parse_arch)]
    pub arch: Option<String>,
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

/// What `build --help` adds below the flags: what only Cargo.toml can set, the
/// environment, and the exit codes.
const BUILD_AFTER_HELP: &str = "\
Settings only [package.metadata.slim] can give (see the README for every key):
  path = \"/app\"            where the binary goes in the image (default /<bin-name>)
  user = \"65532:65532\"     image User: numeric UID[:GID]
  cmd = [\"--port\", \"80\"]   default arguments (Cmd)
  env = { K = \"v\" }        Env;  labels = { ... }  Labels;  workdir = \"/srv\"
  expose = [\"8080\", \"53/udp\"]   ExposedPorts
  ca-certificates = true, zoneinfo = true   built-in CA roots / time zones (or a path)
  budget = { image = \"2 MiB\", binary = \"1 MiB\", increase = \"5%\" }
  repository = \"ghcr.io/acme/app\", tags = [\"{version}\"]   for --push without REF
  [workspace.metadata.slim] gives every member's defaults.

Environment:
  SOURCE_DATE_EPOCH    every timestamp in the image (default 0): same input, same digest
  CARGO_TARGET_DIR     cargo's target dir; the default output goes under it
  CARGO_SLIM_REGISTRY_USERNAME, CARGO_SLIM_REGISTRY_PASSWORD
                       registry credentials for --push (else REGISTRY_AUTH_FILE,
                       then $DOCKER_CONFIG/config.json or ~/.docker/config.json)
  GITHUB_STEP_SUMMARY  a markdown size report is appended to it when set

Exit codes: 0 ok, 1 error, 2 usage error (checked before any work),
3 size budget exceeded (the tarball is still written).";

#[derive(Debug, Clone, Default, Args)]
#[command(after_long_help = BUILD_AFTER_HELP)]
pub struct BuildArgs {
    #[command(flatten)]
    pub cargo: CargoArgs,

    /// Pack an already-built ELF executable instead of running cargo
    #[arg(long, value_name = "PATH", conflicts_with_all = ["bin", "profile", "target", "platform", "features", "all_features", "no_default_features", "jobs", "timings"])]
    pub binary: Option<PathBuf>,

    #[command(flatten)]
    pub image: ImageArgs,

    #[command(flatten)]
    pub upx: UpxArgs,

    #[command(flatten)]
    pub push: BuildPushArgs,

    /// Show the standard library's crates (core, alloc, ...) separately in the report
    #[arg(long)]
    pub split_std: bool,

    #[command(flatten)]
    pub pack: PackArgs,

    #[command(flatten)]
    pub size: SizeArgs,

    /// Recompute everything instead of reusing the rebuild cache in
    /// `<target-dir>/slim-cache/` (compressed layers, per-crate sizes, toolchain and
    /// `cargo metadata` answers); the environment variable `CARGO_SLIM_NO_CACHE=1`
    /// does the same
    #[arg(long)]
    pub no_cache: bool,

    #[command(flatten)]
    pub budget: BudgetArgs,
}

/// What `build` passes on to cargo, or what decides what cargo builds.
#[derive(Debug, Clone, Default, Args)]
pub struct CargoArgs {
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,

    /// Package to build (in a workspace)
    #[arg(short, long, value_name = "SPEC")]
    pub package: Option<String>,

    /// Binary target to build (`bin` in [package.metadata.slim])
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,

    #[command(flatten)]
    pub features: clap_cargo::Features,

    /// Cargo profile to build with (`profile`; default: release)
    #[arg(long, value_name = "PROFILE-NAME")]
    pub profile: Option<String>,

    /// Target triple (`target`; default: <host-arch>-unknown-linux-musl)
    #[arg(long, value_name = "TRIPLE", conflicts_with = "platform")]
    pub target: Option<String>,

    /// Platforms to build, comma-separated: linux/amd64, linux/arm64, or `all` for
    /// both (`platforms`; default: the host's). Two or more give one tarball holding
    /// an OCI image index
    #[arg(long, value_name = "OS/ARCH,...", value_delimiter = ',')]
    pub platform: Vec<String>,

    #[command(flatten)]
    pub lock: LockArgs,

    /// Override a cargo configuration value, KEY=VALUE or a config file (passed to cargo; repeatable)
    #[arg(long = "config", value_name = "KEY=VALUE|PATH")]
    pub cargo_config: Vec<String>,

    /// Unstable (nightly-only) flag for cargo, e.g. `-Z build-std` (passed to cargo; repeatable)
    #[arg(short = 'Z', value_name = "FLAG")]
    pub unstable: Vec<String>,

    /// Directory for all generated artifacts (passed to cargo; default output goes under it)
    #[arg(long, value_name = "DIRECTORY")]
    pub target_dir: Option<PathBuf>,

    /// Number of parallel jobs (passed to cargo)
    #[arg(short, long, value_name = "N", allow_negative_numbers = true)]
    pub jobs: Option<String>,

    /// Write cargo's build timing report (passed to cargo)
    #[arg(long)]
    pub timings: bool,

    /// Do not run `rustup target add` when the target's std is missing
    #[arg(long)]
    pub no_install_target: bool,
}

/// `--locked`, `--offline`, `--frozen`, passed to cargo.
#[derive(Debug, Clone, Default, Args)]
pub struct LockArgs {
    /// Require Cargo.lock to be up to date (passed to cargo)
    #[arg(long)]
    pub locked: bool,

    /// Run without accessing the network (passed to cargo)
    #[arg(long)]
    pub offline: bool,

    /// Require Cargo.lock and cache to be up to date (passed to cargo)
    #[arg(long)]
    pub frozen: bool,
}

/// The image's name and settings, and where it is written.
#[derive(Debug, Clone, Default, Args)]
pub struct ImageArgs {
    /// Image reference to name the image (`tag`; default: <bin-name>:<version>)
    #[arg(long, value_name = "REF")]
    pub tag: Option<String>,

    /// The image's stop signal, e.g. SIGQUIT (`stop-signal`)
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,

    /// Where to write the image tarball (default: <target-dir>/slim/<bin-name>-<version>.tar)
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Replace an existing --output file even if it is not an image tarball
    #[arg(long)]
    pub force: bool,
}

/// UPX packing of the binary.
#[derive(Debug, Clone, Default, Args)]
pub struct UpxArgs {
    /// Pack the binary with UPX (`upx = true`, or a `upx` table)
    #[arg(long)]
    pub upx: bool,

    /// The `upx` executable to use (`upx-path`; default: `upx` on $PATH)
    #[arg(long, value_name = "PATH")]
    pub upx_path: Option<PathBuf>,

    /// If the packed binary fails its smoke run, ship the unpacked one with a warning
    #[arg(long)]
    pub upx_fallback: bool,
}

/// `build --push [REF]` and the flags that go with it.
#[derive(Debug, Clone, Default, Args)]
pub struct BuildPushArgs {
    /// After a successful build (within budget), push the image to REF; without REF,
    /// to `repository` with each of `tags` from [package.metadata.slim]
    #[arg(long, value_name = "REF", num_args = 0..=1, default_missing_value = "")]
    pub push: Option<String>,

    /// With --push: allow plain HTTP and unverified TLS for a non-loopback registry
    #[arg(long, requires = "push")]
    pub insecure: bool,

    /// With --push: PEM file of CA certificates to trust for the registry
    #[arg(long, value_name = "PATH", requires = "push")]
    pub ca_file: Option<PathBuf>,

    /// With --push: give up on a registry step not done within SECONDS (see `push --timeout`; default 60)
    #[arg(long, value_name = "SECONDS", requires = "push", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,

    /// With --push: also write REPOSITORY@sha256:DIGEST to FILE
    #[arg(long, value_name = "FILE", requires = "push")]
    pub image_refs: Option<PathBuf>,
}

/// What the tarball holds besides the image: SBOMs, and how layers are compressed.
#[derive(Debug, Clone, Default, Args)]
pub struct PackArgs {
    /// SBOM documents to write beside the tarball and attach to the image: `spdx`,
    /// `cyclonedx`, both, or `none` (default `spdx`); overrides `sbom` of [package.metadata.slim]
    #[arg(long, value_name = "FORMATS", value_delimiter = ',')]
    pub sbom: Vec<String>,

    /// Layer compression: `gzip` (default; every runtime), `gzip:max` (libdeflate
    /// level 12, ~3% smaller, slower) or `zstd[:LEVEL]` (default 19; ~20% smaller;
    /// containerd >= 1.5, Docker >= 23, podman >= 4.3) (`compression`)
    #[arg(long, value_name = "gzip|gzip:max|zstd[:LEVEL]")]
    pub compression: Option<String>,
}

/// How small the binary is built.
#[derive(Debug, Clone, Default, Args)]
pub struct SizeArgs {
    /// Size preset: `size` = opt-level "z", fat LTO, one codegen unit, panic =
    /// "abort" (no unwinding); `min` = size + build-std on nightly (needs
    /// `rustup toolchain install nightly -c rust-src`), no panic messages, no
    /// locations, no `{:?}` output; keys your [profile.*] sets win (`opt`)
    #[arg(long, value_name = "size|min")]
    pub opt: Option<String>,

    /// A static non-PIE binary (-C relocation-model=static): smaller, no
    /// `.rela.dyn`, but no ASLR (`static-pie = false`)
    #[arg(long)]
    pub no_static_pie: bool,

    /// malloc in the binary: `mimalloc` linked in place of musl's (fast under
    /// threads), `musl` (smallest), or `auto`: mimalloc for a multi-threaded
    /// program without an allocator of its own (`allocator`; default auto)
    #[arg(long, value_name = "auto|musl|mimalloc")]
    pub allocator: Option<String>,

    /// With `static-pie = false`: skip the second, static-pie build (in
    /// `<target-dir>/slim-pie/`, once per binary) that measures what the non-PIE
    /// build saved for the report
    #[arg(long)]
    pub no_pie_baseline: bool,
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
            insecure: self.insecure,
            ca_file: self.ca_file.clone(),
            retry: RetryPolicy::with_timeout(self.timeout.map(std::time::Duration::from_secs)),
            image_refs: self.image_refs.clone(),
            ..PushOptions::default()
        }
    }
}

impl BuildArgs {
    pub fn to_request(&self) -> BuildRequest {
        BuildRequest {
            cargo: self.cargo.to_request(),
            binary: self.binary.clone(),
            image: ImageRequest {
                tag: self.image.tag.clone(),
                stop_signal: self.image.stop_signal.clone(),
                output: self.image.output.clone(),
                force: self.image.force,
                sbom: self.pack.sbom.clone(),
                compression: self.pack.compression.clone(),
            },
            upx: UpxRequest {
                upx: self.upx.upx,
                path: self.upx.upx_path.clone(),
                fallback: self.upx.upx_fallback,
            },
            push: PushRequest {
                reference: self.push.push.clone(),
                insecure: self.push.insecure,
                ca_file: self.push.ca_file.clone(),
                image_refs: self.push.image_refs.clone(),
                timeout: self.push.timeout.map(std::time::Duration::from_secs),
            },
            split_std: self.split_std,
            size: SizeRequest {
                opt: self.size.opt.clone(),
                no_static_pie: self.size.no_static_pie,
                allocator: self.size.allocator.clone(),
                no_pie_baseline: self.size.no_pie_baseline,
            },
            no_cache: self.no_cache,
            budget: self.budget.to_request(),
        }
    }
}

impl CargoArgs {
    fn to_request(&self) -> CargoRequest {
        CargoRequest {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
            bin: self.bin.clone(),
            features: Features {
                list: self.features.features.clone(),
                all: self.features.all_features,
                no_default: self.features.no_default_features,
            },
            profile: self.profile.clone(),
            target: self.target.clone(),
            platforms: self.platform.clone(),
            lock: Lock {
                locked: self.lock.locked,
                offline: self.lock.offline,
                frozen: self.lock.frozen,
            },
            cargo_config: self.cargo_config.clone(),
            unstable: self.unstable.clone(),
            target_dir: self.target_dir.clone(),
            jobs: self.jobs.clone(),
            timings: self.timings,
            no_install_target: self.no_install_target,
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
            assert_eq!(b.cargo.bin.as_deref(), Some("hello"));
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
        assert_eq!(b.budget.max_image_size, Some(2 * 1024 * 1024));
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
        assert!(p.insecure);
        assert_eq!(p.ca_file, Some(PathBuf::from("ca.pem")));
        assert_eq!(p.image_refs, Some(PathBuf::from("refs.txt")));
        assert!(CargoCli::try_parse_from(["cargo", "slim", "push", "app.tar"]).is_err());
    }

    #[test]
    fn binary_conflicts_with_cargo_flags() {
        let r =
            CargoCli::try_parse_from(["cargo", "slim", "build", "--binary", "x", "--target", "t"]);
        assert!(r.is_err());
    }
}
