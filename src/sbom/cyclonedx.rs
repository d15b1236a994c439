//! CycloneDX 1.5 JSON: a [`Graph`] in an image → the document.
//!
//! In: the graph, the image it went into, the epoch. Out: a JSON value whose
//! `metadata.component` is the image (type `container`), the root crate an
//! `application` and every other crate a `library` component, and a
//! `dependencies` list; `bom-ref`s are purls. Why its own file: CycloneDX's
//! shape (components + dependency refs) differs from SPDX's relationships.

use serde_json::{json, Value};

use super::{spdx::image_purl, tool, uuid_of, Graph, Package, Subject};

const IMAGE_REF: &str = "image";

fn component(p: &Package, kind: &str) -> Value {
    let mut v = json!({
        "type": kind,
        "bom-ref": p.purl(),
        "name": p.name,
        "version": p.version,
        "purl": p.purl(),
    });
    if let Some(l) = &p.license {
        v["licenses"] = json!([{ "expression": l }]);
    }
    if let Some(sum) = &p.sha256 {
        v["hashes"] = json!([{ "alg": "SHA-256", "content": sum }]);
    }
    if let Some(url) = &p.download {
        v["externalReferences"] = json!([{ "type": "distribution", "url": url }]);
    }
    v
}

pub(super) fn document(graph: &Graph, subject: &Subject, epoch: u64) -> Value {
    let (tool, version) = tool();
    let components: Vec<Value> = graph
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| component(p, if i == 0 { "application" } else { "library" }))
        .collect();
    let mut dependencies = vec![json!({
        "ref": IMAGE_REF,
        "dependsOn": [graph.packages[0].purl()],
    })];
    for p in &graph.packages {
        let on: Vec<String> = p
            .depends_on
            .iter()
            .map(|d| graph.packages[*d].purl())
            .collect();
        dependencies.push(json!({ "ref": p.purl(), "dependsOn": on }));
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid_of(&subject.digest)),
        "version": 1,
        "metadata": {
            "timestamp": crate::image::rfc3339(epoch),
            "tools": { "components": [{ "type": "application", "name": tool, "version": version }] },
            "component": {
                "type": "container",
                "bom-ref": IMAGE_REF,
                "name": subject.reference,
                "version": subject.digest,
                "purl": image_purl(subject),
                "hashes": [{ "alg": "SHA-256", "content": subject.digest.trim_start_matches("sha256:") }],
                "properties": [{ "name": "cargo-slim:platform", "value": subject.platform }],
            },
        },
        "components": components,
        "dependencies": dependencies,
    })
}
