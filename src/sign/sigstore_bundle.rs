//! Sigstore bundle v0.3 with a DSSE envelope and a public-key hint: cosign v3's image
//! signature format when signing with a key and no transparency log (air-gapped).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::dsse::{COSIGN_SIGN_PREDICATE, Envelope};
use super::{Error, PublicKey, SigningKey};
use crate::oci::Digest;

/// Media type of a Sigstore bundle v0.3 (also the referrer's artifact type).
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A Sigstore bundle holding a DSSE envelope.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SigstoreBundle {
    /// [`BUNDLE_V03`].
    pub media_type: String,
    /// How to find the key.
    pub verification_material: VerificationMaterial,
    /// The signed statement. (Bundles with a `messageSignature` instead do not parse.)
    pub dsse_envelope: Envelope,
}

/// Key material of a key-based bundle: only a hint; the verifier brings the key.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// The key hint.
    pub public_key: KeyHint,
    /// Transparency log entries; none when signing offline. Written even when empty: the
    /// protobuf JSON mapping allows leaving it out, but sigstore-python and sigstore-models
    /// refuse a bundle without it.
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
}

/// `{"hint": ...}`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct KeyHint {
    /// base64 of SHA-256 over the key's SPKI DER.
    pub hint: String,
}

/// The hint sealift writes for a key.
#[must_use]
pub fn key_hint(key: &PublicKey) -> String {
    STANDARD.encode(Sha256::digest(key.spki_der()))
}

impl SigstoreBundle {
    /// Sign `digest` (known as `subject_name`) the way `cosign sign --key` does in bundle form.
    pub fn sign_image(key: &SigningKey, subject_name: &str, digest: &Digest) -> Result<Self, Error> {
        let public = key.public_key()?;
        Ok(Self {
            media_type: BUNDLE_V03.to_owned(),
            verification_material: VerificationMaterial {
                public_key: KeyHint { hint: key_hint(&public) },
                tlog_entries: Vec::new(),
            },
            dsse_envelope: Envelope::sign_statement(key, subject_name, digest, COSIGN_SIGN_PREDICATE),
        })
    }

    /// A bundle around an envelope already signed (an attestation), hinting at `key`.
    #[must_use]
    pub fn of_envelope(key: &PublicKey, envelope: Envelope) -> Self {
        Self {
            media_type: BUNDLE_V03.to_owned(),
            verification_material: VerificationMaterial {
                public_key: KeyHint { hint: key_hint(key) },
                tlog_entries: Vec::new(),
            },
            dsse_envelope: envelope,
        }
    }

    /// Parse bundle bytes (v0.3 media type required).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |reason: String| Error::MalformedPayload {
            what: "Sigstore bundle",
            reason,
        };
        let b: Self = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if b.media_type != BUNDLE_V03 {
            return Err(bad(format!("mediaType `{}`, expected `{BUNDLE_V03}`", b.media_type)));
        }
        Ok(b)
    }

    /// The JSON bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Check that this bundle is `key`'s signature over image `digest`.
    pub fn verify_image(&self, key: &PublicKey, digest: &Digest) -> Result<(), Error> {
        self.dsse_envelope.verify_statement(key, digest, COSIGN_SIGN_PREDICATE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::Algorithm;

    #[test]
    fn bundle_round_trips_through_json_and_verifies() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let d = Digest::of(b"index");
        let bytes = SigstoreBundle::sign_image(&key, "app/multi", &d).unwrap().to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":""#
            ),
            "{text}"
        );
        assert!(text.contains(r#""tlogEntries":[]"#), "{text}");
        let back = SigstoreBundle::parse(&bytes).unwrap();
        back.verify_image(&key.public_key().unwrap(), &d).unwrap();
        assert!(back.verify_image(&key.public_key().unwrap(), &Digest::of(b"x")).is_err());
        let v01 = text.replace("bundle.v0.3", "bundle.v0.1");
        assert!(SigstoreBundle::parse(v01.as_bytes()).is_err());
    }
}
