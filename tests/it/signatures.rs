use base64::Engine as _;
use sealift::bundle::BundleIndex;
use sealift::oci::{Descriptor, Digest, Manifest, Reference};
use sealift::sign::artifact::{self, Artifact, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignatureFormat};
use sealift::sign::{Algorithm, SigningKey};
use sealift::store::Layout;

use crate::oracles::*;
use crate::support::*;

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
    let load = |what: &str| {
        let o = load(&release, bundle.to_str().unwrap(), &target, &["--format", "json"]);
        assert!(o.status.success(), "{what} load failed:\n{}", text(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let first = load("first");
    assert_eq!(first["load"]["images"][2]["signatures"], 6, "{first}");

    let public = release.path("keys/sealift.pub");
    let public_pem = std::fs::read_to_string(&public).unwrap();
    let client = target.client();
    let work = tempfile::tempdir().unwrap();
    for (repo, digest) in &images.subjects() {
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
        let payload = fetch_blob_bytes(&client, &repo_ref, &layers[0]).await;
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
        // referrer; sigstore's own types and crypto accept its bundle with the public key only.
        let bundle_json = sole_bundle_referrer(&client, &repo_ref, digest).await;
        assert!(sigstore_bundle_verifies(&bundle_json, &public_pem, digest), "{repo}@{digest}");
        let other = std::fs::read_to_string(release.path("keys/other.pub")).unwrap();
        assert!(!sigstore_bundle_verifies(&bundle_json, &other, digest), "{repo}@{digest}");
        assert!(!sigstore_bundle_verifies(&bundle_json, &public_pem, &Digest::of(b"another image")));

        // sigstore-rs accepts the image with the public key, and not with another key.
        let image = format!("{}/{repo}@{digest}", target.host);
        assert!(sigstore_verifies(&target, &image, &public_pem).await, "sigstore rejected {image}");
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

/// Store an artifact's blobs in the layout and return their descriptors.
fn store(layout: &Layout, a: &Artifact) -> Vec<Descriptor> {
    a.blobs
        .iter()
        .chain(std::iter::once(&a.manifest))
        .map(|b| {
            layout.write_blob(&b.bytes).unwrap();
            b.descriptor.clone()
        })
        .collect()
}

/// Point the first image's root signature of `format` at a new artifact.
fn replace(index: &mut BundleIndex, format: SignatureFormat, with: &Artifact) {
    let root = index.images[0].digest.clone();
    let rec = index.images[0]
        .signatures
        .iter_mut()
        .find(|r| r.subject == root && r.format == format)
        .unwrap();
    rec.manifest = with.manifest.descriptor.digest.clone();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_image_signatures_fail_verification() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    create_bundle(&release, &source, "good.tar");
    let alpha = images.alpha.digest();
    let beta = images.beta.digest();
    let stranger = SigningKey::generate(Algorithm::EcdsaP256).unwrap();

    // The tooling itself is not what fails: rewritten unchanged, the bundle verifies.
    rebundle(release.dir.path(), "good.tar", "same.tar", |_, _, _| Vec::new());
    let o = sealift(release.dir.path(), &["verify", "same.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));

    type Edit<'a> = Box<dyn FnOnce(&mut BundleIndex, &Layout, &SigningKey) -> Vec<Descriptor> + 'a>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "legacy signature by an unknown key",
            Box::new(|index, layout, _| {
                let a = artifact::legacy_signature(&stranger, "x/app/alpha", &alpha);
                replace(index, SignatureFormat::CosignLegacy, &a);
                store(layout, &a)
            }),
            "made by none of the trusted keys",
        ),
        (
            "bundle signature by an unknown key",
            Box::new(|index, layout, _| {
                let subject = images.alpha.described();
                let a = artifact::bundle_referrer(&stranger, "x/app/alpha", &subject, "2026-01-01T00:00:00Z").unwrap();
                replace(index, SignatureFormat::SigstoreBundle, &a);
                store(layout, &a)
            }),
            "made by none of the trusted keys",
        ),
        (
            "release key's legacy signature over another digest",
            Box::new(|index, layout, key| {
                let a = artifact::legacy_signature(key, "x/app/alpha", &beta);
                replace(index, SignatureFormat::CosignLegacy, &a);
                store(layout, &a)
            }),
            "signed digest",
        ),
        (
            "release key's bundle signature over another digest",
            Box::new(|index, layout, key| {
                let subject = images.beta.described();
                let a = artifact::bundle_referrer(key, "x/app/alpha", &subject, "2026-01-01T00:00:00Z").unwrap();
                replace(index, SignatureFormat::SigstoreBundle, &a);
                store(layout, &a)
            }),
            "subject",
        ),
        (
            "payload with an extra critical field",
            Box::new(|index, layout, key| {
                let payload = format!(
                    r#"{{"critical":{{"identity":{{"docker-reference":"x/app/alpha"}},"image":{{"docker-manifest-digest":"{alpha}"}},"type":"cosign container image signature","tag":"latest"}},"optional":null}}"#
                )
                .into_bytes();
                let sig = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload));
                let mut layer = artifact::Blob::new(SIMPLE_SIGNING_MEDIA_TYPE, payload);
                layer.descriptor.annotations.insert(SIGNATURE_ANNOTATION.into(), sig);
                let (config, manifest) = artifact::legacy_manifest(std::slice::from_ref(&layer.descriptor));
                let a = Artifact {
                    format: SignatureFormat::CosignLegacy,
                    manifest,
                    blobs: vec![config, layer],
                };
                replace(index, SignatureFormat::CosignLegacy, &a);
                store(layout, &a)
            }),
            "unknown field `tag`",
        ),
        (
            "platform manifest's signature dropped",
            Box::new(|index, _, _| {
                let child = index.images[2].platforms[1].digest.clone();
                index.images[2]
                    .signatures
                    .retain(|r| !(r.subject == child && r.format == SignatureFormat::SigstoreBundle));
                Vec::new()
            }),
            "image-signature-missing",
        ),
    ];
    for (i, (what, edit, expect)) in cases.into_iter().enumerate() {
        let name = format!("bad-{i}.tar");
        rebundle(release.dir.path(), "good.tar", &name, edit);
        let o = sealift(release.dir.path(), &["verify", &name, "--key", "keys/sealift.pub"]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: verify did not refuse:\n{out}");
        assert!(out.contains(expect), "{what}: expected `{expect}` in:\n{out}");
        assert!(out.contains("image-signature-"), "{what}:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_provenance_is_required_checked_and_carried() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    let h = source.host.clone();
    let client = source.client();
    let repo = |r: &str| -> Reference { format!("{h}/{r}:x").parse().unwrap() };

    // The publisher signs alpha in the legacy format and the multi-arch index as a bundle.
    let vendor = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
    std::fs::write(release.path("keys/vendor.pub"), vendor.public_key().unwrap().to_pem().unwrap()).unwrap();
    let alpha = images.alpha.digest();
    let legacy = artifact::legacy_signature(&vendor, &format!("{h}/app/alpha"), &alpha);
    publish(&client, &repo("app/alpha"), &alpha, &legacy, true).await;
    let multi = images.multi.described();
    let referrer = artifact::bundle_referrer(&vendor, &format!("{h}/app/multi"), &multi, "2026-11-01T00:00:00Z").unwrap();
    publish(&client, &repo("app/multi"), &multi.digest, &referrer, true).await;

    let create = |yaml: String, out: &str| {
        std::fs::write(release.path("prov.yaml"), yaml).unwrap();
        create(&release, &source, "prov.yaml", out)
    };
    // beta is unsigned: nothing is written, and the error names it.
    let o = create(
        format!(
            "name: p\nprovenance:\n  keys: [keys/vendor.pub]\nimages:\n  - {h}/app/alpha:1.0\n  - {h}/app/beta@{}\n",
            images.beta.digest()
        ),
        "unsigned.tar",
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("app/beta") && text(&o).contains("not signed by any required key"),
        "{}",
        text(&o)
    );
    assert!(!release.path("unsigned.tar").exists());
    // A key the publisher did not use is no better.
    let o = create(
        format!("name: p\nimages:\n  - ref: {h}/app/alpha:1.0\n    provenance: {{keys: [keys/other.pub]}}\n"),
        "wrong.tar",
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("app/alpha"), "{}", text(&o));

    // Signed images pass; their upstream signatures travel in the bundle and verify offline.
    let o = create(
        format!("name: p\nprovenance:\n  keys: [keys/vendor.pub]\nimages:\n  - {h}/app/alpha:1.0\n  - {h}/app/multi:3.0\n"),
        "prov.tar",
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = sealift(release.dir.path(), &["verify", "prov.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));
    // release: alpha 2 + multi (index and two platforms) 6; upstream: 2.
    assert!(text(&o).contains("image sigs: 10 verified"), "{}", text(&o));

    // After load, the alpha `.sig` image holds both signers' layers.
    let o = load(&release, "prov.tar", &target, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let sig_ref: Reference = format!("{}/app/alpha:{}", target.host, artifact::legacy_tag(&alpha))
        .parse()
        .unwrap();
    let sig = target.client().fetch_manifest(&sig_ref).await.unwrap();
    let Manifest::Image { layers, .. } = Manifest::parse(&sig.bytes, &sig.media_type).unwrap() else {
        panic!()
    };
    assert_eq!(layers.len(), 2, "release and publisher signatures");
    let target_ref: Reference = format!("{}/app/multi:x", target.host).parse().unwrap();
    assert_eq!(target.client().referrers(&target_ref, &multi.digest).await.unwrap().len(), 2);
}
