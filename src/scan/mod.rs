//! Offline scanning: what is installed in an image (inventory), and which of it the offline
//! vulnerability database knows to be affected (matching).

pub mod cvss;
pub mod db;
pub mod formats;
pub mod image;
pub mod inventory;
pub mod matcher;
pub mod package;
pub mod report;
pub mod version;

pub use report::Report;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("manifest {digest}: {reason}")]
    Manifest { digest: String, reason: String },
    #[error(transparent)]
    Inventory(#[from] inventory::Error),
    #[error(transparent)]
    Database(#[from] db::Error),
    /// Something that should not happen did (a bug); named rather than a crash or a hang.
    #[error("internal error: {0}")]
    Internal(String),
    /// A layer of a runnable image that cannot be read whole as a tar stream.
    #[error("image `{image}`{platform}: layer {layer} ({media_type}): {reason}")]
    Layer {
        image: String,
        /// ` (os/arch)`, when known.
        platform: String,
        layer: String,
        media_type: String,
        reason: String,
    },
}

impl Error {
    /// Name the image (and platform) a layer error happened in.
    #[must_use]
    pub fn in_image(self, image: &str, platform: Option<&crate::oci::Platform>) -> Self {
        match self {
            Self::Layer {
                layer, media_type, reason, ..
            } => Self::Layer {
                image: image.to_owned(),
                platform: platform.map(|p| format!(" ({p})")).unwrap_or_default(),
                layer,
                media_type,
                reason,
            },
            other => other,
        }
    }
}
