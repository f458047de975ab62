//! Does each image carry a PASSED import receipt signed by the site key? Read from the
//! image's `sha256-<hex>.att` tag, then from its referrers; anything there that is not a
//! receipt by the site key about this digest does not count.

use super::report::Status;
use crate::oci::{Digest, Reference};
use crate::receipt::{Import, VSA_V1, Verdict};
use crate::registry::Registry;
use crate::sign::PublicKey;
use crate::sign::artifact::{MAX_SIGNATURE_BLOB, SignatureFormat};
use crate::sign::attestation;

/// The verdict on `subject`'s receipts in `repo`.
pub(super) async fn receipt(client: &Registry, repo: &Reference, subject: &Digest, key: &PublicKey) -> Result<(Status, String), String> {
    let mut objects: Vec<(SignatureFormat, Vec<u8>)> = Vec::new();
    let tag = attestation::attestation_tag(subject);
    let at = Reference {
        tag: Some(tag.clone()),
        digest: None,
        ..repo.clone()
    };
    match client.fetch_manifest(&at).await {
        Ok(m) => objects.push((SignatureFormat::CosignLegacy, m.bytes.to_vec())),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.to_string()),
    }
    for d in client.referrers(repo, subject).await.map_err(|e| e.to_string())? {
        if d.annotations.get(crate::sign::artifact::PREDICATE_ANNOTATION).map(String::as_str) != Some(VSA_V1) {
            continue;
        }
        let m = client
            .fetch_manifest_sized(&repo.with_digest(d.digest.clone()), Some(d.size))
            .await
            .map_err(|e| format!("referrer {}: {e}", d.digest))?;
        objects.push((SignatureFormat::SigstoreBundle, m.bytes.to_vec()));
    }
    let mut rejected = Vec::new();
    for (format, manifest) in &objects {
        let Ok(layers) = attestation::layers_of(*format, manifest, VSA_V1) else {
            rejected.push(format!("a {format} object that is not an attestation image"));
            continue;
        };
        for layer in layers {
            let bytes = client
                .fetch_small_blob(repo, &layer, MAX_SIGNATURE_BLOB)
                .await
                .map_err(|e| format!("receipt {}: {e}", layer.digest))?;
            match Import::from_layer(*format, &bytes, key).map_err(|e| e.to_string()) {
                Ok((import, subjects)) if import.result == Verdict::Passed && subjects.contains(subject) => {
                    let who = import
                        .operator
                        .user
                        .clone()
                        .unwrap_or_else(|| format!("uid {}", import.operator.uid));
                    return Ok((
                        Status::Ok,
                        format!(
                            "PASSED receipt: loaded {} by {who} (uid {}, gid {}) on {} from {}",
                            import.finished,
                            import.operator.uid,
                            import.operator.gid,
                            import.operator.host,
                            import.bundle.name.as_deref().unwrap_or(&import.bundle.file)
                        ),
                    ));
                }
                Ok((import, _)) if import.result != Verdict::Passed => rejected.push("a FAILED receipt".to_owned()),
                Ok(_) => rejected.push("a receipt about other digests".to_owned()),
                Err(e) => rejected.push(e),
            }
        }
    }
    rejected.sort();
    rejected.dedup();
    let detail = if rejected.is_empty() {
        format!("no import receipt signed by site key {} ({tag} and referrers)", key.id())
    } else {
        format!("no valid import receipt by site key {}: {}", key.id(), rejected.join("; "))
    };
    Ok((Status::ReceiptMissing, detail))
}
