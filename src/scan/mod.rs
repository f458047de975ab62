//! Offline scanning: what is installed in an image (inventory), and which of it the offline
//! vulnerability database knows to be affected (matching).

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
}
