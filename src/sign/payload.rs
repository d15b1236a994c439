//! cosign's simple-signing payload: the bytes an image signature signs.
//!
//! In: the image's repository (the claimed identity) and manifest digest, and
//! optional annotations; or payload bytes read back. Out: the payload, byte for
//! byte as cosign writes it; or the parsed payload, checked against a digest.
//!
//! ```text
//! {"critical":{"identity":{"docker-reference":"REPO"},"image":{"docker-manifest-digest":"sha256:…"},"type":"cosign container image signature"},"optional":null}
//! ```
//!
//! Source: sigstore/sigstore `pkg/signature/payload/payload.go` (`Cosign.MarshalJSON`,
//! Go's `encoding/json` over the `SimpleContainerImage` struct), called by cosign's
//! `cmd/cosign/cli/sign/sign.go`. From there: fields in struct order; `optional` is
//! Go's `map[string]any`, `null` when no annotation is given (cosign's
//! `AnnotationsMap` stays nil without `-a`), else an object with its keys sorted;
//! strings escaped as Go does — `<`, `>`, `&`, U+2028 and U+2029 as `\u003c`-style
//! escapes besides JSON's own (Go 1.22+ writes `\b` and `\f` as serde_json does).
//! `docker-reference` is the repository without tag or digest (go-containerregistry's
//! `Repository.Name()`, e.g. `ghcr.io/acme/app`; Docker Hub as `index.docker.io/...`):
//! the caller passes it as it should read.
//! Why byte-exact: the signature covers these bytes, and `cosign verify` compares
//! its own reading of them; the same bytes as cosign also make a re-sign of an
//! unchanged image a no-op.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::Failure;

/// `critical.type` of a cosign image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";
/// Larger payloads are refused unread: cosign's own are a few hundred bytes.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// The payload for the manifest `digest` (`sha256:<hex>`) of the image in
/// repository `reference`, with `annotations` (cosign's `-a KEY=VALUE`) in
/// `optional` when there are any.
pub fn payload(
    reference: &str,
    digest: &str,
    annotations: Option<&BTreeMap<String, String>>,
) -> Result<Vec<u8>, Failure> {
    check_digest_form(digest)?;
    let optional = match annotations {
        None => "null".to_string(),
        Some(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", go_string(k), go_string(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
    };
    Ok(format!(
        r#"{{"critical":{{"identity":{{"docker-reference":{}}},"image":{{"docker-manifest-digest":{}}},"type":{}}},"optional":{optional}}}"#,
        go_string(reference),
        go_string(digest),
        go_string(SIGNATURE_TYPE),
    )
    .into_bytes())
}

/// A payload read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// `critical.identity.docker-reference`.
    pub reference: String,
    /// `critical.image.docker-manifest-digest`, a well-formed `sha256:<hex>`.
    pub digest: String,
    /// `optional`: `None` for `null` or absent.
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct Doc {
    critical: Critical,
    #[serde(default)]
    optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Parse payload bytes: a cosign image signature with a well-formed digest.
pub fn parse(bytes: &[u8]) -> Result<Payload, Failure> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(Failure::new(format!(
            "the signed payload is {} bytes: more than the {MAX_PAYLOAD} a cosign signature payload may have",
            bytes.len()
        )));
    }
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| {
        Failure::new(format!(
            "the signed payload is not a cosign signature payload: {e}"
        ))
    })?;
    if doc.critical.kind != SIGNATURE_TYPE {
        return Err(Failure::new(format!(
            "the signed payload is of type `{}`, not `{SIGNATURE_TYPE}`",
            doc.critical.kind
        )));
    }
    check_digest_form(&doc.critical.image.docker_manifest_digest)?;
    Ok(Payload {
        reference: doc.critical.identity.docker_reference,
        digest: doc.critical.image.docker_manifest_digest,
        annotations: doc.optional,
    })
}

impl Payload {
    /// Refuse a payload signed for another image than the one with `digest`.
    pub fn check_digest(&self, digest: &str) -> Result<(), Failure> {
        if self.digest == digest {
            Ok(())
        } else {
            Err(
                Failure::new(format!("the signature is for {}, not for {digest}", self.digest))
                    .detail("a signature of another image (or of this tag before it moved) proves nothing about this one"),
            )
        }
    }
}

/// `sha256:` and 64 lowercase hex digits, or an error.
fn check_digest_form(digest: &str) -> Result<(), Failure> {
    match crate::digest::sha256_hex_of(digest) {
        Some(_) => Ok(()),
        None => Err(Failure::new(format!(
            "`{digest}` is not a manifest digest (sha256: and 64 lowercase hex digits)"
        ))),
    }
}

/// A JSON string as Go's `encoding/json` writes it (HTML-safe escapes included).
fn go_string(s: &str) -> String {
    let json = serde_json::Value::from(s).to_string();
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json;
    }
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:a2b6e3a4e7ef3e0fc2a3b9f0c0b0e6d0f3e1d2c4b5a6978877665544332211ff";

    #[test]
    fn the_payload_is_cosigns_bytes() {
        let got = payload("ghcr.io/acme/app", DIGEST, None).unwrap();
        let want = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"ghcr.io/acme/app"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":null}}"#
        );
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }

    #[test]
    fn annotations_are_sorted_and_escaped_as_go_does() {
        let ann = BTreeMap::from([
            ("z".to_string(), "last".to_string()),
            ("GIT_HASH".to_string(), "<a&b>\u{2028}\n\"\\".to_string()),
            ("a".to_string(), "first".to_string()),
        ]);
        let got = String::from_utf8(payload("r/app", DIGEST, Some(&ann)).unwrap()).unwrap();
        assert!(
            got.ends_with(
                r#""optional":{"GIT_HASH":"\u003ca\u0026b\u003e\u2028\n\"\\","a":"first","z":"last"}}"#
            ),
            "{got}"
        );
        // An empty map is `{}` (Go's non-nil empty map), not `null`.
        let empty =
            String::from_utf8(payload("r/app", DIGEST, Some(&BTreeMap::new())).unwrap()).unwrap();
        assert!(empty.ends_with(r#""optional":{}}"#), "{empty}");
        let back = parse(got.as_bytes()).unwrap();
        assert_eq!(back.annotations.unwrap()["GIT_HASH"], "<a&b>\u{2028}\n\"\\");
    }

    #[test]
    fn a_payload_reads_back_and_checks_its_digest() {
        let bytes = payload("localhost:5000/app", DIGEST, None).unwrap();
        let p = parse(&bytes).unwrap();
        assert_eq!(p.reference, "localhost:5000/app");
        assert_eq!(p.digest, DIGEST);
        assert_eq!(p.annotations, None);
        p.check_digest(DIGEST).unwrap();
        let other = format!("sha256:{}", "0".repeat(64));
        let e = p.check_digest(&other).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("is for {DIGEST}, not for {other}")),
            "{e}"
        );
    }

    #[test]
    fn foreign_or_broken_payloads_are_refused() {
        let good = String::from_utf8(payload("r/app", DIGEST, None).unwrap()).unwrap();
        let typed = good.replace(SIGNATURE_TYPE, "atomic container signature");
        assert!(parse(typed.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("atomic"));
        let bad_digest = good.replace(DIGEST, "sha256:ABC");
        assert!(parse(bad_digest.as_bytes()).is_err());
        for cut in [0, 1, good.len() / 2, good.len() - 1] {
            assert!(parse(&good.as_bytes()[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse(b"null").is_err());
        assert!(parse(&vec![b' '; MAX_PAYLOAD + 1]).is_err());
        assert!(payload("r/app", "sha256:short", None).is_err());
        assert!(payload("r/app", &DIGEST.to_uppercase(), None).is_err());
    }
}
