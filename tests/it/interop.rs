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
