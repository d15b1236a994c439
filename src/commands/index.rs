//! `cargo slim index`: several image tarballs of one reference → one
//! multi-platform tarball.
//!
//! In: cargo-slim tarballs (single- or multi-platform), typically built on
//! different machines, one per platform, and the output path. Out: one tarball
//! written through [`ImageSet`] and [`tarball::prepare_set`] — the same writer a
//! multi-platform build uses — so merging the images gives exactly the bytes a
//! direct build of the same images writes, whatever the order of the inputs.
//! Why: cross-compiling every platform on one machine is not always possible
//! (C dependencies, native runners in CI); each runner builds its own platform
//! and a last step joins them.
//!
//! The SBOM artifacts of each input go with their images, so the merged index
//! lists them after the images as a multi-platform build does.
//!
//! Every input is validated strictly first ([`crate::validate::validate_set`]);
//! its manifests and configs are copied byte for byte (so every digest is kept)
//! and its layers are streamed from the input file into the output, never held
//! in memory. Refused, naming the files: an input that is not a valid image
//! tarball, two inputs with a platform in common, different references, and
//! different outer-tar mtimes (`SOURCE_DATE_EPOCH`: the output has one mtime,
//! and a layer's entries must carry it, so images built at different epochs
//! cannot share a tarball without rewriting their layers and changing their
//! digests). The output goes through `crate::io`: checked before any work
//! (`--force` to replace a file that is not an image tarball; one of the inputs,
//! through any link, is refused), locked against a concurrent run, written to a
//! temporary file and renamed into place, and a report or SBOM of an earlier
//! build beside it is removed in the same step.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::input::{read_input, Input};
use crate::error::Failure;
use crate::image::{same_platform, tarball, Artifact, ImageSet};
use crate::shell::Shell;

/// What `cargo slim index` wrote.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The output path as given.
    pub path: PathBuf,
    pub reference: String,
    /// The digest a user pulls: the image index's (or the manifest's, for one platform).
    pub digest: String,
    /// `linux/amd64`, … in the tarball's order.
    pub platforms: Vec<String>,
    /// Bytes written.
    pub size: u64,
}

/// Merge the images of `inputs` into one tarball at `output`.
pub fn merge(inputs: &[PathBuf], output: &Path, force: bool, shell: &Shell) -> Result<Merged> {
    if inputs.is_empty() {
        return Err(Failure::new("no input tarball to merge")
            .help("give the tarballs to merge, e.g. `cargo slim index amd64.tar arm64.tar -o all.tar`")
            .usage()
            .into());
    }
    let real_output = crate::io::check_output(output, force)?;
    refuse_input_as_output(inputs, output)?;
    let _lock = crate::io::lock_output(&real_output, shell)?;
    let mut images: Vec<Input> = Vec::new();
    for path in inputs {
        shell.status("Reading", path.display());
        images.extend(read_input(path)?);
    }
    check_inputs(&images)?;
    let epoch = images[0].mtime;
    let artifacts: Vec<Artifact> = images.iter().flat_map(|i| i.artifacts.clone()).collect();
    let set =
        ImageSet::new(images.into_iter().map(|i| i.image).collect())?.with_artifacts(artifacts)?;
    shell.status("Writing", output.display());
    let pending = tarball::prepare_set(&set, &real_output, epoch)?;
    let size = pending.size();
    // A report or SBOM an earlier build left beside the output describes
    // another tarball: it goes in the same step as the new tarball comes.
    let stale = crate::sbom::stale_sidecars(&real_output, &[], shell);
    crate::io::commit_replacing(vec![pending], &stale)?;
    let platforms: Vec<String> = set.images.iter().map(|i| i.platform.to_string()).collect();
    shell.status(
        "Finished",
        format!(
            "{} ({}) {}",
            set.reference,
            platforms.join(", "),
            set.digest()
        ),
    );
    Ok(Merged {
        path: output.to_path_buf(),
        reference: set.reference.clone(),
        digest: set.digest().to_string(),
        platforms,
        size,
    })
}

/// An output that is one of the inputs (the same file through any symlink or
/// hard link) would be replaced by the merge, its report and SBOM left stale: a
/// usage error, as `build -o` naming its `--binary` is.
fn refuse_input_as_output(inputs: &[PathBuf], output: &Path) -> Result<()> {
    match inputs.iter().find(|i| crate::io::same_file(i, output)) {
        Some(input) => Err(Failure::new(format!(
            "the output `{}` is the input `{}`",
            output.display(),
            input.display()
        ))
        .help("write the merged tarball elsewhere with -o, e.g. -o all.tar")
        .usage()
        .into()),
        None => Ok(()),
    }
}

/// The refusals that name files: references, platforms, mtimes.
fn check_inputs(images: &[Input]) -> Result<()> {
    let first = &images[0];
    let name = |i: &Input| format!("`{}` ({})", i.path.display(), i.image.platform);
    if let Some(other) = images
        .iter()
        .find(|i| i.image.reference != first.image.reference)
    {
        return Err(Failure::new("the tarballs are images of different references")
            .detail(format!("{}: {}", name(first), first.image.reference))
            .detail(format!("{}: {}", name(other), other.image.reference))
            .help("every platform of one image has the same name and tag: build them with the same `--tag`/`image.name`")
            .into());
    }
    for (k, a) in images.iter().enumerate() {
        if let Some(b) = images[k + 1..]
            .iter()
            .find(|b| same_platform(&a.image.platform, &b.image.platform))
        {
            return Err(Failure::new(format!(
                "two inputs hold an image for the same platform {}",
                a.image.platform
            ))
            .detail(name(a))
            .detail(name(b))
            .help("give one tarball per platform")
            .into());
        }
    }
    if let Some(other) = images.iter().find(|i| i.mtime != first.mtime) {
        return Err(Failure::new("the tarballs were built with different SOURCE_DATE_EPOCH values")
            .detail(format!("{}: mtime {}", name(first), first.mtime))
            .detail(format!("{}: mtime {}", name(other), other.mtime))
            .help("build every platform with the same SOURCE_DATE_EPOCH (e.g. the commit time: `git log -1 --format=%ct`)")
            .into());
    }
    Ok(())
}
