//! Matching: which installed packages the database's advisories say are affected.
//!
//! - Debian packages match on their source package and source version (a binNMU `+b1`
//!   binary carries its source's version); alpine packages on their origin.
//! - For Debian, a release's own entry (`Debian:12`) overrides the release-less one (`Debian`)
//!   for the same id, so "not affected in bookworm" silences an open entry.
//! - A version the ecosystem's ordering cannot read is a warning naming the package or the
//!   advisory, never a silent "not affected".

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::db::{Advisory, Database, Range};
use super::package::{Kind, Package};
use super::version::{Scheme, VersionError};

/// One package affected by one vulnerability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub name: String,
    pub version: String,
    pub purl: String,
    pub ecosystem: String,
    pub id: String,
    pub aliases: Vec<String>,
    pub severity: String,
    /// The advisory's CVSS vector and base score, where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<crate::scan::cvss::Cvss>,
    /// The first version without the vulnerability, or null when no fix is known.
    pub fixed_version: Option<String>,
    pub layer: String,
    pub path: String,
    /// The line of `path` the package's record starts on, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// The findings, and what could not be compared.
#[derive(Debug, Default)]
pub struct Matches {
    pub findings: Vec<Finding>,
    pub warnings: Vec<String>,
}

pub use crate::policy::vulns::{SEVERITIES, severity_rank};

pub fn find(db: &Database, packages: &[Package]) -> Matches {
    let mut out = Matches::default();
    for p in packages {
        let Some(kind) = p.kind() else { continue };
        let scheme = kind.scheme();
        let (name, version) = match kind {
            Kind::Deb => (
                p.source_name.as_deref().unwrap_or(&p.name),
                p.source_version.as_deref().unwrap_or(&p.version),
            ),
            Kind::Apk => (p.source_name.as_deref().unwrap_or(&p.name), p.version.as_str()),
            _ => (p.name.as_str(), p.version.as_str()),
        };
        let own = db.advisories(&p.ecosystem, name);
        let release_less = match (kind, p.ecosystem.split_once(':')) {
            (Kind::Deb, Some((family, _))) => db.advisories(family, name),
            _ => &[],
        };
        if own.is_empty() && release_less.is_empty() {
            continue;
        }
        if let Err(e) = scheme.validate(version) {
            out.warnings
                .push(format!("{} {} ({}): {e}; not matched", p.name, p.version, p.path));
            continue;
        }
        let overridden: BTreeSet<&str> = own.iter().map(|a| a.id.as_str()).collect();
        let candidates = own
            .iter()
            .chain(release_less.iter().filter(|a| !overridden.contains(a.id.as_str())));
        // One finding per id; several entries of one record (one per release line) merge.
        let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
        for advisory in candidates {
            match affected(scheme, version, advisory) {
                Ok(None) => {}
                Ok(Some(fixed)) => match by_id.get(&advisory.id) {
                    Some(&i) => {
                        let earlier = out.findings[i].fixed_version.take();
                        out.findings[i].fixed_version = nearest(scheme, earlier, fixed);
                    }
                    None => {
                        by_id.insert(advisory.id.clone(), out.findings.len());
                        out.findings.push(Finding {
                            name: p.name.clone(),
                            version: p.version.clone(),
                            purl: p.purl.clone(),
                            ecosystem: p.ecosystem.clone(),
                            id: advisory.id.clone(),
                            aliases: advisory.aliases.clone(),
                            severity: advisory.severity.clone(),
                            cvss: advisory.cvss.clone(),
                            fixed_version: fixed,
                            layer: p.layer.clone(),
                            path: p.path.clone(),
                            line: p.line,
                        });
                    }
                },
                Err(e) => out.warnings.push(format!(
                    "{} for {} {}: {e}; this advisory was not applied",
                    advisory.id, p.name, p.version
                )),
            }
        }
    }
    out.findings
        .sort_by(|a, b| (&a.ecosystem, &a.name, &a.version, &a.path, &a.id).cmp(&(&b.ecosystem, &b.name, &b.version, &b.path, &b.id)));
    out
}

/// `Some(fixed version or None)` when `version` is affected by `advisory`. A range whose bound
/// cannot be read does not hide another range that matches; only when nothing matched is the
/// unreadable bound an error.
fn affected(scheme: Scheme, version: &str, advisory: &Advisory) -> Result<Option<Option<String>>, VersionError> {
    let mut unreadable = None;
    let mut matched: Option<Option<String>> = None;
    for range in &advisory.ranges {
        match in_range(scheme, version, range) {
            // Overlapping ranges (a record per release line): the nearest fix is the one to name.
            Ok(true) => {
                matched = Some(nearest(scheme, matched.flatten(), range.fixed.clone()));
            }
            Ok(false) => {}
            Err(e) => unreadable = Some(e),
        }
    }
    if matched.is_some() {
        return Ok(matched);
    }
    if advisory.versions.iter().any(|v| v == version) {
        return Ok(Some(None));
    }
    unreadable.map_or(Ok(None), Err)
}

/// Of two fixed versions, the lower one; a known fix wins over none.
fn nearest(scheme: Scheme, a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let b_first = scheme
                .compare(&bound_form(scheme, &b), &bound_form(scheme, &a))
                .is_ok_and(|o| o.is_lt());
            Some(if b_first { b } else { a })
        }
        (a, b) => a.or(b),
    }
}

fn in_range(scheme: Scheme, version: &str, range: &Range) -> Result<bool, VersionError> {
    use std::cmp::Ordering::{Greater, Less};
    let cmp = |bound: &str| scheme.compare(version, &bound_form(scheme, bound));
    if range.introduced != "0" && cmp(&range.introduced)? == Less {
        return Ok(false);
    }
    if let Some(fixed) = &range.fixed {
        return Ok(cmp(fixed)? == Less);
    }
    if let Some(last) = &range.last_affected {
        return Ok(cmp(last)? != Greater);
    }
    Ok(true)
}

/// Advisory bounds as the scheme reads them: GitHub's records have SemVer bounds such as `1.0`,
/// which mean `1.0.0`. Installed versions get no such help.
fn bound_form(scheme: Scheme, bound: &str) -> String {
    let numeric = !bound.is_empty() && bound.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    match bound.split('.').count() {
        1 if scheme == Scheme::Semver && numeric => format!("{bound}.0.0"),
        2 if scheme == Scheme::Semver && numeric => format!("{bound}.0"),
        _ => bound.to_owned(),
    }
}

#[cfg(test)]
mod tests;
