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
//! 1.1 artifact guidance; buildx attestation storage), in this order:
//! - a container config (OCI or Docker) with a tar layer, or with no layers: **runnable**,
//!   whatever `artifactType`, annotations or other layers claim, since a runtime selecting by
//!   platform would run it. It gets the platform its index entry gives, else the one its
//!   config states; every layer must be a tar media type and it must have a platform, or the
//!   walk fails, naming it;
//! - named by an entry annotated `vnd.docker.reference.type: attestation-manifest` that no
//!   platform selects, or with an in-toto or DSSE layer (or artifact type): **attestation**;
//! - a cosign simple-signing layer or a Sigstore bundle artifact type: **signature**;
//! - an SPDX, CycloneDX or syft layer: **SBOM**;
//! - any other container config: **runnable** (so its non-tar layers are refused);
//! - otherwise an SBOM (by artifact type) or an **artifact**; but one with a tar layer and a
//!   config that is not the empty descriptor has its config read, and if that holds a
//!   container config (`architecture`, `os`, `rootfs`) under another media type, it is
//!   runnable after all: runtimes do not check the config's media type.
//!
//! What a manifest is must not depend on which index entry reaches it first: entries that
//! disagree (two platforms, an attestation entry and a platform entry) fail the walk.

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

impl ManifestKind {
    /// Why a manifest of this kind is not scanned: `not scanned: attestation`.
    #[must_use]
    pub fn not_scanned_reason(self) -> String {
        format!("not scanned: {self}")
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
    /// Two index entries say different things of one manifest.
    #[error("manifest {digest} is named as {first} and as {other} by different index entries")]
    Conflict {
        /// The manifest.
        digest: Digest,
        /// What the first entry made it.
        first: String,
        /// What another entry says.
        other: String,
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

    /// Check that every manifest this graph shares with `other` is the same kind (and, for a
    /// runnable image, the same platform) in both: two images of one release must not see one
    /// manifest as two things.
    pub fn agrees_with(&self, other: &Graph) -> Result<(), GraphError> {
        for (digest, mine) in &self.nodes {
            if let Some(theirs) = other.nodes.get(digest)
                && (mine.kind != theirs.kind || mine.platform != theirs.platform)
            {
                return Err(GraphError::Conflict {
                    digest: digest.clone(),
                    first: describe(theirs),
                    other: describe(mine),
                });
            }
        }
        Ok(())
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

/// Builds a [`Graph`] as the caller feeds it documents.
///
/// ```text
/// let mut w = Walker::new(roots);
/// while let Some(need) = w.next_need() { let bytes = fetch(need.descriptor())?; w.provide(&need, &bytes)?; }
/// let graph = w.finish()?;
/// ```
pub struct Walker {
    /// Manifests to fetch, in breadth-first order, each once.
    queue: VecDeque<Digest>,
    /// The entry each queued manifest was first named by, and its depth.
    pending: BTreeMap<Digest, (Descriptor, usize)>,
    /// Every index entry that named each manifest (they must agree on what it is).
    entries: BTreeMap<Digest, Vec<Descriptor>>,
    entry_count: usize,
    configs: VecDeque<Need>,
    /// Manifests with tar layers whose config media type is not a container config's: their
    /// config is read, and if it is a container config after all they are runnable (a
    /// runtime does not check the media type). The value is the platform their entry gives.
    suspects: BTreeMap<Digest, Option<Platform>>,
    graph: Graph,
}

/// Most index entries one walk follows, duplicates included.
const MAX_ENTRIES: usize = 100_000;

impl Walker {
    /// Start from `roots` (descriptors as `index.json` or a registry gives them).
    #[must_use]
    pub fn new(roots: impl IntoIterator<Item = Descriptor>) -> Self {
        let mut walker = Self {
            queue: VecDeque::new(),
            pending: BTreeMap::new(),
            entries: BTreeMap::new(),
            entry_count: 0,
            configs: VecDeque::new(),
            suspects: BTreeMap::new(),
            graph: Graph::default(),
        };
        for d in roots {
            if !walker.graph.roots.contains(&d.digest) {
                walker.graph.roots.push(d.digest.clone());
                walker.enqueue(d, 0);
            }
        }
        walker
    }

    fn enqueue(&mut self, d: Descriptor, depth: usize) {
        if !self.pending.contains_key(&d.digest) && !self.graph.nodes.contains_key(&d.digest) {
            self.queue.push_back(d.digest.clone());
            self.pending.insert(d.digest.clone(), (d, depth));
        }
    }

    /// The next document to fetch, or `None` when the walk is complete.
    pub fn next_need(&mut self) -> Option<Need> {
        if let Some((d, _)) = self.queue.front().and_then(|d| self.pending.get(d)) {
            return Some(Need::Manifest(d.clone()));
        }
        self.configs.front().cloned()
    }

    /// Feed the bytes of what [`Walker::next_need`] asked for. The caller has checked them against
    /// the descriptor's digest and size.
    pub fn provide(&mut self, need: &Need, bytes: &[u8]) -> Result<(), GraphError> {
        match need {
            Need::Manifest(d) => {
                let Some((named, depth)) = self.pending.remove(&d.digest) else {
                    return Ok(());
                };
                self.queue.retain(|q| *q != d.digest);
                self.add_manifest(named, depth, bytes)
            }
            Need::Config { manifest, config } => {
                self.configs.retain(|c| c != need);
                let platform = Platform::from_config(bytes).filter(known);
                let node = self.graph.nodes.get_mut(manifest).ok_or_else(|| GraphError::Invalid {
                    digest: manifest.clone(),
                    reason: format!("config {} provided for a manifest the walk has not seen", config.digest),
                })?;
                if let Some(entry_platform) = self.suspects.remove(manifest) {
                    if !is_container_config(bytes) {
                        return Ok(());
                    }
                    node.kind = ManifestKind::Image;
                    node.artifact_type = None;
                    node.platform = entry_platform.or(platform);
                    check_layers(node)?;
                    if node.platform.is_none() {
                        return Err(GraphError::NoPlatform { digest: manifest.clone() });
                    }
                    return Ok(());
                }
                if platform.is_none() {
                    return Err(GraphError::NoPlatform { digest: manifest.clone() });
                }
                node.platform = platform;
                Ok(())
            }
        }
    }

    /// The finished graph; `None` from [`Walker::next_need`] must have been seen. A manifest
    /// that two index entries name differently (two platforms, or an attestation entry and a
    /// platform entry) is refused: what it is must not depend on which entry is read first.
    pub fn finish(self) -> Result<Graph, GraphError> {
        if let Some(d) = self.queue.front().or_else(|| self.configs.front().map(|c| &c.descriptor().digest)) {
            return Err(GraphError::Invalid {
                digest: d.clone(),
                reason: "was never provided".into(),
            });
        }
        for (digest, named) in &self.entries {
            let Some(node) = self.graph.nodes.get(digest) else { continue };
            for entry in named {
                let platform = entry.platform.as_ref().filter(|p| known(p));
                let disagrees = match (node.kind, platform) {
                    (ManifestKind::Image, Some(p)) => node.platform.as_ref().is_none_or(|mine| !(mine.matches(p) || p.matches(mine))),
                    // An attestation only by its entry's annotation, that another entry offers
                    // as a platform a runtime would select.
                    (ManifestKind::Attestation, Some(_)) => !node.blobs.iter().skip(1).any(|l| is_in_toto(&l.media_type)),
                    _ => false,
                };
                if disagrees {
                    return Err(GraphError::Conflict {
                        digest: digest.clone(),
                        first: describe(node),
                        other: platform.map_or_else(|| "no platform".to_owned(), ToString::to_string),
                    });
                }
            }
        }
        if let Some(n) = self
            .graph
            .nodes
            .values()
            .find(|n| n.kind == ManifestKind::Image && n.platform.is_none())
        {
            return Err(GraphError::NoPlatform {
                digest: n.descriptor.digest.clone(),
            });
        }
        Ok(self.graph)
    }

    fn add_manifest(&mut self, named: Descriptor, depth: usize, bytes: &[u8]) -> Result<(), GraphError> {
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
        let descriptor = named.plain();
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
                    self.entry_count += 1;
                    if self.entry_count > MAX_ENTRIES {
                        return Err(GraphError::TooMany);
                    }
                    if !listed.contains(&child.digest) {
                        listed.push(child.digest.clone());
                    }
                    self.entries.entry(child.digest.clone()).or_default().push(child.clone());
                    self.enqueue(child, depth + 1);
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
                    check_layers(&node)?;
                    if node.platform.is_none() {
                        self.configs.push_back(Need::Config {
                            manifest: digest.clone(),
                            config,
                        });
                    }
                } else if matches!(kind, ManifestKind::Artifact | ManifestKind::Sbom)
                    && config.media_type != media_type::OCI_EMPTY
                    && layers.iter().any(|l| media_type::is_tar_layer(&l.media_type))
                {
                    self.suspects.insert(digest.clone(), named.platform.clone().filter(known));
                    self.configs.push_back(Need::Config {
                        manifest: digest.clone(),
                        config,
                    });
                }
                node
            }
        };
        self.graph.nodes.insert(digest, node);
        Ok(())
    }
}

/// Every layer of a runnable image must be a tar layer.
fn check_layers(node: &Node) -> Result<(), GraphError> {
    match node.blobs.iter().skip(1).find(|l| !media_type::is_tar_layer(&l.media_type)) {
        Some(bad) => Err(GraphError::UnknownLayer {
            digest: node.descriptor.digest.clone(),
            platform: node.platform.as_ref().map(|p| format!(" ({p})")).unwrap_or_default(),
            layer: bad.digest.clone(),
            media_type: bad.media_type.clone(),
        }),
        None => Ok(()),
    }
}

/// Does a config document have what the OCI image config spec requires of a container
/// config (`architecture`, `os`, `rootfs`), whatever media type it was labelled with?
fn is_container_config(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| {
        v.get("architecture").is_some_and(serde_json::Value::is_string)
            && v.get("os").is_some_and(serde_json::Value::is_string)
            && v.get("rootfs").is_some_and(serde_json::Value::is_object)
    })
}

fn describe(node: &Node) -> String {
    match (&node.kind, &node.platform) {
        (ManifestKind::Image, Some(p)) => format!("image for {p}"),
        (kind, _) => kind.to_string(),
    }
}

fn is_in_toto(media_type: &str) -> bool {
    media_type == media_type::IN_TOTO || media_type == media_type::DSSE_ENVELOPE
}

/// `unknown/unknown` (buildx's attestation entries) is no platform.
fn known(p: &Platform) -> bool {
    p.os != "unknown" && p.architecture != "unknown" && !p.os.is_empty() && !p.architecture.is_empty()
}

fn classify(named: &Descriptor, config: &Descriptor, layers: &[Descriptor], declared: Option<String>) -> (ManifestKind, Option<String>) {
    let any_layer = |f: &dyn Fn(&str) -> bool| layers.iter().any(|l| f(&l.media_type));
    let container = media_type::is_container_config(&config.media_type);
    let artifact_type = declared.or_else(|| (!container && config.media_type != media_type::OCI_EMPTY).then(|| config.media_type.clone()));
    let typed = artifact_type.as_deref().unwrap_or_default();
    let sbom = |t: &str| {
        let t = t.to_ascii_lowercase();
        t.contains("spdx") || t.contains("cyclonedx") || t.contains("syft")
    };
    let in_toto = is_in_toto;
    let tar = any_layer(&media_type::is_tar_layer);
    let unselectable = named.platform.as_ref().is_none_or(|p| !known(p));
    let annotated_attestation =
        named.annotations.get(media_type::DOCKER_REFERENCE_TYPE).map(String::as_str) == Some(media_type::ATTESTATION_MANIFEST);
    // A container config with a tar layer (or none) is something a runtime runs, whatever
    // `artifactType` or other layers claim: runnable (and any non-tar layer is then refused).
    // Otherwise the layers say what it is.
    let kind = if container && (tar || layers.is_empty()) && !(annotated_attestation && unselectable && !tar) {
        ManifestKind::Image
    } else if (container && annotated_attestation && unselectable) || any_layer(&in_toto) || in_toto(typed) {
        ManifestKind::Attestation
    } else if any_layer(&|m| m == media_type::COSIGN_SIMPLE_SIGNING) || typed.starts_with(media_type::SIGSTORE_BUNDLE_PREFIX) {
        ManifestKind::Signature
    } else if any_layer(&sbom) {
        ManifestKind::Sbom
    } else if container {
        ManifestKind::Image
    } else if sbom(typed) {
        ManifestKind::Sbom
    } else {
        ManifestKind::Artifact
    };
    (kind, if kind == ManifestKind::Image { None } else { artifact_type })
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
