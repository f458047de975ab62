//! Keys and signatures, with no network and no knowledge of the bundle's layout.
//!
//! sealift signs with ECDSA P-256 over SHA-256 (ASN.1 DER signatures), cosign's default and the
//! one scheme every cosign-compatible verifier accepts; Ed25519 keys may co-sign bundles. Key
//! files use cosign's formats: an SPKI `PUBLIC KEY` PEM, and an encrypted private key (scrypt +
//! NaCl secretbox) that `cosign sign --key` can read. Image signatures are built in cosign's
//! two formats ([`artifact`]).

pub mod artifact;
pub mod attestation;
mod cosign_pem;
pub mod dsse;
mod key;
pub mod sigstore_bundle;
pub mod simple_signing;
mod trust;

use crate::oci::Digest;

pub use key::{Algorithm, KeyId, PublicKey, SigningKey, is_well_formed_signature};
pub use trust::{KeyStatus, TrustError, TrustPolicy, TrustedKey};

/// Errors from key handling and signature checks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A public key file that is not an SPKI PEM of a P-256 or Ed25519 key.
    #[error("not a P-256 or Ed25519 public key in PEM (SPKI) form: {0}")]
    InvalidPublicKey(String),
    /// A private key file in a format sealift does not read.
    #[error("not a cosign/sigstore encrypted private key or a PKCS#8 P-256/Ed25519 key: {0}")]
    InvalidPrivateKey(String),
    /// The passphrase did not open the encrypted key.
    #[error("wrong passphrase for the private key (decryption failed)")]
    WrongPassphrase,
    /// The signature does not verify with this key.
    #[error("signature does not verify with key {0}")]
    BadSignature(KeyId),
    /// A signed document that does not have the required shape.
    #[error("{what}: {reason}")]
    MalformedPayload {
        /// Which kind of document.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A valid signature over a statement about another image.
    #[error("statement is about {found}, expected {expected}")]
    SubjectMismatch {
        /// The digest being verified.
        expected: Digest,
        /// The digests the statement names.
        found: String,
    },
    /// The system random number generator failed.
    #[error("system random number generator failed: {0}")]
    Random(String),
}
