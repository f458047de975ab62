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

/// What an operator does about an item with this status: the rule's help text.
fn remedy(status: Status) -> &'static str {
    match status {
        Status::Ok => "Nothing to do.",
        Status::Unexpected => {
            "No signed bundle has this tag: find out who pushed it (the registry's logs; sealift's audit log names every load), then delete it or load a signed bundle that carries it."
        }
        Status::Drifted | Status::Missing => {
            "Someone changed the registry after the signed load: find out who from the audit log, then load the signed bundle again (sealift load), which puts back every signed tag."
        }
        Status::Altered | Status::BlobAltered => {
            "The registry serves bytes that no signed bundle has: treat the registry as compromised, keep the evidence, and load the signed bundle again into a registry you trust."
        }
        Status::BlobMissing => "Load the signed bundle again: it pushes the missing blob, checked against its digest.",
        Status::SignatureMissing | Status::SignatureInvalid => {
            "Load the signed bundle again to put back its signature objects; if they are there and still fail, the release keys pinned here are not the ones that signed."
        }
        Status::ReceiptMissing => "Load the image through sealift load with the site key, which attaches a signed import receipt.",
        Status::KeyExpired => "Rebuild and sign the bundle with a current release key, and load it.",
        Status::Vulnerable => {
            "Load a bundle with fixed images, or allow the findings in the release's vulnerability policy with a reason and an expiry date."
        }
        Status::NotChecked | Status::Error => "Read the item's detail: the check could not judge it, and it counts as not passed.",
    }
}

/// The score GitHub code scanning ranks rules by (0.0 to 10.0): bytes that differ from what was
/// signed are critical, a registry that lost or moved what was signed is high.
fn security_severity(status: Status) -> &'static str {
    match status {
        Status::Altered | Status::BlobAltered | Status::SignatureInvalid => "9.5",
        Status::Drifted | Status::Missing | Status::BlobMissing | Status::SignatureMissing | Status::Unexpected => "8.0",
        Status::Vulnerable | Status::ReceiptMissing | Status::KeyExpired => "7.0",
        Status::NotChecked | Status::Error => "5.0",
        Status::Ok => "0.0",
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
                "help": {"text": remedy(item.status)},
                "properties": {"security-severity": security_severity(item.status), "tags": ["security", "supply-chain"]},
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
                "informationUri": crate::HOMEPAGE,
                "rules": rule_list,
            }},
            "invocations": [{"executionSuccessful": true, "endTimeUtc": report.checked_at}],
            "results": results,
        }],
    })
}
