//! Scanning a release at `bundle create`: every image manifest (each platform of an index) gets
//! a scan report (`sealift-scan/1`) and a CycloneDX SBOM under `sealift/scan/<hex>/` in the
//! bundle, and the policy judges every finding. A "no" stops the bundle before it is written.

use std::collections::BTreeSet;
use std::path::Path;

use super::Error;
use crate::bundle::{BundleFile, NotScannedRecord, ScanDatabase, ScanRecord, ScanReportRecord};
use crate::oci::Descriptor;
use crate::policy::VulnPolicy;
use crate::policy::vulns::Verdict;
use crate::progress::Reporter;
use crate::scan::db::Database;
use crate::scan::{formats, image};
use crate::source::PulledImage;
use crate::store::Blobs;
use crate::store::Layout;

/// How to scan a release.
pub struct ScanPlan<'a> {
    /// The opened (checked, fresh enough) vulnerability database.
    pub database: &'a Database,
    /// What blocks the bundle.
    pub policy: VulnPolicy,
    /// The day allowances are judged on.
    pub today: time::Date,
}

/// What scanning a release produced.
#[derive(Debug, Clone)]
pub struct ReleaseScan {
    /// The `scan` section of `bundle.json`.
    pub record: ScanRecord,
    /// The policy's answer.
    pub verdict: Verdict,
}

/// Path of an image manifest's scan files inside the bundle.
fn bundle_dir(manifest: &Descriptor) -> String {
    format!("sealift/scan/{}", manifest.digest.hex())
}

fn write(dir: &Path, name: &str, doc: &impl serde::Serialize) -> Result<std::path::PathBuf, Error> {
    let path = dir.join(name);
    let mut bytes = serde_json::to_vec_pretty(doc).map_err(|e| Error::ReleaseFile {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    std::fs::write(&path, bytes).map_err(|e| Error::ReleaseFile {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(path)
}

/// Scan `images` (display name, pulled image) from `layout`: every runnable manifest of each
/// image's graph, at any depth. The documents go into `dir`; returns the bundle's scan record,
/// the verdict and the files to carry. Attestations and other artifacts are listed as not
/// scanned, never counted as clean.
pub(super) fn scan_images(
    layout: &Layout,
    blobs: &dyn Blobs,
    images: &[(String, &PulledImage)],
    plan: &ScanPlan<'_>,
    dir: &Path,
    reporter: &dyn Reporter,
) -> Result<(ReleaseScan, Vec<BundleFile>), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::ReleaseFile {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut verdict = Verdict::new(&plan.policy, plan.today);
    let mut reports = Vec::new();
    let mut files = Vec::new();
    let mut not_scanned = Vec::new();
    let (mut done, mut listed) = (BTreeSet::new(), BTreeSet::new());
    for (name, pulled) in images {
        for node in pulled.graph.others(&pulled.root.digest) {
            if listed.insert(node.descriptor.digest.clone()) {
                not_scanned.push(NotScannedRecord {
                    image: name.clone(),
                    manifest: node.descriptor.digest.clone(),
                    kind: node.kind,
                    reason: node.kind.not_scanned_reason(),
                });
            }
        }
        for node in pulled.graph.runnable(&pulled.root.digest) {
            let manifest = &node.descriptor;
            // An image listed twice, or under two names, is scanned (and judged) once.
            if !done.insert(manifest.digest.clone()) {
                continue;
            }
            let report = image::scan_manifest(layout, blobs, manifest, node.platform.as_ref(), name, plan.database)?;
            report.judge(&mut verdict);
            let hex = manifest.digest.hex();
            let report_path = write(dir, &format!("{hex}.report.json"), &report)?;
            let sbom_path = write(dir, &format!("{hex}.cdx.json"), &formats::cyclonedx(&report))?;
            let record = ScanReportRecord {
                image: name.clone(),
                manifest: manifest.digest.clone(),
                platform: report.platform.clone(),
                report: format!("{}/report.json", bundle_dir(manifest)),
                sbom: format!("{}/sbom.cdx.json", bundle_dir(manifest)),
                packages: report.packages.len(),
                findings: report.findings.len(),
            };
            reporter.note(&format!(
                "scanned {name}{}: {} packages, {} findings",
                record.platform.as_deref().map(|p| format!(" ({p})")).unwrap_or_default(),
                record.packages,
                record.findings
            ));
            files.push(BundleFile {
                path: record.report.clone(),
                source: report_path,
            });
            files.push(BundleFile {
                path: record.sbom.clone(),
                source: sbom_path,
            });
            reports.push(record);
        }
    }
    let meta = &plan.database.metadata;
    let record = ScanRecord {
        database: ScanDatabase {
            digest: meta.digest.clone(),
            newest: meta.newest.clone(),
            advisories: meta.advisories,
        },
        policy: plan.policy.clone(),
        reports,
        not_scanned,
    };
    Ok((
        ReleaseScan {
            record,
            verdict: verdict.finish(),
        },
        files,
    ))
}
