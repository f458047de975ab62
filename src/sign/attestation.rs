//! Attestations (DSSE envelopes over in-toto statements) as OCI objects, where cosign puts
//! them and admission controllers look for them:
//!
//! - legacy: an image manifest tagged `sha256-<hex>.att` whose layers are DSSE envelopes
//!   (`application/vnd.dsse.envelope.v1+json`), each with an empty
//!   `dev.cosignproject.cosign/signature` annotation and a `predicateType` annotation (what
//!   `cosign verify-attestation`, Kyverno and policy-controller read);
//! - bundle: an OCI 1.1 referrer holding a Sigstore bundle v0.3 around the same envelope, its
//!   manifest annotated with `dev.sigstore.bundle.predicateType`.
//!
//! Building and finding are pure; the caller pushes or fetches the bytes.

use super::PublicKey;
use super::artifact::{self, Artifact, Blob, SIGNATURE_ANNOTATION, SignatureFormat};
use super::dsse::Envelope;
use super::sigstore_bundle::{BUNDLE_V03, SigstoreBundle};
use crate::oci::{Descriptor, Digest, Manifest, media_type};

/// Layer media type of a DSSE envelope in a legacy attestation image.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The legacy layer annotation naming the statement's predicate type.
pub const LEGACY_PREDICATE_ANNOTATION: &str = "predicateType";

/// The legacy attestation tag for `subject`: `sha256-<hex>.att`.
#[must_use]
pub fn attestation_tag(subject: &Digest) -> String {
    format!("{}.att", subject.tag_form())
}

/// The `.att` image holding `envelope` (a statement of `predicate_type`) as its one layer.
/// Merge it into what the tag already holds with [`artifact::merge_legacy`].
#[must_use]
pub fn legacy_attestation(envelope: &Envelope, predicate_type: &str) -> Artifact {
    let mut layer = Blob::new(DSSE_MEDIA_TYPE, serde_json::to_vec(envelope).unwrap_or_default());
    let notes = &mut layer.descriptor.annotations;
    notes.insert(SIGNATURE_ANNOTATION.to_owned(), String::new());
    notes.insert(LEGACY_PREDICATE_ANNOTATION.to_owned(), predicate_type.to_owned());
    let (config, manifest) = artifact::legacy_manifest(&[layer.descriptor.clone()]);
    Artifact {
        format: SignatureFormat::CosignLegacy,
        manifest,
        blobs: vec![config, layer],
    }
}

/// The referrer of `subject` holding `envelope` in a Sigstore bundle that hints at `key`.
/// `created` is RFC 3339.
#[must_use]
pub fn bundle_attestation(key: &PublicKey, envelope: &Envelope, subject: &Descriptor, created: &str, predicate_type: &str) -> Artifact {
    let bundle = SigstoreBundle::of_envelope(key, envelope.clone());
    artifact::referrer_of(&bundle, subject, created, predicate_type)
}

/// The layers of an attestation object (either format) that claim to hold a statement of
/// `predicate_type`, as the descriptors to fetch. Nothing here is trusted: the caller
/// verifies each envelope's signature before reading its statement.
pub fn layers_of(format: SignatureFormat, manifest: &[u8], predicate_type: &str) -> Result<Vec<Descriptor>, super::Error> {
    let bad = |reason: String| super::Error::MalformedPayload {
        what: "attestation manifest",
        reason,
    };
    let Manifest::Image { layers, .. } = Manifest::parse(manifest, media_type::OCI_MANIFEST).map_err(|e| bad(e.to_string()))? else {
        return Err(bad("an index, not an image manifest".into()));
    };
    let head = serde_json::from_slice::<serde_json::Value>(manifest).map_err(|e| bad(e.to_string()))?;
    Ok(match format {
        SignatureFormat::CosignLegacy => layers
            .into_iter()
            .filter(|l| {
                l.media_type == DSSE_MEDIA_TYPE && l.annotations.get(LEGACY_PREDICATE_ANNOTATION).is_some_and(|p| p == predicate_type)
            })
            .collect(),
        SignatureFormat::SigstoreBundle => {
            let declared = head["annotations"][artifact::PREDICATE_ANNOTATION].as_str() == Some(predicate_type);
            if declared {
                layers.into_iter().filter(|l| l.media_type == BUNDLE_V03).collect()
            } else {
                Vec::new()
            }
        }
    })
}

/// The envelope in a layer fetched from [`layers_of`]: a bare envelope (legacy) or the one
/// inside a Sigstore bundle.
pub fn envelope_of(format: SignatureFormat, layer: &[u8]) -> Result<Envelope, super::Error> {
    match format {
        SignatureFormat::CosignLegacy => serde_json::from_slice(layer).map_err(|e| super::Error::MalformedPayload {
            what: "DSSE envelope",
            reason: e.to_string(),
        }),
        SignatureFormat::SigstoreBundle => Ok(SigstoreBundle::parse(layer)?.dsse_envelope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::dsse::IN_TOTO_PAYLOAD_TYPE;
    use crate::sign::{Algorithm, SigningKey};

    const PREDICATE: &str = "https://slsa.dev/verification_summary/v1";

    #[test]
    fn both_layouts_hold_the_same_envelope_and_name_its_predicate() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let envelope = Envelope::sign(&key, IN_TOTO_PAYLOAD_TYPE, b"{\"statement\":1}");
        let subject = Blob::new(media_type::OCI_MANIFEST, b"{}".to_vec()).descriptor;
        let legacy = legacy_attestation(&envelope, PREDICATE);
        let referrer = bundle_attestation(&key.public_key().unwrap(), &envelope, &subject, "2026-12-01T00:00:00Z", PREDICATE);
        for a in [&legacy, &referrer] {
            let layers = layers_of(a.format, &a.manifest.bytes, PREDICATE).unwrap();
            assert_eq!(layers.len(), 1, "{}", a.format);
            let bytes = &a.blobs.iter().find(|b| b.descriptor.digest == layers[0].digest).unwrap().bytes;
            assert_eq!(envelope_of(a.format, bytes).unwrap(), envelope);
            assert!(
                layers_of(a.format, &a.manifest.bytes, "https://example.com/other")
                    .unwrap()
                    .is_empty()
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&legacy.manifest.bytes).unwrap();
        assert_eq!(v["layers"][0]["annotations"][SIGNATURE_ANNOTATION], "");
        assert_eq!(v["layers"][0]["mediaType"], DSSE_MEDIA_TYPE);
        let d = Digest::of(b"x");
        assert_eq!(attestation_tag(&d), format!("sha256-{}.att", d.hex()));
    }
}
