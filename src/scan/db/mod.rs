//! The offline vulnerability database: advisories from files (OSV records, Debian security
//! tracker entries, Alpine secdb), normalised into one store that `scan` reads.
//!
//! On disk the store is a directory:
//!
//! - `advisories.jsonl`: one [`Advisory`] per line, sorted by ecosystem, package and id, so the
//!   same inputs give the same bytes;
//! - `metadata.json`: the store's [`Metadata`]: the digest of `advisories.jsonl`, the newest
//!   record date, counts per ecosystem, and what was read.
//!
//! A store that is missing, empty, altered since it was built, or older than the caller
//! accepts is an error: a scan without data must never look like a clean scan.

mod alpine;
mod build;
mod debian;
mod osv;
mod store;

pub use build::{BuildReport, build};
pub use store::{Database, Metadata};

use serde::{Deserialize, Serialize};

/// One package's exposure to one vulnerability, in one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    /// The record's id (`GHSA-…`, `RUSTSEC-…`, `CVE-…` for tracker entries).
    pub id: String,
    /// Other ids of the same vulnerability (CVE, GHSA, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// OSV's ecosystem names: `Debian:12`, `Alpine:v3.14`, `npm`, `PyPI`, `crates.io`, `Go`.
    pub ecosystem: String,
    /// The package as the ecosystem names it; for Debian, the source package.
    pub package: String,
    /// `critical`, `high`, `medium`, `low`, `negligible` or `unknown`: the source's label, or
    /// where it has none, the qualitative rating of [`Advisory::cvss`].
    pub severity: String,
    /// The record's CVSS v3.x or v4.0 vector and base score, where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<crate::scan::cvss::Cvss>,
    /// Affected version intervals; a package version inside any of them is affected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// Affected versions listed one by one (OSV `versions`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// When the record was last changed (RFC 3339), where the source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// The source format: `osv`, `debian-tracker` or `alpine-secdb`.
    pub source: String,
}

/// `[introduced, fixed)` or `[introduced, last_affected]`; `introduced` "0" is the beginning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub introduced: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
}

impl Range {
    /// Affected from the beginning up to (not including) `fixed`; without it, every version.
    pub fn before(fixed: Option<String>) -> Self {
        Self {
            introduced: "0".into(),
            fixed,
            last_affected: None,
        }
    }
}

/// Map a source's severity word onto the report's scale.
pub(crate) fn severity_word(raw: &str) -> &'static str {
    match raw.trim().to_ascii_lowercase().as_str() {
        "critical" => "critical",
        "high" | "important" => "high",
        "medium" | "moderate" => "medium",
        "low" => "low",
        "negligible" | "unimportant" => "negligible",
        _ => "unknown",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid {format} record: {reason}")]
    Malformed {
        path: std::path::PathBuf,
        format: &'static str,
        reason: String,
    },
    #[error("no advisory records found under {0}")]
    NoRecords(String),
    #[error("vulnerability database {dir}: {reason}")]
    Unusable { dir: std::path::PathBuf, reason: String },
}
