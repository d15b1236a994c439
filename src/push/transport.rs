//! Reaching a registry: TLS or plain HTTP, trusted CAs, the `/v2/` ping, retries.
//!
//! TLS is the default. Plain HTTP is allowed only for `localhost`, `127.0.0.1`,
//! `[::1]`, or with `--insecure`. With `--insecure` HTTPS is tried first, and HTTP
//! only when the server does not speak TLS — never because a certificate failed
//! to verify (that is an error naming `--ca-file`). On the loopback names the ping
//! asks in plain HTTP first (it carries no secret, and a local registry mostly
//! speaks HTTP), and switches to TLS when the server answers Go's "HTTP request to
//! an HTTPS server" 400; with `--ca-file` TLS comes first there too. The ping
//! (`GET /v2/`) also tells whether the registry wants credentials and how (Basic or
//! a Bearer token service), and checks Basic credentials before anything is sent,
//! so a wrong password fails with a 401 naming the registry, once.
//!
//! Every network step goes through [`retry`] (the `retry` module): connection
//! errors, 429 and 5xx are retried with backoff, a bounded number of times.
//!
//! Time is bounded by [`RetryPolicy::timeout`] (`--timeout`, 60 s by default): every
//! request without a body must connect and get its answer within it (reqwest's
//! `connect_timeout` and `read_timeout` on the client, and `retry`'s per-try
//! bound), and a step stops retrying once it has spent it. A blob upload is different: the timeout is a progress timeout. It
//! fails only when the registry takes no bytes of the body for the timeout (and,
//! once the whole body is handed over, does not answer within the timeout plus
//! the time to drain what the connection may still buffer, at most 8 MiB at
//! 128 KiB/s: those bytes reach the registry at its pace, unseen), so a big blob on a slow link uploads, and one that stalls
//! fails in about one timeout naming the blob and the bytes sent. A request that
//! timed out is not retried: a registry that let a whole timeout pass in silence is
//! not answering, and a retry would only multiply the wait. So a registry that
//! accepts connections and never answers fails in one timeout, with an error naming
//! it, the timeout and `--timeout`.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::auth::Credential;
use super::retry::{from_reqwest, retryable_status, truncate};
pub use super::retry::{gave_up, retry, Attempt, RetryPolicy};
use crate::error::{io_failure, Failure};
use crate::shell::Shell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// What the registry asked for in its `WWW-Authenticate` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// `/v2/` answered 200: anonymous push (as far as the ping can tell).
    None,
    Basic,
    Bearer,
}

/// A registry we have spoken to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub registry: String,
    pub scheme: Scheme,
    pub challenge: Challenge,
    /// The ping's `WWW-Authenticate` header (the Bearer realm is read from it).
    pub www: String,
    /// The client the ping succeeded with: every later request uses it.
    pub http: reqwest::Client,
    /// [`RetryPolicy::timeout`]: the connect timeout.
    pub timeout: Duration,
}

/// Certificates to trust beyond the system's, and whether to skip verification.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// PEM `CERTIFICATE` blocks, one per entry.
    pub extra_roots: Vec<Vec<u8>>,
    pub insecure: bool,
}

/// Whether plain HTTP may be used for `registry` (`host[:port]`).
pub fn allows_plain_http(registry: &str, insecure: bool) -> bool {
    if insecure {
        return true;
    }
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().map(|h| format!("[{h}]"))
    } else {
        registry.split(':').next().map(str::to_string)
    };
    matches!(
        host.as_deref(),
        Some("localhost") | Some("127.0.0.1") | Some("[::1]")
    )
}

/// Read the CA certificates of `--ca-file`. (`SSL_CERT_FILE` and `SSL_CERT_DIR`
/// need nothing here: the system roots are loaded through `rustls-native-certs`,
/// which reads them in place of the distribution's bundle.)
pub fn load_roots(ca_file: Option<&Path>) -> Result<Vec<Vec<u8>>> {
    match ca_file {
        Some(p) => read_pem_certs(p, "--ca-file"),
        None => Ok(Vec::new()),
    }
}

fn read_pem_certs(path: &Path, flag: &str) -> Result<Vec<Vec<u8>>> {
    let text = std::fs::read(path).map_err(|e| io_failure(&format!("read {flag}"), path, &e))?;
    let text = String::from_utf8_lossy(&text);
    let mut out = Vec::new();
    let mut rest = &text[..];
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let block = &rest[start..start + len + END.len()];
        reqwest::Certificate::from_pem(block.as_bytes()).map_err(|e| {
            Failure::new(format!(
                "`{}` ({flag}) holds a certificate that cannot be parsed",
                path.display()
            ))
            .detail(e.to_string())
        })?;
        out.push(format!("{block}\n").into_bytes());
        rest = &rest[start + len + END.len()..];
    }
    if out.is_empty() {
        return Err(Failure::new(format!(
            "`{}` ({flag}) holds no PEM certificate",
            path.display()
        ))
        .help("pass a file with `-----BEGIN CERTIFICATE-----` blocks (the registry's CA)")
        .into());
    }
    Ok(out)
}

/// The only root a plain-HTTP client trusts: a self-signed certificate whose key
/// was thrown away when it was made. No TLS is spoken on such an endpoint, and
/// loading the system store (with `SSL_CERT_DIR` set, hundreds of files) would be
/// most of an unchanged re-push. Should a plain-HTTP registry redirect to HTTPS,
/// verification fails closed.
const PLAIN_HTTP_ROOT: &[u8] = include_bytes!("plain-http-root.pem");

/// Redirects: at most 10, and never from TLS to plain HTTP unless `--insecure`
/// (reqwest already drops `Authorization` when the origin changes).
fn redirects(insecure: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |a| {
        if a.previous().len() >= 10 {
            return a.error("more than 10 redirects");
        }
        let from_tls = a.previous().last().is_some_and(|u| u.scheme() == "https");
        if from_tls && a.url().scheme() == "http" && !insecure {
            let to = a.url().clone();
            return a.error(format!(
                "refused a redirect from TLS to plain HTTP ({}); pass --insecure to follow it",
                to.origin().ascii_serialization()
            ));
        }
        a.follow()
    })
}

/// A client for `scheme`: the ping's, then every request of the push (and a token
/// service's). `Scheme::Http` gets one that trusts no certificate at all: it never
/// does TLS, and loading the system's roots costs milliseconds. No read timeout:
/// reqwest would count a blob's whole upload in it; every request runs inside
/// `retry`, whose deadline bounds it, body included (or, for an upload, the
/// progress of its body).
pub fn http_client(tls: &Tls, scheme: Scheme, timeout: Duration) -> Result<reqwest::Client> {
    let b = reqwest::Client::builder()
        .connect_timeout(timeout)
        .redirect(redirects(tls.insecure))
        .user_agent(concat!("cargo-slim/", env!("CARGO_PKG_VERSION")));
    if scheme == Scheme::Http {
        let placeholder = reqwest::Certificate::from_pem(PLAIN_HTTP_ROOT)?;
        return Ok(b.tls_certs_only([placeholder]).build()?);
    }
    let mut b = b.tls_danger_accept_invalid_certs(tls.insecure);
    let mut certs = Vec::new();
    for pem in &tls.extra_roots {
        certs.push(reqwest::Certificate::from_pem(pem)?);
    }
    if !certs.is_empty() {
        b = b.tls_certs_merge(certs);
    }
    Ok(b.build()?)
}

/// In which order the ping tries the schemes for `registry`, and why: the words
/// used in the progress label, the verbose line and the error.
fn scheme_plan(registry: &str, tls: &Tls, insecure: bool) -> (&'static [Scheme], &'static str) {
    let loopback = allows_plain_http(registry, false);
    // Loopback speaks plain HTTP more often than not, and a probe carries no
    // secret: ask in HTTP first there (unless a CA was given: then TLS is meant).
    // Elsewhere TLS comes first, and HTTP only with --insecure.
    if loopback && tls.extra_roots.is_empty() {
        (
            &[Scheme::Http, Scheme::Https],
            "http first (a loopback registry; a local one mostly speaks plain HTTP), then https",
        )
    } else if loopback {
        (
            &[Scheme::Https, Scheme::Http],
            "https first (TLS is the default, and --ca-file was given), then http (allowed for a loopback registry)",
        )
    } else if insecure {
        (
            &[Scheme::Https, Scheme::Http],
            "https first (TLS is the default), then http (--insecure) if the server does not speak TLS",
        )
    } else {
        (
            &[Scheme::Https],
            "https only (TLS is the default; plain HTTP needs --insecure)",
        )
    }
}

/// Ping `/v2/` and settle the scheme, the auth challenge, and (for Basic auth) the
/// credentials.
pub async fn ping(
    registry: &str,
    tls: &Tls,
    insecure: bool,
    cred: Option<&Credential>,
    policy: &RetryPolicy,
    shell: &Shell,
) -> Result<Endpoint> {
    let clients = Clients::new(tls, policy.timeout)?;
    let (order, plan) = scheme_plan(registry, tls, insecure);
    let (scheme, status, www) =
        discover(&clients, registry, order, plan, insecure, policy, shell).await?;
    let base = format!("{}://{registry}", scheme.as_str());
    shell.verbose(
        "Ping",
        format!(
            "{base}/v2/ → {} ({})",
            status_text(status),
            why_scheme(scheme, order[0] == scheme, insecure)
        ),
    );
    let challenge = challenge_of(registry, &base, status, &www)?;
    let endpoint = Endpoint {
        registry: registry.to_string(),
        scheme,
        challenge,
        www,
        http: clients.get(scheme).await?.clone(),
        timeout: policy.timeout,
    };
    if challenge == Challenge::None {
        return Ok(endpoint);
    }
    let Some(cred) = cred else {
        return Err(Failure::new(format!(
            "{registry} requires authentication (401 Unauthorized) and no credentials were found"
        ))
        .help("log in with `docker login` or `podman login`, or set CARGO_SLIM_REGISTRY_USERNAME and CARGO_SLIM_REGISTRY_PASSWORD")
        .into());
    };
    if challenge == Challenge::Basic {
        check_basic(&endpoint, &base, cred, policy, shell).await?;
    }
    Ok(endpoint)
}

/// The ping's clients: the plain-HTTP one made up front (it trusts no root, so
/// it is cheap), the TLS one only once a scheme needs it.
struct Clients<'a> {
    tls: &'a Tls,
    timeout: Duration,
    plain: reqwest::Client,
    secure: tokio::sync::OnceCell<reqwest::Client>,
}

impl<'a> Clients<'a> {
    fn new(tls: &'a Tls, timeout: Duration) -> Result<Clients<'a>> {
        Ok(Clients {
            tls,
            timeout,
            plain: http_client(tls, Scheme::Http, timeout)?,
            secure: tokio::sync::OnceCell::new(),
        })
    }

    async fn get(&self, scheme: Scheme) -> Result<&reqwest::Client> {
        match scheme {
            Scheme::Http => Ok(&self.plain),
            Scheme::Https => {
                self.secure
                    .get_or_try_init(|| async {
                        http_client(self.tls, Scheme::Https, self.timeout)
                    })
                    .await
            }
        }
    }
}

/// Scheme discovery: `GET /v2/` by the schemes of `order` in turn, retried as
/// one step. Out: the scheme that answered, its status and `WWW-Authenticate`.
async fn discover(
    clients: &Clients<'_>,
    registry: &str,
    order: &[Scheme],
    plan: &str,
    insecure: bool,
    policy: &RetryPolicy,
    shell: &Shell,
) -> Result<(Scheme, u16, String)> {
    let allow_http = allows_plain_http(registry, insecure);
    let found = retry(
        policy,
        &format!("GET /v2/ of {registry} (trying {plan})"),
        shell,
        Attempt::clone,
        || probe(clients, registry, order),
    )
    .await
    .map_err(|g| {
        let plain_help = !allow_http && !g.last.certificate && !g.last.refused && !g.last.timed_out;
        let mut f = gave_up(g, "reach the registry", registry)
            .detail(format!("schemes: {plan}"));
        if plain_help {
            f = f.help(format!(
                "if {registry} serves plain HTTP, pass --insecure (only localhost, 127.0.0.1 and [::1] may use HTTP without it)"
            ));
        }
        f
    })?;
    Ok(found)
}

/// One try of the ping: each scheme of `order` until one answers.
async fn probe(
    clients: &Clients<'_>,
    registry: &str,
    order: &[Scheme],
) -> std::result::Result<(Scheme, u16, String), Attempt> {
    // Per scheme tried: what went wrong.
    let mut errors: Vec<(Scheme, Attempt)> = Vec::new();
    let mut found = None;
    for &scheme in order {
        let url = format!("{}://{registry}/v2/", scheme.as_str());
        let client = clients
            .get(scheme)
            .await
            .map_err(|e| Attempt::fatal(e.to_string()))?;
        match client.get(&url).send().await {
            Ok(r) if scheme == Scheme::Http && is_http_to_https(&r) => continue,
            Ok(r) => {
                found = Some(status_of(scheme, r));
                break;
            }
            Err(e) => {
                let a = from_reqwest(&e);
                // Nothing listens, TLS spoke and failed, or nothing answers
                // at all: no other scheme helps.
                let stop = a.refused || a.certificate || a.timed_out;
                errors.push((scheme, a));
                if stop {
                    break;
                }
            }
        }
    }
    let Some((scheme, status, www)) = found else {
        return Err(no_answer(registry, errors));
    };
    if retryable_status(status) {
        return Err(busy(
            status,
            &format!("{}://{registry}/v2/", scheme.as_str()),
        ));
    }
    Ok((scheme, status, www))
}

/// The failure of a try where no scheme answered: the flags of the TLS error
/// (it says more: certificate, handshake), the words of every scheme tried, each
/// named.
fn no_answer(registry: &str, mut errors: Vec<(Scheme, Attempt)>) -> Attempt {
    if errors.is_empty() {
        return Attempt::fatal(format!(
            "{registry} answered plain HTTP with \"400 Client sent an HTTP request to an HTTPS server\", and TLS was not tried"
        ));
    }
    let message = errors
        .iter()
        .map(|(s, a)| format!("{}: {}", s.as_str(), a.message))
        .collect::<Vec<_>>()
        .join("; then ");
    let pick = errors
        .iter()
        .position(|(s, _)| *s == Scheme::Https)
        .unwrap_or(0);
    let (_, a) = errors.swap_remove(pick);
    Attempt { message, ..a }
}

/// A 429 or 5xx answer from `url`: worth another try.
fn busy(status: u16, url: &str) -> Attempt {
    Attempt {
        retryable: true,
        ..Attempt::fatal(format!("{} from {url}", status_text(status)))
    }
}

/// Why the ping settled on `scheme` (`first`: the first one tried).
fn why_scheme(scheme: Scheme, first: bool, insecure: bool) -> &'static str {
    match (scheme, first) {
        (Scheme::Http, true) => "plain HTTP, tried first on a loopback registry",
        (Scheme::Https, true) => "TLS, the default",
        (Scheme::Https, false) => "TLS: plain HTTP was answered with \"400 Client sent an HTTP request to an HTTPS server\"",
        (Scheme::Http, false) if insecure => "plain HTTP: https failed, and --insecure allows HTTP",
        (Scheme::Http, false) => "plain HTTP: https failed, and a loopback registry may use HTTP",
    }
}

/// Challenge parsing: what the ping's answer (`status`, `WWW-Authenticate`
/// `www`) asks for, or an error when it is no registry's answer or asks for a
/// kind of authentication we do not speak.
fn challenge_of(registry: &str, base: &str, status: u16, www: &str) -> Result<Challenge> {
    match status {
        200..=299 => Ok(Challenge::None),
        401 => {
            let w = www.to_ascii_lowercase();
            if w.starts_with("bearer") {
                Ok(Challenge::Bearer)
            } else if w.starts_with("basic") {
                Ok(Challenge::Basic)
            } else {
                Err(Failure::new(format!(
                    "{registry} asks for an unsupported kind of authentication"
                ))
                .detail(format!("WWW-Authenticate: {}", truncate(www, 200)))
                .into())
            }
        }
        s => Err(Failure::new(format!(
            "{base}/v2/ answered {}: this does not look like an OCI registry",
            status_text(s)
        ))
        .help("check the registry address in the image reference")
        .into()),
    }
}

/// The Basic check: `GET /v2/` again with the credentials, so a wrong password
/// fails here, once, before anything is sent.
async fn check_basic(
    endpoint: &Endpoint,
    base: &str,
    cred: &Credential,
    policy: &RetryPolicy,
    shell: &Shell,
) -> Result<()> {
    let url = &format!("{base}/v2/");
    let client = &endpoint.http;
    let status = retry(
        policy,
        &format!("GET {url} (with credentials)"),
        shell,
        Attempt::clone,
        || async move {
            let r = client
                .get(url)
                .basic_auth(&cred.username, Some(cred.password.expose()))
                .send()
                .await
                .map_err(|e| from_reqwest(&e))?;
            let s = r.status().as_u16();
            if retryable_status(s) {
                return Err(busy(s, url));
            }
            Ok(s)
        },
    )
    .await
    .map_err(|g| gave_up(g, "log in", base))?;
    if status == 401 || status == 403 {
        return Err(rejected(&endpoint.registry, cred, status).into());
    }
    Ok(())
}

/// A plain client for unit tests (ring installed as the crypto provider first).
#[cfg(test)]
pub(crate) fn test_http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// The registry refused our credentials.
pub fn rejected(registry: &str, cred: &Credential, status: u16) -> Failure {
    Failure::new(format!(
        "{registry} rejected the credentials of user `{}` ({})",
        cred.username,
        status_text(status)
    ))
    .detail(format!("credentials from: {}", cred.source))
    .help("check the password (`docker login`/`podman login` again), or set CARGO_SLIM_REGISTRY_USERNAME and CARGO_SLIM_REGISTRY_PASSWORD")
}

fn status_of(scheme: Scheme, r: reqwest::Response) -> (Scheme, u16, String) {
    let www = r
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (scheme, r.status().as_u16(), www)
}

/// Go's TLS servers answer a plain-HTTP request with this 400.
fn is_http_to_https(r: &reqwest::Response) -> bool {
    r.status() == reqwest::StatusCode::BAD_REQUEST
        && r.headers().get(reqwest::header::WWW_AUTHENTICATE).is_none()
}

pub fn status_text(code: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{code} {reason}").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_names_or_insecure() {
        for (r, want) in [
            ("localhost", true),
            ("localhost:5000", true),
            ("127.0.0.1:39999", true),
            ("[::1]:5000", true),
            ("[::1]", true),
            ("ghcr.io", false),
            ("localhost.example.com:5000", false),
            ("127.0.0.2:5000", false),
            ("10.0.0.1:5000", false),
        ] {
            assert_eq!(allows_plain_http(r, false), want, "{r}");
            assert!(allows_plain_http(r, true));
        }
    }

    #[test]
    fn scheme_plans_say_why() {
        let tls = Tls::default();
        let (order, why) = scheme_plan("127.0.0.1:5000", &tls, false);
        assert_eq!(order, [Scheme::Http, Scheme::Https]);
        assert!(why.starts_with("http first (a loopback registry"), "{why}");
        let (order, why) = scheme_plan("ghcr.io", &tls, false);
        assert_eq!(order, [Scheme::Https]);
        assert!(why.contains("TLS is the default") && why.contains("--insecure"));
        let (order, why) = scheme_plan("r.example:5000", &tls, true);
        assert_eq!(order, [Scheme::Https, Scheme::Http]);
        assert!(why.contains("then http (--insecure)"), "{why}");
        let ca = Tls {
            extra_roots: vec![b"pem".to_vec()],
            insecure: false,
        };
        let (order, why) = scheme_plan("localhost:5000", &ca, false);
        assert_eq!(order, [Scheme::Https, Scheme::Http]);
        assert!(
            why.contains("--ca-file") && why.contains("loopback"),
            "{why}"
        );
    }

    #[test]
    fn pem_blocks_are_split() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("none.pem");
        std::fs::write(&p, "not a cert").unwrap();
        let e = read_pem_certs(&p, "--ca-file").unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
    }
}
