//! Semantic Versioning 2.0 precedence, for npm, crates.io and Go modules (with or without
//! Go's leading `v`). Build metadata (`+incompatible`, `+build.5`) does not affect order.

use super::{Scheme, VersionError};

pub fn parse(s: &str) -> Result<semver::Version, VersionError> {
    let v = s.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    semver::Version::parse(v).map_err(|e| VersionError::new(Scheme::Semver, s, e.to_string()))
}
