//! The bundle file format: write it, and read it safely. No trust decisions here: reading
//! yields an [`UnverifiedBundle`] that only `verify` can turn into something `load` accepts.
//!
//! A bundle is one uncompressed tar whose entries come in this order, so the far side can
//! verify it in a single streaming pass:
//!
//! ```text
//! sealift/bundle.json              the index: every other entry with size and sha256 (signed)
//! sealift/bundle.json.sig.<keyid>  ASN.1 DER ECDSA P-256 signature over bundle.json's bytes
//! sealift/manifests/...            release files (Kubernetes manifests)
//! sealift/scan/<hex>/...           scan report and CycloneDX SBOM per image manifest
//! oci-layout, index.json           OCI image layout
//! blobs/sha256/<hex>               manifests and indexes first, then configs and layers
//! ```
//!
//! Tar headers are GNU format, mode 0644, owner 0:0, mtime = the bundle's creation time, with
//! no directory entries, so equal inputs give byte-identical bundles.

mod co_sign;
mod index;
mod read;
mod write;

pub use co_sign::{CoSigned, add_signature};
pub use index::{
    ArtifactRecord, BundleIndex, Entry, HardenRecord, ImageRecord, NotScannedRecord, PlatformRecord, RuntimeConfig, SCHEMA_VERSION,
    ScanDatabase, ScanRecord, ScanReportRecord, SignatureOrigin, SignatureRecord, Tool, graph_records,
};
pub use read::{EntryKind, Listed, Peek, RawEntry, UnverifiedBundle, file_digest};
pub use write::{BundleContents, BundleFile, WriteReport, write};

/// Path of the bundle index inside the tar.
pub const INDEX_PATH: &str = "sealift/bundle.json";
/// Prefix of signature entries; the key id follows.
pub const SIGNATURE_PREFIX: &str = "sealift/bundle.json.sig.";
/// Largest `bundle.json` a reader accepts.
pub const MAX_INDEX_SIZE: u64 = 64 * 1024 * 1024;
/// Largest signature entry a reader accepts.
pub const MAX_SIGNATURE_SIZE: u64 = 4096;
/// Most signature entries a bundle may carry (one per signing key).
pub const MAX_SIGNATURES: usize = 32;

/// Errors writing or reading a bundle file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// File system error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The tar structure is broken or uses something sealift never writes.
    #[error("malformed archive at byte {offset}: {reason}")]
    Malformed {
        /// Position in the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An input to the writer is not acceptable.
    #[error("cannot write bundle: {0}")]
    Input(String),
    /// Serialising the index failed.
    #[error("cannot serialise bundle.json: {0}")]
    Json(#[from] serde_json::Error),
    /// A layout error while collecting blobs.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// Is `path` a safe, normalised relative path (no `..`, no absolute, no empty parts)?
#[must_use]
pub fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}
