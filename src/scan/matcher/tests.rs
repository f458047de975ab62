use super::*;
use crate::scan::db;
use crate::scan::package::{Distro, Found};

fn osv(id: &str, ecosystem: &str, package: &str, events: &str) -> String {
    format!(
        r#"{{"id":"{id}","aliases":["CVE-{id}"],"modified":"2026-01-01T00:00:00Z","affected":[{{"package":{{"ecosystem":"{ecosystem}","name":"{package}"}},"ranges":[{{"type":"ECOSYSTEM","events":{events}}}]}}]}}"#
    )
}

fn database(records: &[(&str, String)]) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for (name, text) in records {
        std::fs::write(input.join(name), text).unwrap();
    }
    let out = dir.path().join("db");
    db::build(&[input], &out).unwrap();
    let opened = Database::open(&out, None, time::OffsetDateTime::now_utc()).unwrap();
    (dir, opened)
}

fn debian12() -> Distro {
    Distro {
        id: "debian".into(),
        version_id: "12".into(),
        ..Distro::default()
    }
}

fn deb(name: &str, version: &str, source: Option<(&str, Option<&str>)>) -> Package {
    let mut f = Found::new(Kind::Deb, name, version);
    if let Some((s, v)) = source {
        f.source = Some(s.into());
        f.source_version = v.map(Into::into);
    }
    Package::from_found(f, Some(&debian12()), "sha256:l", "var/lib/dpkg/status")
}

fn ids(m: &Matches) -> Vec<String> {
    m.findings
        .iter()
        .map(|f| format!("{} {} {}", f.name, f.id, f.fixed_version.as_deref().unwrap_or("-")))
        .collect()
}

#[test]
fn debian_matches_the_source_package_and_its_version() {
    let (_d, db) = database(&[(
        "a.json",
        osv(
            "DEB-1",
            "Debian:12",
            "util-linux",
            r#"[{"introduced":"0"},{"fixed":"2.38.1-5+deb12u4"}]"#,
        ),
    )]);
    // The binary's epoch would make it look newer than the fix; the source version is what counts.
    let bsdutils = deb("bsdutils", "1:2.38.1-5+deb12u3", Some(("util-linux", Some("2.38.1-5+deb12u3"))));
    let fixed = deb("bsdutils", "1:2.38.1-5+deb12u4", Some(("util-linux", Some("2.38.1-5+deb12u4"))));
    let unrelated = deb("util-linux-extra", "2.0", Some(("other", None)));
    let m = find(&db, &[bsdutils, fixed, unrelated]);
    assert_eq!(ids(&m), ["bsdutils DEB-1 2.38.1-5+deb12u4"]);
    assert_eq!(m.findings[0].version, "1:2.38.1-5+deb12u3");
    assert!(m.warnings.is_empty());
}

#[test]
fn a_release_entry_overrides_the_release_less_one() {
    let open =
        r#"{"Header":{"ID":"CVE-2023-1"},"Annotations":[{"Type":"package","Package":"tar","Kind":"unfixed","Severity":"unimportant"}]}"#;
    let not_affected = r#"{"Header":{"ID":"CVE-2023-2"},"Annotations":[{"Type":"package","Package":"tar","Kind":"unfixed"},{"Type":"package","Release":"bookworm","Package":"tar","Kind":"not-affected"}]}"#;
    let fixed_in_bookworm = r#"{"Header":{"ID":"CVE-2023-3"},"Annotations":[{"Type":"package","Package":"tar","Kind":"unfixed"},{"Type":"package","Release":"bookworm","Package":"tar","Kind":"fixed","Version":"1.34+dfsg-1.2"}]}"#;
    let (_d, db) = database(&[
        ("1.json", open.into()),
        ("2.json", not_affected.into()),
        ("3.json", fixed_in_bookworm.into()),
    ]);
    let m = find(&db, &[deb("tar", "1.34+dfsg-1.2+deb12u1", None)]);
    assert_eq!(ids(&m), ["tar CVE-2023-1 -"]);
    assert_eq!(m.findings[0].severity, "negligible");
    let m = find(&db, &[deb("tar", "1.34+dfsg-1.1", None)]);
    assert_eq!(ids(&m), ["tar CVE-2023-1 -", "tar CVE-2023-3 1.34+dfsg-1.2"]);
}

#[test]
fn language_ecosystems_use_their_own_ordering_and_names() {
    let (_d, db) = database(&[
        (
            "p.json",
            osv("PYSEC-1", "PyPI", "Django", r#"[{"introduced":"3.2"},{"fixed":"3.2.1"}]"#),
        ),
        (
            "n.json",
            osv("GHSA-1", "npm", "minimist", r#"[{"introduced":"0"},{"last_affected":"1.2.5"}]"#),
        ),
        (
            "g.json",
            osv(
                "GO-1",
                "Go",
                "stdlib",
                r#"[{"introduced":"0"},{"fixed":"1.22.11"},{"introduced":"1.23.0-0"},{"fixed":"1.23.5"}]"#,
            ),
        ),
    ]);
    let pkg = |kind, name: &str, version: &str| Package::from_found(Found::new(kind, name, version), None, "sha256:l", "x");
    let m = find(
        &db,
        &[
            pkg(Kind::Pypi, "django", "3.2"),
            pkg(Kind::Pypi, "Django", "3.2.1"),
            pkg(Kind::Pypi, "Django", "3.1"),
            pkg(Kind::Npm, "minimist", "1.2.5"),
            pkg(Kind::Npm, "minimist", "1.2.6"),
            pkg(Kind::Golang, "stdlib", "1.23.4"),
            pkg(Kind::Golang, "stdlib", "1.22.11"),
        ],
    );
    assert_eq!(ids(&m), ["stdlib GO-1 1.23.5", "django PYSEC-1 3.2.1", "minimist GHSA-1 -"]);
}

#[test]
fn unreadable_versions_are_warnings_not_silence() {
    let (_d, db) = database(&[(
        "n.json",
        osv("GHSA-2", "npm", "left-pad", r#"[{"introduced":"0"},{"fixed":"not.a.version"}]"#),
    )]);
    let pkg = |v: &str| Package::from_found(Found::new(Kind::Npm, "left-pad", v), None, "sha256:l", "x");
    let m = find(&db, &[pkg("1.0.0"), pkg("latest")]);
    assert!(m.findings.is_empty());
    assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
    assert!(m.warnings[0].contains("GHSA-2 for left-pad 1.0.0"), "{:?}", m.warnings);
    assert!(m.warnings[1].contains("left-pad latest"), "{:?}", m.warnings);
}

#[test]
fn a_two_part_semver_bound_is_read_and_does_not_hide_other_ranges() {
    // GHSA-r683-j2x4-v87g (node-fetch) has `introduced: "1.0"` in one of its ranges.
    let record = r#"{"id":"GHSA-r683-j2x4-v87g","affected":[
        {"package":{"ecosystem":"npm","name":"node-fetch"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0"},{"fixed":"3.1.1"}]}]},
        {"package":{"ecosystem":"npm","name":"node-fetch"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"2.6.7"}]}]}]}"#;
    let (_d, db) = database(&[("n.json", record.into())]);
    let pkg = |v: &str| Package::from_found(Found::new(Kind::Npm, "node-fetch", v), None, "sha256:l", "x");
    let m = find(&db, &[pkg("0.9.0"), pkg("2.6.1"), pkg("3.1.1")]);
    // 2.6.1 is in both ranges; the nearest fix is named.
    assert_eq!(
        ids(&m),
        ["node-fetch GHSA-r683-j2x4-v87g 2.6.7", "node-fetch GHSA-r683-j2x4-v87g 2.6.7"]
    );
    assert_eq!(m.findings[0].version, "0.9.0");
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}
