//! Version ordering per package ecosystem. Matching a package against an advisory's ranges is
//! only as good as this: every ecosystem orders versions its own way, and guessing (a generic
//! "natural sort") reports fixed packages as vulnerable and the reverse.
//!
//! A version a scheme cannot parse is an error, never a guess, so the caller can report the
//! package as unmatched instead of silently calling it safe.

mod apk;
mod dpkg;
mod pep440;
mod rpm;
mod semver;

use std::cmp::Ordering;
use std::fmt;

/// A version ordering: the package manager's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Debian and Ubuntu (`dpkg --compare-versions`): epoch, upstream, revision, `~` first.
    Dpkg,
    /// Alpine (`apk version -t`): dotted numbers, letter, `_alpha`…`_p` suffixes, `-rN`.
    Apk,
    /// RPM (`rpmvercmp`): epoch, version, release; `~` before and `^` after the end.
    Rpm,
    /// Semantic Versioning 2.0 precedence (npm, crates.io, Go modules); build metadata ignored.
    Semver,
    /// Python's PEP 440 (PyPI): epochs, pre, post, dev and local versions.
    Pep440,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Self::Dpkg => "dpkg",
            Self::Apk => "apk",
            Self::Rpm => "rpm",
            Self::Semver => "semver",
            Self::Pep440 => "pep440",
        }
    }

    /// Order two versions, or say which one this scheme cannot read.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        match self {
            Self::Dpkg => Ok(dpkg::Version::parse(a)?.cmp(&dpkg::Version::parse(b)?)),
            Self::Apk => Ok(apk::compare(&apk::Version::parse(a)?, &apk::Version::parse(b)?)),
            Self::Rpm => Ok(rpm::Evr::parse(a)?.cmp(&rpm::Evr::parse(b)?)),
            Self::Semver => Ok(semver::parse(a)?.cmp_precedence(&semver::parse(b)?)),
            Self::Pep440 => Ok(pep440::parse(a)?.cmp(&pep440::parse(b)?)),
        }
    }

    /// Check that `v` is a version in this scheme.
    pub fn validate(self, v: &str) -> Result<(), VersionError> {
        self.compare(v, v).map(|_| ())
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A version string the scheme cannot order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{version}` is not a {scheme} version: {reason}")]
pub struct VersionError {
    pub scheme: Scheme,
    pub version: String,
    pub reason: String,
}

impl VersionError {
    fn new(scheme: Scheme, version: &str, reason: impl Into<String>) -> Self {
        Self {
            scheme,
            version: version.to_owned(),
            reason: reason.into(),
        }
    }
}
