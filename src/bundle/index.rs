//! `sealift/bundle.json`: the signed root of trust, listing every other entry of the bundle.

use serde::{Deserialize, Serialize};

use crate::oci::{Digest, Graph, ManifestKind, Platform};
use crate::policy::VulnPolicy;
use crate::sign::artifact::SignatureFormat;

/// Version of the `bundle.json` schema written by this build.
pub const SCHEMA_VERSION: u32 = 1;

/// The bundle index. Unknown fields are rejected: a reader never skips what it does not
/// understand in a signed document.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleIndex {
    /// Schema version, [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Release name from `sealift.yaml`.
    pub name: String,
    /// Creation time, RFC 3339 UTC (from `SOURCE_DATE_EPOCH` when set).
    pub created: String,
    /// The tool that wrote the bundle.
    pub tool: Tool,
    /// The `bundle.json` digest of the bundle this one follows (`bundle create --follows`):
    /// `load` refuses it until that one was loaded into the same registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<Digest>,
    /// Images carried.
    pub images: Vec<ImageRecord>,
    /// What scanning found, and the policy that judges it; absent when the release was not
    /// scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanRecord>,
    /// How the release's manifests were hardened; absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harden: Option<HardenRecord>,
    /// Every tar entry after the signatures, in tar order.
    pub entries: Vec<Entry>,
}

/// The hardening applied to the manifests under `sealift/manifests/`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HardenRecord {
    /// The Pod Security rule set met (`v1.35`).
    pub kubernetes_version: String,
    /// The `harden:` settings used; `load --manifests-out` applies them again.
    pub settings: crate::policy::hardening::HardenSettings,
    /// Path of the full report in the bundle.
    pub report: String,
    /// Number of changes made.
    pub changes: usize,
    /// Number of findings left.
    pub findings: usize,
    /// The public key (PEM) the images are signed with, for the cluster's signature policies.
    pub image_key: String,
}

/// Name and version of the writer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// `sealift`.
    pub name: String,
    /// Crate version.
    pub version: String,
}

/// One image: where it came from, what it is pinned to, and what to call it on the far side.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageRecord {
    /// The source reference as written in `sealift.yaml`.
    pub source: String,
    /// Repository path to load under (`library/nginx`), without a registry host.
    pub repository: String,
    /// Tag to load under, if the source had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Digest of the manifest or index carried: the identity users deploy.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// The digest at the source when it differs from `digest` (a platform subset of an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<Digest>,
    /// The runnable image manifests under an index, at any depth, each with its platform
    /// (empty when the image itself is one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformRecord>,
    /// Manifests carried with the image that are not runnable: attestations, signatures,
    /// SBOMs and other artifacts (the image itself, when it is an artifact). Carried, listed,
    /// never scanned or signed as platforms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactRecord>,
    /// Signature objects carried for this image (its own digest and each platform manifest).
    pub signatures: Vec<SignatureRecord>,
    /// Publisher keys (PEM) the source image had to be signed with, from `sealift.yaml`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_keys: Vec<String>,
    /// What the image config says about running it, as hardening used it: standalone
    /// `harden --images` on `bundle inspect --format json` makes the same decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RuntimeConfig>,
}

/// The run-time settings of an image config that hardening needs.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// `User`, with a name looked up in the image's /etc/passwd turned into `uid:gid`; empty
    /// for root by default.
    pub user: String,
    /// The `Volumes` paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
}

impl ImageRecord {
    /// `repository:tag@digest` (or `repository@digest` without a tag), for reports.
    #[must_use]
    pub fn pinned_name(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}:{t}@{}", self.repository, self.digest),
            None => format!("{}@{}", self.repository, self.digest),
        }
    }

    /// `repository:tag` or `repository@digest`, as used in `index.json` annotations.
    #[must_use]
    pub fn display_name(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}:{t}", self.repository),
            None => format!("{}@{}", self.repository, self.digest),
        }
    }
}

/// A platform manifest inside an image index.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlatformRecord {
    /// The platform.
    pub platform: Platform,
    /// Its manifest digest.
    pub digest: Digest,
}

/// A carried manifest that is not a runnable image.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactRecord {
    /// Its manifest digest.
    pub digest: Digest,
    /// What it is.
    pub kind: ManifestKind,
    /// The artifact type it declares, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// What `bundle.json` says of the manifests under one image root, computed from its graph:
/// the runnable manifests below the root with their platforms (sorted by digest), and every
/// other non-index manifest (sorted). `bundle create` writes these and `verify` derives them
/// again from the layout; the two must be equal.
#[must_use]
pub fn graph_records(graph: &Graph, root: &Digest) -> (Vec<PlatformRecord>, Vec<ArtifactRecord>) {
    let mut platforms: Vec<PlatformRecord> = graph
        .runnable(root)
        .into_iter()
        .filter(|n| n.descriptor.digest != *root)
        .filter_map(|n| {
            Some(PlatformRecord {
                platform: n.platform.clone()?,
                digest: n.descriptor.digest.clone(),
            })
        })
        .collect();
    platforms.sort_by(|a, b| (&a.platform, &a.digest).cmp(&(&b.platform, &b.digest)));
    let mut artifacts: Vec<ArtifactRecord> = graph
        .others(root)
        .into_iter()
        .map(|n| ArtifactRecord {
            digest: n.descriptor.digest.clone(),
            kind: n.kind,
            artifact_type: n.artifact_type.clone(),
        })
        .collect();
    artifacts.sort();
    (platforms, artifacts)
}

/// One image signature object in the bundle's layout.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureRecord {
    /// The manifest digest signed.
    pub subject: Digest,
    /// Legacy `.sig` image or Sigstore bundle referrer.
    pub format: SignatureFormat,
    /// Digest of the signature object's manifest.
    pub manifest: Digest,
    /// Who signed: the release key at `bundle create`, or the upstream publisher.
    pub origin: SignatureOrigin,
}

/// Who made an image signature.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureOrigin {
    /// Made by `bundle create` with the release key.
    Release,
    /// Found at the source, made by a key `sealift.yaml` names under `provenance`.
    Upstream,
}

impl ImageRecord {
    /// The digests an image's signatures cover: its own, then each platform manifest's.
    #[must_use]
    pub fn subjects(&self) -> Vec<&Digest> {
        std::iter::once(&self.digest)
            .chain(self.platforms.iter().map(|p| &p.digest))
            .collect()
    }

    /// The runnable image manifests this image carries, each scanned: the platforms of an
    /// index, or the image itself when it is one (not when it is an artifact).
    #[must_use]
    pub fn runnable(&self) -> Vec<&Digest> {
        let root_is_runnable =
            crate::oci::media_type::is_image_manifest(&self.media_type) && !self.artifacts.iter().any(|a| a.digest == self.digest);
        root_is_runnable
            .then_some(&self.digest)
            .into_iter()
            .chain(self.platforms.iter().map(|p| &p.digest))
            .collect()
    }
}

/// The scan of every image and platform at `bundle create`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanRecord {
    /// The vulnerability database the findings come from.
    pub database: ScanDatabase,
    /// The policy from `sealift.yaml`, re-evaluated by `verify`.
    pub policy: VulnPolicy,
    /// One report per runnable image manifest (each platform of an index, at any depth).
    pub reports: Vec<ScanReportRecord>,
    /// Carried manifests that are not container images, and why each was not scanned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_scanned: Vec<NotScannedRecord>,
}

/// A manifest the scan did not read, and why: never counted as clean.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotScannedRecord {
    /// The image (`repository:tag`).
    pub image: String,
    /// The manifest.
    pub manifest: Digest,
    /// What it is.
    pub kind: ManifestKind,
    /// `not scanned: <kind>`.
    pub reason: String,
}

/// Which vulnerability database was used.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanDatabase {
    /// Digest of the database's store file.
    pub digest: String,
    /// Date of the newest record, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
    /// Number of advisories.
    pub advisories: usize,
}

/// Where one image manifest's scan report and SBOM are in the bundle.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanReportRecord {
    /// The image (`repository:tag`).
    pub image: String,
    /// The image manifest scanned (a platform manifest for an index).
    pub manifest: Digest,
    /// Its platform, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The scan report (`sealift-scan/1` JSON) entry.
    pub report: String,
    /// The CycloneDX SBOM entry.
    pub sbom: String,
    /// Packages found.
    pub packages: usize,
    /// Findings.
    pub findings: usize,
}

/// A tar entry the bundle must contain.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entry {
    /// Path inside the tar.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub digest: Digest,
    /// Set for blobs that are manifests or indexes: the verifier parses these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}
