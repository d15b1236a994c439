//! cargo-slim: a Rust binary crate → the smallest correct container image.
//!
//! The library is the pipeline; `main.rs` only parses arguments and renders errors.
//! Each stage is one module with one job and hands a typed value to the next:
//!
//! config → compile → inspect → strip → image → write → report
//!
//! [`build`] below reads as that list.

pub mod budget;
pub mod cli;
pub mod compile;
pub mod config;
pub mod error;
pub mod image;
pub mod inspect;
pub mod reference;
pub mod report;
pub mod shell;
pub mod strip;
pub mod validate;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;

use config::{Plan, Source};
use error::{io_failure, Failure};
use image::{Image, LayerFile, Platform};
use inspect::{Inspection, LinkKind};
use report::Sizes;
use shell::Shell;

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub path: PathBuf,
    pub image: Image,
    pub inspection: Inspection,
    pub sizes: Sizes,
    pub target: Option<String>,
}

/// `cargo slim build`: the whole pipeline.
pub fn build(plan: &Plan, shell: &Shell) -> Result<BuildOutcome> {
    let started = Instant::now();

    // compile
    let (binary_path, target) = match &plan.source {
        Source::Cargo(b) => {
            let choice = compile::choose_target(b, shell)?;
            let artifact = compile::build(b, &choice, shell)?;
            (artifact.path, Some(choice.triple))
        }
        Source::Binary(p) => (p.clone(), None),
    };
    let bytes = read_binary(&binary_path)?;

    // inspect (before anything rewrites the file)
    shell.status("Verifying", binary_path.display());
    let inspection = inspect_binary(&bytes, &binary_path)?;
    require_static(&inspection, &binary_path)?;
    if let Some(t) = &target {
        check_arch(&inspection, t, &binary_path)?;
    }
    for w in &inspection.warnings {
        shell.warn(format!("{}: {w}", binary_path.display()));
    }
    let platform = Platform {
        os: "linux".into(),
        architecture: inspection.arch.to_string(),
        variant: inspection.variant.map(str::to_string),
    };

    // strip
    shell.status("Stripping", binary_path.display());
    let unstripped_size = bytes.len() as u64;
    let stripped = match strip::strip(&bytes)? {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(v) => Some(v),
    };
    let binary = match stripped {
        Some(v) => {
            drop(bytes);
            v
        }
        None => bytes,
    };

    // image
    shell.status("Packing", format!("{} ({platform})", plan.image.reference));
    let layer = image::build_layer(
        &[LayerFile {
            path: plan.image.path.clone(),
            mode: 0o555,
            data: &binary,
        }],
        plan.epoch,
    )?;
    let image = image::build_image(&plan.image, &platform, vec![layer], plan.epoch)?;

    // write
    shell.status("Writing", plan.output.display());
    let tarball = image::tarball::write(&image, &plan.output, plan.epoch)?;

    // report
    let sizes = Sizes {
        binary_unstripped: unstripped_size,
        binary_stripped: binary.len() as u64,
        layer_compressed: image.layers.iter().map(|l| l.blob.size()).sum(),
        layer_uncompressed: image.layers.iter().map(|l| l.uncompressed_size).sum(),
        image_pull: image.pull_size(),
        tarball,
    };
    shell.print_err(&report::table(&sizes));
    shell.status(
        "Finished",
        format!(
            "{} ({}, {}) {} in {:.2}s",
            image.reference,
            platform,
            inspection.kind.as_str(),
            image.manifest.digest,
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(BuildOutcome {
        path: plan.output.clone(),
        image,
        inspection,
        sizes,
        target,
    })
}

fn read_binary(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| io_failure("read", path, &e))?;
    if meta.is_dir() {
        return Err(Failure::new(format!(
            "`{}` is a directory, not an executable",
            path.display()
        ))
        .help("pass the path of the binary file")
        .into());
    }
    Ok(std::fs::read(path).map_err(|e| io_failure("read", path, &e))?)
}

fn inspect_binary(bytes: &[u8], path: &Path) -> Result<Inspection> {
    inspect::inspect(bytes).map_err(|e| {
        Failure::new(format!(
            "`{}` is not an executable cargo slim can pack",
            path.display()
        ))
        .detail(e.to_string())
        .help("cargo slim packs 64-bit little-endian Linux ELF executables")
        .into()
    })
}

/// Refuse a dynamic binary, naming its interpreter and libraries.
pub fn require_static(insp: &Inspection, path: &Path) -> Result<(), Failure> {
    if insp.kind != LinkKind::Dynamic {
        return Ok(());
    }
    let mut f = Failure::new(format!("`{}` is not static", path.display()));
    if let Some(i) = &insp.interpreter {
        f = f.detail(format!("interpreter: {i}"));
    }
    if !insp.needed.is_empty() {
        f = f.detail(format!("needs: {}", insp.needed.join(", ")));
    }
    Err(f.help(
        "a FROM-scratch image has no shared libraries: build for a `-musl` target, or add \
         `-C target-feature=+crt-static` for `-gnu`; for C dependencies use their `vendored`/static \
         features (e.g. openssl's `vendored`) or switch to rustls",
    ))
}

/// The ELF machine must match the target cargo was asked for.
fn check_arch(insp: &Inspection, triple: &str, path: &Path) -> Result<(), Failure> {
    let want = match triple.split('-').next().unwrap_or("") {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "i686" | "i586" => "386",
        "riscv64gc" | "riscv64" => "riscv64",
        "powerpc64le" => "ppc64le",
        "s390x" => "s390x",
        "loongarch64" => "loong64",
        a if a.starts_with("arm") || a.starts_with("thumbv7") => "arm",
        _ => return Ok(()),
    };
    if insp.arch != want {
        return Err(Failure::new(format!(
            "`{}` is a {} binary, but the target `{triple}` is {want}",
            path.display(),
            insp.arch
        )));
    }
    Ok(())
}
