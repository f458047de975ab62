//! Pushing an image's signature objects after the image, so cosign, Kyverno and
//! policy-controller find them where they look:
//!
//! - legacy: the `.sig` image at tag `sha256-<hex>.sig`. If the registry already holds a
//!   signature image there (another signer, or a previous load), the layers are merged the way
//!   cosign merges them, so nobody's signature is dropped.
//! - bundle: the referrer manifest by digest. If the registry's referrers listing (its API, or
//!   the tag-schema index where it has none) does not show it afterwards, the `sha256-<hex>`
//!   index is created or extended to list it.

use crate::bundle::SignatureRecord;
use crate::oci::{Reference, media_type};
use crate::registry::Registry;
use crate::sign::artifact::{self, SignatureFormat};
use crate::verify::VerifiedBundle;

use super::Error;

/// Push the manifest (and merge or list it) of one signature whose blobs are already pushed.
/// Returns how many manifests were pushed.
pub(super) async fn push_signature(
    bundle: &VerifiedBundle,
    client: &Registry,
    target: &Reference,
    rec: &SignatureRecord,
    name: &str,
) -> Result<usize, Error> {
    let reg = |source| Error::Registry {
        image: name.to_owned(),
        source,
    };
    let inconsistent = |reason: String| Error::Inconsistent {
        image: name.to_owned(),
        reason,
    };
    let bytes = bundle
        .manifest(&rec.manifest)
        .ok_or_else(|| inconsistent(format!("signature manifest {} missing", rec.manifest)))?;
    match rec.format {
        SignatureFormat::CosignLegacy => {
            let at_tag = Reference {
                tag: Some(artifact::legacy_tag(&rec.subject)),
                digest: None,
                ..target.clone()
            };
            let existing = match client.fetch_manifest(&at_tag).await {
                Ok(m) => Some(m),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(reg(e)),
            };
            match existing {
                None => {
                    client.push_manifest(&at_tag, bytes, media_type::OCI_MANIFEST).await.map_err(reg)?;
                    Ok(1)
                }
                Some(m) if m.digest == rec.manifest => Ok(0),
                Some(m) => {
                    let merged = artifact::merge_legacy(&m.bytes, bytes).map_err(|e| inconsistent(format!("{at_tag}: {e}")))?;
                    let Some((config, manifest)) = merged else {
                        return Ok(0);
                    };
                    client
                        .push_blob(
                            target,
                            &config.descriptor.digest,
                            config.descriptor.size,
                            super::bytes_stream(config.bytes),
                        )
                        .await
                        .map_err(reg)?;
                    client
                        .push_manifest(&at_tag, &manifest.bytes, media_type::OCI_MANIFEST)
                        .await
                        .map_err(reg)?;
                    Ok(1)
                }
            }
        }
        SignatureFormat::SigstoreBundle => {
            let listed = client.referrers(target, &rec.subject).await.map_err(reg)?;
            if listed.iter().any(|d| d.digest == rec.manifest) {
                return Ok(0);
            }
            client
                .push_manifest(&target.with_digest(rec.manifest.clone()), bytes, media_type::OCI_MANIFEST)
                .await
                .map_err(reg)?;
            // A registry with the referrers API lists the new manifest by itself.
            let listed = client.referrers(target, &rec.subject).await.map_err(reg)?;
            if listed.iter().any(|d| d.digest == rec.manifest) {
                return Ok(1);
            }
            let mut entries = listed;
            entries.push(artifact::referrer_descriptor(bytes).map_err(|e| inconsistent(e.to_string()))?);
            let index = artifact::referrers_index(&entries);
            let at_tag = Reference {
                tag: Some(artifact::fallback_tag(&rec.subject)),
                digest: None,
                ..target.clone()
            };
            client
                .push_manifest(&at_tag, &index.bytes, media_type::OCI_INDEX)
                .await
                .map_err(reg)?;
            Ok(2)
        }
    }
}
