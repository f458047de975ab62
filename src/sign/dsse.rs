//! DSSE envelopes (Dead Simple Signing Envelope) carrying in-toto statements.
//!
//! The signature covers the pre-authentication encoding (PAE) of the payload type and body,
//! never the JSON around it, so the envelope itself can be re-serialised freely.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{Error, PublicKey, SigningKey};
use crate::oci::Digest;

/// Payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The predicate cosign uses for a plain image signature in bundle form.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// `DSSEv1 SP len(type) SP type SP len(body) SP body`.
#[must_use]
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// A DSSE envelope as it appears in a Sigstore bundle (`dsseEnvelope`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The statement, base64.
    pub payload: String,
    /// What the payload is.
    pub payload_type: String,
    /// One or more signatures over the PAE.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The signature, base64.
    pub sig: String,
    /// Optional key hint; cosign leaves it empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
}

#[derive(Serialize, Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    predicate: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct Subject {
    #[serde(default)]
    name: String,
    digest: std::collections::BTreeMap<String, String>,
}

impl Envelope {
    /// Sign an in-toto statement that `subject_name` at `digest` carries `predicate_type`
    /// with an empty predicate: what `cosign sign` writes in bundle form.
    #[must_use]
    pub fn sign_statement(key: &SigningKey, subject_name: &str, digest: &Digest, predicate_type: &str) -> Self {
        let statement = Statement {
            kind: STATEMENT_V1.to_owned(),
            subject: vec![Subject {
                name: subject_name.to_owned(),
                digest: [("sha256".to_owned(), digest.hex().to_owned())].into(),
            }],
            predicate_type: predicate_type.to_owned(),
            predicate: serde_json::json!({}),
        };
        let body = serde_json::to_vec(&statement).unwrap_or_default();
        Self::sign(key, IN_TOTO_PAYLOAD_TYPE, &body)
    }

    /// Sign `body` of `payload_type`: one signature over the PAE, without a key hint.
    #[must_use]
    pub fn sign(key: &SigningKey, payload_type: &str, body: &[u8]) -> Self {
        let sig = key.sign(&pae(payload_type, body));
        Self {
            payload: STANDARD.encode(body),
            payload_type: payload_type.to_owned(),
            signatures: vec![EnvelopeSignature {
                sig: STANDARD.encode(sig),
                keyid: String::new(),
            }],
        }
    }

    /// The payload, once some signature verifies with `key` over the PAE. Nothing of the
    /// payload should be read before this.
    pub fn verified_payload(&self, key: &PublicKey) -> Result<Vec<u8>, Error> {
        let body = STANDARD.decode(&self.payload).map_err(|e| Error::MalformedPayload {
            what: "DSSE envelope",
            reason: format!("payload base64: {e}"),
        })?;
        let message = pae(&self.payload_type, &body);
        let signed = self
            .signatures
            .iter()
            .any(|s| STANDARD.decode(&s.sig).is_ok_and(|sig| key.verify(&message, &sig).is_ok()));
        if signed {
            Ok(body)
        } else {
            Err(Error::BadSignature(key.id().clone()))
        }
    }

    /// An envelope around `body` with no signature: what is written when no key is given.
    #[must_use]
    pub fn unsigned(payload_type: &str, body: &[u8]) -> Self {
        Self {
            payload: STANDARD.encode(body),
            payload_type: payload_type.to_owned(),
            signatures: Vec::new(),
        }
    }

    /// Check that some signature verifies with `key`, that the payload is an in-toto statement
    /// of `predicate_type`, and that one of its subjects is `digest`.
    pub fn verify_statement(&self, key: &PublicKey, digest: &Digest, predicate_type: &str) -> Result<(), Error> {
        let bad = |reason: String| Error::MalformedPayload {
            what: "DSSE envelope",
            reason,
        };
        if self.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(bad(format!(
                "payloadType `{}`, expected `{IN_TOTO_PAYLOAD_TYPE}`",
                self.payload_type
            )));
        }
        let body = STANDARD.decode(&self.payload).map_err(|e| bad(format!("payload base64: {e}")))?;
        let message = pae(&self.payload_type, &body);
        let signed = self
            .signatures
            .iter()
            .any(|s| STANDARD.decode(&s.sig).is_ok_and(|sig| key.verify(&message, &sig).is_ok()));
        if !signed {
            return Err(Error::BadSignature(key.id().clone()));
        }
        // Only what the signature covers is parsed.
        let statement: Statement = serde_json::from_slice(&body).map_err(|e| bad(format!("statement: {e}")))?;
        if statement.kind != STATEMENT_V1 && statement.kind != "https://in-toto.io/Statement/v0.1" {
            return Err(bad(format!("statement _type `{}`", statement.kind)));
        }
        if statement.predicate_type != predicate_type {
            return Err(bad(format!(
                "predicateType `{}`, expected `{predicate_type}`",
                statement.predicate_type
            )));
        }
        let names_digest = statement
            .subject
            .iter()
            .any(|s| s.digest.get("sha256").is_some_and(|h| h == digest.hex()));
        if !names_digest {
            let found: Vec<String> = statement
                .subject
                .iter()
                .map(|s| {
                    s.digest
                        .get("sha256")
                        .map_or_else(|| "(no sha256)".into(), |h| format!("sha256:{h}"))
                })
                .collect();
            return Err(Error::SubjectMismatch {
                expected: digest.clone(),
                found: found.join(", "),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::Algorithm;

    #[test]
    fn pae_matches_the_spec_example() {
        // The worked example from the DSSE protocol description.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn statement_verifies_only_for_its_key_digest_and_predicate() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let public = key.public_key().unwrap();
        let d = Digest::of(b"image");
        let env = Envelope::sign_statement(&key, "app/api", &d, COSIGN_SIGN_PREDICATE);
        env.verify_statement(&public, &d, COSIGN_SIGN_PREDICATE).unwrap();

        let other = Digest::of(b"other image");
        assert!(matches!(
            env.verify_statement(&public, &other, COSIGN_SIGN_PREDICATE),
            Err(Error::SubjectMismatch { .. })
        ));
        assert!(env.verify_statement(&public, &d, "https://example.com/other").is_err());
        let stranger = SigningKey::generate(Algorithm::EcdsaP256).unwrap().public_key().unwrap();
        assert!(matches!(
            env.verify_statement(&stranger, &d, COSIGN_SIGN_PREDICATE),
            Err(Error::BadSignature(_))
        ));
        // Swapping in a statement about another digest breaks the signature.
        let forged = Envelope::sign_statement(&key, "app/api", &other, COSIGN_SIGN_PREDICATE);
        let spliced = Envelope {
            payload: forged.payload,
            ..env
        };
        assert!(matches!(
            spliced.verify_statement(&public, &other, COSIGN_SIGN_PREDICATE),
            Err(Error::BadSignature(_))
        ));
    }
}
