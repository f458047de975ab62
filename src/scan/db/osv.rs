//! OSV records (https://ossf.github.io/osv-schema/): one advisory per `affected[]` entry, all
//! of them kept (several entries for one package each add their ranges). `GIT` ranges name
//! commits, not versions, and are left out; withdrawn records are skipped.

use serde_json::Value;

use super::{Advisory, Range, severity_word};

/// Does this JSON document look like an OSV record?
pub fn is_osv(doc: &Value) -> bool {
    doc.get("id").is_some_and(Value::is_string) && (doc.get("affected").is_some() || doc.get("schema_version").is_some())
}

pub fn advisories(doc: &Value) -> Result<Vec<Advisory>, String> {
    let id = doc["id"].as_str().ok_or("no `id`")?.to_owned();
    if doc.get("withdrawn").is_some_and(|w| !w.is_null()) {
        return Ok(Vec::new());
    }
    let aliases = strings(&doc["aliases"]);
    let modified = doc["modified"].as_str().filter(|m| !m.starts_with("0001-")).map(str::to_owned);
    let record_severity = doc["database_specific"]["severity"].as_str();
    let affected = doc.get("affected").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut out = Vec::new();
    for entry in affected {
        let package = &entry["package"];
        let (Some(ecosystem), Some(name)) = (package["ecosystem"].as_str(), package["name"].as_str()) else {
            // Entries without a package (e.g. only a purl we cannot use) are skipped.
            continue;
        };
        let mut ranges = Vec::new();
        for range in entry["ranges"].as_array().map(Vec::as_slice).unwrap_or_default() {
            match range["type"].as_str() {
                Some("ECOSYSTEM" | "SEMVER") => ranges.extend(intervals(&range["events"]).map_err(|e| format!("{id}: {e}"))?),
                Some("GIT") => {}
                other => return Err(format!("{id}: unknown range type {other:?}")),
            }
        }
        let versions = strings(&entry["versions"]);
        if ranges.is_empty() && versions.is_empty() {
            continue;
        }
        let severity = entry["ecosystem_specific"]["severity"]
            .as_str()
            .or(entry["database_specific"]["severity"].as_str())
            .or(record_severity)
            .map_or("unknown", severity_word);
        out.push(Advisory {
            id: id.clone(),
            aliases: aliases.clone(),
            ecosystem: ecosystem.to_owned(),
            package: name.to_owned(),
            severity: severity.to_owned(),
            ranges,
            versions,
            modified: modified.clone(),
            source: "osv".into(),
        });
    }
    Ok(out)
}

/// OSV events, in order, as intervals: `introduced` opens one, `fixed` or `last_affected`
/// closes it; one still open at the end has no upper bound.
fn intervals(events: &Value) -> Result<Vec<Range>, String> {
    let mut out = Vec::new();
    let mut open: Option<String> = None;
    for event in events.as_array().ok_or("`events` is not a list")? {
        if let Some(v) = event["introduced"].as_str() {
            if let Some(start) = open.replace(v.to_owned()) {
                out.push(Range {
                    introduced: start,
                    fixed: None,
                    last_affected: None,
                });
            }
        } else if let Some(v) = event["fixed"].as_str() {
            let start = open.take().unwrap_or_else(|| "0".into());
            out.push(Range {
                introduced: start,
                fixed: Some(v.to_owned()),
                last_affected: None,
            });
        } else if let Some(v) = event["last_affected"].as_str() {
            let start = open.take().unwrap_or_else(|| "0".into());
            out.push(Range {
                introduced: start,
                fixed: None,
                last_affected: Some(v.to_owned()),
            });
        } else if event.get("limit").is_none() {
            return Err(format!("unknown event {event}"));
        }
    }
    if let Some(start) = open {
        out.push(Range {
            introduced: start,
            fixed: None,
            last_affected: None,
        });
    }
    Ok(out)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}
