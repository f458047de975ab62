//! Step 7: the vulnerability policy, judged again. A bundle made with a scan carries one
//! report per image manifest and the policy from `sealift.yaml`; every report must be there
//! and describe the manifest and database `bundle.json` names, and the policy is evaluated
//! again today: an allowance that has expired since `bundle create` no longer covers its
//! finding.

use serde::Serialize;

use super::bundle_blobs::BundleBlobs;
use super::{Failure, FailureCode};
use crate::bundle::{BundleIndex, ScanDatabase};
use crate::policy::vulns::Verdict;
use crate::scan::Report;
use crate::scan::report::SCHEMA;

/// Largest scan report the verifier reads.
const MAX_REPORT_SIZE: u64 = 64 * 1024 * 1024;

/// What the bundle's scan says, judged today.
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    /// The database the reports were made with.
    pub database: ScanDatabase,
    /// Image manifests scanned.
    pub reports: usize,
    /// Packages over all reports.
    pub packages: usize,
    /// The policy's verdict.
    pub verdict: Verdict,
}

/// Check the reports and judge their findings on `today`.
pub(super) fn check(index: &BundleIndex, blobs: &BundleBlobs<'_>, today: time::Date, failures: &mut Vec<Failure>) -> Option<ScanSummary> {
    let scan = index.scan.as_ref()?;
    let mut verdict = Verdict::new(&scan.policy, today);
    let mut packages = 0;
    for image in &index.images {
        for a in &image.artifacts {
            if !scan.not_scanned.iter().any(|n| n.manifest == a.digest && n.kind == a.kind) {
                failures.push(Failure::new(
                    FailureCode::ScanReportMissing,
                    image.display_name(),
                    format!("the scan does not say why {} {} was not scanned", a.kind, a.digest),
                ));
            }
        }
        for digest in image.runnable() {
            if !scan.reports.iter().any(|r| r.manifest == *digest) {
                failures.push(Failure::new(
                    FailureCode::ScanReportMissing,
                    image.display_name(),
                    format!("the bundle was scanned but carries no report for manifest {digest}"),
                ));
            }
        }
    }
    for record in &scan.reports {
        let invalid = |message: String| Failure::new(FailureCode::ScanReportInvalid, &record.report, message);
        if !blobs.verified.contains_key(&record.sbom) {
            failures.push(Failure::new(
                FailureCode::ScanReportMissing,
                &record.sbom,
                format!(
                    "the SBOM of {} ({}) is not a verified entry of the bundle",
                    record.image, record.manifest
                ),
            ));
        }
        let report: Report = match blobs
            .read_entry(&record.report, MAX_REPORT_SIZE)
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => {
                failures.push(invalid(e));
                continue;
            }
        };
        let mismatch = if report.schema != SCHEMA {
            Some(format!("schema `{}`, expected `{SCHEMA}`", report.schema))
        } else if report.digest != record.manifest.to_string() {
            Some(format!("describes {}, bundle.json says {}", report.digest, record.manifest))
        } else if report.database.digest != scan.database.digest {
            Some(format!(
                "made with database {}, bundle.json says {}",
                report.database.digest, scan.database.digest
            ))
        } else if report.packages.len() != record.packages || report.findings.len() != record.findings {
            Some(format!(
                "{} packages and {} findings, bundle.json says {} and {}",
                report.packages.len(),
                report.findings.len(),
                record.packages,
                record.findings
            ))
        } else {
            None
        };
        if let Some(m) = mismatch {
            failures.push(invalid(m));
            continue;
        }
        packages += report.packages.len();
        report.judge(&mut verdict);
    }
    let verdict = verdict.finish();
    for b in &verdict.blocked {
        let platform = b.platform.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
        let expired = b
            .allowance
            .as_ref()
            .map(|a| format!("; its allowance expired {} ({})", a.expires, a.reason))
            .unwrap_or_default();
        failures.push(Failure::new(
            FailureCode::VulnerabilityBlocked,
            format!("{}{platform}", b.image),
            format!(
                "{} ({}) in {} {} is at or above fail-on {} and not allowed{expired}",
                b.id,
                b.severity,
                b.package,
                b.version,
                verdict.fail_on.map_or("-", |s| s.as_str())
            ),
        ));
    }
    Some(ScanSummary {
        database: scan.database.clone(),
        reports: scan.reports.len(),
        packages,
        verdict,
    })
}
