//! Scanning an image that sits in an OCI layout: each platform manifest's layers through the
//! inventory (re-hashed as they stream), then the matcher.

use crate::oci::{Descriptor, Manifest, Platform, VerifyingReader, media_type};
use crate::store::Layout;

use super::Error;
use super::db::Database;
use super::inventory::{Accounts, Collector, Inventory};
use super::matcher;
use super::report::Report;

/// Scan one runnable image manifest (`platform` as its graph node gives it, for the report and
/// errors). A layer that is not a tar media type, or that cannot be read whole, is an error
/// naming image, platform, layer and media type.
pub fn scan_manifest(
    layout: &Layout,
    manifest: &Descriptor,
    platform: Option<&Platform>,
    image: &str,
    db: &Database,
) -> Result<Report, Error> {
    let (config, inventory) = read_layers(layout, manifest, Collector::new()).map_err(|e| e.in_image(image, platform))?;
    let platform = match platform {
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
        if !media_type::is_tar_layer(&layer.media_type) {
            return Err(Error::Layer {
                image: String::new(),
                platform: String::new(),
                layer: layer.digest.to_string(),
                media_type: layer.media_type.clone(),
                reason: "not a tar layer media type".into(),
            });
        }
        let layer_error = |e: crate::scan::inventory::Error| {
            let crate::scan::inventory::Error::Layer { reason, .. } = e;
            Error::Layer {
                image: String::new(),
                platform: String::new(),
                layer: layer.digest.to_string(),
                media_type: layer.media_type.clone(),
                reason,
            }
        };
        let open = || -> Result<_, Error> {
            let file = layout.open_blob(&layer.digest)?;
            Ok(VerifyingReader::new(
                std::io::BufReader::with_capacity(1 << 20, file),
                layer.digest.clone(),
                layer.size,
            ))
        };
        let digest = layer.digest.to_string();
        collector.add_layer(&digest, &layer.media_type, open()?).map_err(layer_error)?;
        // Hard links at package-record paths: the layer is read again for their targets.
        if collector.needs_link_targets() {
            collector
                .add_link_targets(&digest, &layer.media_type, open()?)
                .map_err(layer_error)?;
        }
    }
    Ok((config, collector.finish()))
}
