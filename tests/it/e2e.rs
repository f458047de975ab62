use sealift::oci::Reference;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn images_cross_the_gap_with_identical_digests() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    let bundle = create_bundle(&release, &source, "release.tar");
    // The bundle file gets the mode any new file gets here (0666 less the umask), so it can be
    // shared for copying like the output of tar; it holds nothing secret.
    {
        use std::os::unix::fs::PermissionsExt as _;
        let plain = release.path("plain-file");
        std::fs::File::create(&plain).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&bundle), mode(&plain), "{:o}", mode(&bundle));
    }

    let o = sealift(release.dir.path(), &["bundle", "inspect", "release.tar", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let inspect: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(inspect["index"]["name"], "test-release");
    assert_eq!(inspect["lock"]["app/alpha:1.0"], images.alpha.digest().to_string());
    assert_eq!(inspect["index"]["images"][2]["platforms"].as_array().unwrap().len(), 2);

    let o = sealift(release.dir.path(), &["verify", "release.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("VERIFIED"), "{}", text(&o));

    let o = load(&release, bundle.to_str().unwrap(), &target, &[]);
    assert!(o.status.success(), "load failed:\n{}", text(&o));

    // Every manifest in the target has the source's digest, under the same repository path.
    let client = target.client();
    let at = |r: &str| -> Reference { format!("{}/{r}", target.host).parse().unwrap() };
    let alpha = client.fetch_manifest(&at("app/alpha:1.0")).await.unwrap();
    assert_eq!(alpha.digest, images.alpha.digest());
    let beta = client
        .fetch_manifest(&at(&format!("app/beta@{}", images.beta.digest())))
        .await
        .unwrap();
    assert_eq!(beta.bytes.as_ref(), images.beta.bytes.as_slice());
    let multi = client.fetch_manifest(&at("app/multi:3.0")).await.unwrap();
    assert_eq!(multi.digest, images.multi.digest());
    for child in &images.multi_children {
        let m = client.fetch_manifest(&at(&format!("app/multi@{}", child.digest()))).await.unwrap();
        assert_eq!(m.digest, child.digest());
    }
    let mut repos = target.catalog();
    repos.sort();
    assert_eq!(repos, ["app/alpha", "app/beta", "app/multi"]);

    // A second load finds every blob already present and pushes none.
    let o = load(&release, "release.tar", &target, &["--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["verify"]["verified"], true);
    assert_eq!(report["load"]["images"].as_array().unwrap().len(), 3);
    for image in report["load"]["images"].as_array().unwrap() {
        assert_eq!(image["blobs_pushed"], 0, "{image}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn platform_subset_makes_a_new_index_and_records_the_source_digest() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    std::fs::write(
        release.path("sealift.yaml"),
        format!(
            "name: subset\nimages:\n  - ref: {}/app/multi:3.0\n    platforms: [linux/arm64]\n",
            source.host
        ),
    )
    .unwrap();
    create_bundle(&release, &source, "subset.tar");
    let o = sealift(release.dir.path(), &["bundle", "inspect", "subset.tar", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let image = &v["index"]["images"][0];
    assert_eq!(image["sourceDigest"], images.multi.digest().to_string());
    assert_ne!(image["digest"], images.multi.digest().to_string());
    assert_eq!(image["platforms"].as_array().unwrap().len(), 1);
    assert_eq!(image["platforms"][0]["digest"], images.multi_children[1].digest().to_string());
    let o = sealift(release.dir.path(), &["verify", "subset.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));

    std::fs::write(
        release.path("sealift.yaml"),
        format!(
            "name: subset\nimages:\n  - ref: {}/app/multi:3.0\n    platforms: [linux/s390x]\n",
            source.host
        ),
    )
    .unwrap();
    let ca = source.ca();
    let o = sealift(
        release.dir.path(),
        &[
            "bundle",
            "create",
            "-o",
            "none.tar",
            "--key",
            "keys/sealift.key",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("linux/s390x") && text(&o).contains("linux/amd64, linux/arm64"),
        "{}",
        text(&o)
    );
    assert!(!release.path("none.tar").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_registry_password_and_unknown_ca_are_environment_errors() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    let o = sealift(
        release.dir.path(),
        &["bundle", "create", "-o", "x.tar", "--key", "keys/sealift.key"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("app/alpha"), "the error names the image: {}", text(&o));

    // Where the bundle cannot go is known before any image is pulled.
    std::fs::create_dir(release.path("out-dir")).unwrap();
    for (output, says) in [("out-dir", "is a directory"), ("no/such/x.tar", "does not exist")] {
        let o = sealift(release.dir.path(), &["bundle", "create", "-o", output, "--key", "keys/sealift.key"]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(says) && !text(&o).contains("app/alpha"), "{}", text(&o));
    }

    let ca = source.ca();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sealift"))
        .current_dir(release.dir.path())
        .args([
            "bundle",
            "create",
            "-o",
            "x.tar",
            "--key",
            "keys/sealift.key",
            "--ca-file",
            ca.to_str().unwrap(),
        ])
        .env("SEALIFT_PASSWORD", KEY_PASSWORD)
        .env("SEALIFT_REGISTRY_USERNAME", USER)
        .env("SEALIFT_REGISTRY_PASSWORD", "wrong")
        .env("HOME", release.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!release.path("x.tar").exists());
}
