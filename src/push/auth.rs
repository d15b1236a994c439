//! Registry credentials: where they come from, and keeping them out of output.
//!
//! Looked up in this order, the first source that has an entry for the registry
//! wins:
//!
//! 1. `CARGO_SLIM_REGISTRY_USERNAME` + `CARGO_SLIM_REGISTRY_PASSWORD` (CI secrets);
//! 2. `REGISTRY_AUTH_FILE` (podman's `auth.json`), when set;
//! 3. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: `credHelpers`,
//!    `auths`, then `credsStore`;
//! 4. podman's default `$XDG_RUNTIME_DIR/containers/auth.json`.
//!
//! Nothing found means anonymous. The files are parsed by `docker_credential`; we
//! read them first only to name the credential helper that applies, so a helper
//! that is not installed is reported as such here — not as a 401 later. A helper
//! is run by `helper` (`docker-credential-NAME get`, the registry on
//! stdin, bounded by `--timeout`), not by `docker_credential`, whose error carries
//! the helper's stdout and stderr: a failing helper may print the secret there, so
//! its output is never shown — the error names the helper and its exit code. A secret lives in [`Secret`],
//! whose `Debug` and `Display` print `<redacted>`, so no log line or error can
//! show it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use docker_credential::{CredentialRetrievalError, DockerCredential};

use crate::error::{command_not_found, io_failure, Failure};

pub const ENV_USERNAME: &str = "CARGO_SLIM_REGISTRY_USERNAME";
pub const ENV_PASSWORD: &str = "CARGO_SLIM_REGISTRY_PASSWORD";

/// A password or token. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A username and password for one registry, and where they were found.
#[derive(Debug, Clone)]
pub struct Credential {
    pub username: String,
    pub password: Secret,
    /// Human description of the source, e.g. `$DOCKER_CONFIG/config.json (auths)`.
    pub source: String,
}

/// Find the credential for `registry` (`host[:port]`), or `None` for anonymous.
pub fn find(registry: &str, timeout: Duration) -> Result<Option<Credential>> {
    if let Some(c) = from_env()? {
        return Ok(Some(c));
    }
    let mut files: Vec<(PathBuf, String, bool)> = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        // Set explicitly: a missing file is the user's mistake, not "no credentials".
        files.push((PathBuf::from(p), "$REGISTRY_AUTH_FILE".into(), true));
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        files.push((
            PathBuf::from(dir).join("config.json"),
            "$DOCKER_CONFIG/config.json".into(),
            false,
        ));
    } else if let Some(home) = std::env::var_os("HOME") {
        files.push((
            PathBuf::from(home).join(".docker/config.json"),
            "~/.docker/config.json".into(),
            false,
        ));
    }
    if std::env::var_os("REGISTRY_AUTH_FILE").is_none() {
        if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
            files.push((
                PathBuf::from(run).join("containers/auth.json"),
                "podman's auth.json".into(),
                false,
            ));
        }
    }
    for (path, label, required) in files {
        if let Some(c) = from_file(&path, &label, required, registry, timeout)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

fn from_env() -> Result<Option<Credential>> {
    let user = std::env::var(ENV_USERNAME).ok().filter(|s| !s.is_empty());
    let pass = std::env::var(ENV_PASSWORD).ok().filter(|s| !s.is_empty());
    match (user, pass) {
        (Some(u), Some(p)) => Ok(Some(Credential {
            username: u,
            password: Secret::new(p),
            source: format!("${ENV_USERNAME} / ${ENV_PASSWORD}"),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(Failure::new(format!(
            "${ENV_USERNAME} is set but ${ENV_PASSWORD} is not"
        ))
        .help("set both, or neither to use the docker/podman login files")
        .into()),
        (None, Some(_)) => Err(Failure::new(format!(
            "${ENV_PASSWORD} is set but ${ENV_USERNAME} is not"
        ))
        .help("set both, or neither to use the docker/podman login files")
        .into()),
    }
}

/// The credential helper a config file names for `registry`, if any: a
/// `credHelpers` entry, else `credsStore` (unless `auths` has inline credentials).
fn helper_for(config: &serde_json::Value, registry: &str) -> Option<String> {
    if let Some(h) = config
        .get("credHelpers")
        .and_then(|m| m.get(registry))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
    {
        return Some(h.to_string());
    }
    let inline = config
        .get("auths")
        .and_then(|m| m.as_object())
        .map(|auths| {
            auths.iter().any(|(key, v)| {
                registry_of_key(key) == registry
                    && (v
                        .get("auth")
                        .and_then(|a| a.as_str())
                        .is_some_and(|a| !a.is_empty())
                        || v.get("password").is_some()
                        || v.get("identitytoken").is_some())
            })
        })
        .unwrap_or(false);
    if inline {
        return None;
    }
    config
        .get("credsStore")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `https://index.docker.io/v1/` → `index.docker.io`; `host:port` stays.
fn registry_of_key(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths).any(|dir| {
                let p = dir.join(cmd);
                p.is_file()
                    && std::fs::metadata(&p)
                        .map(|m| {
                            use std::os::unix::fs::PermissionsExt;
                            m.permissions().mode() & 0o111 != 0
                        })
                        .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

fn from_file(
    path: &Path,
    label: &str,
    required: bool,
    registry: &str,
    timeout: Duration,
) -> Result<Option<Credential>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(io_failure(&format!("read {label}"), path, &e)
                .help("fix or unset the variable that points at it")
                .into())
        }
    };
    let config: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::new(format!("`{}` ({label}) is not valid JSON", path.display()))
            .detail(e.to_string())
    })?;
    let helper = helper_for(&config, registry);
    if let Some(h) = &helper {
        let cmd = format!("docker-credential-{h}");
        if !on_path(&cmd) {
            let mut f = command_not_found(
                &cmd,
                &format!(
                    "install `{cmd}`, or remove the `{h}` helper for {registry} from `{}`",
                    path.display()
                ),
            );
            f.what = format!(
                "credential helper `{cmd}` (configured for {registry} in `{}`) was not found",
                path.display()
            );
            return Err(f.into());
        }
    }
    let source = match &helper {
        Some(h) => format!("{label} (helper docker-credential-{h})"),
        None => format!("{label} ({})", path.display()),
    };
    if let Some(h) = &helper {
        let Some(answer) =
            super::helper::get(&format!("docker-credential-{h}"), registry, timeout)?
        else {
            return Ok(None);
        };
        if answer.username == "<token>" {
            return Err(identity_token(registry, &source).into());
        }
        return Ok(Some(Credential {
            username: answer.username,
            password: Secret::new(answer.secret),
            source,
        }));
    }
    match docker_credential::get_credential_from_reader(&bytes[..], registry) {
        Ok(DockerCredential::UsernamePassword(username, password)) => Ok(Some(Credential {
            username,
            password: Secret::new(password),
            source,
        })),
        Ok(DockerCredential::IdentityToken(_)) => Err(identity_token(registry, &source).into()),
        Err(CredentialRetrievalError::NoCredentialConfigured) => Ok(None),
        // Only reached without a helper (those are run by `from_helper`); the
        // Display of a helper failure holds the helper's output: never shown.
        Err(CredentialRetrievalError::HelperFailure { helper, .. }) => Err(Failure::new(format!(
            "credential helper `{helper}` failed to give a credential for {registry}"
        ))
        .into()),
        Err(e) => Err(Failure::new(format!(
            "could not read the credential for {registry} from {source}"
        ))
        .detail(e.to_string())
        .into()),
    }
}

/// The failure for an identity token (OAuth refresh token) where a password is needed.
fn identity_token(registry: &str, source: &str) -> Failure {
    Failure::new(format!(
        "the credential for {registry} in {source} is an identity token, which cargo slim cannot use"
    ))
    .help(format!(
        "log in with a username and password (or access token as password), or set ${ENV_USERNAME} and ${ENV_PASSWORD}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn secret_is_never_formatted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        let c = Credential {
            username: "alice".into(),
            password: s,
            source: "test".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn helper_selection() {
        let cases = [
            (json!({"credHelpers": {"r:5000": "pass"}}), Some("pass")),
            (json!({"credsStore": "desktop"}), Some("desktop")),
            (
                json!({"credsStore": "desktop", "credHelpers": {"r:5000": "ecr"}}),
                Some("ecr"),
            ),
            (
                json!({"credsStore": "desktop", "auths": {"r:5000": {"auth": "YTpi"}}}),
                None,
            ),
            // `docker login` with a store leaves an empty placeholder in auths.
            (
                json!({"credsStore": "desktop", "auths": {"r:5000": {}}}),
                Some("desktop"),
            ),
            (json!({"credHelpers": {"other:1": "pass"}}), None),
            (json!({}), None),
        ];
        for (cfg, want) in cases {
            assert_eq!(helper_for(&cfg, "r:5000").as_deref(), want, "{cfg}");
        }
    }

    #[test]
    fn key_normalisation() {
        assert_eq!(
            registry_of_key("https://index.docker.io/v1/"),
            "index.docker.io"
        );
        assert_eq!(registry_of_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_of_key("http://r:1/x"), "r:1");
    }

    #[test]
    fn reads_auths_and_names_missing_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        // "alice:s3cret"
        std::fs::write(&p, r#"{"auths":{"r:5000":{"auth":"YWxpY2U6czNjcmV0"}}}"#).unwrap();
        let c = from_file(&p, "test", true, "r:5000", T).unwrap().unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password.expose(), "s3cret");
        assert!(from_file(&p, "test", true, "other:1", T).unwrap().is_none());

        std::fs::write(&p, r#"{"credHelpers":{"r:5000":"no-such-helper-xyz"}}"#).unwrap();
        let e = from_file(&p, "test", true, "r:5000", T).unwrap_err();
        let f = e.downcast_ref::<Failure>().unwrap();
        assert!(
            f.what.contains("docker-credential-no-such-helper-xyz"),
            "{}",
            f.what
        );
        assert!(f.what.contains("r:5000"));

        let missing = dir.path().join("nope.json");
        assert!(from_file(&missing, "test", false, "r:5000", T)
            .unwrap()
            .is_none());
        assert!(from_file(&missing, "test", true, "r:5000", T).is_err());
    }
}
