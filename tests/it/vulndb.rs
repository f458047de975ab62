//! `sealift db build` on the real advisory records in ../shared, and the store failing closed.

use std::path::{Path, PathBuf};

use sealift::scan::db::{Database, Range};

use crate::support::*;

fn build(cwd: &Path, from: &[PathBuf], out: &str) -> std::process::Output {
    let mut args = vec![
        "db".to_owned(),
        "build".into(),
        "-o".into(),
        out.into(),
        "--format".into(),
        "json".into(),
    ];
    for f in from {
        args.extend(["--from".into(), f.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sealift(cwd, &args)
}

#[test]
fn db_build_reads_real_records_and_the_store_fails_closed() {
    let work = tempfile::tempdir().unwrap();
    let sources = [shared("vulndata"), shared("scan-testbed/curated")];
    let o = build(work.path(), &sources, "db");
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Every OSV file under the two folders is read (counted here by walking them), the
    // SOURCES.md files are skipped, not mistaken for records.
    let osv_files = ["vulndata/osv", "scan-testbed/curated/osv"]
        .iter()
        .map(|d| count_json(&shared(d)))
        .sum::<usize>();
    assert_eq!(report["metadata"]["files"]["osv"], osv_files, "{report}");
    assert_eq!(report["metadata"]["files"]["alpine-secdb"], 16);
    assert_eq!(report["metadata"]["files"]["debian-tracker"], 8);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["metadata"]["newest"], "2026-08-21T06:28:40Z");

    let now = time::OffsetDateTime::from_unix_timestamp(1_795_305_600).unwrap(); // 2026-11-22T00:00:00Z
    let db = Database::open(&work.path().join("db"), Some(time::Duration::days(120)), now).unwrap();
    // Alpine: "0" means never affected (openssl CVE-2022-1292); 1.1.1l-r0 fixes CVE-2021-3711.
    let openssl = db.advisories("Alpine:v3.14", "openssl");
    assert!(!openssl.iter().any(|a| a.id == "CVE-2022-1292"), "{openssl:?}");
    let fixed = openssl.iter().find(|a| a.id == "CVE-2021-3711").unwrap();
    assert_eq!(fixed.ranges, [Range::before(Some("1.1.1l-r0".into()))]);
    // Debian tracker: gcc-12 CVE-2023-4039 is fixed in 12.3.0-9 in general, open in bookworm.
    let general = db.advisories("Debian", "gcc-12");
    assert_eq!(general[0].ranges, [Range::before(Some("12.3.0-9".into()))]);
    let bookworm = db.advisories("Debian:12", "gcc-12");
    assert_eq!(bookworm[0].ranges, [Range::before(None)]);
    assert_eq!(db.advisories("Debian", "apt")[0].severity, "negligible");
    // A Debian changelog record: aom fixed in 3.6.0-1+deb12u3 (DEBCL-aom-CVE-2026-56208.json).
    let aom = db.advisories("Debian:12", "aom");
    let rec = aom.iter().find(|a| a.id == "DEBCL-aom-CVE-2026-56208").unwrap();
    assert_eq!(rec.aliases, ["CVE-2026-56208"]);
    assert_eq!(rec.ranges, [Range::before(Some("3.6.0-1+deb12u3".into()))]);
    // GHSA severity words are mapped (MODERATE -> medium).
    assert!(db.advisories("npm", "lodash").iter().all(|a| a.severity != "unknown"));

    // Same inputs in another order give the same store.
    let o = build(work.path(), &[sources[1].clone(), sources[0].clone()], "db2");
    assert!(o.status.success(), "{}", text(&o));
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["metadata"]["digest"], report["metadata"]["digest"]);

    // Too old for the caller; no dates at all; altered after the build; missing.
    let err = Database::open(&work.path().join("db"), Some(time::Duration::days(30)), now).unwrap_err();
    assert!(err.to_string().contains("from 2026-08-21T06:28:40Z, 92 days old"), "{err}");
    let alpine_only = build(work.path(), &[shared("vulndata/alpine")], "alpine");
    assert!(alpine_only.status.success(), "{}", text(&alpine_only));
    let err = Database::open(&work.path().join("alpine"), Some(time::Duration::days(365)), now).unwrap_err();
    assert!(err.to_string().contains("no record carries a date"), "{err}");
    let jsonl = work.path().join("db2/advisories.jsonl");
    let edited = std::fs::read_to_string(&jsonl).unwrap().replacen("1.1.1l-r0", "1.1.1z-r0", 1);
    std::fs::write(&jsonl, edited).unwrap();
    let err = Database::open(&work.path().join("db2"), None, now).unwrap_err();
    assert!(err.to_string().contains("metadata.json says sha256:"), "{err}");
    let err = Database::open(&work.path().join("nothing"), None, now).unwrap_err();
    assert!(err.to_string().contains("sealift db build"), "{err}");
}

#[test]
fn db_build_refuses_no_records_and_damaged_ones() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("empty")).unwrap();
    std::fs::write(work.path().join("empty/README.md"), "not a record\n").unwrap();
    let o = build(work.path(), &[work.path().join("empty")], "db");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no advisory records found"), "{}", text(&o));
    assert!(!work.path().join("db/metadata.json").exists());

    std::fs::create_dir_all(work.path().join("bad")).unwrap();
    let record = std::fs::read_to_string(shared("scan-testbed/curated/osv/npm/GHSA-35jh-r3h4-6jhm.json")).unwrap();
    std::fs::write(work.path().join("bad/ok.json"), &record).unwrap();
    std::fs::write(work.path().join("bad/cut.json"), &record[..record.len() / 2]).unwrap();
    let o = build(work.path(), &[work.path().join("bad")], "db");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("cut.json") && text(&o).contains("not a valid JSON record"),
        "{}",
        text(&o)
    );
}

fn count_json(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                count_json(&p)
            } else {
                usize::from(p.extension().is_some_and(|e| e == "json"))
            }
        })
        .sum()
}

/// OSV publishes each ecosystem as one `all.zip`. A zip made by Python's zipfile from the same
/// records must give the very same store as the directory, including past 65,535 entries,
/// where the archive needs zip64 records; a damaged entry stops the build.
#[test]
fn zip_archives_are_read_like_directories() {
    let work = tempfile::tempdir().unwrap();
    let dir = shared("vulndata/osv/crates");
    let o = build(work.path(), std::slice::from_ref(&dir), "from-dir");
    assert!(o.status.success(), "{}", text(&o));
    let script = r#"
import os, sys, zipfile
src, out, padding = sys.argv[1], sys.argv[2], int(sys.argv[3])
with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
    for root, dirs, files in os.walk(src):
        for f in sorted(files):
            p = os.path.join(root, f)
            z.write(p, os.path.relpath(p, src))
    for i in range(padding):
        z.writestr(f"padding/{i:06}.txt", "not a record\n", compress_type=zipfile.ZIP_STORED)
"#;
    for (name, padding) in [("small.zip", "0"), ("zip64.zip", "70000")] {
        let zip = work.path().join(name);
        let st = std::process::Command::new("python3")
            .args(["-c", script, dir.to_str().unwrap(), zip.to_str().unwrap(), padding])
            .status()
            .unwrap();
        assert!(st.success());
        let o = build(work.path(), &[zip], &format!("db-{name}"));
        assert!(o.status.success(), "{name}: {}", text(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            report["skipped"].as_array().unwrap().len(),
            padding.parse::<usize>().unwrap(),
            "{name}"
        );
        for file in ["advisories.jsonl", "metadata.json"] {
            let a = std::fs::read(work.path().join("from-dir").join(file)).unwrap();
            let b = std::fs::read(work.path().join(format!("db-{name}")).join(file)).unwrap();
            assert!(a == b, "{name}: {file} differs from the directory build");
        }
    }

    // One flipped byte inside a deflated record: the CRC (or inflate) says so, naming the archive.
    let zip = work.path().join("small.zip");
    let mut bytes = std::fs::read(&zip).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x55;
    std::fs::write(work.path().join("broken.zip"), bytes).unwrap();
    let o = build(work.path(), &[work.path().join("broken.zip")], "broken");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("broken.zip") && text(&o).contains("zip"), "{}", text(&o));
    assert!(!work.path().join("broken/advisories.jsonl").exists());
}
