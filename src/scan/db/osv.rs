//! OSV records (https://ossf.github.io/osv-schema/): one advisory per `affected[]` entry, all
//! of them kept (several entries for one package each add their ranges). `GIT` ranges name
//! commits, not versions, and are left out; withdrawn records are skipped.
//!
//! Severity is the record's label (`ecosystem_specific`, then `database_specific`, of the entry
//! and then of the record; the first that is a known word); without one, the qualitative
//! rating of its first CVSS vector that scores (`severity[]`, the entry's before the record's,
//! v4.0 before v3.x). A record with neither is `unknown`; one without a label whose vectors
//! all fail to score is an error naming it, and so is a `severity` that is not a list of typed
//! entries.

use serde_json::Value;

use super::{Advisory, Range, severity_word};
use crate::scan::cvss::{Cvss, OSV_TYPES};

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
    let record_label = &doc["database_specific"]["severity"];
    let record_vectors = vectors(&doc["severity"]).map_err(|e| format!("{id}: {e}"))?;
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
        // The entry's vectors, then the record's; the first that scores is the one kept.
        let mut candidates = vectors(&entry["severity"]).map_err(|e| format!("{id}: {e}"))?;
        candidates.extend(record_vectors.iter().cloned());
        let cvss = candidates.iter().find_map(|c| c.as_ref().ok()).cloned();
        let label = [
            &entry["ecosystem_specific"]["severity"],
            &entry["database_specific"]["severity"],
            record_label,
        ]
        .into_iter()
        .filter_map(Value::as_str)
        .map(severity_word)
        .find(|w| *w != "unknown");
        let severity = match (label, &cvss, candidates.iter().find_map(|c| c.as_ref().err())) {
            (Some(word), _, _) => word,
            (None, Some(c), _) => c.severity(),
            // Without a label the vectors are all there is to judge by: one must score.
            (None, None, Some(e)) => return Err(format!("{id}: {e}")),
            (None, None, None) => "unknown",
        };
        out.push(Advisory {
            id: id.clone(),
            aliases: aliases.clone(),
            ecosystem: ecosystem.to_owned(),
            package: name.to_owned(),
            severity: severity.to_owned(),
            cvss,
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

/// The CVSS vectors of an OSV `severity` list that are scored, v4.0 ones before v3.x ones,
/// each scored or not; empty when there is no list.
///
/// # Errors
/// A `severity` that is not a list of objects with a `type` string.
fn vectors(severity: &Value) -> Result<Vec<Result<Cvss, String>>, String> {
    if severity.is_null() {
        return Ok(Vec::new());
    }
    let list = severity.as_array().ok_or("`severity` is not a list")?;
    let mut out = Vec::new();
    for kind in OSV_TYPES {
        for s in list {
            let t = s["type"].as_str().ok_or("a `severity` entry has no `type` string")?;
            if t == kind {
                let score = s["score"].as_str().ok_or_else(|| format!("{kind} entry without a `score` string"));
                out.push(score.and_then(Cvss::from_vector));
            }
        }
    }
    Ok(out)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(database_specific: Value, severity: Value) -> Value {
        json!({
            "id": "PYSEC-0000-1",
            "database_specific": database_specific,
            "severity": severity,
            "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"}, "versions": ["1.0"]}],
        })
    }

    const HIGH_V3: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N";
    const CRITICAL_V4: &str = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";

    #[test]
    fn a_vector_rates_a_record_without_a_label() {
        let a = &advisories(&record(json!({}), json!([{"type": "CVSS_V3", "score": HIGH_V3}]))).unwrap()[0];
        assert_eq!(a.severity, "high");
        let cvss = a.cvss.as_ref().unwrap();
        assert_eq!((cvss.vector.as_str(), cvss.score.to_string()), (HIGH_V3, "7.5".into()));
    }

    #[test]
    fn a_label_wins_over_the_vector_which_is_kept() {
        let a = &advisories(&record(
            json!({"severity": "MODERATE"}),
            json!([{"type": "CVSS_V3", "score": HIGH_V3}]),
        ))
        .unwrap()[0];
        assert_eq!(a.severity, "medium");
        assert_eq!(a.cvss.as_ref().unwrap().vector, HIGH_V3);
    }

    #[test]
    fn v4_is_preferred_and_an_entry_vector_over_the_record_one() {
        let both = json!([{"type": "CVSS_V3", "score": HIGH_V3}, {"type": "CVSS_V4", "score": CRITICAL_V4}]);
        assert_eq!(advisories(&record(json!({}), both)).unwrap()[0].severity, "critical");
        let mut doc = record(json!({}), json!([{"type": "CVSS_V4", "score": CRITICAL_V4}]));
        doc["affected"][0]["severity"] = json!([{"type": "CVSS_V3", "score": HIGH_V3}]);
        assert_eq!(advisories(&doc).unwrap()[0].severity, "high");
    }

    #[test]
    fn a_bad_v4_vector_does_not_hide_a_good_v3_one_and_a_malformed_list_is_an_error() {
        let both = json!([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}, {"type": "CVSS_V3", "score": HIGH_V3}]);
        let a = &advisories(&record(json!({}), both)).unwrap()[0];
        assert_eq!((a.severity.as_str(), a.cvss.as_ref().unwrap().vector.as_str()), ("high", HIGH_V3));
        for bad in [
            json!({"type": "CVSS_V3", "score": HIGH_V3}),
            json!([{"score": HIGH_V3}]),
            json!(HIGH_V3),
        ] {
            let e = advisories(&record(json!({}), bad.clone())).unwrap_err();
            assert!(e.starts_with("PYSEC-0000-1: ") && e.contains("severity"), "{bad}: {e}");
        }
        // An unknown word at the entry does not hide the record's label.
        let mut doc = record(json!({"severity": "HIGH"}), json!([]));
        doc["affected"][0]["ecosystem_specific"] = json!({"severity": "UNKNOWN"});
        assert_eq!(advisories(&doc).unwrap()[0].severity, "high");
    }

    #[test]
    fn without_label_or_usable_vector_unknown_and_a_bad_vector_is_an_error() {
        let none = record(json!({}), json!([{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}]));
        let a = &advisories(&none).unwrap()[0];
        assert_eq!((a.severity.as_str(), a.cvss.is_none()), ("unknown", true));
        let bad = advisories(&record(json!({}), json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:Q"}]))).unwrap_err();
        assert!(bad.contains("PYSEC-0000-1") && bad.contains("CVSS:3.1/AV:Q"), "{bad}");
        let labelled = record(json!({"severity": "LOW"}), json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:Q"}]));
        assert_eq!(advisories(&labelled).unwrap()[0].severity, "low");
    }
}
