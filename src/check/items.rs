//! One piece of [`super::Work`] asked of the registry, judged into items.

use futures_util::StreamExt as _;

use super::Work;
use super::report::{Item, ItemKind, Status};
use crate::oci::{DigestCounter, Reference};
use crate::registry::{self, Registry};
use crate::sign::artifact;
use crate::verify::VerifiedBundle;

/// Run `work` (asked by `image`, expected by the bundle labelled `bundle`).
pub(super) async fn run(
    client: &Registry,
    source: Option<&VerifiedBundle>,
    work: &Work,
    image: String,
    bundle: String,
    deep: bool,
) -> Vec<Item> {
    let item = |kind: ItemKind, subject: String, status: Status, detail: String| Item {
        kind,
        image: image.clone(),
        subject,
        status,
        detail,
        bundle: bundle.clone(),
    };
    match work {
        Work::Tag { repo, tag, digest } => {
            let at = Reference {
                tag: Some(tag.clone()),
                ..repo.clone()
            };
            let (status, detail) = match client.fetch_manifest(&at).await {
                Ok(m) if m.digest == *digest => (Status::Ok, format!("resolves to {digest}")),
                Ok(m) => (Status::Drifted, format!("resolves to {}, not the signed {digest}", m.digest)),
                Err(e) if e.is_not_found() => (Status::Missing, format!("the tag is gone (the bundle has it at {digest})")),
                Err(e) => (Status::Error, error_text(&e)),
            };
            vec![item(ItemKind::Tag, tag.clone(), status, detail)]
        }
        Work::Manifest { repo, digest, size } => {
            let (status, detail) = match client.fetch_manifest_sized(&repo.with_digest(digest.clone()), Some(*size)).await {
                Ok(_) => (Status::Ok, format!("{size} bytes, as signed")),
                Err(e) if e.is_not_found() => (Status::Missing, "not in the registry".to_owned()),
                Err(registry::Error::DigestMismatch { found, .. }) => {
                    (Status::Altered, format!("the registry serves other bytes ({found})"))
                }
                Err(e @ registry::Error::Http { status: None, .. }) if e.to_string().contains("limit") => {
                    (Status::Altered, format!("longer than the signed {size} bytes"))
                }
                Err(e) => (Status::Error, error_text(&e)),
            };
            vec![item(ItemKind::Manifest, digest.to_string(), status, detail)]
        }
        Work::Blob { repo, digest, size } => {
            let (status, detail) = if deep {
                deep_blob(client, repo, digest, *size).await
            } else {
                match client.blob_exists(repo, digest).await {
                    Ok(true) => (Status::Ok, "present".to_owned()),
                    Ok(false) => (Status::BlobMissing, "not in the registry".to_owned()),
                    Err(e) => (Status::Error, error_text(&e)),
                }
            };
            vec![item(ItemKind::Blob, digest.to_string(), status, detail)]
        }
        Work::Signature {
            repo,
            subject,
            manifest,
            legacy,
        } => {
            let ours = source.and_then(|b| b.manifest(manifest));
            let (status, detail) = match ours {
                None => (
                    Status::Error,
                    format!("signature manifest {manifest} is not in the verified bundle"),
                ),
                Some(ours) if *legacy => legacy_signature(client, repo, subject, ours).await,
                Some(_) => referrer_signature(client, repo, subject, manifest).await,
            };
            let subject = format!("{} of {subject}", if *legacy { "cosign .sig" } else { "sigstore bundle" });
            vec![item(ItemKind::Signature, subject, status, detail)]
        }
        Work::Tags { repo, expected } => match client.list_tags(repo).await {
            Err(e) => vec![item(ItemKind::Tags, repo.name(), Status::Error, error_text(&e))],
            Ok(found) => {
                let extra: Vec<&String> = found.iter().filter(|t| !expected.contains(*t)).collect();
                if extra.is_empty() {
                    vec![item(
                        ItemKind::Tags,
                        repo.name(),
                        Status::Ok,
                        format!("{} tag(s), all expected", found.len()),
                    )]
                } else {
                    extra
                        .into_iter()
                        .map(|t| item(ItemKind::Tags, t.clone(), Status::Unexpected, "no bundle has this tag".to_owned()))
                        .collect()
                }
            }
        },
    }
}

/// The error's whole chain, for the report.
fn error_text(e: &registry::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Stream the blob and hash it.
async fn deep_blob(client: &Registry, repo: &Reference, digest: &crate::oci::Digest, size: u64) -> (Status, String) {
    let desc = crate::oci::Descriptor::new("application/octet-stream", digest.clone(), size);
    let mut stream = match client.fetch_blob(repo, &desc).await {
        Ok(s) => s,
        Err(e) if e.is_not_found() => return (Status::BlobMissing, "not in the registry".to_owned()),
        Err(e) => return (Status::Error, error_text(&e)),
    };
    let mut counter = DigestCounter::default();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => counter.update(&bytes),
            Err(e) if e.to_string().contains("more than") => {
                return (Status::BlobAltered, format!("longer than the signed {size} bytes"));
            }
            Err(e) => return (Status::Error, e.to_string()),
        }
    }
    let (found, read) = counter.finish();
    if found == *digest && read == size {
        (Status::Ok, format!("{size} bytes hash to the digest"))
    } else {
        (
            Status::BlobAltered,
            format!("the registry serves {read} bytes that hash to {found}"),
        )
    }
}

/// The `.sig` image must hold every layer of the bundle's signature object (the signed payload
/// by digest, with the same signature annotation).
async fn legacy_signature(client: &Registry, repo: &Reference, subject: &crate::oci::Digest, ours: &[u8]) -> (Status, String) {
    let at = Reference {
        tag: Some(artifact::legacy_tag(subject)),
        ..repo.clone()
    };
    match client.fetch_manifest(&at).await {
        Err(e) if e.is_not_found() => (Status::SignatureMissing, format!("no {} tag", artifact::legacy_tag(subject))),
        Err(e) => (Status::Error, error_text(&e)),
        Ok(found) => match artifact::merge_legacy(&found.bytes, ours) {
            Ok(None) => (Status::Ok, format!("in {}", artifact::legacy_tag(subject))),
            Ok(Some(_)) => (
                Status::SignatureMissing,
                format!("{} does not hold this bundle's signature", artifact::legacy_tag(subject)),
            ),
            Err(e) => (
                Status::SignatureMissing,
                format!("{} is not a signature image: {e}", artifact::legacy_tag(subject)),
            ),
        },
    }
}

/// The referrer must be listed for the subject and be there by digest, byte for byte.
async fn referrer_signature(
    client: &Registry,
    repo: &Reference,
    subject: &crate::oci::Digest,
    manifest: &crate::oci::Digest,
) -> (Status, String) {
    match client.referrers(repo, subject).await {
        Err(e) => (Status::Error, error_text(&e)),
        Ok(listed) if !listed.iter().any(|d| d.digest == *manifest) => {
            (Status::SignatureMissing, format!("{subject} lists no referrer {manifest}"))
        }
        Ok(_) => match client.fetch_manifest(&repo.with_digest(manifest.clone())).await {
            Ok(_) => (Status::Ok, format!("referrer {manifest}")),
            Err(e) if e.is_not_found() => (Status::SignatureMissing, format!("referrer {manifest} is listed but not there")),
            Err(registry::Error::DigestMismatch { found, .. }) => (
                Status::SignatureMissing,
                format!("referrer {manifest} is served as other bytes ({found})"),
            ),
            Err(e) => (Status::Error, error_text(&e)),
        },
    }
}
