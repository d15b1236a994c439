//! Write: an [`Image`] → one uncompressed tar file, written atomically.
//!
//! The file is both an OCI image layout (`oci-layout`, `index.json`, `blobs/`) and
//! a `docker save` archive (`manifest.json`), so `podman load`, `docker load` and
//! `skopeo copy oci-archive:` / `docker-archive:` all read it. Entries come in a fixed
//! order with ustar headers, one mtime, uid/gid 0 and empty owner names, so the
//! same image always gives the same bytes. The tar is written to a temporary file
//! beside the output and renamed into place: an interrupted run never leaves a
//! partial file at the output path.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Result;

use super::{docker_manifest_json, index_json, Image};
use crate::error::{io_failure, Failure};

pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    epoch: u64,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)?;
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(epoch);
    h.set_username("")?;
    h.set_groupname("")?;
    h.set_size(data.len() as u64);
    h.set_cksum();
    tar.append(&h, data)
}

/// Write the whole archive to `w` in the documented order.
pub fn write_to<W: Write>(image: &Image, w: W, epoch: u64) -> Result<W> {
    let mut tar = tar::Builder::new(w);
    append(&mut tar, "oci-layout", OCI_LAYOUT, epoch)?;
    append(&mut tar, "index.json", &index_json(image)?, epoch)?;
    append(
        &mut tar,
        "manifest.json",
        &docker_manifest_json(image)?,
        epoch,
    )?;
    append(
        &mut tar,
        &format!("blobs/sha256/{}", image.config.hex()),
        &image.config.bytes,
        epoch,
    )?;
    for layer in &image.layers {
        append(
            &mut tar,
            &format!("blobs/sha256/{}", layer.blob.hex()),
            &layer.blob.bytes,
            epoch,
        )?;
    }
    append(
        &mut tar,
        &format!("blobs/sha256/{}", image.manifest.hex()),
        &image.manifest.bytes,
        epoch,
    )?;
    Ok(tar.into_inner()?)
}

/// Write the archive to `path` atomically; returns its size in bytes.
pub fn write(image: &Image, path: &Path, epoch: u64) -> Result<u64> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| io_failure("create the output directory", dir, &e))?;
    let file_name = path.file_name().ok_or_else(|| {
        Failure::new(format!("output path `{}` has no file name", path.display()))
    })?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file_name.to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| io_failure("create a temporary file in", dir, &e))?;
    let writer = BufWriter::with_capacity(1 << 20, tmp.as_file().try_clone()?);
    let mut writer = write_to(image, writer, epoch).map_err(|e| {
        anyhow::anyhow!(io_failure(
            "write",
            tmp.path(),
            &std::io::Error::other(e.to_string())
        ))
    })?;
    writer
        .flush()
        .map_err(|e| io_failure("write", tmp.path(), &e))?;
    drop(writer);
    let file: &File = tmp.as_file();
    let size = file.metadata()?.len();
    // Readable like any build output (tempfile creates 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path)
        .map_err(|e| io_failure("move the image into place at", path, &e.error))?;
    Ok(size)
}
