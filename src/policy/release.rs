//! The release description, `sealift.yaml`:
//!
//! ```yaml
//! name: shop-2026-11
//! images:
//!   - docker.io/library/nginx:1.27
//!   - ref: registry.example.com/team/api@sha256:...
//!     platforms: [linux/amd64, linux/arm64]
//!   - ref: oci:./build/layout:v1
//!     name: team/tool:v1        # required for oci: and oci-archive: sources
//! manifests:
//!   - deploy/
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::Error;
use crate::oci::{Platform, SourceRef, parse_repository_tag};

/// A parsed, validated `sealift.yaml`.
#[derive(Debug, Clone)]
pub struct Release {
    /// Bundle name shown by `inspect`.
    pub name: String,
    /// Images to carry.
    pub images: Vec<ImageSpec>,
    /// Manifest files or directories, resolved against the file's directory.
    pub manifests: Vec<PathBuf>,
}

/// One image to carry.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Where to read it from.
    pub source: SourceRef,
    /// Platforms to keep from an index; empty means all of them.
    pub platforms: Vec<Platform>,
    /// Repository path and tag to load it as, for non-registry sources.
    pub name: Option<(String, Option<String>)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelease {
    name: String,
    images: Vec<ImageSpec>,
    #[serde(default)]
    manifests: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    platforms: Vec<String>,
    #[serde(default)]
    name: Option<String>,
}

impl ImageSpec {
    fn build<E: de::Error>(reference: &str, platforms: &[String], name: Option<&str>) -> Result<Self, E> {
        let source: SourceRef = reference.parse().map_err(E::custom)?;
        let platforms = platforms
            .iter()
            .map(|p| p.parse::<Platform>().map_err(E::custom))
            .collect::<Result<Vec<_>, E>>()?;
        let name = name.map(|n| parse_repository_tag(n).map_err(E::custom)).transpose()?;
        if name.is_none() && !matches!(source, SourceRef::Docker(_)) {
            return Err(E::custom(format!(
                "image `{reference}`: `name:` is required for oci: and oci-archive: sources (the repository to load it as)"
            )));
        }
        Ok(Self { source, platforms, name })
    }
}

impl<'de> Deserialize<'de> for ImageSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ImageSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an image reference, or a map with `ref`, `platforms`, `name`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ImageSpec, E> {
                ImageSpec::build(v, &[], None)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ImageSpec, A::Error> {
                let raw = RawImage::deserialize(de::value::MapAccessDeserializer::new(map))?;
                ImageSpec::build(&raw.reference, &raw.platforms, raw.name.as_deref())
            }
        }
        d.deserialize_any(V)
    }
}

impl Release {
    /// Read and validate a release description.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, base).map_err(|message| Error::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parse YAML text; relative manifest paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        let raw: RawRelease = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        if raw.name.trim().is_empty() {
            return Err("`name` must not be empty".into());
        }
        if raw.images.is_empty() {
            return Err("`images` must list at least one image".into());
        }
        Ok(Self {
            name: raw.name,
            images: raw.images,
            manifests: raw.manifests.into_iter().map(|p| base.join(p)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_image_forms() {
        let r = Release::parse(
            "name: shop\nimages:\n  - nginx:1.27\n  - ref: ghcr.io/a/b:1\n    platforms: [linux/amd64, linux/arm/v7]\nmanifests: [deploy/]\n",
            Path::new("/rel"),
        )
        .unwrap();
        assert_eq!(r.images.len(), 2);
        assert_eq!(r.images[1].platforms.len(), 2);
        assert_eq!(r.manifests, vec![PathBuf::from("/rel/deploy/")]);
    }

    #[test]
    fn unknown_keys_are_errors_with_position() {
        let err = Release::parse("name: x\nimages:\n  - ref: nginx\n    platfroms: [linux/amd64]\n", Path::new(".")).unwrap_err();
        assert!(err.contains("platfroms") && err.contains("line 4"), "{err}");
        let err = Release::parse("name: x\nimagez: []\n", Path::new(".")).unwrap_err();
        assert!(err.contains("imagez") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn bad_references_and_missing_names_are_errors() {
        let err = Release::parse("name: x\nimages:\n  - Nginx:1\n", Path::new(".")).unwrap_err();
        assert!(err.contains("Nginx") && err.contains("line 3"), "{err}");
        let err = Release::parse("name: x\nimages:\n  - oci:./layout\n", Path::new(".")).unwrap_err();
        assert!(err.contains("`name:` is required"), "{err}");
        let err = Release::parse("name: x\nimages:\n  - ref: nginx\n    platforms: [linux]\n", Path::new(".")).unwrap_err();
        assert!(err.contains("os/architecture"), "{err}");
    }
}
