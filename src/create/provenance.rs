//! Upstream provenance: an image whose release entry (or the release as a whole) names
//! publisher keys must already be signed with one of them at its source, in either cosign
//! format. The valid signature objects are copied into the bundle so the disconnected side can
//! check them again.

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures_util::TryStreamExt as _;

use crate::bundle::{SignatureOrigin, SignatureRecord};
use crate::oci::{Descriptor, Digest, Manifest, Reference, media_type};
use crate::registry::Registry;
use crate::sign::PublicKey;
use crate::sign::artifact::{self, Artifact, Blob, MAX_SIGNATURE_BLOB, SignatureFormat};
use crate::store::Layout;

use super::Error;
use super::image_signing::Signed;

/// Read the publisher keys; the error names the file.
pub(super) fn read_keys(paths: &[PathBuf]) -> Result<(Vec<PublicKey>, Vec<String>), Error> {
    let mut keys = Vec::new();
    let mut pems = Vec::new();
    for p in paths {
        let bad = |reason: String| Error::ReleaseFile { path: p.clone(), reason };
        let pem = std::fs::read_to_string(p).map_err(|e| bad(e.to_string()))?;
        keys.push(PublicKey::from_pem(&pem).map_err(|e| bad(e.to_string()))?);
        pems.push(pem.trim().to_owned() + "\n");
    }
    Ok((keys, pems))
}

/// Find the signatures of `subject` in `repo` made by `keys`. Fails, naming `image`, if there
/// is none; an invalid signature by one of the keys is also a failure.
pub(super) async fn check(
    registry: &Registry,
    repo: &Reference,
    subject: &Digest,
    keys: &[PublicKey],
    image: &str,
) -> Result<Vec<Artifact>, Error> {
    let fail = |reason: String| Error::Provenance {
        image: image.to_owned(),
        reason,
    };
    let reg = |e: crate::registry::Error| fail(e.to_string());
    let mut candidates: Vec<(SignatureFormat, Vec<u8>)> = Vec::new();
    let sig_tag = Reference {
        tag: Some(artifact::legacy_tag(subject)),
        digest: None,
        ..repo.clone()
    };
    match registry.fetch_manifest(&sig_tag).await {
        Ok(m) => candidates.push((SignatureFormat::CosignLegacy, m.bytes.to_vec())),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(reg(e)),
    }
    for d in registry.referrers(repo, subject).await.map_err(reg)? {
        if d.artifact_type.as_deref() == Some(crate::sign::sigstore_bundle::BUNDLE_V03) {
            let m = registry.fetch_manifest(&repo.with_digest(d.digest.clone())).await.map_err(reg)?;
            candidates.push((SignatureFormat::SigstoreBundle, m.bytes.to_vec()));
        }
    }
    let ids: Vec<String> = keys.iter().map(|k| k.id().to_string()).collect();
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for (format, bytes) in candidates {
        let blobs = fetch_small_blobs(registry, repo, &bytes).await.map_err(fail)?;
        let checked = artifact::check(format, &bytes, subject, keys, &mut |d| {
            blobs
                .get(&d.digest)
                .cloned()
                .ok_or_else(|| format!("blob {} was not fetched", d.digest))
        })
        .map_err(|e| fail(format!("{format} signature: {e}")))?;
        if !checked.invalid.is_empty() {
            return Err(fail(format!("{format} signature: {}", checked.invalid.join("; "))));
        }
        seen.push(format!("{format} ({} signer(s) trusted)", checked.signers.len()));
        if checked.signers.is_empty() {
            continue;
        }
        let manifest = Blob {
            descriptor: Descriptor {
                media_type: media_type::OCI_MANIFEST.to_owned(),
                digest: Digest::of(&bytes),
                size: bytes.len() as u64,
                platform: None,
                artifact_type: None,
                annotations: BTreeMap::new(),
            },
            bytes,
        };
        let blobs = blobs
            .into_values()
            .map(|b| Blob {
                descriptor: Descriptor {
                    media_type: "application/octet-stream".to_owned(),
                    digest: Digest::of(&b),
                    size: b.len() as u64,
                    platform: None,
                    artifact_type: None,
                    annotations: BTreeMap::new(),
                },
                bytes: b,
            })
            .collect();
        found.push(Artifact { format, manifest, blobs });
    }
    if found.is_empty() {
        let looked = if seen.is_empty() {
            format!("no `{}` tag and no Sigstore bundle referrer", artifact::legacy_tag(subject))
        } else {
            seen.join(", ")
        };
        return Err(fail(format!(
            "{subject} is not signed by any required key ({}) at {}: found {looked}",
            ids.join(", "),
            repo.name()
        )));
    }
    Ok(found)
}

/// Every blob a signature manifest references (config and layers), each capped in size and
/// checked against its digest.
async fn fetch_small_blobs(registry: &Registry, repo: &Reference, manifest: &[u8]) -> Result<BTreeMap<Digest, Vec<u8>>, String> {
    let parsed = Manifest::parse(manifest, media_type::OCI_MANIFEST).map_err(|e| format!("signature manifest: {e}"))?;
    let mut out = BTreeMap::new();
    for d in parsed.children() {
        if d.size > MAX_SIGNATURE_BLOB {
            return Err(format!(
                "signature blob {} is {} bytes, over {MAX_SIGNATURE_BLOB}",
                d.digest, d.size
            ));
        }
        let chunks: Vec<bytes::Bytes> = registry
            .fetch_blob(repo, d)
            .await
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| format!("blob {}: {e}", d.digest))?;
        let bytes = chunks.concat();
        if bytes.len() as u64 != d.size || Digest::of(&bytes) != d.digest {
            return Err(format!("blob {} does not match its descriptor", d.digest));
        }
        out.insert(d.digest.clone(), bytes);
    }
    Ok(out)
}

/// Store upstream signature objects in the layout.
pub(super) fn store(layout: &Layout, found: &[Artifact], subject: &Digest) -> Result<Signed, Error> {
    let mut out = Signed::default();
    for a in found {
        out.top.push(super::image_signing::store(layout, a, &mut out.blobs)?);
        out.records.push(SignatureRecord {
            subject: subject.clone(),
            format: a.format,
            manifest: a.manifest.descriptor.digest.clone(),
            origin: SignatureOrigin::Upstream,
        });
    }
    Ok(out)
}
