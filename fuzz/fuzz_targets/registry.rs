//! What a registry sends back: the `WWW-Authenticate` challenge, a token service's
//! answer, a referrers list. Each parser must give a value or an error for any
//! bytes, never panic (the network readers cap the bytes before they get here).
#![no_main]

use cargo_slim::push::client::referrer_digests;
use cargo_slim::push::token::{parse_challenge, parse_token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_token(data);
    let _ = referrer_digests(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = parse_challenge(text) {
            let _ = c.get("realm");
        }
    }
});
