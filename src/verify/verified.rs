//! The proof that a bundle passed verification. Only this module's parent can build one, and
//! `load` accepts nothing else. One built by `verify_deferring` still has large blobs to hash
//! ([`VerifiedBundle::pending`]): `load` takes it only through a registry client that holds
//! every commit until [`VerifiedBundle::check_pending`] has passed.

use std::collections::BTreeMap;
use std::io::Read;

use crate::bundle::{BundleIndex, UnverifiedBundle};
use crate::oci::{Descriptor, Digest, Graph, VerifyingReader};
use crate::sign::KeyId;
use crate::store::{LayoutIndex, RangeReader};

/// Where a verified entry lies in the bundle file, and what it hashed to.
#[derive(Debug, Clone)]
pub struct VerifiedEntry {
    /// Offset of the content in the bundle file.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Digest, checked.
    pub digest: Digest,
    /// Media type for manifest blobs.
    pub media_type: Option<String>,
}

/// Per entry path: the image (`index.json` reference name) it was first reached from, and its
/// descriptor.
pub(super) type Owners = BTreeMap<String, (String, Descriptor)>;

/// A bundle whose signature, index, entries and layout all checked out.
pub struct VerifiedBundle {
    bundle: UnverifiedBundle,
    index: BundleIndex,
    index_digest: Digest,
    signed_by: Vec<KeyId>,
    entries: BTreeMap<String, VerifiedEntry>,
    /// Entries whose size was checked but whose bytes are still to be hashed (see
    /// [`super::verify_deferring`]).
    pending: Vec<String>,
    /// For each pending entry: the image it was first reached from, and its descriptor.
    pending_owners: Owners,
    manifests: BTreeMap<Digest, Vec<u8>>,
    layout_index: LayoutIndex,
    graph: Graph,
}

impl VerifiedBundle {
    pub(super) fn new(
        bundle: UnverifiedBundle,
        (index, index_digest): (BundleIndex, Digest),
        signed_by: Vec<KeyId>,
        (entries, pending, pending_owners): (BTreeMap<String, VerifiedEntry>, Vec<String>, Owners),
        manifests: BTreeMap<Digest, Vec<u8>>,
        layout_index: LayoutIndex,
        graph: Graph,
    ) -> Self {
        Self {
            bundle,
            index,
            index_digest,
            signed_by,
            entries,
            pending,
            pending_owners,
            manifests,
            layout_index,
            graph,
        }
    }

    /// How many entries (and bytes) [`super::verify_deferring`] left to hash: none from
    /// [`super::verify`].
    #[must_use]
    pub fn pending(&self) -> (usize, u64) {
        let bytes = self.pending.iter().filter_map(|p| self.entries.get(p)).map(|e| e.size).sum();
        (self.pending.len(), bytes)
    }

    /// Hash the entries left pending, each read from the same open file: a failure for each
    /// that does not match the signed index (empty when all do, or none was pending). Safe to
    /// run on another thread while the bundle is read elsewhere.
    #[must_use]
    pub fn check_pending(&self, reporter: &dyn crate::progress::Reporter) -> Vec<super::Failure> {
        use super::{Failure, FailureCode};
        let mut failures = Vec::new();
        for path in &self.pending {
            let Some(e) = self.entries.get(path) else {
                failures.push(Failure::new(FailureCode::MissingEntry, path, "left to hash, but not in the bundle"));
                continue;
            };
            let task = reporter.start(&format!("verify {path}"), e.size);
            let mut reader = crate::progress::ProgressReader::new(RangeReader::new(self.bundle.file(), e.offset, e.size), &*task);
            let mut counter = crate::oci::DigestCounter::default();
            let mut buf = vec![0u8; 1 << 20];
            let read = loop {
                match reader.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => counter.update(&buf[..n]),
                    Err(err) => break Err(err),
                }
            };
            task.finish();
            let (digest, size) = counter.finish();
            let before = failures.len();
            match read {
                Err(err) => failures.push(Failure::new(FailureCode::MalformedArchive, path, format!("reading it: {err}"))),
                Ok(()) => failures.extend(Failure::of_content(path, (&e.digest, e.size), (&digest, size))),
            }
            // Then, as verification says of a blob it could not verify, which image needs it.
            if failures.len() > before
                && let Some((owner, desc)) = self.pending_owners.get(path)
            {
                failures.push(super::layout_check::missing_blob(owner, desc));
            }
        }
        failures
    }

    /// The SHA-256 of `bundle.json` exactly as signed: it names every entry by digest, so it
    /// names this release.
    #[must_use]
    pub fn index_digest(&self) -> &Digest {
        &self.index_digest
    }

    /// Every manifest of the layout, classified: derived again by verification from the
    /// verified manifests, and equal to what `bundle.json` lists.
    #[must_use]
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The signed index.
    #[must_use]
    pub fn index(&self) -> &BundleIndex {
        &self.index
    }

    /// Keys whose signatures verified.
    #[must_use]
    pub fn signed_by(&self) -> &[KeyId] {
        &self.signed_by
    }

    /// The layout's `index.json`.
    #[must_use]
    pub fn layout_index(&self) -> &LayoutIndex {
        &self.layout_index
    }

    /// Exact bytes of a verified manifest or index blob.
    #[must_use]
    pub fn manifest(&self, digest: &Digest) -> Option<&[u8]> {
        self.manifests.get(digest).map(Vec::as_slice)
    }

    /// The verified entry for a blob, if the bundle holds it.
    #[must_use]
    pub fn blob(&self, digest: &Digest) -> Option<&VerifiedEntry> {
        self.entries.get(&digest.layout_path())
    }

    /// Read a blob from the same open file that was verified, re-hashing as it goes: if the
    /// file changed since verification, the read fails at its end instead of passing bad bytes.
    #[must_use]
    pub fn open_blob(&self, digest: &Digest) -> Option<impl Read + Send + 'static> {
        let e = self.blob(digest)?;
        let range = RangeReader::new(self.bundle.file(), e.offset, e.size);
        Some(VerifyingReader::new(range, e.digest.clone(), e.size))
    }

    /// Where a verified blob lies: the very file that was verified, the offset of its bytes,
    /// and their count. For readers that must start again part way (a resumed upload), which
    /// hash what they read themselves.
    #[must_use]
    pub fn blob_range(&self, digest: &Digest) -> Option<(std::sync::Arc<std::fs::File>, u64, u64)> {
        let e = self.blob(digest)?;
        Some((self.bundle.file(), e.offset, e.size))
    }

    /// Read any verified entry (release files such as manifests), re-hashed as it is read.
    #[must_use]
    pub fn open_entry(&self, path: &str) -> Option<impl Read + Send + 'static> {
        let e = self.entries.get(path)?;
        let range = RangeReader::new(self.bundle.file(), e.offset, e.size);
        Some(VerifyingReader::new(range, e.digest.clone(), e.size))
    }
}
