//! Reading what a registry answers, with caps.
//!
//! In: a `reqwest` response. Out: its body, at most a cap — a document (manifest,
//! index, referrers list, token answer) at [`MAX_DOCUMENT`], the body of an error at
//! [`MAX_ERROR_BODY`] — or, for an error answer, an [`Attempt`] with its status and
//! what it said. Why: a registry (or something posing as one) may answer with
//! gigabytes, or forever; reading stops at the cap, so such an answer costs a
//! bounded amount of memory, and the caller's retry deadline bounds its time.

use serde_json::Value;

use super::retry::{from_reqwest, retryable_status, truncate, Attempt};
use super::transport::status_text;

/// The most a registry document (manifest, index, referrers list, token answer) may
/// hold: distribution refuses manifests past 4 MiB too.
pub const MAX_DOCUMENT: usize = 4 << 20;
/// The most of an error answer's body that is read (its first line is shown).
pub const MAX_ERROR_BODY: usize = 4 << 10;

/// At most `cap` bytes of `r`'s body; past that (or a `Content-Length` past it) the
/// read stops and the answer is an error naming `url` and the cap.
pub async fn read_capped(
    mut r: reqwest::Response,
    cap: usize,
    url: &str,
) -> Result<Vec<u8>, Attempt> {
    let cap_text = crate::units::human(cap as u64);
    if let Some(n) = r.content_length().filter(|&n| n > cap as u64) {
        return Err(Attempt::fatal(format!(
            "the answer from {url} is {n} bytes, more than the {cap_text} a registry document may hold: not read"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = r
        .chunk()
        .await
        .map_err(|e| from_reqwest(&e.without_url()))?
    {
        if body.len() + chunk.len() > cap {
            return Err(Attempt::fatal(format!(
                "the answer from {url} runs past the {cap_text} a registry document may hold: stopped reading there"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A failed answer as an [`Attempt`]: its status (429 and 5xx retryable), and the
/// first line of at most [`MAX_ERROR_BODY`] of its body — or the registry's error
/// codes when it is the distribution spec's `{"errors":[…]}`.
pub async fn failure(mut r: reqwest::Response, what: &str) -> Attempt {
    let status = r.status().as_u16();
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match r.chunk().await {
            Ok(Some(c)) => body.extend_from_slice(&c[..c.len().min(MAX_ERROR_BODY - body.len())]),
            _ => break,
        }
    }
    drop(r); // the rest is never read: the connection is closed
    let mut message = format!("{} from {what}", status_text(status));
    if let Some(said) = error_summary(&body) {
        message.push_str(&format!(": {}", truncate(&said, 300)));
    }
    Attempt {
        retryable: retryable_status(status),
        ..Attempt::fatal(message)
    }
}

/// What an error body says: the codes and messages of `{"errors":[…]}`, else its
/// first line.
fn error_summary(body: &[u8]) -> Option<String> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let parts: Vec<String> = v
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| {
                let code = e.get("code").and_then(Value::as_str).unwrap_or("");
                let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
                format!("{code}: {msg}")
                    .trim_matches([' ', ':'])
                    .to_string()
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            return Some(parts.join("; "));
        }
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or("").trim();
    (!line.is_empty()).then(|| line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_summarised() {
        assert_eq!(
            error_summary(br#"{"errors":[{"code":"MANIFEST_INVALID","message":"bad"}]}"#)
                .as_deref(),
            Some("MANIFEST_INVALID: bad")
        );
        assert_eq!(
            error_summary(b"upstream died\nsecond line").as_deref(),
            Some("upstream died")
        );
        assert_eq!(error_summary(b""), None);
        // What reaches the terminal holds no escape sequence a registry sent.
        let said =
            error_summary(br#"{"errors":[{"code":"X","message":"\u001b[2Jgone\r"}]}"#).unwrap();
        assert_eq!(super::super::retry::truncate(&said, 300), "X: [2Jgone");
    }
}
