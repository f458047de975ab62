use std::process::Command;

use base64::Engine as _;
use futures_util::TryStreamExt as _;
use sealift::oci::{Descriptor, Digest, Manifest, Reference, media_type};
use sealift::registry::Registry;
use sealift::sign::PublicKey;
use sealift::sign::artifact::{SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE};
use sealift::sign::sigstore_bundle::{BUNDLE_V03, SigstoreBundle};
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities as _};
use sigstore::crypto::SigningScheme;

use crate::support::*;

async fn blob(client: &Registry, repo: &Reference, d: &Descriptor) -> Vec<u8> {
    let chunks: Vec<bytes::Bytes> = client.fetch_blob(repo, d).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

/// `openssl dgst -sha256 -verify PUB -signature SIG PAYLOAD`, as in the cosign docs.
fn openssl_verifies(dir: &std::path::Path, public: &std::path::Path, payload: &[u8], der: &[u8]) -> bool {
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
/// skips key-signed offline bundles; those are checked below from the registry's copy.)
async fn sigstore_verifies(target: &TestRegistry, image: &str, public_pem: &str) -> bool {
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

#[tokio::test(flavor = "multi_thread")]
async fn loaded_signatures_are_accepted_by_openssl_and_sigstore() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    let bundle = create_bundle(&release, &source, "release.tar");
    let o = sealift(release.dir.path(), &["verify", "release.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));
    // 3 images + 2 platform manifests, two formats each.
    assert!(text(&o).contains("image sigs: 10 verified"), "{}", text(&o));
    let ca = target.ca();
    let load = |what: &str| {
        let o = sealift(
            release.dir.path(),
            &[
                "load",
                bundle.to_str().unwrap(),
                "--key",
                "keys/sealift.pub",
                "--registry",
                &target.host,
                "--ca-file",
                ca.to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        assert!(o.status.success(), "{what} load failed:\n{}", text(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let first = load("first");
    assert_eq!(first["load"]["images"][2]["signatures"], 6, "{first}");

    let public = release.path("keys/sealift.pub");
    let public_pem = std::fs::read_to_string(&public).unwrap();
    let client = target.client();
    let work = tempfile::tempdir().unwrap();
    let subjects = [
        ("app/alpha", images.alpha.digest()),
        ("app/beta", images.beta.digest()),
        ("app/multi", images.multi.digest()),
        ("app/multi", images.multi_children[0].digest()),
        ("app/multi", images.multi_children[1].digest()),
    ];
    for (repo, digest) in &subjects {
        let repo_ref: Reference = format!("{}/{repo}:x", target.host).parse().unwrap();
        // Legacy: the `.sig` tag holds one simple-signing layer; openssl accepts its signature
        // over the exact payload bytes, and rejects it over a changed payload.
        let sig_ref: Reference = format!("{}/{repo}:{}.sig", target.host, digest.tag_form()).parse().unwrap();
        let sig = client.fetch_manifest(&sig_ref).await.unwrap();
        let Manifest::Image { layers, .. } = Manifest::parse(&sig.bytes, &sig.media_type).unwrap() else {
            panic!("{sig_ref} is not an image manifest");
        };
        assert_eq!(layers.len(), 1, "{sig_ref}");
        assert_eq!(layers[0].media_type, SIMPLE_SIGNING_MEDIA_TYPE);
        let payload = blob(&client, &repo_ref, &layers[0]).await;
        let der = base64::engine::general_purpose::STANDARD
            .decode(&layers[0].annotations[SIGNATURE_ANNOTATION])
            .unwrap();
        assert!(openssl_verifies(work.path(), &public, &payload, &der), "{sig_ref}");
        let forged = String::from_utf8(payload.clone())
            .unwrap()
            .replace(digest.hex(), Digest::of(b"another image").hex());
        assert!(!openssl_verifies(work.path(), &public, forged.as_bytes(), &der), "{sig_ref}");
        let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(claims["critical"]["image"]["docker-manifest-digest"], digest.to_string());

        // Bundle: Distribution has no referrers API, so the `sha256-<hex>` index lists the
        // referrer, whose subject is the image.
        let listed = client.referrers(&repo_ref, digest).await.unwrap();
        assert_eq!(listed.len(), 1, "{repo}@{digest}: {listed:?}");
        assert_eq!(listed[0].artifact_type.as_deref(), Some(BUNDLE_V03));
        let referrer = client
            .fetch_manifest(&repo_ref.with_digest(listed[0].digest.clone()))
            .await
            .unwrap();
        let Manifest::Image { layers, subject, .. } = Manifest::parse(&referrer.bytes, media_type::OCI_MANIFEST).unwrap() else {
            panic!("referrer is not an image manifest");
        };
        assert_eq!(subject.unwrap().digest, *digest);
        let bundle_json = SigstoreBundle::parse(&blob(&client, &repo_ref, &layers[0]).await).unwrap();
        let key = PublicKey::from_pem(&public_pem).unwrap();
        bundle_json.verify_image(&key, digest).unwrap();

        // sigstore-rs accepts the image with the public key, and not with another key.
        let image = format!("{}/{repo}@{digest}", target.host);
        assert!(sigstore_verifies(&target, &image, &public_pem).await, "sigstore rejected {image}");
        let other = std::fs::read_to_string(release.path("keys/other.pub")).unwrap();
        assert!(
            !sigstore_verifies(&target, &image, &other).await,
            "{image} verified with an unrelated key"
        );
    }

    // Loading again changes nothing: no duplicate layers, no duplicate referrers.
    let second = load("second");
    assert_eq!(second["load"]["images"][0]["signature_manifests_pushed"], 0, "{second}");
    let again = client
        .fetch_manifest(
            &format!("{}/app/alpha:{}.sig", target.host, images.alpha.digest().tag_form())
                .parse()
                .unwrap(),
        )
        .await
        .unwrap();
    let Manifest::Image { layers, .. } = Manifest::parse(&again.bytes, &again.media_type).unwrap() else {
        panic!()
    };
    assert_eq!(layers.len(), 1);
}
