//! `sealift check`: does the site registry still hold exactly what the signed bundles say?
//! Read-only: it fetches and asks, never writes. The expectations are the images of bundles
//! that passed verification in this run ([`expect`]); each check becomes one [`Item`] with an
//! explicit [`Status`], and a check that could not be made is an `error` item, never `ok`.
//!
//! Per image: the tag resolves to the signed digest; every manifest under it is there by
//! digest, byte for byte; every blob is there (HEAD, or with `deep` streamed and hashed); each
//! release signature object the bundle carries is in the registry. Per repository: no tag
//! that no bundle expects.

pub mod attest;
pub mod expect;
mod items;
pub mod merge;
mod report;
mod rescan;
pub mod sarif;
mod signatures;

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt as _;

use crate::oci::{Digest, Reference};
use crate::progress::Reporter;
use crate::registry::{self, Registry};
use crate::scan::db::Database;
use crate::sign::TrustPolicy;
use crate::sign::artifact;
use crate::verify::VerifiedBundle;

pub use report::{BundleRef, CheckReport, CheckedImage, Item, ItemKind, SCHEMA, Shard, Status, Summary};

/// Errors that stop a check before any item is judged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry cannot be reached or does not answer as a registry.
    #[error("registry `{registry}` cannot be checked")]
    Unreachable {
        registry: String,
        #[source]
        source: registry::Error,
    },
    /// The registry name is not `HOST[:PORT]`.
    #[error("invalid registry `{0}`: expected HOST[:PORT]")]
    InvalidRegistry(String),
}

/// What to check against.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The site registry, `HOST[:PORT]`.
    pub registry: String,
    /// Stream and hash every blob instead of asking whether it is there.
    pub deep: bool,
    /// The pinned keys the registry's signatures must verify with.
    pub trust: TrustPolicy,
    /// When the keys and the vulnerability allowances are judged (normally now).
    pub at: time::OffsetDateTime,
    /// Check only this share of the items.
    pub shard: Option<Shard>,
}

impl Work {
    /// What decides the shard an item falls in: the digest it is about (a blob or signature
    /// per repository), or the repository for its tag list.
    fn shard_key(&self) -> String {
        match self {
            Work::Tag { digest, .. } | Work::Manifest { digest, .. } => digest.to_string(),
            Work::Blob { repo, digest, .. } => format!("{}@{digest}", repo.name()),
            Work::Signature { repo, subject, legacy } => format!("{}@{subject} {legacy}", repo.name()),
            Work::Tags { repo, .. } => repo.name(),
        }
    }
}

/// The order items are reported in: image, what was checked, subject.
pub(crate) fn sort_items(items: &mut [Item]) {
    items.sort_by(|a, b| (&a.image, a.kind, &a.subject, &a.bundle).cmp(&(&b.image, b.kind, &b.subject, &b.bundle)));
}

/// One unit of work: what to ask the registry, and for which image and bundle.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    /// The tag must resolve to `digest`.
    Tag { repo: Reference, tag: String, digest: Digest },
    /// The manifest must be there by digest, byte for byte (`size` bytes at most).
    Manifest { repo: Reference, digest: Digest, size: u64 },
    /// The blob must be there (and, deep, hash to its digest).
    Blob { repo: Reference, digest: Digest, size: u64 },
    /// The registry's signature objects of `subject` in one format must verify.
    Signature { repo: Reference, subject: Digest, legacy: bool },
    /// The repository's tags must all be expected.
    Tags { repo: Reference, expected: BTreeSet<String> },
}

/// Check `bundles` (verified, with a label each for the report) against the registry, and with
/// `db` re-scan the packages their scans carry.
pub async fn check(
    bundles: &[(String, VerifiedBundle)],
    client: &Registry,
    options: &CheckOptions,
    db: Option<&Database>,
    reporter: &dyn Reporter,
) -> Result<CheckReport, Error> {
    if options.registry.is_empty() || options.registry.contains('/') {
        return Err(Error::InvalidRegistry(options.registry.clone()));
    }
    client.ping(&options.registry).await.map_err(|source| Error::Unreachable {
        registry: options.registry.clone(),
        source,
    })?;
    let expected = expect::expectations(bundles.iter().map(|(_, b)| b));
    // Work, each piece once, with the expectation (image, bundle) that asked for it first.
    let mut work: BTreeMap<Work, (String, usize)> = BTreeMap::new();
    let mut tags: BTreeMap<Reference, BTreeSet<String>> = BTreeMap::new();
    for e in &expected {
        let bundle = &bundles[e.bundle].1;
        let image = e.image;
        let repo = Reference {
            registry: options.registry.clone(),
            repository: image.repository.clone(),
            tag: None,
            digest: None,
        };
        let name = match &image.tag {
            Some(t) => format!("{}:{t}", repo.name()),
            None => format!("{}@{}", repo.name(), image.digest),
        };
        let mut add = |w: Work| {
            work.entry(w).or_insert_with(|| (name.clone(), e.bundle));
        };
        if let Some(tag) = &image.tag {
            add(Work::Tag {
                repo: repo.clone(),
                tag: tag.clone(),
                digest: image.digest.clone(),
            });
        }
        let graph = bundle.graph();
        for node in graph.children_first(&image.digest) {
            add(Work::Manifest {
                repo: repo.clone(),
                digest: node.descriptor.digest.clone(),
                size: node.descriptor.size,
            });
        }
        for blob in graph.blobs(&image.digest) {
            add(Work::Blob {
                repo: repo.clone(),
                digest: blob.digest.clone(),
                size: blob.size,
            });
        }
        let expected_tags = tags.entry(repo.clone()).or_default();
        expected_tags.extend(image.tag.clone());
        for rec in &image.signatures {
            let legacy = rec.format == artifact::SignatureFormat::CosignLegacy;
            expected_tags.insert(if legacy {
                artifact::legacy_tag(&rec.subject)
            } else {
                artifact::fallback_tag(&rec.subject)
            });
            if rec.origin == crate::bundle::SignatureOrigin::Release {
                add(Work::Signature {
                    repo: repo.clone(),
                    subject: rec.subject.clone(),
                    legacy,
                });
            }
        }
    }
    // Tags of older bundles for the same repository are expected too.
    for (_, bundle) in bundles {
        for image in &bundle.index().images {
            let repo = Reference {
                registry: options.registry.clone(),
                repository: image.repository.clone(),
                tag: None,
                digest: None,
            };
            if let Some(set) = tags.get_mut(&repo) {
                set.extend(image.tag.clone());
            }
        }
    }
    for (repo, expected) in tags {
        let name = repo.name();
        work.insert(Work::Tags { repo, expected }, (name, usize::MAX));
    }

    if let Some(shard) = options.shard {
        work.retain(|w, _| shard.holds(&w.shard_key()));
    }
    let labels: Vec<&str> = bundles.iter().map(|(l, _)| l.as_str()).collect();
    let mut items: Vec<Item> = futures_util::stream::iter(work.into_iter().map(|(w, (image, bundle))| {
        let label = labels.get(bundle).copied().unwrap_or("").to_owned();
        async move { items::run(client, options, &w, image, label).await }
    }))
    .buffer_unordered(client.jobs())
    .collect::<Vec<Vec<Item>>>()
    .await
    .into_iter()
    .flatten()
    .collect();
    if let Some(db) = db {
        for (label, bundle) in bundles {
            let mut found = rescan::rescan(bundle, label, db, options.at);
            if let Some(shard) = options.shard {
                found.retain(|i| shard.holds(&i.subject));
            }
            items.extend(found);
        }
    }
    sort_items(&mut items);
    reporter.note(&format!("checked {} item(s)", items.len()));
    let images = expected
        .iter()
        .map(|e| CheckedImage {
            name: match &e.image.tag {
                Some(t) => format!("{}/{}:{t}", options.registry, e.image.repository),
                None => format!("{}/{}", options.registry, e.image.repository),
            },
            digest: e.image.digest.clone(),
        })
        .collect();
    let mut report = CheckReport::new(
        &options.registry,
        options.deep,
        options.at,
        images,
        bundles.iter().map(|(label, b)| BundleRef::of(label, b)).collect(),
        items,
    );
    report.shard = options.shard;
    Ok(report)
}
