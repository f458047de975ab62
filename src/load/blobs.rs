//! The blobs of every image a load pushes: each distinct blob once, largest first, into every
//! repository that needs it.
//!
//! A blob goes into the first repository that needs it (skipped when that repository has it,
//! uploaded otherwise), and is then mounted into the others (distribution spec, "Mounting a
//! blob from another repository"): one upload however many images share it. A registry that
//! refuses a mount in any way gets the blob uploaded, and is asked for no more mounts in this
//! run (each ask would cost a request).
//!
//! Whether a repository has a blob is asked with a `HEAD` for blobs sent in chunks, and in
//! the request that opens the upload session for small ones (sent whole in one `PUT`, see
//! [`Registry::whole_upload_max`] and [`Registry::push_blob_from`]): a small blob already
//! there costs one request, a new one two.
//!
//! The largest blobs start first: the longest upload bounds the load, so it should not wait
//! behind small ones.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::oci::{Descriptor, Digest, Reference};
use crate::progress::{ProgressReader, Reporter, Task};
use crate::registry::{BlobSource, Landed, Registry};
use crate::store::RangeReader;
use crate::verify::VerifiedBundle;

use super::Error;

/// What became of one blob in one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Uploaded: this many bytes.
    Uploaded(u64),
    /// Already in the repository.
    Present,
    /// Mounted from another repository of the registry.
    Mounted,
}

/// One distinct blob and the images that need it, in the bundle's order.
pub(super) struct BlobWork<'a> {
    /// The blob.
    pub desc: &'a Descriptor,
    /// Indexes of the images (into the plans) that need it.
    pub images: Vec<usize>,
}

/// Where one image goes, as the blob pushes see it.
pub(super) struct Destination<'a> {
    /// The image, for messages.
    pub name: &'a str,
    /// Its repository in the target registry.
    pub target: &'a Reference,
}

/// Each distinct blob of `images` (given as each image's blobs) with the images needing it,
/// largest first.
pub(super) fn distinct<'a>(images: &[&'a [Descriptor]]) -> Vec<BlobWork<'a>> {
    let mut at: BTreeMap<&Digest, usize> = BTreeMap::new();
    let mut work: Vec<BlobWork<'a>> = Vec::new();
    for (i, blobs) in images.iter().enumerate() {
        for desc in *blobs {
            match at.get(&desc.digest) {
                Some(&w) => {
                    if !work[w].images.contains(&i) {
                        work[w].images.push(i);
                    }
                }
                None => {
                    at.insert(&desc.digest, work.len());
                    work.push(BlobWork { desc, images: vec![i] });
                }
            }
        }
    }
    // Stable: equal sizes keep the bundle's order.
    work.sort_by_key(|w| std::cmp::Reverse(w.desc.size));
    work
}

/// Whether the registry still takes mounts in this run.
#[derive(Default)]
pub(super) struct Mounts {
    refused: AtomicBool,
}

/// Put `desc` into `to`'s repository once `from` (another repository of the registry) holds
/// it: mounted while the registry takes mounts, else as [`into_repository`].
pub(super) async fn follow(
    bundle: &VerifiedBundle,
    client: &Registry,
    to: &Destination<'_>,
    desc: &Descriptor,
    from: &str,
    mounts: &Mounts,
    reporter: &dyn Reporter,
) -> Result<Pushed, Error> {
    if !mounts.refused.load(Ordering::Relaxed) && mount(client, to, desc, from, mounts, reporter).await? {
        return Ok(Pushed::Mounted);
    }
    into_repository(bundle, client, to, desc, reporter).await
}

/// The blob into one repository: skipped when it is there (asked as the module says),
/// uploaded otherwise.
pub(super) async fn into_repository(
    bundle: &VerifiedBundle,
    client: &Registry,
    to: &Destination<'_>,
    desc: &Descriptor,
    reporter: &dyn Reporter,
) -> Result<Pushed, Error> {
    if desc.size > client.whole_upload_max()
        && client
            .blob_exists(to.target, &desc.digest)
            .await
            .map_err(|source| Error::Registry {
                image: to.name.to_owned(),
                source,
            })?
    {
        return Ok(present(to, desc, reporter));
    }
    Ok(match upload(bundle, client, to, desc, reporter).await? {
        Landed::Uploaded => Pushed::Uploaded(desc.size),
        Landed::Present => present(to, desc, reporter),
    })
}

/// `desc` was in `to`'s repository already.
fn present(to: &Destination<'_>, desc: &Descriptor, reporter: &dyn Reporter) -> Pushed {
    reporter.note(&format!("{}: {} already in the registry", to.name, desc.digest.short()));
    Pushed::Present
}

/// Ask for a mount of `desc` into `to` from `from`: whether it landed. A refusal (a 202, or a
/// 401 where the registry's token does not cover the other repository) stops further asks.
async fn mount(
    client: &Registry,
    to: &Destination<'_>,
    desc: &Descriptor,
    from: &str,
    mounts: &Mounts,
    reporter: &dyn Reporter,
) -> Result<bool, Error> {
    match client.mount_blob(to.target, &desc.digest, from).await {
        Ok(true) => {
            reporter.note(&format!("{}: {} mounted from {from}", to.name, desc.digest.short()));
            Ok(true)
        }
        Ok(false) => {
            mounts.refused.store(true, Ordering::Relaxed);
            Ok(false)
        }
        // Held back and refused: the bundle did not verify, so nothing may land at all.
        Err(e @ crate::registry::Error::CommitRefused { .. }) => Err(Error::Registry {
            image: to.name.to_owned(),
            source: e,
        }),
        Err(e) => {
            reporter.note(&format!(
                "{}: mounting {} from {from} failed ({e}); uploading it, and asking no more",
                to.name,
                desc.digest.short()
            ));
            mounts.refused.store(true, Ordering::Relaxed);
            Ok(false)
        }
    }
}

/// Upload `desc` from the bundle into `to`'s repository.
async fn upload(
    bundle: &VerifiedBundle,
    client: &Registry,
    to: &Destination<'_>,
    desc: &Descriptor,
    reporter: &dyn Reporter,
) -> Result<Landed, Error> {
    let missing = || Error::Inconsistent {
        image: to.name.to_owned(),
        reason: format!("blob {} missing", desc.digest),
    };
    let size = bundle.blob(&desc.digest).ok_or_else(missing)?.size;
    let (file, offset, _) = bundle.blob_range(&desc.digest).ok_or_else(missing)?;
    let task: Arc<dyn Task> = Arc::from(reporter.start(&format!("push {}", desc.digest.short()), size));
    let source = Arc::new(BundleBlob {
        file,
        offset,
        size,
        task: task.clone(),
    });
    // Sent bytes are hashed again and committed only if they still match the verified digest.
    let landed = client
        .push_blob_from(to.target, &desc.digest, size, source)
        .await
        .map_err(|source| Error::Registry {
            image: to.name.to_owned(),
            source,
        })?;
    match landed {
        Landed::Uploaded => task.finish(),
        Landed::Present => task.skip(),
    }
    Ok(landed)
}

/// A verified blob's bytes, read again from the bundle file that was verified (from any
/// offset, for a resumed upload), with progress.
struct BundleBlob {
    file: Arc<std::fs::File>,
    offset: u64,
    size: u64,
    task: Arc<dyn Task>,
}

impl BlobSource for BundleBlob {
    fn open_at(&self, from: u64) -> std::io::Result<Box<dyn Read + Send>> {
        let reader = RangeReader::new(self.file.clone(), self.offset + from, self.size.saturating_sub(from));
        Ok(Box::new(ProgressReader::new(reader, self.task.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(n: u8, size: u64) -> Descriptor {
        Descriptor::new("application/octet-stream", Digest::of(&[n]), size)
    }

    #[test]
    fn each_blob_once_with_every_image_needing_it_largest_first() {
        let (base, a, b, tiny) = (blob(0, 8 << 20), blob(1, 1 << 20), blob(2, 256 << 30), blob(3, 10));
        let first = [tiny.clone(), base.clone(), a.clone()];
        let second = [base.clone(), b.clone(), base.clone()];
        let work = distinct(&[&first, &second]);
        let order: Vec<(&Digest, &[usize])> = work.iter().map(|w| (&w.desc.digest, w.images.as_slice())).collect();
        assert_eq!(
            order,
            vec![
                (&b.digest, &[1][..]),
                (&base.digest, &[0, 1][..]),
                (&a.digest, &[0][..]),
                (&tiny.digest, &[0][..]),
            ]
        );
    }
}
