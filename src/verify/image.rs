//! Image mode of `cargo slim verify`: judge a whole image archive.
//!
//! In: a seekable archive (see [`crate::oci`]). Out: a [`Report`] with a
//! verdict for every ELF file in every layer, plus the image-level checks a
//! FROM-scratch image needs: the config's platform matches the files and
//! `--arch`, the entrypoint exists as an executable file (or a script whose
//! interpreter exists), the user is not root, and a user given by name is
//! listed in the image's `/etc/passwd`. An OCI archive's `index.json` is listed
//! once: its platforms, the image to check and the SBOMs attached to it all
//! come from that [`Listing`]. Kept apart from `verify.rs` because this is the
//! part that knows about layers; the config's checks (entrypoint, user,
//! runtime fields) are in the sibling `config.rs`.

use std::io::{Read, Seek};

use super::config::{check_config, check_entrypoint, check_user, check_user_name, entrypoint_argv};
use super::{FileVerdict, ImageSummary, Input, Report};
use crate::arch;
use crate::elf::verdict::arch_help;
use crate::elf::{check, Expect};
use crate::error::Failure;
use crate::oci::runtime;
use crate::oci::{
    Archive, ArtifactEntry, EntryKind, Fs, ImageRef, LayerEntry, Listing, Node, NodeKind, Resolved,
    Strictness,
};

/// Bytes of `/etc/passwd` read to look a `User` name up (a real one is a few KiB).
const PASSWD_LIMIT: u64 = 1 << 20;

/// Verify an image archive read from `r` (without the panic guard: tests
/// and the fuzz target call this to prove it needs none).
pub fn verify_archive<R: Read + Seek>(name: &str, r: R, arch: Option<&str>) -> Report {
    let mut report = Report::new(name, Some(Input::Image));
    let want = match arch.map(|a| (a, arch::from_name(a).map(|r| r.goarch))) {
        Some((a, None)) => {
            report
                .errors
                .push(Failure::new(format!("unknown architecture `{a}`")));
            return report;
        }
        Some((_, Some(w))) => Some(w),
        None => None,
    };
    let prefix = |f: Failure| Failure {
        what: format!("`{name}`: {}", f.what),
        ..f
    };
    let mut ar = match Archive::open(r, Strictness::Lenient) {
        Ok(a) => a,
        Err(f) => {
            report.errors.push(prefix(f));
            return report;
        }
    };
    // `index.json` is listed once: the platforms, the image and its SBOMs all
    // come from this listing.
    let listing = match ar.has("index.json").then(|| ar.list()).transpose() {
        Ok(l) => l,
        Err(f) => {
            report.errors.push(prefix(f));
            return report;
        }
    };
    if let (None, Some(l)) = (want, &listing) {
        if let Some(platforms) = platforms(l) {
            return verify_each(name, &mut ar, l, &platforms, report);
        }
    }
    let img = match &listing {
        Some(l) => ar.image_in(l, want),
        None => ar.image(want),
    };
    let img = match img {
        Ok(i) => i,
        Err(f) => {
            report.errors.push(prefix(f));
            return report;
        }
    };
    let artifacts = listing.as_ref().map_or(&[][..], |l| &l.artifacts);
    check_image(name, &mut ar, &img, artifacts, want, report)
}

/// The platforms (display form, architecture) of a multi-platform OCI archive,
/// when there are several and their architectures tell them apart.
fn platforms(listing: &Listing) -> Option<Vec<(String, String)>> {
    let found: Vec<(String, String)> = listing
        .images
        .iter()
        .map(|i| {
            Some((
                i.platform(),
                i.descriptor.platform.as_ref()?.architecture.clone(),
            ))
        })
        .collect::<Option<_>>()?;
    let mut arches: Vec<&String> = found.iter().map(|(_, a)| a).collect();
    arches.sort();
    arches.dedup();
    (found.len() > 1 && arches.len() == found.len()).then_some(found)
}

/// Verify every platform's image: one sub-report each (in
/// [`Report::platforms`]); the whole report carries their errors, warnings and
/// notes, each starting with the platform, so a failure names it.
fn verify_each<R: Read + Seek>(
    name: &str,
    ar: &mut Archive<R>,
    listing: &Listing,
    platforms: &[(String, String)],
    mut report: Report,
) -> Report {
    for (platform, arch) in platforms {
        let sub = Report::new(name, Some(Input::Image));
        let sub = match ar.image_in(listing, Some(arch)) {
            Ok(img) => check_image(name, ar, &img, &listing.artifacts, None, sub),
            Err(f) => Report {
                errors: vec![f],
                ..sub
            },
        };
        let tag = |s: &str| format!("{platform}: {s}");
        report.warnings.extend(sub.warnings.iter().map(|w| tag(w)));
        report.notes.extend(sub.notes.iter().map(|n| tag(n)));
        report.errors.extend(sub.errors.iter().map(|f| Failure {
            what: tag(&f.what),
            ..f.clone()
        }));
        report.platforms.push((platform.clone(), sub));
    }
    report
}

/// Every check of one image of the archive; `artifacts` are the archive's
/// (from its listing), among them the image's SBOMs.
fn check_image<R: Read + Seek>(
    name: &str,
    ar: &mut Archive<R>,
    img: &ImageRef,
    artifacts: &[ArtifactEntry],
    want: Option<&str>,
    mut report: Report,
) -> Report {
    // Platform.
    let expect = check_platform(name, img, want, &mut report);

    // Layers: every ELF file, and the merged filesystem.
    let walked = walk_layers(name, ar, img, expect.as_ref(), &mut report);
    let Walked {
        fs,
        files,
        escapes,
        passwd,
    } = walked;
    report.errors.extend(escapes);
    check_config(img, &fs, name, &mut report);
    let passwd = passwd.filter(|_| matches!(fs.resolve("/etc/passwd"), Resolved::Found { .. }));
    check_user_name(img, passwd.as_deref(), name, &mut report);
    if img.layers.is_empty() {
        report.errors.push(Failure::new(format!(
            "`{name}` has no layers: the image is empty"
        )));
    }

    // Entrypoint and user.
    let (entry_path, entry) = check_entrypoint(&fs, img, &files, &mut report);
    check_user(img, &mut report);

    record_files(&files, &mut report);
    report.subject = entry.and_then(|t| files.get(t)).map(|f| f.verdict.clone());
    let sboms = super::supply::sboms_in(ar, artifacts, img);
    super::supply::record(&mut report, sboms, entry.and_then(|t| files.get(t)));
    report.image = Some(ImageSummary {
        format: img.format,
        reference: img.reference.clone(),
        os: img.os().map(str::to_string),
        architecture: img.architecture().map(str::to_string),
        variant: img.variant().map(str::to_string),
        entrypoint: entrypoint_argv(img).0,
        entrypoint_path: entry_path,
        user: img.run_str("User").map(str::to_string),
        layers: img.layers.len(),
    });
    report.files = files;
    report
}

/// The config's os and architecture against linux and `--arch`; returns the
/// architecture the ELF files must have, and why (for their messages).
fn check_platform(
    name: &str,
    img: &ImageRef,
    want: Option<&str>,
    report: &mut Report,
) -> Option<(String, String)> {
    let cfg_arch = img
        .architecture()
        .map(|a| arch::from_name(a).map_or(a, |r| r.goarch).to_string());
    let platform = format!(
        "{}/{}",
        img.os().unwrap_or("?"),
        cfg_arch.as_deref().unwrap_or("?")
    );
    match img.os() {
        Some("linux") => {}
        Some(os) => report.errors.push(
            Failure::new(format!("`{name}` is an image for `{os}`, not linux"))
                .help("cargo slim builds and verifies Linux images"),
        ),
        None => report
            .warnings
            .push("the image config has no `os`; assuming linux".into()),
    }
    if let (Some(w), Some(c)) = (want, &cfg_arch) {
        if w != c {
            report.errors.push(
                Failure::new(format!("`{name}` is a {platform} image, but --arch is {w}"))
                    .help(arch_help(w)),
            );
        }
    }
    if cfg_arch.is_none() {
        report.warnings.push(
            "the image config has no `architecture`, so ELF files are checked against --arch only"
                .into(),
        );
    }
    match (cfg_arch, want) {
        (Some(a), _) => Some((a, format!("the image platform is {platform}"))),
        (None, Some(w)) => Some((w.to_string(), format!("--arch is {w}"))),
        (None, None) => None,
    }
}

/// What the walk of an image's layers found.
#[derive(Default)]
struct Walked {
    /// The merged filesystem.
    fs: Fs,
    /// Every ELF file's verdict, in layer order.
    files: Vec<FileVerdict>,
    /// Entries that point, or are written through a symlink, outside the root.
    escapes: Vec<Failure>,
    /// The last /etc/passwd the layers write (its first bytes): a `User` name must be in it.
    passwd: Option<Vec<u8>>,
}

/// Read every layer of `img` once: each entry into the merged filesystem,
/// each ELF file judged (against `expect`: architecture and why). A layer that
/// cannot be read is an error in `report`; the others are still read.
fn walk_layers<R: Read + Seek>(
    name: &str,
    ar: &mut Archive<R>,
    img: &ImageRef,
    expect: Option<&(String, String)>,
    report: &mut Report,
) -> Walked {
    let mut walked = Walked::default();
    let layer_count = img.layers.len();
    for (i, layer) in img.layers.iter().enumerate() {
        let result = ar.walk_layer(layer, |entry, data| {
            walked.visit(name, (i, layer_count), entry, data, expect)
        });
        walked.fs.end_layer();
        if let Err(f) = result {
            report.errors.push(
                Failure {
                    what: format!("`{name}`: {}", f.what),
                    ..f
                }
                .detail("files in this layer after the problem were not checked"),
            );
        }
    }
    walked
}

impl Walked {
    /// One entry of layer `i` (of `count`): where it points, its first bytes
    /// into the merged filesystem, `/etc/passwd` kept, an ELF file judged.
    fn visit(
        &mut self,
        name: &str,
        (i, count): (usize, usize),
        entry: &LayerEntry,
        data: &mut dyn Read,
        expect: Option<&(String, String)>,
    ) -> Result<(), Failure> {
        self.check_escapes(name, i, entry);
        let mut head = Vec::new();
        let mut tag = None;
        if entry.kind == EntryKind::File && entry.path == "etc/passwd" {
            let mut text = Vec::new();
            data.take(PASSWD_LIMIT)
                .read_to_end(&mut text)
                .map_err(|e| read_failure(&entry.path, &e))?;
            head = text[..text.len().min(Fs::HEAD)].to_vec();
            self.passwd = Some(text);
        } else if entry.kind == EntryKind::File {
            data.take(Fs::HEAD as u64)
                .read_to_end(&mut head)
                .map_err(|e| read_failure(&entry.path, &e))?;
            if head.starts_with(b"\x7fELF") {
                let file = elf_file(entry, data, &head, (i, count), expect)?;
                self.files.push(file);
                tag = Some(self.files.len() - 1);
            }
        }
        self.fs.add(entry, i, head, tag);
        Ok(())
    }

    /// An entry of layer `i` whose path, or a symlink among its parents as
    /// merged so far, leads outside the image root.
    fn check_escapes(&mut self, name: &str, i: usize, entry: &LayerEntry) {
        if let Some(why) = runtime::entry_path(&entry.raw_path) {
            self.escapes.push(
                Failure::new(format!(
                    "`{name}`: layer {} entry `{}` {why}: it points outside the image root",
                    i + 1,
                    entry.raw_path
                ))
                .help("runtimes refuse such an entry or put it elsewhere than meant: rebuild the layer with relative paths inside the root"),
            );
        }
        if let Some((link, target)) = escaping_parent(&self.fs, &entry.path) {
            self.escapes.push(
                Failure::new(format!(
                    "`{name}`: layer {} entry `/{}` is written through the symlink `/{link}` → `{target}`, which leads outside the image root",
                    i + 1,
                    entry.path
                ))
                .help("a runtime keeps the write inside the root, so the file is not where the layer means it to be: rebuild the layer without the symlink"),
            );
        }
    }
}

/// The verdict of the ELF file `entry` of layer `i` (of `count`): `head` holds
/// its first bytes, `data` the rest.
fn elf_file(
    entry: &LayerEntry,
    data: &mut dyn Read,
    head: &[u8],
    (i, count): (usize, usize),
    expect: Option<&(String, String)>,
) -> Result<FileVerdict, Failure> {
    let mut bytes = head.to_vec();
    data.read_to_end(&mut bytes)
        .map_err(|e| read_failure(&entry.path, &e))?;
    let path = format!("/{}", entry.path);
    let mut verdict = check(
        &path,
        &bytes,
        expect.map(|(arch, why)| Expect { arch, why }),
    );
    for e in &mut verdict.errors {
        e.details.push(format!("in layer {} of {count}", i + 1));
    }
    Ok(FileVerdict {
        path,
        layer: i,
        verdict,
        dep_v0: crate::sbom::auditable::read_embedded(&bytes),
    })
}

/// The files' warnings, notes (each once) and errors, into the image's report.
fn record_files(files: &[FileVerdict], report: &mut Report) {
    for f in files {
        for w in &f.verdict.warnings {
            report.warnings.push(format!("`{}`: {w}", f.path));
        }
        for n in &f.verdict.notes {
            let note = format!("`{}`: {n}", f.path);
            if !report.notes.contains(&note) {
                report.notes.push(note);
            }
        }
        report.errors.extend(f.verdict.errors.iter().cloned());
    }
}

fn read_failure(path: &str, e: &std::io::Error) -> Failure {
    Failure::new(format!("cannot read `/{path}` from the layer")).detail(e.to_string())
}

/// The symlink among the parents of `path` (as merged so far) whose target leads
/// outside the root, with that target.
fn escaping_parent(fs: &Fs, path: &str) -> Option<(String, String)> {
    let mut prefix = String::new();
    let parts: Vec<&str> = path.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        if let Some(Node {
            kind: NodeKind::Symlink(target),
            ..
        }) = fs.get_current(&prefix)
        {
            if runtime::link_escapes(&prefix, target) {
                return Some((prefix.clone(), target.clone()));
            }
        }
    }
    None
}
