//! The registry's own signature objects for a subject, verified offline with the pinned keys,
//! each key judged at check time: the legacy `.sig` image at `sha256-<hex>.sig`, and the
//! Sigstore bundle referrers. Their blobs are fetched by digest with a limit
//! ([`artifact::MAX_SIGNATURE_BLOB`]) and checked against it; the signatures are checked the
//! way `verify` checks the bundle's copies ([`artifact::check`]).

use std::collections::BTreeMap;

use super::CheckOptions;
use super::report::Status;
use crate::oci::{Descriptor, Digest, Manifest, Reference, media_type};
use crate::registry::Registry;
use crate::sign::artifact::{self, SignatureFormat};
use crate::sign::{KeyStatus, TrustPolicy};

/// The blobs a signature manifest names, fetched by digest, each at most
/// [`artifact::MAX_SIGNATURE_BLOB`] bytes and checked against its digest.
async fn blobs_of(client: &Registry, repo: &Reference, manifest: &[u8]) -> Result<BTreeMap<Digest, Vec<u8>>, String> {
    let Ok(Manifest::Image { layers, .. }) = Manifest::parse(manifest, media_type::OCI_MANIFEST) else {
        return Err("not a signature image manifest".into());
    };
    let mut out = BTreeMap::new();
    for layer in layers.iter().filter(|l| l.size <= artifact::MAX_SIGNATURE_BLOB) {
        out.insert(layer.digest.clone(), fetch_small(client, repo, layer).await?);
    }
    Ok(out)
}

async fn fetch_small(client: &Registry, repo: &Reference, desc: &Descriptor) -> Result<Vec<u8>, String> {
    client
        .fetch_small_blob(repo, desc, artifact::MAX_SIGNATURE_BLOB)
        .await
        .map_err(|e| match e {
            crate::registry::Error::DigestMismatch { found, .. } => format!("blob {} is served as other bytes ({found})", desc.digest),
            e => format!("blob {}: {e}", desc.digest),
        })
}

/// Who signed `subject` in one signature object: keys valid at `now`, and keys the policy
/// names that signed but are not valid now (expired, not yet valid, revoked).
struct Signers {
    valid: Vec<String>,
    not_valid: Vec<(String, KeyStatus)>,
    invalid: Vec<String>,
}

fn signers(
    format: SignatureFormat,
    manifest: &[u8],
    subject: &Digest,
    blobs: &BTreeMap<Digest, Vec<u8>>,
    trust: &TrustPolicy,
    now: time::OffsetDateTime,
) -> Result<Signers, String> {
    let keys: Vec<_> = trust.keys.iter().map(|k| k.key.clone()).collect();
    let mut read = |d: &Descriptor| {
        blobs
            .get(&d.digest)
            .cloned()
            .ok_or_else(|| format!("blob {} was not fetched", d.digest))
    };
    let checked = artifact::check(format, manifest, subject, &keys, &mut read).map_err(|e| e.to_string())?;
    let mut out = Signers {
        valid: Vec::new(),
        not_valid: Vec::new(),
        invalid: checked.invalid,
    };
    for id in checked.signers {
        let Some(key) = trust.keys.iter().find(|k| *k.key.id() == id) else {
            continue;
        };
        match trust.status(key, now) {
            KeyStatus::Valid => out.valid.push(format!("{} ({})", key.name, id.as_str())),
            status => out.not_valid.push((format!("{} ({})", key.name, id.as_str()), status)),
        }
    }
    Ok(out)
}

/// The verdict on the signature objects found for one subject in one format.
fn judge(found: Vec<Result<Signers, String>>, what: &str) -> (Status, String) {
    if found.is_empty() {
        return (Status::SignatureMissing, format!("no {what}"));
    }
    let mut problems = Vec::new();
    let mut expired = Vec::new();
    for f in found {
        match f {
            Ok(s) if !s.valid.is_empty() && s.invalid.is_empty() => {
                return (Status::Ok, format!("{what} signed by {}", s.valid.join(", ")));
            }
            Ok(s) => {
                problems.extend(s.invalid);
                expired.extend(s.not_valid.into_iter().map(|(k, st)| format!("{k} is {st}")));
            }
            Err(e) => problems.push(e),
        }
    }
    if !expired.is_empty() && problems.is_empty() && !expired.iter().any(|e| e.ends_with(" is revoked")) {
        return (
            Status::KeyExpired,
            format!("{what} only by keys not valid at the check time: {}", expired.join(", ")),
        );
    }
    let mut why = problems;
    why.extend(expired);
    if why.is_empty() {
        why.push("made by none of the pinned keys".into());
    }
    (Status::SignatureInvalid, format!("{what}: {}", why.join("; ")))
}

/// One signature object: its blobs fetched, its signatures checked with the pinned keys.
async fn verify_object(
    client: &Registry,
    repo: &Reference,
    format: SignatureFormat,
    manifest: &[u8],
    subject: &Digest,
    options: &CheckOptions,
) -> Result<Signers, String> {
    let blobs = blobs_of(client, repo, manifest).await?;
    signers(format, manifest, subject, &blobs, &options.trust, options.at)
}

/// The legacy `.sig` image of `subject`.
pub(super) async fn legacy(
    client: &Registry,
    repo: &Reference,
    subject: &Digest,
    options: &CheckOptions,
) -> Result<(Status, String), String> {
    let tag = artifact::legacy_tag(subject);
    let at = Reference {
        tag: Some(tag.clone()),
        digest: None,
        ..repo.clone()
    };
    let manifest = match client.fetch_manifest(&at).await {
        Ok(m) => m,
        Err(e) if e.is_not_found() => return Ok((Status::SignatureMissing, format!("no {tag} tag"))),
        Err(e) => return Err(e.to_string()),
    };
    let verdict = verify_object(client, repo, SignatureFormat::CosignLegacy, &manifest.bytes, subject, options).await;
    Ok(judge(vec![verdict], &format!("cosign signature image {tag}")))
}

/// The Sigstore bundle referrers of `subject`.
pub(super) async fn referrers(
    client: &Registry,
    repo: &Reference,
    subject: &Digest,
    options: &CheckOptions,
) -> Result<(Status, String), String> {
    let listed = client.referrers(repo, subject).await.map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    // Attestations (an import receipt) are referrers in the same format: only those that
    // declare no predicate or cosign's signature predicate are signatures.
    let is_signature = |d: &&Descriptor| {
        d.annotations
            .get(artifact::PREDICATE_ANNOTATION)
            .is_none_or(|p| p == crate::sign::dsse::COSIGN_SIGN_PREDICATE)
    };
    for d in listed
        .iter()
        .filter(|d| {
            d.artifact_type
                .as_deref()
                .is_some_and(|t| t.starts_with(media_type::SIGSTORE_BUNDLE_PREFIX))
        })
        .filter(is_signature)
    {
        let verdict = match client.fetch_manifest_sized(&repo.with_digest(d.digest.clone()), Some(d.size)).await {
            Ok(m) => verify_object(client, repo, SignatureFormat::SigstoreBundle, &m.bytes, subject, options).await,
            Err(e) => Err(format!("referrer {}: {e}", d.digest)),
        };
        found.push(verdict);
    }
    Ok(judge(found, "Sigstore bundle referrer"))
}
