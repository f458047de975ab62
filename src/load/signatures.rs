//! Pushing signature and attestation objects (before the tags of the images they are about
//! move), so cosign, Kyverno and policy-controller find them where they look:
//!
//! - legacy: the `.sig` image at tag `sha256-<hex>.sig`. If the registry already holds a
//!   signature image there (another signer, or a previous load), the layers are merged the way
//!   cosign merges them, so nobody's signature is dropped. The tag is read again after each
//!   write and the merge redone until it holds ours, so two loads at once both keep theirs.
//! - bundle: the referrer manifest by digest. If the registry's referrers listing (its API, or
//!   the tag-schema index where it has none) does not show it afterwards, the `sha256-<hex>`
//!   index is created or extended to list it.

use futures_util::{StreamExt as _, TryStreamExt as _};

use crate::bundle::SignatureRecord;
use crate::oci::{Reference, media_type};
use crate::registry::Registry;
use crate::sign::artifact::{self, SignatureFormat};
use crate::verify::VerifiedBundle;

use super::Error;

/// The manifest of one of an image's signatures in the bundle, as an [`Object`] to push.
pub(super) fn signature_object<'a>(
    bundle: &'a VerifiedBundle,
    target: &Reference,
    rec: &'a SignatureRecord,
    name: &str,
) -> Result<Object<'a>, Error> {
    let bytes = bundle.manifest(&rec.manifest).ok_or_else(|| Error::Inconsistent {
        image: name.to_owned(),
        reason: format!("signature manifest {} missing", rec.manifest),
    })?;
    Ok(Object {
        target: target.clone(),
        image: name.to_owned(),
        subject: &rec.subject,
        format: rec.format,
        manifest: bytes,
        legacy_tag: artifact::legacy_tag(&rec.subject),
    })
}

/// A signature or attestation object of `subject`, its blobs already in the registry.
pub(super) struct Object<'a> {
    /// The repository it goes to.
    pub target: Reference,
    /// The image, for messages.
    pub image: String,
    /// The image it is about.
    pub subject: &'a crate::oci::Digest,
    /// Legacy (merged into the image at `legacy_tag`) or referrer.
    pub format: SignatureFormat,
    /// Its manifest bytes.
    pub manifest: &'a [u8],
    /// `sha256-<hex>.sig` for signatures, `.att` for attestations.
    pub legacy_tag: String,
}

/// Push `objects`' manifests: each merged into its legacy tag, or pushed as a referrer (and
/// listed in the fallback index where the registry has no referrers API). Returns the
/// manifests pushed for each object, in order.
///
/// Both are read-modify-write of a tag another load may rewrite at the same moment, and the
/// registry offers no compare-and-swap. So after a pause every object written is read back,
/// and merged and written again if another writer's version replaced ours, until the registry
/// shows them all (or the rounds run out). The pause is taken once per round for all objects,
/// not once per object.
pub(super) async fn push_objects(client: &Registry, objects: &[Object<'_>], jobs: usize) -> Result<Vec<usize>, Error> {
    let mut pushed = vec![0; objects.len()];
    let pending: Vec<usize> = (0..objects.len()).collect();
    settle(client, objects, pending, &mut pushed, 0, Vec::new(), jobs, None).await?;
    Ok(pushed)
}

/// [`push_objects`] for the `pending` objects (indexes into `objects`), from round
/// `first_round` on (a caller that ran round 0 itself, with [`step`], starts at 1, and gives
/// how long its steps took as `step_times`), adding the manifests pushed to `pushed`. Up to
/// `jobs` tags are rewritten at once, each under one of `permits` when given (a bound shared
/// with other requests).
#[allow(clippy::too_many_arguments)]
pub(super) async fn settle(
    client: &Registry,
    objects: &[Object<'_>],
    mut pending: Vec<usize>,
    pushed: &mut [usize],
    first_round: u32,
    mut step_times: Vec<std::time::Duration>,
    jobs: usize,
    permits: Option<&tokio::sync::Semaphore>,
) -> Result<(), Error> {
    if pending.is_empty() {
        return Ok(());
    }
    for round in first_round..MERGE_ROUNDS {
        if round > 0 {
            tokio::time::sleep(merge_pause(round, median(&mut step_times))).await;
        }
        // Objects that write the same tag go one after another (each merges into what the
        // one before wrote); different tags go at once.
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for i in pending {
            let key = objects[i].tag_key();
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        let stepped: Vec<Vec<(usize, bool, usize, std::time::Duration)>> =
            futures_util::stream::iter(groups.into_iter().map(|(_, members)| async move {
                // Never closed: a closed semaphore would only lift the shared bound.
                let _permit = match permits {
                    Some(p) => p.acquire().await.ok(),
                    None => None,
                };
                let mut out = Vec::with_capacity(members.len());
                for i in members {
                    let started = std::time::Instant::now();
                    let (done, n) = step(client, &objects[i], round).await?;
                    out.push((i, done, n, started.elapsed()));
                }
                Ok::<_, Error>(out)
            }))
            .buffer_unordered(jobs.max(1))
            .try_collect()
            .await?;
        let mut still: Vec<usize> = Vec::new();
        for (i, done, n, took) in stepped.into_iter().flatten() {
            step_times.push(took);
            pushed[i] += n;
            if !done {
                still.push(i);
            }
        }
        if still.is_empty() {
            return Ok(());
        }
        still.sort_unstable();
        pending = still;
    }
    let o = &objects[pending[0]];
    Err(Error::Inconsistent {
        image: o.image.clone(),
        reason: format!(
            "after {MERGE_ROUNDS} rounds the registry still lacks {} of {} (another writer keeps replacing the tag that lists it)",
            crate::oci::Digest::of(o.manifest),
            o.subject
        ),
    })
}

impl Object<'_> {
    /// Whether it names its image in a `subject` field (a referrer), not only in a tag.
    pub(super) fn has_subject(&self) -> bool {
        matches!(self.format, SignatureFormat::SigstoreBundle)
    }

    /// The repository and tag this object's read-merge-write rewrites.
    fn tag_key(&self) -> String {
        let tag = match self.format {
            SignatureFormat::CosignLegacy => self.legacy_tag.clone(),
            SignatureFormat::SigstoreBundle => artifact::fallback_tag(self.subject),
        };
        format!("{}:{tag}", self.target.repository)
    }
}

/// One read-merge-write of `object`: whether the registry already shows it (done), and the
/// manifests written.
pub(super) async fn step(client: &Registry, object: &Object<'_>, round: u32) -> Result<(bool, usize), Error> {
    let (target, name) = (&object.target, object.image.as_str());
    let bytes = object.manifest;
    let manifest_digest = crate::oci::Digest::of(bytes);
    let reg = |source| Error::Registry {
        image: name.to_owned(),
        source,
    };
    let inconsistent = |reason: String| Error::Inconsistent {
        image: name.to_owned(),
        reason,
    };
    let mut pushed = 0;
    let done = match object.format {
        SignatureFormat::CosignLegacy => {
            let at_tag = Reference {
                tag: Some(object.legacy_tag.clone()),
                digest: None,
                ..target.clone()
            };
            let existing = match client.fetch_manifest(&at_tag).await {
                Ok(m) => Some(m),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(reg(e)),
            };
            match existing {
                None => {
                    client.push_manifest(&at_tag, bytes, media_type::OCI_MANIFEST).await.map_err(reg)?;
                    pushed += 1;
                    false
                }
                Some(m) if m.digest == manifest_digest => true,
                Some(m) => match artifact::merge_legacy(&m.bytes, bytes).map_err(|e| inconsistent(format!("{at_tag}: {e}")))? {
                    // Every layer of ours is in it already.
                    None => true,
                    Some((config, manifest)) => {
                        client
                            .push_blob_from(
                                target,
                                &config.descriptor.digest,
                                config.descriptor.size,
                                std::sync::Arc::new(bytes::Bytes::from(config.bytes)),
                            )
                            .await
                            .map_err(reg)?;
                        client
                            .push_manifest(&at_tag, &manifest.bytes, media_type::OCI_MANIFEST)
                            .await
                            .map_err(reg)?;
                        pushed += 1;
                        false
                    }
                },
            }
        }
        SignatureFormat::SigstoreBundle => {
            let mut listing = client.referrers_listing(target, object.subject).await.map_err(reg)?;
            if listing.manifests.iter().any(|d| d.digest == manifest_digest) {
                true
            } else {
                if round == 0 {
                    client
                        .push_manifest(&target.with_digest(manifest_digest.clone()), bytes, media_type::OCI_MANIFEST)
                        .await
                        .map_err(reg)?;
                    pushed += 1;
                    // A registry with the referrers API lists the new manifest by itself.
                    if listing.api {
                        listing = client.referrers_listing(target, object.subject).await.map_err(reg)?;
                        if listing.manifests.iter().any(|d| d.digest == manifest_digest) {
                            return Ok((true, pushed));
                        }
                    }
                }
                // The listing as read (after our manifest went in, where the API lists it):
                // extend what it shows.
                let mut listed = listing.manifests;
                listed.push(artifact::referrer_descriptor(bytes).map_err(|e| inconsistent(e.to_string()))?);
                let index = artifact::referrers_index(&listed);
                let at_tag = Reference {
                    tag: Some(artifact::fallback_tag(object.subject)),
                    digest: None,
                    ..target.clone()
                };
                client
                    .push_manifest(&at_tag, &index.bytes, media_type::OCI_INDEX)
                    .await
                    .map_err(reg)?;
                pushed += 1;
                false
            }
        }
    };
    Ok((done, pushed))
}

/// Read-merge-write rounds before giving up on a signature tag other writers keep changing.
const MERGE_ROUNDS: u32 = 16;

/// A short, growing, jittered pause between merge rounds, so concurrent loads stop colliding.
/// Each has to outlast another writer's read-merge-write of the same tag, taken to be twice
/// what this load's own typically took (`typical`, the median: a few milliseconds on a
/// registry near by, far more on one across a network), and never under 20 ms.
fn merge_pause(round: u32, typical: std::time::Duration) -> std::time::Duration {
    let mut jitter = [0u8; 1];
    let _ = getrandom::fill(&mut jitter);
    let base = (typical * 2).max(std::time::Duration::from_millis(20));
    base + std::time::Duration::from_millis(u64::from(round.saturating_sub(1)) * 50 + u64::from(jitter[0] % 32))
}

/// The median of `times` (zero when there are none).
fn median(times: &mut [std::time::Duration]) -> std::time::Duration {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}
