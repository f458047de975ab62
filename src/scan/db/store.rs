//! The store on disk, and reading it back: checked against its own metadata before use.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Advisory, Error};

pub(super) const ADVISORIES: &str = "advisories.jsonl";
pub(super) const METADATA: &str = "metadata.json";
pub(super) const FORMAT: &str = "sealift-vulndb/1";

/// What `metadata.json` says about a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub format: String,
    /// `sha256:<hex>` of `advisories.jsonl`.
    pub digest: String,
    /// The newest `modified` date of any record (RFC 3339); sources without dates add none.
    pub newest: Option<String>,
    pub advisories: usize,
    /// Advisories per ecosystem.
    pub ecosystems: BTreeMap<String, usize>,
    /// Record files read, per source format.
    pub files: BTreeMap<String, usize>,
}

/// A store, read and checked, indexed by ecosystem and package.
#[derive(Debug)]
pub struct Database {
    pub metadata: Metadata,
    by_package: HashMap<(String, String), Vec<Advisory>>,
}

impl Database {
    /// Open the store in `dir`. It must hold at least one advisory, match its digest, and,
    /// with `max_age`, have a record modified no longer than that before `now`.
    pub fn open(dir: &Path, max_age: Option<time::Duration>, now: OffsetDateTime) -> Result<Self, Error> {
        let unusable = |reason: String| Error::Unusable {
            dir: dir.to_owned(),
            reason,
        };
        let meta_path = dir.join(METADATA);
        let text =
            std::fs::read(&meta_path).map_err(|e| unusable(format!("cannot read {METADATA}: {e} (build it with `sealift db build`)")))?;
        let metadata: Metadata = serde_json::from_slice(&text).map_err(|e| unusable(format!("{METADATA}: {e}")))?;
        if metadata.format != FORMAT {
            return Err(unusable(format!("format `{}`, expected `{FORMAT}`", metadata.format)));
        }
        if let Some(max_age) = max_age {
            let newest = metadata
                .newest
                .as_deref()
                .ok_or_else(|| unusable("no record carries a date, so its age cannot be checked".into()))?;
            let date = OffsetDateTime::parse(newest, &Rfc3339).map_err(|e| unusable(format!("newest date `{newest}`: {e}")))?;
            if now - date > max_age {
                return Err(unusable(format!(
                    "newest record is from {newest}, {} days old; at most {} days are allowed",
                    (now - date).whole_days(),
                    max_age.whole_days()
                )));
            }
        }
        let path = dir.join(ADVISORIES);
        let file = std::fs::File::open(&path).map_err(|e| unusable(format!("cannot read {ADVISORIES}: {e}")))?;
        let mut hasher = Sha256::new();
        let mut by_package: HashMap<(String, String), Vec<Advisory>> = HashMap::new();
        let mut count = 0usize;
        for (n, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
            let line = line.map_err(|e| unusable(format!("{ADVISORIES}: {e}")))?;
            hasher.update(&line);
            hasher.update(b"\n");
            let a: Advisory = serde_json::from_slice(&line).map_err(|e| unusable(format!("{ADVISORIES} line {}: {e}", n + 1)))?;
            by_package
                .entry((a.ecosystem.clone(), package_key(&a.ecosystem, &a.package)))
                .or_default()
                .push(a);
            count += 1;
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if digest != metadata.digest {
            return Err(unusable(format!("{ADVISORIES} is {digest}, {METADATA} says {}", metadata.digest)));
        }
        if count == 0 || count != metadata.advisories {
            return Err(unusable(format!("{count} advisories, {METADATA} says {}", metadata.advisories)));
        }
        Ok(Self { metadata, by_package })
    }

    /// The advisories recorded for a package in an ecosystem. Names are exact, except on PyPI,
    /// where `Django`, `django` and `dj_ango` style spellings are one project (PEP 503).
    pub fn advisories(&self, ecosystem: &str, package: &str) -> &[Advisory] {
        self.by_package
            .get(&(ecosystem.to_owned(), package_key(ecosystem, package)))
            .map_or(&[], Vec::as_slice)
    }
}

fn package_key(ecosystem: &str, package: &str) -> String {
    if ecosystem == "PyPI" {
        crate::scan::package::pypi_normalise(package)
    } else {
        package.to_owned()
    }
}
