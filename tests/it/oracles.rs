//! Independent verifiers of what sealift pushed: openssl, sigstore-rs (cosign's legacy
//! format, found in the registry the way cosign finds it), and the sigstore project's own Rust
//! types and crypto for the Sigstore bundle format.

use std::process::Command;

use sealift::oci::Digest;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities as _};
use sigstore::crypto::SigningScheme;
use sigstore_crypto::SigningScheme as BundleScheme;
use sigstore_types::bundle::{SignatureContent, VerificationMaterialContent};
use sigstore_types::{Bundle, DerPublicKey, Statement};

use crate::support::*;

/// `openssl dgst -sha256 -verify PUB -signature SIG PAYLOAD`, as in the cosign docs.
pub fn openssl_verifies(dir: &std::path::Path, public: &std::path::Path, payload: &[u8], der: &[u8]) -> bool {
    std::fs::write(dir.join("payload.json"), payload).unwrap();
    std::fs::write(dir.join("sig.der"), der).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public)
        .args(["-signature", "sig.der", "payload.json"])
        .current_dir(dir)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Verified OK") || said.contains("Verification failure"), "{said}");
    out.status.success() && said.contains("Verified OK")
}

/// sigstore-rs, given only the public key and the image reference in the target registry,
/// finds the `.sig` signatures the way cosign does and checks them against the key.
/// (sigstore-rs 0.15 reads bundle referrers only with a certificate and a Rekor entry, so it
/// skips key-signed offline bundles; [`sigstore_bundle_verifies`] checks those.)
pub async fn sigstore_verifies(target: &TestRegistry, image: &str, public_pem: &str) -> bool {
    let config = sigstore::registry::ClientConfig {
        extra_root_certificates: vec![sigstore::registry::Certificate {
            encoding: sigstore::registry::CertificateEncoding::Pem,
            data: std::fs::read(target.ca()).unwrap(),
        }],
        ..Default::default()
    };
    let mut client = ClientBuilder::default().with_oci_client_config(config).build().unwrap();
    let auth = sigstore::registry::Auth::Basic(USER.into(), PASSWORD.into());
    let reference: sigstore::registry::OciReference = image.parse().unwrap();
    let layers = client.trusted_signature_layers(&auth, &reference).await.unwrap();
    let verifier = PublicKeyVerifier::new(public_pem.as_bytes(), &SigningScheme::default()).unwrap();
    let constraints: VerificationConstraintVec = vec![Box::new(verifier)];
    !layers.is_empty() && sigstore::cosign::verify_constraints(&layers, constraints.iter()).is_ok()
}

/// A Sigstore bundle (the referrer's layer) checked for `digest` with the public key, by
/// sigstore-types and sigstore-crypto: it must parse under their schema as v0.3 with a public
/// key hint, the DSSE signature must verify over their PAE, and the in-toto statement must
/// name `digest` as a subject with cosign's signing predicate.
///
/// These are the steps of sigstore-verify's managed-key path. Its `Verifier` itself is not
/// used: it refuses any bundle without a transparency-log entry or an RFC 3161 timestamp
/// ("signing time evidence"), which is every offline, key-signed bundle.
pub fn sigstore_bundle_verifies(json: &[u8], public_pem: &str, digest: &Digest) -> bool {
    sigstore_models_parses(json);
    let bundle = Bundle::from_json(std::str::from_utf8(json).unwrap()).unwrap();
    assert_eq!(bundle.media_type.as_str(), sealift::sign::sigstore_bundle::BUNDLE_V03);
    let VerificationMaterialContent::PublicKey(id) = &bundle.verification_material.content else {
        panic!("bundle carries no public key hint");
    };
    assert!(!id.hint.is_empty());
    let SignatureContent::DsseEnvelope(envelope) = &bundle.content else {
        panic!("bundle content is not a DSSE envelope");
    };
    let key = DerPublicKey::from_pem(public_pem).unwrap();
    if sigstore_crypto::verify_signature(&key, &envelope.pae(), &envelope.signature.sig, BundleScheme::EcdsaP256Sha256).is_err() {
        return false;
    }
    assert_eq!(envelope.payload_type, "application/vnd.in-toto+json");
    let statement: Statement = serde_json::from_slice(envelope.payload.as_bytes()).unwrap();
    statement.predicate_type == "https://sigstore.dev/cosign/sign/v1"
        && statement
            .subject
            .iter()
            .any(|s| s.digest.sha256.as_ref().is_some_and(|h| h.to_hex() == digest.hex()))
}

/// Run `code` with the tools venv's Python (scripts/install-deps.sh), `args` as its argv and
/// `stdin` on standard input.
pub fn tools_python(code: &str, args: &[&str], stdin: &[u8]) -> std::process::Output {
    use std::io::Write as _;
    let python = crate::harden::kubernetes_validate().with_file_name("python3");
    let mut child = Command::new(python)
        .arg("-c")
        .arg(code)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// sigstore-models (the sigstore project's Python models, what sigstore-python reads bundles
/// with) parses `json` as a Sigstore bundle; panics with its complaint otherwise.
pub fn sigstore_models_parses(json: &[u8]) {
    let out = tools_python(
        "import sys\nfrom sigstore_models.bundle.v1 import Bundle\nBundle.from_json(sys.stdin.buffer.read())",
        &[],
        json,
    );
    assert!(
        out.status.success(),
        "sigstore-models refuses the bundle: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The release's legacy `.sig` image for `digest` in `repo` (a `host/repository:x` reference
/// in the target registry): every simple-signing layer whose payload names `digest`, checked
/// by openssl against `public`. True when at least one verifies and none fails.
pub async fn legacy_signature_verifies(
    target: &TestRegistry,
    repo: &sealift::oci::Reference,
    digest: &Digest,
    public: &std::path::Path,
) -> bool {
    legacy_layers_verified(target, repo, digest, public)
        .await
        .is_some_and(|v| !v.is_empty() && v.iter().all(|ok| *ok))
}

/// Whether the `.sig` image for `digest` holds a layer signed with `public` (others may be
/// by other keys; every layer must name `digest`).
pub async fn legacy_signature_by(target: &TestRegistry, repo: &sealift::oci::Reference, digest: &Digest, public: &std::path::Path) -> bool {
    legacy_layers_verified(target, repo, digest, public)
        .await
        .is_some_and(|v| v.iter().any(|ok| *ok))
}

/// Per layer of the `.sig` image: does `public` verify it? `None` when the image is missing or
/// a layer names another digest.
async fn legacy_layers_verified(
    target: &TestRegistry,
    repo: &sealift::oci::Reference,
    digest: &Digest,
    public: &std::path::Path,
) -> Option<Vec<bool>> {
    use base64::Engine as _;
    use sealift::sign::artifact::SIGNATURE_ANNOTATION;
    let client = target.client();
    let sig_ref = sealift::oci::Reference {
        tag: Some(format!("{}.sig", digest.tag_form())),
        digest: None,
        ..repo.clone()
    };
    let Ok(sig) = client.fetch_manifest(&sig_ref).await else {
        return None;
    };
    let Ok(sealift::oci::Manifest::Image { layers, .. }) = sealift::oci::Manifest::parse(&sig.bytes, &sig.media_type) else {
        return None;
    };
    let work = tempfile::tempdir().unwrap();
    let mut verified = Vec::new();
    for layer in &layers {
        let payload = fetch_blob_bytes(&client, repo, layer).await;
        let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        if claims["critical"]["image"]["docker-manifest-digest"] != digest.to_string() {
            return None;
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(&layer.annotations[SIGNATURE_ANNOTATION])
            .unwrap();
        verified.push(openssl_verifies(work.path(), public, &payload, &der));
    }
    Some(verified)
}
