//! Which keys the operator trusts, and how many of them must sign: the trust policy.
//!
//! ```yaml
//! threshold: 2                 # m of the keys below must have signed bundle.json (default 1)
//! keys:
//!   - name: release
//!     path: keys/release.pub   # relative to this file; or `pem: |` inline
//!     notAfter: 2027-06-30T00:00:00Z
//!   - name: security
//!     path: keys/security.pub
//!     notBefore: 2026-01-01T00:00:00Z
//! revoked:                      # key ids (`sealift keys` prints them); never trusted
//!   - 3f2a9c0e5b7d1a44
//! ```
//!
//! Validity is judged at verification time: an expired key is not trusted today, whatever
//! date the bundle claims (that date is signed by the very key in question).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{KeyId, PublicKey};

/// Errors reading a trust policy.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The policy or a key file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The policy is not valid.
    #[error("{path}: {message}")]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// What is wrong (with line and column where the YAML parser knows them).
        message: String,
    },
}

/// One trusted key.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// Name shown in reports.
    pub name: String,
    /// The key.
    pub key: PublicKey,
    /// Not trusted before this time.
    pub not_before: Option<OffsetDateTime>,
    /// Not trusted after this time.
    pub not_after: Option<OffsetDateTime>,
}

/// Whether a key may be counted at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyStatus {
    /// Within its validity window and not revoked.
    Valid,
    /// Past `notAfter`.
    Expired,
    /// Before `notBefore`.
    NotYetValid,
    /// Listed under `revoked`.
    Revoked,
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Valid => "valid",
            Self::Expired => "expired",
            Self::NotYetValid => "not yet valid",
            Self::Revoked => "revoked",
        })
    }
}

/// The operator's trust: keys, how many must sign, and which ids are revoked.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// Trusted keys, each id once.
    pub keys: Vec<TrustedKey>,
    /// How many distinct valid keys must have signed `bundle.json`.
    pub threshold: usize,
    /// Revoked key ids.
    pub revoked: BTreeSet<KeyId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    threshold: Option<usize>,
    keys: Vec<RawKey>,
    #[serde(default)]
    revoked: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKey {
    name: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    pem: Option<String>,
    #[serde(default)]
    not_before: Option<String>,
    #[serde(default)]
    not_after: Option<String>,
}

impl TrustPolicy {
    /// Trust exactly these keys, one signature required, no dates, nothing revoked: what
    /// repeated `--key` flags mean. Each key is named after its file.
    #[must_use]
    pub fn from_keys(keys: Vec<(String, PublicKey)>) -> Self {
        let mut policy = Self {
            keys: Vec::new(),
            threshold: 1,
            revoked: BTreeSet::new(),
        };
        for (name, key) in keys {
            policy.add_key(name, key);
        }
        policy
    }

    /// Add a key with no validity limits (a `--key` next to `--trust`). A key already in the
    /// policy keeps its entry, dates included.
    pub fn add_key(&mut self, name: String, key: PublicKey) {
        if !self.keys.iter().any(|k| k.key.id() == key.id()) {
            self.keys.push(TrustedKey {
                name,
                key,
                not_before: None,
                not_after: None,
            });
        }
    }

    /// Read a trust policy file. Key paths are relative to the file's directory.
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        let text = crate::bounded::read_to_string(path, crate::bounded::CONFIG_FILE).map_err(|source| TrustError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| TrustError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawPolicy = serde_norway::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let mut keys: Vec<TrustedKey> = Vec::new();
        for k in raw.keys {
            let pem = match (&k.path, &k.pem) {
                (Some(p), None) => {
                    let full = base.join(p);
                    crate::bounded::read_to_string(&full, crate::bounded::KEY_FILE)
                        .map_err(|source| TrustError::Io { path: full, source })?
                }
                (None, Some(pem)) => pem.clone(),
                _ => return Err(invalid(format!("key `{}`: give exactly one of `path` and `pem`", k.name))),
            };
            let key = PublicKey::from_pem(&pem).map_err(|e| invalid(format!("key `{}`: {e}", k.name)))?;
            if let Some(dup) = keys.iter().find(|t| t.key.id() == key.id()) {
                return Err(invalid(format!(
                    "key `{}` is the same key as `{}` ({})",
                    k.name,
                    dup.name,
                    key.id()
                )));
            }
            let date = |field: &str, v: &Option<String>| {
                v.as_deref()
                    .map(|s| OffsetDateTime::parse(s, &Rfc3339))
                    .transpose()
                    .map_err(|e| invalid(format!("key `{}`: {field} is not an RFC 3339 time: {e}", k.name)))
            };
            keys.push(TrustedKey {
                not_before: date("notBefore", &k.not_before)?,
                not_after: date("notAfter", &k.not_after)?,
                name: k.name,
                key,
            });
        }
        let mut revoked = BTreeSet::new();
        for id in raw.revoked {
            revoked.insert(KeyId::parse(&id).ok_or_else(|| invalid(format!("revoked `{id}` is not a key id (16 hex digits)")))?);
        }
        let threshold = raw.threshold.unwrap_or(1);
        if keys.is_empty() {
            return Err(invalid("`keys` must list at least one key".into()));
        }
        if threshold == 0 || threshold > keys.len() {
            return Err(invalid(format!(
                "threshold {threshold} must be between 1 and the {} key(s) listed",
                keys.len()
            )));
        }
        Ok(Self { keys, threshold, revoked })
    }

    /// Status of a key at `now`.
    #[must_use]
    pub fn status(&self, key: &TrustedKey, now: OffsetDateTime) -> KeyStatus {
        if self.revoked.contains(key.key.id()) {
            KeyStatus::Revoked
        } else if key.not_before.is_some_and(|t| now < t) {
            KeyStatus::NotYetValid
        } else if key.not_after.is_some_and(|t| now > t) {
            KeyStatus::Expired
        } else {
            KeyStatus::Valid
        }
    }

    /// The keys valid at `now`: these may sign bundles and images.
    #[must_use]
    pub fn valid_keys(&self, now: OffsetDateTime) -> Vec<PublicKey> {
        self.keys
            .iter()
            .filter(|k| self.status(k, now) == KeyStatus::Valid)
            .map(|k| k.key.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{Algorithm, SigningKey};

    fn write_policy(dir: &Path, yaml: &str) -> PathBuf {
        let p = dir.join("trust.yaml");
        std::fs::write(&p, yaml).unwrap();
        p
    }

    #[test]
    fn dates_and_revocation_decide_status() {
        let dir = tempfile::tempdir().unwrap();
        let a = SigningKey::generate(Algorithm::EcdsaP256).unwrap().public_key().unwrap();
        let b = SigningKey::generate(Algorithm::Ed25519).unwrap().public_key().unwrap();
        std::fs::write(dir.path().join("a.pub"), a.to_pem().unwrap()).unwrap();
        let inline = b.to_pem().unwrap().replace('\n', "\n      ");
        let yaml = format!(
            "threshold: 2\nkeys:\n  - name: a\n    path: a.pub\n    notBefore: 2026-01-01T00:00:00Z\n    notAfter: 2026-12-31T00:00:00Z\n  - name: b\n    pem: |\n      {inline}\nrevoked: [{}]\n",
            b.id()
        );
        let policy = TrustPolicy::load(&write_policy(dir.path(), &yaml)).unwrap();
        assert_eq!(policy.threshold, 2);
        let at = |s: &str| OffsetDateTime::parse(s, &Rfc3339).unwrap();
        let ka = &policy.keys[0];
        assert_eq!(policy.status(ka, at("2025-06-01T00:00:00Z")), KeyStatus::NotYetValid);
        assert_eq!(policy.status(ka, at("2026-06-01T00:00:00Z")), KeyStatus::Valid);
        assert_eq!(policy.status(ka, at("2027-01-01T00:00:00Z")), KeyStatus::Expired);
        assert_eq!(policy.status(&policy.keys[1], at("2026-06-01T00:00:00Z")), KeyStatus::Revoked);
        assert_eq!(policy.valid_keys(at("2026-06-01T00:00:00Z")).len(), 1);
    }

    #[test]
    fn bad_policies_are_refused_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let a = SigningKey::generate(Algorithm::EcdsaP256).unwrap().public_key().unwrap();
        std::fs::write(dir.path().join("a.pub"), a.to_pem().unwrap()).unwrap();
        for (yaml, expect) in [
            ("keys:\n  - name: a\n    path: a.pub\nthreshold: 2\n", "threshold 2"),
            (
                "keys:\n  - name: a\n    path: a.pub\n  - name: again\n    path: a.pub\n",
                "same key",
            ),
            ("keys:\n  - name: a\n    path: a.pub\n    notAfter: tomorrow\n", "RFC 3339"),
            ("keys:\n  - name: a\n    path: a.pub\nrevoked: [nope]\n", "not a key id"),
            (
                "keys:\n  - name: a\n    path: a.pub\n    expires: 2027-01-01T00:00:00Z\n",
                "expires",
            ),
            ("keys: []\n", "at least one"),
            ("keys:\n  - name: a\n", "exactly one of"),
        ] {
            let err = TrustPolicy::load(&write_policy(dir.path(), yaml)).unwrap_err().to_string();
            assert!(err.contains(expect), "{yaml}: {err}");
        }
    }
}
