//! One piece of [`super::Work`] asked of the registry, judged into items.

use futures_util::StreamExt as _;

use super::report::{Item, ItemKind, Status};
use super::{CheckOptions, Work, signatures};
use crate::oci::{DigestCounter, Reference};
use crate::registry::{self, Registry};

/// Run `work` (asked by `image`, expected by the bundle labelled `bundle`).
pub(super) async fn run(client: &Registry, options: &CheckOptions, work: &Work, image: String, bundle: String) -> Vec<Item> {
    let item = |kind: ItemKind, subject: String, status: Status, detail: String| Item {
        kind,
        image: image.clone(),
        subject,
        status,
        detail,
        bundle: bundle.clone(),
        from_state: false,
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
            let (status, detail) = if options.deep {
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
        Work::Signature { repo, subject, legacy } => {
            let verdict = if *legacy {
                signatures::legacy(client, repo, subject, options).await
            } else {
                signatures::referrers(client, repo, subject, options).await
            };
            let (status, detail) = verdict.unwrap_or_else(|e| (Status::Error, e));
            let subject = format!("{} of {subject}", if *legacy { "cosign .sig" } else { "sigstore bundle" });
            vec![item(ItemKind::Signature, subject, status, detail)]
        }
        Work::Receipt { repo, subject } => {
            let (status, detail) = match &options.receipt_key {
                Some(key) => super::receipts::receipt(client, repo, subject, key)
                    .await
                    .unwrap_or_else(|e| (Status::Error, e)),
                None => (Status::NotChecked, "no site key given".to_owned()),
            };
            vec![item(ItemKind::Receipt, subject.to_string(), status, detail)]
        }
        Work::Catalog { registry, expected } => match client.list_repositories(registry).await {
            Err(e) => vec![item(ItemKind::Repositories, registry.clone(), Status::Error, error_text(&e))],
            Ok(found) => {
                let extra: Vec<&String> = found.iter().filter(|r| !expected.contains(*r)).collect();
                if extra.is_empty() {
                    vec![item(
                        ItemKind::Repositories,
                        registry.clone(),
                        Status::Ok,
                        format!("{} repositories, all named by a bundle", found.len()),
                    )]
                } else {
                    extra
                        .into_iter()
                        .map(|r| {
                            item(
                                ItemKind::Repositories,
                                r.clone(),
                                Status::Unexpected,
                                "no bundle names this repository".to_owned(),
                            )
                        })
                        .collect()
                }
            }
        },
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
    registry::retry::chain(e)
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
