use std::process::Command;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_copies_the_extracted_layout_and_bundles_are_reproducible() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    let first = create_bundle(&release, &source, "one.tar");
    let second = create_bundle(&release, &source, "two.tar");
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap(),
        "same inputs and SOURCE_DATE_EPOCH must give the same bytes"
    );

    let extracted = tempfile::tempdir().unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(&first)
        .arg("-C")
        .arg(extracted.path())
        .status()
        .unwrap();
    assert!(st.success());
    let certs = tempfile::tempdir().unwrap();
    std::fs::copy(target.ca(), certs.path().join("ca.crt")).unwrap();
    let layout = extracted.path().to_str().unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "--insecure-policy", "--all", "--preserve-digests", "--dest-cert-dir"])
        .arg(certs.path())
        .args(["--dest-creds", &format!("{USER}:{PASSWORD}")])
        .arg(format!("oci:{layout}:app/multi:3.0"))
        .arg(format!("docker://{}/copied/multi:3.0", target.host))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo copy failed: {}", String::from_utf8_lossy(&out.stderr));
    let copied = target
        .client()
        .fetch_manifest(&format!("{}/copied/multi:3.0", target.host).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(copied.digest, images.multi.digest());
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_layout_and_oci_archive_sources_keep_digests() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    let first = create_bundle(&release, &source, "first.tar");
    // The bundle is itself a tar holding an OCI layout: use it as an oci-archive: source, and
    // its extraction as an oci: source.
    let extracted = release.path("extracted");
    std::fs::create_dir_all(&extracted).unwrap();
    assert!(
        Command::new("tar")
            .arg("-xf")
            .arg(&first)
            .arg("-C")
            .arg(&extracted)
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(
        release.path("sealift.yaml"),
        format!(
            "name: rebundle\nimages:\n  - ref: oci:{}:app/multi:3.0\n    name: again/multi:3.0\n  - ref: oci-archive:{}:app/alpha:1.0\n    name: again/alpha:1.0\n",
            extracted.display(),
            first.display()
        ),
    )
    .unwrap();
    let o = sealift(
        release.dir.path(),
        &["bundle", "create", "-o", "second.tar", "--key", "keys/sealift.key"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = sealift(release.dir.path(), &["bundle", "inspect", "second.tar", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["lock"]["again/multi:3.0"], images.multi.digest().to_string());
    assert_eq!(v["lock"]["again/alpha:1.0"], images.alpha.digest().to_string());
    let o = sealift(release.dir.path(), &["verify", "second.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));

    // A tag the layout does not have is an error that lists the tags it has.
    std::fs::write(
        release.path("sealift.yaml"),
        format!("name: x\nimages:\n  - ref: oci:{}:nope\n    name: a/b:1\n", extracted.display()),
    )
    .unwrap();
    let o = sealift(
        release.dir.path(),
        &["bundle", "create", "-o", "bad.tar", "--key", "keys/sealift.key"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("no manifest tagged `nope`") && text(&o).contains("app/alpha:1.0"),
        "{}",
        text(&o)
    );
}
