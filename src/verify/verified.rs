//! The proof that a bundle passed verification. Only this module's parent can build one, and
//! `load` accepts nothing else.

use std::collections::BTreeMap;
use std::io::Read;

use crate::bundle::{BundleIndex, UnverifiedBundle};
use crate::oci::{Digest, Graph, VerifyingReader};
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

/// A bundle whose signature, index, entries and layout all checked out.
pub struct VerifiedBundle {
    bundle: UnverifiedBundle,
    index: BundleIndex,
    index_digest: Digest,
    signed_by: Vec<KeyId>,
    entries: BTreeMap<String, VerifiedEntry>,
    manifests: BTreeMap<Digest, Vec<u8>>,
    layout_index: LayoutIndex,
    graph: Graph,
}

impl VerifiedBundle {
    pub(super) fn new(
        bundle: UnverifiedBundle,
        (index, index_digest): (BundleIndex, Digest),
        signed_by: Vec<KeyId>,
        entries: BTreeMap<String, VerifiedEntry>,
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
            manifests,
            layout_index,
            graph,
        }
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
