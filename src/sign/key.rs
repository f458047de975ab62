//! Signing and public keys (ECDSA P-256 or Ed25519), and the key id sealift shows users.

use std::fmt;

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature};
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest as _, Sha256};

use super::{Error, cosign_pem};

/// The signature scheme of a key.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// ECDSA on P-256 over SHA-256, ASN.1 DER signatures: cosign's default, accepted by every
    /// cosign-compatible verifier.
    EcdsaP256,
    /// Pure Ed25519 (RFC 8032), 64-byte signatures. Fine for bundle signatures; cosign itself
    /// verifies Ed25519 image signatures as Ed25519ph, so image signatures stay P-256.
    Ed25519,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::Ed25519 => "ed25519",
        })
    }
}

/// Short, stable name of a public key: the first 16 hex digits of SHA-256 over its SPKI DER.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, serde::Serialize)]
pub struct KeyId(String);

impl KeyId {
    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Accept a user-written id: exactly 16 lowercase hex digits.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let ok = text.len() == 16 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(text.to_owned()))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone)]
enum Verifying {
    P256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// A public key used to check signatures.
#[derive(Clone)]
pub struct PublicKey {
    key: Verifying,
    spki_der: Vec<u8>,
    id: KeyId,
}

impl PublicKey {
    fn new(key: Verifying) -> Result<Self, Error> {
        let der = match &key {
            Verifying::P256(k) => k.to_public_key_der().map(|d| d.into_vec()),
            Verifying::Ed25519(k) => k.to_public_key_der().map(|d| d.into_vec()),
        }
        .map_err(|e| Error::InvalidPublicKey(e.to_string()))?;
        let id = KeyId(hex::encode(&Sha256::digest(&der)[..8]));
        Ok(Self { key, spki_der: der, id })
    }

    /// Read a `-----BEGIN PUBLIC KEY-----` PEM (cosign's `.pub` file) of a P-256 or Ed25519 key.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let pem = pem.trim();
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Self::new(Verifying::P256(k));
        }
        match ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            Ok(k) => Self::new(Verifying::Ed25519(k)),
            Err(e) => Err(Error::InvalidPublicKey(e.to_string())),
        }
    }

    /// The PEM text of this key.
    pub fn to_pem(&self) -> Result<String, Error> {
        match &self.key {
            Verifying::P256(k) => k.to_public_key_pem(LineEnding::LF),
            Verifying::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
        }
        .map_err(|e| Error::InvalidPublicKey(e.to_string()))
    }

    /// The key's id.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The signature scheme.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            Verifying::P256(_) => Algorithm::EcdsaP256,
            Verifying::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The X.509 SubjectPublicKeyInfo DER bytes.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// [`PublicKey::verify`], and the signature must be in the one encoding sealift writes
    /// (P-256: DER as `to_der` writes it, with a low S), so that nobody can re-encode a valid
    /// signature into other bytes that still verify (ECDSA's `s` and `n - s`).
    pub fn verify_canonical(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        self.verify(message, signature)?;
        if let Verifying::P256(_) = &self.key {
            let sig = Signature::from_der(signature).map_err(|_| Error::BadSignature(self.id.clone()))?;
            let canonical = sig.normalize_s();
            if canonical != sig || canonical.to_der().as_bytes() != signature {
                return Err(Error::BadSignature(self.id.clone()));
            }
        }
        Ok(())
    }

    /// Check a signature over `message`: ASN.1 DER for P-256, 64 raw bytes for Ed25519
    /// (strict verification: no malleable or small-order forms).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        let bad = || Error::BadSignature(self.id.clone());
        match &self.key {
            Verifying::P256(k) => {
                let sig = Signature::from_der(signature).map_err(|_| bad())?;
                k.verify(message, &sig).map_err(|_| bad())
            }
            Verifying::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature).map_err(|_| bad())?;
                k.verify_strict(message, &sig).map_err(|_| bad())
            }
        }
    }
}

/// Does `bytes` parse as a signature sealift makes: P-256 ECDSA in DER, or Ed25519's 64 bytes?
#[must_use]
pub fn is_well_formed_signature(bytes: &[u8]) -> bool {
    Signature::from_der(bytes).is_ok() || bytes.len() == ed25519_dalek::Signature::BYTE_SIZE
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.algorithm(), self.id)
    }
}

enum Signing {
    P256(p256::ecdsa::SigningKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

/// A private signing key. It has no `Debug` and never exposes its bytes except encrypted.
pub struct SigningKey {
    key: Signing,
}

impl SigningKey {
    /// A fresh random key from the system's random number generator.
    pub fn generate(algorithm: Algorithm) -> Result<Self, Error> {
        let key = match algorithm {
            Algorithm::EcdsaP256 => Signing::P256(p256::ecdsa::SigningKey::try_generate().map_err(|e| Error::Random(e.to_string()))?),
            Algorithm::Ed25519 => {
                let mut seed = zeroize::Zeroizing::new([0u8; 32]);
                getrandom::fill(seed.as_mut()).map_err(|e| Error::Random(e.to_string()))?;
                Signing::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
        };
        Ok(Self { key })
    }

    /// Read a private key PEM: cosign's encrypted format (either label), or an unencrypted
    /// PKCS#8 `PRIVATE KEY`. `passphrase` is only used for the encrypted form.
    pub fn from_pem(pem: &str, passphrase: &[u8]) -> Result<Self, Error> {
        let der = if cosign_pem::is_encrypted(pem) {
            cosign_pem::decrypt(pem, passphrase)?
        } else {
            let (_, doc) = p256::pkcs8::SecretDocument::from_pem(pem.trim()).map_err(|e| Error::InvalidPrivateKey(e.to_string()))?;
            zeroize::Zeroizing::new(doc.as_bytes().to_vec())
        };
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(&der) {
            return Ok(Self { key: Signing::P256(k) });
        }
        match ed25519_dalek::SigningKey::from_pkcs8_der(&der) {
            Ok(k) => Ok(Self {
                key: Signing::Ed25519(Box::new(k)),
            }),
            Err(e) => Err(Error::InvalidPrivateKey(format!("neither a P-256 nor an Ed25519 PKCS#8 key: {e}"))),
        }
    }

    /// The key as cosign's encrypted PEM, sealed with `passphrase`.
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> Result<String, Error> {
        let der = match &self.key {
            Signing::P256(k) => k.to_pkcs8_der(),
            Signing::Ed25519(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| Error::InvalidPrivateKey(e.to_string()))?;
        cosign_pem::encrypt(der.as_bytes(), passphrase)
    }

    /// The signature scheme.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            Signing::P256(_) => Algorithm::EcdsaP256,
            Signing::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey, Error> {
        match &self.key {
            Signing::P256(k) => PublicKey::new(Verifying::P256(*k.verifying_key())),
            Signing::Ed25519(k) => PublicKey::new(Verifying::Ed25519(k.verifying_key())),
        }
    }

    /// A signature over `message`: ASN.1 DER ECDSA P-256/SHA-256 (deterministic, RFC 6979), or
    /// 64 raw bytes of Ed25519.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            Signing::P256(k) => {
                // Low-S, so that each signature has one encoding (see `verify_canonical`).
                let sig: Signature = k.sign(message);
                let der: DerSignature = sig.normalize_s().to_der();
                der.as_bytes().to_vec()
            }
            Signing::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_only_for_the_signed_bytes_and_key() {
        for algorithm in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            let key = SigningKey::generate(algorithm).unwrap();
            let public = key.public_key().unwrap();
            let sig = key.sign(b"bundle");
            public.verify(b"bundle", &sig).unwrap();
            assert!(public.verify(b"bundle!", &sig).is_err());
            let other = SigningKey::generate(algorithm).unwrap().public_key().unwrap();
            assert!(other.verify(b"bundle", &sig).is_err());
            assert_ne!(other.id(), public.id());
        }
    }

    #[test]
    fn public_pem_round_trips_with_the_standard_spki_prefixes() {
        // Every SPKI of a key type starts with the same algorithm identifier bytes.
        for (algorithm, prefix) in [
            (Algorithm::EcdsaP256, "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"),
            (Algorithm::Ed25519, "MCowBQYDK2VwAyEA"),
        ] {
            let public = SigningKey::generate(algorithm).unwrap().public_key().unwrap();
            let pem = public.to_pem().unwrap();
            assert!(pem.contains(prefix), "{pem}");
            let back = PublicKey::from_pem(&pem).unwrap();
            assert_eq!(back.id(), public.id());
            assert_eq!(back.algorithm(), algorithm);
        }
    }

    #[test]
    fn encrypted_and_plain_pkcs8_keys_load_for_both_algorithms() {
        for algorithm in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            let key = SigningKey::generate(algorithm).unwrap();
            let id = key.public_key().unwrap().id().clone();
            let pem = key.to_encrypted_pem(b"pw").unwrap();
            let back = SigningKey::from_pem(&pem, b"pw").unwrap();
            assert_eq!(back.public_key().unwrap().id(), &id);
            assert_eq!(back.algorithm(), algorithm);
        }
        // Unencrypted PKCS#8, as `openssl genpkey` writes it.
        let p256 = p256::ecdsa::SigningKey::try_generate()
            .unwrap()
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap();
        assert_eq!(SigningKey::from_pem(&p256, b"").unwrap().algorithm(), Algorithm::EcdsaP256);
        let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32])
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap();
        assert_eq!(SigningKey::from_pem(&ed, b"").unwrap().algorithm(), Algorithm::Ed25519);
    }
}
