//! SPDX 2.3 JSON: the image as a CONTAINER package that CONTAINS one package per installed
//! package, each with its purl as a PACKAGE-MANAGER external reference.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{TOOL, TOOL_VERSION, uuid_for};
use crate::scan::Report;

pub fn spdx(report: &Report, created: OffsetDateTime) -> Value {
    let created = created
        .replace_nanosecond(0)
        .unwrap_or(created)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into());
    let mut packages = vec![json!({
        "name": report.image,
        "SPDXID": "SPDXRef-Image",
        "versionInfo": report.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": report.digest.trim_start_matches("sha256:")}],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    for (i, p) in report.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{}", i + 1);
        packages.push(json!({
            "name": p.name,
            "SPDXID": id,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "sourceInfo": format!("found in {} (layer {})", p.path, p.layer),
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl}],
        }));
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}@{}", report.image, report.digest),
        "documentNamespace": format!("https://sealift.invalid/spdx/{}", uuid_for(report, "spdx")),
        "creationInfo": {"created": created, "creators": [format!("Tool: {TOOL}-{TOOL_VERSION}")]},
        "packages": packages,
        "relationships": relationships,
    })
}
