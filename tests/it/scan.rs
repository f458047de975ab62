//! `sealift scan` on real content: a Debian 12 root filesystem made by debootstrap, an
//! application layer of real lockfiles, Python metadata and a Go binary, and Alpine 3.14's
//! package database; matched against the real advisory records in ../shared.
//!
//! Expected findings come from the advisories, not from sealift: for Debian, dpkg itself
//! reads the root filesystem's package database and orders the versions; for the rest they
//! are written down below from the records (ids and fixed versions).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::*;

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan").join(p)
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(name)
}

/// Everything the tests share, made once: the database, the minbase root filesystem and
/// two OCI layouts.
pub struct Bed {
    /// Holds `vulndb/` and the OCI layout `layout/` (tags `app` and `alpine`).
    pub dir: PathBuf,
    pub rootfs: PathBuf,
}

pub fn bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    BED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = Command::new(script("fixture-rootfs.sh")).output().unwrap();
        assert!(
            out.status.success(),
            "debootstrap fixture: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rootfs = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());

        let db = sealift(
            &dir,
            &[
                "db",
                "build",
                "--from",
                shared("vulndata").to_str().unwrap(),
                "--from",
                shared("scan-testbed/curated").to_str().unwrap(),
                "-o",
                "vulndb",
            ],
        );
        assert!(db.status.success(), "{}", text(&db));

        // Layer 2: the application; layer 3 deletes PyYAML's metadata with a whiteout.
        let app = dir.join("app-layer");
        copy_dir(&fixture("app"), &app);
        std::fs::create_dir_all(app.join("usr/bin")).unwrap();
        std::fs::copy("/usr/bin/docker-registry", app.join("usr/bin/registry")).unwrap();
        let gone = dir.join("whiteout-layer/usr/lib/python3/site-packages");
        std::fs::create_dir_all(&gone).unwrap();
        std::fs::write(gone.join(".wh.pyyaml-5.3.dist-info"), b"").unwrap();
        make_image(&dir.join("layout"), "app", &[&rootfs, &app, &dir.join("whiteout-layer")]);
        make_image(&dir.join("layout"), "alpine", &[&fixture("alpine-3.14")]);
        Bed { dir, rootfs }
    })
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
}

pub fn make_image(layout: &Path, tag: &str, layers: &[&Path]) {
    let out = Command::new("python3")
        .arg(script("rootfs-image.py"))
        .arg(layout)
        .arg(tag)
        .args(layers)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn scan(tag: &str, extra: &[&str]) -> std::process::Output {
    let bed = bed();
    let source = format!("oci:{}:{tag}", bed.dir.join("layout").display());
    let mut args = vec!["scan", &source, "--vuln-db", "vulndb"];
    args.extend_from_slice(extra);
    sealift(&bed.dir, &args)
}

/// `sealift scan` of one of the bed's images in `format`, parsed.
pub fn scan_doc(tag: &str, format: &str) -> Value {
    let out = scan(tag, &["--format", format]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn report(tag: &str) -> Value {
    let out = scan(tag, &["--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn app_report() -> &'static Value {
    static REPORT: OnceLock<Value> = OnceLock::new();
    REPORT.get_or_init(|| report("app"))
}

fn in_ecosystem<'a>(list: &'a Value, ecosystem: &str) -> Vec<&'a Value> {
    list.as_array().unwrap().iter().filter(|v| v["ecosystem"] == ecosystem).collect()
}

/// `(name, id, fixed)` for the findings of one ecosystem.
fn findings(report: &Value, ecosystem: &str) -> BTreeSet<(String, String, String)> {
    in_ecosystem(&report["findings"], ecosystem)
        .into_iter()
        .map(|f| (s(&f["name"]), s(&f["id"]), f["fixed_version"].as_str().unwrap_or("-").to_owned()))
        .collect()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn dpkg_compare(a: &str, op: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, op, b])
        .status()
        .unwrap()
        .success()
}

/// dpkg's own view of the root filesystem: (package, version, source, source version).
fn dpkg_query(rootfs: &Path) -> BTreeSet<(String, String, String, String)> {
    let admindir = format!("--admindir={}", rootfs.join("var/lib/dpkg").display());
    let out = Command::new("dpkg-query")
        .args([
            admindir.as_str(),
            "-W",
            "-f",
            "${db:Status-Abbrev}\t${Package}\t${Version}\t${source:Package}\t${source:Version}\n",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("ii"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1].to_owned(), f[2].to_owned(), f[3].to_owned(), f[4].to_owned())
        })
        .collect()
}

#[test]
fn debian_inventory_is_what_dpkg_says_is_installed() {
    let bed = bed();
    let expected = dpkg_query(&bed.rootfs);
    let debs = in_ecosystem(&app_report()["packages"], "Debian:12");
    let found: BTreeSet<_> = debs
        .iter()
        .map(|p| {
            let source = p["source_name"].as_str().unwrap_or(p["name"].as_str().unwrap()).to_owned();
            let source_version = p["source_version"].as_str().unwrap_or(p["version"].as_str().unwrap()).to_owned();
            (s(&p["name"]), s(&p["version"]), source, source_version)
        })
        .collect();
    assert_eq!(found, expected);
    assert!(
        expected.len() >= 80,
        "a minbase root filesystem has about 88 packages, found {}",
        expected.len()
    );
    for p in &debs {
        assert_eq!(p["path"], "/var/lib/dpkg/status");
        assert!(p["purl"].as_str().unwrap().starts_with("pkg:deb/debian/"), "{p}");
        assert!(p["purl"].as_str().unwrap().contains("distro=debian-12"), "{p}");
    }
}

#[test]
fn debian_findings_are_the_advisories_dpkg_says_apply() {
    let bed = bed();
    let installed = dpkg_query(&bed.rootfs);
    let mut expected = BTreeSet::new();
    // Fixed-in records (Debian:12, from package changelogs): affected while the installed
    // source version is lower than the fix, as dpkg orders them.
    for entry in std::fs::read_dir(shared("vulndata/osv/debian/changelog")).unwrap() {
        let doc: Value = serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        for affected in doc["affected"].as_array().unwrap() {
            let source = affected["package"]["name"].as_str().unwrap();
            let fixed = affected["ranges"][0]["events"][1]["fixed"].as_str().unwrap();
            for (name, _, _, src_version) in installed.iter().filter(|p| p.2 == source) {
                if dpkg_compare(src_version, "lt", fixed) {
                    expected.insert((name.clone(), s(&doc["id"]), fixed.to_owned()));
                }
            }
        }
    }
    // The tracker sample: all eight CVEs are open in bookworm (SOURCES.md), so every binary of
    // their source packages is affected, with no fix.
    let open = [
        ("CVE-2005-2541", "tar"),
        ("CVE-2007-5686", "shadow"),
        ("CVE-2011-3374", "apt"),
        ("CVE-2013-4392", "systemd"),
        ("CVE-2017-18018", "coreutils"),
        ("CVE-2022-0563", "util-linux"),
        ("CVE-2023-4039", "gcc-12"),
        ("CVE-2023-50495", "ncurses"),
    ];
    for (id, source) in open {
        let binaries: Vec<_> = installed.iter().filter(|p| p.2 == source).collect();
        assert!(!binaries.is_empty(), "{source} is in every minbase root filesystem");
        for p in binaries {
            expected.insert((p.0.clone(), id.to_owned(), "-".to_owned()));
        }
    }
    let found = findings(app_report(), "Debian:12");
    assert_eq!(found, expected);
    // The research bed counted 36 (14 fixed-in + 22 open) on this root filesystem in 2026-08.
    assert!(found.len() >= 22, "{}", found.len());
    let apt = in_ecosystem(&app_report()["findings"], "Debian:12")
        .into_iter()
        .find(|f| f["name"] == "apt" && f["id"] == "CVE-2011-3374")
        .unwrap();
    assert_eq!(apt["severity"], "negligible", "the tracker calls it unimportant");
    assert!(apt["fixed_version"].is_null());
}

#[test]
fn npm_python_and_rust_findings_are_the_ones_in_the_records() {
    let r = app_report();
    let set = |items: &[(&str, &str, &str)]| -> BTreeSet<(String, String, String)> {
        items
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect()
    };
    // The 8 GHSA records in scan-testbed/curated/osv/npm against the lockfile.
    let npm = set(&[
        ("axios", "GHSA-4w2v-q235-vp99", "0.21.1"),
        ("express", "GHSA-rv95-896h-c2vc", "4.19.2"),
        ("lodash", "GHSA-35jh-r3h4-6jhm", "4.17.21"),
        ("lodash", "GHSA-p6mc-m468-83gw", "4.17.20"),
        ("minimist", "GHSA-vh95-rmgr-6w4m", "1.2.3"),
        ("minimist", "GHSA-xvch-5gv4-984h", "1.2.6"),
        ("node-fetch", "GHSA-r683-j2x4-v87g", "2.6.7"),
        ("semver", "GHSA-c2qf-rxjj-qqgw", "5.7.2"),
    ]);
    assert_eq!(findings(r, "npm"), npm);
    assert_eq!(in_ecosystem(&r["packages"], "npm").len(), 56, "the lockfile's 56 packages");
    // RustSec records for smallvec 1.6.0, time 0.1.43 and tokio 1.8.0 (nearest fix).
    let crates = set(&[
        ("smallvec", "RUSTSEC-2021-0003", "1.6.1"),
        ("time", "RUSTSEC-2020-0071", "0.2.0"),
        ("tokio", "RUSTSEC-2021-0072", "1.8.1"),
        ("tokio", "RUSTSEC-2021-0124", "1.8.4"),
        ("tokio", "RUSTSEC-2023-0001", "1.18.4"),
        ("tokio", "RUSTSEC-2023-0005", "1.18.5"),
        ("tokio", "RUSTSEC-2025-0023", "1.38.2"),
    ]);
    assert_eq!(findings(r, "crates.io"), crates);
    assert_eq!(
        in_ecosystem(&r["packages"], "crates.io").len(),
        9,
        "the workspace crate is not a package"
    );
    // PYSEC records for Django 3.2, urllib3 1.23, requests 2.19.1 and Jinja2 2.10. PyYAML 5.3
    // (PYSEC-2020-96, PYSEC-2021-142) is deleted by a whiteout in the top layer.
    let pypi: BTreeSet<String> = findings(r, "PyPI").into_iter().map(|(n, id, _)| format!("{n} {id}")).collect();
    let expected: BTreeSet<String> = [
        ("Django", "PYSEC-2021-109 PYSEC-2021-439 PYSEC-2021-7 PYSEC-2021-8 PYSEC-2021-98 PYSEC-2021-99 PYSEC-2022-1 PYSEC-2022-19 PYSEC-2022-190 PYSEC-2022-191 PYSEC-2022-2 PYSEC-2022-20 PYSEC-2022-213 PYSEC-2022-245 PYSEC-2022-3 PYSEC-2022-304 PYSEC-2023-100 PYSEC-2023-12 PYSEC-2023-13 PYSEC-2023-222 PYSEC-2023-225 PYSEC-2023-226 PYSEC-2023-61 PYSEC-2024-28 PYSEC-2024-47"),
        ("Jinja2", "PYSEC-2019-217 PYSEC-2021-66"),
        ("requests", "PYSEC-2018-28 PYSEC-2023-74"),
        ("urllib3", "PYSEC-2019-132 PYSEC-2019-133 PYSEC-2020-148 PYSEC-2021-108 PYSEC-2023-192 PYSEC-2023-207 PYSEC-2023-212"),
    ]
    .iter()
    .flat_map(|(n, ids)| ids.split(' ').map(move |id| format!("{n} {id}")))
    .collect();
    assert_eq!(pypi, expected);
    let names: BTreeSet<String> = in_ecosystem(&r["packages"], "PyPI").iter().map(|p| s(&p["name"])).collect();
    assert_eq!(names, ["Django", "Jinja2", "requests", "urllib3"].map(String::from).into());
    let django = in_ecosystem(&r["findings"], "PyPI")
        .into_iter()
        .find(|f| f["id"] == "PYSEC-2021-7")
        .unwrap();
    assert_eq!(django["fixed_version"], "3.2.1");
    assert_eq!(django["purl"], "pkg:pypi/django@3.2");
}

#[test]
fn go_binaries_are_read_for_their_standard_library() {
    // Debian's docker-registry is built with go1.19.8 in GOPATH mode: its build information
    // names the Go version and no modules.
    let binary = std::fs::read("/usr/bin/docker-registry").unwrap();
    let at = binary.windows(14).position(|w| w == b"\xff Go buildinf:").unwrap();
    let len = binary[at + 32] as usize;
    assert_eq!(
        &binary[at + 33..at + 33 + len],
        b"go1.19.8",
        "docker-registry changed: update the expectations"
    );
    let r = app_report();
    let go = in_ecosystem(&r["packages"], "Go");
    assert_eq!(go.len(), 1, "{go:?}");
    assert_eq!(
        (s(&go[0]["name"]), s(&go[0]["version"]), s(&go[0]["path"])),
        ("stdlib".into(), "1.19.8".into(), "/usr/bin/registry".into())
    );
    // golang/vulndb has 80 stdlib records affecting 1.19.8; the first ones, written down:
    let found = findings(r, "Go");
    assert_eq!(found.len(), 80);
    for (id, fixed) in [
        ("GO-2023-1751", "1.19.9"),
        ("GO-2023-1840", "1.19.10"),
        ("GO-2023-1878", "1.19.11"),
        ("GO-2023-1987", "1.19.12"),
    ] {
        assert!(found.contains(&("stdlib".into(), id.into(), fixed.into())), "{id} fixed in {fixed}");
    }
}

#[test]
fn alpine_findings_are_the_secdb_ones() {
    let r = report("alpine");
    assert_eq!(r["distro"]["id"], "alpine");
    let packages = in_ecosystem(&r["packages"], "Alpine:v3.14");
    assert_eq!(packages.len(), 26);
    let openssl = "CVE-2021-3711 CVE-2021-3712 CVE-2022-0778 CVE-2022-2097 CVE-2022-4304 CVE-2022-4450 CVE-2023-0215 CVE-2023-0286 CVE-2023-0464 CVE-2023-0465";
    let busybox = "CVE-2021-42374 CVE-2021-42375 CVE-2021-42378 CVE-2021-42379 CVE-2021-42380 CVE-2021-42381 CVE-2021-42382 CVE-2021-42383 CVE-2021-42384 CVE-2021-42385 CVE-2021-42386 ALPINE-13661 CVE-2022-28391";
    let mut expected = BTreeSet::new();
    for (binary, ids) in [
        ("libcrypto1.1", openssl),
        ("libssl1.1", openssl),
        ("busybox", busybox),
        ("ssl_client", busybox),
        ("zlib", "CVE-2018-25032 CVE-2022-37434"),
        ("libretls", "CVE-2022-0778"),
        ("openrc", "CVE-2021-42341"),
    ] {
        for id in ids.split(' ') {
            expected.insert(format!("{binary} {id}"));
        }
    }
    let found: BTreeSet<String> = findings(&r, "Alpine:v3.14")
        .into_iter()
        .map(|(n, id, _)| format!("{n} {id}"))
        .collect();
    // Not there: openssl's and busybox's "0" (never affected) entries, musl's 1.2.2_pre2 fix
    // (older than 1.2.2-r3), apk-tools fixed in exactly the installed 2.12.6-r0.
    assert_eq!(found, expected);
    assert_eq!(found.len(), 50);
    let libretls = in_ecosystem(&r["findings"], "Alpine:v3.14")
        .into_iter()
        .find(|f| f["name"] == "libretls")
        .unwrap();
    assert_eq!(libretls["fixed_version"], "3.3.3p1-r3");
}

#[test]
fn scan_fails_closed_and_gates_on_severity() {
    let bed = bed();
    let source = format!("oci:{}:alpine", bed.dir.join("layout").display());
    let missing = sealift(&bed.dir, &["scan", &source, "--vuln-db", "no-such-db"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("no-such-db"), "{}", text(&missing));
    assert!(missing.stdout.is_empty(), "no report at all, not an empty one");
    // The newest record is from 2026-08; a one-day limit refuses it.
    let stale = sealift(&bed.dir, &["scan", &source, "--vuln-db", "vulndb", "--max-db-age", "1"]);
    assert_eq!(stale.status.code(), Some(2), "{}", text(&stale));
    assert!(text(&stale).contains("days old"), "{}", text(&stale));
    let unknown = sealift(
        &bed.dir,
        &[
            "scan",
            &format!("oci:{}:nope", bed.dir.join("layout").display()),
            "--vuln-db",
            "vulndb",
        ],
    );
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    // Alpine's secdb has no severities: `unknown` gates only when asked.
    let gate = scan("alpine", &["--fail-on", "critical"]);
    assert_eq!(gate.status.code(), Some(0), "{}", text(&gate));
    let gate = scan("app", &["--fail-on", "critical"]);
    assert_eq!(
        gate.status.code(),
        Some(1),
        "minimist's GHSA-xvch-5gv4-984h is critical: {}",
        text(&gate)
    );
    assert!(
        text(&gate).contains("CRITICAL") || text(&gate).contains("critical"),
        "{}",
        text(&gate)
    );
}

#[test]
fn cyclonedx_spdx_and_sarif_carry_the_same_packages_and_findings() {
    let r = app_report();
    let packages = r["packages"].as_array().unwrap().len();
    let findings = r["findings"].as_array().unwrap().len();
    let doc = |format: &str| scan_doc("app", format);
    let cdx = doc("cyclonedx");
    assert_eq!(
        (cdx["bomFormat"].as_str(), cdx["specVersion"].as_str()),
        (Some("CycloneDX"), Some("1.6"))
    );
    // The operating system, then one component per package.
    assert_eq!(cdx["components"].as_array().unwrap().len(), packages + 1);
    assert_eq!(cdx["components"][0]["type"], "operating-system");
    assert_eq!(cdx["vulnerabilities"].as_array().unwrap().len(), findings);
    let refs: BTreeSet<&str> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs.len(), packages + 1, "bom-refs are unique");
    for v in cdx["vulnerabilities"].as_array().unwrap() {
        assert!(refs.contains(v["affects"][0]["ref"].as_str().unwrap()), "{v}");
    }
    assert_eq!(cdx, doc("cyclonedx"), "the same scan gives the same document");

    let spdx = doc("spdx");
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    assert_eq!(
        spdx["packages"].as_array().unwrap().len(),
        packages + 2,
        "the image, its operating system and its packages"
    );
    assert_eq!(spdx["relationships"].as_array().unwrap().len(), packages + 2);

    let sarif = doc("sarif");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), findings);
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    for res in results {
        let i = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], res["ruleId"]);
    }
}

#[test]
fn the_table_escapes_what_the_image_and_the_database_say() {
    // A package, an advisory id and a distribution whose names carry terminal escapes.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let dist_info = root.join("usr/lib/python3/site-packages/evil-1.0.dist-info");
    std::fs::create_dir_all(&dist_info).unwrap();
    std::fs::write(
        dist_info.join("METADATA"),
        "Metadata-Version: 2.1\nName: evil\x1b[31mred\nVersion: 1.0\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/os-release"), "ID=\"deb\x1b]0;pwn\x07ian\"\nVERSION_ID=12\n").unwrap();
    make_image(&dir.path().join("layout"), "esc", &[&root]);
    let records = dir.path().join("records");
    std::fs::create_dir_all(&records).unwrap();
    let record = serde_json::json!({
        "id": "PYSEC-0000-\u{1b}[2J",
        "database_specific": {"severity": "HIGH"},
        "affected": [{"package": {"ecosystem": "PyPI", "name": "evil\u{1b}[31mred"}, "versions": ["1.0"]}],
    });
    std::fs::write(records.join("r.json"), record.to_string()).unwrap();
    let o = sealift(dir.path(), &["db", "build", "--from", "records", "-o", "db"]);
    assert!(o.status.success(), "{}", text(&o));
    let source = format!("oci:{}:esc", dir.path().join("layout").display());
    let o = sealift(dir.path(), &["scan", &source, "--vuln-db", "db", "--format", "table"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!o.stdout.contains(&0x1b) && !o.stdout.contains(&0x07), "{}", text(&o));
    let shown = String::from_utf8(o.stdout).unwrap();
    for escaped in [r"evil\u{1b}[31mred", r"PYSEC-0000-\u{1b}[2J", r"deb\u{1b}]0;pwn\u{7}ian"] {
        assert!(shown.contains(escaped), "{escaped} not in {shown}");
    }
}

/// The layer digests of the one image in `layout` tagged `tag`.
fn layer_digests(layout: &Path, tag: &str) -> Vec<String> {
    let blob = |digest: &str| layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap();
    let manifest: Value = serde_json::from_slice(&std::fs::read(blob(manifest["digest"].as_str().unwrap())).unwrap()).unwrap();
    manifest["layers"].as_array().unwrap().iter().map(|l| s(&l["digest"])).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn layouts_and_archives_are_scanned_in_place_and_a_changed_layer_is_refused() {
    use sealift::create::{ScanOptions, scan_source};
    let bed = bed();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    make_image(&layout, "alpine", &[&fixture("alpine-3.14")]);
    let archive = work.path().join("image.tar");
    let tar = |from: &Path, to: &Path| {
        let status = Command::new("tar")
            .arg("-C")
            .arg(from)
            .arg("-cf")
            .arg(to)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
    };
    tar(&layout, &archive);
    let layers = layer_digests(&layout, "alpine");
    assert!(!layers.is_empty());
    let database = sealift::scan::db::Database::open(&bed.dir.join("vulndb"), None, time::OffsetDateTime::now_utc()).unwrap();
    let registry = sealift::registry::RegistryOptions {
        ca_files: vec![],
        credentials: sealift::registry::Credentials {
            explicit: None,
            auth_files: vec![],
        },
        jobs: 2,
        upload_chunk: sealift::registry::UPLOAD_CHUNK,
        retry: sealift::registry::RetryPolicy::default(),
    };
    let sources = [
        format!("oci:{}:alpine", layout.display()),
        format!("oci-archive:{}:alpine", archive.display()),
    ];
    for (i, source) in sources.iter().enumerate() {
        let staging = work.path().join(format!("staging-{i}"));
        let options = ScanOptions {
            source: source.parse().unwrap(),
            platform: None,
            registry: registry.clone(),
            database: &database,
            staging: Some(staging.clone()),
        };
        let report = scan_source(options, &sealift::progress::Silent).await.unwrap();
        assert!(report.packages.len() > 10, "{source}: {} packages", report.packages.len());
        // The manifest and config were staged (and checked); no layer was copied.
        let staged: Vec<String> = std::fs::read_dir(staging.join("blobs/sha256"))
            .unwrap()
            .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        assert_eq!(staged.len(), 2, "{source}: staged {staged:?}");
        for layer in &layers {
            assert!(!staged.contains(layer), "{source}: layer {layer} was copied");
        }
    }

    // One byte of the layer changed after the image was made (same size): both sources are
    // refused, naming the layer.
    let hex = layers[0].trim_start_matches("sha256:");
    let path = layout.join("blobs/sha256").join(hex);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let changed = work.path().join("changed.tar");
    tar(&layout, &changed);
    for source in [
        format!("oci:{}:alpine", layout.display()),
        format!("oci-archive:{}:alpine", changed.display()),
    ] {
        let o = sealift(
            work.path(),
            &["scan", &source, "--vuln-db", bed.dir.join("vulndb").to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(2), "{source}: {}", text(&o));
        assert!(text(&o).contains(&layers[0]), "{source}: {}", text(&o));
        assert!(
            text(&o).contains("digest mismatch"),
            "{source}: the cause is not named: {}",
            text(&o)
        );
        assert!(o.stdout.is_empty(), "{source}: a report was written");
    }
    // A FIFO where the layer should be is refused, not waited on.
    std::fs::remove_file(&path).unwrap();
    let made = Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(made.success());
    let source = format!("oci:{}:alpine", layout.display());
    let o = sealift(
        work.path(),
        &["scan", &source, "--vuln-db", bed.dir.join("vulndb").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a regular file"), "{}", text(&o));
}
