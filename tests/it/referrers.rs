//! Registries with the OCI 1.1 referrers API: sealift uses the API on push and on read, and
//! writes no `sha256-<hex>` tag-schema index where the API lists the referrer itself.

use sealift::oci::Reference;
use sealift::sign::artifact;
use sealift::sign::{Algorithm, SigningKey};

use crate::oracles::sigstore_bundle_verifies;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn load_lists_bundle_signatures_through_the_referrers_api() {
    let source = TestRegistry::start();
    let target = TestRegistry::with_referrers_api();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    create_bundle(&release, &source, "release.tar");
    let load = |what: &str| {
        let o = load(&release, "release.tar", &target, &["--format", "json"]);
        assert!(o.status.success(), "{what} load failed:\n{}", text(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let first = load("first");
    // multi: 3 subjects x (legacy .sig image + bundle referrer), and no fallback indexes.
    assert_eq!(first["load"]["images"][2]["signatures"], 6, "{first}");
    assert_eq!(first["load"]["images"][2]["signature_manifests_pushed"], 6, "{first}");
    assert!(target.referrers_listings() > 0, "load never asked the referrers API");

    let client = target.client();
    let public_pem = std::fs::read_to_string(release.path("keys/sealift.pub")).unwrap();
    for (repo, digest) in &images.subjects() {
        let repo_ref: Reference = format!("{}/{repo}:x", target.host).parse().unwrap();
        let bundle_json = sole_bundle_referrer(&client, &repo_ref, digest).await;
        assert!(sigstore_bundle_verifies(&bundle_json, &public_pem, digest), "{repo}@{digest}");
        // The registry itself holds the `.sig` tag, and no tag-schema index.
        let tags = target.tags(repo);
        assert!(tags.contains(&artifact::legacy_tag(digest)), "{repo}: {tags:?}");
        assert!(!tags.contains(&artifact::fallback_tag(digest)), "{repo}: {tags:?}");
    }

    let second = load("second");
    for i in 0..3 {
        assert_eq!(second["load"]["images"][i]["signature_manifests_pushed"], 0, "{second}");
    }
    let alpha_ref: Reference = format!("{}/app/alpha:x", target.host).parse().unwrap();
    assert_eq!(client.referrers(&alpha_ref, &images.alpha.digest()).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn provenance_finds_a_referrer_only_the_api_lists() {
    let source = TestRegistry::with_referrers_api();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    let vendor = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
    std::fs::write(release.path("keys/vendor.pub"), vendor.public_key().unwrap().to_pem().unwrap()).unwrap();

    // The publisher signs the multi-arch index as a bundle, pushed by digest with no
    // `sha256-<hex>` tag: only the referrers API can find it.
    let multi = images.multi.described();
    let referrer = artifact::bundle_referrer(&vendor, &format!("{}/app/multi", source.host), &multi, "2026-11-01T00:00:00Z").unwrap();
    let repo: Reference = format!("{}/app/multi:x", source.host).parse().unwrap();
    publish(&source.client(), &repo, &multi.digest, &referrer, false).await;
    assert_eq!(source.tags("app/multi"), ["3.0"]);

    let yaml = |host: &str| format!("name: p\nprovenance:\n  keys: [keys/vendor.pub]\nimages:\n  - {host}/app/multi:3.0\n");
    std::fs::write(release.path("api.yaml"), yaml(&source.host)).unwrap();
    let o = create(&release, &source, "api.yaml", "api.tar");
    assert!(o.status.success(), "{}", text(&o));
    let o = sealift(release.dir.path(), &["verify", "api.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));
    // release: the index and two platform manifests, two formats each; upstream: 1.
    assert!(text(&o).contains("image sigs: 7 verified"), "{}", text(&o));

    // Control: the same registry without the API in front has no way to list the referrer.
    std::fs::write(release.path("direct.yaml"), yaml(&source.backend)).unwrap();
    let o = create(&release, &source, "direct.yaml", "direct.tar");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not signed by any required key"), "{}", text(&o));
}
