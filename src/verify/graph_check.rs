//! Step 5, second half: what `bundle.json` says each image holds is what the layout holds.
//!
//! The graph of every manifest reachable from the layout's `index.json` is derived again from
//! the manifests step 4 verified, with the same classification `bundle create` used
//! ([`crate::oci::graph`]). For every image, the runnable manifests and artifacts under its root
//! must equal its `platforms` and `artifacts` in `bundle.json`; and a runnable manifest that
//! no image lists is a failure, so a signed index that leaves one out is rejected rather than
//! carried unsigned and unscanned.

use std::collections::BTreeSet;

use super::bundle_blobs::BundleBlobs;
use super::{Failure, FailureCode};
use crate::bundle::{BundleIndex, graph_records};
use crate::oci::graph::{self, Need, WalkError};
use crate::oci::manifest::MAX_MANIFEST_SIZE;
use crate::oci::{Digest, Graph};
use crate::store::LayoutIndex;

/// Derive the layout's graph and compare it with `bundle.json`; the graph when it could be
/// built.
pub(super) fn check(index: &BundleIndex, layout: &LayoutIndex, blobs: &BundleBlobs<'_>, failures: &mut Vec<Failure>) -> Option<Graph> {
    let fetch = |need: &Need| -> Result<Vec<u8>, String> {
        let d = need.descriptor();
        match need {
            Need::Manifest(_) => blobs
                .manifests
                .get(&d.digest)
                .cloned()
                .ok_or_else(|| format!("manifest {} is not a verified manifest of the bundle", d.digest)),
            Need::Config { .. } if d.size > MAX_MANIFEST_SIZE => Err(format!("config {} is {} bytes, over the limit", d.digest, d.size)),
            Need::Config { .. } => blobs.read(d),
        }
    };
    let graph = match graph::walk(layout.manifests.iter().cloned(), fetch) {
        Ok(g) => g,
        Err(e) => {
            let message = match e {
                WalkError::Fetch(m) => m,
                WalkError::Graph(g) => g.to_string(),
            };
            failures.push(Failure::new(FailureCode::LayoutInvalid, "index.json", message));
            return None;
        }
    };
    let mut listed: BTreeSet<&Digest> = BTreeSet::new();
    for image in &index.images {
        let name = image.display_name();
        listed.extend(image.runnable());
        if !graph.nodes.contains_key(&image.digest) {
            continue; // step 5's first half has said it is not in index.json
        }
        let (platforms, artifacts) = graph_records(&graph, &image.digest);
        let mut said = image.platforms.clone();
        said.sort_by(|a, b| (&a.platform, &a.digest).cmp(&(&b.platform, &b.digest)));
        let mut said_artifacts = image.artifacts.clone();
        said_artifacts.sort();
        for p in platforms.iter().filter(|p| !said.contains(p)) {
            failures.push(Failure::new(
                FailureCode::ManifestNotListed,
                format!("{name} {}", p.digest.short()),
                format!(
                    "the layout holds runnable manifest {} ({}) under {}, but bundle.json does not list it as one of this image's platforms",
                    p.digest, p.platform, image.digest
                ),
            ));
        }
        for p in said.iter().filter(|p| !platforms.contains(p)) {
            failures.push(Failure::new(
                FailureCode::ManifestNotListed,
                format!("{name} {}", p.digest.short()),
                format!(
                    "bundle.json lists platform {} manifest {}, which is not a runnable manifest under {} in the layout",
                    p.platform, p.digest, image.digest
                ),
            ));
        }
        if artifacts != said_artifacts {
            let show =
                |a: &[crate::bundle::ArtifactRecord]| a.iter().map(|r| format!("{} {}", r.kind, r.digest)).collect::<Vec<_>>().join(", ");
            failures.push(Failure::new(
                FailureCode::ManifestNotListed,
                &name,
                format!(
                    "the layout holds [{}] besides runnable images; bundle.json lists [{}]",
                    show(&artifacts),
                    show(&said_artifacts)
                ),
            ));
        }
    }
    for node in graph.all_runnable() {
        if !listed.contains(&node.descriptor.digest) {
            failures.push(Failure::new(
                FailureCode::ManifestNotListed,
                node.descriptor.digest.to_string(),
                format!(
                    "runnable manifest{} is in the layout but no image in bundle.json lists it",
                    node.platform.as_ref().map(|p| format!(" ({p})")).unwrap_or_default()
                ),
            ));
        }
    }
    Some(graph)
}
