//! What `verify` prints about trust: each image's signatures (`--key`) and
//! provenance (`--require-provenance`), and the one stdout writer of the binary.
//!
//! In: a tarball path, the public key, the message format. Out: a status line per
//! image on stderr (or a JSON line on stdout) and whether every image passed.
//! Why here: rendering is the binary's; the checks are the library's
//! (`commands::attest::check`, `commands::sign_ref::check_ref`).

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use cargo_slim::commands;
use cargo_slim::shell::Shell;

use super::MessageFormat;

/// Write a result line to stdout. A closed pipe is not an error (`| head`).
pub fn print_out(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// `verify --key` / `--require-provenance` of the tarball at `path` (read once):
/// with a key, whether every image is signed by it over its own digest; with
/// `provenance`, each image's SLSA provenance, who built it from what and when
/// (`required`: an image without it fails). Verdicts on stderr, or the
/// `signatures` and `provenance` JSON lines. Whether all passed.
pub fn verify_tarball(
    path: &Path,
    key: Option<&cargo_slim::sign::PublicKey>,
    (provenance, required): (bool, bool),
    format: MessageFormat,
    shell: &Shell,
) -> Result<bool> {
    let (signatures, attested) = commands::attest::check(path, key)?;
    let shown = path.display().to_string();
    let signed = match (signatures, key) {
        (Some(checks), Some(k)) => render_signatures(&shown, &checks, k, format, shell)?,
        _ => true,
    };
    let proven = !provenance || render_provenance(&shown, &attested, key, required, format, shell)?;
    Ok(signed && proven)
}

/// Each image's signature verdict on stderr (or a `signatures` JSON line naming
/// `path`); whether all passed.
pub fn render_signatures(
    path: &str,
    checks: &[commands::sign::SignatureCheck],
    key: &cargo_slim::sign::PublicKey,
    format: MessageFormat,
    shell: &Shell,
) -> Result<bool> {
    let fingerprint = key.fingerprint();
    if format == MessageFormat::Json {
        let images: Vec<serde_json::Value> = checks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "digest": c.digest,
                    "platform": c.platform,
                    "valid": c.verdict.is_ok(),
                    "why": c.verdict.as_ref().err(),
                })
            })
            .collect();
        let line = serde_json::json!({
            "reason": "signatures",
            "path": path,
            "key": fingerprint,
            "images": images,
        });
        print_out(&line.to_string())?;
    }
    for c in checks {
        match &c.verdict {
            Ok(()) => shell.status(
                "Signed",
                format!(
                    "{} ({}) by key sha256:{}",
                    c.digest,
                    c.platform,
                    &fingerprint[..12]
                ),
            ),
            Err(why) => shell.print_err(&format!(
                "error: {} ({}) is not signed by the key: {why}\n",
                c.digest, c.platform
            )),
        }
    }
    Ok(checks.iter().all(|c| c.verdict.is_ok()))
}

/// Each image's provenance on stderr (or a `provenance` JSON line naming
/// `path`); whether all passed (`required`: a missing one fails).
pub fn render_provenance(
    path: &str,
    checks: &[commands::attest::ProvenanceCheck],
    key: Option<&cargo_slim::sign::PublicKey>,
    required: bool,
    format: MessageFormat,
    shell: &Shell,
) -> Result<bool> {
    if format == MessageFormat::Json {
        let images: Vec<serde_json::Value> = checks
            .iter()
            .map(|c| {
                let found = c.verdict.as_ref().ok();
                serde_json::json!({
                    "digest": c.digest,
                    "platform": c.platform,
                    "valid": found.is_some(),
                    "why": c.verdict.as_ref().err(),
                    "signed": found.map(|f| f.signed_by_key),
                    "builder": found.map(|f| &f.summary.builder),
                    "buildType": found.map(|f| &f.summary.build_type),
                    "what": found.map(|f| &f.summary.what),
                    "source": found.map(|f| &f.summary.source),
                    "finishedOn": found.and_then(|f| f.summary.when.as_ref()),
                })
            })
            .collect();
        let line = serde_json::json!({
            "reason": "provenance",
            "path": path,
            "key": key.map(|k| k.fingerprint()),
            "required": required,
            "images": images,
        });
        print_out(&line.to_string())?;
    }
    let mut passed = true;
    for c in checks {
        match &c.verdict {
            Ok(f) => {
                let s = &f.summary;
                let how = match (f.signed_by_key, f.enveloped) {
                    (true, _) => "signed by the key",
                    (false, true) => "in a DSSE envelope, its signature not checked (no --key)",
                    (false, false) => "unsigned",
                };
                shell.status(
                    "Provenance",
                    format!(
                        "{} ({}): {} built by {} from {}{}; {how}",
                        c.digest,
                        c.platform,
                        s.what,
                        s.builder,
                        s.source,
                        s.when
                            .as_ref()
                            .map(|w| format!(", {w}"))
                            .unwrap_or_default(),
                    ),
                );
            }
            Err(why) if required => {
                passed = false;
                shell.print_err(&format!(
                    "error: {} ({}) has no valid provenance: {why}\n",
                    c.digest, c.platform
                ));
            }
            Err(why) => shell.note(format!("{} ({}): {why}", c.digest, c.platform)),
        }
    }
    Ok(passed)
}

/// `verify REF`: the signatures (with `--key`) and provenance the registry
/// holds for the image `r` names; whether all passed.
pub fn verify_remote(
    r: &cargo_slim::push::remote::RemoteRef,
    key: Option<&cargo_slim::sign::PublicKey>,
    required: bool,
    opts: &cargo_slim::push::PushOptions,
    format: MessageFormat,
    shell: &Shell,
) -> Result<bool> {
    let found = commands::sign_ref::check_ref(r, key, opts, shell)?;
    shell.status("Found", &found.pinned);
    if key.is_none() {
        shell.note("no --key: signatures are not checked, and provenance is shown as found");
    }
    let signed = match (&found.signatures, key) {
        (Some(checks), Some(k)) => render_signatures(&found.pinned, checks, k, format, shell)?,
        _ => true,
    };
    let attested = render_provenance(
        &found.pinned,
        &found.provenance,
        key,
        required,
        format,
        shell,
    )?;
    if format == MessageFormat::Human && signed && attested {
        print_out(&found.pinned)?;
    }
    Ok(signed && attested)
}
