//! RPM's SQLite package database, written by rpm itself (scripts/fixture-rpmdb.sh builds
//! packages with rpmbuild and installs them with `rpm --justdb`): the inventory must be what
//! `rpm -qa` lists, and databases sealift cannot read must be warnings, never silence.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::scan::{make_image, script};
use crate::support::*;

fn scan(dir: &Path, tag: &str) -> Value {
    let source = format!("oci:{}:{tag}", dir.join("layout").display());
    let out = sealift(dir, &["scan", &source, "--vuln-db", "vulndb", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn rpm_sqlite_inventory_is_what_rpm_lists() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let st = Command::new(script("fixture-rpmdb.sh")).arg(dir.join("fx")).status().unwrap();
    assert!(st.success());
    let db = sealift(
        dir,
        &["db", "build", "--from", shared("vulndata/alpine").to_str().unwrap(), "-o", "vulndb"],
    );
    assert!(db.status.success(), "{}", text(&db));

    // rpm's own listing: NAME EPOCH VERSION RELEASE ARCH SOURCERPM.
    let listing = std::fs::read_to_string(dir.join("fx/expected.txt")).unwrap();
    let expected: BTreeSet<(String, String, String, String)> = listing
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let evr = if f[1] == "(none)" {
                format!("{}-{}", f[2], f[3])
            } else {
                format!("{}:{}-{}", f[1], f[2], f[3])
            };
            let source = f[5].strip_suffix(".src.rpm").unwrap();
            let source_name = source.rsplitn(3, '-').nth(2).unwrap();
            (f[0].to_owned(), evr, f[4].to_owned(), source_name.to_owned())
        })
        .collect();
    assert_eq!(expected.len(), 65);

    make_image(&dir.join("layout"), "rocky", &[&dir.join("fx/rootfs")]);
    let report = scan(dir, "rocky");
    let packages = report["packages"].as_array().unwrap();
    let got: BTreeSet<(String, String, String, String)> = packages
        .iter()
        .map(|p| {
            let purl = p["purl"].as_str().unwrap();
            let arch = purl.split("arch=").nth(1).unwrap().split('&').next().unwrap();
            let source = p["source_name"].as_str().unwrap_or(p["name"].as_str().unwrap());
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                arch.to_owned(),
                source.to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert!(report["warnings"].as_array().unwrap().is_empty(), "{}", report["warnings"]);
    let libs = packages.iter().find(|p| p["name"] == "openssl-libs").unwrap();
    assert_eq!(libs["ecosystem"], "Rocky Linux:9");
    assert_eq!(libs["path"], "/var/lib/rpm/rpmdb.sqlite");
    assert_eq!(
        libs["purl"],
        "pkg:rpm/rocky/openssl-libs@3.0.7-27.el9?arch=noarch&distro=rocky-9.3&epoch=1&upstream=openssl"
    );
    assert_eq!(libs["source_name"], "openssl");
    let bash = packages.iter().find(|p| p["name"] == "bash").unwrap();
    assert!(bash.get("source_name").is_none(), "bash is its own source: {bash}");

    // A truncated database, and a BerkeleyDB one: warnings naming the file, no packages.
    let db_file = dir.join("fx/rootfs/var/lib/rpm/rpmdb.sqlite");
    let bytes = std::fs::read(&db_file).unwrap();
    let cut = dir.join("cut/var/lib/rpm");
    std::fs::create_dir_all(&cut).unwrap();
    std::fs::write(cut.join("rpmdb.sqlite"), &bytes[..bytes.len() / 2]).unwrap();
    let bdb = dir.join("bdb/var/lib/rpm");
    std::fs::create_dir_all(&bdb).unwrap();
    std::fs::write(bdb.join("Packages"), [0u8; 8192]).unwrap();
    make_image(&dir.join("layout"), "broken", &[&dir.join("cut"), &dir.join("bdb")]);
    let report = scan(dir, "broken");
    assert_eq!(report["packages"].as_array().unwrap().len(), 0);
    let warnings: Vec<&str> = report["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("/var/lib/rpm/rpmdb.sqlite") && w.contains("SQLite: database disk image is malformed")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("/var/lib/rpm/Packages") && w.contains("BerkeleyDB")),
        "{warnings:?}"
    );
}
