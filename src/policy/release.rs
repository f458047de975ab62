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
//!   - ref: ghcr.io/vendor/agent:2.1
//!     provenance:               # this image must already be signed by one of these keys
//!       keys: [keys/vendor.pub]
//! provenance:                   # the same, for every image without its own list
//!   keys: [keys/upstream.pub]
//! manifests:
//!   - deploy/
//! scan:                         # scan every image and platform into the bundle
//!   vuln-db: vulndb/            # from `sealift db build`; `bundle create --vuln-db` overrides
//!   max-db-age: 7               # days; an older database is refused
//!   fail-on: high               # findings this severe stop `bundle create` and `verify`
//!   allow:                      # ...unless allowed, with a reason, until a date
//!     - id: CVE-2023-4911
//!       reason: no setuid binaries in these images
//!       expires: 2027-01-31
//! harden:                       # see policy::hardening
//!   namespace: shop
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::Error;
use super::hardening::HardenSettings;
use super::vulns::{Allowance, Severity, VulnPolicy};
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
    /// Public keys every image must already be signed with at its source, unless the image
    /// names its own (resolved against the file's directory).
    pub provenance: Vec<PathBuf>,
    /// Scanning settings; `None` when `sealift.yaml` has no `scan:`.
    pub scan: Option<ScanSettings>,
    /// Manifest hardening settings (defaults when `sealift.yaml` has no `harden:`).
    pub harden: HardenSettings,
}

/// `scan:` in `sealift.yaml`.
#[derive(Debug, Clone, Default)]
pub struct ScanSettings {
    /// The vulnerability database directory (resolved against the file's directory).
    pub vuln_db: Option<PathBuf>,
    /// Refuse a database whose newest record is older than this many days.
    pub max_db_age_days: Option<u32>,
    /// What blocks the bundle.
    pub policy: VulnPolicy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawScan {
    #[serde(default)]
    vuln_db: Option<PathBuf>,
    #[serde(default)]
    max_db_age: Option<u32>,
    #[serde(default)]
    fail_on: Option<Severity>,
    #[serde(default)]
    allow: Vec<Allowance>,
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
    /// This image's own upstream keys (relative to the release file until `Release::parse`
    /// resolves them).
    pub provenance: Option<Vec<PathBuf>>,
    /// Fetch non-distributable (foreign) layers the source does not serve from the HTTPS URLs
    /// their descriptors give, checked against digest and size (`include-foreign-layers`).
    pub include_foreign_layers: bool,
}

impl ImageSpec {
    /// The repository and tag `load` pushes it as (`None` for a non-registry source without
    /// `name:`, which `bundle create` refuses).
    #[must_use]
    pub fn target(&self) -> Option<(String, Option<String>)> {
        match (&self.name, &self.source) {
            (Some(n), _) => Some(n.clone()),
            (None, SourceRef::Docker(r)) => Some((r.repository.clone(), r.tag.clone())),
            (None, _) => None,
        }
    }

    fn same_as(&self, other: &Self) -> bool {
        self.source.to_string() == other.source.to_string()
            && self.platforms == other.platforms
            && self.name == other.name
            && self.provenance == other.provenance
    }
}

/// `provenance:` in `sealift.yaml`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct Provenance {
    keys: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelease {
    name: String,
    images: Vec<ImageSpec>,
    #[serde(default)]
    manifests: Vec<PathBuf>,
    #[serde(default)]
    provenance: Option<Provenance>,
    #[serde(default)]
    scan: Option<RawScan>,
    #[serde(default)]
    harden: HardenSettings,
    #[serde(default, rename = "include-foreign-layers")]
    include_foreign_layers: bool,
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
    #[serde(default)]
    provenance: Option<Provenance>,
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
        Ok(Self {
            source,
            platforms,
            name,
            provenance: None,
            include_foreign_layers: false,
        })
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
                let mut spec = ImageSpec::build(&raw.reference, &raw.platforms, raw.name.as_deref())?;
                if let Some(p) = raw.provenance {
                    if p.keys.is_empty() {
                        return Err(de::Error::custom("`provenance.keys` must list at least one public key"));
                    }
                    spec.provenance = Some(p.keys);
                }
                Ok(spec)
            }
        }
        d.deserialize_any(V)
    }
}

impl Release {
    /// Read and validate a release description.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = crate::bounded::read_to_string(path, crate::bounded::DOCUMENT_FILE).map_err(|source| Error::Io {
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
        let provenance: Vec<PathBuf> = raw.provenance.map(|p| p.keys).unwrap_or_default();
        let mut images: Vec<ImageSpec> = Vec::new();
        for mut image in raw.images {
            image.include_foreign_layers = raw.include_foreign_layers;
            if let Some(keys) = &mut image.provenance {
                *keys = keys.iter().map(|k| base.join(k)).collect();
            }
            // The same image listed twice is carried (and pushed) once.
            if images.iter().any(|k| k.same_as(&image)) {
                continue;
            }
            // Two different images that `load` would put under one tag: the registry would keep
            // whichever came last.
            if let Some((repo, Some(tag))) = image.target()
                && let Some(other) = images.iter().find(|k| k.target() == Some((repo.clone(), Some(tag.clone()))))
            {
                let differ = if other.source == image.source {
                    " (the same source with different `platforms:`, `name:` or `provenance:`)"
                } else {
                    ""
                };
                return Err(format!(
                    "images `{}` and `{}`{differ} would both be loaded as {repo}:{tag}; give one of them another `name:`",
                    other.source, image.source
                ));
            }
            images.push(image);
        }
        let scan = raw
            .scan
            .map(|s| {
                let policy = VulnPolicy {
                    fail_on: s.fail_on,
                    allow: s.allow,
                };
                policy.validate().map_err(|e| format!("scan.allow: {e}"))?;
                Ok::<_, String>(ScanSettings {
                    vuln_db: s.vuln_db.map(|p| base.join(p)),
                    max_db_age_days: s.max_db_age,
                    policy,
                })
            })
            .transpose()?;
        raw.harden.validate().map_err(|e| format!("harden: {e}"))?;
        Ok(Self {
            name: raw.name,
            images,
            manifests: raw.manifests.into_iter().map(|p| base.join(p)).collect(),
            provenance: provenance.into_iter().map(|p| base.join(p)).collect(),
            scan,
            harden: raw.harden,
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
        assert!(r.provenance.is_empty() && r.images[0].provenance.is_none());
    }

    #[test]
    fn provenance_keys_are_global_or_per_image_and_resolved() {
        let r = Release::parse(
            "name: s\nprovenance:\n  keys: [k/all.pub]\nimages:\n  - nginx:1\n  - ref: ghcr.io/a/b:1\n    provenance: {keys: [k/b.pub]}\n",
            Path::new("/rel"),
        )
        .unwrap();
        assert_eq!(r.provenance, vec![PathBuf::from("/rel/k/all.pub")]);
        assert_eq!(r.images[1].provenance, Some(vec![PathBuf::from("/rel/k/b.pub")]));
        let err = Release::parse("name: s\nimages:\n  - ref: nginx\n    provenance: {keys: []}\n", Path::new(".")).unwrap_err();
        assert!(err.contains("at least one"), "{err}");
        let err = Release::parse("name: s\nprovenance: {key: [a]}\nimages: [nginx]\n", Path::new(".")).unwrap_err();
        assert!(err.contains("unknown field `key`"), "{err}");
    }

    #[test]
    fn scan_policy_is_parsed_strictly() {
        let r = Release::parse(
            "name: s\nimages: [nginx]\nscan:\n  vuln-db: db/\n  max-db-age: 7\n  fail-on: high\n  allow:\n    - id: CVE-2023-4911\n      reason: no setuid\n      expires: 2027-01-31\n",
            Path::new("/rel"),
        )
        .unwrap();
        let scan = r.scan.unwrap();
        assert_eq!(scan.vuln_db, Some(PathBuf::from("/rel/db/")));
        assert_eq!(scan.max_db_age_days, Some(7));
        assert_eq!(scan.policy.fail_on.map(|s| s.as_str()), Some("high"));
        assert_eq!(scan.policy.allow[0].expires.to_string(), "2027-01-31");
        assert!(Release::parse("name: s\nimages: [nginx]\n", Path::new(".")).unwrap().scan.is_none());
    }

    #[test]
    fn one_tag_one_image() {
        // Listed twice: carried once.
        let r = Release::parse("name: s\nimages: [nginx:1, docker.io/library/nginx:1]\n", Path::new(".")).unwrap();
        assert_eq!(r.images.len(), 1);
        // Two sources that would land on one repository:tag: refused, naming both.
        let err = Release::parse("name: s\nimages:\n  - ghcr.io/library/nginx:1\n  - nginx:1\n", Path::new(".")).unwrap_err();
        assert!(
            err.contains("ghcr.io/library/nginx:1") && err.contains("library/nginx:1") && err.contains("both"),
            "{err}"
        );
        let err = Release::parse(
            "name: s\nimages:\n  - ref: oci:a:v1\n    name: team/tool:v1\n  - ref: oci:b:v1\n    name: team/tool:v1\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(err.contains("team/tool:v1"), "{err}");
        // The same repository under two tags, or by digest, is fine.
        assert_eq!(
            Release::parse("name: s\nimages: [nginx:1, nginx:2]\n", Path::new("."))
                .unwrap()
                .images
                .len(),
            2
        );
        for (yaml, expect) in [
            ("scan: {fail-on: severe}", "unknown severity `severe`"),
            ("scan: {failon: high}", "unknown field `failon`"),
            ("scan:\n  allow:\n    - {id: CVE-1, reason: r, expires: 2027-02-30}", "not a date"),
            ("scan:\n  allow:\n    - {id: CVE-1, expires: 2027-02-01}", "missing field `reason`"),
            (
                "scan:\n  allow:\n    - {id: CVE-1, reason: '', expires: 2027-02-01}",
                "needs a `reason`",
            ),
        ] {
            let err = Release::parse(&format!("name: s\nimages: [nginx]\n{yaml}\n"), Path::new(".")).unwrap_err();
            assert!(err.contains(expect), "{yaml}: {err}");
        }
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
