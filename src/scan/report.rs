//! The scan report of one image (one platform): its packages and findings, in the documented
//! JSON schema (`sealift-scan/1`, see README), which every other output format is made from.

use serde::{Deserialize, Serialize};

use super::db::Metadata;
use super::inventory::Inventory;
use super::matcher::{Finding, Matches, severity_rank};
use super::package::{Distro, Package};
use crate::policy::vulns::{FindingRef, Verdict};

pub const SCHEMA: &str = "sealift-scan/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    /// The image as the user named it.
    pub image: String,
    /// Digest of the image manifest scanned.
    pub digest: String,
    /// `os/architecture[/variant]` from the image config, when it says.
    pub platform: Option<String>,
    pub distro: Option<Distro>,
    pub database: DatabaseInfo,
    pub packages: Vec<Package>,
    pub findings: Vec<Finding>,
    /// Package records that could not be read and versions that could not be compared.
    pub warnings: Vec<String>,
    /// Manifests of the image that are not container images (attestations, signatures, SBOMs,
    /// artifacts), each with why it was not scanned: never counted as clean.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_scanned: Vec<NotScanned>,
}

/// A manifest the scan did not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotScanned {
    /// Its digest.
    pub digest: String,
    /// What it is (`attestation`, `signature`, `sbom`, `artifact`).
    pub kind: crate::oci::ManifestKind,
    /// `not scanned: <kind>`.
    pub reason: String,
}

/// Which vulnerability data the findings come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseInfo {
    pub digest: String,
    pub newest: Option<String>,
    pub advisories: usize,
}

impl DatabaseInfo {
    pub fn from_metadata(m: &Metadata) -> Self {
        Self {
            digest: m.digest.clone(),
            newest: m.newest.clone(),
            advisories: m.advisories,
        }
    }
}

impl Report {
    pub fn new(image: &str, digest: &str, platform: Option<String>, inventory: Inventory, matches: Matches, db: &Metadata) -> Self {
        let mut warnings = inventory.warnings;
        warnings.extend(matches.warnings);
        Self {
            schema: SCHEMA.into(),
            image: image.to_owned(),
            digest: digest.to_owned(),
            platform,
            distro: inventory.distro,
            database: DatabaseInfo::from_metadata(db),
            packages: inventory.packages,
            findings: matches.findings,
            warnings,
            not_scanned: Vec::new(),
        }
    }

    /// Hand every finding to a policy verdict.
    pub fn judge(&self, verdict: &mut Verdict) {
        for f in &self.findings {
            verdict.judge(FindingRef {
                image: &self.image,
                platform: self.platform.as_deref(),
                id: &f.id,
                aliases: &f.aliases,
                severity: &f.severity,
                package: &f.name,
                version: &f.version,
            });
        }
    }

    /// Number of findings per severity, most severe first (`critical` … `unknown`).
    pub fn counts(&self) -> [usize; 6] {
        let mut out = [0; 6];
        for f in &self.findings {
            out[severity_rank(&f.severity)] += 1;
        }
        out
    }
}
