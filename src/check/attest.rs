//! A check report kept as signed evidence: a DSSE envelope over an in-toto Statement v1 whose
//! subjects are the images checked (name and manifest digest) and whose predicate is a SLSA
//! verification summary (`https://slsa.dev/verification_summary/v1`): who verified (sealift
//! and its version), when, the registry, the policy (the bundles, by the digest of each signed
//! `bundle.json`), the result, and the digest of the JSON report itself. Anyone with the site's
//! public key can check it later with `openssl` over the DSSE pre-authentication encoding.

use serde_json::{Value, json};

use super::report::CheckReport;
use crate::oci::Digest;
use crate::sign::SigningKey;
use crate::sign::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1};

pub use crate::receipt::VSA_V1;

/// The statement for `report`, whose JSON serialisation is `report_json`.
#[must_use]
pub fn statement(report: &CheckReport, report_json: &[u8]) -> Value {
    let subjects: Vec<Value> = report
        .images
        .iter()
        .map(|i| json!({"name": i.name, "digest": {"sha256": i.digest.hex()}}))
        .collect();
    let mut bundles: Vec<&str> = report.bundles.iter().map(|b| b.digest.as_str()).collect();
    bundles.sort_unstable();
    let policy = Digest::of(bundles.join("\n").as_bytes());
    let inputs: Vec<Value> = report
        .bundles
        .iter()
        .map(|b| json!({"name": format!("bundle.json of {} ({})", b.name, b.file), "digest": {"sha256": b.digest.trim_start_matches("sha256:")}}))
        .collect();
    let passed = report.passed();
    json!({
        "_type": STATEMENT_V1,
        "subject": subjects,
        "predicateType": VSA_V1,
        "predicate": {
            "verifier": {"id": "urn:sealift:check", "version": {"sealift": env!("CARGO_PKG_VERSION")}},
            "timeVerified": report.checked_at,
            "resourceUri": format!("oci://{}", report.registry),
            "policy": {"uri": format!("urn:sealift:check:{}", super::SCHEMA), "digest": {"sha256": policy.hex()}},
            "inputAttestations": inputs,
            "verificationResult": if passed { "PASSED" } else { "FAILED" },
            "verifiedLevels": [if passed { "SEALIFT_REGISTRY_MATCHES_BUNDLES" } else { "FAILED" }],
            "sealiftReport": {
                "schema": super::SCHEMA,
                "digest": {"sha256": Digest::of(report_json).hex()},
                "summary": report.summary,
            },
        },
    })
}

/// The DSSE envelope over [`statement`], signed with `key`.
#[must_use]
pub fn sign(report: &CheckReport, report_json: &[u8], key: &SigningKey) -> Envelope {
    let body = serde_json::to_vec(&statement(report, report_json)).unwrap_or_default();
    Envelope::sign(key, IN_TOTO_PAYLOAD_TYPE, &body)
}
