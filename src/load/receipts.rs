//! Receipts in the registry. After a load, the signed receipt is attached to every image
//! loaded, in both places cosign keeps attestations (the `sha256-<hex>.att` image and an OCI
//! 1.1 referrer), so admission controllers can require it. Before a load, the receipts already
//! there say which bundles this registry has had: [`history`] reads them and [`judge`] applies
//! TUF's rollback and mix-and-match rules to the bundle at hand.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Error;
use super::signatures::{Object, push_objects};
use crate::bundle::BundleIndex;
use crate::oci::{Descriptor, Digest, Reference};
use crate::receipt::{Import, VSA_V1, Verdict};
use crate::registry::Registry;
use crate::sign::PublicKey;
use crate::sign::artifact::{Artifact, MAX_SIGNATURE_BLOB, SignatureFormat};
use crate::sign::attestation;
use crate::sign::dsse::Envelope;
use crate::verify::VerifiedBundle;

/// A bundle a registry has had, and where that is known from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// Release name.
    pub name: String,
    /// Its creation time, RFC 3339.
    pub created: String,
    /// Its `bundle.json` digest.
    pub index: Digest,
    /// Where this was read: the `.att` image holding the receipt, or the audit log.
    pub source: String,
    /// Whether this may prove the bundle was loaded into this registry (a predecessor): a
    /// receipt signed by the site key for this registry, or a signed audit entry. Anything
    /// else may only refuse (a rollback), never let a bundle through.
    pub proves_order: bool,
}

/// What [`judge`] says of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// Nothing newer of the same name was loaded, and its predecessor (if declared) was.
    InOrder,
    /// A newer bundle of the same name was loaded already.
    Rollback {
        /// The newest one.
        newer: Loaded,
    },
    /// The bundle says it follows one this registry never had.
    PredecessorMissing {
        /// The `bundle.json` digest it names.
        follows: Digest,
    },
}

/// Judge `index` (whose `bundle.json` digest is `digest`) against what the registry had.
/// A bundle loaded again (same digest) is in order; an older one of the same name is a
/// rollback; one whose `follows` is not among `history` is out of order.
#[must_use]
pub fn judge(index: &BundleIndex, digest: &Digest, history: &[Loaded]) -> Judgement {
    let time = |t: &str| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok();
    let created = time(&index.created);
    let newer = history
        .iter()
        .filter(|l| l.name == index.name && l.index != *digest)
        .filter(|l| match (time(&l.created), created) {
            (Some(theirs), Some(ours)) => theirs > ours,
            // A time that does not parse cannot be ordered: it counts as newer (fail closed).
            _ => true,
        })
        .max_by(|a, b| time(&a.created).cmp(&time(&b.created)));
    if let Some(newer) = newer {
        return Judgement::Rollback { newer: newer.clone() };
    }
    match &index.follows {
        Some(f) if !history.iter().any(|l| l.proves_order && l.index == *f) => Judgement::PredecessorMissing { follows: f.clone() },
        _ => Judgement::InOrder,
    }
}

/// The bundles named by PASSED receipts signed with `key` in the `.att` images of the
/// repositories `repositories` in `registry`. A repository that does not exist yet has none;
/// any other failure to read is an error, since a receipt not read could hide a rollback.
pub async fn history(client: &Registry, registry: &str, repositories: &BTreeSet<String>, key: &PublicKey) -> Result<Vec<Loaded>, Error> {
    let mut out: Vec<Loaded> = Vec::new();
    let mut seen_layers: BTreeSet<Digest> = BTreeSet::new();
    for repository in repositories {
        let repo = Reference {
            registry: registry.to_owned(),
            repository: repository.clone(),
            tag: None,
            digest: None,
        };
        let reg = |source| Error::Registry {
            image: repository.clone(),
            source,
        };
        let tags = match client.list_tags(&repo).await {
            Ok(t) => t,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(reg(e)),
        };
        for tag in tags.iter().filter(|t| t.starts_with("sha256-") && t.ends_with(".att")) {
            let at = Reference {
                tag: Some(tag.clone()),
                ..repo.clone()
            };
            let manifest = match client.fetch_manifest(&at).await {
                Ok(m) => m,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(reg(e)),
            };
            // Anything in the tag that is not a receipt by the site key is not evidence.
            let Ok(layers) = attestation::layers_of(SignatureFormat::CosignLegacy, &manifest.bytes, VSA_V1) else {
                continue;
            };
            for layer in layers {
                if !seen_layers.insert(layer.digest.clone()) {
                    continue;
                }
                let bytes = client.fetch_small_blob(&repo, &layer, MAX_SIGNATURE_BLOB).await.map_err(reg)?;
                let Ok((import, _)) = Import::from_layer(SignatureFormat::CosignLegacy, &bytes, key) else {
                    continue;
                };
                let same_registry = import.registry == registry;
                if let Some(l) = loaded_of(&import, &format!("receipt in {}:{tag}", repo.name()), same_registry) {
                    out.push(l);
                }
            }
        }
    }
    Ok(out)
}

/// The bundle a PASSED receipt says was loaded.
#[must_use]
pub fn loaded_of(import: &Import, source: &str, proves_order: bool) -> Option<Loaded> {
    if import.result != Verdict::Passed {
        return None;
    }
    let b = &import.bundle;
    Some(Loaded {
        name: b.name.clone()?,
        created: b.created.clone()?,
        index: b.index.clone()?,
        source: source.to_owned(),
        proves_order,
    })
}

/// Attach the signed receipt `envelope` to every image of `bundle` in `registry`: merged into
/// each image's `.att` tag, and as a referrer. Returns the manifests pushed.
pub async fn attach(
    client: &Registry,
    registry: &str,
    bundle: &VerifiedBundle,
    envelope: &Envelope,
    key: &PublicKey,
    created: &str,
) -> Result<usize, Error> {
    let images = &bundle.index().images;
    let legacy = attestation::legacy_attestation(envelope, VSA_V1);
    let repo_of = |image: &crate::bundle::ImageRecord| Reference {
        registry: registry.to_owned(),
        repository: image.repository.clone(),
        tag: None,
        digest: None,
    };
    // Blobs first, image by image; of each referrer only its small manifest is kept (its
    // layer holds the whole receipt: one at a time in memory).
    let mut present = BTreeSet::new();
    let mut referrers: Vec<Vec<u8>> = Vec::with_capacity(images.len());
    for image in images {
        let (repo, name) = (repo_of(image), image.display_name());
        let subject = Descriptor::new(&image.media_type, image.digest.clone(), image.size);
        let referrer = attestation::bundle_attestation(key, envelope, &subject, created, VSA_V1);
        push_blobs(client, &repo, &legacy, &name, &mut present).await?;
        push_blobs(client, &repo, &referrer, &name, &mut present).await?;
        referrers.push(referrer.manifest.bytes);
    }
    let mut objects = Vec::new();
    for (image, referrer) in images.iter().zip(&referrers) {
        for (format, manifest) in [(legacy.format, &legacy.manifest.bytes), (SignatureFormat::SigstoreBundle, referrer)] {
            objects.push(Object {
                target: repo_of(image),
                image: image.display_name(),
                subject: &image.digest,
                format,
                manifest,
                legacy_tag: attestation::attestation_tag(&image.digest),
            });
        }
    }
    Ok(push_objects(client, &objects, client.jobs()).await?.into_iter().sum())
}

/// Push `object`'s blobs to `repo`, skipping those already there. `present` remembers the
/// (repository, blob) pairs known to be there: the `.att` image's config and layer are the
/// same for every image, so each repository is asked about them once.
async fn push_blobs(
    client: &Registry,
    repo: &Reference,
    object: &Artifact,
    name: &str,
    present: &mut BTreeSet<(String, Digest)>,
) -> Result<(), Error> {
    for blob in &object.blobs {
        let key = (repo.repository.clone(), blob.descriptor.digest.clone());
        if present.contains(&key) {
            continue;
        }
        // The upload asks whether the repository has it when it is small (a receipt's blobs
        // are: one statement and its config), else sends it again.
        client
            .push_blob_from(
                repo,
                &blob.descriptor.digest,
                blob.descriptor.size,
                Arc::new(bytes::Bytes::from(blob.bytes.clone())),
            )
            .await
            .map_err(|source| Error::Registry {
                image: name.to_owned(),
                source,
            })?;
        present.insert(key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(name: &str, created: &str, seed: &[u8]) -> Loaded {
        Loaded {
            name: name.into(),
            created: created.into(),
            index: Digest::of(seed),
            source: "test".into(),
            proves_order: true,
        }
    }

    fn index(name: &str, created: &str, follows: Option<Digest>) -> BundleIndex {
        let mut i: BundleIndex = serde_json::from_value(serde_json::json!({
            "schemaVersion": 1, "name": name, "created": created,
            "tool": {"name": "sealift", "version": "0"}, "images": [], "entries": []
        }))
        .unwrap();
        i.follows = follows;
        i
    }

    #[test]
    fn older_bundles_of_the_same_name_are_rollbacks_and_predecessors_must_be_known() {
        let history = [
            loaded("shop", "2026-11-02T00:00:00Z", b"n"),
            loaded("other", "2027-01-01T00:00:00Z", b"o"),
        ];
        let older = index("shop", "2026-11-01T00:00:00Z", None);
        match judge(&older, &Digest::of(b"n-1"), &history) {
            Judgement::Rollback { newer } => assert_eq!(newer.index, Digest::of(b"n")),
            j => panic!("{j:?}"),
        }
        // The same bundle again, a newer one, or another name: in order.
        assert_eq!(
            judge(&index("shop", "2026-11-02T00:00:00Z", None), &Digest::of(b"n"), &history),
            Judgement::InOrder
        );
        assert_eq!(
            judge(&index("shop", "2026-11-03T00:00:00Z", None), &Digest::of(b"n+1"), &history),
            Judgement::InOrder
        );
        assert_eq!(
            judge(&index("new", "2020-01-01T00:00:00Z", None), &Digest::of(b"x"), &history),
            Judgement::InOrder
        );
        let skipping = index("shop", "2026-11-04T00:00:00Z", Some(Digest::of(b"n+1")));
        assert_eq!(
            judge(&skipping, &Digest::of(b"n+2"), &history),
            Judgement::PredecessorMissing {
                follows: Digest::of(b"n+1")
            }
        );
        let following = index("shop", "2026-11-04T00:00:00Z", Some(Digest::of(b"n")));
        assert_eq!(judge(&following, &Digest::of(b"n+2"), &history), Judgement::InOrder);
        // Evidence that cannot prove a load (another registry's receipt, an unsigned log line)
        // still refuses a rollback but lets no successor through.
        let weak = [Loaded {
            proves_order: false,
            ..loaded("shop", "2026-11-02T00:00:00Z", b"n")
        }];
        assert!(matches!(judge(&older, &Digest::of(b"n-1"), &weak), Judgement::Rollback { .. }));
        assert!(matches!(
            judge(&following, &Digest::of(b"n+2"), &weak),
            Judgement::PredecessorMissing { .. }
        ));
        // A time that does not parse cannot be ordered: it counts as newer.
        let odd = [loaded("shop", "yesterday", b"odd")];
        assert!(matches!(
            judge(&index("shop", "2026-11-05T00:00:00Z", None), &Digest::of(b"x"), &odd),
            Judgement::Rollback { .. }
        ));
    }
}
