//! Release descriptions and policy: `sealift.yaml`, parsed strictly (unknown keys are errors
//! with their line and column). Pure: reads only the file it is given.

pub mod hardening;
mod release;
pub mod vulns;

pub use release::{ImageSpec, Release, ScanSettings};
pub use vulns::VulnPolicy;

/// Errors in `sealift.yaml`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file does not match the schema; the message carries the position.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong and where (line, column).
        message: String,
    },
}
