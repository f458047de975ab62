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
pub mod cronjob;
pub mod expect;
mod items;
pub mod merge;
mod plan;
mod receipts;
mod report;
mod rescan;
pub mod sarif;
mod signatures;
pub mod state;

use crate::oci::Reference;
use crate::progress::Reporter;
use crate::registry::{self, Registry};
use crate::scan::db::Database;
use crate::sign::TrustPolicy;
use crate::verify::VerifiedBundle;

pub use report::{BundleRef, CheckReport, CheckedImage, Item, ItemKind, SCHEMA, Shard, Status, Summary};
pub use state::State;

use plan::Work;

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
    /// The registry refuses the credentials: every item would be an error, and the cause is
    /// the job's secret, not the registry's content.
    #[error("registry `{registry}` refuses the credentials (check the user name and password, or the auth file)")]
    Unauthorized {
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
    /// Also list the registry's repositories, and report those no bundle names.
    pub catalog: bool,
    /// The site key import receipts must be signed with; `None` does not look for receipts.
    pub receipt_key: Option<crate::sign::PublicKey>,
}

/// The order items are reported in: image, what was checked, subject.
pub(crate) fn sort_items(items: &mut [Item]) {
    items.sort_by(|a, b| (&a.image, a.kind, &a.subject, &a.bundle).cmp(&(&b.image, b.kind, &b.subject, &b.bundle)));
}

/// One item per bundle: the keys that signed its `bundle.json` (verified as of its creation)
/// judged at check time. A bundle whose signers have all expired since is `key-expired` (a key
/// past its date could otherwise make a bundle dated inside it, and set expectations); one
/// signed by a revoked key is `signature-invalid`.
fn bundle_signers(bundles: &[(String, VerifiedBundle)], options: &CheckOptions) -> Vec<Item> {
    use crate::sign::KeyStatus;
    bundles
        .iter()
        .map(|(label, bundle)| {
            let statuses: Vec<(String, KeyStatus)> = bundle
                .signed_by()
                .iter()
                .filter_map(|id| options.trust.keys.iter().find(|k| k.key.id() == id))
                .map(|k| (format!("{} ({})", k.name, k.key.id().as_str()), options.trust.status(k, options.at)))
                .collect();
            let valid = statuses.iter().filter(|(_, s)| *s == KeyStatus::Valid).count();
            let words: Vec<String> = statuses.iter().map(|(k, s)| format!("{k}: {s}")).collect();
            let status = if valid >= options.trust.threshold.max(1) {
                Status::Ok
            } else if statuses.iter().any(|(_, s)| *s == KeyStatus::Revoked) {
                Status::SignatureInvalid
            } else {
                Status::KeyExpired
            };
            Item {
                kind: ItemKind::Bundle,
                image: bundle.index().name.clone(),
                subject: bundle.index_digest().to_string(),
                status,
                detail: format!("bundle.json signed by {} (threshold {})", words.join(", "), options.trust.threshold),
                bundle: label.clone(),
                from_state: false,
            }
        })
        .collect()
}

/// The digest of what every shard of one check must share.
fn settings(options: &CheckOptions, db: Option<&Database>) -> String {
    let mut keys: Vec<String> = options
        .trust
        .keys
        .iter()
        .map(|k| format!("{}:{:?}:{:?}", k.key.id().as_str(), k.not_before, k.not_after))
        .collect();
    keys.sort();
    let text = format!(
        "registry={} deep={} catalog={} keys={} threshold={} db={} day={}",
        options.registry,
        options.deep,
        options.catalog,
        keys.join(","),
        options.trust.threshold,
        db.map_or("", |d| d.metadata.digest.as_str()),
        options.at.date(),
    );
    crate::oci::Digest::of(text.as_bytes()).to_string()
}

/// Check `bundles` (verified, with a label each for the report) against the registry, and with
/// `db` re-scan the packages their scans carry. With `state`, items found ok before are not
/// asked again while their inputs are unchanged and their image's tag still resolves to the
/// signed digest; results are recorded there as they come.
pub async fn check(
    bundles: &[(String, VerifiedBundle)],
    client: &Registry,
    options: &CheckOptions,
    db: Option<&Database>,
    state: Option<&State>,
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
    // One authenticated request first: refused credentials are an environment error (exit 2),
    // not a finding on every item.
    if let Some(first) = expected.first() {
        let repo = Reference {
            registry: options.registry.clone(),
            repository: first.image.repository.clone(),
            tag: None,
            digest: None,
        };
        if let Err(e) = client.list_tags(&repo).await
            && (matches!(e.status(), Some(401 | 403)) || matches!(e, registry::Error::Auth { .. }))
        {
            return Err(Error::Unauthorized {
                registry: options.registry.clone(),
                source: e,
            });
        }
    }
    let mut work = plan::plan(
        bundles,
        &expected,
        &options.registry,
        options.catalog,
        options.receipt_key.is_some(),
    );
    if let Some(shard) = options.shard {
        work.retain(|w, _| shard.holds(&w.shard_key()));
    }
    let labels: Vec<String> = bundles.iter().map(|(l, _)| l.clone()).collect();
    let mut items = match state {
        Some(state) => plan::run_with_state(client, options, &labels, work, state).await,
        None => plan::run(client, options, &labels, work.into_iter().collect(), None).await,
    };
    let mut signers = bundle_signers(bundles, options);
    if let Some(shard) = options.shard {
        signers.retain(|i| shard.holds(&i.subject));
    }
    items.extend(signers);
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
    report.settings = settings(options, db);
    Ok(report)
}
