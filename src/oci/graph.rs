//! The graph of everything a set of roots holds: every manifest reachable from them (indexes
//! inside indexes down to [`MAX_DEPTH`]), each classified once.
//!
//! This is the one model of "what is in an image" that pulling, signing, `bundle.json`,
//! scanning, hardening, verification and loading all read. It does no I/O: a [`Walker`] says
//! which document it needs next ([`Need`]) and the caller fetches it from wherever the content
//! is (a registry, a layout, a bundle), so the same rules run on the connected and the
//! disconnected side.
//!
//! Classification of an image manifest (OCI image spec `manifest.md`, `image-index.md`; OCI
//! 1.1 artifact guidance; buildx attestation storage):
//! - named by an index entry annotated `vnd.docker.reference.type: attestation-manifest`, or
//!   with an in-toto or DSSE layer: **attestation**;
//! - a cosign simple-signing layer or a Sigstore bundle artifact type: **signature**;
//! - an SPDX, CycloneDX or syft artifact type (or config/layer media type): **SBOM**;
//! - an `artifactType`, or a config that is not a container config: **artifact**;
//! - otherwise a container image: **runnable**, with the platform its index entry gives, else
//!   the one its config states. Every layer of a runnable image must be a tar media type, and
//!   it must have a platform; anything else is an error, never a silent skip.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Descriptor, Digest, Manifest, Platform, media_type};

/// Deepest nesting followed: a manifest more than this many index levels below a root is
/// refused.
pub const MAX_DEPTH: usize = 4;

/// Most manifests one graph may hold (bounds what a hostile index can make sealift fetch).
pub const MAX_MANIFESTS: usize = 10_000;

/// What a manifest is.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestKind {
    /// An image index (a list of manifests).
    Index,
    /// A container image a runtime can run on its platform.
    Image,
    /// Build provenance or other in-toto attestations (buildx, cosign attest).
    Attestation,
    /// An image signature (cosign legacy or Sigstore bundle).
    Signature,
    /// A software bill of materials.
    Sbom,
    /// Any other OCI artifact (charts, WASM modules, policies...).
    Artifact,
}

impl ManifestKind {
    /// The word used in reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Index => "index",
            Self::Image => "image",
            Self::Attestation => "attestation",
            Self::Signature => "signature",
            Self::Sbom => "sbom",
            Self::Artifact => "artifact",
        }
    }
}

impl fmt::Display for ManifestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a graph cannot be built: each names the manifest and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A manifest does not parse.
    #[error("manifest {digest}: {reason}")]
    Invalid {
        /// The manifest.
        digest: Digest,
        /// The parser's message.
        reason: String,
    },
    /// An index entry whose media type is not a manifest type.
    #[error("index {index} lists {digest} as `{media_type}`, which is not a manifest media type")]
    NotAManifest {
        /// The index.
        index: Digest,
        /// The entry.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// Indexes nested deeper than [`MAX_DEPTH`].
    #[error("manifest {digest} is nested {depth} indexes deep; at most {MAX_DEPTH} are followed")]
    TooDeep {
        /// The manifest too deep.
        digest: Digest,
        /// Its depth.
        depth: usize,
    },
    /// More than [`MAX_MANIFESTS`] manifests.
    #[error("more than {MAX_MANIFESTS} manifests under the roots")]
    TooMany,
    /// A runnable image with a layer that is not a tar stream.
    #[error("image manifest {digest}{platform}: layer {layer} has media type `{media_type}`, which is not a tar layer sealift can check")]
    UnknownLayer {
        /// The image manifest.
        digest: Digest,
        /// ` (os/arch)` when known.
        platform: String,
        /// The layer.
        layer: Digest,
        /// Its media type.
        media_type: String,
    },
    /// A runnable image whose platform neither its index entry nor its config states.
    #[error("image manifest {digest}: no platform (its index entry and its config name no os/architecture)")]
    NoPlatform {
        /// The image manifest.
        digest: Digest,
    },
}

/// One classified manifest.
#[derive(Debug, Clone)]
pub struct Node {
    /// The descriptor it was first reached by (annotations and platform stripped).
    pub descriptor: Descriptor,
    /// What it is.
    pub kind: ManifestKind,
    /// The platform of a runnable image.
    pub platform: Option<Platform>,
    /// The declared artifact type (manifest `artifactType`, else the config media type of a
    /// non-container config), for non-runnable manifests.
    pub artifact_type: Option<String>,
    /// Levels of index above it (0 for a root).
    pub depth: usize,
    /// Manifests an index lists, in order (duplicates kept out).
    pub manifests: Vec<Digest>,
    /// Config and layers of an image manifest.
    pub blobs: Vec<Descriptor>,
}

/// Every manifest under a set of roots.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// The roots, in the order given.
    pub roots: Vec<Digest>,
    /// Every manifest, by digest.
    pub nodes: BTreeMap<Digest, Node>,
}

impl Graph {
    /// The manifests under `root` (itself first), each once, parents before children.
    #[must_use]
    pub fn under(&self, root: &Digest) -> Vec<&Node> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([root]);
        while let Some(d) = queue.pop_front() {
            let Some(node) = self.nodes.get(d) else { continue };
            if !seen.insert(d) {
                continue;
            }
            out.push(node);
            queue.extend(node.manifests.iter());
        }
        out
    }

    /// The manifests under `root` (itself last), each once, every child before each of its
    /// parents: the order a registry accepts them in (an index may only name manifests it
    /// already has).
    #[must_use]
    pub fn children_first(&self, root: &Digest) -> Vec<&Node> {
        let mut out = Vec::new();
        let mut done = BTreeSet::new();
        let mut stack: Vec<(&Digest, bool)> = vec![(root, false)];
        while let Some((d, expanded)) = stack.pop() {
            if done.contains(d) {
                continue;
            }
            let Some(node) = self.nodes.get(d) else { continue };
            if expanded {
                done.insert(d);
                out.push(node);
                continue;
            }
            stack.push((d, true));
            stack.extend(node.manifests.iter().rev().filter(|c| !done.contains(c)).map(|c| (c, false)));
        }
        out
    }

    /// The runnable images under `root`, each once, with their platforms.
    #[must_use]
    pub fn runnable(&self, root: &Digest) -> Vec<&Node> {
        self.under(root).into_iter().filter(|n| n.kind == ManifestKind::Image).collect()
    }

    /// Every runnable image in the graph, each once.
    #[must_use]
    pub fn all_runnable(&self) -> Vec<&Node> {
        self.nodes.values().filter(|n| n.kind == ManifestKind::Image).collect()
    }

    /// The manifests under `root` that are neither indexes nor runnable images.
    #[must_use]
    pub fn others(&self, root: &Digest) -> Vec<&Node> {
        self.under(root)
            .into_iter()
            .filter(|n| !matches!(n.kind, ManifestKind::Image | ManifestKind::Index))
            .collect()
    }

    /// Config and layer blobs of every manifest under `root`, each once, in walk order.
    #[must_use]
    pub fn blobs(&self, root: &Digest) -> Vec<&Descriptor> {
        let mut seen = BTreeSet::new();
        self.under(root)
            .into_iter()
            .flat_map(|n| n.blobs.iter())
            .filter(|d| seen.insert(&d.digest))
            .collect()
    }
}

/// A document the walker needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// A manifest or index, by its descriptor.
    Manifest(Descriptor),
    /// The config blob of a runnable image whose index entry gives no platform.
    Config {
        /// The image manifest.
        manifest: Digest,
        /// Its config descriptor.
        config: Descriptor,
    },
}

impl Need {
    /// The descriptor of the content to fetch.
    #[must_use]
    pub fn descriptor(&self) -> &Descriptor {
        match self {
            Self::Manifest(d) | Self::Config { config: d, .. } => d,
        }
    }
}

struct Pending {
    descriptor: Descriptor,
    depth: usize,
}

/// Builds a [`Graph`] as the caller feeds it documents.
///
/// ```text
/// let mut w = Walker::new(roots);
/// while let Some(need) = w.next_need() { let bytes = fetch(need.descriptor())?; w.provide(&need, &bytes)?; }
/// let graph = w.finish()?;
/// ```
pub struct Walker {
    queue: VecDeque<Pending>,
    configs: VecDeque<Need>,
    graph: Graph,
}

impl Walker {
    /// Start from `roots` (descriptors as `index.json` or a registry gives them).
    #[must_use]
    pub fn new(roots: impl IntoIterator<Item = Descriptor>) -> Self {
        let mut graph = Graph::default();
        let mut queue = VecDeque::new();
        for d in roots {
            if !graph.roots.contains(&d.digest) {
                graph.roots.push(d.digest.clone());
                queue.push_back(Pending { descriptor: d, depth: 0 });
            }
        }
        Self {
            queue,
            configs: VecDeque::new(),
            graph,
        }
    }

    /// The next document to fetch, or `None` when the walk is complete.
    pub fn next_need(&mut self) -> Option<Need> {
        while let Some(p) = self.queue.front() {
            if self.graph.nodes.contains_key(&p.descriptor.digest) {
                self.queue.pop_front();
                continue;
            }
            return Some(Need::Manifest(p.descriptor.clone()));
        }
        self.configs.front().cloned()
    }

    /// Feed the bytes of what [`Walker::next_need`] asked for. The caller has checked them against
    /// the descriptor's digest and size.
    pub fn provide(&mut self, need: &Need, bytes: &[u8]) -> Result<(), GraphError> {
        match need {
            Need::Manifest(d) => {
                let Some(pos) = self.queue.iter().position(|p| p.descriptor.digest == d.digest) else {
                    return Ok(());
                };
                let Some(pending) = self.queue.remove(pos) else { return Ok(()) };
                self.add_manifest(pending, bytes)
            }
            Need::Config { manifest, config } => {
                self.configs.retain(|c| c != need);
                let platform = Platform::from_config(bytes).filter(known);
                let node = self.graph.nodes.get_mut(manifest).ok_or_else(|| GraphError::Invalid {
                    digest: manifest.clone(),
                    reason: format!("config {} provided for a manifest the walk has not seen", config.digest),
                })?;
                if platform.is_none() {
                    return Err(GraphError::NoPlatform { digest: manifest.clone() });
                }
                node.platform = platform;
                Ok(())
            }
        }
    }

    /// The finished graph; `None` from [`Walker::next_need`] must have been seen.
    pub fn finish(self) -> Result<Graph, GraphError> {
        if let Some(p) = self.queue.front() {
            return Err(GraphError::Invalid {
                digest: p.descriptor.digest.clone(),
                reason: "was never provided".into(),
            });
        }
        Ok(self.graph)
    }

    fn add_manifest(&mut self, pending: Pending, bytes: &[u8]) -> Result<(), GraphError> {
        let Pending { descriptor: named, depth } = pending;
        let digest = named.digest.clone();
        if depth > MAX_DEPTH {
            return Err(GraphError::TooDeep { digest, depth });
        }
        if self.graph.nodes.len() >= MAX_MANIFESTS {
            return Err(GraphError::TooMany);
        }
        let manifest = Manifest::parse(bytes, &named.media_type).map_err(|e| GraphError::Invalid {
            digest: digest.clone(),
            reason: e.to_string(),
        })?;
        let descriptor = Descriptor {
            platform: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
            urls: Vec::new(),
            ..named.clone()
        };
        let node = match manifest {
            Manifest::Index { manifests } => {
                let mut listed = Vec::new();
                for child in manifests {
                    if !media_type::is_manifest(&child.media_type) {
                        return Err(GraphError::NotAManifest {
                            index: digest,
                            digest: child.digest,
                            media_type: child.media_type,
                        });
                    }
                    if !listed.contains(&child.digest) {
                        listed.push(child.digest.clone());
                    }
                    self.queue.push_back(Pending {
                        descriptor: child,
                        depth: depth + 1,
                    });
                }
                Node {
                    descriptor,
                    kind: ManifestKind::Index,
                    platform: None,
                    artifact_type: None,
                    depth,
                    manifests: listed,
                    blobs: Vec::new(),
                }
            }
            Manifest::Image {
                config,
                layers,
                artifact_type,
                ..
            } => {
                let (kind, artifact_type) = classify(&named, &config, &layers, artifact_type);
                let mut node = Node {
                    descriptor,
                    kind,
                    platform: None,
                    artifact_type,
                    depth,
                    manifests: Vec::new(),
                    blobs: std::iter::once(config.clone()).chain(layers.iter().cloned()).collect(),
                };
                if kind == ManifestKind::Image {
                    node.platform = named.platform.clone().filter(known);
                    if let Some(bad) = layers.iter().find(|l| !media_type::is_tar_layer(&l.media_type)) {
                        return Err(GraphError::UnknownLayer {
                            digest,
                            platform: node.platform.as_ref().map(|p| format!(" ({p})")).unwrap_or_default(),
                            layer: bad.digest.clone(),
                            media_type: bad.media_type.clone(),
                        });
                    }
                    if node.platform.is_none() {
                        self.configs.push_back(Need::Config {
                            manifest: digest.clone(),
                            config,
                        });
                    }
                }
                node
            }
        };
        self.graph.nodes.insert(digest, node);
        Ok(())
    }
}

/// `unknown/unknown` (buildx's attestation entries) is no platform.
fn known(p: &Platform) -> bool {
    p.os != "unknown" && p.architecture != "unknown" && !p.os.is_empty() && !p.architecture.is_empty()
}

fn classify(named: &Descriptor, config: &Descriptor, layers: &[Descriptor], declared: Option<String>) -> (ManifestKind, Option<String>) {
    let any_layer = |f: &dyn Fn(&str) -> bool| layers.iter().any(|l| f(&l.media_type));
    let artifact_type = declared.clone().or_else(|| {
        (!media_type::is_container_config(&config.media_type) && config.media_type != media_type::OCI_EMPTY)
            .then(|| config.media_type.clone())
    });
    let typed = artifact_type.as_deref().unwrap_or_default();
    let sbom = |t: &str| {
        let t = t.to_ascii_lowercase();
        t.contains("spdx") || t.contains("cyclonedx") || t.contains("syft")
    };
    let kind = if named.annotations.get(media_type::DOCKER_REFERENCE_TYPE).map(String::as_str) == Some(media_type::ATTESTATION_MANIFEST)
        || any_layer(&|m| m == media_type::IN_TOTO || m == media_type::DSSE_ENVELOPE)
        || typed == media_type::IN_TOTO
        || typed == media_type::DSSE_ENVELOPE
    {
        ManifestKind::Attestation
    } else if any_layer(&|m| m == media_type::COSIGN_SIMPLE_SIGNING) || typed.starts_with(media_type::SIGSTORE_BUNDLE_PREFIX) {
        ManifestKind::Signature
    } else if sbom(typed) || any_layer(&sbom) {
        ManifestKind::Sbom
    } else if artifact_type.is_some() || config.media_type == media_type::OCI_EMPTY {
        ManifestKind::Artifact
    } else {
        ManifestKind::Image
    };
    let artifact_type = if kind == ManifestKind::Image {
        None
    } else {
        artifact_type.or(declared)
    };
    (kind, artifact_type)
}

/// Walk `roots` to the end, fetching each document with `fetch` (which must check it against
/// the descriptor). The synchronous driver of [`Walker`].
pub fn walk<E>(
    roots: impl IntoIterator<Item = Descriptor>,
    mut fetch: impl FnMut(&Need) -> Result<Vec<u8>, E>,
) -> Result<Graph, WalkError<E>> {
    let mut walker = Walker::new(roots);
    while let Some(need) = walker.next_need() {
        let bytes = fetch(&need).map_err(WalkError::Fetch)?;
        walker.provide(&need, &bytes).map_err(WalkError::Graph)?;
    }
    walker.finish().map_err(WalkError::Graph)
}

/// A walk that stopped: the content could not be had, or the graph is not acceptable.
#[derive(Debug)]
pub enum WalkError<E> {
    /// `fetch` failed.
    Fetch(E),
    /// The content is not an acceptable graph.
    Graph(GraphError),
}

#[cfg(test)]
mod tests;
