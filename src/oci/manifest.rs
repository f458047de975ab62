//! Just enough of image manifests and indexes to walk the graph of descriptors.
//!
//! The raw bytes stay the source of truth everywhere (their digest is the image's identity);
//! these types are a read-only view used to find children.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Digest, Error, Platform, media_type};

/// The largest manifest sealift will read: the limit the OCI distribution spec recommends
/// registries enforce.
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

/// A content descriptor: media type, digest and size of a blob or manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes of the referenced content.
    pub size: u64,
    /// Platform, on index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type, on referrer entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Where else the content can be fetched (non-distributable layers; OCI image spec
    /// `descriptor.md`, `urls`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl Descriptor {
    /// A plain descriptor: media type, digest and size, nothing else.
    #[must_use]
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest,
            size,
            platform: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        }
    }

    /// The same content without the fields an index entry adds (platform, artifact type,
    /// annotations, URLs).
    #[must_use]
    pub fn plain(&self) -> Self {
        Self::new(&self.media_type, self.digest.clone(), self.size)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<u32>,
    media_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    artifact_type: Option<String>,
}

/// A parsed manifest or index.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // parsed one at a time and dropped, never held in bulk
pub enum Manifest {
    /// An image manifest: config plus layers.
    Image {
        /// The config blob.
        config: Descriptor,
        /// Layers, base first.
        layers: Vec<Descriptor>,
        /// The manifest this one refers to (signatures, SBOMs), if any.
        subject: Option<Box<Descriptor>>,
        /// The artifact type an OCI 1.1 artifact manifest declares, if any.
        artifact_type: Option<String>,
    },
    /// An index: a list of manifests, usually one per platform.
    Index {
        /// Child manifests.
        manifests: Vec<Descriptor>,
    },
}

impl Manifest {
    /// Parse manifest bytes. `declared` is the media type the descriptor or the registry gave;
    /// when the document carries its own `mediaType` the two must agree.
    pub fn parse(bytes: &[u8], declared: &str) -> Result<Self, Error> {
        let raw: RawManifest = serde_json::from_slice(bytes).map_err(|e| Error::InvalidManifest(e.to_string()))?;
        if raw.schema_version != Some(2) {
            return Err(Error::InvalidManifest(format!(
                "schemaVersion {:?} is not supported (only 2)",
                raw.schema_version
            )));
        }
        let kind = match raw.media_type.as_deref() {
            Some(own) if media_type::is_manifest(declared) && own != declared => {
                return Err(Error::InvalidManifest(format!(
                    "document says mediaType `{own}` but was served as `{declared}`"
                )));
            }
            Some(own) => own.to_owned(),
            None => declared.to_owned(),
        };
        if media_type::is_index(&kind) || (!media_type::is_manifest(&kind) && raw.manifests.is_some()) {
            let manifests = raw
                .manifests
                .ok_or_else(|| Error::InvalidManifest("index without `manifests`".into()))?;
            Ok(Self::Index { manifests })
        } else {
            let config = raw
                .config
                .ok_or_else(|| Error::InvalidManifest("image manifest without `config`".into()))?;
            Ok(Self::Image {
                config,
                layers: raw.layers.unwrap_or_default(),
                subject: raw.subject.map(Box::new),
                artifact_type: raw.artifact_type,
            })
        }
    }

    /// Every descriptor this document points at (subject excluded: a referrer does not own it).
    #[must_use]
    pub fn children(&self) -> Vec<&Descriptor> {
        match self {
            Self::Image { config, layers, .. } => std::iter::once(config).chain(layers).collect(),
            Self::Index { manifests } => manifests.iter().collect(),
        }
    }
}

/// Media type of manifest bytes: the document's own `mediaType`, else a guess from its shape.
#[must_use]
pub fn sniff_media_type(bytes: &[u8]) -> Option<String> {
    let raw: RawManifest = serde_json::from_slice(bytes).ok()?;
    raw.media_type.or_else(|| {
        if raw.manifests.is_some() {
            Some(media_type::OCI_INDEX.to_owned())
        } else if raw.config.is_some() {
            Some(media_type::OCI_MANIFEST.to_owned())
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatched_media_type_is_rejected() {
        let doc = format!(r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[]}}"#, media_type::OCI_INDEX);
        assert!(Manifest::parse(doc.as_bytes(), media_type::OCI_INDEX).is_ok());
        let err = Manifest::parse(doc.as_bytes(), media_type::OCI_MANIFEST).unwrap_err();
        assert!(err.to_string().contains("served as"), "{err}");
    }

    #[test]
    fn schema1_is_rejected() {
        let err = Manifest::parse(br#"{"schemaVersion":1}"#, media_type::DOCKER_MANIFEST).unwrap_err();
        assert!(err.to_string().contains("schemaVersion"), "{err}");
    }
}
