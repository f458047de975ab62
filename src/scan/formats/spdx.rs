//! SPDX 2.3 JSON: the image as a CONTAINER package that CONTAINS the operating system (an
//! OPERATING-SYSTEM package whose SPDXID starts `SPDXRef-OperatingSystem`, the form trivy
//! recognises) and the packages that are not the OS's; the OS CONTAINS its own packages. Each
//! package has its purl as a PACKAGE-MANAGER external reference; the image's platform and
//! architecture are annotations on it.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{TOOL, TOOL_VERSION, architecture, cpe_type, is_os_package, uuid_for};
use crate::scan::Report;

const IMAGE: &str = "SPDXRef-Image";
const OS: &str = "SPDXRef-OperatingSystem";

pub fn spdx(report: &Report, created: OffsetDateTime) -> Value {
    // SPDX wants UTC with a `Z` and whole seconds.
    let created = created
        .checked_to_offset(time::UtcOffset::UTC)
        .unwrap_or(created)
        .replace_nanosecond(0)
        .unwrap_or(created)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into());
    let tool = format!("Tool: {TOOL}-{TOOL_VERSION}");
    let mut image = json!({
        "name": report.image,
        "SPDXID": IMAGE,
        "versionInfo": report.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": report.digest.trim_start_matches("sha256:")}],
    });
    if let Some(platform) = &report.platform {
        let facts = [
            Some(format!("platform: {platform}")),
            architecture(report).map(|a| format!("architecture: {a}")),
        ];
        image["annotations"] = facts
            .into_iter()
            .flatten()
            .map(|comment| json!({"annotationType": "OTHER", "annotator": tool, "annotationDate": created, "comment": comment}))
            .collect();
    }
    let mut packages = vec![image];
    let mut relationships = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE)];
    if let Some(d) = &report.distro {
        let mut os = json!({
            "name": d.id,
            "SPDXID": OS,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "OPERATING-SYSTEM",
        });
        // Rolling releases (Debian sid, Arch) have no VERSION_ID.
        if !d.version_id.is_empty() {
            os["versionInfo"] = json!(d.version_id);
        }
        if let Some(pretty) = &d.pretty_name {
            os["description"] = json!(pretty);
        }
        if let Some((cpe, kind)) = d.cpe_name.as_deref().and_then(|c| cpe_type(c).map(|k| (c, k))) {
            os["externalRefs"] = json!([{"referenceCategory": "SECURITY", "referenceType": kind, "referenceLocator": cpe}]);
        }
        packages.push(os);
        relationships.push(relationship(IMAGE, "CONTAINS", OS));
    }
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
        let holder = if report.distro.is_some() && is_os_package(p) { OS } else { IMAGE };
        relationships.push(relationship(holder, "CONTAINS", &id));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}@{}", report.image, report.digest),
        "documentNamespace": format!("https://sealift.invalid/spdx/{}", uuid_for(report, "spdx")),
        "creationInfo": {"created": created, "creators": [tool]},
        "packages": packages,
        "relationships": relationships,
    })
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({"spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to})
}
