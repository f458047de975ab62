//! What a check asks the registry, each thing once ([`Work`]), and running it: straight, or
//! with a [`State`] that spares what was found ok before.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt as _;

use super::expect::Expected;
use super::report::{Item, Status};
use super::state::State;
use super::{CheckOptions, items};
use crate::oci::{Digest, Reference};
use crate::registry::Registry;
use crate::sign::artifact;
use crate::verify::VerifiedBundle;

/// One unit of work: what to ask the registry, and for which image and bundle.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Work {
    /// The tag must resolve to `digest`.
    Tag { repo: Reference, tag: String, digest: Digest },
    /// The manifest must be there by digest, byte for byte (`size` bytes at most).
    Manifest { repo: Reference, digest: Digest, size: u64 },
    /// The blob must be there (and, deep, hash to its digest).
    Blob { repo: Reference, digest: Digest, size: u64 },
    /// The registry's signature objects of `subject` in one format must verify.
    Signature { repo: Reference, subject: Digest, legacy: bool },
    /// The image must carry a PASSED import receipt signed by the site key.
    Receipt { repo: Reference, subject: Digest },
    /// The repository's tags must all be expected.
    Tags { repo: Reference, expected: BTreeSet<String> },
    /// Every repository of the registry must be one a bundle names (`--catalog`).
    Catalog { registry: String, expected: BTreeSet<String> },
}

/// Who asked for a piece of work, and what must still hold for a stored result to stand.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    /// The image whose expectation asked first.
    pub image: String,
    /// Its bundle (an index into the bundles; `usize::MAX` for a repository's tag list).
    pub bundle: usize,
    /// The image's tag (or root manifest) check: a stored result stands only while that is ok.
    /// `None` for the gate itself and for tag lists, which are always asked.
    pub gate: Option<Work>,
}

impl Work {
    /// The subject its item reports: the tag, or the manifest digest (for gates).
    fn subject(&self) -> String {
        match self {
            Work::Tag { tag, .. } => tag.clone(),
            Work::Manifest { digest, .. } => digest.to_string(),
            _ => String::new(),
        }
    }

    /// Everything a stored result depends on, hashed: the work itself (repository and digest),
    /// `--deep` for blobs, and for signatures the pinned keys with their status at check time.
    /// `None` for what is always asked again (tags and tag lists).
    pub(super) fn state_key(&self, options: &CheckOptions) -> Option<String> {
        let inputs = match self {
            Work::Tag { .. } | Work::Tags { .. } | Work::Catalog { .. } | Work::Receipt { .. } => return None,
            Work::Manifest { .. } => format!("{self:?}"),
            // A deep check is there to read every byte again: nothing is spared.
            Work::Blob { .. } if options.deep => return None,
            Work::Blob { .. } => format!("{self:?}"),
            Work::Signature { .. } => {
                let mut keys: Vec<String> = options
                    .trust
                    .keys
                    .iter()
                    .map(|k| format!("{}={}", k.key.id().as_str(), options.trust.status(k, options.at)))
                    .collect();
                keys.sort();
                format!("{self:?} keys={}", keys.join(","))
            }
        };
        Some(Digest::of(inputs.as_bytes()).to_string())
    }

    /// What decides the shard an item falls in: the digest it is about (a blob or signature
    /// per repository), or the repository for its tag list.
    pub(super) fn shard_key(&self) -> String {
        match self {
            Work::Tag { digest, .. } | Work::Manifest { digest, .. } => digest.to_string(),
            Work::Blob { repo, digest, .. } => format!("{}@{digest}", repo.name()),
            Work::Signature { repo, subject, legacy } => format!("{}@{subject} {legacy}", repo.name()),
            Work::Receipt { repo, subject } => format!("{}@{subject} receipt", repo.name()),
            Work::Tags { repo, .. } => repo.name(),
            Work::Catalog { registry, .. } => registry.clone(),
        }
    }
}

/// Everything to ask for `expected` (from `bundles`) in `registry`.
pub(super) fn plan(
    bundles: &[(String, VerifiedBundle)],
    expected: &[Expected<'_>],
    registry: &str,
    catalog: bool,
    receipts: bool,
) -> BTreeMap<Work, Planned> {
    // Work, each piece once, with the expectation (image, bundle) that asked for it first.
    let mut work: BTreeMap<Work, Planned> = BTreeMap::new();
    let mut tags: BTreeMap<Reference, BTreeSet<String>> = BTreeMap::new();
    for e in expected {
        let bundle = &bundles[e.bundle].1;
        let image = e.image;
        let repo = Reference {
            registry: registry.to_owned(),
            repository: image.repository.clone(),
            tag: None,
            digest: None,
        };
        let name = match &image.tag {
            Some(t) => format!("{}:{t}", repo.name()),
            None => format!("{}@{}", repo.name(), image.digest),
        };
        // What says the image is still the one signed: its tag, or its manifest by digest.
        let gate = match &image.tag {
            Some(tag) => Work::Tag {
                repo: repo.clone(),
                tag: tag.clone(),
                digest: image.digest.clone(),
            },
            None => Work::Manifest {
                repo: repo.clone(),
                digest: image.digest.clone(),
                size: image.size,
            },
        };
        let mut add = |w: Work| {
            let gated = w != gate;
            work.entry(w).or_insert_with(|| Planned {
                image: name.clone(),
                bundle: e.bundle,
                gate: gated.then(|| gate.clone()),
            });
        };
        add(gate.clone());
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
        // Where `load --site-key` attaches the import receipt: the `.att` image, and the
        // referrers fallback index.
        expected_tags.insert(crate::sign::attestation::attestation_tag(&image.digest));
        expected_tags.insert(artifact::fallback_tag(&image.digest));
        if receipts {
            add(Work::Receipt {
                repo: repo.clone(),
                subject: image.digest.clone(),
            });
        }
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
                registry: registry.to_owned(),
                repository: image.repository.clone(),
                tag: None,
                digest: None,
            };
            if let Some(set) = tags.get_mut(&repo) {
                set.extend(image.tag.clone());
            }
        }
    }
    if catalog {
        let names = tags.keys().map(|r| r.repository.clone()).collect();
        work.insert(
            Work::Catalog {
                registry: registry.to_owned(),
                expected: names,
            },
            Planned {
                image: registry.to_owned(),
                bundle: usize::MAX,
                gate: None,
            },
        );
    }
    for (repo, expected) in tags {
        let name = repo.name();
        work.insert(
            Work::Tags { repo, expected },
            Planned {
                image: name,
                bundle: usize::MAX,
                gate: None,
            },
        );
    }
    work
}

/// What the registry shows of a signature's objects now: the `.sig` tag's manifest digest, or
/// the subject's referrers; `None` for other work, or when it cannot be told.
async fn seen(client: &Registry, work: &Work) -> Option<String> {
    let Work::Signature { repo, subject, legacy } = work else {
        return None;
    };
    if *legacy {
        let at = Reference {
            tag: Some(artifact::legacy_tag(subject)),
            digest: None,
            ..repo.clone()
        };
        match client.fetch_manifest(&at).await {
            Ok(m) => Some(m.digest.to_string()),
            Err(e) if e.is_not_found() => Some("absent".into()),
            Err(_) => None,
        }
    } else {
        let mut listed: Vec<String> = client
            .referrers(repo, subject)
            .await
            .ok()?
            .into_iter()
            .map(|d| d.digest.to_string())
            .collect();
        listed.sort();
        Some(listed.join(","))
    }
}

/// Run `units` (at most `jobs` at once); with `state`, record each result as it comes.
pub(super) async fn run(
    client: &Registry,
    options: &CheckOptions,
    labels: &[String],
    units: Vec<(Work, Planned)>,
    state: Option<&State>,
) -> Vec<Item> {
    futures_util::stream::iter(units.into_iter().map(|(w, p)| {
        let label = labels.get(p.bundle).cloned().unwrap_or_default();
        async move {
            let found = items::run(client, options, &w, p.image, label).await;
            if let (Some(state), [one]) = (state, found.as_slice())
                && let Some(key) = w.state_key(options)
            {
                state.record(&key, one, seen(client, &w).await);
            }
            found
        }
    }))
    .buffer_unordered(client.jobs())
    .collect::<Vec<Vec<Item>>>()
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// Run `work`, sparing units `state` found ok before: first every gate, tag list and unit
/// without a stored ok result; then each spared unit stands if its gate came out ok, and is
/// asked again if not.
pub(super) async fn run_with_state(
    client: &Registry,
    options: &CheckOptions,
    labels: &[String],
    work: BTreeMap<Work, Planned>,
    state: &State,
) -> Vec<Item> {
    // Each unit with a stored ok result and a gate is a candidate; a signature result stands
    // only while the registry shows the very objects it was made from (asked now, at once).
    let judged: Vec<(Work, Planned, Option<Item>)> = futures_util::stream::iter(work.into_iter().map(|(w, p)| async move {
        let stored = w
            .state_key(options)
            .and_then(|k| state.get(&k))
            .filter(|(s, _)| s.status == Status::Ok);
        let stands = match (&stored, &p.gate) {
            (Some(_), None) | (None, _) => false,
            (Some((_, then)), Some(_)) if matches!(w, Work::Signature { .. }) => then.is_some() && seen(client, &w).await == *then,
            (Some(_), Some(_)) => true,
        };
        let stored = stored.filter(|_| stands).map(|(item, _)| item);
        (w, p, stored)
    }))
    .buffer_unordered(client.jobs())
    .collect()
    .await;
    let (mut spared, mut first) = (Vec::new(), Vec::new());
    for (w, p, stored) in judged {
        match stored {
            Some(stored) => spared.push((w, p, stored)),
            None => first.push((w, p)),
        }
    }
    let gates: BTreeSet<Work> = spared.iter().filter_map(|(_, p, _)| p.gate.clone()).collect();
    let gate_items: Vec<(Work, String)> = first
        .iter()
        .filter(|(w, _)| gates.contains(w))
        .map(|(w, p)| (w.clone(), p.image.clone()))
        .collect();
    let mut items = run(client, options, labels, first, Some(state)).await;
    let gate_ok = |gate: &Work| {
        gate_items.iter().any(|(w, image)| {
            w == gate
                && items
                    .iter()
                    .any(|i| i.image == *image && i.subject == w.subject() && i.status == Status::Ok)
        })
    };
    let (mut again, mut reused) = (Vec::new(), Vec::new());
    for (w, p, stored) in spared {
        if p.gate.as_ref().is_some_and(gate_ok) {
            let label = labels.get(p.bundle).cloned().unwrap_or_default();
            reused.push(Item {
                image: p.image,
                bundle: label,
                from_state: true,
                ..stored
            });
        } else {
            again.push((w, p));
        }
    }
    items.extend(reused);
    items.extend(run(client, options, labels, again, Some(state)).await);
    items
}
