//! Image shapes that broke peer tools, built here and pushed to a real registry: each one is
//! signed, listed and scanned as a whole, or refused, never passed in silence.
//!
//! The vulnerable package is minimist 1.2.0 in an npm lockfile: GHSA-xvch-5gv4-984h is
//! "critical" in ../shared/vulndata/osv/npm, the database every test here builds.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use sealift::bundle::SignatureOrigin;
use sealift::oci::{Digest, ManifestKind, Reference, media_type};
use sealift::store::Layout;
use serde_json::json;

use crate::oracles::legacy_signature_verifies;
use crate::support::*;

pub const MINIMIST: &str = "GHSA-xvch-5gv4-984h";
pub const LOCKFILE: &[u8] =
    br#"{"name":"shop","lockfileVersion":3,"packages":{"":{"name":"shop"},"node_modules/minimist":{"version":"1.2.0"}}}"#;
const TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// A plain tar of `files` (path, content), written by the tar crate.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, body) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        b.append_data(&mut h, path, *body).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// One zstd frame, made by the `zstd` tool.
pub fn zstd_frame(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("zstd")
        .args(["-c", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// A tar+gzip layer of `files`.
pub fn gz_layer(files: &[(&str, &[u8])]) -> Blob {
    Blob {
        bytes: gzip(&tar_of(files)),
        media_type: media_type::OCI_LAYER_GZIP,
    }
}

/// An OCI index of these entries (descriptor JSON, with whatever platform or annotations).
pub fn index_of(entries: Vec<serde_json::Value>) -> Blob {
    let doc = json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": entries});
    Blob {
        bytes: serde_json::to_vec(&doc).unwrap(),
        media_type: media_type::OCI_INDEX,
    }
}

pub fn with_platform(b: &Blob, os: &str, arch: &str) -> serde_json::Value {
    let mut d = b.descriptor();
    d["platform"] = json!({"os": os, "architecture": arch});
    d
}

/// Push an image manifest and its blobs by digest; returns the manifest.
pub async fn push_image(reg: &TestRegistry, repo: &str, os: &str, arch: &str, layers: &[&Blob]) -> Blob {
    let client = reg.client();
    let r = repo_ref(reg, repo);
    let c = config(os, arch, false);
    for b in std::iter::once(&c).chain(layers.iter().copied()) {
        push_blob(&client, &r, b).await;
    }
    let m = manifest(&c, layers, false);
    push_manifest(&client, &r, &m, None).await;
    m
}

pub fn repo_ref(reg: &TestRegistry, repo: &str) -> Reference {
    format!("{}/{repo}:x", reg.host).parse().unwrap()
}

/// `db build` from the npm advisories only (eight records: fast).
pub fn npm_db(release: &Release) {
    let o = sealift(
        release.dir.path(),
        &[
            "db",
            "build",
            "--from",
            shared("vulndata/osv/npm").to_str().unwrap(),
            "-o",
            "vulndb",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}

pub const SCAN_CRITICAL: &str = "scan:\n  vuln-db: vulndb\n  fail-on: critical\n";
const ALLOW_MINIMIST: &str =
    "scan:\n  vuln-db: vulndb\n  fail-on: critical\n  allow:\n    - {id: GHSA-xvch-5gv4-984h, reason: test, expires: 2099-12-31}\n";

fn sorted(mut v: Vec<Digest>) -> Vec<Digest> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_index_images_are_signed_listed_scanned_and_subset() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let vulnerable = gz_layer(&[("srv/shop/package-lock.json", LOCKFILE)]);
    let clean = gz_layer(&[("etc/hostname", b"clean\n")]);
    let amd = push_image(&source, "app/nested", "linux", "amd64", &[&vulnerable]).await;
    let arm = push_image(&source, "app/nested", "linux", "arm64", &[&clean]).await;
    let s390 = push_image(&source, "app/nested", "linux", "s390x", &[&clean]).await;
    let inner = index_of(vec![with_platform(&amd, "linux", "amd64"), with_platform(&arm, "linux", "arm64")]);
    let outer = index_of(vec![inner.descriptor(), with_platform(&s390, "linux", "s390x")]);
    let client = source.client();
    push_manifest(&client, &repo_ref(&source, "app/nested"), &inner, None).await;
    push_manifest(&client, &repo_ref(&source, "app/nested"), &outer, Some("1")).await;
    let h = &source.host;
    let runnable = sorted(vec![amd.digest(), arm.digest(), s390.digest()]);

    // The critical package sits in the inner index's linux/amd64 image: the gate sees it.
    let release = Release::with_yaml(&format!("name: nested\nimages:\n  - {h}/app/nested:1\n{SCAN_CRITICAL}"));
    npm_db(&release);
    let o = create(&release, &source, "sealift.yaml", "nested.tar");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains(MINIMIST) && text(&o).contains("linux/amd64"), "{}", text(&o));
    assert!(!release.path("nested.tar").exists());

    // Allowed: every runnable manifest at every depth is listed, scanned and signed.
    release.write(
        "allowed.yaml",
        &format!("name: nested\nimages:\n  - {h}/app/nested:1\n{ALLOW_MINIMIST}"),
    );
    let o = create(&release, &source, "allowed.yaml", "nested.tar");
    assert!(o.status.success(), "{}", text(&o));
    let index = release.bundle_json("nested.tar");
    let image = &index.images[0];
    assert_eq!(image.digest, outer.digest());
    assert_eq!(sorted(image.platforms.iter().map(|p| p.digest.clone()).collect()), runnable);
    let mut platforms: Vec<String> = image.platforms.iter().map(|p| p.platform.to_string()).collect();
    platforms.sort();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64", "linux/s390x"]);
    let scan = index.scan.as_ref().unwrap();
    assert_eq!(sorted(scan.reports.iter().map(|r| r.manifest.clone()).collect()), runnable);
    let amd_report = scan.reports.iter().find(|r| r.manifest == amd.digest()).unwrap();
    assert_eq!((amd_report.packages, amd_report.findings > 0), (1, true));
    for d in runnable.iter().chain([&outer.digest()]) {
        let formats = image
            .signatures
            .iter()
            .filter(|s| s.subject == *d && s.origin == SignatureOrigin::Release)
            .count();
        assert_eq!(formats, 2, "{d}");
    }
    assert!(!image.signatures.iter().any(|s| s.subject == inner.digest()));
    let o = sealift(release.dir.path(), &["verify", "nested.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));

    // After load, openssl accepts a release signature on every runnable manifest.
    let o = load(&release, "nested.tar", &target, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let loaded = repo_ref(&target, "app/nested");
    for d in &runnable {
        assert!(
            legacy_signature_verifies(&target, &loaded, d, &release.path("keys/sealift.pub")).await,
            "{d} has no valid release signature after load"
        );
    }

    // A re-signed bundle.json that leaves the s390x manifest out: verify names it.
    rebundle(release.dir.path(), "nested.tar", "omits.tar", |index, _, _| {
        let image = &mut index.images[0];
        image.platforms.retain(|p| p.digest != s390.digest());
        image.signatures.retain(|s| s.subject != s390.digest());
        Vec::new()
    });
    let o = sealift(release.dir.path(), &["verify", "omits.tar", "--key", "keys/sealift.pub"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("manifest-not-listed") && text(&o).contains(&s390.digest().to_string()),
        "{}",
        text(&o)
    );

    // By digest with a platform subset: the nested linux/amd64 is found, the indexes on its
    // way are rewritten, and manifests naming the source digest are pinned to the subset.
    let pinned = format!("{h}/app/nested@{}", outer.digest());
    release.write(
        "deploy/app.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: shop, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: shop}}}}\n  template:\n    metadata: {{labels: {{app: shop}}}}\n    spec:\n      containers:\n        - name: shop\n          image: {pinned}\n"
        ),
    );
    release.write(
        "subset.yaml",
        &format!("name: subset\nimages:\n  - ref: {pinned}\n    platforms: [linux/amd64]\nmanifests: [deploy/]\n"),
    );
    let o = create(&release, &source, "subset.yaml", "subset.tar");
    assert!(o.status.success(), "{}", text(&o));
    let index = release.bundle_json("subset.tar");
    let image = &index.images[0];
    assert_eq!(image.source_digest, Some(outer.digest()));
    assert_ne!(image.digest, outer.digest());
    assert_eq!(image.platforms.len(), 1);
    assert_eq!(image.platforms[0].digest, amd.digest());
    let hardened = String::from_utf8(release.extract("subset.tar", "sealift/manifests/deploy/app.yaml")).unwrap();
    assert!(hardened.contains(&format!("app/nested@{}", image.digest)), "{hardened}");
    assert!(!hardened.contains(&outer.digest().to_string()), "{hardened}");
    let o = sealift(release.dir.path(), &["verify", "subset.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_package_in_a_later_zstd_frame_is_scanned() {
    let source = TestRegistry::start();
    let tar_bytes = tar_of(&[("usr/share/filler", &[b'x'; 100_000][..]), ("srv/shop/package-lock.json", LOCKFILE)]);
    let split = tar::Archive::new(&tar_bytes[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().raw_header_position())
        .max()
        .unwrap() as usize;
    let mut bytes = zstd_frame(&tar_bytes[..split]);
    bytes.extend([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]);
    bytes.extend(zstd_frame(&tar_bytes[split..]));
    let layer = Blob {
        bytes,
        media_type: TAR_ZSTD,
    };
    let m = push_image(&source, "app/frames", "linux", "amd64", &[&layer]).await;
    push_manifest(&source.client(), &repo_ref(&source, "app/frames"), &m, Some("1")).await;
    let release = Release::with_yaml(&format!("name: frames\nimages:\n  - {}/app/frames:1\n{SCAN_CRITICAL}", source.host));
    npm_db(&release);
    let o = create(&release, &source, "sealift.yaml", "frames.tar");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains(MINIMIST), "{}", text(&o));
    assert!(!release.path("frames.tar").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn attestations_and_artifacts_are_carried_listed_and_not_scanned() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let client = source.client();
    let clean = gz_layer(&[("etc/hostname", b"clean\n")]);
    let amd = push_image(&source, "app/attested", "linux", "amd64", &[&clean]).await;
    // buildx's attestation manifest: unknown/unknown, annotated, an in-toto layer.
    let statement = Blob {
        bytes: br#"{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[]}"#.to_vec(),
        media_type: media_type::IN_TOTO,
    };
    let att = push_image(&source, "app/attested", "unknown", "unknown", &[&statement]).await;
    let mut att_entry = with_platform(&att, "unknown", "unknown");
    att_entry["annotations"] =
        json!({"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd.digest().to_string()});
    let idx = index_of(vec![with_platform(&amd, "linux", "amd64"), att_entry]);
    push_manifest(&client, &repo_ref(&source, "app/attested"), &idx, Some("1")).await;
    // A Helm chart: its own config type, a non-tar layer.
    let chart_config = Blob {
        bytes: br#"{"name":"shop","version":"1.0.0"}"#.to_vec(),
        media_type: "application/vnd.cncf.helm.config.v1+json",
    };
    let chart_layer = Blob {
        bytes: gzip(b"not a container layer"),
        media_type: "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
    };
    let chart_repo = repo_ref(&source, "charts/shop");
    push_blob(&client, &chart_repo, &chart_config).await;
    push_blob(&client, &chart_repo, &chart_layer).await;
    let chart = manifest(&chart_config, &[&chart_layer], false);
    push_manifest(&client, &chart_repo, &chart, Some("1.0.0")).await;

    let h = &source.host;
    let release = Release::with_yaml(&format!(
        "name: shapes\nimages:\n  - {h}/app/attested:1\n  - {h}/charts/shop:1.0.0\n{SCAN_CRITICAL}"
    ));
    npm_db(&release);
    let o = create(&release, &source, "sealift.yaml", "shapes.tar");
    assert!(o.status.success(), "{}", text(&o));
    let index = release.bundle_json("shapes.tar");
    let (image, chart_image) = (&index.images[0], &index.images[1]);
    assert_eq!(image.digest, idx.digest(), "the index is carried unchanged");
    assert_eq!(image.source_digest, None);
    assert_eq!(image.platforms.len(), 1);
    assert_eq!(image.platforms[0].digest, amd.digest());
    assert_eq!(image.artifacts.len(), 1);
    assert_eq!(
        (&image.artifacts[0].digest, image.artifacts[0].kind),
        (&att.digest(), ManifestKind::Attestation)
    );
    assert!(
        !image.signatures.iter().any(|s| s.subject == att.digest()),
        "an attestation is no platform to sign"
    );
    assert_eq!(chart_image.artifacts.len(), 1);
    assert_eq!(chart_image.artifacts[0].kind, ManifestKind::Artifact);
    assert_eq!(
        chart_image.artifacts[0].artifact_type.as_deref(),
        Some("application/vnd.cncf.helm.config.v1+json")
    );
    let scan = index.scan.as_ref().unwrap();
    assert_eq!(scan.reports.len(), 1);
    let mut reasons: Vec<(Digest, String)> = scan.not_scanned.iter().map(|n| (n.manifest.clone(), n.reason.clone())).collect();
    reasons.sort();
    let mut expected = vec![
        (att.digest(), "not scanned: attestation".to_owned()),
        (chart.digest(), "not scanned: artifact".to_owned()),
    ];
    expected.sort();
    assert_eq!(reasons, expected);
    // `sealift scan` of the index: the image for the platform, the attestation named as not
    // scanned; of the chart: refused, saying what it is.
    let ca = source.ca();
    let scan = |image: &str| {
        let args = [
            "scan",
            image,
            "--vuln-db",
            "vulndb",
            "--format",
            "json",
            "--platform",
            "linux/amd64",
            "--ca-file",
        ];
        let mut args: Vec<&str> = args.to_vec();
        args.push(ca.to_str().unwrap());
        sealift(release.dir.path(), &args)
    };
    let o = scan(&format!("{h}/app/attested:1"));
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["digest"], amd.digest().to_string());
    assert_eq!(report["not_scanned"][0]["digest"], att.digest().to_string());
    assert_eq!(report["not_scanned"][0]["reason"], "not scanned: attestation");
    let o = scan(&format!("{h}/charts/shop:1.0.0"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not scanned: artifact"), "{}", text(&o));

    let o = sealift(release.dir.path(), &["bundle", "inspect", "shapes.tar"]);
    assert!(
        text(&o).contains("attestation") && text(&o).contains("not scanned: artifact"),
        "{}",
        text(&o)
    );
    let o = sealift(release.dir.path(), &["verify", "shapes.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = load(&release, "shapes.tar", &target, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let loaded = target
        .client()
        .fetch_manifest(&format!("{}/app/attested:1", target.host).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(Digest::of(&loaded.bytes), idx.digest());
}

/// Write an image (config + one layer) into a layout; returns its manifest.
fn layout_image(layout: &Layout, arch: &str) -> Blob {
    let c = config("linux", arch, false);
    let l = gz_layer(&[("etc/arch", arch.as_bytes())]);
    let m = manifest(&c, &[&l], false);
    for b in [&c, &l, &m] {
        layout.write_blob(&b.bytes).unwrap();
    }
    m
}

#[test]
fn an_ambiguous_layout_tag_and_a_foreign_layer_are_refused_by_name() {
    let release = Release::with_yaml("name: x\nimages: [nginx]\n");
    let layout = Layout::create(&release.path("layout")).unwrap();
    let (a, b) = (layout_image(&layout, "amd64"), layout_image(&layout, "arm64"));
    let tagged = |m: &Blob| {
        let mut d = m.described();
        d.annotations.insert(sealift::store::REF_NAME_ANNOTATION.into(), "v1".into());
        d
    };
    layout.write_index(vec![tagged(&a), tagged(&b)]).unwrap();
    release.write(
        "ambiguous.yaml",
        "name: x\nimages:\n  - ref: oci:layout:v1\n    name: team/tool:v1\n",
    );
    let o = sealift(
        release.dir.path(),
        &[
            "bundle",
            "create",
            "-f",
            "ambiguous.yaml",
            "-o",
            "x.tar",
            "--key",
            "keys/sealift.key",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    for m in [&a, &b] {
        assert!(text(&o).contains(&m.digest().to_string()), "{}", text(&o));
    }

    // A Docker foreign layer the layout does not hold: named as non-distributable, with URLs.
    let c = config("windows", "amd64", true);
    let foreign = json!({"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "digest": Digest::of(b"windows base").to_string(), "size": 12, "urls": ["https://mcr.example.test/base.tar.gz"]});
    let doc = json!({"schemaVersion": 2, "mediaType": media_type::DOCKER_MANIFEST, "config": c.descriptor(), "layers": [foreign]});
    let m = Blob {
        bytes: serde_json::to_vec(&doc).unwrap(),
        media_type: media_type::DOCKER_MANIFEST,
    };
    layout.write_blob(&c.bytes).unwrap();
    layout.write_blob(&m.bytes).unwrap();
    let mut d = m.described();
    d.annotations.insert(sealift::store::REF_NAME_ANNOTATION.into(), "win".into());
    layout.write_index(vec![d]).unwrap();
    release.write("foreign.yaml", "name: x\nimages:\n  - ref: oci:layout:win\n    name: team/win:1\n");
    let o = sealift(
        release.dir.path(),
        &["bundle", "create", "-f", "foreign.yaml", "-o", "x.tar", "--key", "keys/sealift.key"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("non-distributable") && text(&o).contains("https://mcr.example.test/base.tar.gz"),
        "{}",
        text(&o)
    );
    assert!(!Path::new(&release.path("x.tar")).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_layer_is_fetched_over_https_only_when_the_release_says_so() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let files = FileServer::start(&source);
    let layer = gz_layer(&[("srv/shop/package-lock.json", LOCKFILE)]);
    std::fs::write(files.dir.path().join("base.tar.gz"), &layer.bytes).unwrap();
    let url = format!("https://{}/base.tar.gz", files.host);
    // A Windows-style image: the base layer lives at its URL, not in the registry.
    let c = config("linux", "amd64", true);
    let client = source.client();
    let r = repo_ref(&source, "app/foreign");
    push_blob(&client, &r, &c).await;
    let foreign = json!({"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "digest": layer.digest().to_string(), "size": layer.bytes.len(), "urls": [url]});
    let doc = json!({"schemaVersion": 2, "mediaType": media_type::DOCKER_MANIFEST, "config": c.descriptor(), "layers": [foreign]});
    let m = Blob {
        bytes: serde_json::to_vec(&doc).unwrap(),
        media_type: media_type::DOCKER_MANIFEST,
    };
    push_manifest(&client, &r, &m, Some("1")).await;

    let image = format!("name: foreign\nimages:\n  - {}/app/foreign:1\n", source.host);
    let release = Release::with_yaml(&image);
    let o = create(&release, &source, "sealift.yaml", "foreign.tar");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("non-distributable") && text(&o).contains(&url) && text(&o).contains("include-foreign-layers"),
        "{}",
        text(&o)
    );

    // Allowed: fetched from the URL, checked, carried, scanned and loaded like any layer.
    npm_db(&release);
    release.write(
        "allowed.yaml",
        &format!("{image}include-foreign-layers: true\nscan:\n  vuln-db: vulndb\n"),
    );
    let o = create(&release, &source, "allowed.yaml", "foreign.tar");
    assert!(o.status.success(), "{}", text(&o));
    let index = release.bundle_json("foreign.tar");
    assert!(index.entries.iter().any(|e| e.path == layer.digest().layout_path()));
    let report = &index.scan.as_ref().unwrap().reports[0];
    assert_eq!((report.packages, report.findings > 0), (1, true));
    let o = sealift(release.dir.path(), &["verify", "foreign.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = load(&release, "foreign.tar", &target, &[]);
    assert!(o.status.success(), "{}", text(&o));

    // Bytes at the URL that are not the layer: refused by digest, nothing written.
    std::fs::write(files.dir.path().join("base.tar.gz"), gzip(b"something else entirely")).unwrap();
    std::fs::remove_file(release.path("foreign.tar")).unwrap();
    let o = create(&release, &source, "allowed.yaml", "foreign.tar");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(&layer.digest().to_string()), "{}", text(&o));
    assert!(!release.path("foreign.tar").exists());
}
