//! `load --manifests-out`: what CRI-O and Podman nodes (containers/image) need to verify the
//! loaded images' cosign signatures themselves: a `containers-policy.json` fragment with one
//! `sigstoreSigned` entry per site repository, and a `registries.d` file that turns on
//! sigstore attachments for the site registry (containers-policy.json(5),
//! containers-registries.d(5)).
//!
//! A cosign payload names only the repository the image was signed as (its source), so each
//! site repository gets `signedIdentity: exactRepository` naming that repository; the name is
//! read from the verified signature payload itself, not guessed from the release file.

use std::collections::BTreeMap;
use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::bundle::SignatureOrigin;
use crate::oci::{Manifest, media_type};
use crate::sign::artifact::{MAX_SIGNATURE_BLOB, SIMPLE_SIGNING_MEDIA_TYPE, SignatureFormat};
use crate::sign::simple_signing::SimpleSigning;
use crate::verify::VerifiedBundle;

/// Errors building the node configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image has no release signature in the legacy format to name its identity.
    #[error("image `{0}`: no release signature in cosign's legacy format, which is what CRI-O and Podman verify")]
    Unsigned(String),
    /// The policy could not be encoded (cannot happen for a JSON value; kept as an error).
    #[error("encoding containers-policy.json: {0}")]
    Encode(#[source] serde_json::Error),
    /// A signature object of the verified bundle could not be read.
    #[error("image `{image}`: signature {what}: {reason}")]
    Signature {
        /// The image.
        image: String,
        /// Which object.
        what: String,
        /// What went wrong.
        reason: String,
    },
}

/// The two files, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePolicy {
    /// The `transports.docker` part of `/etc/containers/policy.json`, to merge into it.
    pub policy_json: String,
    /// `/etc/containers/registries.d/<name>.yaml`.
    pub registries_d: String,
}

/// The node policy for `bundle`'s images in `registry`, trusting `key_pem` (the release key).
pub fn node_policy(bundle: &VerifiedBundle, registry: &str, key_pem: &str) -> Result<NodePolicy, Error> {
    let mut repos: BTreeMap<String, String> = BTreeMap::new();
    for image in &bundle.index().images {
        let name = image.display_name();
        let rec = image
            .signatures
            .iter()
            .find(|r| r.origin == SignatureOrigin::Release && r.format == SignatureFormat::CosignLegacy && r.subject == image.digest)
            .ok_or_else(|| Error::Unsigned(name.clone()))?;
        let identity = signed_repository(bundle, &rec.manifest, &name)?;
        repos.insert(format!("{registry}/{}", image.repository), identity);
    }
    let key_data = STANDARD.encode(key_pem.as_bytes());
    let docker: serde_json::Map<String, serde_json::Value> = repos
        .into_iter()
        .map(|(site, signed)| {
            let entry = json!([{
                "type": "sigstoreSigned",
                "keyData": key_data,
                "signedIdentity": {"type": "exactRepository", "dockerRepository": signed},
            }]);
            (site, entry)
        })
        .collect();
    let policy = json!({"transports": {"docker": docker}});
    let policy_json = serde_json::to_string_pretty(&policy).map_err(Error::Encode)? + "\n";
    let registries_d = format!(
        "# containers-registries.d(5): read cosign signatures of {registry} from the registry itself\ndocker:\n  {registry}:\n    use-sigstore-attachments: true\n"
    );
    Ok(NodePolicy { policy_json, registries_d })
}

/// The repository named in the simple-signing payload of the legacy signature manifest.
fn signed_repository(bundle: &VerifiedBundle, manifest: &crate::oci::Digest, image: &str) -> Result<String, Error> {
    let fail = |what: String, reason: String| Error::Signature {
        image: image.to_owned(),
        what,
        reason,
    };
    let bytes = bundle
        .manifest(manifest)
        .ok_or_else(|| fail(manifest.to_string(), "not in the verified bundle".into()))?;
    let Ok(Manifest::Image { layers, .. }) = Manifest::parse(bytes, media_type::OCI_MANIFEST) else {
        return Err(fail(manifest.to_string(), "not an image manifest".into()));
    };
    let layer = layers
        .iter()
        .find(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
        .ok_or_else(|| fail(manifest.to_string(), "no simple-signing layer".into()))?;
    let mut payload = Vec::new();
    bundle
        .open_blob(&layer.digest)
        .ok_or_else(|| fail(layer.digest.to_string(), "not in the verified bundle".into()))?
        .take(MAX_SIGNATURE_BLOB)
        .read_to_end(&mut payload)
        .map_err(|e| fail(layer.digest.to_string(), e.to_string()))?;
    let parsed = SimpleSigning::parse(&payload).map_err(|e| fail(layer.digest.to_string(), e.to_string()))?;
    Ok(parsed.docker_reference)
}
