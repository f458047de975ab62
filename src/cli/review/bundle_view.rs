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

/// Largest release file read for the page (scan reports of big images are a few MiB).
const MAX_FILE: u64 = 64 << 20;
/// Where `bundle create` puts the cluster objects hardening generates.
const CLUSTER_PREFIX: &str = "sealift/manifests/sealift-cluster/";

/// The release files the page shows, read from a bundle.
#[derive(Default)]
pub(crate) struct ReviewFiles {
    files: BTreeMap<String, Vec<u8>>,
    /// Files that could not be read, each with why.
    unreadable: Vec<String>,
}

impl ReviewFiles {
    /// The paths the page reads: scan reports, the hardening report, generated cluster objects.
    fn wanted(index: &BundleIndex) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if let Some(scan) = &index.scan {
            out.extend(scan.reports.iter().map(|r| r.report.as_str()));
        }
        if let Some(h) = &index.harden {
            out.push(h.report.as_str());
        }
        out.extend(
            index
                .entries
                .iter()
                .map(|e| e.path.as_str())
                .filter(|p| p.starts_with(CLUSTER_PREFIX)),
        );
        out
    }

    /// Read them from a bundle that is not verified (each checked against its listed digest).
    pub(crate) fn unverified(bundle: &sealift::bundle::UnverifiedBundle, index: &BundleIndex) -> anyhow::Result<Self> {
        let listed = bundle.read_listed(index, &Self::wanted(index), MAX_FILE)?;
        Ok(Self {
            files: listed.files,
            unreadable: listed.unreadable,
        })
    }

    /// Read them from a verified bundle (re-hashed as they are read).
    pub(crate) fn verified(bundle: &VerifiedBundle) -> Self {
        let mut out = Self::default();
        for path in Self::wanted(bundle.index()) {
            let Some(reader) = bundle.open_entry(path) else {
                out.unreadable.push(format!("{path}: not in the bundle"));
                continue;
            };
            let mut bytes = Vec::new();
            match reader.take(MAX_FILE + 1).read_to_end(&mut bytes) {
                Ok(_) if bytes.len() as u64 > MAX_FILE => out.unreadable.push(format!("{path}: larger than {MAX_FILE} bytes")),
                Ok(_) => {
                    out.files.insert(path.to_owned(), bytes);
                }
                Err(e) => out.unreadable.push(format!("{path}: {e}")),
            }
        }
        out
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
    /// Key ids of the upstream publisher keys the release pinned.
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
    pub manifest: String,
    pub packages: usize,
    pub findings: usize,
    /// Counts by severity, most severe first; empty when the report could not be read.
    pub counts: Vec<CountView>,
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
}

#[derive(Serialize)]
pub(crate) struct FileView {
    pub path: String,
    pub text: String,
}

#[derive(Serialize)]
pub(crate) struct HardenView {
    pub kubernetes_version: String,
    pub changes: usize,
    pub findings: usize,
    /// The hardening report as `bundle create` wrote it (`workloads`, `changes`, `findings`,
    /// `notHardened`, `namespaces`), or null when it could not be read.
    pub report: serde_json::Value,
    pub cluster_files: Vec<FileView>,
}

#[derive(Serialize)]
pub(crate) struct BundleView {
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
}

impl BundleView {
    /// The view of one bundle. Without `verification` (inspect), signers are the key ids the
    /// signature entries claim, and the scan's findings are judged here, on `today`, under
    /// the carried policy, and said to be unverified.
    pub(crate) fn new(
        file: &str,
        index: &BundleIndex,
        files: ReviewFiles,
        claimed_keys: &[String],
        verification: Option<Verification<'_>>,
        today: time::Date,
    ) -> Self {
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
                "not checked: run `sealift verify` with the pinned keys".to_owned(),
            ),
        };
        let ReviewFiles { files, unreadable } = files;
        Self {
            name: index.name.clone(),
            file: file.to_owned(),
            created: index.created.to_string(),
            tool: format!("{} {}", index.tool.name, index.tool.version),
            follows: index.follows.as_ref().map(ToString::to_string).unwrap_or_default(),
            signers,
            threshold,
            images: images(index),
            scan: scan(
                index,
                &files,
                verification.as_ref().and_then(|v| v.report.scan.as_ref()).map(|s| &s.verdict),
                today,
            ),
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
    (
        rows,
        format!("{counted} of {} required valid signature(s): {met}", report.threshold),
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

fn scan(index: &BundleIndex, files: &BTreeMap<String, Vec<u8>>, verified: Option<&Verdict>, today: time::Date) -> Option<ScanView> {
    let record = index.scan.as_ref()?;
    let parsed: Vec<Option<Report>> = record
        .reports
        .iter()
        .map(|r| files.get(&r.report).and_then(|b| serde_json::from_slice(b).ok()))
        .collect();
    let (verdict, judged) = match verified {
        Some(v) => (v.clone(), format!("by `verify` on {}", v.judged_on)),
        None => {
            let mut v = Verdict::new(&record.policy, today);
            for report in parsed.iter().flatten() {
                report.judge(&mut v);
            }
            let v = v.finish();
            let judged = format!("by this page on {} from the bundle's own reports, NOT verified", v.judged_on);
            (v, judged)
        }
    };
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
        blocked: verdict.blocked,
        allowed: verdict.allowed,
        unused_allowances: verdict.unused_allowances,
    })
}

fn harden(index: &BundleIndex, files: &BTreeMap<String, Vec<u8>>) -> Option<HardenView> {
    let record = index.harden.as_ref()?;
    let report = files
        .get(&record.report)
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(serde_json::Value::Null);
    let cluster_files = files
        .iter()
        .filter(|(p, _)| p.starts_with(CLUSTER_PREFIX))
        .map(|(p, b)| FileView {
            path: p.trim_start_matches("sealift/manifests/").to_owned(),
            text: String::from_utf8_lossy(b).into_owned(),
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
