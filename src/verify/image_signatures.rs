//! Step 6: image signatures, checked offline from the bundle's own copies.
//!
//! Every image and each of its platform manifests must carry a valid release signature in
//! both cosign formats, made by a key the operator trusts today. Every signature object the
//! bundle lists must be valid: one that is malformed, covers another digest, or was made by
//! an untrusted key fails verification instead of being skipped. Upstream signatures are
//! checked against the publisher keys `bundle.json` records for the image.

use super::bundle_blobs::BundleBlobs;
use super::{Failure, FailureCode};
use crate::bundle::{BundleIndex, ImageRecord, SignatureOrigin, SignatureRecord};
use crate::sign::PublicKey;
use crate::sign::artifact::{self, SignatureFormat};

/// Check every image's signatures; returns how many verified.
pub(super) fn check(index: &BundleIndex, blobs: &BundleBlobs<'_>, trusted: &[PublicKey], failures: &mut Vec<Failure>) -> usize {
    let mut verified = 0;
    for image in &index.images {
        let name = image.display_name();
        let upstream = match upstream_keys(image) {
            Ok(k) => k,
            Err(msg) => {
                failures.push(Failure::new(FailureCode::ImageSignatureInvalid, &name, msg));
                continue;
            }
        };
        let mut upstream_verified = false;
        for rec in &image.signatures {
            let ours = image.subjects().contains(&&rec.subject) || image.source_digest.as_ref() == Some(&rec.subject);
            if !ours {
                failures.push(Failure::new(
                    FailureCode::ImageSignatureInvalid,
                    &name,
                    format!("signature {} is for {}, which is not this image", rec.manifest, rec.subject),
                ));
                continue;
            }
            let keys = match rec.origin {
                SignatureOrigin::Release => trusted,
                SignatureOrigin::Upstream => &upstream,
            };
            match check_one(rec, blobs, keys) {
                Ok(()) => {
                    verified += 1;
                    upstream_verified |= rec.origin == SignatureOrigin::Upstream;
                }
                Err(msg) => failures.push(Failure::new(
                    FailureCode::ImageSignatureInvalid,
                    format!("{name} {}", rec.subject.short()),
                    format!("{} {} signature {}: {msg}", origin_word(rec.origin), rec.format, rec.manifest),
                )),
            }
        }
        for subject in image.subjects() {
            for format in [SignatureFormat::CosignLegacy, SignatureFormat::SigstoreBundle] {
                let listed = image
                    .signatures
                    .iter()
                    .any(|r| r.origin == SignatureOrigin::Release && r.subject == *subject && r.format == format);
                if !listed {
                    failures.push(Failure::new(
                        FailureCode::ImageSignatureMissing,
                        format!("{name} {}", subject.short()),
                        format!("no release {format} signature for {subject}"),
                    ));
                }
            }
        }
        if !upstream.is_empty() && !upstream_verified {
            failures.push(Failure::new(
                FailureCode::ImageSignatureMissing,
                &name,
                "bundle.json names upstream keys for this image but carries no valid upstream signature",
            ));
        }
    }
    verified
}

fn origin_word(origin: SignatureOrigin) -> &'static str {
    match origin {
        SignatureOrigin::Release => "release",
        SignatureOrigin::Upstream => "upstream",
    }
}

fn upstream_keys(image: &ImageRecord) -> Result<Vec<PublicKey>, String> {
    image
        .upstream_keys
        .iter()
        .map(|pem| PublicKey::from_pem(pem).map_err(|e| format!("upstream key in bundle.json: {e}")))
        .collect()
}

fn check_one(rec: &SignatureRecord, blobs: &BundleBlobs<'_>, keys: &[PublicKey]) -> Result<(), String> {
    let manifest = blobs
        .manifests
        .get(&rec.manifest)
        .ok_or_else(|| "the signature manifest is not a verified manifest of the bundle".to_owned())?;
    let checked = artifact::check(rec.format, manifest, &rec.subject, keys, &mut |d| blobs.read(d)).map_err(|e| e.to_string())?;
    if !checked.invalid.is_empty() {
        return Err(checked.invalid.join("; "));
    }
    if checked.signers.is_empty() {
        let ids: Vec<String> = keys.iter().map(|k| k.id().to_string()).collect();
        return Err(format!(
            "made by none of the trusted keys ({})",
            if ids.is_empty() { "none valid".to_owned() } else { ids.join(", ") }
        ));
    }
    Ok(())
}
