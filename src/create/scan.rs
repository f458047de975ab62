//! Scanning a source image (`sealift scan`). Its manifests and config are copied into a
//! staging layout (each checked against its digest); its layers are read where they are for
//! an `oci:` layout or `oci-archive:` file, checked against their digests as they stream, and
//! pulled into the staging layout (checked on the way) from a registry. Layers are never
//! unpacked, and each byte is hashed once.

use std::path::PathBuf;

use super::Error;
use crate::oci::{Descriptor, ManifestKind, Platform, SourceRef};
use crate::policy::ImageSpec;
use crate::progress::Reporter;
use crate::registry::{Registry, RegistryOptions};
use crate::scan::db::Database;
use crate::scan::report::NotScanned;
use crate::scan::{Report, image};
use crate::source::{self, PulledImage};
use crate::store::{Blobs, Layout, Staged};

/// What `sealift scan` needs.
pub struct ScanOptions<'a> {
    pub source: SourceRef,
    /// The platform to scan in a multi-platform image; the host's when absent.
    pub platform: Option<Platform>,
    pub registry: RegistryOptions,
    pub database: &'a Database,
    /// Where to stage the image; a temporary directory when absent.
    pub staging: Option<PathBuf>,
}

/// Pull one image and scan it (one platform).
pub async fn scan_source(options: ScanOptions<'_>, reporter: &dyn Reporter) -> Result<Report, Error> {
    let temp;
    let staging = match &options.staging {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("sealift-scan-")
                .tempdir()
                .map_err(|e| Error::ReleaseFile {
                    path: std::env::temp_dir(),
                    reason: e.to_string(),
                })?;
            temp.path().to_path_buf()
        }
    };
    let layout = Layout::create(&staging)?;
    let registry = Registry::new(&options.registry)?;
    let spec = ImageSpec {
        source: options.source.clone(),
        platforms: options.platform.clone().into_iter().collect(),
        name: Some(("scan".into(), None)),
        provenance: None,
        include_foreign_layers: false,
    };
    let (pulled, in_place) = source::pull_for_reading(&spec, &registry, &layout, reporter).await?;
    // Pulled layers were checked as they arrived in a staging layout of this run's own; one
    // given with `--staging` may hold blobs from before, which are checked as they are read.
    let staged = Staged(&layout);
    let blobs: &dyn Blobs = match &in_place {
        Some(local) => local,
        None if options.staging.is_none() => &staged,
        None => &layout,
    };
    let (target, platform) = choose_platform(&pulled, options.platform.as_ref())?;
    let name = options.source.to_string();
    let mut report =
        tokio::task::block_in_place(|| image::scan_manifest(&layout, blobs, &target, platform.as_ref(), &name, options.database))?;
    report.not_scanned = pulled
        .graph
        .others(&pulled.root.digest)
        .into_iter()
        .map(|n| NotScanned {
            digest: n.descriptor.digest.to_string(),
            kind: n.kind,
            reason: n.kind.not_scanned_reason(),
        })
        .collect();
    Ok(report)
}

/// The runnable manifest to scan: the image itself, or the one for the wanted platform (the
/// host's by default) anywhere in an index. An artifact or attestation is refused, naming
/// what it is.
fn choose_platform(pulled: &PulledImage, wanted: Option<&Platform>) -> Result<(Descriptor, Option<Platform>), Error> {
    let runnable = pulled.graph.runnable(&pulled.root.digest);
    if runnable.is_empty() {
        let kind = pulled
            .graph
            .nodes
            .get(&pulled.root.digest)
            .map_or(ManifestKind::Artifact, |n| n.kind);
        return Err(Error::Pull(source::Error::NotFound {
            image: pulled.source.clone(),
            reason: format!(
                "holds no container image to scan (its root is of kind `{kind}`: {})",
                kind.not_scanned_reason()
            ),
        }));
    }
    if let [only] = runnable.as_slice()
        && only.descriptor.digest == pulled.root.digest
    {
        return Ok((only.descriptor.clone(), only.platform.clone()));
    }
    let host = host_platform();
    let wanted = wanted.unwrap_or(&host);
    let offered: Vec<String> = runnable
        .iter()
        .filter_map(|n| n.platform.as_ref().map(ToString::to_string))
        .collect();
    runnable
        .iter()
        .find(|n| n.platform.as_ref().is_some_and(|p| wanted.matches(p)))
        .map(|n| (n.descriptor.clone(), n.platform.clone()))
        .ok_or_else(|| {
            Error::Pull(source::Error::NoMatchingPlatform {
                image: pulled.source.clone(),
                wanted: wanted.to_string(),
                available: offered.join(", "),
            })
        })
}

fn host_platform() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    Platform {
        os: "linux".into(),
        architecture: architecture.into(),
        variant: None,
    }
}
