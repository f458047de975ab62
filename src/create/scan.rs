//! Scanning a source image (`sealift scan`). The image is first copied into a layout (every blob checked against its digest on the way),
//! then scanned from there; layers are never unpacked.

use std::path::PathBuf;

use super::Error;
use crate::oci::{Descriptor, Platform, SourceRef};
use crate::policy::ImageSpec;
use crate::progress::Reporter;
use crate::registry::{Registry, RegistryOptions};
use crate::scan::db::Database;
use crate::scan::{Report, image};
use crate::source::{self, PulledImage};
use crate::store::Layout;

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
    };
    let pulled = source::pull(&spec, &registry, &layout, reporter).await?;
    let manifests = image::platform_manifests(&layout, &pulled.root)?;
    let target = choose_platform(&pulled, manifests, options.platform.as_ref())?;
    let name = options.source.to_string();
    tokio::task::block_in_place(|| Ok(image::scan_manifest(&layout, &target, &name, options.database)?))
}

/// The image manifest to scan: the image itself, or the index entry for the wanted platform.
fn choose_platform(pulled: &PulledImage, manifests: Vec<Descriptor>, wanted: Option<&Platform>) -> Result<Descriptor, Error> {
    if pulled.platforms.is_empty() {
        return Ok(pulled.root.clone());
    }
    let host = host_platform();
    let wanted = wanted.unwrap_or(&host);
    let offered: Vec<String> = manifests
        .iter()
        .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
        .collect();
    manifests
        .into_iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
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
