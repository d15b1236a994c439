//! SPDX 2.3 JSON: a [`Graph`] in an image → the document.
//!
//! In: the graph, the image it went into, the epoch. Out: a JSON value with
//! the image as the described package (`primaryPackagePurpose` CONTAINER), which
//! CONTAINS the root crate, and `DEPENDS_ON` edges between crates. Why its own
//! file: SPDX's field names and identifier rules (`SPDXRef-[A-Za-z0-9.-]+`) are
//! nothing like CycloneDX's.

use serde_json::{json, Value};

use super::{tool, uuid_of, Graph, Package, Subject};

const NOASSERTION: &str = "NOASSERTION";

/// `SPDXRef-…` of package `i` (only letters, digits, `.` and `-` are allowed).
fn id(p: &Package) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>()
    };
    format!(
        "SPDXRef-Package-crate-{}-{}",
        clean(&p.name),
        clean(&p.version)
    )
}

const IMAGE_ID: &str = "SPDXRef-Package-image";

fn package(p: &Package, purpose: &str) -> Value {
    let mut v = json!({
        "SPDXID": id(p),
        "name": p.name,
        "versionInfo": p.version,
        "downloadLocation": p.download.as_deref().unwrap_or(NOASSERTION),
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": p.license.as_deref().unwrap_or(NOASSERTION),
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": purpose,
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": p.purl(),
        }],
    });
    if let Some(sum) = &p.sha256 {
        v["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": sum }]);
    }
    v
}

/// `pkg:oci/hello@sha256%3A…?repository_url=localhost/hello`.
pub(super) fn image_purl(subject: &Subject) -> String {
    let (repo, name) = match crate::reference::Reference::parse(&subject.reference) {
        Ok(r) => {
            let name = r
                .repository
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            (format!("{}/{}", r.registry, r.repository), name)
        }
        Err(_) => (subject.reference.clone(), subject.reference.clone()),
    };
    format!(
        "pkg:oci/{name}@{}?repository_url={repo}",
        subject.digest.replace(':', "%3A")
    )
}

pub(super) fn document(graph: &Graph, subject: &Subject, epoch: u64) -> Value {
    let (tool, version) = tool();
    let hex = subject.digest.trim_start_matches("sha256:");
    let mut packages = vec![json!({
        "SPDXID": IMAGE_ID,
        "name": subject.reference,
        "versionInfo": subject.digest,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "CONTAINER",
        "comment": format!("the {} image", subject.platform),
        "checksums": [{ "algorithm": "SHA256", "checksumValue": hex }],
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": image_purl(subject),
        }],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": IMAGE_ID,
    })];
    for (i, p) in graph.packages.iter().enumerate() {
        packages.push(package(p, if i == 0 { "APPLICATION" } else { "LIBRARY" }));
        if i == 0 {
            relationships.push(json!({
                "spdxElementId": IMAGE_ID,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": id(p),
            }));
        }
        for d in &p.depends_on {
            relationships.push(json!({
                "spdxElementId": id(p),
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": id(&graph.packages[*d]),
            }));
        }
    }
    let root = &graph.packages[0];
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}-{} {}", root.name, root.version, subject.platform),
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/{}-{}-{}",
            root.name,
            root.version,
            uuid_of(&subject.digest)
        ),
        "creationInfo": {
            "created": crate::image::rfc3339(epoch),
            "creators": [format!("Tool: {tool}-{version}")],
        },
        "packages": packages,
        "relationships": relationships,
    })
}
