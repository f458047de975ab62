//! `sealift check` against `docker-registry` after a real `load`: a clean registry is all ok,
//! and each kind of tampering, done the way it happens (through the registry API, or on the
//! registry's storage directory), gives its own status and exit 1.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// `sealift check` of `target` against `bundle` as JSON: the exit code and the report.
pub(crate) fn check(release: &Release, target: &TestRegistry, bundle: &str, extra: &[&str]) -> (Option<i32>, Value, String) {
    let ca = target.ca();
    let mut args = vec![
        "check",
        "--registry",
        &target.host,
        "--bundle",
        bundle,
        "--key",
        "keys/sealift.pub",
        "--ca-file",
        ca.to_str().unwrap(),
    ];
    if !extra.contains(&"--format") {
        args.extend(["--format", "json"]);
    }
    args.extend_from_slice(extra);
    let o = sealift(release.dir.path(), &args);
    let report = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code(), report, text(&o))
}

/// The items whose status is not `ok`, as (status, check, subject).
fn findings(report: &Value) -> Vec<(String, String, String)> {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] != "ok")
        .map(|i| {
            (
                i["status"].as_str().unwrap().to_owned(),
                i["check"].as_str().unwrap().to_owned(),
                i["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `curl` against the registry itself with the test credentials; the HTTP status.
fn curl(target: &TestRegistry, method: &str, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, "--cacert"])
        .arg(target.ca())
        .args(["-u", &format!("{USER}:{PASSWORD}")])
        .args(["-H", "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json"])
        .arg(format!("https://{}/v2/{path}", target.backend))
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// The DSSE envelope in `file`, verified with the release key by sigstore-types and
/// sigstore-crypto and by openssl over the pre-authentication encoding.
fn signed_report(release: &Release, file: &str) -> sigstore_types::DsseEnvelope {
    let envelope: sigstore_types::DsseEnvelope = serde_json::from_slice(&std::fs::read(release.path(file)).unwrap()).unwrap();
    let pem = std::fs::read_to_string(release.path("keys/sealift.pub")).unwrap();
    let key = sigstore_types::DerPublicKey::from_pem(&pem).unwrap();
    let scheme = sigstore_crypto::SigningScheme::EcdsaP256Sha256;
    sigstore_crypto::verify_signature(&key, &envelope.pae(), &envelope.signature.sig, scheme).expect("sigstore-crypto verifies the report");
    let public = release.path("keys/sealift.pub");
    assert!(crate::oracles::openssl_verifies(
        release.dir.path(),
        &public,
        &envelope.pae(),
        envelope.signature.sig.as_bytes()
    ));
    envelope
}

/// The three source images bundled as `release.tar` and loaded into a registry of their own.
async fn loaded() -> (Release, TestRegistry) {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    create_bundle(&release, &source, "release.tar");
    let target = TestRegistry::start();
    let o = load(&release, "release.tar", &target, &[]);
    assert!(o.status.success(), "{}", text(&o));
    (release, target)
}

/// Where docker-registry keeps a blob's bytes.
fn blob_file(target: &TestRegistry, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    target
        .dir
        .path()
        .join(format!("data/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
}

#[tokio::test(flavor = "multi_thread")]
async fn check_finds_each_kind_of_change_and_passes_a_clean_registry() {
    let (release, target) = loaded().await;

    // Clean: every item ok, exit 0. Tags (two tagged images), manifests, blobs, signatures in
    // both formats and the three repositories' tag lists are all among the items.
    let (code, report, out) = check(&release, &target, "release.tar", &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(report["schema"], "sealift-check/1");
    assert!(findings(&report).is_empty(), "{:?}", findings(&report));
    println!("clean: {}", report["summary"]);
    let kinds: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["check"].as_str().unwrap())
        .collect();
    for kind in ["tag", "manifest", "blob", "signature", "tags"] {
        assert!(kinds.contains(&kind), "no {kind} item: {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| **k == "tag").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "tags").count(), 3);
    let signatures = kinds.iter().filter(|k| **k == "signature").count();
    assert!(signatures >= 6, "{signatures} signature items for three images in two formats");
    // --deep streams every blob and still finds nothing.
    let (code, _, out) = check(&release, &target, "release.tar", &["--deep"]);
    assert_eq!(code, Some(0), "{out}");

    let bundle = release.bundle_json("release.tar");
    let alpha = bundle.images.iter().find(|i| i.repository == "app/alpha").unwrap();
    let multi = bundle.images.iter().find(|i| i.repository == "app/multi").unwrap();
    let beta = bundle.images.iter().find(|i| i.repository == "app/beta").unwrap();
    let client = target.client();
    let at = |repo: &str, tag: &str| -> sealift::oci::Reference { format!("{}/{repo}:{tag}", target.host).parse().unwrap() };

    // An extra tag pushed around sealift: unexpected.
    let alpha_manifest = client.fetch_manifest(&at("app/alpha", "1.0")).await.unwrap();
    client
        .push_manifest(&at("app/alpha", "hotfix"), &alpha_manifest.bytes, &alpha_manifest.media_type)
        .await
        .unwrap();
    // The multi-platform tag moved to one of its own platform manifests: drifted.
    let child = &multi.platforms[0].digest;
    let child_manifest = client
        .fetch_manifest(&at("app/multi", "3.0").with_digest(child.clone()))
        .await
        .unwrap();
    client
        .push_manifest(&at("app/multi", "3.0"), &child_manifest.bytes, &child_manifest.media_type)
        .await
        .unwrap();
    // beta's manifest deleted through the registry API: missing.
    assert_eq!(curl(&target, "DELETE", &format!("app/beta/manifests/{}", beta.digest)), "202");
    // alpha's own layer deleted from storage (not the layer it shares): blob-missing.
    let alpha_layer = {
        let doc: Value = serde_json::from_slice(&alpha_manifest.bytes).unwrap();
        doc["layers"][1]["digest"].as_str().unwrap().to_owned()
    };
    std::fs::remove_file(blob_file(&target, &alpha_layer)).unwrap();
    // The release signature's `.sig` manifest deleted: signature-missing.
    let sig_tag = format!("{}.sig", alpha.digest.to_string().replace(':', "-"));
    let sig = client.fetch_manifest(&at("app/alpha", &sig_tag)).await.unwrap();
    assert_eq!(curl(&target, "DELETE", &format!("app/alpha/manifests/{}", sig.digest)), "202");

    // The index's `.sig` replaced by one a stranger's key made: signature-invalid.
    let stranger = sealift::sign::SigningKey::generate(sealift::sign::Algorithm::EcdsaP256).unwrap();
    let forged = sealift::sign::artifact::legacy_signature(&stranger, &format!("{}/app/multi", target.host), &multi.digest);
    publish(&client, &at("app/multi", "x"), &multi.digest, &forged, false).await;

    let (code, report, out) = check(&release, &target, "release.tar", &[]);
    assert_eq!(code, Some(1), "{out}");
    let found = findings(&report);
    println!("findings after tampering: {found:?}");
    println!("summary: {}", report["summary"]);
    let has = |status: &str, check: &str, subject: &str| found.iter().any(|(s, c, sub)| s == status && c == check && sub.contains(subject));
    assert!(has("unexpected", "tags", "hotfix"), "{found:?}");
    assert!(has("drifted", "tag", "3.0"), "{found:?}");
    assert!(has("missing", "manifest", &beta.digest.to_string()), "{found:?}");
    assert!(has("blob-missing", "blob", &alpha_layer), "{found:?}");
    assert!(has("signature-missing", "signature", &alpha.digest.to_string()), "{found:?}");
    assert!(
        has("signature-invalid", "signature", &format!("cosign .sig of {}", multi.digest)),
        "{found:?}"
    );
    // The other format of the same subject still verifies.
    assert!(
        !has("signature-invalid", "signature", &format!("sigstore bundle of {}", multi.digest)),
        "{found:?}"
    );
    let drifted = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["status"] == "drifted")
        .unwrap();
    assert!(drifted["detail"].as_str().unwrap().contains(&child.to_string()), "{drifted}");

    // The same findings as SARIF: valid against the OASIS schema, one result per finding,
    // each rule with help and a security-severity.
    let (code, sarif, out) = check(&release, &target, "release.tar", &["--format", "sarif"]);
    assert_eq!(code, Some(1), "{out}");
    crate::consumers::sarif_validates(&sarif);
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), findings(&report).len());
    for rule in sarif["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap() {
        assert!(
            rule["help"]["text"].is_string() && rule["properties"]["security-severity"].is_string(),
            "{rule}"
        );
    }

    // The review page: problems found, not VERIFIED, the items not as signed listed first.
    let (code, _, out) = check(&release, &target, "release.tar", &["--format", "html", "-o", "check.html"]);
    assert_eq!(code, Some(1), "{out}");
    let page = release.path("check.html");
    assert_eq!(crate::review::headline(&page), format!("{} PROBLEM(S) FOUND", found.len()));
    let shown = crate::review::shown(&page);
    assert!(!shown.contains("VERIFIED"), "{shown}");
    let items = shown.split("Status Check Image Subject Detail").nth(1).unwrap();
    let first_ok = items.find(" ok ").unwrap();
    for (status, _, _) in &found {
        let at = items.find(status.as_str()).unwrap_or_else(|| panic!("{status} not listed"));
        assert!(at < first_ok, "{status} listed after an ok item");
    }

    // The signed report of a failed check says so.
    let (code, _, out) = check(
        &release,
        &target,
        "release.tar",
        &["-o", "failed.json", "--report-key", "keys/sealift.key"],
    );
    assert_eq!(code, Some(1), "{out}");
    let envelope = signed_report(&release, "failed.json.dsse.json");
    let statement: Value = serde_json::from_slice(envelope.payload.as_bytes()).unwrap();
    assert_eq!(statement["predicate"]["verificationResult"], "FAILED");
    assert_eq!(statement["predicate"]["verifiedLevels"], serde_json::json!(["FAILED"]));

    // An image pushed into a repository no bundle names: only --catalog sees it.
    let rogue = crate::shapes::gz_layer(&[("x", b"rogue")]);
    crate::shapes::push_image(&target, "app/rogue", "linux", "amd64", &[&rogue]).await;
    assert!(!findings(&report).iter().any(|(_, _, sub)| sub == "app/rogue"));
    let (_, report, _) = check(&release, &target, "release.tar", &["--catalog"]);
    assert!(
        findings(&report)
            .iter()
            .any(|(s, c, sub)| s == "unexpected" && c == "repositories" && sub == "app/rogue"),
        "{:?}",
        findings(&report)
    );

    // Bytes of a blob changed on disk (same length): only --deep sees it.
    let victim = &multi.platforms[1];
    let victim_manifest = client
        .fetch_manifest(&at("app/multi", "x").with_digest(victim.digest.clone()))
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&victim_manifest.bytes).unwrap();
    let layer = doc["layers"][0]["digest"].as_str().unwrap().to_owned();
    let path = blob_file(&target, &layer);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let (_, report, _) = check(&release, &target, "release.tar", &[]);
    assert!(!findings(&report).iter().any(|(s, _, sub)| s == "blob-altered" && *sub == layer));
    let (code, report, out) = check(&release, &target, "release.tar", &["--deep"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        findings(&report).iter().any(|(s, _, sub)| s == "blob-altered" && *sub == layer),
        "{:?}",
        findings(&report)
    );

    // Nothing listens on port 9 of the loopback: exit 2, naming the registry.
    let o = sealift(
        release.dir.path(),
        &[
            "check",
            "--registry",
            "127.0.0.1:9",
            "--bundle",
            "release.tar",
            "--key",
            "keys/sealift.pub",
            "--retries",
            "0",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("127.0.0.1:9"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_a_read_only_registry_so_it_never_writes() {
    let (release, mut target) = loaded().await;
    target.restart_read_only();
    // The registry refuses writes now: a second load fails.
    let o = load(&release, "release.tar", &target, &["--retries", "0"]);
    assert!(!o.status.success(), "a read-only registry took a load: {}", text(&o));
    let (code, report, out) = check(&release, &target, "release.tar", &["--deep"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(findings(&report).is_empty(), "{:?}", findings(&report));

    // The signed report: a DSSE envelope over an in-toto statement with a SLSA verification
    // summary, checked by openssl over the PAE, and by sigstore-types and sigstore-crypto.
    let (code, sarif, out) = check(
        &release,
        &target,
        "release.tar",
        &["--format", "sarif", "-o", "report.json", "--report-key", "keys/sealift.key"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 0);
    let report_json = std::fs::read(release.path("report.json")).unwrap();
    let envelope = signed_report(&release, "report.json.dsse.json");
    let statement: Value = serde_json::from_slice(envelope.payload.as_bytes()).unwrap();
    assert_eq!(statement["predicateType"], "https://slsa.dev/verification_summary/v1");
    let predicate = &statement["predicate"];
    assert_eq!(predicate["verificationResult"], "PASSED");
    assert_eq!(
        predicate["sealiftReport"]["digest"]["sha256"],
        sealift::oci::Digest::of(&report_json).hex(),
        "the statement names the report it signs"
    );
    let report: Value = serde_json::from_slice(&report_json).unwrap();
    let subjects: Vec<&str> = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["digest"]["sha256"].as_str().unwrap())
        .collect();
    let images: Vec<String> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["digest"].as_str().unwrap().replace("sha256:", ""))
        .collect();
    assert_eq!(subjects.len(), 3);
    assert_eq!(subjects, images.iter().map(String::as_str).collect::<Vec<_>>());
    let bundle_digest = report["bundles"][0]["digest"].as_str().unwrap();
    assert_eq!(
        predicate["inputAttestations"][0]["digest"]["sha256"],
        bundle_digest.trim_start_matches("sha256:")
    );
    // A changed byte in the statement breaks the signature.
    let mut forged = envelope.pae();
    let at = forged.len() - 3;
    forged[at] ^= 1;
    assert!(!crate::oracles::openssl_verifies(
        release.dir.path(),
        &release.path("keys/sealift.pub"),
        &forged,
        envelope.signature.sig.as_bytes()
    ));

    // Three shards cover every item exactly once, and merged they are the unsharded report
    // (timestamps aside); the merged report is signed like any other.
    let mut seen = 0;
    for i in 0..3 {
        let shard = format!("{i}/3");
        let out_file = format!("part-{i}.json");
        let (code, part, out) = check(&release, &target, "release.tar", &["--shard", &shard, "-o", &out_file]);
        assert_eq!(code, Some(0), "{out}");
        let n = part["items"].as_array().unwrap().len();
        assert!(
            n > 0 && n < report["items"].as_array().unwrap().len(),
            "shard {shard} has {n} items"
        );
        seen += n;
    }
    assert_eq!(seen, report["items"].as_array().unwrap().len());
    let o = sealift(
        release.dir.path(),
        &[
            "check",
            "merge",
            "part-2.json",
            "part-0.json",
            "part-1.json",
            "-o",
            "merged.json",
            "--report-key",
            "keys/sealift.key",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let merged: Value = serde_json::from_slice(&std::fs::read(release.path("merged.json")).unwrap()).unwrap();
    let strip = |mut v: Value| {
        for k in ["checked_at", "judged_at"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    let whole: Value = serde_json::from_slice(&report_json).unwrap();
    assert_eq!(strip(merged), strip(whole), "merged shards differ from the unsharded report");
    signed_report(&release, "merged.json.dsse.json");
    // A part of an earlier run, or one checked with other settings: refused.
    let mut stale: Value = serde_json::from_slice(&std::fs::read(release.path("part-2.json")).unwrap()).unwrap();
    stale["checked_at"] = "2026-01-01T00:00:00Z".into();
    std::fs::write(release.path("stale-2.json"), serde_json::to_vec(&stale).unwrap()).unwrap();
    let o = sealift(
        release.dir.path(),
        &["check", "merge", "part-0.json", "part-1.json", "stale-2.json", "-o", "x.json"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("an earlier run"), "{}", text(&o));
    let (code, _, out) = check(&release, &target, "release.tar", &["--shard", "2/3", "--deep", "-o", "deep-2.json"]);
    assert_eq!(code, Some(0), "{out}");
    let o = sealift(
        release.dir.path(),
        &["check", "merge", "part-0.json", "part-1.json", "deep-2.json", "-o", "x.json"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("other settings"), "{}", text(&o));
    // A part is not signed on its own.
    let (code, _, out) = check(
        &release,
        &target,
        "release.tar",
        &["--shard", "0/3", "-o", "p.json", "--report-key", "keys/sealift.key"],
    );
    assert_eq!(code, Some(2), "{out}");

    // A shard missing, or given twice: refused.
    let o = sealift(
        release.dir.path(),
        &["check", "merge", "part-0.json", "part-1.json", "-o", "x.json"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("shards missing: 2/3"), "{}", text(&o));
    let o = sealift(
        release.dir.path(),
        &["check", "merge", "part-0.json", "part-0.json", "part-1.json", "-o", "x.json"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // Wrong credentials: exit 2, said once, not an error on every item.
    let ca = target.ca();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sealift"))
        .current_dir(release.dir.path())
        .env("SEALIFT_REGISTRY_USERNAME", USER)
        .env("SEALIFT_REGISTRY_PASSWORD", "wrong")
        .args([
            "check",
            "--registry",
            &target.host,
            "--bundle",
            "release.tar",
            "--key",
            "keys/sealift.pub",
            "--ca-file",
        ])
        .arg(&ca)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("refuses the credentials"), "{}", text(&o));

    // The release key's validity ends in 2030: judged in 2031, every release signature in the
    // registry is key-expired (the bundle, made while the key was valid, still sets the
    // expectations); judged in 2029, all is well.
    release.write(
        "trust.yaml",
        "keys:\n  - name: release\n    path: keys/sealift.pub\n    notAfter: 2030-01-01T00:00:00Z\n",
    );
    let ca = target.ca();
    let args = |at: &'static str| {
        vec![
            "check".to_owned(),
            "--registry".into(),
            target.host.clone(),
            "--bundle".into(),
            "release.tar".into(),
            "--trust".into(),
            "trust.yaml".into(),
            "--ca-file".into(),
            ca.display().to_string(),
            "--format".into(),
            "json".into(),
            "--at".into(),
            at.into(),
        ]
    };
    let run = |at| {
        let a = args(at);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = sealift(release.dir.path(), &a);
        (
            o.status.code(),
            serde_json::from_slice::<Value>(&o.stdout).unwrap_or(Value::Null),
            text(&o),
        )
    };
    let (code, report, out) = run("2031-01-01");
    assert_eq!(code, Some(1), "{out}");
    let found = findings(&report);
    assert!(
        found
            .iter()
            .all(|(s, c, _)| s == "key-expired" && (c == "signature" || c == "bundle")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|(_, c, _)| c == "signature") && found.iter().any(|(_, c, _)| c == "bundle"),
        "{found:?}"
    );
    let (code, _, out) = run("2029-01-01");
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn an_unverifiable_bundle_is_exit_2_before_any_registry_request() {
    let release = Release::with_yaml("name: x\nimages:\n  - example.test/app:1\n");
    std::fs::write(release.path("junk.tar"), b"not a bundle").unwrap();
    let o = sealift(
        release.dir.path(),
        &[
            "check",
            "--registry",
            "127.0.0.1:9",
            "--bundle",
            "junk.tar",
            "--key",
            "keys/sealift.pub",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("junk.tar") && !text(&o).contains("127.0.0.1:9"), "{}", text(&o));
}

/// An OSV record the shared data does not have: minimist 1.2.0 is critically affected.
const NEW_ADVISORY: &str = r#"{"id": "GHSA-test-new0-0001", "modified": "2026-11-01T00:00:00Z", "aliases": ["CVE-2099-0001"],
 "affected": [{"package": {"ecosystem": "npm", "name": "minimist"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.9"}]}]}],
 "database_specific": {"severity": "CRITICAL"}}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_database_or_an_expired_allowance_makes_an_image_vulnerable() {
    use crate::shapes::{LOCKFILE, gz_layer, npm_db, push_image, repo_ref};
    let source = TestRegistry::start();
    let layer = gz_layer(&[("srv/shop/package-lock.json", LOCKFILE)]);
    let m = push_image(&source, "app/shop", "linux", "amd64", &[&layer]).await;
    push_manifest(&source.client(), &repo_ref(&source, "app/shop"), &m, Some("1")).await;
    // The bundle's scan: minimist 1.2.0's critical GHSA-xvch-5gv4-984h is allowed until mid-2030.
    let release = Release::with_yaml(&format!(
        "name: shop\nimages:\n  - {}/app/shop:1\nscan:\n  vuln-db: vulndb\n  fail-on: critical\n  allow:\n    - {{id: GHSA-xvch-5gv4-984h, reason: not reachable, expires: 2030-06-30}}\n",
        source.host
    ));
    npm_db(&release);
    create_bundle(&release, &source, "shop.tar");
    let target = TestRegistry::start();
    let o = load(&release, "shop.tar", &target, &[]);
    assert!(o.status.success(), "{}", text(&o));

    let vulnerabilities = |report: &Value| -> Vec<Value> {
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["check"] == "vulnerabilities")
            .cloned()
            .collect()
    };
    // The same database: nothing new, the allowance holds, exit 0.
    let (code, report, out) = check(&release, &target, "shop.tar", &["--vuln-db", "vulndb"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(vulnerabilities(&report).len(), 1, "{report}");

    // A newer database with one more advisory for a package the image has: vulnerable, and
    // the new advisory is named.
    let extra = release.path("osv-extra");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(extra.join("GHSA-test-new0-0001.json"), NEW_ADVISORY).unwrap();
    let npm = shared("vulndata/osv/npm");
    let o = sealift(
        release.dir.path(),
        &[
            "db",
            "build",
            "--from",
            npm.to_str().unwrap(),
            "--from",
            extra.to_str().unwrap(),
            "-o",
            "vulndb-new",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let (code, report, out) = check(&release, &target, "shop.tar", &["--vuln-db", "vulndb-new"]);
    assert_eq!(code, Some(1), "{out}");
    let items = vulnerabilities(&report);
    assert_eq!(items[0]["status"], "vulnerable", "{items:?}");
    let detail = items[0]["detail"].as_str().unwrap();
    assert!(detail.contains("1 new") && detail.contains("GHSA-test-new0-0001"), "{detail}");

    // The old database, judged after the allowance expired: vulnerable again, saying why.
    let (code, report, out) = check(&release, &target, "shop.tar", &["--vuln-db", "vulndb", "--at", "2031-01-01"]);
    assert_eq!(code, Some(1), "{out}");
    let detail = vulnerabilities(&report)[0]["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("GHSA-xvch-5gv4-984h (allowance expired 2030-06-30)"), "{detail}");
    // Every other item is still ok: the registry did not change.
    assert!(
        findings(&report).iter().all(|(s, _, _)| s == "vulnerable"),
        "{:?}",
        findings(&report)
    );

    // A stale database is refused before anything is checked.
    let (code, _, out) = check(&release, &target, "shop.tar", &["--vuln-db", "vulndb", "--max-db-age", "1"]);
    assert_eq!(code, Some(2), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_with_state_asks_far_less_and_reports_the_same() {
    use crate::faults::FaultProxy;
    let (release, target) = loaded().await;
    // The proxy counts the requests check makes.
    let proxy = FaultProxy::start(&target);
    let via_proxy = |extra: &[&str]| {
        let ca = target.ca();
        let mut args = vec![
            "check",
            "--registry",
            &proxy.host,
            "--bundle",
            "release.tar",
            "--key",
            "keys/sealift.pub",
            "--ca-file",
            ca.to_str().unwrap(),
            "--format",
            "json",
            "--state",
            "state",
        ];
        args.extend_from_slice(extra);
        let o = sealift(release.dir.path(), &args);
        let mut report: Value = serde_json::from_slice(&o.stdout).unwrap();
        for k in ["checked_at", "judged_at"] {
            report.as_object_mut().unwrap().remove(k);
        }
        // Which items came from the state is said per item; the results must be the same.
        let mut spared = 0;
        for item in report["items"].as_array_mut().unwrap() {
            spared += usize::from(item.as_object_mut().unwrap().remove("from_state").is_some());
        }
        (o.status.code(), report, format!("{spared} from state\n{}", text(&o)))
    };
    let (code, first, out) = via_proxy(&[]);
    assert_eq!(code, Some(0), "{out}");
    let first_requests = proxy.seen().len();
    proxy.clear();
    let (code, second, out) = via_proxy(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        !out.starts_with("0 from state"),
        "nothing was marked as taken from the state: {out}"
    );
    let second_requests = proxy.seen().len();
    println!("requests: {first_requests} without state, {second_requests} with it");
    assert_eq!(first, second, "the report changed");
    // Signatures are still asked (their tag's manifest, their referrers list) each time.
    assert!(
        second_requests * 2 < first_requests,
        "{second_requests} requests with state, {first_requests} without"
    );

    // A signature replaced under an unchanged tag: the state does not hide it.
    let stranger = sealift::sign::SigningKey::generate(sealift::sign::Algorithm::EcdsaP256).unwrap();
    let alpha = release
        .bundle_json("release.tar")
        .images
        .into_iter()
        .find(|i| i.repository == "app/alpha")
        .unwrap();
    let forged = sealift::sign::artifact::legacy_signature(&stranger, &format!("{}/app/alpha", target.host), &alpha.digest);
    let alpha_repo: sealift::oci::Reference = format!("{}/app/alpha:x", target.host).parse().unwrap();
    publish(&target.client(), &alpha_repo, &alpha.digest, &forged, false).await;
    let (code, replaced, out) = via_proxy(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        findings(&replaced)
            .iter()
            .any(|(s, _, sub)| s == "signature-invalid" && sub.contains(&alpha.digest.to_string())),
        "{:?}",
        findings(&replaced)
    );

    // A moved tag is still found, and that image's items are asked again.
    let client = target.client();
    let at = |tag: &str| -> sealift::oci::Reference { format!("{}/app/multi:{tag}", target.host).parse().unwrap() };
    let multi = release
        .bundle_json("release.tar")
        .images
        .into_iter()
        .find(|i| i.repository == "app/multi")
        .unwrap();
    let child = client
        .fetch_manifest(&at("x").with_digest(multi.platforms[0].digest.clone()))
        .await
        .unwrap();
    client.push_manifest(&at("3.0"), &child.bytes, &child.media_type).await.unwrap();
    proxy.clear();
    let (code, third, out) = via_proxy(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        findings(&third)
            .iter()
            .any(|(s, c, sub)| s == "drifted" && c == "tag" && sub == "3.0"),
        "{:?}",
        findings(&third)
    );
    assert!(proxy.seen().len() > second_requests, "the moved image was not asked again");
    // --full asks for everything again.
    proxy.clear();
    let (code, _, out) = via_proxy(&["--full"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(proxy.seen().len() >= first_requests, "--full asked {} times", proxy.seen().len());
}

#[test]
fn the_printed_cronjob_is_valid_kubernetes_and_restricted() {
    use sealift::harden::pss::{KubeVersion, Level, evaluate};
    use sealift::harden::yaml::parse_documents;
    let release = Release::with_yaml("name: x\nimages:\n  - example.test/app:1\n");
    let image = format!("registry.site.example/sealift@sha256:{}", "ab".repeat(32));
    for shards in ["1", "4"] {
        let o = sealift(
            release.dir.path(),
            &[
                "check",
                "--registry",
                "10.0.0.5:5000",
                "--bundle",
                "bundles/release.tar",
                "--key",
                "keys/sealift.pub",
                "--report-key",
                "keys/site.key",
                "--print-cronjob",
                "--schedule",
                "0 3 * * *",
                "--merge-schedule",
                "0 5 * * *",
                "--shards",
                shards,
                "--image",
                &image,
                "--deep",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let yaml = String::from_utf8(o.stdout).unwrap();
        let file = release.path(&format!("cronjob-{shards}.yaml"));
        std::fs::write(&file, &yaml).unwrap();
        let out = std::process::Command::new(crate::harden::kubernetes_validate())
            .args(["--strict", "-k", "1.35", "--quiet"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubernetes-validate: {}{}\n{yaml}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let docs = parse_documents(&yaml).unwrap();
        let kinds: Vec<&str> = docs.iter().map(|d| d.at(&["kind"]).and_then(|k| k.as_str()).unwrap()).collect();
        let expect: &[&str] = if shards == "1" {
            &["CronJob", "NetworkPolicy"]
        } else {
            &["CronJob", "NetworkPolicy", "CronJob"]
        };
        assert_eq!(kinds, expect);
        for doc in docs.iter().filter(|d| d.at(&["kind"]).and_then(|k| k.as_str()) == Some("CronJob")) {
            let template = doc.at(&["spec", "jobTemplate", "spec", "template"]).unwrap();
            let meta = template.at(&["metadata"]).unwrap().as_map().unwrap();
            let spec = template.at(&["spec"]).unwrap().as_map().unwrap();
            let violations = evaluate(meta, spec, Level::Restricted, KubeVersion::DEFAULT);
            assert!(violations.is_empty(), "{violations:?}");
            assert_eq!(spec.get("automountServiceAccountToken").and_then(|v| v.as_bool()), Some(false));
        }
        if shards == "4" {
            assert!(
                yaml.contains("completionMode: Indexed") && yaml.contains("\"$(JOB_COMPLETION_INDEX)/4\""),
                "{yaml}"
            );
            assert!(yaml.contains("/reports/part-3.json"), "the merge names every part: {yaml}");
        }
        assert!(yaml.contains("cidr: \"10.0.0.5/32\"") && yaml.contains("port: 5000"), "{yaml}");
    }
    // A trust policy goes into the job as a file of the keys Secret.
    let o = sealift(
        release.dir.path(),
        &[
            "check",
            "--registry",
            "r:5000",
            "--bundle",
            "b.tar",
            "--trust",
            "policy/trust.yaml",
            "--print-cronjob",
            "--schedule",
            "0 3 * * *",
            "--image",
            &image,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let yaml = String::from_utf8(o.stdout).unwrap();
    assert!(yaml.contains("- \"--trust\"\n") && yaml.contains("- /keys/trust.yaml"), "{yaml}");
    // An image by tag is refused: the job must run what was pinned.
    let o = sealift(
        release.dir.path(),
        &[
            "check",
            "--registry",
            "r:5000",
            "--bundle",
            "b.tar",
            "--key",
            "k.pub",
            "--print-cronjob",
            "--schedule",
            "0 3 * * *",
            "--image",
            "sealift:latest",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
