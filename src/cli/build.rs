//! `cargo slim build`'s flags, in groups by concern (cargo, image, UPX, push,
//! packing, size, budget), and their mapping to the library's [`BuildRequest`].
//!
//! In: the parsed arguments of `build`. Out: a [`BuildRequest`] that `config`
//! resolves against `[package.metadata.slim]`. Why apart: `build` has most of
//! the flags; each group here maps to one request group there.

use std::path::PathBuf;

use clap::Args;

use super::{BudgetArgs, EngineName};
use cargo_slim::compile::{Features, Lock};
use cargo_slim::config::{
    BuildRequest, CargoRequest, ImageRequest, PushRequest, SizeRequest, UpxRequest,
};

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
    pub flags: BuildFlags,

    /// Pack an already-built ELF executable instead of running cargo
    #[arg(long, value_name = "PATH", conflicts_with_all = ["bin", "profile", "target", "platform", "features", "all_features", "no_default_features", "jobs", "timings"])]
    pub binary: Option<PathBuf>,

    #[command(flatten)]
    pub push: BuildPushArgs,

    #[command(flatten)]
    pub load: BuildLoadArgs,
}

/// How every image of a build is made: `build`'s flags less where the input
/// comes from (`--binary`) and where the image goes (`--push`, `--load`);
/// `resolve` takes these too.
#[derive(Debug, Clone, Default, Args)]
pub struct BuildFlags {
    #[command(flatten)]
    pub cargo: CargoArgs,

    #[command(flatten)]
    pub image: ImageArgs,

    #[command(flatten)]
    pub upx: UpxArgs,

    /// Show the standard library's crates (core, alloc, ...) separately in the report
    #[arg(long)]
    pub split_std: bool,

    /// Sign each platform image with this private key (cosign.key; password from
    /// CARGO_SLIM_KEY_PASSWORD, else COSIGN_PASSWORD) and attach the signatures in the
    /// tarball, as `cargo slim sign` does (`sign`; also $CARGO_SLIM_SIGN_KEY)
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,

    /// SLSA v1 provenance attached to each image: `none`, `unsigned` (the in-toto
    /// statement) or `signed` (a DSSE envelope signed with the --sign key) [default:
    /// signed with a key, else unsigned] (`provenance`)
    #[arg(long, value_name = "none|unsigned|signed")]
    pub provenance: Option<String>,

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

    /// Package to build (in a workspace); repeat it for an image of each
    #[arg(short, long, value_name = "SPEC")]
    pub package: Vec<String>,

    /// An image of every member with a binary (less `skip = true` ones)
    #[arg(long)]
    pub workspace: bool,

    /// With --workspace: leave this package out (repeatable)
    #[arg(long, value_name = "SPEC")]
    pub exclude: Vec<String>,

    /// Binary target to build (`bin` in [package.metadata.slim])
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,

    /// An image of every binary target of the package(s)
    #[arg(long, conflicts_with = "bin")]
    pub bins: bool,

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

    /// With --push: also write REPOSITORY@sha256:DIGEST to FILE (a line per image)
    #[arg(long, value_name = "FILE", requires = "push")]
    pub image_refs: Option<PathBuf>,

    /// With --push and no REF: push each image to REPOSITORY/<binary name> with the
    /// `tags` of its [package.metadata.slim] (over `repository`; also from
    /// $CARGO_SLIM_REPOSITORY)
    #[arg(long, value_name = "REPOSITORY", requires = "push")]
    pub repository: Option<String>,
}

/// `build --load` and the engine it loads into.
#[derive(Debug, Clone, Default, Args)]
pub struct BuildLoadArgs {
    /// After a successful build (within budget, and after --push), load the image into
    /// the local container engine and print its reference
    #[arg(long)]
    pub load: bool,

    /// With --load (and for `run`): the engine, podman or docker [default: podman if it
    /// is on PATH, else docker]
    #[arg(long, value_enum, value_name = "ENGINE")]
    pub engine: Option<EngineName>,
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

impl BuildArgs {
    pub fn to_request(&self) -> BuildRequest {
        let push = &self.push;
        self.flags.to_request(
            self.binary.clone(),
            PushRequest {
                reference: push.push.clone(),
                insecure: push.insecure,
                ca_file: push.ca_file.clone(),
                image_refs: push.image_refs.clone(),
                // The variable only fills in a `--push` without REF.
                repository: push.repository.clone().or_else(|| {
                    std::env::var("CARGO_SLIM_REPOSITORY")
                        .ok()
                        .filter(|r| !r.is_empty() && push.push.as_deref() == Some(""))
                }),
                timeout: push.timeout.map(std::time::Duration::from_secs),
            },
        )
    }
}

impl BuildFlags {
    /// The key `--sign` names, else $CARGO_SLIM_SIGN_KEY (a CI secret's path).
    pub fn sign_key(&self) -> Option<PathBuf> {
        self.sign.clone().or_else(|| {
            std::env::var_os("CARGO_SLIM_SIGN_KEY")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    /// The request, with its input (`--binary`) and push settings.
    pub fn to_request(&self, binary: Option<PathBuf>, push: PushRequest) -> BuildRequest {
        BuildRequest {
            cargo: self.cargo.to_request(),
            binary,
            image: ImageRequest {
                tag: self.image.tag.clone(),
                stop_signal: self.image.stop_signal.clone(),
                output: self.image.output.clone(),
                force: self.image.force,
                sbom: self.pack.sbom.clone(),
                compression: self.pack.compression.clone(),
                provenance: self.provenance.clone(),
            },
            upx: UpxRequest {
                upx: self.upx.upx,
                path: self.upx.upx_path.clone(),
                fallback: self.upx.upx_fallback,
            },
            push,
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
            packages: self.package.clone(),
            workspace: self.workspace,
            exclude: self.exclude.clone(),
            bin: self.bin.clone(),
            all_bins: self.bins,
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
