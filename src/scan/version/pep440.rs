//! Python version ordering (PEP 440), with its normalisations: `1.0RC1 == 1.0rc1`,
//! `1.0-1 == 1.0.post1`, epochs (`1!0.1 > 2.0`), dev < pre < final < post, local versions
//! after their public version.

use super::{Scheme, VersionError};

pub fn parse(s: &str) -> Result<pep440_rs::Version, VersionError> {
    s.trim()
        .parse()
        .map_err(|e: pep440_rs::VersionParseError| VersionError::new(Scheme::Pep440, s, e.to_string()))
}
