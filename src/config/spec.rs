//! The image config part of the plan: `[package.metadata.slim]` → [`ImageSpec`].
//!
//! In: the raw metadata, the `--tag` override, the binary's name and version, the
//! manifest path (for errors). Out: the reference, the binary's path, the user
//! (numeric, or a `passwd = true` name), cmd, env, labels, workdir, ports and
//! where the CA bundle and zoneinfo come from (a relative path starts at the
//! package folder, like `files`). Why apart: each field's check names the key and the
//! manifest, and that is most of the resolution code.

use std::path::Path;

use anyhow::Result;

use super::contents::passwd_user;
use super::schema::{bad_key, BoolOrPath, SlimMetadata};
use crate::image::{DataSource, ImageSpec, DEFAULT_USER};
use crate::oci::runtime as checks;
use crate::reference::Reference;

pub(super) fn image_spec(
    meta: &SlimMetadata,
    cli_tag: Option<&str>,
    name: &str,
    version: Option<&str>,
    manifest: &Path,
) -> Result<ImageSpec> {
    let bad =
        |key: &str, value: &str, why: String, help: &str| bad_key(manifest, key, value, why, help);
    let reference = match cli_tag.or(meta.tag.as_deref()) {
        Some(t) => {
            let t = t
                .replace("{name}", name)
                .replace("{version}", version.unwrap_or("latest"));
            Reference::parse(&t)?
        }
        None => Reference::default_for(name, version)?,
    };
    let raw_path = meta.path.clone().unwrap_or_else(|| format!("/{name}"));
    let path = checks::image_path(&raw_path).map_err(|why| {
        bad(
            "path",
            &raw_path,
            why,
            "give an absolute file path inside the image, e.g. \"/app\" or \"/usr/local/bin/app\"",
        )
    })?;
    let user = meta
        .user
        .clone()
        .unwrap_or_else(|| DEFAULT_USER.to_string());
    let passwd = meta.passwd.unwrap_or(false);
    if !(passwd && passwd_user(&user)) {
        checks::user(&user).map_err(|why| {
            let help = if passwd {
                "with `passwd = true` the names are `nonroot` (65532) and `root`; else give a numeric UID or UID:GID"
            } else {
                "give a numeric UID or UID:GID, e.g. \"65532:65532\" (not root), or set `passwd = true` to use `user = \"nonroot\"`"
            };
            bad("user", &user, why, help)
        })?;
    }
    let expose = meta
        .expose
        .iter()
        .flatten()
        .map(|p| {
            checks::port(p)
                .map_err(|why| bad("expose", p, why, "ports look like \"8080\" or \"53/udp\""))
        })
        .collect::<Result<Vec<_>>>()?;
    let env = meta.env.clone().unwrap_or_default();
    for (k, v) in &env {
        checks::env(k, v).map_err(|why| {
            bad(
                "env",
                k,
                why,
                "names are non-empty and have no `=`, e.g. env = { RUST_LOG = \"info\" }",
            )
        })?;
    }
    let env_strings: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cmd = meta.cmd.as_deref().unwrap_or_default();
    checks::exec_args(std::slice::from_ref(&path), cmd, &env_strings).map_err(|(key, why)| {
        let value = match key {
            "env" => "{ … }".to_string(),
            "cmd" => format!("[{} arguments]", cmd.len()),
            _ => path.clone(),
        };
        bad(
            key,
            &value,
            why,
            "pass big data in a file (`files`) or at run time, not in the image's arguments or environment",
        )
    })?;
    if let Some(w) = &meta.workdir {
        checks::workdir(w)
            .map_err(|why| bad("workdir", w, why, "give an absolute folder, e.g. \"/srv\""))?;
    }
    Ok(ImageSpec {
        reference,
        path,
        user,
        cmd: meta.cmd.clone(),
        env,
        labels: meta.labels.clone().unwrap_or_default(),
        workdir: meta.workdir.clone(),
        expose,
        name: name.to_string(),
        version: version.map(str::to_string),
        ca_certificates: data_source(meta.ca_certificates.as_ref(), manifest),
        zoneinfo: data_source(meta.zoneinfo.as_ref(), manifest),
    })
}

/// `ca-certificates` / `zoneinfo` → where the data comes from: unset is decided
/// by preflight, `true` is the built-in data, a relative path starts at the
/// folder of `manifest`.
fn data_source(value: Option<&BoolOrPath>, manifest: &Path) -> DataSource {
    match value {
        None => DataSource::Auto,
        Some(BoolOrPath::Bool(false)) => DataSource::Off,
        Some(BoolOrPath::Bool(true)) => DataSource::Pinned,
        Some(BoolOrPath::Path(p)) => {
            DataSource::Path(manifest.parent().unwrap_or(Path::new(".")).join(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Failure;

    #[test]
    fn ca_certificates_and_zoneinfo_resolve() {
        let m = Path::new("/p/Cargo.toml");
        let path = |s: &str| Some(BoolOrPath::Path(s.into()));
        for (value, want) in [
            (None, DataSource::Auto),
            (Some(BoolOrPath::Bool(false)), DataSource::Off),
            (Some(BoolOrPath::Bool(true)), DataSource::Pinned),
            (path("ca.pem"), DataSource::Path("/p/ca.pem".into())),
            (path("/etc/ca.pem"), DataSource::Path("/etc/ca.pem".into())),
        ] {
            assert_eq!(data_source(value.as_ref(), m), want, "{value:?}");
        }
        let meta = SlimMetadata {
            ca_certificates: path("certs/ca.pem"),
            zoneinfo: Some(BoolOrPath::Bool(true)),
            ..Default::default()
        };
        let spec = image_spec(&meta, None, "x", None, m).unwrap();
        assert_eq!(
            spec.ca_certificates,
            DataSource::Path("/p/certs/ca.pem".into())
        );
        assert_eq!(spec.zoneinfo, DataSource::Pinned);
    }

    #[test]
    fn a_user_name_needs_passwd() {
        let m = Path::new("/p/Cargo.toml");
        let meta = |user: &str, passwd: Option<bool>| SlimMetadata {
            user: Some(user.into()),
            passwd,
            ..Default::default()
        };
        for user in ["nonroot", "nonroot:nonroot", "root", "65532:nonroot"] {
            assert!(
                image_spec(&meta(user, Some(true)), None, "x", None, m).is_ok(),
                "{user}"
            );
            let e = image_spec(&meta(user, None), None, "x", None, m).unwrap_err();
            let f = e.downcast_ref::<Failure>().unwrap();
            assert!(
                f.what.contains("`user`") && f.what.contains("/p/Cargo.toml"),
                "{f:?}"
            );
            assert!(
                f.help.as_deref().unwrap().contains("passwd = true"),
                "{f:?}"
            );
        }
        // Only the names the generated /etc/passwd defines.
        let e = image_spec(&meta("alice", Some(true)), None, "x", None, m).unwrap_err();
        let f = e.downcast_ref::<Failure>().unwrap();
        assert!(
            f.help.as_deref().unwrap().contains("`nonroot` (65532)"),
            "{f:?}"
        );
    }
}
