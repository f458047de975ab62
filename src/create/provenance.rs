//! Upstream provenance: an image whose release entry (or the release as a whole) names
//! publisher keys must already be signed with one of them at its source, in either cosign
//! format. The valid signature objects are copied into the bundle so the disconnected side can
//! check them again.

use std::path::PathBuf;

use futures_util::TryStreamExt as _;

use crate::bundle::{SignatureOrigin, SignatureRecord};
use crate::oci::{Digest, Manifest, Reference, media_type};
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
        let pem = crate::bounded::read_to_string(p, crate::bounded::KEY_FILE).map_err(|e| bad(e.to_string()))?;
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
            let m = registry
                .fetch_manifest_sized(&repo.with_digest(d.digest.clone()), Some(d.size))
                .await
                .map_err(reg)?;
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
                .iter()
                .find(|b| b.descriptor.digest == d.digest)
                .map(|b| b.bytes.clone())
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
        let manifest = Blob::new(media_type::OCI_MANIFEST, bytes);
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

/// Every blob a signature manifest references (config and layers), under its descriptor. Each
/// is refused if the descriptor is over the size cap and read no further than its size; the
/// registry client checks the digest as it streams.
async fn fetch_small_blobs(registry: &Registry, repo: &Reference, manifest: &[u8]) -> Result<Vec<Blob>, String> {
    let parsed = Manifest::parse(manifest, media_type::OCI_MANIFEST).map_err(|e| format!("signature manifest: {e}"))?;
    let mut out = Vec::new();
    for d in parsed.children() {
        if d.size > MAX_SIGNATURE_BLOB {
            return Err(format!(
                "signature blob {} is {} bytes, over {MAX_SIGNATURE_BLOB}",
                d.digest, d.size
            ));
        }
        let stream = registry.fetch_blob(repo, d).await.map_err(|e| e.to_string())?;
        let bytes = stream
            .map_err(|e| format!("blob {}: {e}", d.digest))
            .try_fold(Vec::new(), |mut acc, chunk| async move {
                acc.extend_from_slice(&chunk);
                if acc.len() as u64 > d.size {
                    return Err(format!("blob {} is longer than its descriptor's {} bytes", d.digest, d.size));
                }
                Ok(acc)
            })
            .await?;
        if bytes.len() as u64 != d.size {
            return Err(format!(
                "blob {} is {} bytes, its descriptor says {}",
                d.digest,
                bytes.len(),
                d.size
            ));
        }
        out.push(Blob {
            descriptor: d.clone(),
            bytes,
        });
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
