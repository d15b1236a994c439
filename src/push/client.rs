//! The registry's HTTP API for one repository: the requests a push makes, and the
//! caps on what it reads back.
//!
//! In: the [`Endpoint`] the ping settled (scheme, client), the repository, an
//! [`Authorizer`]. Out: plain answers — whether a blob is there, a manifest's digest
//! or bytes, the referrers of a digest — or an [`Attempt`] saying why not, for
//! [`mod@super::retry`] to judge. Why our own, on the same `reqwest` the ping uses: every
//! body a registry sends is read with a cap and the read stops there — a document
//! (manifest, index, referrers, token) at `MAX_DOCUMENT` (4 MiB), the body of an error at
//! `MAX_ERROR_BODY` (4 KiB) — so a registry that answers with gigabytes, or forever, costs
//! a bounded amount of memory; credentials go only where [`Authorizer::apply`] lets
//! them; an upload `Location` that leaves TLS for plain HTTP is refused; and every
//! request, its answer's body included, runs inside the caller's retry, whose
//! deadline bounds it.

use bytes::Bytes;
use reqwest::{header, Method, Url};
use serde_json::Value;

use super::body::{failure, read_capped, MAX_DOCUMENT};
use super::retry::{from_reqwest, truncate, Attempt};
use super::token::Authorizer;
use super::transport::{status_text, Endpoint};

// The referrers index media type (`Accept` of the referrers API and tag).
use crate::oci::media::MEDIA_TYPE_INDEX as INDEX;

/// Requests on one repository of one registry.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    /// `scheme://registry`
    base: Url,
    repository: String,
    auth: Authorizer,
}

impl Client {
    pub fn new(endpoint: &Endpoint, repository: &str, auth: Authorizer) -> anyhow::Result<Client> {
        Ok(Client {
            http: endpoint.http.clone(),
            base: Url::parse(&format!(
                "{}://{}/",
                endpoint.scheme.as_str(),
                endpoint.registry
            ))?,
            repository: repository.to_string(),
            auth,
        })
    }

    pub fn authorizer(&self) -> &Authorizer {
        &self.auth
    }

    /// `/v2/<repository>/<rest>` on the registry.
    fn url(&self, rest: &str) -> Url {
        let mut u = self.base.clone();
        u.set_path(&format!("/v2/{}/{rest}", self.repository));
        u
    }

    /// Send what `build` makes (called again for a second try), with credentials. A
    /// 401 from a Bearer registry (an expired token) fetches a new token and tries
    /// once more.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Attempt> {
        let go = || {
            let rb = build(self.http.request(method.clone(), url.clone()));
            self.auth.apply(rb, url).send()
        };
        // reqwest's errors end in the full URL: an upload's query (the registry's
        // state, a storage signature) is left out of what the user reads.
        let failed = |e: reqwest::Error| {
            let mut a = from_reqwest(&e.without_url());
            a.message = format!("{method} {}: {}", without_query(url), a.message);
            a
        };
        let mut r = go().await.map_err(failed)?;
        if r.status() == reqwest::StatusCode::UNAUTHORIZED && self.auth.refresh().await? {
            drop(r);
            r = go().await.map_err(failed)?;
        }
        // A write that was redirected (a 303 turns a PUT into a bodiless GET) did
        // not write: its 200 must not pass for the registry's 201.
        if method != Method::GET && method != Method::HEAD && r.url() != url {
            return Err(Attempt::fatal(format!(
                "{method} {} was redirected to {}: a registry takes a write where it was sent",
                without_query(url),
                without_query(r.url())
            )));
        }
        Ok(r)
    }

    /// `HEAD /blobs/<digest>`: whether the registry has the blob.
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, Attempt> {
        let url = self.url(&format!("blobs/{digest}"));
        let r = self.send(Method::HEAD, &url, |rb| rb).await?;
        match r.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(failure(r, &format!("HEAD {url}")).await),
        }
    }

    /// Upload one blob: `POST /blobs/uploads/` opens a session, one `PUT` of the
    /// whole body (`body` makes it, again for a second try) closes it.
    pub async fn upload_blob(
        &self,
        digest: &str,
        size: u64,
        body: impl Fn() -> reqwest::Body,
    ) -> Result<(), Attempt> {
        let start = self.url("blobs/uploads/");
        let r = self
            .send(Method::POST, &start, |rb| {
                rb.header(header::CONTENT_LENGTH, 0)
            })
            .await?;
        if !r.status().is_success() {
            return Err(failure(r, &format!("POST {start}")).await);
        }
        let location = r
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Attempt::fatal(format!(
                    "POST {start} answered {} without the `Location` of the upload",
                    status_text(r.status().as_u16())
                ))
            })?;
        let mut url = self.location(&start, location)?;
        url.query_pairs_mut().append_pair("digest", digest);
        let r = self
            .send(Method::PUT, &url, |rb| {
                rb.header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_LENGTH, size)
                    .body(body())
            })
            .await?;
        if !r.status().is_success() {
            return Err(failure(r, &format!("PUT {}", without_query(&url))).await);
        }
        Ok(())
    }

    /// Where an upload continues: `location` resolved against `from`; leaving TLS
    /// for plain HTTP is refused (the blob and, on the registry's own host, the
    /// credentials would travel in clear).
    fn location(&self, from: &Url, location: &str) -> Result<Url, Attempt> {
        let url = from.join(location).map_err(|e| {
            Attempt::fatal(format!(
                "the upload `Location` `{}` is not a URL: {e}",
                truncate(location, 200)
            ))
        })?;
        match (from.scheme(), url.scheme()) {
            ("https", "https") | ("http", "http") | ("http", "https") => Ok(url),
            ("https", "http") => Err(Attempt::fatal(format!(
                "refusing the upload `Location` `{}`: it leaves TLS for plain HTTP",
                without_query(&url)
            ))),
            (_, other) => Err(Attempt::fatal(format!(
                "the upload `Location` has the scheme `{other}`"
            ))),
        }
    }

    /// `PUT /manifests/<reference>` of `bytes`, exactly as given.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), Attempt> {
        let url = self.url(&format!("manifests/{reference}"));
        let body = Bytes::copy_from_slice(bytes);
        let r = self
            .send(Method::PUT, &url, |rb| {
                rb.header(header::CONTENT_TYPE, media_type)
                    .body(body.clone())
            })
            .await?;
        if !r.status().is_success() {
            return Err(failure(r, &format!("PUT {url}")).await);
        }
        Ok(())
    }

    /// The digest `reference` (a tag) points at, `None` when there is no such tag:
    /// the `Docker-Content-Digest` of a HEAD, else the sha256 of the document.
    pub async fn manifest_digest(
        &self,
        reference: &str,
        accept: &str,
    ) -> Result<Option<String>, Attempt> {
        let url = self.url(&format!("manifests/{reference}"));
        let r = self
            .send(Method::HEAD, &url, |rb| rb.header(header::ACCEPT, accept))
            .await?;
        match r.status().as_u16() {
            200..=299 => {}
            404 => return Ok(None),
            _ => return Err(failure(r, &format!("HEAD {url}")).await),
        }
        let said = r
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(d) = said {
            return Ok(Some(d));
        }
        Ok(self
            .manifest(reference, accept)
            .await?
            .map(|b| crate::digest::sha256_digest(&b)))
    }

    /// `GET /manifests/<reference>`, at most `MAX_DOCUMENT` (4 MiB) bytes; `None`: 404.
    pub async fn manifest(
        &self,
        reference: &str,
        accept: &str,
    ) -> Result<Option<Vec<u8>>, Attempt> {
        let url = self.url(&format!("manifests/{reference}"));
        self.document(&url, accept).await
    }

    /// `GET /blobs/<digest>`: a small blob (a signature payload, an attestation),
    /// at most `MAX_DOCUMENT` bytes and checked against its digest; `None`: 404.
    pub async fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>, Attempt> {
        let url = self.url(&format!("blobs/{digest}"));
        let Some(bytes) = self.document(&url, "*/*").await? else {
            return Ok(None);
        };
        let got = crate::digest::sha256_digest(&bytes);
        if got != digest {
            return Err(Attempt::fatal(format!(
                "GET {url}: the registry sent a blob whose digest is {got}"
            )));
        }
        Ok(Some(bytes))
    }

    /// The digests the registry lists as referrers of `subject`: its referrers API,
    /// else (a 404 there) what the referrers tag `sha256-<hex>` holds.
    pub async fn referrers(&self, subject: &str) -> Result<Vec<String>, Attempt> {
        let url = self.url(&format!("referrers/{subject}"));
        let doc = match self.document(&url, INDEX).await? {
            Some(d) => d,
            None => match self.manifest(&subject.replacen(':', "-", 1), INDEX).await? {
                Some(d) => d,
                None => return Ok(Vec::new()),
            },
        };
        referrer_digests(&doc).map_err(|e| Attempt::fatal(format!("{url}: {e}")))
    }

    /// A document at `url`, capped; `None` for a 404.
    async fn document(&self, url: &Url, accept: &str) -> Result<Option<Vec<u8>>, Attempt> {
        let r = self
            .send(Method::GET, url, |rb| rb.header(header::ACCEPT, accept))
            .await?;
        match r.status().as_u16() {
            200..=299 => Ok(Some(read_capped(r, MAX_DOCUMENT, url.as_str()).await?)),
            404 => Ok(None),
            _ => Err(failure(r, &format!("GET {url}")).await),
        }
    }
}

/// The `manifests[].digest` of an image index (a referrers list).
pub fn referrer_digests(doc: &[u8]) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_slice(doc).map_err(|e| format!("not JSON: {e}"))?;
    let Some(list) = v.get("manifests").and_then(Value::as_array) else {
        return Err("not an image index (no `manifests` list)".into());
    };
    Ok(list
        .iter()
        .filter_map(|m| m.get("digest").and_then(Value::as_str).map(str::to_string))
        .collect())
}

/// `url` without its query (an upload URL's query holds the registry's state).
fn without_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrer_lists_and_error_bodies_are_read() {
        let d = referrer_digests(
            br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:a"},{"digest":"sha256:b"}]}"#,
        )
        .unwrap();
        assert_eq!(d, ["sha256:a", "sha256:b"]);
        assert!(referrer_digests(b"{}").is_err());
        assert!(referrer_digests(b"[").is_err());
    }

    #[test]
    fn an_upload_location_may_not_leave_tls() {
        let ep = Endpoint {
            registry: "r.example:5000".into(),
            scheme: super::super::transport::Scheme::Https,
            challenge: super::super::transport::Challenge::None,
            www: String::new(),
            http: super::super::transport::test_http(),
            timeout: std::time::Duration::from_secs(1),
        };
        let auth = Authorizer::new(&ep, "app", None, false, |_| {
            Ok(super::super::transport::test_http())
        })
        .unwrap();
        let c = Client::new(&ep, "app", auth).unwrap();
        let from = c.url("blobs/uploads/");
        assert_eq!(
            from.as_str(),
            "https://r.example:5000/v2/app/blobs/uploads/"
        );
        let rel = c
            .location(&from, "/v2/app/blobs/uploads/u1?_state=x")
            .unwrap();
        assert_eq!(
            rel.as_str(),
            "https://r.example:5000/v2/app/blobs/uploads/u1?_state=x"
        );
        let e = c
            .location(
                &from,
                "http://r.example:5000/v2/app/blobs/uploads/u1?_state=x",
            )
            .unwrap_err();
        assert!(e.message.contains("leaves TLS"), "{}", e.message);
        assert!(!e.message.contains("_state"), "{}", e.message);
        assert!(c.location(&from, "file:///etc/passwd").is_err());
    }
}
