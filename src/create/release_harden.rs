//! Hardening a release's manifests at `bundle create`: every image is pinned by the digest just
//! pulled, the image configs in the staging layout decide users and writable paths, and the
//! hardened files (with the generated namespace policies and the report) replace the originals
//! under `sealift/manifests/` in the bundle, covered by its signature.
//!
//! The site registry is not known yet: images keep their source registry here and
//! `load --manifests-out` rewrites them (and adds the admission policies that name it).

use std::path::Path;

use super::Error;
use crate::bundle::{BundleFile, HardenRecord, ImageRecord, RuntimeConfig};
use crate::harden::images::{ImageLock, LockedImage, bundled_reference};
use crate::harden::pss::KubeVersion;
use crate::harden::{self, InputFile, Options};
use crate::policy::hardening::HardenSettings;
use crate::source::PulledImage;
use crate::store::Layout;

const MANIFESTS: &str = "sealift/manifests/";
/// Where the hardening report goes in the bundle.
pub const REPORT_PATH: &str = "sealift/harden/report.json";

/// The lock for a set of bundled images, with the run-time config each record carries.
pub fn lock_for(images: &[ImageRecord]) -> ImageLock {
    let mut lock = ImageLock::default();
    for image in images {
        let Ok(reference) = bundled_reference(&image.source, &image.repository, image.tag.as_deref(), &image.digest) else {
            continue;
        };
        let (user, volumes) = image
            .config
            .as_ref()
            .map_or((None, Vec::new()), |c| (Some(c.user.clone()), c.volumes.clone()));
        let platforms: Vec<_> = image.platforms.iter().map(|p| p.digest.clone()).collect();
        lock.add(
            &reference,
            LockedImage {
                repository: image.repository.clone(),
                registry: reference.registry.clone(),
                digest: image.digest.clone(),
                user,
                volumes,
            },
            &platforms,
        );
        if let Some(source_digest) = &image.source_digest {
            lock.alias(source_digest, &image.digest);
        }
    }
    lock
}

/// The image config's `User` and `Volumes` (of linux/amd64, else the first runnable manifest
/// of the image's graph); `None` when the image has no runnable manifest or a config sealift
/// cannot read as a container config. A user given by name is looked up in the image's
/// `/etc/passwd` (and `/etc/group`) so the manifests can carry the number Kubernetes needs; a
/// name not found there (or layers that cannot be read as tar streams) leaves the name, which
/// hardening then reports.
pub fn image_config(layout: &Layout, blobs: &dyn crate::store::Blobs, image: &PulledImage) -> Result<Option<RuntimeConfig>, Error> {
    let runnable = image.graph.runnable(&image.root.digest);
    let Some(node) = runnable
        .iter()
        .find(|n| n.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == "amd64"))
        .or_else(|| runnable.first())
    else {
        return Ok(None);
    };
    let Some(config) = node.blobs.first() else {
        return Ok(None);
    };
    let descriptor = node.descriptor.clone();
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(&layout.read_manifest(config)?) else {
        return Ok(None);
    };
    let c = config.get("config");
    let mut user = c.and_then(|c| c.get("User")).and_then(|u| u.as_str()).unwrap_or("").to_string();
    if needs_lookup(&user)
        && let Ok(accounts) = crate::scan::image::accounts(layout, blobs, &descriptor)
        && let Ok(ids) = accounts.resolve(&user)
    {
        user = match ids.gid {
            Some(gid) => format!("{}:{gid}", ids.uid),
            None => ids.uid.to_string(),
        };
    }
    let volumes = c
        .and_then(|c| c.get("Volumes"))
        .and_then(|v| v.as_object())
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default();
    Ok(Some(RuntimeConfig { user, volumes }))
}

/// Whether a config `User` names its user (or group) rather than giving numbers.
fn needs_lookup(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("");
    !name.is_empty() && name != "root" && name.parse::<u32>().is_err()
}

/// What hardening added to the bundle.
#[derive(Debug, Clone)]
pub struct Hardening {
    pub record: HardenRecord,
    pub report: harden::report::Report,
}

/// Hardens the manifest files in `files` (replacing them) and adds the report.
pub(super) fn harden_release(
    settings: &HardenSettings,
    files: &mut Vec<BundleFile>,
    images: &[ImageRecord],
    key_pem: &str,
    dir: &Path,
) -> Result<Option<Hardening>, Error> {
    let (manifests, others): (Vec<BundleFile>, Vec<BundleFile>) = files.drain(..).partition(|f| f.path.starts_with(MANIFESTS));
    *files = others;
    if manifests.is_empty() {
        return Ok(None);
    }
    let inputs = manifests
        .iter()
        .map(|f| {
            let text = crate::bounded::read_to_string(&f.source, crate::bounded::DOCUMENT_FILE).map_err(|e| Error::ReleaseFile {
                path: f.source.clone(),
                reason: e.to_string(),
            })?;
            Ok(InputFile {
                path: f.path[MANIFESTS.len()..].to_string(),
                text,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let kube_version =
        KubeVersion::from_setting(settings.kubernetes_version.as_deref()).map_err(|e| Error::Harden(harden::Error::Settings(e)))?;
    let lock = lock_for(images);
    let options = Options {
        settings,
        kube_version,
        lock: Some(&lock),
        site_registry: None,
        signing_key_pem: Some(key_pem),
        receipt_key_pem: None,
    };
    let mut hardened = harden::harden_strict(&inputs, &options).map_err(Error::Harden)?;
    hardened.report.kubernetes_version_defaulted = settings.kubernetes_version.is_none();
    let write_err = |path: &Path, e: std::io::Error| Error::ReleaseFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let out = dir.join("manifests");
    harden::write_outputs(&out, &hardened.files).map_err(|e| write_err(&out, e))?;
    for f in &hardened.files {
        files.push(BundleFile {
            path: format!("{MANIFESTS}{}", f.path),
            source: out.join(&f.path),
        });
    }
    let report_file = dir.join("report.json");
    let json = serde_json::to_vec_pretty(&hardened.report).map_err(|e| write_err(&report_file, std::io::Error::other(e)))?;
    std::fs::write(&report_file, json).map_err(|e| write_err(&report_file, e))?;
    files.push(BundleFile {
        path: REPORT_PATH.into(),
        source: report_file,
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Some(Hardening {
        record: HardenRecord {
            kubernetes_version: kube_version.to_string(),
            settings: settings.clone(),
            report: REPORT_PATH.into(),
            changes: hardened.report.changes.len(),
            findings: hardened.report.findings.len(),
            image_key: key_pem.to_string(),
        },
        report: hardened.report,
    }))
}
