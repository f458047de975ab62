//! The disconnected side's push: a [`VerifiedBundle`] (and nothing else) into the site's
//! registry, by digest, keeping each image's repository path under the target registry.
//!
//! Order: per image, blobs (skipping those the registry has, several at once), then its
//! manifests by digest, children first; then every image's signature objects, in one batch
//! ([`signatures`]); then the tags, so that no tag names an image whose signatures are not in
//! the registry yet, even when the load stops half way. Manifests are
//! pushed as the exact verified bytes, so digests on the far side equal the source's. Blob bytes
//! are re-read from the same open file that was verified and re-hashed on the way out.

pub mod containers_policy;
pub mod manifests;
pub mod receipts;
mod signatures;

use std::io::Read;

use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;

use crate::oci::{Descriptor, Reference};
use crate::progress::{ProgressReader, Reporter, Task};
use crate::registry::{self, BlobSource, Registry};
use crate::store::RangeReader;
use crate::verify::VerifiedBundle;
use std::sync::Arc;

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

/// Push a verified bundle's images into `options.registry`.
pub async fn load(bundle: &VerifiedBundle, client: &Registry, options: &LoadOptions, reporter: &dyn Reporter) -> Result<LoadReport, Error> {
    if options.registry.is_empty() || options.registry.contains('/') {
        return Err(Error::InvalidRegistry(options.registry.clone()));
    }
    let mut report = LoadReport {
        registry: options.registry.clone(),
        images: Vec::new(),
    };
    // Signature objects follow their images, all in one batch (see `push_objects`): which
    // image each belongs to.
    let mut objects = Vec::new();
    let mut owners = Vec::new();
    // Tags are moved last, once every image and its signatures are in: a tag never names an
    // image whose signatures are not there yet, even when a later image fails.
    let mut tagged = Vec::new();
    // Blobs known to be in some repository of the registry in this run, and where: a later
    // image that shares them mounts them from there instead of uploading them again.
    let landed = Landed::default();
    for image in &bundle.index().images {
        let name = image.display_name();
        let target = Reference {
            registry: options.registry.clone(),
            repository: image.repository.clone(),
            tag: image.tag.clone(),
            digest: None,
        };
        // The verified graph: every manifest under the image (children before parents) and
        // every config and layer, with the signature objects' blobs in the same batch.
        let graph = bundle.graph();
        let manifests = graph.children_first(&image.digest);
        if manifests.last().is_none_or(|n| n.descriptor.digest != image.digest) {
            return Err(Error::Inconsistent {
                image: name.clone(),
                reason: format!("manifest {} is not in the verified graph", image.digest),
            });
        }
        let mut blobs: Vec<Descriptor> = graph.blobs(&image.digest).into_iter().cloned().collect();
        for rec in &image.signatures {
            if !graph.nodes.contains_key(&rec.manifest) {
                return Err(Error::Inconsistent {
                    image: name.clone(),
                    reason: format!("signature manifest {} is not in the verified graph", rec.manifest),
                });
            }
            for b in graph.blobs(&rec.manifest) {
                if !blobs.iter().any(|d| d.digest == b.digest) {
                    blobs.push(b.clone());
                }
            }
        }
        let mut loaded = LoadedImage {
            reference: format!("{}@{}", target, image.digest),
            blobs_pushed: 0,
            bytes_pushed: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            manifests_pushed: 0,
            signatures: 0,
            signature_manifests_pushed: 0,
        };

        let results: Vec<Pushed> = futures_util::stream::iter(
            blobs
                .iter()
                .map(|d| push_blob(bundle, client, &target, d, &name, &landed, reporter)),
        )
        .buffer_unordered(client.jobs())
        .try_collect()
        .await?;
        for r in results {
            match r {
                Pushed::Uploaded(bytes) => {
                    loaded.blobs_pushed += 1;
                    loaded.bytes_pushed += bytes;
                }
                Pushed::Present => loaded.blobs_skipped += 1,
                Pushed::Mounted => loaded.blobs_mounted += 1,
            }
        }
        for node in manifests {
            let (digest, mt) = (&node.descriptor.digest, &node.descriptor.media_type);
            let bytes = bundle.manifest(digest).ok_or_else(|| Error::Inconsistent {
                image: name.clone(),
                reason: format!("manifest {digest} missing"),
            })?;
            if *digest == image.digest && image.tag.is_some() {
                tagged.push((report.images.len(), bytes, mt));
            }
            client
                .push_manifest(&target.with_digest(digest.clone()), bytes, mt)
                .await
                .map_err(|source| Error::Registry {
                    image: name.clone(),
                    source,
                })?;
            loaded.manifests_pushed += 1;
        }
        for rec in &image.signatures {
            objects.push(signatures::signature_object(bundle, &target, rec, &name)?);
            owners.push(report.images.len());
        }
        report.images.push(loaded);
    }
    let counts = signatures::push_objects(client, &objects).await?;
    for (owner, pushed) in owners.into_iter().zip(counts) {
        report.images[owner].signatures += 1;
        report.images[owner].signature_manifests_pushed += pushed;
    }
    for (owner, bytes, mt) in tagged {
        let image = &bundle.index().images[owner];
        let target = Reference {
            registry: options.registry.clone(),
            repository: image.repository.clone(),
            tag: image.tag.clone(),
            digest: None,
        };
        client.push_manifest(&target, bytes, mt).await.map_err(|source| Error::Registry {
            image: image.display_name(),
            source,
        })?;
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

/// What became of one blob.
enum Pushed {
    /// Uploaded: this many bytes.
    Uploaded(u64),
    /// Already in the repository.
    Present,
    /// Mounted from another repository of the registry.
    Mounted,
}

/// Which repository of the target registry holds each blob seen in this run; and whether the
/// registry refused a mount, after which none is asked for again.
#[derive(Default)]
struct Landed {
    held: std::sync::Mutex<std::collections::HashMap<crate::oci::Digest, String>>,
    refused: std::sync::atomic::AtomicBool,
}

impl Landed {
    fn note(&self, digest: &crate::oci::Digest, repository: &str) {
        let mut map = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(digest.clone()).or_insert_with(|| repository.to_owned());
    }

    /// A repository other than `repository` that holds `digest`, while mounts are welcome.
    fn elsewhere(&self, digest: &crate::oci::Digest, repository: &str) -> Option<String> {
        if self.refused.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let map = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(digest).filter(|r| *r != repository).cloned()
    }

    fn refuse(&self) {
        self.refused.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Push one blob unless the repository has it: mounted from another repository of the
/// registry that got it earlier in this run when the registry agrees, uploaded otherwise.
async fn push_blob(
    bundle: &VerifiedBundle,
    client: &Registry,
    target: &Reference,
    desc: &Descriptor,
    name: &str,
    landed: &Landed,
    reporter: &dyn Reporter,
) -> Result<Pushed, Error> {
    let reg_err = |source| Error::Registry {
        image: name.to_owned(),
        source,
    };
    if client.blob_exists(target, &desc.digest).await.map_err(reg_err)? {
        reporter.note(&format!("{name}: {} already in the registry", desc.digest.short()));
        landed.note(&desc.digest, &target.repository);
        return Ok(Pushed::Present);
    }
    if let Some(from) = landed.elsewhere(&desc.digest, &target.repository) {
        // A mount is only a shortcut: a registry that refuses it in any way (a 401 where its
        // token does not cover the other repository, say) gets the blob uploaded instead.
        match client.mount_blob(target, &desc.digest, &from).await {
            Ok(true) => {
                reporter.note(&format!("{name}: {} mounted from {from}", desc.digest.short()));
                landed.note(&desc.digest, &target.repository);
                return Ok(Pushed::Mounted);
            }
            // Refused once, never asked again in this run: each ask would cost a request.
            Ok(false) => landed.refuse(),
            Err(e) => {
                reporter.note(&format!(
                    "{name}: mounting {} from {from} failed ({e}); uploading it, and asking no more",
                    desc.digest.short()
                ));
                landed.refuse();
            }
        }
    }
    let entry = bundle.blob(&desc.digest).ok_or_else(|| Error::Inconsistent {
        image: name.to_owned(),
        reason: format!("blob {} missing", desc.digest),
    })?;
    let size = entry.size;
    let (file, offset, _) = bundle.blob_range(&desc.digest).ok_or_else(|| Error::Inconsistent {
        image: name.to_owned(),
        reason: format!("blob {} missing", desc.digest),
    })?;
    let task: Arc<dyn Task> = Arc::from(reporter.start(&format!("push {}", desc.digest.short()), size));
    let source = Arc::new(BundleBlob {
        file,
        offset,
        size,
        task: task.clone(),
    });
    // Sent bytes are hashed again and committed only if they still match the verified digest.
    client.push_blob_from(target, &desc.digest, size, source).await.map_err(reg_err)?;
    task.finish();
    landed.note(&desc.digest, &target.repository);
    Ok(Pushed::Uploaded(size))
}

/// A verified blob's bytes, read again from the bundle file that was verified (from any
/// offset, for a resumed upload), with progress.
struct BundleBlob {
    file: Arc<std::fs::File>,
    offset: u64,
    size: u64,
    task: Arc<dyn Task>,
}

impl BlobSource for BundleBlob {
    fn open_at(&self, from: u64) -> std::io::Result<Box<dyn Read + Send>> {
        let reader = RangeReader::new(self.file.clone(), self.offset + from, self.size.saturating_sub(from));
        Ok(Box::new(ProgressReader::new(reader, self.task.clone())))
    }
}
