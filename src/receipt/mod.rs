//! Import receipts: signed evidence of what a `load` did, kept by the site.
//!
//! A receipt is a DSSE envelope over an in-toto Statement v1. Its subjects are every image
//! manifest and platform manifest loaded (or, when verification failed and nothing was
//! loaded, the bundle file itself). Its predicate is a SLSA verification summary
//! (`https://slsa.dev/verification_summary/v1`): verifier, time, the bundle as resource, the
//! trust policy, PASSED or FAILED. What SLSA has no field for (who ran it, the target
//! registry, blobs pushed per image, rollback) is in the extension field [`EXTENSION`].
//!
//! Building is pure; the caller writes the file and attaches the envelope to the images.

mod operator;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use operator::Operator;

use crate::oci::Digest;
use crate::sign::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1};
use crate::sign::{PublicKey, SigningKey};

/// The SLSA verification summary predicate, v1.
pub const VSA_V1: &str = "https://slsa.dev/verification_summary/v1";
/// The predicate's extension field holding [`Import`].
pub const EXTENSION: &str = "https://sealift.dev/receipt/import/v1";
/// `verifier.id` of a `load` receipt.
pub const VERIFIER_ID: &str = "urn:sealift:load";

/// Errors reading a receipt.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The envelope is not signed by the site key.
    #[error(transparent)]
    Signature(#[from] crate::sign::Error),
    /// Signed, but not a sealift import receipt.
    #[error("not a sealift import receipt: {0}")]
    NotAReceipt(String),
    /// The statement could not be encoded (cannot happen for these types; kept as an error).
    #[error("encoding the receipt: {0}")]
    Encode(#[source] serde_json::Error),
}

/// PASSED or FAILED, as the VSA spells them.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Verified and loaded.
    Passed,
    /// Verification failed, or the load was refused: nothing was pushed.
    Failed,
}

/// The bundle the receipt is about.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BundleFacts {
    /// The bundle's file name (no directories).
    pub file: String,
    /// sha256 of the whole file.
    pub sha256: Digest,
    /// Release name, once `bundle.json` is trusted.
    pub name: Option<String>,
    /// Creation time (RFC 3339), once trusted.
    pub created: Option<String>,
    /// Digest of the signed `bundle.json`, once trusted: the bundle's identity.
    pub index: Option<Digest>,
    /// The `bundle.json` digest of the bundle this one declares it follows.
    pub follows: Option<Digest>,
}

/// One key of the trust policy.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Signer {
    /// Name from the trust policy or key file.
    pub name: String,
    /// Key id (sha256 of the SPKI).
    pub key_id: String,
    /// It signed `bundle.json`.
    pub signed: bool,
    /// Signed and valid: counted towards the threshold.
    pub counted: bool,
}

/// The trust policy applied.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyFacts {
    /// sha256 over the sorted key ids and the threshold.
    pub digest: Digest,
    /// Distinct valid keys required.
    pub threshold: usize,
    /// Whether enough signed.
    pub threshold_met: bool,
    /// Every key of the policy.
    pub signers: Vec<Signer>,
}

impl PolicyFacts {
    /// The facts for `signers` and `threshold`, with the policy digest computed from them.
    #[must_use]
    pub fn new(signers: Vec<Signer>, threshold: usize, threshold_met: bool) -> Self {
        let mut ids: Vec<&str> = signers.iter().map(|s| s.key_id.as_str()).collect();
        ids.sort_unstable();
        let digest = Digest::of(format!("threshold={threshold}\n{}", ids.join("\n")).as_bytes());
        Self {
            digest,
            threshold,
            threshold_met,
            signers,
        }
    }
}

/// One image loaded.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImageFacts {
    /// Where it was pushed: `host/repo:tag`, or `host/repo` for an untagged image.
    pub reference: String,
    /// Its manifest (or index) digest.
    pub digest: Digest,
    /// Platform manifests under an index.
    pub platforms: Vec<Digest>,
    /// Blobs uploaded.
    pub blobs_pushed: usize,
    /// Blobs the registry already had (in this repository, or in another it mounted them from).
    pub blobs_skipped: usize,
    /// Bytes uploaded.
    pub bytes_pushed: u64,
}

/// A rollback let through with `--allow-rollback`: the newer bundle already loaded.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// Creation time of the newest bundle of the same name already loaded.
    pub newer_created: String,
    /// Its `bundle.json` digest.
    pub newer_index: Digest,
}

/// Everything a receipt records, in the extension field [`EXTENSION`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Import {
    /// Who ran it.
    pub operator: Operator,
    /// Target registry, `HOST[:PORT]`.
    pub registry: String,
    /// The bundle.
    pub bundle: BundleFacts,
    /// The trust policy.
    pub policy: PolicyFacts,
    /// The outcome.
    pub result: Verdict,
    /// Why it failed: verification failure codes with their paths, or the refusal.
    pub failures: Vec<String>,
    /// Images loaded (empty when FAILED).
    pub images: Vec<ImageFacts>,
    /// Set when an older bundle was loaded over a newer one on purpose.
    pub rollback: Option<Rollback>,
    /// Start of the run, RFC 3339 UTC.
    pub started: String,
    /// End of the run, RFC 3339 UTC.
    pub finished: String,
}

impl Import {
    /// The in-toto statement: subjects, and the VSA predicate with [`Import`] as extension.
    #[must_use]
    pub fn statement(&self) -> Value {
        let mut subjects: Vec<Value> = Vec::new();
        for image in &self.images {
            subjects.push(json!({"name": image.reference, "digest": {"sha256": image.digest.hex()}}));
            for p in &image.platforms {
                subjects.push(json!({"name": image.reference, "digest": {"sha256": p.hex()}}));
            }
        }
        if subjects.is_empty() {
            subjects.push(json!({"name": self.bundle.file, "digest": {"sha256": self.bundle.sha256.hex()}}));
        }
        let passed = self.result == Verdict::Passed;
        let inputs: Vec<Value> = self
            .bundle
            .index
            .iter()
            .map(|d| json!({"uri": format!("{}#sealift/bundle.json", self.resource_uri()), "digest": {"sha256": d.hex()}}))
            .collect();
        let levels: Vec<&str> = if passed {
            vec![
                "SEALIFT_BUNDLE_SIGNATURES_VERIFIED",
                "SEALIFT_DIGESTS_VERIFIED",
                "SEALIFT_IMAGE_SIGNATURES_VERIFIED",
            ]
        } else {
            Vec::new()
        };
        json!({
            "_type": STATEMENT_V1,
            "subject": subjects,
            "predicateType": VSA_V1,
            "predicate": {
                "verifier": {"id": VERIFIER_ID, "version": {"sealift": env!("CARGO_PKG_VERSION")}},
                "timeVerified": self.finished,
                "resourceUri": self.resource_uri(),
                "policy": {"uri": "urn:sealift:trust-policy", "digest": {"sha256": self.policy.digest.hex()}},
                "inputAttestations": inputs,
                "verificationResult": if passed { "PASSED" } else { "FAILED" },
                "verifiedLevels": levels,
                EXTENSION: self,
            },
        })
    }

    /// `urn:sealift:bundle:<file sha256>`: the bundle as a resource, named by its bytes.
    #[must_use]
    pub fn resource_uri(&self) -> String {
        format!("urn:sealift:bundle:sha256:{}", self.bundle.sha256.hex())
    }

    /// The receipt: the statement in a DSSE envelope, signed with `key`, or unsigned.
    pub fn envelope(&self, key: Option<&SigningKey>) -> Result<Envelope, Error> {
        let body = serde_json::to_vec(&self.statement()).map_err(Error::Encode)?;
        Ok(match key {
            Some(key) => Envelope::sign(key, IN_TOTO_PAYLOAD_TYPE, &body),
            None => Envelope::unsigned(IN_TOTO_PAYLOAD_TYPE, &body),
        })
    }

    /// Read the receipt in an attestation layer (a bare envelope in the `.att` image, or a
    /// Sigstore bundle in a referrer), signed by `key`.
    pub fn from_layer(format: crate::sign::artifact::SignatureFormat, layer: &[u8], key: &PublicKey) -> Result<(Self, Vec<Digest>), Error> {
        let envelope = crate::sign::attestation::envelope_of(format, layer)?;
        Self::from_envelope(&envelope, key)
    }

    /// Read a receipt signed by `key`: the signature first, then the statement's type and
    /// predicate, then the extension.
    pub fn from_envelope(envelope: &Envelope, key: &PublicKey) -> Result<(Self, Vec<Digest>), Error> {
        let body = envelope.verified_payload(key)?;
        if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(Error::NotAReceipt(format!("payloadType `{}`", envelope.payload_type)));
        }
        let statement: Value = serde_json::from_slice(&body).map_err(|e| Error::NotAReceipt(e.to_string()))?;
        if statement["_type"] != STATEMENT_V1 || statement["predicateType"] != VSA_V1 {
            return Err(Error::NotAReceipt(format!(
                "statement {} of {}",
                statement["_type"], statement["predicateType"]
            )));
        }
        let predicate = &statement["predicate"];
        if predicate["verifier"]["id"] != VERIFIER_ID {
            return Err(Error::NotAReceipt(format!("verifier {}", predicate["verifier"]["id"])));
        }
        let import: Self =
            serde_json::from_value(predicate[EXTENSION].clone()).map_err(|e| Error::NotAReceipt(format!("{EXTENSION}: {e}")))?;
        let stated = if predicate["verificationResult"] == "PASSED" {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
        if stated != import.result {
            return Err(Error::NotAReceipt("verificationResult and the extension's result differ".into()));
        }
        let subjects = statement["subject"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["digest"]["sha256"].as_str())
                    .filter_map(|h| Digest::from_hex(h).ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok((import, subjects))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::Algorithm;

    pub(crate) fn sample(result: Verdict) -> Import {
        Import {
            operator: Operator::current(),
            registry: "registry.site:5000".into(),
            bundle: BundleFacts {
                file: "release.bundle".into(),
                sha256: Digest::of(b"bundle file"),
                name: Some("shop".into()),
                created: Some("2026-11-01T00:00:00Z".into()),
                index: Some(Digest::of(b"bundle.json")),
                follows: None,
            },
            policy: PolicyFacts::new(Vec::new(), 1, result == Verdict::Passed),
            result,
            failures: Vec::new(),
            images: vec![ImageFacts {
                reference: "registry.site:5000/app/api:1.0".into(),
                digest: Digest::of(b"index"),
                platforms: vec![Digest::of(b"amd64")],
                blobs_pushed: 2,
                blobs_skipped: 1,
                bytes_pushed: 100,
            }],
            rollback: None,
            started: "2026-12-01T00:00:00Z".into(),
            finished: "2026-12-01T00:00:01Z".into(),
        }
    }

    #[test]
    fn a_signed_receipt_reads_back_only_with_its_key() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let import = sample(Verdict::Passed);
        let envelope = import.envelope(Some(&key)).unwrap();
        let (back, subjects) = Import::from_envelope(&envelope, &key.public_key().unwrap()).unwrap();
        assert_eq!(back, import);
        assert_eq!(subjects, vec![Digest::of(b"index"), Digest::of(b"amd64")]);
        let stranger = SigningKey::generate(Algorithm::EcdsaP256).unwrap().public_key().unwrap();
        assert!(matches!(Import::from_envelope(&envelope, &stranger), Err(Error::Signature(_))));
        assert!(Import::from_envelope(&import.envelope(None).unwrap(), &key.public_key().unwrap()).is_err());
    }

    #[test]
    fn a_failed_receipt_names_the_bundle_file_as_its_subject() {
        let mut import = sample(Verdict::Failed);
        import.images.clear();
        let statement = import.statement();
        assert_eq!(statement["subject"][0]["name"], "release.bundle");
        assert_eq!(statement["predicate"]["verificationResult"], "FAILED");
        assert_eq!(statement["predicate"]["verifiedLevels"], json!([]));
        assert_eq!(statement["predicate"][EXTENSION]["operator"]["uid"], nix::unistd::getuid().as_raw());
    }
}
