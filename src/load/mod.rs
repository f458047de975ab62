//! The disconnected side's push: a [`VerifiedBundle`] (and nothing else) into the site's
//! registry, by digest, keeping each image's repository path under the target registry.
//!
//! Order ([`pipeline`]): every distinct blob once, largest first, then mounted where other
//! images share it ([`blobs`]); as soon as an image's own blobs are in, its manifests by
//! digest, children first; as soon as its signature objects' blobs are in, those objects
//! ([`signatures`]), which name the image by digest only and so need not wait for it; once
//! every image is in and every signature object reads back as written, the tags, so that no
//! tag names an image whose signatures are not in the registry yet, even when the load stops
//! half way. Up to `--jobs`
//! requests run at once. Manifests are pushed as the exact verified bytes, so digests on the
//! far side equal the source's. Blob bytes are re-read from the same open file that was
//! verified and re-hashed on the way out. A bundle whose large blobs are still being hashed
//! (`verify::verify_deferring`) is pushed only through a client that holds its commits until
//! they all matched (`Registry::hold_commits`).

mod blobs;
pub mod containers_policy;
pub mod manifests;
mod pipeline;
pub mod receipts;
mod signatures;

use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;

use crate::oci::{Descriptor, Reference};
use crate::progress::Reporter;
use crate::registry::{self, Registry};
use crate::verify::VerifiedBundle;

/// Errors while loading.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry refused or failed.
    #[error("image `{image}`")]
    Registry {
        /// The image being loaded.
        image: String,
        /// The cause.
        #[source]
        source: registry::Error,
    },
    /// The verified bundle does not hold something its own manifests name (cannot happen for a
    /// bundle that passed verification; kept as an error rather than a panic).
    #[error("image `{image}`: {reason}")]
    Inconsistent {
        /// The image.
        image: String,
        /// What is missing.
        reason: String,
    },
    /// The target registry name is not usable.
    #[error("invalid target registry `{0}`")]
    InvalidRegistry(String),
}

impl Error {
    /// A commit refused because the bundle's last bytes did not verify (see
    /// [`Registry::hold_commits`]).
    #[must_use]
    pub fn is_commit_refused(&self) -> bool {
        matches!(
            self,
            Self::Registry {
                source: registry::Error::CommitRefused { .. },
                ..
            }
        )
    }
}

/// Where to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Target registry host and optional port.
    pub registry: String,
}

/// One loaded image.
#[derive(Debug, Clone, Serialize)]
pub struct LoadedImage {
    /// The reference it was pushed as (`host/repo:tag@digest`).
    pub reference: String,
    /// Blobs uploaded.
    pub blobs_pushed: usize,
    /// Bytes uploaded.
    pub bytes_pushed: u64,
    /// Blobs the registry already had in this repository.
    pub blobs_skipped: usize,
    /// Blobs mounted from another repository of the registry that held them (not uploaded).
    pub blobs_mounted: usize,
    /// Manifests pushed (including indexes).
    pub manifests_pushed: usize,
    /// Signature objects made available (legacy `.sig` images and bundle referrers).
    pub signatures: usize,
    /// Signature manifests and referrer indexes pushed for them.
    pub signature_manifests_pushed: usize,
}

/// What `load` did.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Target registry.
    pub registry: String,
    /// Images loaded.
    pub images: Vec<LoadedImage>,
}

/// Push a verified bundle's images into `options.registry` (see the module for the order).
pub async fn load(bundle: &VerifiedBundle, client: &Registry, options: &LoadOptions, reporter: &dyn Reporter) -> Result<LoadReport, Error> {
    if options.registry.is_empty() || options.registry.contains('/') {
        return Err(Error::InvalidRegistry(options.registry.clone()));
    }
    // Entries verification left to hash (`verify_deferring`) may only go up through a client
    // that holds its commits until they have been.
    if bundle.pending().0 > 0 && !client.holds_commits() {
        return Err(Error::Inconsistent {
            image: bundle.index().name.clone(),
            reason: "the bundle has entries still to hash and the registry client does not wait for them".into(),
        });
    }
    let plans = bundle
        .index()
        .images
        .iter()
        .map(|image| ImagePlan::of(bundle, image, &options.registry))
        .collect::<Result<Vec<_>, _>>()?;
    let destinations: Vec<blobs::Destination<'_>> = plans
        .iter()
        .map(|plan| blobs::Destination {
            name: &plan.name,
            target: &plan.target,
        })
        .collect();
    let per_image: Vec<&[Descriptor]> = plans.iter().map(|p| p.blobs.as_slice()).collect();
    let work = blobs::distinct(&per_image);
    // Each image's signature objects, and which image each belongs to.
    let mut objects = Vec::new();
    let mut owners = Vec::new();
    for (owner, (plan, image)) in plans.iter().zip(&bundle.index().images).enumerate() {
        for rec in &image.signatures {
            objects.push(signatures::signature_object(bundle, &plan.target, rec, &plan.name)?);
            owners.push(owner);
        }
    }
    let outcome = pipeline::run(&pipeline::Load {
        bundle,
        client,
        plans: &plans,
        destinations: &destinations,
        work: &work,
        objects: &objects,
        owners: &owners,
        reporter,
    })
    .await?;
    let mut loaded: Vec<LoadedImage> = plans.iter().map(ImagePlan::loaded).collect();
    for (image, (pushed, manifests)) in loaded.iter_mut().zip(outcome.blobs.iter().zip(&outcome.manifests)) {
        image.manifests_pushed += manifests;
        for outcome in pushed {
            match outcome {
                blobs::Pushed::Uploaded(bytes) => {
                    image.blobs_pushed += 1;
                    image.bytes_pushed += bytes;
                }
                blobs::Pushed::Present => image.blobs_skipped += 1,
                blobs::Pushed::Mounted => image.blobs_mounted += 1,
            }
        }
    }
    let mut report = LoadReport {
        registry: options.registry.clone(),
        images: loaded,
    };
    for (owner, pushed) in owners.into_iter().zip(outcome.object_pushes) {
        report.images[owner].signatures += 1;
        report.images[owner].signature_manifests_pushed += pushed;
    }
    // Tags are moved last, once every image and its signatures are in: a tag never names an
    // image whose signatures are not there yet, even when a later image fails.
    let tags = plans
        .iter()
        .enumerate()
        .filter(|(_, plan)| plan.target.tag.is_some())
        .map(|(owner, plan)| async move {
            let root = plan.manifests.last().map(|n| &n.descriptor);
            let (Some(root), Some(bytes)) = (root, root.and_then(|d| bundle.manifest(&d.digest))) else {
                return Err(Error::Inconsistent {
                    image: plan.name.clone(),
                    reason: format!("manifest {} missing", plan.digest),
                });
            };
            client
                .push_manifest(&plan.target, bytes, &root.media_type)
                .await
                .map_err(|source| Error::Registry {
                    image: plan.name.clone(),
                    source,
                })?;
            Ok::<_, Error>(owner)
        });
    let moved: Vec<usize> = futures_util::stream::iter(tags)
        .buffer_unordered(client.jobs())
        .try_collect()
        .await?;
    for owner in moved {
        report.images[owner].manifests_pushed += 1;
    }
    for loaded in &report.images {
        reporter.note(&format!(
            "loaded {} with {} signature object(s)",
            loaded.reference, loaded.signatures
        ));
    }
    Ok(report)
}

/// What one image of the bundle puts into the registry: computed from the verified graph
/// before anything is pushed.
pub(super) struct ImagePlan<'a> {
    /// The image, for messages.
    name: String,
    /// Where it goes (with its tag, if any).
    target: Reference,
    /// Its digest.
    digest: &'a crate::oci::Digest,
    /// Every manifest under it, children before parents (the image's own last).
    manifests: Vec<&'a crate::oci::graph::Node>,
    /// Every config and layer, and the blobs of its signature objects.
    blobs: Vec<Descriptor>,
    /// Which of `blobs` its manifests wait for: the image's own configs and layers.
    manifests_need: std::collections::BTreeSet<crate::oci::Digest>,
    /// Which of `blobs` its signature objects wait for (some may be the image's own too).
    signatures_need: std::collections::BTreeSet<crate::oci::Digest>,
}

impl<'a> ImagePlan<'a> {
    /// The report entry before anything is pushed.
    fn loaded(&self) -> LoadedImage {
        LoadedImage {
            reference: format!("{}@{}", self.target, self.digest),
            blobs_pushed: 0,
            bytes_pushed: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            manifests_pushed: 0,
            signatures: 0,
            signature_manifests_pushed: 0,
        }
    }

    fn of(bundle: &'a VerifiedBundle, image: &'a crate::bundle::ImageRecord, registry: &str) -> Result<Self, Error> {
        let name = image.display_name();
        let graph = bundle.graph();
        let manifests = graph.children_first(&image.digest);
        if manifests.last().is_none_or(|n| n.descriptor.digest != image.digest) {
            return Err(Error::Inconsistent {
                image: name,
                reason: format!("manifest {} is not in the verified graph", image.digest),
            });
        }
        let mut blobs: Vec<Descriptor> = graph.blobs(&image.digest).into_iter().cloned().collect();
        let manifests_need = blobs.iter().map(|d| d.digest.clone()).collect();
        let mut signatures_need = std::collections::BTreeSet::new();
        for rec in &image.signatures {
            if !graph.nodes.contains_key(&rec.manifest) {
                return Err(Error::Inconsistent {
                    image: name,
                    reason: format!("signature manifest {} is not in the verified graph", rec.manifest),
                });
            }
            for b in graph.blobs(&rec.manifest) {
                signatures_need.insert(b.digest.clone());
                if !blobs.iter().any(|d| d.digest == b.digest) {
                    blobs.push(b.clone());
                }
            }
        }
        Ok(Self {
            name,
            target: Reference {
                registry: registry.to_owned(),
                repository: image.repository.clone(),
                tag: image.tag.clone(),
                digest: None,
            },
            digest: &image.digest,
            manifests,
            blobs,
            manifests_need,
            signatures_need,
        })
    }

    /// Whether this image's manifests, and its signature objects, wait for blob `digest`.
    fn waits_for(&self, digest: &crate::oci::Digest) -> (bool, bool) {
        (self.manifests_need.contains(digest), self.signatures_need.contains(digest))
    }
}

/// One image's manifests by digest, children first: how many.
pub(super) async fn push_manifests(bundle: &VerifiedBundle, client: &Registry, plan: &ImagePlan<'_>) -> Result<usize, Error> {
    for node in &plan.manifests {
        let (digest, mt) = (&node.descriptor.digest, &node.descriptor.media_type);
        let bytes = bundle.manifest(digest).ok_or_else(|| Error::Inconsistent {
            image: plan.name.clone(),
            reason: format!("manifest {digest} missing"),
        })?;
        client
            .push_manifest(&plan.target.with_digest(digest.clone()), bytes, mt)
            .await
            .map_err(|source| Error::Registry {
                image: plan.name.clone(),
                source,
            })?;
    }
    Ok(plan.manifests.len())
}
