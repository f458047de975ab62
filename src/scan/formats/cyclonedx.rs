//! CycloneDX 1.6 JSON: the image as the subject, an `operating-system` component, one component
//! per package (with its purl and where it was found), one vulnerability per (id, package).
//! `dependencies` says what holds what: the image the OS and the other packages, the OS its
//! packages.

use serde_json::{Value, json};

use super::{TOOL, TOOL_VERSION, architecture, cpe_type, is_os_package, uuid_for};
use crate::scan::Report;
use crate::scan::matcher::Finding;

/// `component.version`'s `maxLength` in the CycloneDX 1.6 schema.
const MAX_VERSION: usize = 1024;

pub fn cyclonedx(report: &Report) -> Value {
    let bom_ref = |purl: &str, path: &str| format!("{purl}#{path}");
    let os_ref = report.distro.as_ref().map(|d| format!("os:{}@{}", d.id, d.version_id));
    let os = report.distro.as_ref().zip(os_ref.as_ref()).map(|(d, os_ref)| {
        let mut c = json!({
            "type": "operating-system",
            "bom-ref": os_ref,
            "name": d.id,
        });
        if !d.version_id.is_empty() {
            c["version"] = json!(d.version_id);
        }
        if let Some(pretty) = &d.pretty_name {
            c["description"] = json!(pretty);
        }
        if let Some(cpe) = d.cpe_name.as_deref().filter(|c| cpe_type(c).is_some()) {
            c["cpe"] = json!(cpe);
        }
        c
    });
    let packages = report.packages.iter().map(|p| {
        let mut c = json!({
            "type": "library",
            "bom-ref": bom_ref(&p.purl, &p.path),
            "name": p.name,
            "purl": p.purl,
            "properties": [
                {"name": "sealift:ecosystem", "value": p.ecosystem},
                {"name": "sealift:layer", "value": p.layer},
                {"name": "sealift:path", "value": p.path},
            ],
        });
        // CycloneDX 1.6 caps `version` at 1,024 characters; the purl still carries a longer one.
        if p.version.chars().count() <= MAX_VERSION {
            c["version"] = json!(p.version);
        }
        c
    });
    let components: Vec<Value> = os.into_iter().chain(packages).collect();
    let (mut held_by_image, mut held_by_os) = (Vec::new(), Vec::new());
    held_by_image.extend(os_ref.clone());
    for p in &report.packages {
        let into = if os_ref.is_some() && is_os_package(p) {
            &mut held_by_os
        } else {
            &mut held_by_image
        };
        into.push(bom_ref(&p.purl, &p.path));
    }
    let mut dependencies = vec![json!({"ref": report.digest, "dependsOn": held_by_image})];
    if let Some(os_ref) = &os_ref {
        dependencies.push(json!({"ref": os_ref, "dependsOn": held_by_os}));
    }
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
        let mut properties = vec![json!({"name": "sealift:platform", "value": p})];
        if let Some(arch) = architecture(report) {
            properties.push(json!({"name": "sealift:architecture", "value": arch}));
        }
        image["properties"] = json!(properties);
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
        "dependencies": dependencies,
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
        // CycloneDX has `none` for a score of 0.0 (its `info` is a label's word).
        "severity": if cvss.score.value() == 0.0 { "none" } else { severity(cvss.severity()) },
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
