//! SARIF 2.1.0: one rule per vulnerability id, one result per affected package, located at
//! the file the package was read from.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{TOOL, TOOL_VERSION};
use crate::scan::Report;

pub fn sarif(report: &Report) -> Value {
    let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rule_list = Vec::new();
    for f in &report.findings {
        if !rules.contains_key(f.id.as_str()) {
            rules.insert(&f.id, rule_list.len());
            rule_list.push(json!({
                "id": f.id,
                "shortDescription": {"text": format!("{} ({})", f.id, f.aliases.join(", "))},
                "properties": {"security-severity": security_severity(&f.severity), "tags": ["security", "vulnerability"]},
            }));
        }
    }
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let fix = f
                .fixed_version
                .as_deref()
                .map_or("no fixed version is known".to_owned(), |v| format!("fixed in {v}"));
            json!({
                "ruleId": f.id,
                "ruleIndex": rules[f.id.as_str()],
                "level": level(&f.severity),
                "message": {"text": format!("{} {} ({}) is affected by {} [{}]; {fix}", f.name, f.version, f.ecosystem, f.id, f.severity)},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": f.path.trim_start_matches('/')}},
                    "logicalLocations": [{"name": f.purl, "kind": "package"}],
                }],
                "properties": {"purl": f.purl, "layer": f.layer, "image": report.image, "digest": report.digest},
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL, "version": TOOL_VERSION, "rules": rule_list}},
            "results": results,
        }],
    })
}

fn level(severity: &str) -> &'static str {
    match severity {
        "critical" | "high" => "error",
        "medium" => "warning",
        _ => "note",
    }
}

/// GitHub's code scanning reads `security-severity` as a CVSS-like score string.
fn security_severity(severity: &str) -> &'static str {
    match severity {
        "critical" => "9.5",
        "high" => "8.0",
        "medium" => "5.5",
        "low" => "2.0",
        _ => "0.0",
    }
}
