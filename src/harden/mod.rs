//! Manifest hardening: pure transforms of Kubernetes objects and the findings that remain
//! (no cluster, no network).

pub mod pss;
pub mod yaml;
