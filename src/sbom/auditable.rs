//! `.dep-v0`: a [`Graph`] → the bytes of the section cargo-auditable embeds.
//!
//! In: the graph of the crates in the binary. Out: zlib-compressed JSON in
//! cargo-auditable's format (`{"packages":[{"name","version","source",
//! "dependencies":[i…],"root":true}…]}`; `kind` omitted means `runtime`, which
//! every listed crate is). Why: Trivy and syft read this section from a binary
//! in an image that has no package database; the strip stage writes it into the
//! ELF in the same pass that removes symbols.

use std::io::Write;

use serde_json::{json, Value};

use super::Graph;

/// The section name scanners look for.
pub const SECTION: &str = ".dep-v0";

/// cargo-auditable's `source` of a package: `crates.io`, `git`, `local`, `registry`.
fn source(download: Option<&str>) -> &'static str {
    match download {
        None => "local",
        Some(d) if d.starts_with("https://crates.io/") => "crates.io",
        Some(d) if d.starts_with("git+") => "git",
        Some(_) => "registry",
    }
}

/// The JSON document, before compression (packages in the graph's order: root first).
pub fn document(graph: &Graph) -> Value {
    let packages: Vec<Value> = graph
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut v = json!({
                "name": p.name,
                "version": p.version,
                "source": source(p.download.as_deref()),
            });
            if !p.depends_on.is_empty() {
                v["dependencies"] = json!(p.depends_on);
            }
            if i == 0 {
                v["root"] = json!(true);
            }
            v
        })
        .collect();
    json!({ "packages": packages })
}

/// The section's bytes: the compact JSON, zlib-compressed.
pub fn section(graph: &Graph) -> Vec<u8> {
    let json = serde_json::to_vec(&document(graph)).unwrap_or_default();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = z.write_all(&json);
    z.finish().unwrap_or_default()
}

/// What a binary's `.dep-v0` section holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Embedded {
    /// Bytes of the section.
    pub bytes: u64,
    /// Packages it lists.
    pub packages: usize,
}

/// Largest decompressed `.dep-v0` read (cargo-auditable's own limit is 8 MiB).
const MAX_JSON: u64 = 8 << 20;

/// The `.dep-v0` section of ELF `elf`: `None` when it has none (or is not an
/// ELF), else what it lists, or why it cannot be read.
pub fn read_embedded(elf: &[u8]) -> Option<Result<Embedded, String>> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(elf).ok()?;
    let section = file.section_by_name(SECTION)?;
    let data = match section.data() {
        Ok(d) => d,
        Err(e) => return Some(Err(format!("the section cannot be read: {e}"))),
    };
    let mut json = Vec::new();
    let unpacked = std::io::Read::read_to_end(
        &mut std::io::Read::take(flate2::read::ZlibDecoder::new(data), MAX_JSON),
        &mut json,
    );
    let parsed = unpacked
        .map_err(|e| format!("it is not zlib data: {e}"))
        .and_then(|_| serde_json::from_slice::<Value>(&json).map_err(|e| e.to_string()));
    Some(parsed.and_then(|v| {
        let packages = v["packages"]
            .as_array()
            .ok_or("it has no `packages` list")?
            .len();
        Ok(Embedded {
            bytes: data.len() as u64,
            packages,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::super::Package;
    use super::*;

    #[test]
    fn section_is_zlib_json_with_one_root() {
        let dep = Package {
            name: "itoa".into(),
            version: "1.0.19".into(),
            license: None,
            download: Some("https://crates.io/api/v1/crates/itoa/1.0.19/download".into()),
            sha256: None,
            depends_on: vec![],
        };
        let root = Package {
            name: "app".into(),
            version: "0.1.0".into(),
            download: None,
            depends_on: vec![1],
            ..dep.clone()
        };
        let g = Graph {
            packages: vec![root, dep],
        };
        let bytes = section(&g);
        let mut json = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&bytes[..]), &mut json)
            .unwrap();
        let v: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            v,
            json!({"packages": [
                {"name": "app", "version": "0.1.0", "source": "local", "dependencies": [1], "root": true},
                {"name": "itoa", "version": "1.0.19", "source": "crates.io"},
            ]})
        );
    }
}
