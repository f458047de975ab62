//! sealift: build signed air-gap bundles of container images and Kubernetes manifests, and
//! verify them, fail-closed, before anything reaches the disconnected site's registry.

pub mod audit;
pub mod bounded;
pub mod bundle;
pub mod check;
pub mod create;
#[doc(hidden)]
pub mod fuzzing;
pub mod harden;
pub mod load;
pub mod oci;
pub mod policy;
pub mod progress;
pub mod receipt;
pub mod registry;
pub mod scan;
pub mod sign;
pub mod source;
pub mod store;
pub mod verify;

/// Where sealift's documentation lives: the `informationUri` of its SARIF logs.
pub const HOMEPAGE: &str = "https://sealift.dev";
