//! Scanning an image that sits in an OCI layout: each platform manifest's layers through the
//! inventory (re-hashed as they stream), then the matcher.

use crate::oci::{Descriptor, Manifest, Platform, VerifyingReader};
use crate::store::Layout;

use super::Error;
use super::db::Database;
use super::inventory::{Accounts, Collector, Inventory};
use super::matcher;
use super::report::Report;

/// The image manifests under `root`: itself, or each platform manifest of an index (one
/// level, as bundles carry them), with the platform the index gives.
pub fn platform_manifests(layout: &Layout, root: &Descriptor) -> Result<Vec<Descriptor>, Error> {
    let bytes = layout.read_manifest(root)?;
    let manifest = Manifest::parse(&bytes, &root.media_type).map_err(|e| Error::Manifest {
        digest: root.digest.to_string(),
        reason: e.to_string(),
    })?;
    Ok(match manifest {
        Manifest::Image { .. } => vec![root.clone()],
        Manifest::Index { manifests } => manifests
            .into_iter()
            .filter(|d| crate::oci::media_type::is_image_manifest(&d.media_type))
            .collect(),
    })
}

/// Scan one image manifest.
pub fn scan_manifest(layout: &Layout, manifest: &Descriptor, image: &str, db: &Database) -> Result<Report, Error> {
    let (config, inventory) = read_layers(layout, manifest, Collector::new())?;
    let platform = match &manifest.platform {
        Some(p) => Some(p.to_string()),
        None => Platform::from_config(&layout.read_manifest(&config)?).map(|p| p.to_string()),
    };
    let matches = matcher::find(db, &inventory.packages);
    Ok(Report::new(
        image,
        &manifest.digest.to_string(),
        platform,
        inventory,
        matches,
        &db.metadata,
    ))
}

/// The `/etc/passwd` and `/etc/group` that one image manifest's layers leave.
pub fn accounts(layout: &Layout, manifest: &Descriptor) -> Result<Accounts, Error> {
    Ok(read_layers(layout, manifest, Collector::accounts_only())?.1.accounts)
}

/// Streams an image manifest's layers (each re-hashed) through `collector`; returns the
/// config descriptor and what was collected.
fn read_layers(layout: &Layout, manifest: &Descriptor, mut collector: Collector) -> Result<(Descriptor, Inventory), Error> {
    let bytes = layout.read_manifest(manifest)?;
    let parsed = Manifest::parse(&bytes, &manifest.media_type).map_err(|e| Error::Manifest {
        digest: manifest.digest.to_string(),
        reason: e.to_string(),
    })?;
    let Manifest::Image { config, layers, .. } = parsed else {
        return Err(Error::Manifest {
            digest: manifest.digest.to_string(),
            reason: "an index, not an image manifest".into(),
        });
    };
    for layer in &layers {
        let file = layout.open_blob(&layer.digest)?;
        let reader = VerifyingReader::new(std::io::BufReader::with_capacity(1 << 20, file), layer.digest.clone(), layer.size);
        collector.add_layer(&layer.digest.to_string(), reader)?;
    }
    Ok((config, collector.finish()))
}
