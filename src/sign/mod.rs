//! Keys and signatures, with no network and no knowledge of the bundle's layout.
//!
//! sealift signs with ECDSA P-256 over SHA-256 (ASN.1 DER signatures), cosign's default and the
//! one scheme every cosign-compatible verifier accepts. Key files use cosign's formats: an
//! SPKI `PUBLIC KEY` PEM, and an encrypted private key (scrypt + NaCl secretbox) that
//! `cosign sign --key` can read.

mod cosign_pem;
mod key;

pub use key::{KeyId, PublicKey, SigningKey};

/// Errors from key handling and signature checks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A public key file that is not an SPKI PEM of a P-256 key.
    #[error("not a P-256 public key in PEM (SPKI) form: {0}")]
    InvalidPublicKey(String),
    /// A private key file in a format sealift does not read.
    #[error("not a cosign/sigstore encrypted private key or PKCS#8 P-256 key: {0}")]
    InvalidPrivateKey(String),
    /// The passphrase did not open the encrypted key.
    #[error("wrong passphrase for the private key (decryption failed)")]
    WrongPassphrase,
    /// The signature does not verify with this key.
    #[error("signature does not verify with key {0}")]
    BadSignature(KeyId),
    /// The system random number generator failed.
    #[error("system random number generator failed: {0}")]
    Random(String),
}
