//! CycloneDX 1.6 JSON: the image as the subject, one component per package (with its purl
//! and where it was found), one vulnerability per (id, package).

use serde_json::{Value, json};

use super::{TOOL, TOOL_VERSION, uuid_for};
use crate::scan::Report;
use crate::scan::matcher::Finding;

pub fn cyclonedx(report: &Report) -> Value {
    let bom_ref = |purl: &str, path: &str| format!("{purl}#{path}");
    let components: Vec<Value> = report
        .packages
        .iter()
        .map(|p| {
            json!({
                "type": "library",
                "bom-ref": bom_ref(&p.purl, &p.path),
                "name": p.name,
                "version": p.version,
                "purl": p.purl,
                "properties": [
                    {"name": "sealift:ecosystem", "value": p.ecosystem},
                    {"name": "sealift:layer", "value": p.layer},
                    {"name": "sealift:path", "value": p.path},
                ],
            })
        })
        .collect();
    let vulnerabilities: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut v = json!({
                "bom-ref": format!("{}#{}", f.id, bom_ref(&f.purl, &f.path)),
                "id": f.id,
                "ratings": ratings(f),
                "affects": [{"ref": bom_ref(&f.purl, &f.path)}],
            });
            if !f.aliases.is_empty() {
                v["references"] = f
                    .aliases
                    .iter()
                    .map(|a| json!({"id": a, "source": {"name": source_of(a)}}))
                    .collect();
            }
            if let Some(fixed) = &f.fixed_version {
                v["recommendation"] = json!(format!("Upgrade {} to {fixed} or later.", f.name));
            }
            v
        })
        .collect();
    let mut image = json!({
        "type": "container",
        "bom-ref": report.digest,
        "name": report.image,
        "version": report.digest,
    });
    if let Some(p) = &report.platform {
        image["properties"] = json!([{"name": "sealift:platform", "value": p}]);
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_for(report, "cyclonedx")),
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": TOOL, "version": TOOL_VERSION}]},
            "component": image,
            "properties": [{"name": "sealift:vulndb-digest", "value": report.database.digest}],
        },
        "components": components,
        "vulnerabilities": vulnerabilities,
    })
}

/// The finding's rating; with a CVSS score, its score, method and vector too (a second rating
/// when the source's label and the score's rating differ).
fn ratings(f: &Finding) -> Value {
    let label = json!({"severity": severity(&f.severity)});
    let Some(cvss) = &f.cvss else { return json!([label]) };
    let method = match cvss.version() {
        "3.0" => "CVSSv3",
        "3.1" => "CVSSv31",
        _ => "CVSSv4",
    };
    let scored = json!({
        "score": cvss.score.value(),
        "severity": severity(cvss.severity()),
        "method": method,
        "vector": cvss.vector,
    });
    if cvss.severity() == f.severity {
        json!([scored])
    } else {
        json!([label, scored])
    }
}

/// CycloneDX's severity words; `negligible` is its `info`.
fn severity(s: &str) -> &'static str {
    match s {
        "critical" => "critical",
        "high" => "high",
        "medium" => "medium",
        "low" => "low",
        "negligible" => "info",
        _ => "unknown",
    }
}

fn source_of(id: &str) -> &'static str {
    match id.split('-').next().unwrap_or_default() {
        "CVE" => "NVD",
        "GHSA" => "GitHub",
        "GO" => "Go Vulnerability Database",
        "RUSTSEC" => "RustSec",
        "PYSEC" => "PyPA",
        _ => "OSV",
    }
}
