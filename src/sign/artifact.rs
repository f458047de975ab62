//! Image signatures as OCI objects, in the two layouts cosign-compatible verifiers read:
//!
//! - legacy: an image manifest tagged `sha256-<hex>.sig` whose layers are simple-signing
//!   payloads, each with its base64 signature in the `dev.cosignproject.cosign/signature`
//!   annotation (what `cosign verify`, Kyverno and policy-controller read);
//! - bundle: an OCI 1.1 referrer (`subject` = the image) holding a Sigstore bundle v0.3,
//!   listed by the registry's referrers API or, where there is none, by an index at the tag
//!   `sha256-<hex>` (cosign v3's default).
//!
//! Building and checking are pure; the caller stores, pushes or fetches the bytes.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use super::sigstore_bundle::{BUNDLE_V03, SigstoreBundle};
use super::simple_signing::SimpleSigning;
use super::{Error, KeyId, PublicKey, SigningKey};
use crate::oci::{Descriptor, Digest, Manifest, media_type};

/// Layer media type of a simple-signing payload.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The OCI empty descriptor's media type, used as a referrer's config.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// Largest signature payload or bundle blob read.
pub const MAX_SIGNATURE_BLOB: u64 = 1024 * 1024;

/// A referrer's annotation naming its statement's predicate type.
pub const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
const CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// The two signature formats.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureFormat {
    /// Simple-signing image at tag `sha256-<hex>.sig`.
    CosignLegacy,
    /// Sigstore bundle v0.3 referrer.
    SigstoreBundle,
}

impl std::fmt::Display for SignatureFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::CosignLegacy => "cosign-legacy",
            Self::SigstoreBundle => "sigstore-bundle",
        })
    }
}

/// Bytes and their descriptor.
#[derive(Clone, Debug)]
pub struct Blob {
    /// Describes `bytes`.
    pub descriptor: Descriptor,
    /// The content.
    pub bytes: Vec<u8>,
}

impl Blob {
    /// Bytes of `media_type`, with their digest and size.
    #[must_use]
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        Self {
            descriptor: Descriptor::new(media_type, Digest::of(&bytes), bytes.len() as u64),
            bytes,
        }
    }
}

/// A signature object: its manifest and the blobs the manifest references.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// Which format.
    pub format: SignatureFormat,
    /// The manifest (media type: OCI image manifest).
    pub manifest: Blob,
    /// Config and layers.
    pub blobs: Vec<Blob>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ManifestOut<'a> {
    pub schema_version: u32,
    pub media_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<&'static str>,
    pub config: &'a Descriptor,
    pub layers: Vec<&'a Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<&'a Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The legacy signature tag for `subject`: `sha256-<hex>.sig`.
#[must_use]
pub fn legacy_tag(subject: &Digest) -> String {
    format!("{}.sig", subject.tag_form())
}

/// The referrers fallback tag for `subject`: `sha256-<hex>`.
#[must_use]
pub fn fallback_tag(subject: &Digest) -> String {
    subject.tag_form()
}

/// Sign `subject` in the legacy format. `docker_reference` is the repository named in the
/// payload (cosign writes the repository without tag).
#[must_use]
pub fn legacy_signature(key: &SigningKey, docker_reference: &str, subject: &Digest) -> Artifact {
    let payload = SimpleSigning {
        docker_reference: docker_reference.to_owned(),
        digest: subject.clone(),
    }
    .to_bytes();
    let signature = STANDARD.encode(key.sign(&payload));
    let mut layer = Blob::new(SIMPLE_SIGNING_MEDIA_TYPE, payload);
    layer.descriptor.annotations.insert(SIGNATURE_ANNOTATION.to_owned(), signature);
    let (config, manifest) = legacy_manifest(&[layer.descriptor.clone()]);
    Artifact {
        format: SignatureFormat::CosignLegacy,
        manifest,
        blobs: vec![config, layer],
    }
}

/// The config and manifest of a legacy signature image with these simple-signing layers.
#[must_use]
pub fn legacy_manifest(layers: &[Descriptor]) -> (Blob, Blob) {
    // cosign's minimal config: the payload digests as diff ids. Verifiers ignore it.
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    let config = serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = Blob::new(media_type::OCI_CONFIG, serde_json::to_vec(&config).unwrap_or_default());
    let manifest = ManifestOut {
        schema_version: 2,
        media_type: media_type::OCI_MANIFEST,
        artifact_type: None,
        config: &config.descriptor,
        layers: layers.iter().collect(),
        subject: None,
        annotations: BTreeMap::new(),
    };
    let manifest = Blob::new(media_type::OCI_MANIFEST, serde_json::to_vec(&manifest).unwrap_or_default());
    (config, manifest)
}

/// Add the signature layers of `ours` to the legacy signature image `existing` (what a
/// registry already holds at the `.sig` tag), as cosign does when a second key signs.
/// Returns `None` when every layer of `ours` is already there.
pub fn merge_legacy(existing: &[u8], ours: &[u8]) -> Result<Option<(Blob, Blob)>, Error> {
    let layers_of = |bytes: &[u8]| -> Result<Vec<Descriptor>, Error> {
        match Manifest::parse(bytes, media_type::OCI_MANIFEST) {
            Ok(Manifest::Image { layers, .. }) => Ok(layers),
            Ok(Manifest::Index { .. }) => Err(Error::MalformedPayload {
                what: "signature manifest",
                reason: "an index, not an image manifest".into(),
            }),
            Err(e) => Err(Error::MalformedPayload {
                what: "signature manifest",
                reason: e.to_string(),
            }),
        }
    };
    let mut layers = layers_of(existing)?;
    let before = layers.len();
    for l in layers_of(ours)? {
        if !layers.iter().any(|e| e.digest == l.digest && e.annotations == l.annotations) {
            layers.push(l);
        }
    }
    Ok((layers.len() > before).then(|| legacy_manifest(&layers)))
}

/// The descriptor a referrers index lists for a referrer manifest: its digest and size, plus
/// the manifest's own `artifactType` and annotations.
pub fn referrer_descriptor(manifest: &[u8]) -> Result<Descriptor, Error> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Head {
        artifact_type: Option<String>,
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    let head: Head = serde_json::from_slice(manifest).map_err(|e| Error::MalformedPayload {
        what: "referrer manifest",
        reason: e.to_string(),
    })?;
    let mut d = Blob::new(media_type::OCI_MANIFEST, Vec::new()).descriptor;
    d.digest = Digest::of(manifest);
    d.size = manifest.len() as u64;
    d.artifact_type = head.artifact_type;
    d.annotations = head.annotations;
    Ok(d)
}

/// Sign `subject` as a Sigstore bundle referrer. `created` is RFC 3339.
pub fn bundle_referrer(key: &SigningKey, subject_name: &str, subject: &Descriptor, created: &str) -> Result<Artifact, Error> {
    let bundle = SigstoreBundle::sign_image(key, subject_name, &subject.digest)?;
    Ok(referrer_of(&bundle, subject, created, super::dsse::COSIGN_SIGN_PREDICATE))
}

/// The referrer manifest (OCI 1.1 `subject`) holding `bundle`, whose statement is of
/// `predicate_type`, the way cosign v3 stores signatures and attestations.
#[must_use]
pub fn referrer_of(bundle: &SigstoreBundle, subject: &Descriptor, created: &str, predicate_type: &str) -> Artifact {
    let mut layer = Blob::new(BUNDLE_V03, bundle.to_bytes());
    layer
        .descriptor
        .annotations
        .insert(TITLE_ANNOTATION.to_owned(), format!("{}.sigstore.json", subject.digest.tag_form()));
    let config = Blob::new(EMPTY_MEDIA_TYPE, b"{}".to_vec());
    let subject = subject.plain();
    let annotations = referrer_annotations(created, predicate_type);
    let manifest = ManifestOut {
        schema_version: 2,
        media_type: media_type::OCI_MANIFEST,
        artifact_type: Some(BUNDLE_V03),
        config: &config.descriptor,
        layers: vec![&layer.descriptor],
        subject: Some(&subject),
        annotations: annotations.clone(),
    };
    let mut manifest = Blob::new(media_type::OCI_MANIFEST, serde_json::to_vec(&manifest).unwrap_or_default());
    // The descriptor doubles as the referrers-index entry: artifact type and annotations too.
    manifest.descriptor.artifact_type = Some(BUNDLE_V03.to_owned());
    manifest.descriptor.annotations = annotations;
    Artifact {
        format: SignatureFormat::SigstoreBundle,
        manifest,
        blobs: vec![config, layer],
    }
}

fn referrer_annotations(created: &str, predicate_type: &str) -> BTreeMap<String, String> {
    [
        (CONTENT_ANNOTATION, "dsse-envelope"),
        (PREDICATE_ANNOTATION, predicate_type),
        (CREATED_ANNOTATION, created),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// An OCI image index listing `referrers`: the content of the `sha256-<hex>` fallback tag.
#[must_use]
pub fn referrers_index(referrers: &[Descriptor]) -> Blob {
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": referrers,
    });
    Blob::new(media_type::OCI_INDEX, serde_json::to_vec(&doc).unwrap_or_default())
}

/// What checking one signature object found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Keys with a valid signature over the subject.
    pub signers: Vec<KeyId>,
    /// Signatures made by one of the keys that are nevertheless invalid (wrong digest,
    /// malformed payload), with the reason. Any entry here fails verification.
    pub invalid: Vec<String>,
}

/// Check a signature object of either format for `subject` against `keys`. `read_blob` returns
/// the verified bytes of a blob the manifest references (the caller checks its digest);
/// blobs over [`MAX_SIGNATURE_BLOB`] are refused before they are read.
pub fn check(
    format: SignatureFormat,
    manifest: &[u8],
    subject: &Digest,
    keys: &[PublicKey],
    read_blob: &mut dyn FnMut(&Descriptor) -> Result<Vec<u8>, String>,
) -> Result<Checked, Error> {
    let bad = |reason: String| Error::MalformedPayload {
        what: "signature manifest",
        reason,
    };
    let parsed = Manifest::parse(manifest, media_type::OCI_MANIFEST).map_err(|e| bad(e.to_string()))?;
    let Manifest::Image {
        layers, subject: referred, ..
    } = parsed
    else {
        return Err(bad("an index, not an image manifest".into()));
    };
    let mut out = Checked::default();
    let mut read = |d: &Descriptor| -> Result<Vec<u8>, Error> {
        if d.size > MAX_SIGNATURE_BLOB {
            return Err(bad(format!("{} is {} bytes, over {MAX_SIGNATURE_BLOB}", d.digest, d.size)));
        }
        read_blob(d).map_err(bad)
    };
    match format {
        SignatureFormat::CosignLegacy => {
            for layer in layers.iter().filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE) {
                let Some(sig) = layer.annotations.get(SIGNATURE_ANNOTATION).and_then(|s| STANDARD.decode(s).ok()) else {
                    continue;
                };
                let payload = read(layer)?;
                for key in keys {
                    if key.verify(&payload, &sig).is_err() {
                        continue;
                    }
                    match SimpleSigning::parse(&payload) {
                        Ok(p) if p.digest == *subject => out.signers.push(key.id().clone()),
                        Ok(p) => out
                            .invalid
                            .push(format!("key {} signed digest {}, not {subject}", key.id(), p.digest)),
                        Err(e) => out.invalid.push(format!("key {} signed a bad payload: {e}", key.id())),
                    }
                }
            }
        }
        SignatureFormat::SigstoreBundle => {
            match referred {
                Some(d) if d.digest == *subject => {}
                Some(d) => return Err(bad(format!("referrer's subject is {}, not {subject}", d.digest))),
                None => return Err(bad("referrer has no subject".into())),
            }
            for layer in layers.iter().filter(|l| l.media_type == BUNDLE_V03) {
                let bundle = SigstoreBundle::parse(&read(layer)?)?;
                for key in keys {
                    match bundle.verify_image(key, subject) {
                        Ok(()) => out.signers.push(key.id().clone()),
                        Err(Error::BadSignature(_)) => {}
                        Err(e) => out.invalid.push(format!("key {}: {e}", key.id())),
                    }
                }
            }
        }
    }
    out.signers.sort();
    out.signers.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::Algorithm;

    fn blobs_of(a: &Artifact) -> impl FnMut(&Descriptor) -> Result<Vec<u8>, String> + '_ {
        |d| {
            a.blobs
                .iter()
                .find(|b| b.descriptor.digest == d.digest)
                .map(|b| b.bytes.clone())
                .ok_or_else(|| "missing".to_owned())
        }
    }

    fn subject() -> Descriptor {
        Blob::new(media_type::OCI_MANIFEST, b"{\"an\":\"image\"}".to_vec()).descriptor
    }

    #[test]
    fn both_formats_verify_for_their_key_and_subject_only() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let public = key.public_key().unwrap();
        let stranger = SigningKey::generate(Algorithm::EcdsaP256).unwrap().public_key().unwrap();
        let s = subject();
        let other = Digest::of(b"other");
        let artifacts = [
            legacy_signature(&key, "example.org/app", &s.digest),
            bundle_referrer(&key, "example.org/app", &s, "2026-11-22T00:00:00Z").unwrap(),
        ];
        for a in &artifacts {
            let ok = check(
                a.format,
                &a.manifest.bytes,
                &s.digest,
                &[stranger.clone(), public.clone()],
                &mut blobs_of(a),
            )
            .unwrap();
            assert_eq!(ok.signers, vec![public.id().clone()], "{}", a.format);
            assert!(ok.invalid.is_empty());
            let unknown = check(
                a.format,
                &a.manifest.bytes,
                &s.digest,
                std::slice::from_ref(&stranger),
                &mut blobs_of(a),
            )
            .unwrap();
            assert!(unknown.signers.is_empty(), "{}", a.format);
            // Presented as the signature of another image.
            let moved = check(a.format, &a.manifest.bytes, &other, std::slice::from_ref(&public), &mut blobs_of(a));
            match moved {
                Ok(c) => {
                    assert!(c.signers.is_empty());
                    assert_eq!(c.invalid.len(), 1, "{}: {c:?}", a.format);
                }
                Err(e) => assert!(e.to_string().contains("subject"), "{e}"),
            }
        }
        assert_eq!(legacy_tag(&s.digest), format!("sha256-{}.sig", s.digest.hex()));
    }

    #[test]
    fn a_second_signer_is_merged_into_the_sig_image_once() {
        let s = subject();
        let a = legacy_signature(&SigningKey::generate(Algorithm::EcdsaP256).unwrap(), "r", &s.digest);
        let b_key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let b = legacy_signature(&b_key, "r", &s.digest);
        let (_, merged) = merge_legacy(&a.manifest.bytes, &b.manifest.bytes).unwrap().unwrap();
        let Manifest::Image { layers, .. } = Manifest::parse(&merged.bytes, media_type::OCI_MANIFEST).unwrap() else {
            panic!("not an image");
        };
        assert_eq!(layers.len(), 2);
        assert!(merge_legacy(&merged.bytes, &b.manifest.bytes).unwrap().is_none());
        assert!(merge_legacy(&a.manifest.bytes, &a.manifest.bytes).unwrap().is_none());
        // Both signers verify from the merged image.
        let mut all = a.blobs.clone();
        all.extend(b.blobs.clone());
        let both = Artifact { blobs: all, ..a.clone() };
        let keys = [b_key.public_key().unwrap()];
        let c = check(SignatureFormat::CosignLegacy, &merged.bytes, &s.digest, &keys, &mut blobs_of(&both)).unwrap();
        assert_eq!(c.signers.len(), 1);
    }

    #[test]
    fn referrer_manifest_has_the_cosign_v3_shape() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let a = bundle_referrer(&key, "app", &subject(), "2026-11-22T00:00:00Z").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&a.manifest.bytes).unwrap();
        assert_eq!(v["artifactType"], BUNDLE_V03);
        assert_eq!(
            v["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(v["config"]["size"], 2);
        assert_eq!(v["subject"]["digest"], subject().digest.to_string());
        assert_eq!(v["annotations"]["dev.sigstore.bundle.content"], "dsse-envelope");
        let index: serde_json::Value =
            serde_json::from_slice(&referrers_index(std::slice::from_ref(&a.manifest.descriptor)).bytes).unwrap();
        assert_eq!(index["manifests"][0]["artifactType"], BUNDLE_V03);
        assert_eq!(index["manifests"][0]["digest"], a.manifest.descriptor.digest.to_string());
        assert_eq!(referrer_descriptor(&a.manifest.bytes).unwrap(), a.manifest.descriptor);
    }
}
