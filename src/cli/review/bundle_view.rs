//! One bundle on the review page: its signers, images, scan and hardening, from its index and
//! the release files it carries (scan reports, the hardening report, the generated cluster
//! objects).

use std::collections::BTreeMap;
use std::io::Read as _;

use sealift::bundle::{BundleIndex, SignatureOrigin};
use sealift::policy::vulns::{Judged, Verdict};
use sealift::scan::Report;
use sealift::scan::matcher::SEVERITIES;
use sealift::sign::PublicKey;
use sealift::verify::VerifiedBundle;
use serde::Serialize;

/// Largest release file read for the page (scan reports of big images are a few MiB)…
const MAX_FILE: u64 = 64 << 20;
/// …and most read for one bundle, all files together.
const MAX_TOTAL: u64 = 256 << 20;

/// Where `bundle create` puts the cluster objects hardening generates.
fn cluster_prefix() -> String {
    format!("sealift/manifests/{}/", sealift::harden::CLUSTER_DIR)
}

/// The release files the page shows, read from a bundle.
#[derive(Default)]
pub(crate) struct ReviewFiles {
    files: BTreeMap<String, Vec<u8>>,
    /// Files that could not be read, each with why.
    unreadable: Vec<String>,
}

impl ReviewFiles {
    /// The paths the page reads (scan reports, the hardening report, generated cluster
    /// objects), as long as they fit [`MAX_FILE`] each and [`MAX_TOTAL`] together by the sizes
    /// the index lists; the others, each with why it is not read.
    fn wanted(index: &BundleIndex) -> (Vec<&str>, Vec<String>) {
        let mut paths: Vec<&str> = Vec::new();
        if let Some(scan) = &index.scan {
            paths.extend(scan.reports.iter().map(|r| r.report.as_str()));
        }
        if let Some(h) = &index.harden {
            paths.push(h.report.as_str());
        }
        let prefix = cluster_prefix();
        paths.extend(index.entries.iter().map(|e| e.path.as_str()).filter(|p| p.starts_with(&prefix)));
        let size = |p: &str| index.entries.iter().find(|e| e.path == p).map_or(0, |e| e.size);
        let (mut total, mut kept, mut skipped) = (0u64, Vec::new(), Vec::new());
        for p in paths {
            let n = size(p);
            if n > MAX_FILE || total.saturating_add(n) > MAX_TOTAL {
                skipped.push(format!(
                    "{p}: {n} bytes, more than the page reads ({MAX_FILE} a file, {MAX_TOTAL} in all)"
                ));
            } else {
                total += n;
                kept.push(p);
            }
        }
        (kept, skipped)
    }

    /// Read them from a bundle that is not verified (each checked against its listed digest).
    pub(crate) fn unverified(bundle: &sealift::bundle::UnverifiedBundle, index: &BundleIndex) -> anyhow::Result<Self> {
        let (wanted, mut unreadable) = Self::wanted(index);
        let listed = bundle.read_listed(index, &wanted, MAX_FILE)?;
        unreadable.extend(listed.unreadable);
        Ok(Self {
            files: listed.files,
            unreadable,
        })
    }

    /// Read them from a verified bundle, re-hashed as they are read.
    ///
    /// # Errors
    /// A file whose bytes no longer hash to what was verified: the bundle changed on disk
    /// since, and the page must not show it under a VERIFIED banner.
    pub(crate) fn verified(bundle: &VerifiedBundle) -> anyhow::Result<Self> {
        let (wanted, unreadable) = Self::wanted(bundle.index());
        let mut out = Self {
            files: BTreeMap::new(),
            unreadable,
        };
        for path in wanted {
            let Some(reader) = bundle.open_entry(path) else {
                out.unreadable.push(format!("{path}: not in the bundle"));
                continue;
            };
            let mut bytes = Vec::new();
            reader
                .take(MAX_FILE)
                .read_to_end(&mut bytes)
                .map_err(|e| anyhow::anyhow!("{path}: {e}: the bundle changed since it was verified"))?;
            out.files.insert(path.to_owned(), bytes);
        }
        Ok(out)
    }
}

/// A key that signed (or was expected to).
#[derive(Serialize)]
pub(crate) struct SignerView {
    pub name: String,
    pub key_id: String,
    pub algorithm: String,
    /// `valid`, `expired`, `not yet valid`, `revoked`, or `not checked`.
    pub status: String,
    /// `signed`, `did not sign`, or `claims to have signed (not checked)`.
    pub signed: String,
    pub counted: bool,
    /// The trust policy's dates, where it gives them.
    pub validity: String,
}

#[derive(Serialize)]
pub(crate) struct ImageView {
    pub name: String,
    pub source: String,
    pub digest: String,
    pub media_type: String,
    pub platforms: Vec<PlatformView>,
    pub signatures: Vec<SignatureView>,
    /// Key ids of the upstream publisher keys the release pinned (and, once verified, its
    /// upstream signatures were checked with).
    pub upstream_keys: Vec<String>,
    pub artifacts: Vec<ArtifactView>,
}

#[derive(Serialize)]
pub(crate) struct PlatformView {
    pub platform: String,
    pub digest: String,
}

#[derive(Serialize)]
pub(crate) struct SignatureView {
    pub subject: String,
    pub format: String,
    pub origin: String,
    pub manifest: String,
}

#[derive(Serialize)]
pub(crate) struct ArtifactView {
    pub kind: String,
    pub artifact_type: String,
    pub digest: String,
}

#[derive(Serialize)]
pub(crate) struct CountView {
    pub severity: &'static str,
    pub count: usize,
}

/// One image manifest's scan.
#[derive(Serialize)]
pub(crate) struct ReportView {
    pub image: String,
    pub platform: String,
    /// The image manifest scanned.
    pub manifest: String,
    pub packages: usize,
    pub findings: usize,
    /// Counts by severity, most severe first; empty when the report could not be read.
    pub counts: Vec<CountView>,
}

#[derive(Serialize)]
pub(crate) struct NotScannedView {
    pub image: String,
    pub manifest: String,
    pub reason: String,
}

#[derive(Serialize)]
pub(crate) struct ScanView {
    pub database: String,
    pub newest: String,
    pub advisories: usize,
    pub fail_on: String,
    /// Who judged the findings, and on which day.
    pub judged: String,
    pub findings: usize,
    /// The severity words, most severe first: the columns of the counts.
    pub severities: &'static [&'static str],
    pub reports: Vec<ReportView>,
    pub blocked: Vec<Judged>,
    pub allowed: Vec<Judged>,
    pub unused_allowances: Vec<String>,
    /// Findings the policy did not list: below `fail-on`, or every one without a policy.
    pub others: Vec<OtherView>,
    /// Manifests that are not container images, each with why it was not scanned.
    pub not_scanned: Vec<NotScannedView>,
}

/// A finding neither blocked nor allowed.
#[derive(Serialize)]
pub(crate) struct OtherView {
    pub severity: String,
    pub id: String,
    pub package: String,
    pub version: String,
    pub fixed: String,
    pub image: String,
    pub platform: String,
}

#[derive(Serialize)]
pub(crate) struct FileView {
    pub path: String,
    /// The text, line by line (so a line break stays one, and every other control character
    /// shows).
    pub lines: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct HardenView {
    pub kubernetes_version: String,
    pub changes: usize,
    pub findings: usize,
    /// The hardening report `bundle create` wrote, or `None` when it could not be read.
    pub report: Option<sealift::harden::report::Report>,
    pub cluster_files: Vec<FileView>,
}

#[derive(Serialize)]
pub(crate) struct BundleView {
    /// Whether what the page shows of this bundle was verified.
    pub verified: bool,
    pub name: String,
    pub file: String,
    pub created: String,
    pub tool: String,
    pub follows: String,
    pub signers: Vec<SignerView>,
    /// The threshold and whether it is met, in words.
    pub threshold: String,
    pub images: Vec<ImageView>,
    pub scan: Option<ScanView>,
    pub harden: Option<HardenView>,
    pub unreadable: Vec<String>,
}

/// What verification said about the signers, when it ran.
pub(crate) struct Verification<'a> {
    pub report: &'a sealift::verify::VerifyReport,
    pub policy: &'a sealift::sign::TrustPolicy,
    /// When the keys were judged, if not at the page's own time (`check` verifies each bundle
    /// as of its creation): said beside the threshold.
    pub as_of: Option<&'a str>,
}

/// Who judges the scan's findings against the bundle's policy, and on which day.
pub(crate) enum Judging<'a> {
    /// `verify` did, and this is its verdict.
    Verify(&'a Verdict),
    /// The page does, on `day`, from the bundle's reports; `by` names who (`this page`,
    /// `this check`), `verified` whether those reports were.
    Here { day: time::Date, by: &'a str, verified: bool },
}

impl BundleView {
    /// The view of one bundle. Without `verification` (inspect), signers are the key ids the
    /// signature entries claim. `judging` says who judges the findings, and when.
    pub(crate) fn new(
        file: &str,
        index: &BundleIndex,
        files: ReviewFiles,
        claimed_keys: &[String],
        verification: Option<Verification<'_>>,
        judging: Judging<'_>,
    ) -> Self {
        let verified = verification.as_ref().is_some_and(|v| v.report.passed());
        let (signers, threshold) = match &verification {
            Some(v) => signers(v),
            None => (
                claimed_keys
                    .iter()
                    .map(|id| SignerView {
                        name: String::new(),
                        key_id: id.clone(),
                        algorithm: String::new(),
                        status: "not checked".into(),
                        signed: "claims to have signed (not checked)".into(),
                        counted: false,
                        validity: String::new(),
                    })
                    .collect(),
                "not checked: run sealift verify with the pinned keys".to_owned(),
            ),
        };
        let ReviewFiles { files, unreadable } = files;
        Self {
            verified,
            name: index.name.clone(),
            file: file.to_owned(),
            created: index.created.to_string(),
            tool: format!("{} {}", index.tool.name, index.tool.version),
            follows: index.follows.as_ref().map(ToString::to_string).unwrap_or_default(),
            signers,
            threshold,
            images: images(index),
            scan: scan(index, &files, judging),
            harden: harden(index, &files),
            unreadable,
        }
    }
}

fn signers(v: &Verification<'_>) -> (Vec<SignerView>, String) {
    let report = v.report;
    let day = |t: Option<time::OffsetDateTime>| t.map(|t| t.date().to_string());
    let rows = report
        .signers
        .iter()
        .map(|s| {
            let key = v.policy.keys.iter().find(|k| *k.key.id() == s.key_id);
            let validity = match key.map(|k| (day(k.not_before), day(k.not_after))) {
                Some((Some(from), Some(until))) => format!("{from} to {until}"),
                Some((Some(from), None)) => format!("from {from}"),
                Some((None, Some(until))) => format!("until {until}"),
                _ => "no dates".into(),
            };
            SignerView {
                name: s.name.clone(),
                key_id: s.key_id.to_string(),
                algorithm: s.algorithm.to_string(),
                status: s.status.to_string(),
                signed: if s.signed { "signed" } else { "did not sign" }.into(),
                counted: s.counted,
                validity,
            }
        })
        .collect();
    let counted = report.signers.iter().filter(|s| s.counted).count();
    let met = if report.threshold_met { "met" } else { "NOT met" };
    let as_of = v.as_of.map(|t| format!(" (keys judged {t})")).unwrap_or_default();
    (
        rows,
        format!("{counted} of {} required valid signature(s): {met}{as_of}", report.threshold),
    )
}

fn images(index: &BundleIndex) -> Vec<ImageView> {
    index
        .images
        .iter()
        .map(|i| ImageView {
            name: i.pinned_name(),
            source: i.source.to_string(),
            digest: i.digest.to_string(),
            media_type: i.media_type.clone(),
            platforms: i
                .platforms
                .iter()
                .map(|p| PlatformView {
                    platform: p.platform.to_string(),
                    digest: p.digest.to_string(),
                })
                .collect(),
            signatures: i
                .signatures
                .iter()
                .map(|s| SignatureView {
                    subject: s.subject.to_string(),
                    format: s.format.to_string(),
                    origin: match s.origin {
                        SignatureOrigin::Release => "release key".into(),
                        SignatureOrigin::Upstream => "upstream publisher".into(),
                    },
                    manifest: s.manifest.to_string(),
                })
                .collect(),
            upstream_keys: i
                .upstream_keys
                .iter()
                .map(|pem| PublicKey::from_pem(pem).map_or_else(|e| format!("unreadable key: {e}"), |k| k.id().to_string()))
                .collect(),
            artifacts: i
                .artifacts
                .iter()
                .map(|a| ArtifactView {
                    kind: a.kind.to_string(),
                    artifact_type: a.artifact_type.clone().unwrap_or_default(),
                    digest: a.digest.to_string(),
                })
                .collect(),
        })
        .collect()
}

fn scan(index: &BundleIndex, files: &BTreeMap<String, Vec<u8>>, judging: Judging<'_>) -> Option<ScanView> {
    let record = index.scan.as_ref()?;
    let parsed: Vec<Option<Report>> = record
        .reports
        .iter()
        .map(|r| files.get(&r.report).and_then(|b| serde_json::from_slice(b).ok()))
        .collect();
    let (verdict, mut judged) = match judging {
        Judging::Verify(v) => (v.clone(), format!("by verify on {}", v.judged_on)),
        Judging::Here { day, by, verified } => {
            let mut v = Verdict::new(&record.policy, day);
            for report in parsed.iter().flatten() {
                report.judge(&mut v);
            }
            let v = v.finish();
            let whose = if verified { "verified" } else { "own, NOT verified," };
            let judged = format!("by {by} on {} from the bundle's {whose} reports", v.judged_on);
            (v, judged)
        }
    };
    let listed: std::collections::BTreeSet<(&str, &str, &str, &str, Option<&str>)> = verdict
        .blocked
        .iter()
        .chain(&verdict.allowed)
        .map(|j| {
            (
                j.id.as_str(),
                j.package.as_str(),
                j.version.as_str(),
                j.image.as_str(),
                j.platform.as_deref(),
            )
        })
        .collect();
    let mut others = Vec::new();
    for report in parsed.iter().flatten() {
        for f in &report.findings {
            let key = (
                f.id.as_str(),
                f.name.as_str(),
                f.version.as_str(),
                report.image.as_str(),
                report.platform.as_deref(),
            );
            if !listed.contains(&key) {
                others.push(OtherView {
                    severity: f.severity.clone(),
                    id: f.id.clone(),
                    package: f.name.clone(),
                    version: f.version.clone(),
                    fixed: f.fixed_version.clone().unwrap_or_else(|| "(no fix)".into()),
                    image: report.image.clone(),
                    platform: report.platform.clone().unwrap_or_default(),
                });
            }
        }
    }
    others.sort_by_key(|o| sealift::scan::matcher::severity_rank(&o.severity));
    let unread = parsed.iter().filter(|p| p.is_none()).count();
    if unread > 0 {
        judged.push_str(&format!("; {unread} report(s) could not be read and are not counted"));
    }
    let reports = record
        .reports
        .iter()
        .zip(&parsed)
        .map(|(r, report)| ReportView {
            image: r.image.clone(),
            platform: r.platform.clone().unwrap_or_default(),
            manifest: r.manifest.to_string(),
            packages: r.packages,
            findings: r.findings,
            counts: report
                .as_ref()
                .map(|rep| {
                    SEVERITIES
                        .iter()
                        .zip(rep.counts())
                        .map(|(severity, count)| CountView { severity, count })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    Some(ScanView {
        database: record.database.digest.clone(),
        newest: record.database.newest.clone().unwrap_or_else(|| "undated".into()),
        advisories: record.database.advisories,
        fail_on: record.policy.fail_on.map_or("none (report only)".into(), |f| f.to_string()),
        judged,
        findings: verdict.findings,
        severities: &SEVERITIES,
        reports,
        blocked: verdict.blocked.clone(),
        allowed: verdict.allowed.clone(),
        unused_allowances: verdict.unused_allowances.clone(),
        others,
        not_scanned: record
            .not_scanned
            .iter()
            .map(|n| NotScannedView {
                image: n.image.clone(),
                manifest: n.manifest.to_string(),
                reason: n.reason.clone(),
            })
            .collect(),
    })
}

fn harden(index: &BundleIndex, files: &BTreeMap<String, Vec<u8>>) -> Option<HardenView> {
    let record = index.harden.as_ref()?;
    let report = files.get(&record.report).and_then(|b| serde_json::from_slice(b).ok());
    let prefix = cluster_prefix();
    let cluster_files = files
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .map(|(p, b)| FileView {
            path: p.trim_start_matches("sealift/manifests/").to_owned(),
            lines: String::from_utf8_lossy(b).lines().map(str::to_owned).collect(),
        })
        .collect();
    Some(HardenView {
        kubernetes_version: record.kubernetes_version.clone(),
        changes: record.changes,
        findings: record.findings,
        report,
        cluster_files,
    })
}
