use sealift::sign::{Algorithm, SigningKey};

use crate::support::*;

/// Write a second signer's key pair (Ed25519: it may co-sign bundles) next to the release key.
fn second_signer(release: &Release) -> String {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    std::fs::write(
        release.path("keys/second.key"),
        key.to_encrypted_pem(KEY_PASSWORD.as_bytes()).unwrap(),
    )
    .unwrap();
    let public = key.public_key().unwrap();
    std::fs::write(release.path("keys/second.pub"), public.to_pem().unwrap()).unwrap();
    public.id().to_string()
}

fn verify_with(release: &Release, bundle: &str, trust: &str) -> (Option<i32>, serde_json::Value, String) {
    std::fs::write(release.path("trust.yaml"), trust).unwrap();
    let o = sealift(release.dir.path(), &["verify", bundle, "--trust", "trust.yaml", "--format", "json"]);
    let doc = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o.status.code(), doc, text(&o))
}

#[tokio::test(flavor = "multi_thread")]
async fn threshold_co_signing_expiry_and_revocation() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    let bundle = create_bundle(&release, &source, "release.tar");
    let second_id = second_signer(&release);
    let two_of_two = "threshold: 2\nkeys:\n  - name: release\n    path: keys/sealift.pub\n  - name: second\n    path: keys/second.pub\n";

    // One signature of two required: refused, and the report says who signed.
    let (code, doc, out) = verify_with(&release, "release.tar", two_of_two);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(doc["failures"][0]["code"], "threshold-not-met", "{out}");
    assert_eq!(doc["threshold_met"], false);
    assert_eq!(doc["signers"][0]["signed"], true);
    assert_eq!(doc["signers"][1]["signed"], false);

    // The second signer co-signs; only a signature entry is added.
    let before = std::fs::read(&bundle).unwrap();
    let o = sealift(release.dir.path(), &["bundle", "sign", "release.tar", "--key", "keys/second.key"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&second_id), "{}", text(&o));
    let after = std::fs::read(&bundle).unwrap();
    assert_eq!(after.len(), before.len() + 1024, "one header and one data block");
    let (code, doc, out) = verify_with(&release, "release.tar", two_of_two);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(doc["threshold_met"], true);
    assert_eq!(doc["signers"][1]["algorithm"], "ed25519");
    // Everything after the signatures is byte for byte what it was.
    let tail = (1024 * 1024).min(before.len() / 2);
    assert_eq!(before[before.len() - tail..], after[after.len() - tail..]);
    // Signing twice with the same key changes nothing.
    let o = sealift(release.dir.path(), &["bundle", "sign", "release.tar", "--key", "keys/second.key"]);
    assert!(o.status.success() && text(&o).contains("already signed"), "{}", text(&o));
    assert_eq!(std::fs::read(&bundle).unwrap(), after);

    // An expired key no longer counts, even though its signature is good.
    let expired = "keys:\n  - name: release\n    path: keys/sealift.pub\n    notAfter: 2020-01-01T00:00:00Z\n";
    let (code, doc, out) = verify_with(&release, "release.tar", expired);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(doc["signers"][0]["status"], "expired");
    assert!(
        doc["failures"][0]["message"].as_str().unwrap().contains("signed but is expired"),
        "{out}"
    );
    let not_yet = "keys:\n  - name: release\n    path: keys/sealift.pub\n    notBefore: 2999-01-01T00:00:00Z\n";
    let (code, _, out) = verify_with(&release, "release.tar", not_yet);
    assert_eq!(code, Some(1), "{out}");

    // A revoked key does not count either; with one other valid signer the threshold of 1
    // is still met, but image signatures by the revoked release key are then untrusted.
    let release_id = doc["signers"][0]["key_id"].as_str().unwrap().to_owned();
    let revoked = format!(
        "keys:\n  - name: release\n    path: keys/sealift.pub\n  - name: second\n    path: keys/second.pub\nrevoked: [{release_id}]\n"
    );
    let (code, doc, out) = verify_with(&release, "release.tar", &revoked);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(doc["signers"][0]["status"], "revoked");
    assert_eq!(doc["threshold_met"], true);
    assert!(out.contains("image-signature-invalid"), "{out}");

    // Valid dates around now: accepted, and the table names the keys and the threshold.
    let dated = "threshold: 2\nkeys:\n  - name: release\n    path: keys/sealift.pub\n    notBefore: 2020-01-01T00:00:00Z\n    notAfter: 2999-01-01T00:00:00Z\n  - name: second\n    path: keys/second.pub\n";
    std::fs::write(release.path("trust.yaml"), dated).unwrap();
    let o = sealift(release.dir.path(), &["verify", "release.tar", "--trust", "trust.yaml"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("2 of 2 required valid signature(s), met"), "{}", text(&o));

    // An Ed25519 key cannot make image signatures.
    let o = sealift(
        release.dir.path(),
        &["bundle", "create", "-o", "ed.tar", "--key", "keys/second.key"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("image signatures need a P-256 key"), "{}", text(&o));
}
