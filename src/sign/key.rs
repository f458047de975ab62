//! P-256 signing and public keys, and the key id sealift shows users.

use std::fmt;

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature};
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest as _, Sha256};

use super::{Error, cosign_pem};

/// Short, stable name of a public key: the first 16 hex digits of SHA-256 over its SPKI DER.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, serde::Serialize)]
pub struct KeyId(String);

impl KeyId {
    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A public key used to check signatures.
#[derive(Clone)]
pub struct PublicKey {
    key: p256::ecdsa::VerifyingKey,
    id: KeyId,
}

impl PublicKey {
    fn from_verifying_key(key: p256::ecdsa::VerifyingKey) -> Result<Self, Error> {
        let der = key.to_public_key_der().map_err(|e| Error::InvalidPublicKey(e.to_string()))?;
        let id = KeyId(hex::encode(&Sha256::digest(der.as_bytes())[..8]));
        Ok(Self { key, id })
    }

    /// Read a `-----BEGIN PUBLIC KEY-----` PEM (cosign's `.pub` file).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let key = p256::ecdsa::VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| Error::InvalidPublicKey(e.to_string()))?;
        Self::from_verifying_key(key)
    }

    /// The PEM text of this key.
    pub fn to_pem(&self) -> Result<String, Error> {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| Error::InvalidPublicKey(e.to_string()))
    }

    /// The key's id.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// Check an ASN.1 DER ECDSA signature over `message`.
    pub fn verify(&self, message: &[u8], der_signature: &[u8]) -> Result<(), Error> {
        let sig = Signature::from_der(der_signature).map_err(|_| Error::BadSignature(self.id.clone()))?;
        self.key.verify(message, &sig).map_err(|_| Error::BadSignature(self.id.clone()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

/// A private signing key. It has no `Debug` and never exposes its bytes except encrypted.
pub struct SigningKey {
    key: p256::ecdsa::SigningKey,
}

impl SigningKey {
    /// A fresh random key from the system's random number generator.
    pub fn generate() -> Result<Self, Error> {
        let key = p256::ecdsa::SigningKey::try_generate().map_err(|e| Error::Random(e.to_string()))?;
        Ok(Self { key })
    }

    /// Read a private key PEM: cosign's encrypted format (either label), or an unencrypted
    /// PKCS#8 `PRIVATE KEY`. `passphrase` is only used for the encrypted form.
    pub fn from_pem(pem: &str, passphrase: &[u8]) -> Result<Self, Error> {
        let der = if pem.contains(cosign_pem::ENCRYPTED_LABEL_TAIL) {
            cosign_pem::decrypt(pem, passphrase)?
        } else {
            let (_, doc) = p256::pkcs8::SecretDocument::from_pem(pem.trim()).map_err(|e| Error::InvalidPrivateKey(e.to_string()))?;
            zeroize::Zeroizing::new(doc.as_bytes().to_vec())
        };
        let key = p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(|e| Error::InvalidPrivateKey(e.to_string()))?;
        Ok(Self { key })
    }

    /// The key as cosign's encrypted PEM, sealed with `passphrase`.
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> Result<String, Error> {
        let der = self.key.to_pkcs8_der().map_err(|e| Error::InvalidPrivateKey(e.to_string()))?;
        cosign_pem::encrypt(der.as_bytes(), passphrase)
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey, Error> {
        PublicKey::from_verifying_key(*self.key.verifying_key())
    }

    /// An ASN.1 DER ECDSA P-256/SHA-256 signature over `message`.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: Signature = self.key.sign(message);
        let der: DerSignature = sig.to_der();
        der.as_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_only_for_the_signed_bytes_and_key() {
        let key = SigningKey::generate().unwrap();
        let public = key.public_key().unwrap();
        let sig = key.sign(b"bundle");
        public.verify(b"bundle", &sig).unwrap();
        assert!(public.verify(b"bundle!", &sig).is_err());
        let other = SigningKey::generate().unwrap().public_key().unwrap();
        assert!(other.verify(b"bundle", &sig).is_err());
        assert_ne!(other.id(), public.id());
    }

    #[test]
    fn public_pem_round_trips_with_cosign_prefix() {
        let public = SigningKey::generate().unwrap().public_key().unwrap();
        let pem = public.to_pem().unwrap();
        // Every P-256 SPKI starts with the same algorithm identifier bytes.
        assert!(pem.contains("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"), "{pem}");
        assert_eq!(PublicKey::from_pem(&pem).unwrap().id(), public.id());
    }
}
