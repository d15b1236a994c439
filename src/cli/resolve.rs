//! `cargo slim resolve`'s flags: the YAML inputs, where the images go, and the
//! build flags that apply to every image; their mapping to the library's
//! [`ResolveRequest`].
//!
//! In: the parsed arguments of `resolve`. Out: a [`ResolveRequest`] whose
//! build request pushes each image to `--repository` (or
//! `$CARGO_SLIM_REPOSITORY`). Why apart: `resolve` shares `build`'s flag groups
//! but chooses its images from the YAML, so the flags that choose images
//! (`-p`, `--workspace`, `--bins`, `--bin`, `-o`) are refused here.

use std::path::PathBuf;

use clap::Args;

use super::build::BuildFlags;
use super::RegistryArgs;
use cargo_slim::commands::resolve::ResolveRequest;
use cargo_slim::config::PushRequest;
use cargo_slim::error::Failure;

const RESOLVE_AFTER_HELP: &str = "\
Image references: any YAML string value `slim://PACKAGE` (the package's binary:
its `bin` key, or its only one) or `slim://PACKAGE/BIN`, PACKAGE a member of the
workspace of the current folder (or --manifest-path). Each distinct image is built
once, all in one run, pushed to REPOSITORY/<binary name>, and its references become
REPOSITORY/<binary name>@sha256:DIGEST (the image index's digest for several
platforms). Every other byte of the YAML is printed as written.

  cargo slim resolve -f k8s/ --repository ghcr.io/acme | kubectl apply -f -

Exit codes: 0 ok, 1 error (nothing is printed on stdout), 2 usage error.";

/// `cargo slim resolve -f PATH... [BUILD FLAGS]`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = RESOLVE_AFTER_HELP)]
pub struct ResolveArgs {
    /// A YAML file, a folder of them (.yaml, .yml), or `-` for stdin (repeatable)
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,

    /// Read the folders' subfolders too
    #[arg(short = 'R', long)]
    pub recursive: bool,

    /// Push each image to REPOSITORY/<binary name> (over `repository` in
    /// [package.metadata.slim]) [env: CARGO_SLIM_REPOSITORY]
    #[arg(long, value_name = "REPOSITORY")]
    pub repository: Option<String>,

    #[command(flatten)]
    pub registry: RegistryArgs,

    #[command(flatten)]
    pub build: BuildFlags,
}

impl ResolveArgs {
    /// The request, or a usage error for a flag that chooses images.
    pub fn to_request(&self) -> Result<ResolveRequest, Failure> {
        let c = &self.build.cargo;
        let choosing = [
            (!c.package.is_empty(), "-p"),
            (c.workspace, "--workspace"),
            (!c.exclude.is_empty(), "--exclude"),
            (c.bins, "--bins"),
            (c.bin.is_some(), "--bin"),
            (self.build.image.output.is_some(), "-o"),
        ];
        if let Some((_, flag)) = choosing.iter().find(|(given, _)| *given) {
            return Err(Failure::new(format!(
                "`{flag}` chooses images; resolve builds the images the YAML references"
            ))
            .help("write `slim://PACKAGE` or `slim://PACKAGE/BIN` in the YAML instead")
            .usage());
        }
        let repository = self.repository.clone().or_else(|| {
            std::env::var("CARGO_SLIM_REPOSITORY")
                .ok()
                .filter(|r| !r.is_empty())
        });
        let r = &self.registry;
        let push = PushRequest {
            reference: Some(String::new()),
            insecure: r.insecure,
            ca_file: r.ca_file.clone(),
            timeout: r.timeout.map(std::time::Duration::from_secs),
            image_refs: r.image_refs.clone(),
            repository,
        };
        Ok(ResolveRequest {
            inputs: self.files.clone(),
            recursive: self.recursive,
            build: self.build.to_request(None, push),
            sign: self.build.sign_key(),
            read_key: Some(super::read_signer),
        })
    }
}
