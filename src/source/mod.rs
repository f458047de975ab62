//! Copy images from any transport (`docker://`, `oci:`, `oci-archive:`) into the staging
//! layout, verifying every manifest and blob against its digest while it streams.
//!
//! An index is kept whole unless the release asks for a subset of platforms; then a new index
//! listing only those platforms is written, and the source digest is recorded beside it.

mod archive;
mod origin;

use std::collections::BTreeSet;

use futures_util::{StreamExt as _, TryStreamExt as _};

use crate::oci::{self, Descriptor, Digest, Manifest, Platform, SourceRef};
use crate::policy::ImageSpec;
use crate::progress::Reporter;
use crate::registry::Registry;
use crate::store::Layout;

use origin::Origin;

/// Deepest nesting of indexes inside indexes that is followed.
const MAX_DEPTH: usize = 4;

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
    /// A manifest does not parse.
    #[error("image `{image}`: manifest {digest}")]
    Manifest {
        /// The image.
        image: String,
        /// The manifest.
        digest: Digest,
        /// The cause.
        #[source]
        source: oci::Error,
    },
    /// None of the requested platforms is in the index.
    #[error("image `{image}`: none of the platforms {wanted} is in the index (it has: {available})")]
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
    /// Platform manifests of an index.
    pub platforms: Vec<(Platform, Digest)>,
    /// Every manifest and blob of the image now in the layout.
    pub blobs: Vec<Descriptor>,
}

/// Pull one image into `layout`. `registry` is needed for `docker://` sources.
pub async fn pull(spec: &ImageSpec, registry: &Registry, layout: &Layout, reporter: &dyn Reporter) -> Result<PulledImage, Error> {
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
    let root_manifest = parse(&image, &source_digest, &root_bytes, &root_media_type)?;

    let mut blobs = Vec::new();
    let mut platforms = Vec::new();
    let (root_bytes, children) = match &root_manifest {
        Manifest::Index { manifests } => {
            let selected = select_platforms(&image, manifests, &spec.platforms)?;
            platforms = selected
                .iter()
                .filter_map(|d| d.platform.clone().map(|p| (p, d.digest.clone())))
                .collect();
            let bytes = if selected.len() == manifests.len() {
                root_bytes
            } else {
                subset_index(&root_bytes, &selected, &image, &source_digest)?
            };
            (bytes, selected)
        }
        Manifest::Image { .. } => (root_bytes, Vec::new()),
    };
    let root = Descriptor {
        media_type: root_media_type.clone(),
        digest: layout.write_blob(&root_bytes).map_err(store_err)?,
        size: root_bytes.len() as u64,
        platform: None,
        artifact_type: None,
        annotations: Default::default(),
    };
    blobs.push(root.clone());

    // Walk the manifest graph; collect config and layer blobs.
    let mut leaves = Vec::new();
    let mut queue: Vec<(Descriptor, usize)> = children.into_iter().map(|d| (d, 1)).collect();
    if let Manifest::Image { .. } = root_manifest {
        leaves.extend(root_manifest.children().into_iter().cloned());
    }
    while let Some((desc, depth)) = queue.pop() {
        if depth > MAX_DEPTH {
            return Err(Error::NotFound {
                image,
                reason: format!("indexes nested deeper than {MAX_DEPTH}"),
            });
        }
        let bytes = origin.manifest(&desc).await?;
        layout.write_blob(&bytes).map_err(store_err)?;
        let m = parse(&image, &desc.digest, &bytes, &desc.media_type)?;
        match &m {
            Manifest::Index { manifests } => queue.extend(manifests.iter().map(|d| (d.clone(), depth + 1))),
            Manifest::Image { .. } => leaves.extend(m.children().into_iter().cloned()),
        }
        blobs.push(strip(desc));
    }
    let mut seen = BTreeSet::new();
    leaves.retain(|d| seen.insert(d.digest.clone()));
    let missing: Vec<Descriptor> = leaves.iter().filter(|d| !layout.has_blob(&d.digest, d.size)).cloned().collect();
    for d in leaves.iter().filter(|d| layout.has_blob(&d.digest, d.size)) {
        reporter.note(&format!("{image}: {} already staged", d.digest.short()));
    }
    futures_util::stream::iter(missing.into_iter().map(|d| {
        let origin = &origin;
        async move { origin.blob(&d, layout, reporter).await }
    }))
    .buffer_unordered(registry.jobs())
    .try_collect::<Vec<()>>()
    .await?;
    blobs.extend(leaves.into_iter().map(strip));

    if !spec.platforms.is_empty() && !matches!(root_manifest, Manifest::Index { .. }) {
        check_single_platform(&image, &root_manifest, layout, &spec.platforms)?;
    }
    Ok(PulledImage {
        source: image,
        repository,
        tag,
        source_digest: (source_digest != root.digest).then_some(source_digest),
        root,
        platforms,
        blobs,
    })
}

fn strip(d: Descriptor) -> Descriptor {
    Descriptor {
        platform: None,
        annotations: Default::default(),
        artifact_type: None,
        ..d
    }
}

fn parse(image: &str, digest: &Digest, bytes: &[u8], media_type: &str) -> Result<Manifest, Error> {
    Manifest::parse(bytes, media_type).map_err(|source| Error::Manifest {
        image: image.to_owned(),
        digest: digest.clone(),
        source,
    })
}

fn select_platforms(image: &str, manifests: &[Descriptor], wanted: &[Platform]) -> Result<Vec<Descriptor>, Error> {
    if wanted.is_empty() {
        return Ok(manifests.to_vec());
    }
    let selected: Vec<Descriptor> = manifests
        .iter()
        .filter(|d| d.platform.as_ref().is_some_and(|p| wanted.iter().any(|w| w.matches(p))))
        .cloned()
        .collect();
    if selected.is_empty() {
        let list = |ps: Vec<String>| ps.join(", ");
        return Err(Error::NoMatchingPlatform {
            image: image.to_owned(),
            wanted: list(wanted.iter().map(ToString::to_string).collect()),
            available: list(
                manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
                    .collect(),
            ),
        });
    }
    Ok(selected)
}

/// A copy of the index listing only `selected`, with every other field kept as it was.
fn subset_index(bytes: &[u8], selected: &[Descriptor], image: &str, digest: &Digest) -> Result<Vec<u8>, Error> {
    let bad = |e: serde_json::Error| Error::Manifest {
        image: image.to_owned(),
        digest: digest.clone(),
        source: oci::Error::InvalidManifest(e.to_string()),
    };
    let mut doc: serde_json::Value = serde_json::from_slice(bytes).map_err(bad)?;
    let keep: BTreeSet<&Digest> = selected.iter().map(|d| &d.digest).collect();
    if let Some(list) = doc.get_mut("manifests").and_then(|m| m.as_array_mut()) {
        list.retain(|entry| {
            entry
                .get("digest")
                .and_then(|d| d.as_str())
                .and_then(|d| d.parse::<Digest>().ok())
                .is_some_and(|d| keep.contains(&d))
        });
    }
    serde_json::to_vec(&doc).map_err(bad)
}

/// A single-platform image with a platform request: its config must say that platform.
fn check_single_platform(image: &str, manifest: &Manifest, layout: &Layout, wanted: &[Platform]) -> Result<(), Error> {
    let Manifest::Image { config, .. } = manifest else { return Ok(()) };
    let bytes = layout.read_manifest(config).map_err(|source| Error::Store {
        image: image.to_owned(),
        source,
    })?;
    let Some(offered) = Platform::from_config(&bytes) else {
        return Ok(());
    };
    if wanted.iter().any(|w| w.matches(&offered)) {
        Ok(())
    } else {
        Err(Error::NoMatchingPlatform {
            image: image.to_owned(),
            wanted: wanted.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            available: offered.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::media_type;

    #[test]
    fn subset_index_keeps_other_fields_and_order() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{a}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},{{"mediaType":"{}","digest":"{b}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}}],"annotations":{{"k":"v"}}}}"#,
            media_type::OCI_INDEX,
            media_type::OCI_MANIFEST,
            media_type::OCI_MANIFEST
        );
        let Manifest::Index { manifests } = Manifest::parse(doc.as_bytes(), media_type::OCI_INDEX).unwrap() else {
            panic!()
        };
        let wanted = vec!["linux/arm64".parse().unwrap()];
        let selected = select_platforms("x", &manifests, &wanted).unwrap();
        let out = subset_index(doc.as_bytes(), &selected, "x", &a).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(v["manifests"][0]["digest"], b.to_string());
        assert_eq!(v["annotations"]["k"], "v");
        let none = select_platforms("x", &manifests, &["linux/s390x".parse().unwrap()]).unwrap_err();
        assert!(none.to_string().contains("linux/amd64, linux/arm64"), "{none}");
    }
}
