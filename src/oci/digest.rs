//! Content digests: `sha256:<64 lowercase hex>`, the only algorithm sealift accepts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use super::Error;

/// A validated `sha256:<hex>` content digest.
///
/// ```
/// use sealift::oci::Digest;
/// let d = Digest::of(b"{}");
/// assert_eq!(d.to_string(), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
/// assert_eq!(d.tag_form(), "sha256-44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
/// assert!("sha512:00".parse::<Digest>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Digest of a byte slice held in memory (manifests, small documents).
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// Finish a running SHA-256 into a digest.
    #[must_use]
    pub fn from_hasher(hasher: Sha256) -> Self {
        Self {
            hex: hex::encode(hasher.finalize()),
        }
    }

    /// Build from 64 lowercase hex characters.
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if valid {
            Ok(Self { hex: hex.to_owned() })
        } else {
            Err(Error::InvalidDigest(format!("sha256:{hex}")))
        }
    }

    /// The 64 hex characters.
    #[must_use]
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The tag form used by cosign and the referrers fallback: `sha256-<hex>`.
    #[must_use]
    pub fn tag_form(&self) -> String {
        format!("sha256-{}", self.hex)
    }

    /// Path of this blob inside an OCI image layout.
    #[must_use]
    pub fn layout_path(&self) -> String {
        format!("blobs/sha256/{}", self.hex)
    }

    /// A short form for progress lines: `sha256:0123456789ab`.
    #[must_use]
    pub fn short(&self) -> String {
        format!("sha256:{}", &self.hex[..12])
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.split_once(':') {
            Some(("sha256", hex)) => Self::from_hex(hex),
            Some((algorithm, _)) if !algorithm.is_empty() => Err(Error::UnsupportedDigestAlgorithm(s.to_owned())),
            _ => Err(Error::InvalidDigest(s.to_owned())),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_uppercase_short_and_unknown_algorithms() {
        let hex = "a".repeat(64);
        assert!(format!("sha256:{hex}").parse::<Digest>().is_ok());
        assert!(format!("sha256:{}", hex.to_uppercase()).parse::<Digest>().is_err());
        assert!(format!("sha256:{}", &hex[1..]).parse::<Digest>().is_err());
        assert!(matches!(
            format!("sha512:{hex}").parse::<Digest>(),
            Err(Error::UnsupportedDigestAlgorithm(_))
        ));
        assert!(hex.parse::<Digest>().is_err());
    }
}
