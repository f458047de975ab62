//! Offline scanning: what is installed in an image (inventory), and which of it the offline
//! vulnerability database knows to be affected (matching).

pub mod db;
pub mod inventory;
pub mod matcher;
pub mod package;
pub mod version;
