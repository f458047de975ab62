//! Debian security tracker data, in two layouts:
//!
//! - the tracker's own JSON (`{package: {CVE: {"releases": {codename: {status, fixed_version,
//!   urgency}}}}}`), one advisory per release;
//! - one file per CVE as vuln-list mirrors `data/CVE/list` (`{"Header": {"ID"}, "Annotations":
//!   [{"Package", "Release"?, "Kind", "Version"?, "Severity"?}]}`). An annotation without a
//!   release is about every release that has no annotation of its own; it becomes ecosystem
//!   `Debian`, and the matcher lets a release's own entry (`Debian:12`) override it.
//!
//! "not-affected", and "fixed" in version 0, produce an advisory with no ranges: it affects
//! nothing, and it still overrides the release-less entry. Open states (unfixed, no-dsa,
//! ignored, postponed, end-of-life, open, undetermined) affect every version.

use serde_json::Value;

use super::{Advisory, Range, severity_word};

const CODENAMES: [(&str, u32); 9] = [
    ("wheezy", 7),
    ("jessie", 8),
    ("stretch", 9),
    ("buster", 10),
    ("bullseye", 11),
    ("bookworm", 12),
    ("trixie", 13),
    ("forky", 14),
    ("duke", 15),
];

fn release_number(codename: &str) -> Option<u32> {
    CODENAMES.iter().find(|(c, _)| *c == codename).map(|(_, n)| *n)
}

pub fn is_vuln_list_cve(doc: &Value) -> bool {
    doc["Header"]["ID"].is_string() && doc["Annotations"].is_array()
}

/// Is this the tracker's JSON: packages mapping to CVE ids mapping to `releases`?
pub fn is_tracker_json(doc: &Value) -> bool {
    doc.as_object().is_some_and(|pkgs| {
        !pkgs.is_empty()
            && pkgs.values().take(3).all(|cves| {
                cves.as_object()
                    .is_some_and(|c| c.values().take(3).all(|e| e.get("releases").is_some()))
            })
    })
}

fn advisory(id: &str, ecosystem: String, package: &str, severity: &str, ranges: Vec<Range>) -> Advisory {
    Advisory {
        id: id.to_owned(),
        aliases: Vec::new(),
        ecosystem,
        package: package.to_owned(),
        severity: severity.to_owned(),
        cvss: None,
        ranges,
        versions: Vec::new(),
        modified: None,
        source: "debian-tracker".into(),
    }
}

/// Ranges for a fixed version: none when it is "0" (never affected).
fn fixed_in(version: &str) -> Vec<Range> {
    if version == "0" {
        Vec::new()
    } else {
        vec![Range::before(Some(version.to_owned()))]
    }
}

pub fn from_vuln_list(doc: &Value) -> Result<Vec<Advisory>, String> {
    let id = doc["Header"]["ID"].as_str().ok_or("no Header.ID")?;
    let mut out = Vec::new();
    for a in doc["Annotations"].as_array().ok_or("no Annotations")? {
        if a["Type"].as_str().is_some_and(|t| t != "package") {
            continue;
        }
        let Some(package) = a["Package"].as_str() else { continue };
        let ecosystem = match a["Release"].as_str() {
            None | Some("") => "Debian".to_owned(),
            Some(codename) => match release_number(codename) {
                Some(n) => format!("Debian:{n}"),
                None => continue,
            },
        };
        let ranges = match a["Kind"].as_str().unwrap_or_default() {
            "fixed" => fixed_in(
                a["Version"]
                    .as_str()
                    .ok_or_else(|| format!("{id} {package}: fixed without a version"))?,
            ),
            "not-affected" => Vec::new(),
            "unfixed" | "no-dsa" | "ignored" | "postponed" | "end-of-life" => vec![Range::before(None)],
            // itp, removed, reserved, …: not about an installed package.
            _ => continue,
        };
        let severity = a["Severity"].as_str().map_or("unknown", severity_word);
        out.push(advisory(id, ecosystem, package, severity, ranges));
    }
    Ok(out)
}

pub fn from_tracker_json(doc: &Value) -> Result<Vec<Advisory>, String> {
    let mut out = Vec::new();
    for (package, cves) in doc.as_object().ok_or("not an object")? {
        for (id, entry) in cves.as_object().ok_or_else(|| format!("{package}: not an object"))? {
            for (codename, state) in entry["releases"]
                .as_object()
                .ok_or_else(|| format!("{package} {id}: no releases"))?
            {
                let Some(n) = release_number(codename) else { continue };
                let ranges = match state["status"].as_str().unwrap_or_default() {
                    "resolved" => fixed_in(state["fixed_version"].as_str().unwrap_or("0")),
                    "open" | "undetermined" => vec![Range::before(None)],
                    other => return Err(format!("{package} {id} {codename}: unknown status `{other}`")),
                };
                let severity = state["urgency"]
                    .as_str()
                    .map_or("unknown", |u| severity_word(u.trim_end_matches('*')));
                out.push(advisory(id, format!("Debian:{n}"), package, severity, ranges));
            }
        }
    }
    Ok(out)
}
