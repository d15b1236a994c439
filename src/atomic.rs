//! Atomic file output: write to a temporary file beside the target, then rename.
//!
//! Every file cargo-slim produces (tarball, report, chart, image refs) goes through
//! here, so an interrupted or failed run never leaves a partial file at the path a
//! user or a CI step will read; the temporary file is removed on any error.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Result;

use crate::error::{io_failure, Failure};

/// Create `path` atomically with the bytes `fill` writes; returns the file size.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<u64> {
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
    let mut writer = BufWriter::with_capacity(1 << 20, tmp.as_file().try_clone()?);
    fill(&mut writer)?;
    writer
        .flush()
        .map_err(|e| io_failure("write", tmp.path(), &e))?;
    drop(writer);
    let size = tmp.as_file().metadata()?.len();
    // Readable like any build output (tempfile creates 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path)
        .map_err(|e| io_failure("move the file into place at", path, &e.error))?;
    Ok(size)
}

/// Create `path` atomically with `contents`.
pub fn write(path: &Path, contents: &[u8]) -> Result<()> {
    write_with(path, |w| {
        w.write_all(contents)
            .map_err(|e| io_failure("write", path, &e).into())
    })
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let r = write_with(&target, |w| {
            w.write_all(b"partial")?;
            anyhow::bail!("interrupted")
        });
        assert!(r.is_err());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no file, no temp file"
        );
        write(&target, b"whole").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
    }
}
