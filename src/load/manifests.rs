//! `load --manifests-out`: the bundle's hardened manifests for this site. Images are rewritten
//! to the site registry (still pinned by digest, and only to digests the verified bundle
//! holds), and the admission policies that name the registry and the bundle's image key are
//! added. The bundle's own `harden:` settings apply again, so nothing else changes.

use std::io::Read as _;

use crate::create::release_harden::lock_for;
use crate::harden::pss::KubeVersion;
use crate::harden::{self, Hardened, InputFile, Options};
use crate::policy::hardening::HardenSettings;
use crate::verify::VerifiedBundle;

const MANIFESTS: &str = "sealift/manifests/";
/// Manifests are small; a bigger entry is refused rather than read into memory.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bundle entry {path}: {reason}")]
    Entry { path: String, reason: String },
    #[error(transparent)]
    Harden(#[from] harden::Error),
}

/// The site's manifests, or `None` when the bundle carries none.
pub fn site_manifests(bundle: &VerifiedBundle, registry: &str, receipt_key_pem: Option<&str>) -> Result<Option<Hardened>, Error> {
    let index = bundle.index();
    let mut inputs = Vec::new();
    for entry in index.entries.iter().filter(|e| e.path.starts_with(MANIFESTS)) {
        let err = |reason: String| Error::Entry {
            path: entry.path.clone(),
            reason,
        };
        if entry.size > MAX_MANIFEST_BYTES {
            return Err(err(format!("{} bytes is more than a manifest should be", entry.size)));
        }
        let mut text = String::new();
        bundle
            .open_entry(&entry.path)
            .ok_or_else(|| err("not in the verified bundle".into()))?
            .read_to_string(&mut text)
            .map_err(|e| err(e.to_string()))?;
        inputs.push(InputFile {
            path: entry.path[MANIFESTS.len()..].to_string(),
            text,
        });
    }
    if inputs.is_empty() {
        return Ok(None);
    }
    let default = HardenSettings::default();
    let (settings, version, key) = match &index.harden {
        Some(h) => (&h.settings, Some(h.kubernetes_version.as_str()), Some(h.image_key.as_str())),
        None => (&default, None, None),
    };
    let lock = lock_for(&index.images);
    let options = Options {
        settings,
        kube_version: KubeVersion::from_setting(version).map_err(harden::Error::Settings)?,
        lock: Some(&lock),
        site_registry: Some(registry),
        signing_key_pem: key,
        receipt_key_pem,
    };
    Ok(Some(harden::harden_strict(&inputs, &options)?))
}
