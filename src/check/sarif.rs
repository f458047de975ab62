//! The check report as SARIF 2.1.0, for code-scanning dashboards: one rule per status that is
//! not `ok`, one result per item with that status, located at the image and what was checked.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::report::{CheckReport, Status};

/// What each status means, as the rule's description.
fn describe(status: Status) -> &'static str {
    match status {
        Status::Ok => "as signed",
        Status::Drifted => "the tag resolves to another digest than the signed one",
        Status::Missing => "a signed tag or manifest is gone",
        Status::Altered => "the registry serves other bytes for a signed manifest",
        Status::BlobMissing => "a signed blob is gone",
        Status::BlobAltered => "a blob's bytes do not hash to its digest",
        Status::Unexpected => "a tag no signed bundle has",
        Status::SignatureMissing => "no release signature in this format",
        Status::SignatureInvalid => "no release signature verifies with a pinned key",
        Status::ReceiptMissing => "no PASSED import receipt signed by the site key",
        Status::KeyExpired => "the release signatures are by keys not valid at check time",
        Status::Vulnerable => "the bundle's vulnerability policy blocks findings today",
        Status::NotChecked => "could not be judged",
        Status::Error => "the check could not be made",
    }
}

/// `report` as a SARIF log.
#[must_use]
pub fn sarif(report: &CheckReport) -> Value {
    let mut rules: BTreeMap<Status, usize> = BTreeMap::new();
    let mut rule_list = Vec::new();
    let mut results = Vec::new();
    for item in report.items.iter().filter(|i| i.status != Status::Ok) {
        let index = *rules.entry(item.status).or_insert_with(|| {
            rule_list.push(json!({
                "id": item.status.as_str(),
                "shortDescription": {"text": describe(item.status)},
                "properties": {"tags": ["security", "supply-chain"]},
            }));
            rule_list.len() - 1
        });
        let level = match item.status {
            Status::NotChecked | Status::Error => "warning",
            _ => "error",
        };
        results.push(json!({
            "ruleId": item.status.as_str(),
            "ruleIndex": index,
            "level": level,
            "message": {"text": format!("{} {}: {}", item.image, item.subject, item.detail)},
            "locations": [{
                "logicalLocations": [
                    {"name": item.image, "kind": "image"},
                    {"name": item.subject, "kind": format!("{:?}", item.kind).to_lowercase()},
                ],
            }],
            "properties": {"check": item.kind, "bundle": item.bundle, "registry": report.registry},
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "sealift check",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rule_list,
            }},
            "invocations": [{"executionSuccessful": true, "endTimeUtc": report.checked_at}],
            "results": results,
        }],
    })
}
