//! Re-scanning without pulling layers: the package inventories a bundle's scan reports carry
//! (verified with the bundle), matched against a newer vulnerability database, and the
//! bundle's own policy judged at check time, so an allowance that has expired no longer covers
//! its finding. One item per scanned image manifest.

use std::collections::BTreeSet;
use std::io::Read as _;

use super::report::{Item, ItemKind, Status};
use crate::policy::vulns::Verdict;
use crate::scan::db::Database;
use crate::scan::{Report, matcher};
use crate::verify::VerifiedBundle;

/// Largest scan report read (as `verify` allows).
const MAX_REPORT_SIZE: u64 = 64 << 20;

/// The items of one bundle (labelled `label`) against `db`, judged at `at`.
pub(super) fn rescan(bundle: &VerifiedBundle, label: &str, db: &Database, at: time::OffsetDateTime) -> Vec<Item> {
    let index = bundle.index();
    let item = |image: &str, subject: String, status: Status, detail: String| Item {
        kind: ItemKind::Vulnerabilities,
        image: image.to_owned(),
        subject,
        status,
        detail,
        bundle: label.to_owned(),
        from_state: false,
    };
    let Some(scan) = &index.scan else {
        return vec![item(
            &index.name,
            label.to_owned(),
            Status::NotChecked,
            "the bundle carries no scan (it was made without a vulnerability database), so there is no package inventory to match".into(),
        )];
    };
    let mut items = Vec::new();
    for record in &scan.reports {
        let report = match read_report(bundle, &record.report) {
            Ok(r) => r,
            Err(e) => {
                items.push(item(&record.image, record.manifest.to_string(), Status::Error, e));
                continue;
            }
        };
        let before: BTreeSet<(String, String, String)> = report
            .findings
            .iter()
            .map(|f| (f.id.clone(), f.name.clone(), f.version.clone()))
            .collect();
        let matches = matcher::find(db, &report.packages);
        let new: Vec<&matcher::Finding> = matches
            .findings
            .iter()
            .filter(|f| !before.contains(&(f.id.clone(), f.name.clone(), f.version.clone())))
            .collect();
        let now = Report {
            findings: matches.findings.clone(),
            ..report
        };
        let mut verdict = Verdict::new(&scan.policy, at.date());
        now.judge(&mut verdict);
        let verdict = verdict.finish();
        let mut detail = format!(
            "{} finding(s) with database {}, {} new since the bundle's scan",
            now.findings.len(),
            db.metadata.digest,
            new.len()
        );
        if !new.is_empty() {
            let ids: Vec<String> = new
                .iter()
                .take(10)
                .map(|f| format!("{} in {} {}", f.id, f.name, f.version))
                .collect();
            detail.push_str(&format!(" ({}{})", ids.join(", "), if new.len() > 10 { ", …" } else { "" }));
        }
        let status = if verdict.passed() {
            Status::Ok
        } else {
            let blocked: Vec<String> = verdict
                .blocked
                .iter()
                .map(|b| match &b.allowance {
                    Some(a) => format!("{} (allowance expired {})", b.id, a.expires),
                    None => b.id.clone(),
                })
                .collect();
            detail.push_str(&format!("; the bundle's policy blocks {}", blocked.join(", ")));
            Status::Vulnerable
        };
        items.push(item(&record.image, record.manifest.to_string(), status, detail));
    }
    items
}

fn read_report(bundle: &VerifiedBundle, path: &str) -> Result<Report, String> {
    let mut bytes = Vec::new();
    bundle
        .open_entry(path)
        .ok_or_else(|| format!("{path} is not a verified entry of the bundle"))?
        .take(MAX_REPORT_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{path}: {e}"))?;
    if bytes.len() as u64 > MAX_REPORT_SIZE {
        return Err(format!("{path} is over {MAX_REPORT_SIZE} bytes"));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{path}: {e}"))
}
