//! Scanning inside `bundle create`: every platform of every image gets a scan report and an
//! SBOM in the bundle, `fail-on` with a dated allowlist stops the bundle, and `verify` judges
//! the carried policy again on its own day.
//!
//! The images are the scan tests' (tests/it/scan.rs): `app` (Debian 12 minbase + real
//! lockfiles + a Go binary) and `alpine` (Alpine 3.14's package database), joined here into
//! one two-platform index. `app` has two critical findings: minimist 1.2.0's
//! GHSA-xvch-5gv4-984h (CVE-2021-44906, "critical" in the GitHub record in
//! ../shared/vulndata/osv/npm), and smallvec 1.6.0's RUSTSEC-2021-0003, whose record has no
//! severity label, only a CVSS 3.1 vector scoring 9.8. Its high findings are three npm ones
//! (labelled) and urllib3 1.23's PYSEC-2023-192 (a vector scoring 8.1, no label).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use sealift::bundle::BundleIndex;
use sealift::oci::Digest;
use sealift::sign::{Algorithm, SigningKey};
use serde_json::{Value, json};

use crate::scan::bed;
use crate::support::*;

const MINIMIST: &str = "GHSA-xvch-5gv4-984h";
const SMALLVEC: &str = "RUSTSEC-2021-0003";
const URLLIB3: &str = "PYSEC-2023-192";

/// A release directory: keys and an OCI layout with the tag `multi`, an index of `app`
/// (linux/amd64) and `alpine` (linux/arm64).
struct Site {
    dir: PathBuf,
    layout: PathBuf,
    vulndb: PathBuf,
    /// Platform manifest digests: (amd64 = app, arm64 = alpine).
    platforms: (String, String),
}

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let bed = bed();
        let dir = tempfile::tempdir().unwrap().keep();
        // Hard links: the scan tests read the shared layout while this one gets a new index.json.
        let layout = dir.join("layout");
        let st = Command::new("cp")
            .arg("-al")
            .arg(bed.dir.join("layout"))
            .arg(&layout)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::remove_file(layout.join("index.json")).unwrap();
        let old: Value = serde_json::from_slice(&std::fs::read(bed.dir.join("layout/index.json")).unwrap()).unwrap();
        let by_tag = |tag: &str| -> Value {
            old["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
                .unwrap()
                .clone()
        };
        let child = |tag: &str, arch: &str| {
            let m = by_tag(tag);
            json!({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                   "platform": {"os": "linux", "architecture": arch}})
        };
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [child("app", "amd64"), child("alpine", "arm64")],
        }))
        .unwrap();
        let digest = Digest::of(&index);
        std::fs::write(layout.join("blobs/sha256").join(digest.hex()), &index).unwrap();
        let mut top = old["manifests"].as_array().unwrap().clone();
        top.push(
            json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest.to_string(),
                        "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": "multi"}}),
        );
        std::fs::write(
            layout.join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": top})).unwrap(),
        )
        .unwrap();

        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        std::fs::write(dir.join("keys/sealift.key"), key.to_encrypted_pem(KEY_PASSWORD.as_bytes()).unwrap()).unwrap();
        std::fs::write(dir.join("keys/sealift.pub"), key.public_key().unwrap().to_pem().unwrap()).unwrap();
        let platforms = (
            by_tag("app")["digest"].as_str().unwrap().to_owned(),
            by_tag("alpine")["digest"].as_str().unwrap().to_owned(),
        );
        Site {
            dir,
            layout,
            vulndb: bed.dir.join("vulndb"),
            platforms,
        }
    })
}

/// Write `NAME.yaml` carrying the `multi` image and this `scan:` section (YAML lines).
fn release(name: &str, scan: &str) -> String {
    let s = site();
    let file = format!("{name}.yaml");
    std::fs::write(
        s.dir.join(&file),
        format!(
            "name: {name}\nimages:\n  - ref: oci:{}:multi\n    name: shop/multi:1\n{scan}",
            s.layout.display()
        ),
    )
    .unwrap();
    file
}

fn create(file: &str, out: &str, extra: &[&str]) -> Output {
    let mut args = vec!["bundle", "create", "-f", file, "-o", out, "--key", "keys/sealift.key"];
    args.extend_from_slice(extra);
    sealift(&site().dir, &args)
}

fn scan_section(fail_on: &str, allow: &str) -> String {
    format!("scan:\n  vuln-db: {}\n  fail-on: {fail_on}\n{allow}", site().vulndb.display())
}

fn allow(id: &str, expires: &str) -> String {
    format!("    - id: {id}\n      reason: reviewed, not reachable in this release\n      expires: {expires}\n")
}

/// The bundle made under a policy that allows minimist's CVE and smallvec's advisory until
/// 2099 (and lists one allowance no finding uses).
fn allowed_bundle() -> &'static PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let allowlist = format!(
            "  allow:\n{}{}{}",
            allow("CVE-2021-44906", "2099-12-31"),
            allow(SMALLVEC, "2099-12-31"),
            allow("CVE-2000-0001", "2099-12-31")
        );
        let file = release("allowed", &scan_section("critical", &allowlist));
        let out = create(&file, "allowed.tar", &[]);
        assert!(out.status.success(), "{}", text(&out));
        let t = text(&out);
        assert!(t.contains("fail-on critical") && t.contains("2 allowed"), "{t}");
        assert!(t.contains(&format!("allowed  critical  {MINIMIST}")), "{t}");
        assert!(t.contains(&format!("allowed  critical  {SMALLVEC}")), "{t}");
        assert!(t.contains("unused allowances: CVE-2000-0001"), "{t}");
        site().dir.join("allowed.tar")
    })
}

fn index_of(bundle: &Path) -> BundleIndex {
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(bundle)
        .arg("sealift/bundle.json")
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn entry(bundle: &Path, path: &str) -> Value {
    let out = Command::new("tar").arg("-xOf").arg(bundle).arg(path).output().unwrap();
    assert!(out.status.success(), "{path} not in the bundle");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_policy_gate_stops_bundle_create_until_the_finding_is_allowed() {
    let s = site();
    // No allowance: minimist's critical finding stops the bundle; nothing is written.
    let file = release("strict", &scan_section("critical", ""));
    let out = create(&file, "strict.tar", &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("NOT written") && t.contains(&format!("BLOCKED  critical  {MINIMIST}")),
        "{t}"
    );
    // smallvec's record has no label: its CVSS vector's 9.8 makes it critical.
    assert!(t.contains(&format!("BLOCKED  critical  {SMALLVEC}")), "{t}");
    assert!(t.contains("minimist 1.2.0") && t.contains("shop/multi:1 (linux/amd64)"), "{t}");
    assert!(!s.dir.join("strict.tar").exists());

    // An allowance that has expired does not count, and says so.
    let file = release(
        "expired",
        &scan_section("critical", &format!("  allow:\n{}", allow("CVE-2021-44906", "2020-01-01"))),
    );
    let out = create(&file, "expired.tar", &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("allowance expired 2020-01-01"), "{t}");
    assert!(!s.dir.join("expired.tar").exists());

    // fail-on high: the critical ones are allowed, but the three high npm findings and
    // urllib3's are not. urllib3's record carries only a CVSS vector, no severity label.
    let record: Value =
        serde_json::from_slice(&std::fs::read(shared(&format!("vulndata/osv/pypi/vulns/urllib3/{URLLIB3}.json"))).unwrap()).unwrap();
    assert!(record["database_specific"]["severity"].is_null(), "{record}");
    assert!(
        record["severity"][0]["score"].as_str().unwrap().starts_with("CVSS:3.1/"),
        "{record}"
    );
    let file = release(
        "high",
        &scan_section(
            "high",
            &format!("  allow:\n{}{}", allow(MINIMIST, "2099-12-31"), allow(SMALLVEC, "2099-12-31")),
        ),
    );
    let out = create(&file, "high.tar", &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert_eq!(t.matches("BLOCKED  high").count(), 4, "{t}");
    assert!(
        t.contains(&format!("BLOCKED  high      {URLLIB3}")) && t.contains("urllib3 1.23"),
        "{t}"
    );
    assert!(t.contains("2 allowed"), "{t}");

    // A current allowance (matched through the CVE alias) lets the bundle through.
    assert!(allowed_bundle().exists());

    // `scan:` without a database is an environment error before anything is pulled.
    let file = release("nodb", "scan:\n  fail-on: high\n");
    let out = create(&file, "nodb.tar", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("needs a vulnerability database"), "{}", text(&out));
    // So is a database older than max-db-age (the records are from 2024 and before).
    let file = release("old", &format!("{}  max-db-age: 30\n", scan_section("critical", "")));
    let out = create(&file, "old.tar", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("days old"), "{}", text(&out));
}

#[test]
fn every_platform_gets_a_signed_report_and_sbom_equal_to_sealift_scan() {
    let s = site();
    let bundle = allowed_bundle();
    let index = index_of(bundle);
    let scan = index.scan.as_ref().expect("bundle.json has a scan section");
    let meta: Value = serde_json::from_slice(&std::fs::read(s.vulndb.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(scan.database.digest, meta["digest"].as_str().unwrap());
    assert_eq!(scan.database.newest.as_deref(), meta["newest"].as_str());
    assert_eq!(scan.policy.fail_on.map(|f| f.as_str()), Some("critical"));
    assert_eq!(scan.policy.allow.len(), 3);

    // One report per platform manifest of the index, under its digest.
    let image = &index.images[0];
    assert_eq!(image.platforms.len(), 2);
    let mut got: Vec<(String, Option<String>)> = scan.reports.iter().map(|r| (r.manifest.to_string(), r.platform.clone())).collect();
    got.sort();
    let mut want = vec![
        (s.platforms.0.clone(), Some("linux/amd64".to_owned())),
        (s.platforms.1.clone(), Some("linux/arm64".to_owned())),
    ];
    want.sort();
    assert_eq!(got, want);
    for r in &scan.reports {
        // Both documents are listed (so hashed and signed) entries of the bundle.
        for path in [&r.report, &r.sbom] {
            assert!(index.entries.iter().any(|e| &e.path == path), "{path} is not listed");
        }
        let report = entry(bundle, &r.report);
        assert_eq!(report["digest"], r.manifest.to_string());
        assert_eq!(report["image"], "shop/multi:1");
        // The same packages and findings `sealift scan` gives for that image on its own.
        let tag = if r.manifest.to_string() == s.platforms.0 { "app" } else { "alpine" };
        let source = format!("oci:{}:{tag}", s.layout.display());
        let alone = sealift(
            &s.dir,
            &["scan", &source, "--vuln-db", s.vulndb.to_str().unwrap(), "--format", "json"],
        );
        assert!(alone.status.success(), "{}", text(&alone));
        let alone: Value = serde_json::from_slice(&alone.stdout).unwrap();
        assert_eq!(report["packages"], alone["packages"], "{tag}");
        assert_eq!(report["findings"], alone["findings"], "{tag}");
        assert_eq!(r.packages, alone["packages"].as_array().unwrap().len());
        let sbom = entry(bundle, &r.sbom);
        assert_eq!(sbom["bomFormat"], "CycloneDX");
        assert_eq!(
            sbom["components"].as_array().unwrap().len(),
            r.packages + 1,
            "the OS and the packages"
        );
        assert_eq!(sbom["vulnerabilities"].as_array().map_or(0, Vec::len), r.findings);
    }
    let alpine = scan.reports.iter().find(|r| r.manifest.to_string() == s.platforms.1).unwrap();
    assert_eq!((alpine.packages, alpine.findings), (26, 50));

    // Same inputs, same bytes: the reports do not make bundles irreproducible.
    let file = s.dir.join("allowed.yaml");
    let out = create(file.to_str().unwrap(), "again.tar", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(bundle).unwrap(), std::fs::read(s.dir.join("again.tar")).unwrap());
}

#[test]
fn verify_judges_the_carried_policy_again() {
    let s = site();
    let bundle = allowed_bundle();
    let b = bundle.to_str().unwrap();
    let out = sealift(&s.dir, &["verify", b, "--key", "keys/sealift.pub"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("scan:       2 image manifest(s)") && t.contains("2 allowed"), "{t}");

    // On 2100-01-01 the allowance has expired: the bundle no longer passes, and load would refuse it.
    let out = sealift(
        &s.dir,
        &["verify", b, "--key", "keys/sealift.pub", "--at", "2100-01-01", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2, "{failures:?}");
    for (failure, id) in failures.iter().zip([SMALLVEC, MINIMIST]) {
        assert_eq!(failure["code"], "vulnerability-blocked");
        assert_eq!(failure["subject"], "shop/multi:1 (linux/amd64)");
        let msg = failure["message"].as_str().unwrap();
        assert!(msg.contains(id) && msg.contains("allowance expired 2099-12-31"), "{msg}");
    }
    assert_eq!(report["scan"]["verdict"]["judged_on"], "2100-01-01");

    // bundle.json (properly signed) that drops a platform's report is refused.
    rebundle(&s.dir, "allowed.tar", "dropped.tar", |index, _, _| {
        let scan = index.scan.as_mut().unwrap();
        scan.reports.retain(|r| r.platform.as_deref() != Some("linux/arm64"));
        Vec::new()
    });
    let out = sealift(&s.dir, &["verify", "dropped.tar", "--key", "keys/sealift.pub", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    // Its files are still carried, but bundle.json no longer names a report for that manifest.
    assert!(codes.contains(&"scan-report-missing"), "{codes:?}");
}
