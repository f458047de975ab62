//! Step 5: the OCI layout inside a bundle is whole and agrees with the signed image list.

use std::collections::{BTreeMap, BTreeSet};

use super::{Failure, FailureCode, VerifiedEntry};
use crate::bundle::BundleIndex;
use crate::oci::{Descriptor, Digest, Manifest, media_type};
use crate::store::{LayoutIndex, OCI_LAYOUT_CONTENT, REF_NAME_ANNOTATION};

/// Check the layout; returns the parsed `index.json` (empty if it is unusable, in which case a
/// failure has been recorded). `reached` gets, for every descriptor the walk reaches, the
/// image (`index.json` reference name) it was first reached from, for [`missing_blob`].
pub(super) fn check(
    index: &BundleIndex,
    verified: &BTreeMap<String, VerifiedEntry>,
    manifests: &BTreeMap<Digest, Vec<u8>>,
    layout_index: &Option<Vec<u8>>,
    reached: &mut BTreeMap<Digest, (String, Descriptor)>,
    failures: &mut Vec<Failure>,
) -> LayoutIndex {
    let layout_fail =
        |failures: &mut Vec<Failure>, subject: &str, msg: String| failures.push(Failure::new(FailureCode::LayoutInvalid, subject, msg));
    match verified.get("oci-layout") {
        None => layout_fail(failures, "oci-layout", "the bundle has no verified `oci-layout` file".into()),
        Some(e) if e.digest != Digest::of(OCI_LAYOUT_CONTENT) => {
            layout_fail(
                failures,
                "oci-layout",
                format!("expected {}", String::from_utf8_lossy(OCI_LAYOUT_CONTENT)),
            );
        }
        Some(_) => {}
    }
    let Some(bytes) = layout_index else {
        layout_fail(failures, "index.json", "the bundle has no verified `index.json`".into());
        return LayoutIndex::default();
    };
    let parsed: LayoutIndex = match serde_json::from_slice(bytes) {
        Ok(p) => p,
        Err(e) => {
            layout_fail(failures, "index.json", format!("does not parse: {e}"));
            return LayoutIndex::default();
        }
    };

    // Walk every descriptor reachable from index.json.
    let mut visited = BTreeSet::new();
    let mut stack: Vec<(Descriptor, String)> = parsed
        .manifests
        .iter()
        .map(|d| {
            (
                d.clone(),
                d.annotations
                    .get(REF_NAME_ANNOTATION)
                    .cloned()
                    .unwrap_or_else(|| d.digest.to_string()),
            )
        })
        .collect();
    while let Some((desc, owner)) = stack.pop() {
        if !visited.insert(desc.digest.clone()) {
            continue;
        }
        reached.insert(desc.digest.clone(), (owner.clone(), desc.clone()));
        let path = desc.digest.layout_path();
        let Some(entry) = verified.get(&path) else {
            failures.push(missing_blob(&owner, &desc));
            continue;
        };
        if entry.size != desc.size {
            layout_fail(
                failures,
                &owner,
                format!(
                    "descriptor for {} says {} bytes, the blob has {}",
                    desc.digest, desc.size, entry.size
                ),
            );
            continue;
        }
        if !media_type::is_manifest(&desc.media_type) {
            continue;
        }
        let Some(bytes) = manifests.get(&desc.digest) else {
            layout_fail(
                failures,
                &owner,
                format!(
                    "{} is a {} but bundle.json does not mark it as a manifest",
                    desc.digest, desc.media_type
                ),
            );
            continue;
        };
        match Manifest::parse(bytes, &desc.media_type) {
            Ok(m) => {
                stack.extend(m.children().into_iter().map(|c| (c.clone(), owner.clone())));
            }
            Err(e) => layout_fail(failures, &owner, format!("manifest {}: {e}", desc.digest)),
        }
    }

    // The signed image list must match what the layout actually holds.
    for image in &index.images {
        let name = image.display_name();
        let top = parsed.manifests.iter().find(|d| d.digest == image.digest);
        match top {
            None => layout_fail(failures, &name, format!("{} is not in index.json", image.digest)),
            Some(d) if d.size != image.size || d.media_type != image.media_type => layout_fail(
                failures,
                &name,
                format!(
                    "index.json describes {} as {} bytes of {}, bundle.json as {} bytes of {}",
                    image.digest, d.size, d.media_type, image.size, image.media_type
                ),
            ),
            Some(_) => {}
        }
        // Its platforms and artifacts are compared with the layout's graph by graph_check.
    }
    parsed
}

/// `owner` (an image) needs `desc`, which is not a verified entry: what verification reports
/// for a blob that is missing or whose bytes did not match, now or when hashed later.
pub(super) fn missing_blob(owner: &str, desc: &Descriptor) -> Failure {
    Failure::new(
        FailureCode::MissingBlob,
        owner,
        format!(
            "needs {} ({}, {} bytes), which is not a verified entry of the bundle",
            desc.digest, desc.media_type, desc.size
        ),
    )
}
