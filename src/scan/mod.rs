//! Offline scanning: what is in an image, and what is known to be wrong with it, from files
//! only. No network, and no pass/fail: policy decides that elsewhere.

pub mod db;
pub mod version;
