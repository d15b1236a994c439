//! The binary's way from cargo's output to the packer: read → ELF verdict →
//! per-crate sizes → strip, or all of it from the rebuild cache when the file
//! cargo left is the very file an earlier build prepared.
//!
//! In: the [`Compiled`] binary and the plan. Out: [`Prepared`] — the inspection,
//! the per-crate sizes and the [`ImageBinary`] (the stripped bytes, or the
//! image's layer of them when the cache holds it) — and the binary's own layer
//! ([`binary_layer`]). Why the cache: on a no-op rebuild this was most of
//! cargo-slim's own time (reading a 7 MB unstripped binary, hashing it, scanning
//! it and stripping it) to get the bytes of the run before. Only cargo's own
//! output is reused this way (cargo itself trusts file times to skip the build),
//! and only on a local file system that keeps change times ([`cache::identity`]:
//! device, inode, size, mtime and ctime to the nanosecond, once the file has
//! settled). The entry's key adds the path, the
//! target and the `.dep-v0` section strip adds; it holds the verdict's words and
//! the stripped bytes' digest (the bytes themselves are kept under that digest,
//! and read only when the image's layer of them is not cached or UPX packs
//! them). It is stored only when the file had the same identity before and
//! after it was read, and reused only with its per-crate sizes.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{Clock, Compiled};
use crate::bloat::{self, Attribution};
use crate::cache;
use crate::config::Plan;
use crate::elf::{self, Expect, Inspection, LinkKind};
use crate::error::{io_failure, Failure};
use crate::image::{BuiltLayer, Layer, LayerBuilder, LayerFile};
use crate::shell::Shell;
use crate::strip as stripper;

/// What the packer and the report need of the binary.
pub struct Prepared {
    /// `sha256:<hex>` of the unstripped binary.
    pub unstripped_digest: String,
    pub inspection: Inspection,
    pub attribution: Option<Attribution>,
    /// The stripped binary (UPX has not packed it yet).
    pub stripped: ImageBinary,
}

/// The binary as it goes into the image — stripped, then maybe packed by UPX —
/// and the sizes measured on the way.
pub struct ImageBinary {
    pub content: BinaryContent,
    pub unstripped_size: u64,
    pub stripped_size: u64,
    /// What UPX did (`None`: not asked to pack).
    pub upx: Option<crate::report::UpxReport>,
    /// Bytes of the `.dep-v0` section added while stripping (0: none).
    pub dep_v0: u64,
}

/// The binary's bytes, or the layer that already holds them.
pub enum BinaryContent {
    /// Read (and stripped, or packed by UPX): the binary's layer is made of them.
    Bytes(Vec<u8>),
    /// The image's layer of the stripped bytes, out of the rebuild cache: the
    /// binary is unchanged and not packed, so its bytes were not read.
    CachedLayer(Layer),
}

impl ImageBinary {
    /// The size of the binary as it goes into the image.
    pub fn final_size(&self) -> u64 {
        match &self.content {
            BinaryContent::Bytes(bytes) => bytes.len() as u64,
            BinaryContent::CachedLayer(_) => self.stripped_size,
        }
    }

    /// The bytes, when they were read.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.content {
            BinaryContent::Bytes(bytes) => Some(bytes),
            BinaryContent::CachedLayer(_) => None,
        }
    }
}

/// What stripping gave: the stripped bytes and the sizes around them.
pub(super) struct Stripped {
    pub bytes: Vec<u8>,
    pub unstripped_size: u64,
    /// Bytes of the `.dep-v0` section added (0: none).
    pub dep_v0: u64,
}

impl From<Stripped> for ImageBinary {
    fn from(s: Stripped) -> ImageBinary {
        ImageBinary {
            stripped_size: s.bytes.len() as u64,
            content: BinaryContent::Bytes(s.bytes),
            unstripped_size: s.unstripped_size,
            upx: None,
            dep_v0: s.dep_v0,
        }
    }
}

/// The cache entry's meta: the verdict (its inspection and words) and the
/// unstripped file's size and digest; the payload is the stripped binary.
#[derive(Serialize, Deserialize)]
struct Record {
    machine: u16,
    kind: String,
    interpreter: Option<String>,
    needed: Vec<String>,
    has_symtab: bool,
    has_debug: bool,
    exec_stack: bool,
    inspection_warnings: Vec<String>,
    warnings: Vec<String>,
    notes: Vec<String>,
    unstripped_size: u64,
    unstripped_digest: String,
    dep_v0: u64,
    /// Whether the binary had per-crate sizes (kept under `bloat` by its digest).
    attributed: bool,
    /// `sha256:<hex>` and size of the stripped bytes (kept under `stripped`).
    stripped_digest: String,
    stripped_size: u64,
    allocator: Option<elf::allocator::Found>,
}

impl Record {
    /// The record of a binary judged (`inspection`, and the warnings and notes
    /// `said` about it) and stripped.
    fn of(
        inspection: &Inspection,
        (warnings, notes): (Vec<String>, Vec<String>),
        unstripped_digest: &str,
        attributed: bool,
        stripped: &Stripped,
    ) -> Record {
        Record {
            machine: inspection.machine,
            kind: inspection.kind.as_str().to_string(),
            interpreter: inspection.interpreter.clone(),
            needed: inspection.needed.clone(),
            has_symtab: inspection.has_symtab,
            has_debug: inspection.has_debug,
            exec_stack: inspection.exec_stack,
            inspection_warnings: inspection.warnings.clone(),
            warnings,
            notes,
            unstripped_size: stripped.unstripped_size,
            unstripped_digest: unstripped_digest.to_string(),
            dep_v0: stripped.dep_v0,
            attributed,
            stripped_digest: crate::digest::sha256_digest(&stripped.bytes),
            stripped_size: stripped.bytes.len() as u64,
            allocator: inspection.allocator.clone(),
        }
    }

    fn inspection(&self) -> Option<Inspection> {
        let (arch, variant) = elf::inspect::arch_of(self.machine);
        Some(Inspection {
            machine: self.machine,
            arch,
            variant,
            kind: LinkKind::from_name(&self.kind)?,
            interpreter: self.interpreter.clone(),
            needed: self.needed.clone(),
            has_symtab: self.has_symtab,
            has_debug: self.has_debug,
            exec_stack: self.exec_stack,
            warnings: self.inspection_warnings.clone(),
            allocator: self.allocator.clone(),
        })
    }
}

/// Read, judge, attribute and strip the binary — or reuse all of that.
pub fn prepare(
    compiled: &Compiled,
    plan: &Plan,
    shell: &Shell,
    clock: &mut Clock<'_>,
) -> Result<Prepared> {
    let spool = crate::io::output_dir(&plan.output)?;
    let dep_v0 = dep_v0_section(compiled, shell);
    // Only cargo's own output: a `--binary` may sit anywhere, written by anything.
    let from_cargo = matches!(plan.source, crate::config::Source::Cargo(_));
    let identity = (plan.layers.cache.is_on() && from_cargo)
        .then(|| cache::settled_identity(&compiled.path))
        .flatten();
    let key = identity
        .as_deref()
        .map(|id| entry_key(id, compiled, dep_v0.as_ref()));
    if let Some(p) = key.as_deref().and_then(|k| reuse(k, compiled, plan, shell)) {
        clock.lap("reuse");
        return Ok(p);
    }
    let unstripped = read_binary(&compiled.path)?;
    let (inspection, warnings, notes) = inspect(
        &unstripped,
        &compiled.path,
        compiled.target.as_deref(),
        shell,
    )?;
    clock.lap("inspect");
    let digest = crate::digest::sha256_digest(&unstripped);
    let attribution = attribute(&unstripped, &digest, compiled, plan, shell);
    clock.lap("attribute");
    let stripped = strip(unstripped, &compiled.path, dep_v0, spool, shell)?;
    clock.lap("strip");
    // Stored only when nothing wrote the file while it was read.
    if let Some(key) = key.filter(|_| cache::identity(&compiled.path) == identity) {
        let said = (warnings, notes);
        let record = Record::of(&inspection, said, &digest, attribution.is_some(), &stripped);
        if let Err(e) = keep(plan, &key, &record, &stripped.bytes) {
            shell.verbose("Skipping", format!("the rebuild cache: {e}"));
        }
    }
    Ok(Prepared {
        unstripped_digest: digest,
        inspection,
        attribution,
        stripped: stripped.into(),
    })
}

/// One of an image's other binaries (`bins = [...]`), ready for the packer.
pub struct Also {
    pub name: String,
    /// Where it goes in the image: beside the entrypoint's binary.
    pub path: String,
    pub inspection: Inspection,
    /// Stripped (UPX packs it after, when the plan says so).
    pub binary: ImageBinary,
}

impl Also {
    /// Its entry in the report.
    pub fn report(&self) -> crate::report::BinaryReport {
        crate::report::BinaryReport {
            name: self.name.clone(),
            path: self.path.clone(),
            linkage: self.inspection.kind.as_str().to_string(),
            unstripped: self.binary.unstripped_size,
            stripped: self.binary.stripped_size,
            final_size: self.binary.final_size(),
        }
    }
}

/// The image's other binaries, each read, judged like the entrypoint's (the
/// same verdict: static, the target's arch) and stripped with the same
/// `.dep-v0` section. Not attributed to crates, and not cached: the report
/// gives their sizes only.
pub fn prepare_also(compiled: &Compiled, plan: &Plan, shell: &Shell) -> Result<Vec<Also>> {
    let spool = crate::io::output_dir(&plan.output)?;
    let mut out = Vec::new();
    for (name, path) in plan.also_bins().iter().zip(&compiled.also) {
        let bytes = read_binary(path)?;
        let (inspection, _, _) = inspect(&bytes, path, compiled.target.as_deref(), shell)?;
        let dep_v0 = dep_v0_section(compiled, shell);
        let stripped = strip(bytes, path, dep_v0, spool, shell)?;
        out.push(Also {
            name: name.clone(),
            path: also_path(&plan.image.path, name),
            inspection,
            binary: stripped.into(),
        });
    }
    Ok(out)
}

/// `/usr/local/bin/migrate` beside `/usr/local/bin/server`.
fn also_path(entry: &str, name: &str) -> String {
    match entry.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}"),
        None => format!("/{name}"),
    }
}

/// Keep the stripped `bytes` under their digest and the `record` (small) under
/// the file's identity `key`: an unchanged rebuild whose layer is cached reads
/// only the latter.
fn keep(plan: &Plan, key: &str, record: &Record, bytes: &[u8]) -> Result<(), String> {
    let meta = serde_json::to_vec(record).map_err(|e| e.to_string())?;
    let hex = crate::digest::sha256_hex_of(&record.stripped_digest).unwrap_or("-");
    plan.layers
        .cache
        .store("stripped", hex, b"", &mut &bytes[..])?;
    plan.layers.cache.store_meta("binary", key, &meta)
}

/// The key of a prepared binary: everything that decides the verdict and the
/// stripped bytes besides the file itself (whose identity stands for its bytes).
fn entry_key(identity: &str, compiled: &Compiled, dep_v0: Option<&stripper::Added>) -> String {
    cache::key(&[
        b"binary",
        identity.as_bytes(),
        compiled.path.as_os_str().as_encoded_bytes(),
        compiled.target.as_deref().unwrap_or("-").as_bytes(),
        dep_v0.map_or(&b"-"[..], |d| d.name.as_bytes()),
        dep_v0.map_or(&[][..], |d| &d.data[..]),
    ])
}

/// The prepared binary of an earlier build of this very file, if the cache has it.
fn reuse(key: &str, compiled: &Compiled, plan: &Plan, shell: &Shell) -> Option<Prepared> {
    let entry = plan.layers.cache.load("binary", key)?;
    let record: Record = serde_json::from_slice(&entry.meta).ok()?;
    let inspection = record.inspection()?;
    // The layer of these very bytes, from the cache, spares reading them; UPX
    // (or a layer not kept) needs the bytes themselves.
    let layer = (plan.upx.is_none() && plan.also_bins().is_empty())
        .then(|| cached_binary_layer(plan, &record.stripped_digest))
        .flatten();
    let content = match layer {
        Some(layer) => BinaryContent::CachedLayer(layer),
        None => {
            let hex = crate::digest::sha256_hex_of(&record.stripped_digest)?;
            BinaryContent::Bytes(plan.layers.cache.load("stripped", hex)?.payload().ok()?)
        }
    };
    // Per-crate sizes not kept (another `--split-std`, or pruned): a miss, so the
    // file is read, judged and stripped again with them.
    let attribution = match record.attributed {
        true => Some(cached_attribution(
            &record.unstripped_digest,
            compiled,
            plan,
            shell,
        )?),
        false => None,
    };
    let name = compiled.path.display();
    shell.status(
        "Reused",
        format!("{name} is unchanged: its ELF verdict and stripped bytes come from the cache"),
    );
    for w in &record.warnings {
        shell.warn(format!("{name}: {w}"));
    }
    for n in &record.notes {
        shell.note(format!("{name}: {n}"));
    }
    Some(Prepared {
        unstripped_digest: record.unstripped_digest,
        inspection,
        attribution,
        stripped: ImageBinary {
            stripped_size: record.stripped_size,
            content,
            unstripped_size: record.unstripped_size,
            upx: None,
            dep_v0: record.dep_v0,
        },
    })
}

/// Read the binary to pack: a regular file only (a FIFO or `/dev/zero` is refused
/// at once), and its first bytes before the rest, so a file that is no ELF at all
/// (a 20 GiB sparse file, say) is judged from its header without reading it whole.
pub(super) fn read_binary(path: &Path) -> Result<Vec<u8>> {
    let (mut file, size) = crate::io::open_regular(path, "an executable")?;
    let mut head = [0u8; 64];
    let n =
        crate::io::read_up_to(&mut file, &mut head).map_err(|e| io_failure("read", path, &e))?;
    if !head[..n].starts_with(b"\x7fELF") {
        // The verdict words what the file is from these bytes alone.
        return Ok(head[..n].to_vec());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    bytes.extend_from_slice(&head[..n]);
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| io_failure("read", path, &e))?;
    Ok(bytes)
}

/// Read the ELF headers (before anything rewrites the file) and refuse what cannot
/// run in an empty filesystem: the same verdict, in the same words, as `verify`.
/// Out: the inspection, and the warnings and notes said about the file.
fn inspect(
    bytes: &[u8],
    path: &Path,
    target: Option<&str>,
    shell: &Shell,
) -> Result<(Inspection, Vec<String>, Vec<String>)> {
    shell.status("Verifying", path.display());
    let name = path.display().to_string();
    let target = target.and_then(|t| Some((t, crate::arch::from_triple(t)?)));
    let why = target.map(|(t, a)| format!("the target `{t}` is {}", a.goarch));
    let expect = target.zip(why.as_deref()).map(|((_, a), why)| Expect {
        arch: a.goarch,
        why,
    });
    let verdict = elf::check(&name, bytes, expect).into_result()?;
    for w in &verdict.warnings {
        shell.warn(format!("{name}: {w}"));
    }
    for n in &verdict.notes {
        shell.note(format!("{name}: {n}"));
    }
    match verdict.inspection {
        Some(i) => Ok((i, verdict.warnings, verdict.notes)),
        // A UPX-packed static-pie passes verify (with a note) but cannot be
        // inspected, stripped or attributed: build wants the unpacked binary.
        None => Err(Failure::new(format!("`{name}` is already packed with UPX"))
            .help("pass the binary before packing (`upx -d` unpacks it); cargo slim packs it itself with --upx")
            .into()),
    }
}

fn bloat_options(compiled: &Compiled, plan: &Plan) -> bloat::Options {
    bloat::Options {
        split_std: plan.report.split_std,
        rlibs: compiled.rlibs.clone(),
    }
}

/// The per-crate sizes of the binary whose unstripped bytes have `digest`, if kept.
fn cached_attribution(
    digest: &str,
    compiled: &Compiled,
    plan: &Plan,
    shell: &Shell,
) -> Option<Attribution> {
    let opts = bloat_options(compiled, plan);
    let key = cache::attribution_key(digest, opts.split_std, &opts.rlibs);
    let a = serde_json::from_slice(&plan.layers.cache.load("bloat", &key)?.meta).ok()?;
    shell.verbose("Reused", "per-crate sizes from the cache");
    Some(a)
}

/// Per-crate attribution from the symbol table (before strip). A binary without
/// symbols (e.g. `--binary` of a stripped file) simply has no per-crate figures.
fn attribute(
    bytes: &[u8],
    digest: &str,
    compiled: &Compiled,
    plan: &Plan,
    shell: &Shell,
) -> Option<Attribution> {
    if let Some(a) = cached_attribution(digest, compiled, plan, shell) {
        return Some(a);
    }
    let opts = bloat_options(compiled, plan);
    match bloat::attribute(bytes, &opts) {
        Ok(a) => {
            if let Ok(json) = serde_json::to_vec(&a) {
                let key = cache::attribution_key(digest, opts.split_std, &opts.rlibs);
                let _ = plan.layers.cache.store_meta("bloat", &key, &json);
            }
            Some(a)
        }
        Err(e) => {
            shell.note(format!("no per-crate sizes: {e}"));
            None
        }
    }
}

/// The `.dep-v0` section (cargo-auditable's crate list) strip adds, if any.
pub(super) fn dep_v0_section(
    compiled: &Compiled,
    shell: &Shell,
) -> Option<stripper::Added<'static>> {
    let graph = compiled.sbom.as_ref()?;
    let d = stripper::Added {
        name: crate::sbom::auditable::SECTION,
        data: crate::sbom::auditable::section(graph),
    };
    shell.verbose(
        "Embedding",
        format!(
            "{} ({} crates, {} bytes)",
            d.name,
            graph.packages.len(),
            d.data.len()
        ),
    );
    Some(d)
}

/// Strip into an unnamed file beside the output, drop the unstripped bytes, then
/// read the stripped ones: the binary is never in memory twice.
pub(super) fn strip(
    bytes: Vec<u8>,
    path: &Path,
    dep_v0: Option<stripper::Added<'static>>,
    spool: &Path,
    shell: &Shell,
) -> Result<Stripped> {
    shell.status("Stripping", path.display());
    let unstripped_size = bytes.len() as u64;
    let dep_v0_size = dep_v0.as_ref().map_or(0, |d| d.data.len() as u64);
    let stripped = match stripper::strip_to_file_adding(&bytes, spool, dep_v0)? {
        None => bytes,
        Some(mut file) => {
            drop(bytes);
            let len = file.metadata().map_or(0, |m| m.len());
            let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            std::io::Read::read_to_end(&mut file, &mut out)
                .map_err(|e| io_failure("read the stripped binary in", spool, &e))?;
            out
        }
    };
    Ok(Stripped {
        bytes: stripped,
        unstripped_size,
        dep_v0: dep_v0_size,
    })
}

/// The mode of the binary in the image: read and execute for everyone.
const BINARY_MODE: u32 = 0o555;

/// The binary's own layer (read-only, at the image's binary path), spooled
/// beside the output, and whether it came from the rebuild cache.
pub(super) fn binary_layer(plan: &Plan, binary: &[u8]) -> Result<BuiltLayer> {
    binaries_layer(plan, binary, &[])
}

/// The layer of the entrypoint's binary and the image's other ones (`also`:
/// each path and bytes), all read-only.
pub(super) fn binaries_layer(
    plan: &Plan,
    binary: &[u8],
    also: &[(&str, &[u8])],
) -> Result<BuiltLayer> {
    let spool = crate::io::output_dir(&plan.output)?;
    let mut files = vec![LayerFile {
        path: plan.image.path.clone(),
        mode: BINARY_MODE,
        data: binary,
    }];
    files.extend(also.iter().map(|(path, data)| LayerFile {
        path: path.to_string(),
        mode: BINARY_MODE,
        data,
    }));
    LayerBuilder::files(&files)?.build(&plan.layers, Some(spool))
}

/// [`binary_layer`] of the bytes with `digest`, if the rebuild cache holds it.
fn cached_binary_layer(plan: &Plan, digest: &str) -> Option<Layer> {
    let options = &plan.layers;
    LayerBuilder::cached_file(&plan.image.path, BINARY_MODE, digest, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::Verbosity;
    use std::path::PathBuf;

    fn fixture(name: &str) -> (PathBuf, Vec<u8>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/elf")
            .join(name);
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    fn compiled(path: &Path, target: Option<&str>) -> Compiled {
        Compiled {
            path: path.to_path_buf(),
            also: Vec::new(),
            target: target.map(str::to_string),
            rlibs: Vec::new(),
            sbom: None,
            how: None,
            allocator: None,
            system_data: Default::default(),
            recipe: None,
        }
    }

    #[test]
    fn build_and_verify_say_the_same_thing_about_one_file() {
        for name in ["glibc-dynamic", "i386", "truncated", "script", "shared-lib"] {
            let (path, bytes) = fixture(name);
            let shell = Shell::buffer(Verbosity::Normal);
            let err = inspect(&bytes, &path, None, &shell).unwrap_err();
            let built = err.downcast_ref::<Failure>().expect("a Failure");
            let verified = crate::verify::verify_path(&path, None);
            let first = &verified.errors[0];
            assert_eq!(
                (&built.what, &built.help),
                (&first.what, &first.help),
                "{name}"
            );
        }
    }

    #[test]
    fn a_binary_for_another_arch_than_the_target_names_both() {
        let (path, bytes) = fixture("static");
        let shell = Shell::buffer(Verbosity::Normal);
        let c = compiled(&path, Some("aarch64-unknown-linux-musl"));
        let err = inspect(&bytes, &c.path, c.target.as_deref(), &shell).unwrap_err();
        let f = err.downcast_ref::<Failure>().unwrap();
        assert!(
            f.what.ends_with(
                "is built for amd64, but the target `aarch64-unknown-linux-musl` is arm64"
            ),
            "{f:?}"
        );
        assert!(f
            .help
            .as_deref()
            .unwrap()
            .contains("aarch64-unknown-linux-musl"));
        let ok = inspect(&bytes, &path, Some("x86_64-unknown-linux-musl"), &shell);
        assert_eq!(ok.unwrap().0.arch, "amd64");
    }

    #[test]
    fn a_stage_note_is_read_back_from_a_buffer_shell() {
        let (path, bytes) = fixture("upx-packed");
        let shell = Shell::buffer(Verbosity::Normal);
        inspect(&bytes, &path, None, &shell).unwrap();
        let out = shell.captured();
        assert!(out.contains("   Verifying "), "{out}");
        assert!(
            out.contains("note: ") && out.contains("packed with UPX"),
            "{out}"
        );
    }
}
