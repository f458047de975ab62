//! Scanning an image whose manifests sit in an OCI layout: each platform manifest's layers
//! through the inventory, several layers at once (each checked against its digest as it
//! streams, unless this run checked it already), stacked in order; then the matcher.

use std::io::Read;

use crate::oci::{Descriptor, Manifest, Platform, VerifyingReader, media_type};
use crate::store::{Blobs, Layout};

use super::Error;
use super::db::Database;
use super::inventory::{Accounts, Collector, Inventory, LayerFiles};
use super::matcher;
use super::report::Report;

/// Scan one runnable image manifest (`platform` as its graph node gives it, for the report and
/// errors). A layer that is not a tar media type, or that cannot be read whole, is an error
/// naming image, platform, layer and media type.
pub fn scan_manifest(
    layout: &Layout,
    blobs: &dyn Blobs,
    manifest: &Descriptor,
    platform: Option<&Platform>,
    image: &str,
    db: &Database,
) -> Result<Report, Error> {
    let (config, inventory) = read_layers(layout, blobs, manifest, Collector::new()).map_err(|e| e.in_image(image, platform))?;
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
pub fn accounts(layout: &Layout, blobs: &dyn Blobs, manifest: &Descriptor) -> Result<Accounts, Error> {
    Ok(read_layers(layout, blobs, manifest, Collector::accounts_only())?.1.accounts)
}

/// Reads an image manifest's layers through `collector`, several at once (as many as the
/// machine has cores, at most [`MAX_LAYER_THREADS`], and never more than that many layers
/// read or being read ahead of the lowest one not yet applied, so memory holds that many
/// layers' file lists at most), and applies them in order;
/// returns the config descriptor and what was collected. The first failing layer, in layer
/// order, is the error.
fn read_layers(
    layout: &Layout,
    blobs: &dyn Blobs,
    manifest: &Descriptor,
    mut collector: Collector,
) -> Result<(Descriptor, Inventory), Error> {
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
            return Err(layer_error(layer, "not a tar layer media type".into()));
        }
    }
    let reader = collector.reader();
    let checked = blobs.checked_before();
    let read_one = |layer: &Descriptor| -> Result<LayerFiles, Error> {
        let open = || -> std::io::Result<Box<dyn Read + Send + '_>> {
            let blob = blobs.open_blob_reader(&layer.digest).map_err(std::io::Error::other)?;
            let blob = std::io::BufReader::with_capacity(1 << 20, blob);
            Ok(if checked {
                Box::new(VerifyingReader::size_only(blob, layer.digest.clone(), layer.size))
            } else {
                Box::new(VerifyingReader::new(blob, layer.digest.clone(), layer.size))
            })
        };
        reader.read(&layer.digest.to_string(), &layer.media_type, open).map_err(|e| {
            let crate::scan::inventory::Error::Layer { reason, .. } = e;
            // A blob that is not what its digest says usually shows first as a broken stream:
            // say the cause, then the symptom.
            match digest_problem(blobs, layer).filter(|_| !checked) {
                Some(cause) => layer_error(layer, format!("{cause} (reading it: {reason})")),
                None => layer_error(layer, reason),
            }
        })
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(MAX_LAYER_THREADS)
        .min(layers.len())
        .max(1);
    in_order(&layers, workers, read_one, |files| {
        collector.apply(files).map_err(|e| {
            let crate::scan::inventory::Error::Layer { layer, reason } = e;
            let media_type = layers
                .iter()
                .find(|d| d.digest.to_string() == layer)
                .map(|d| d.media_type.clone())
                .unwrap_or_default();
            Error::Layer {
                image: String::new(),
                platform: String::new(),
                layer,
                media_type,
                reason,
            }
        })
    })?;
    Ok((config, collector.finish()))
}

/// Why `layer`'s blob does not match its descriptor (size or digest), if it does not.
fn digest_problem(blobs: &dyn Blobs, layer: &Descriptor) -> Option<String> {
    let blob = blobs.open_blob_reader(&layer.digest).ok()?;
    let mut checked = VerifyingReader::new(std::io::BufReader::with_capacity(1 << 20, blob), layer.digest.clone(), layer.size);
    std::io::copy(&mut checked, &mut std::io::sink()).err().map(|e| e.to_string())
}

/// Layers read at once, however many cores: each holds its layer's file list until applied.
const MAX_LAYER_THREADS: usize = 4;

fn layer_error(layer: &Descriptor, reason: String) -> Error {
    Error::Layer {
        image: String::new(),
        platform: String::new(),
        layer: layer.digest.to_string(),
        media_type: layer.media_type.clone(),
        reason,
    }
}

/// `read` each item on up to `workers` threads, and `apply` the results in item order as
/// they become ready. A worker does not start an item `workers` or more ahead of the next one
/// to apply. Stops at the first error (in item order); a `read` that panics is an error, and
/// a panicking `apply` lets the workers go before the panic goes on.
fn in_order<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    read: impl Fn(&T) -> Result<R, Error> + Sync,
    mut apply: impl FnMut(R) -> Result<(), Error>,
) -> Result<(), Error> {
    use std::sync::{Condvar, Mutex, PoisonError};
    struct State {
        next_to_start: usize,
        applied: usize,
        stop: bool,
    }
    let state = Mutex::new(State {
        next_to_start: 0,
        applied: 0,
        stop: false,
    });
    let moved = Condvar::new();
    let window = workers.max(1);
    // Whatever ends the applying side (an error, a panic), the workers are let go.
    struct StopOnDrop<'a>(&'a Mutex<State>, &'a Condvar);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
            self.1.notify_all();
        }
    }
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<R, Error>)>();
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            let tx = tx.clone();
            let (state, moved, read) = (&state, &moved, &read);
            scope.spawn(move || {
                loop {
                    let i = {
                        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                        while !s.stop && s.next_to_start < items.len() && s.next_to_start >= s.applied + window {
                            s = moved.wait(s).unwrap_or_else(PoisonError::into_inner);
                        }
                        if s.stop || s.next_to_start >= items.len() {
                            return;
                        }
                        s.next_to_start += 1;
                        s.next_to_start - 1
                    };
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(&items[i])))
                        .unwrap_or_else(|_| Err(Error::Internal("reading a layer stopped unexpectedly (a bug in sealift)".into())));
                    if tx.send((i, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let _stop = StopOnDrop(&state, &moved);
        let mut ready: std::collections::BTreeMap<usize, Result<R, Error>> = std::collections::BTreeMap::new();
        let mut next = 0;
        let mut outcome = Ok(());
        for (i, result) in rx.iter() {
            ready.insert(i, result);
            while let Some(result) = ready.remove(&next) {
                let step = result.and_then(&mut apply);
                next += 1;
                let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                s.applied = next;
                if step.is_err() {
                    s.stop = true;
                }
                moved.notify_all();
                drop(s);
                if let Err(e) = step {
                    outcome = Err(e);
                    break;
                }
            }
            if outcome.is_err() {
                break;
            }
        }
        // `_stop` lets waiting workers go when it is dropped; the scope waits for them.
        outcome
    })
}
