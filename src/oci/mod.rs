//! The OCI vocabulary every other module speaks. No I/O beyond wrapping a reader.
//!
//! Glossary:
//! - **digest**: `sha256:<hex>` of exact bytes; the identity of a blob or manifest.
//! - **descriptor**: media type + digest + size pointing at content.
//! - **manifest**: an image (config + layers) or an **index** (a list of manifests, often one
//!   per **platform**).
//! - **blob**: any content addressed by digest (configs, layers, manifests in a layout).
//! - **reference**: `registry/repository[:tag][@digest]`; only a digest pins content.
//! - **layout**: the OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).

mod digest;
pub mod graph;
pub mod manifest;
pub mod media_type;
mod platform;
mod reference;
mod source_ref;
mod verifying_reader;

pub use digest::Digest;
pub use graph::{Graph, ManifestKind};
pub use manifest::{Descriptor, Manifest};
pub use platform::Platform;
pub use reference::{DEFAULT_REGISTRY, Reference, parse_repository_tag};
pub use source_ref::SourceRef;
pub use verifying_reader::{DigestCounter, VerifyingReader};

/// Errors in OCI vocabulary: malformed digests, references, platforms or manifests.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a well-formed `sha256:<64 lowercase hex>` digest.
    #[error("invalid digest `{0}`: expected sha256:<64 lowercase hex>")]
    InvalidDigest(String),
    /// A digest with an algorithm other than sha256.
    #[error("unsupported digest algorithm in `{0}`: only sha256 is accepted")]
    UnsupportedDigestAlgorithm(String),
    /// An image reference that does not parse.
    #[error("invalid image reference `{reference}`: {reason}")]
    InvalidReference {
        /// The text given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A platform that is not `os/arch[/variant]`.
    #[error("invalid platform `{0}`: expected os/architecture[/variant]")]
    InvalidPlatform(String),
    /// A manifest that does not parse or is inconsistent.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
}
