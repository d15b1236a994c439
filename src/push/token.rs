//! Who a request is from: nobody, Basic credentials, or a Bearer token fetched from
//! the registry's token service.
//!
//! In: the ping's `WWW-Authenticate` challenge, the credential found by [`super::auth`],
//! the repository. Out: an [`Authorizer`] that puts the right `Authorization` header
//! on requests to the registry — and on no other origin. Why its own module: this
//! is where a password leaves the process, so the rules live in one place:
//!
//! - the token service (the challenge's `realm`) must be HTTPS when the registry was
//!   reached over TLS: a plain-HTTP realm would get the password in clear, so it is
//!   refused before any request, naming the realm; `--insecure` is the only way past;
//! - a plain-HTTP realm is otherwise allowed only where plain HTTP is (a loopback host
//!   of a loopback registry spoken to in plain HTTP);
//! - credentials go only to the registry's own origin (scheme, host and port) and to
//!   that realm: an upload `Location` elsewhere gets no `Authorization`;
//! - the token service's answer is read with a cap, and the token is a [`Secret`].
//!
//! A token that expires mid-push (a 401 from the registry) is fetched again once.

use std::sync::Mutex;

use reqwest::Url;

use super::auth::{Credential, Secret};
use super::body::{failure, read_capped, MAX_DOCUMENT};
use super::retry::{from_reqwest, Attempt};
use super::transport::{allows_plain_http, status_text, Challenge, Endpoint, Scheme};
use crate::error::Failure;

/// The parameters of a `WWW-Authenticate` challenge: its scheme (lowercase) and its
/// `key=value` pairs (keys lowercase, quoted values unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeParams {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl ChallengeParams {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parse one challenge (RFC 9110 `auth-scheme 1*SP auth-param *( "," auth-param )`),
/// e.g. `Bearer realm="https://auth.example/token",service="registry"`.
pub fn parse_challenge(header: &str) -> Result<ChallengeParams, String> {
    let header = header.trim();
    let (scheme, mut rest) = match header.find(|c: char| c.is_ascii_whitespace()) {
        Some(i) => (&header[..i], header[i..].trim_start()),
        None => (header, ""),
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        return Err("no authentication scheme".into());
    }
    let mut params = Vec::new();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or("a parameter without `=`")?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(format!("a malformed parameter name `{}`", truncate(&key)));
        }
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e)) => v.push(e),
                        None => break,
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => v.push(c),
                }
            }
            let end = end.ok_or("an unterminated quoted value")?;
            value = v;
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        params.push((key, value));
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err("parameters not separated by `,`".into());
        }
    }
    Ok(ChallengeParams {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

fn truncate(s: &str) -> String {
    super::retry::truncate(s, 60)
}

/// The token service of a Bearer challenge, checked: an `http(s)` URL, and plain HTTP
/// only where it cannot expose a secret the registry's own scheme protects.
pub fn check_realm(realm: &str, endpoint: &Endpoint, insecure: bool) -> Result<Url, Failure> {
    let registry = &endpoint.registry;
    let url = Url::parse(realm).map_err(|e| {
        Failure::new(format!(
            "{registry} names a token service that is not a URL: `{}`",
            super::retry::truncate(realm, 200)
        ))
        .detail(e.to_string())
    })?;
    match url.scheme() {
        "https" => return Ok(url),
        "http" => {}
        other => {
            return Err(Failure::new(format!(
                "{registry} names a token service with the scheme `{other}`: `{url}`"
            ))
            .help("a token service is an http(s) URL; check the registry's auth configuration"))
        }
    }
    if insecure {
        return Ok(url);
    }
    let host = url.host_str().unwrap_or("");
    let host_port = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let why = match endpoint.scheme {
        Scheme::Https => format!("{registry} was reached over TLS, but its token service is plain HTTP: the password (and the token) would cross the network in clear"),
        Scheme::Http if allows_plain_http(&host_port, false) => return Ok(url),
        Scheme::Http => "plain HTTP is allowed only for localhost, 127.0.0.1 and [::1] without --insecure".to_string(),
    };
    Err(Failure::new(format!(
        "refusing to ask the token service `{url}` for a token: it is plain HTTP"
    ))
    .detail(why)
    .detail("nothing was sent to it")
    .help(format!(
        "configure {registry}'s token realm as an https:// URL; or, on a network you trust, pass --insecure to send the credentials over plain HTTP"
    )))
}

/// What a request to the registry carries.
#[derive(Debug)]
pub struct Authorizer {
    kind: Kind,
    /// The registry's origin: credentials go nowhere else.
    origin: Url,
}

#[derive(Debug)]
enum Kind {
    Anonymous,
    Basic(Credential),
    Bearer(Box<Bearer>),
}

#[derive(Debug)]
struct Bearer {
    realm: Url,
    service: Option<String>,
    scope: String,
    cred: Option<Credential>,
    /// A client that speaks the realm's scheme.
    http: reqwest::Client,
    token: Mutex<Option<Secret>>,
}

impl Authorizer {
    /// How requests to `endpoint` for `repository` are authorised. A Bearer
    /// challenge's realm is checked here; no token is fetched yet ([`Authorizer::login`]).
    pub fn new(
        endpoint: &Endpoint,
        repository: &str,
        cred: Option<&Credential>,
        insecure: bool,
        realm_client: impl FnOnce(Scheme) -> anyhow::Result<reqwest::Client>,
    ) -> anyhow::Result<Authorizer> {
        let origin = Url::parse(&format!(
            "{}://{}/",
            endpoint.scheme.as_str(),
            endpoint.registry
        ))?;
        let kind = match (endpoint.challenge, cred) {
            (Challenge::None, _) => Kind::Anonymous,
            (Challenge::Basic, Some(c)) => Kind::Basic(c.clone()),
            (Challenge::Basic, None) => Kind::Anonymous,
            (Challenge::Bearer, cred) => {
                let c = parse_challenge(&endpoint.www).map_err(|e| {
                    Failure::new(format!(
                        "{} sent a Bearer challenge that cannot be read: {e}",
                        endpoint.registry
                    ))
                    .detail(format!(
                        "WWW-Authenticate: {}",
                        super::retry::truncate(&endpoint.www, 200)
                    ))
                })?;
                let Some(realm) = c.get("realm") else {
                    return Err(Failure::new(format!(
                        "{} asks for a Bearer token but names no token service (no `realm`)",
                        endpoint.registry
                    ))
                    .into());
                };
                let realm = check_realm(realm, endpoint, insecure)?;
                let scheme = if realm.scheme() == "https" {
                    Scheme::Https
                } else {
                    Scheme::Http
                };
                Kind::Bearer(Box::new(Bearer {
                    http: realm_client(scheme)?,
                    realm,
                    service: c.get("service").map(str::to_string),
                    scope: format!("repository:{repository}:pull,push"),
                    cred: cred.cloned(),
                    token: Mutex::new(None),
                }))
            }
        };
        Ok(Authorizer { kind, origin })
    }

    /// Whether requests carry credentials of any kind.
    pub fn is_anonymous(&self) -> bool {
        matches!(self.kind, Kind::Anonymous)
    }

    /// The token service's URL, for messages (Bearer only).
    pub fn realm(&self) -> Option<&Url> {
        match &self.kind {
            Kind::Bearer(b) => Some(&b.realm),
            _ => None,
        }
    }

    /// Fetch the first token (Bearer); nothing to do otherwise. A 401 or 403 from
    /// the token service comes back as an [`Attempt`] whose message starts with it.
    pub async fn login(&self) -> Result<(), Attempt> {
        match &self.kind {
            Kind::Bearer(b) => b.fetch().await,
            _ => Ok(()),
        }
    }

    /// Fetch a new token after the registry answered 401: `false` when that cannot
    /// help (not a Bearer endpoint).
    pub async fn refresh(&self) -> Result<bool, Attempt> {
        match &self.kind {
            Kind::Bearer(b) => b.fetch().await.map(|()| true),
            _ => Ok(false),
        }
    }

    /// `rb` (a request to `url`) with the credentials — only when `url` is on the
    /// registry's origin.
    pub fn apply(&self, rb: reqwest::RequestBuilder, url: &Url) -> reqwest::RequestBuilder {
        if url.origin() != self.origin.origin() {
            return rb;
        }
        match &self.kind {
            Kind::Anonymous => rb,
            Kind::Basic(c) => rb.basic_auth(&c.username, Some(c.password.expose())),
            Kind::Bearer(b) => match &*b.token.lock().unwrap_or_else(|p| p.into_inner()) {
                Some(t) => rb.bearer_auth(t.expose()),
                None => rb,
            },
        }
    }
}

impl Bearer {
    /// `GET realm?service=…&scope=…` with Basic credentials (if any): the token.
    async fn fetch(&self) -> Result<(), Attempt> {
        let mut url = self.realm.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = &self.service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", &self.scope);
        }
        let mut rb = self.http.get(url.clone());
        if let Some(c) = &self.cred {
            rb = rb.basic_auth(&c.username, Some(c.password.expose()));
        }
        let r = rb
            .send()
            .await
            .map_err(|e| from_reqwest(&e.without_url()))?;
        let status = r.status().as_u16();
        let shown = self.realm.as_str();
        if !(200..300).contains(&status) {
            return Err(failure(r, &format!("GET {shown}")).await);
        }
        let body = read_capped(r, MAX_DOCUMENT, shown).await?;
        let token = parse_token(&body).map_err(|e| {
            Attempt::fatal(format!(
                "the token service {shown} answered {} with {e}",
                status_text(status)
            ))
        })?;
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token);
        Ok(())
    }
}

/// The token of a token service's answer (`token`, else `access_token`).
pub fn parse_token(body: &[u8]) -> Result<Secret, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
    }
    // Never quote the body: it is meant to hold a secret.
    let a: Answer =
        serde_json::from_slice(body).map_err(|_| "something that is not JSON".to_string())?;
    a.token
        .filter(|t| !t.is_empty())
        .or(a.access_token.filter(|t| !t.is_empty()))
        .map(Secret::new)
        .ok_or_else(|| "no `token` in its JSON".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn challenges_parse() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.get("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.get("service"), Some("registry.docker.io"));
        assert_eq!(c.get("scope"), Some("repository:a/b:pull"));
        let c = parse_challenge(r#"Basic realm="a \"quoted\" realm", charset=UTF-8"#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.get("realm"), Some(r#"a "quoted" realm"#));
        assert_eq!(c.get("charset"), Some("UTF-8"));
        assert!(parse_challenge("Bearer").unwrap().params.is_empty());
        for bad in [
            "",
            r#"Bearer realm="open"#,
            "Bearer realm",
            r#"Bearer realm="a" service="b""#,
            "=realm",
            "Bearer ,realm=x",
        ] {
            assert!(parse_challenge(bad).is_err(), "{bad:?}");
        }
    }

    fn endpoint(registry: &str, scheme: Scheme) -> Endpoint {
        Endpoint {
            registry: registry.into(),
            scheme,
            challenge: Challenge::Bearer,
            www: String::new(),
            http: super::super::transport::test_http(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_plain_http_realm_is_refused_behind_tls() {
        let tls = endpoint("127.0.0.1:5000", Scheme::Https);
        let e = check_realm("http://127.0.0.1:5462/token", &tls, false).unwrap_err();
        assert!(e.what.contains("http://127.0.0.1:5462/token"), "{}", e.what);
        assert!(format!("{e:?}").contains("over TLS"));
        assert!(check_realm("http://127.0.0.1:5462/token", &tls, true).is_ok());
        assert!(check_realm("https://auth.example/token", &tls, false).is_ok());
        // A loopback registry in plain HTTP may use a loopback realm, not a remote one.
        let plain = endpoint("127.0.0.1:5000", Scheme::Http);
        assert!(check_realm("http://127.0.0.1:5462/token", &plain, false).is_ok());
        assert!(check_realm("http://[::1]:5462/token", &plain, false).is_ok());
        assert!(check_realm("http://auth.example/token", &plain, false).is_err());
        assert!(check_realm("ftp://auth.example/token", &tls, true).is_err());
        assert!(check_realm("not a url", &tls, true).is_err());
    }

    #[test]
    fn credentials_go_only_to_the_registry_origin() {
        let mut ep = endpoint("127.0.0.1:5000", Scheme::Http);
        ep.challenge = Challenge::Basic;
        let cred = Credential {
            username: "alice".into(),
            password: Secret::new("pw"),
            source: "test".into(),
        };
        let a = Authorizer::new(&ep, "app", Some(&cred), false, |_| {
            Ok(super::super::transport::test_http())
        })
        .unwrap();
        let http = super::super::transport::test_http();
        let has_auth = |url: &str| {
            let url = Url::parse(url).unwrap();
            let req = a.apply(http.get(url.clone()), &url).build().unwrap();
            req.headers().contains_key(reqwest::header::AUTHORIZATION)
        };
        assert!(has_auth("http://127.0.0.1:5000/v2/app/blobs/uploads/x"));
        assert!(!has_auth("http://127.0.0.1:5001/v2/app/blobs/uploads/x"));
        assert!(!has_auth("https://127.0.0.1:5000/v2/"));
        assert!(!has_auth("http://elsewhere.example/v2/"));
    }

    #[test]
    fn tokens_are_read_and_never_quoted() {
        assert_eq!(parse_token(br#"{"token":"t1"}"#).unwrap().expose(), "t1");
        assert_eq!(
            parse_token(br#"{"access_token":"t2","expires_in":60}"#)
                .unwrap()
                .expose(),
            "t2"
        );
        let e = parse_token(br#"{"tokn":"S3CRET"}"#).unwrap_err();
        assert!(!e.contains("S3CRET"));
        let e = parse_token(b"S3CRET garbage").unwrap_err();
        assert!(!e.contains("S3CRET"));
    }
}
