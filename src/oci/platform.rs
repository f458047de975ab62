//! Platforms as written by users and in image indexes: `os/architecture[/variant]`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Error;

/// An OS/architecture pair with an optional variant (`linux/arm/v7`).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Platform {
    /// `os` field of the index entry, e.g. `linux`.
    pub os: String,
    /// `architecture` field, e.g. `amd64`.
    pub architecture: String,
    /// `variant` field, e.g. `v8`; absent on most platforms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Does an index entry's platform satisfy this requested platform? A request without a
    /// variant accepts any variant, and `arm64` treats a missing variant as `v8`.
    #[must_use]
    pub fn matches(&self, offered: &Platform) -> bool {
        if self.os != offered.os || self.architecture != offered.architecture {
            return false;
        }
        match (&self.variant, &offered.variant) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => self.architecture == "arm64" && want == "v8",
        }
    }
}

impl Platform {
    /// The platform an image config states (`os`, `architecture`, `variant`), if it states one.
    #[must_use]
    pub fn from_config(config: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(config).ok()?;
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        Some(Self {
            os: field("os")?,
            architecture: field("architecture")?,
            variant: field("variant"),
        })
    }
}

impl FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: Some((*variant).to_owned()),
            }),
            _ => Err(Error::InvalidPlatform(s.to_owned())),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_matching_follows_request() {
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let arm64v8: Platform = "linux/arm64/v8".parse().unwrap();
        let armv7: Platform = "linux/arm/v7".parse().unwrap();
        let armv6: Platform = "linux/arm/v6".parse().unwrap();
        assert!(arm64.matches(&arm64v8));
        assert!(arm64v8.matches(&arm64));
        assert!(!armv7.matches(&armv6));
        assert!(!arm64.matches(&"linux/amd64".parse().unwrap()));
        assert!("linux".parse::<Platform>().is_err());
        assert_eq!(armv7.to_string(), "linux/arm/v7");
    }
}
