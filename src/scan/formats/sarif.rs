//! SARIF 2.1.0: one rule per vulnerability id, one result per affected package, located at
//! the file the package was read from (and, for dpkg and apk databases, the line its record
//! starts on). Rules carry help text and the `security-severity`
//! property GitHub code scanning ranks them by (a CVSS-like score, 0.0 to 10.0).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{TOOL, TOOL_VERSION};
use crate::scan::Report;
use crate::scan::matcher::{Finding, severity_rank};

pub fn sarif(report: &Report) -> Value {
    // The most severe finding of each id stands for its rule.
    let mut worst: BTreeMap<&str, &Finding> = BTreeMap::new();
    for f in &report.findings {
        let slot = worst.entry(f.id.as_str()).or_insert(f);
        if security_severity(f) > security_severity(slot) {
            *slot = f;
        }
    }
    let rules: BTreeMap<&str, usize> = worst.keys().enumerate().map(|(i, id)| (*id, i)).collect();
    let rule_list: Vec<Value> = worst.values().map(|f| rule(f)).collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let fix = f
                .fixed_version
                .as_deref()
                .map_or("no fixed version is known".to_owned(), |v| format!("fixed in {v}"));
            let mut physical = json!({"artifactLocation": {"uri": uri_reference(f.path.trim_start_matches('/'))}});
            if let Some(line) = f.line {
                physical["region"] = json!({"startLine": line});
            }
            json!({
                "ruleId": f.id,
                "ruleIndex": rules[f.id.as_str()],
                "level": level(&f.severity),
                "message": {"text": format!("{} {} ({}) is affected by {} [{}]; {fix}", f.name, f.version, f.ecosystem, f.id, f.severity)},
                "locations": [{
                    "physicalLocation": physical,
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
            "tool": {"driver": {
                "name": TOOL,
                "version": TOOL_VERSION,
                "informationUri": crate::HOMEPAGE,
                "rules": rule_list,
            }},
            "results": results,
        }],
    })
}

/// A path in the image as a relative URI reference (RFC 3986 §4.2): every byte outside the
/// unreserved characters, `/` and the sub-delimiters is percent-encoded, `:` too (so the first
/// segment is never read as a scheme), and `%`, `?` and `#` with them.
fn uri_reference(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn rule(f: &Finding) -> Value {
    let aliases = if f.aliases.is_empty() {
        String::new()
    } else {
        format!(" ({})", f.aliases.join(", "))
    };
    let scored = f
        .cvss
        .as_ref()
        .map(|c| format!(", CVSS {} {}", c.score, c.vector))
        .unwrap_or_default();
    let help = format!(
        "{id}{aliases}: severity {severity}{scored}. Each result names the affected package, the \
         file it was read from, and the first fixed version where one is known: upgrade to it, or \
         allow the finding in the bundle's vulnerability policy with a reason and an expiry date.",
        id = f.id,
        severity = f.severity,
    );
    json!({
        "id": f.id,
        "shortDescription": {"text": format!("{}{aliases}", f.id)},
        "help": {"text": help},
        "properties": {
            "security-severity": format!("{:.1}", security_severity(f)),
            "tags": ["security", "vulnerability"],
        },
    })
}

fn level(severity: &str) -> &'static str {
    match severity {
        "critical" | "high" => "error",
        "medium" => "warning",
        _ => "note",
    }
}

/// The score GitHub code scanning ranks by (its documentation: over 9.0 critical, 7.0 to 8.9
/// high, 4.0 to 6.9 medium, 3.9 or less low):
/// the CVSS base score where it agrees with the finding's severity, otherwise a score inside
/// that severity's band.
fn security_severity(f: &Finding) -> f64 {
    if let Some(c) = f.cvss.as_ref().filter(|c| c.severity() == f.severity) {
        return c.score.value();
    }
    const BANDS: [f64; 6] = [9.5, 8.0, 5.5, 2.0, 0.0, 0.0];
    BANDS.get(severity_rank(&f.severity)).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::uri_reference;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(uri_reference("var/lib/dpkg/status"), "var/lib/dpkg/status");
        assert_eq!(uri_reference("opt/my dir#1/a?b%c:d"), "opt/my%20dir%231/a%3Fb%25c%3Ad");
        assert_eq!(uri_reference("srv/é"), "srv/%C3%A9");
    }
}
