//! The check report, schema `sealift-check/1`: which bundles set the expectations, and one
//! item per thing checked with its status. Only `ok` is ok.

use serde::{Deserialize, Serialize};

use crate::verify::VerifiedBundle;

/// The report's schema name and version.
pub const SCHEMA: &str = "sealift-check/1";

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// As signed.
    Ok,
    /// The tag resolves to another digest.
    Drifted,
    /// The tag or the manifest is not there.
    Missing,
    /// The manifest is there by digest, but other bytes are served for it.
    Altered,
    /// The blob is not there.
    BlobMissing,
    /// The blob's bytes do not hash to its digest (`--deep`).
    BlobAltered,
    /// A tag (or, with `--catalog`, a repository) no bundle has.
    Unexpected,
    /// No signature object of this format for the subject in the registry.
    SignatureMissing,
    /// Signature objects are there, but none verifies with a pinned key.
    SignatureInvalid,
    /// No PASSED import receipt signed by the site key names the image (`--site-pub`).
    ReceiptMissing,
    /// The only valid signatures are by pinned keys that are not valid at check time.
    KeyExpired,
    /// Matched against a newer database, the image's packages have findings the bundle's own
    /// policy blocks today.
    Vulnerable,
    /// Could not be judged, and the reason says why (never counts as ok).
    NotChecked,
    /// The check could not be made (the reason says why); never counts as ok.
    Error,
}

impl Status {
    /// The name used in reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Drifted => "drifted",
            Status::Missing => "missing",
            Status::Altered => "altered",
            Status::BlobMissing => "blob-missing",
            Status::BlobAltered => "blob-altered",
            Status::ReceiptMissing => "receipt-missing",
            Status::Unexpected => "unexpected",
            Status::SignatureMissing => "signature-missing",
            Status::SignatureInvalid => "signature-invalid",
            Status::KeyExpired => "key-expired",
            Status::Vulnerable => "vulnerable",
            Status::NotChecked => "not-checked",
            Status::Error => "error",
        }
    }
}

/// What an item checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    /// A tag and the digest it resolves to.
    Tag,
    /// A manifest or index by digest.
    Manifest,
    /// A config or layer blob.
    Blob,
    /// A release signature object.
    Signature,
    /// The site's import receipt of an image.
    Receipt,
    /// A repository's tag list.
    Tags,
    /// The registry's repository list (`--catalog`).
    Repositories,
    /// A bundle's own signature: are the keys that signed it valid at check time?
    Bundle,
    /// An image manifest's carried packages against a newer vulnerability database.
    Vulnerabilities,
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// What was checked.
    #[serde(rename = "check")]
    pub kind: ItemKind,
    /// The image (`host/repository:tag`) whose expectation asked for it, or the repository.
    pub image: String,
    /// The tag, digest or signature object checked.
    pub subject: String,
    pub status: Status,
    /// What was found, in words (registry text included: escape it before printing).
    pub detail: String,
    /// The bundle the expectation comes from (empty for a repository's tag list).
    pub bundle: String,
    /// Taken from `--state`: found ok by an earlier run and not asked again in this one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_state: bool,
}

/// A bundle that set expectations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRef {
    /// How the bundle was given (its path).
    pub file: String,
    /// The SHA-256 of its signed `bundle.json`, which names the release.
    pub digest: String,
    /// Its name and creation time, from its verified `bundle.json`.
    pub name: String,
    pub created: String,
    /// Images it carries.
    pub images: usize,
}

impl BundleRef {
    pub(super) fn of(file: &str, bundle: &VerifiedBundle) -> Self {
        Self {
            file: file.to_owned(),
            digest: bundle.index_digest().to_string(),
            name: bundle.index().name.clone(),
            created: bundle.index().created.clone(),
            images: bundle.index().images.len(),
        }
    }
}

/// An image the bundles expect, as the registry should hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedImage {
    /// `registry/repository:tag` (or without a tag).
    pub name: String,
    /// The signed manifest digest.
    pub digest: crate::oci::Digest,
}

/// One deterministic share of the items: shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `I/N`, with `I < N`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("shard `{text}`: expected I/N with 0 <= I < N");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.parse::<u32>().map_err(|_| bad())?, n.parse::<u32>().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Does `key` (what the item is about: a digest, a repository) fall in this shard? The
    /// first eight bytes of its SHA-256, modulo the count: the same on every machine.
    #[must_use]
    pub fn holds(&self, key: &str) -> bool {
        let digest = crate::oci::Digest::of(key.as_bytes());
        let first = u64::from_str_radix(&digest.hex()[..16], 16).unwrap_or(0);
        first % u64::from(self.count) == u64::from(self.index)
    }
}

/// How many items have each status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub items: usize,
    pub ok: usize,
    /// Items that are not ok, errors included.
    pub findings: usize,
    pub errors: usize,
}

impl Summary {
    /// The counts of `items`.
    #[must_use]
    pub fn of(items: &[Item]) -> Self {
        let ok = items.iter().filter(|i| i.status == Status::Ok).count();
        Self {
            items: items.len(),
            ok,
            findings: items.len() - ok,
            errors: items.iter().filter(|i| i.status == Status::Error).count(),
        }
    }
}

/// Everything one run found.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckReport {
    /// [`SCHEMA`].
    pub schema: String,
    pub registry: String,
    /// When the check ran (RFC 3339, UTC).
    pub checked_at: String,
    /// The time keys were judged at (RFC 3339): the check time, unless `--at` said otherwise.
    pub judged_at: String,
    /// Blobs were streamed and hashed, not only asked for.
    pub deep: bool,
    /// The SHA-256 of the settings every shard of one check must share (depth, catalog, the
    /// pinned keys and their validity, the vulnerability database, the day judged on):
    /// `check merge` refuses parts that differ.
    #[serde(default)]
    pub settings: String,
    /// `I/N` when this run checked one shard of the items; `None` for all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub bundles: Vec<BundleRef>,
    /// The images the bundles expect.
    pub images: Vec<CheckedImage>,
    pub summary: Summary,
    pub items: Vec<Item>,
}

impl CheckReport {
    pub(super) fn new(
        registry: &str,
        deep: bool,
        judged_at: time::OffsetDateTime,
        images: Vec<CheckedImage>,
        bundles: Vec<BundleRef>,
        items: Vec<Item>,
    ) -> Self {
        Self {
            schema: SCHEMA.to_owned(),
            registry: registry.to_owned(),
            checked_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            judged_at: judged_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            deep,
            settings: String::new(),
            shard: None,
            bundles,
            images,
            summary: Summary::of(&items),
            items,
        }
    }

    /// Every item is ok (and there is at least one).
    #[must_use]
    pub fn passed(&self) -> bool {
        !self.items.is_empty() && self.summary.findings == 0
    }
}
