//! Copy images from any transport (`docker://`, `oci:`, `oci-archive:`) into the staging
//! layout, verifying every manifest and blob against its digest while it streams.
//!
//! What is pulled is the image's whole graph ([`crate::oci::graph`]): indexes inside indexes,
//! attestations and artifacts included, each manifest classified once. An index is kept whole
//! unless the release asks for a subset of platforms; then every index on the way to a wanted
//! platform is rewritten to list only what is wanted (attestations follow their image), and
//! the source digest is recorded beside the new root.

mod archive;
mod origin;

use std::collections::BTreeSet;

use futures_util::{StreamExt as _, TryStreamExt as _};

use crate::oci::graph::{self, GraphError, Need, Walker};
use crate::oci::{Descriptor, Digest, Graph, ManifestKind, SourceRef, media_type};
use crate::policy::ImageSpec;
use crate::progress::Reporter;
use crate::registry::Registry;
use crate::store::Layout;

use origin::Origin;

/// Errors while pulling an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Talking to the registry failed.
    #[error("image `{image}`")]
    Registry {
        /// The image.
        image: String,
        /// The cause.
        #[source]
        source: crate::registry::Error,
    },
    /// Reading or writing a layout failed.
    #[error("image `{image}`")]
    Store {
        /// The image.
        image: String,
        /// The cause.
        #[source]
        source: crate::store::Error,
    },
    /// The image's manifests do not make an acceptable graph (see [`crate::oci::graph`]).
    #[error("image `{image}`")]
    Graph {
        /// The image.
        image: String,
        /// What is wrong.
        #[source]
        source: Box<GraphError>,
    },
    /// None of the requested platforms is in the index.
    #[error("image `{image}`: none of the platforms {wanted} is in the image (it has: {available})")]
    NoMatchingPlatform {
        /// The image.
        image: String,
        /// Requested platforms.
        wanted: String,
        /// Platforms offered.
        available: String,
    },
    /// The source does not hold what was asked for.
    #[error("image `{image}`: {reason}")]
    NotFound {
        /// The image.
        image: String,
        /// What is missing.
        reason: String,
    },
    /// A blob transfer failed part-way.
    #[error("image `{image}`: blob {digest}: {reason}")]
    Transfer {
        /// The image.
        image: String,
        /// The blob.
        digest: Digest,
        /// What went wrong.
        reason: String,
    },
}

/// An image now in the staging layout.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// The source as written by the user.
    pub source: String,
    /// Repository to load under.
    pub repository: String,
    /// Tag to load under.
    pub tag: Option<String>,
    /// The manifest or index carried.
    pub root: Descriptor,
    /// Digest at the source, when a platform subset made a new index.
    pub source_digest: Option<Digest>,
    /// Every manifest under `root`, classified: the one model of what this image holds.
    pub graph: Graph,
    /// Every manifest and blob of the image now in the layout.
    pub blobs: Vec<Descriptor>,
}

/// Pull one image into `layout`. `registry` is needed for `docker://` sources.
pub async fn pull(spec: &ImageSpec, registry: &Registry, layout: &Layout, reporter: &dyn Reporter) -> Result<PulledImage, Error> {
    Ok(pull_with(spec, registry, layout, reporter, false).await?.0)
}

/// Pull one image for reading, not carrying: its manifests (and configs) into `layout`, every
/// one checked; its layers too from a registry, but an `oci:` layout or `oci-archive:` file is
/// left where it is and its layers are read from there (the returned [`InPlace`]), with no
/// copy: the reader checks each layer against its digest as it streams.
pub async fn pull_for_reading(
    spec: &ImageSpec,
    registry: &Registry,
    layout: &Layout,
    reporter: &dyn Reporter,
) -> Result<(PulledImage, Option<InPlace>), Error> {
    let (image, origin) = pull_with(spec, registry, layout, reporter, true).await?;
    Ok((image, origin.in_place()))
}

/// The layers of an `oci:` layout or `oci-archive:` file, opened where they are.
pub struct InPlace(origin::Local);

impl crate::store::Blobs for InPlace {
    fn open_blob_reader(&self, digest: &Digest) -> Result<Box<dyn std::io::Read + Send + '_>, crate::store::Error> {
        self.0.open(digest)
    }
}

async fn pull_with<'a>(
    spec: &ImageSpec,
    registry: &'a Registry,
    layout: &Layout,
    reporter: &dyn Reporter,
    leave_local_layers: bool,
) -> Result<(PulledImage, Origin<'a>), Error> {
    let image = spec.source.to_string();
    let origin = Origin::open(&spec.source, registry, &image).await?;
    let (repository, tag) = match (&spec.name, &spec.source) {
        (Some((repo, tag)), _) => (repo.clone(), tag.clone()),
        (None, SourceRef::Docker(r)) => (r.repository.clone(), r.tag.clone()),
        (None, _) => {
            return Err(Error::NotFound {
                image,
                reason: "needs `name:` to be loaded anywhere".into(),
            });
        }
    };
    let store_err = |source| Error::Store {
        image: image.clone(),
        source,
    };
    let (root_bytes, root_media_type) = origin.root().await?;
    let source_digest = Digest::of(&root_bytes);
    reporter.note(&format!("resolved {image} to {source_digest}"));
    let source_root = Descriptor::new(
        &root_media_type,
        layout.write_blob(&root_bytes).map_err(store_err)?,
        root_bytes.len() as u64,
    );

    // Every manifest under the root (and the configs that name a platform), into the layout.
    let mut walker = Walker::new([source_root.clone()]);
    while let Some(need) = walker.next_need() {
        let d = need.descriptor().clone();
        let bytes = match &need {
            Need::Manifest(_) if d.digest == source_root.digest => root_bytes.clone(),
            Need::Manifest(_) => {
                let bytes = origin.manifest(&d).await?;
                layout.write_blob(&bytes).map_err(store_err)?;
                bytes
            }
            Need::Config { .. } => {
                layout.stage_once(&d.digest, d.size, || origin.blob(&d, layout, reporter)).await?;
                layout.read_manifest(&d).map_err(store_err)?
            }
        };
        walker.provide(&need, &bytes).map_err(|source| Error::Graph {
            image: image.clone(),
            source: Box::new(source),
        })?;
    }
    let mut graph = walker.finish().map_err(|source| Error::Graph {
        image: image.clone(),
        source: Box::new(source),
    })?;

    let mut root = source_root.clone();
    // Platforms select among runnable images; an artifact without any is carried whole.
    if !spec.platforms.is_empty() && !graph.runnable(&source_root.digest).is_empty() {
        let offered = |g: &Graph| {
            g.runnable(&source_root.digest)
                .iter()
                .filter_map(|n| n.platform.as_ref().map(ToString::to_string))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let wanted = spec.platforms.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let chosen: BTreeSet<Digest> = graph
            .runnable(&source_root.digest)
            .iter()
            .filter(|n| n.platform.as_ref().is_some_and(|p| spec.platforms.iter().any(|w| w.matches(p))))
            .map(|n| n.descriptor.digest.clone())
            .collect();
        let kept = if chosen.is_empty() {
            None
        } else {
            subset(&graph, &source_root.digest, &chosen, layout).map_err(store_err)?
        };
        match kept {
            None => {
                return Err(Error::NoMatchingPlatform {
                    available: offered(&graph),
                    image,
                    wanted,
                });
            }
            Some(d) if d.digest == source_root.digest => {}
            Some(d) => {
                root = d;
                graph = local_graph(layout, &root).map_err(|source| Error::Graph {
                    image: image.clone(),
                    source: Box::new(source),
                })?;
            }
        }
    }

    let mut blobs: Vec<Descriptor> = graph.under(&root.digest).iter().map(|n| n.descriptor.clone()).collect();
    // Configs and layers as the manifests describe them (foreign layers keep their URLs).
    let leaves = graph.blobs(&root.digest);
    let in_place = leave_local_layers && origin.is_local();
    let missing: Vec<&Descriptor> = leaves
        .iter()
        .copied()
        .filter(|d| !in_place && !layout.has_blob(&d.digest, d.size))
        .collect();
    for d in leaves.iter().filter(|d| !in_place && layout.has_blob(&d.digest, d.size)) {
        reporter.note(&format!("{image}: {} already staged", d.digest.short()));
    }
    let foreign = spec.include_foreign_layers;
    futures_util::stream::iter(missing.into_iter().map(|d| {
        let origin = &origin;
        async move {
            // A foreign layer may come from its own HTTPS URLs, when the release allows it;
            // the bytes are checked against digest and size like any other blob.
            let mut fetch = d.plain();
            if foreign && media_type::is_non_distributable(&d.media_type) {
                fetch.urls = d.urls.iter().filter(|u| u.starts_with("https://")).cloned().collect();
            }
            // Another image pulled at the same time may be fetching it already.
            layout
                .stage_once(&d.digest, d.size, || origin.blob(&fetch, layout, reporter))
                .await
                .map(|_| ())
                .map_err(|e| foreign_layer_error(e, d, foreign))
        }
    }))
    .buffer_unordered(registry.jobs())
    .try_collect::<Vec<()>>()
    .await?;
    blobs.extend(leaves.into_iter().map(Descriptor::plain));

    let pulled = PulledImage {
        source: image,
        repository,
        tag,
        source_digest: (source_digest != root.digest).then_some(source_digest),
        root,
        graph,
        blobs,
    };
    Ok((pulled, origin))
}

/// A non-distributable (foreign) layer the source does not serve: say so, with its URLs.
fn foreign_layer_error(e: Error, d: &Descriptor, allowed: bool) -> Error {
    if !media_type::is_non_distributable(&d.media_type) {
        return e;
    }
    // The whole chain of causes: a failed URL fetch says why (TLS, status, digest).
    fn chain(e: &dyn std::error::Error) -> String {
        let mut out = e.to_string();
        let mut next = e.source();
        while let Some(s) = next {
            out.push_str(": ");
            out.push_str(&s.to_string());
            next = s.source();
        }
        out
    }
    let (image, cause, registry) = match e {
        Error::Registry { image, source } => (image, chain(&source), true),
        Error::Store { image, source } => (image, chain(&source), false),
        other => return other,
    };
    Error::Transfer {
        image,
        digest: d.digest.clone(),
        reason: format!(
            "a non-distributable layer ({}) that the source does not hold ({cause}); {}. Its URLs: {}",
            d.media_type,
            if allowed && registry {
                "fetching it from its HTTPS URLs (plain HTTP ones are never used; their servers' CAs must be trusted like a registry's) failed too"
            } else if allowed {
                "`include-foreign-layers` fetches from URLs only for docker:// sources; put the layer in this layout or archive"
            } else {
                "set `include-foreign-layers: true` in sealift.yaml to fetch it from its HTTPS URLs (checked against its digest and size)"
            },
            if d.urls.is_empty() {
                "none given".to_owned()
            } else {
                d.urls.join(", ")
            }
        ),
    }
}

/// The graph under `root` from the layout alone (after a platform subset rewrote indexes).
pub fn local_graph(layout: &Layout, root: &Descriptor) -> Result<Graph, GraphError> {
    graph::walk([root.clone()], |need: &Need| layout.read_manifest(need.descriptor())).map_err(|e| match e {
        graph::WalkError::Graph(g) => g,
        graph::WalkError::Fetch(f) => GraphError::Invalid {
            digest: root.digest.clone(),
            reason: f.to_string(),
        },
    })
}

/// Annotation buildx puts on an attestation entry: the manifest it describes.
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

/// The manifest `digest` reduced to the `chosen` runnable images (those of the wanted
/// platforms, found anywhere under the root): `None` when it holds runnable images and none is
/// chosen, the same descriptor when nothing under it changes, else the descriptor of a
/// rewritten index (written to `layout`) that lists only what is kept, at any depth.
/// Attestations of an image that is dropped are dropped with it; other artifacts are kept.
fn subset(graph: &Graph, digest: &Digest, chosen: &BTreeSet<Digest>, layout: &Layout) -> Result<Option<Descriptor>, crate::store::Error> {
    let Some(node) = graph.nodes.get(digest) else { return Ok(None) };
    let runnable = graph.runnable(digest);
    if !runnable.is_empty() && !runnable.iter().any(|n| chosen.contains(&n.descriptor.digest)) {
        return Ok(None);
    }
    if node.kind != ManifestKind::Index {
        return Ok(Some(node.descriptor.clone()));
    }
    let bytes = layout.read_manifest(&node.descriptor)?;
    let invalid = |e: serde_json::Error| crate::store::Error::InvalidIndex {
        path: layout.blob_path(digest),
        reason: e.to_string(),
    };
    let mut doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(invalid)?;
    let Some(entries) = doc.get_mut("manifests").and_then(|m| m.as_array_mut()) else {
        return Ok(Some(node.descriptor.clone()));
    };
    let all_runnable: BTreeSet<&Digest> = graph.all_runnable().into_iter().map(|n| &n.descriptor.digest).collect();
    let field = |e: &serde_json::Value, f: &dyn Fn(&serde_json::Value) -> Option<&serde_json::Value>| {
        f(e).and_then(|d| d.as_str()).and_then(|d| d.parse::<Digest>().ok())
    };
    let mut kept = Vec::new();
    for e in entries.iter() {
        let Some(d) = field(e, &|e| e.get("digest")) else { continue };
        // An attestation of a runnable image that is not kept goes with it.
        if let Some(described) = field(e, &|e| e.get("annotations").and_then(|a| a.get(REFERENCE_DIGEST)))
            && all_runnable.contains(&described)
            && !chosen.contains(&described)
        {
            continue;
        }
        match subset(graph, &d, chosen, layout)? {
            None => {}
            Some(new) => {
                let mut e = e.clone();
                e["digest"] = serde_json::Value::String(new.digest.to_string());
                e["size"] = serde_json::Value::from(new.size);
                kept.push(e);
            }
        }
    }
    if kept == *entries {
        return Ok(Some(node.descriptor.clone()));
    }
    *entries = kept;
    let bytes = serde_json::to_vec(&doc).map_err(invalid)?;
    Ok(Some(Descriptor {
        digest: layout.write_blob(&bytes)?,
        size: bytes.len() as u64,
        ..node.descriptor.clone()
    }))
}
