use std::io::Write as _;

use super::*;

/// A gzip-compressed tar layer holding `files` (path, mode, contents).
fn layer(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (path, mode, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *data).unwrap();
    }
    let mut gz = builder.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

const STATUS: &[u8] =
    b"Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: install ok installed\nVersion: 2\nSource: bsrc (1.9)\n";
const STATUS_WITHOUT_A: &[u8] = b"Package: b\nStatus: install ok installed\nVersion: 2\nSource: bsrc (1.9)\n";
const OS: &[u8] = b"ID=debian\nVERSION_ID=\"12\"\n";

fn names(inv: &Inventory) -> Vec<String> {
    inv.packages
        .iter()
        .map(|p| format!("{} {}@{} {}", p.ecosystem, p.name, p.version, p.path))
        .collect()
}

const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

#[test]
fn later_layers_replace_and_whiteouts_delete() {
    let mut c = Collector::new();
    let base = layer(&[
        ("./etc/os-release", 0o644, OS),
        ("./var/lib/dpkg/status", 0o644, STATUS),
        (
            "app/node_modules/lodash/package.json",
            0o644,
            br#"{"name":"lodash","version":"4.17.15"}"#,
        ),
        ("app/node_modules/qs/package.json", 0o644, br#"{"name":"qs","version":"6.7.0"}"#),
        ("py/site/six-1.16.0.dist-info/METADATA", 0o644, b"Name: six\nVersion: 1.16.0\n"),
    ]);
    c.add_layer("sha256:base", GZ, || Ok(&base[..])).unwrap();
    let top = layer(&[
        // dpkg status rewritten: package a removed.
        ("var/lib/dpkg/status", 0o644, STATUS_WITHOUT_A),
        ("app/node_modules/.wh.qs", 0o644, b""),
        ("py/site/.wh..wh..opq", 0o644, b""),
        ("py/site/urllib3-1.23.dist-info/METADATA", 0o644, b"Name: urllib3\nVersion: 1.23\n"),
    ]);
    c.add_layer("sha256:top", GZ, || Ok(&top[..])).unwrap();
    let inv = c.finish();

    // Layers read in any order (as several threads may), applied in layer order: the same.
    let mut stacked = Collector::new();
    let reader = stacked.reader();
    let top_read = reader.read("sha256:top", GZ, || Ok(&top[..])).unwrap();
    let base_read = reader.read("sha256:base", GZ, || Ok(&base[..])).unwrap();
    stacked.apply(base_read).unwrap();
    stacked.apply(top_read).unwrap();
    assert_eq!(names(&stacked.finish()), names(&inv));

    assert_eq!(inv.distro.as_ref().map(|d| d.version_id.as_str()), Some("12"));
    assert_eq!(
        names(&inv),
        [
            "Debian:12 b@2 /var/lib/dpkg/status",
            "PyPI urllib3@1.23 /py/site/urllib3-1.23.dist-info/METADATA",
            "npm lodash@4.17.15 /app/node_modules/lodash/package.json",
        ]
    );
    let b = &inv.packages[0];
    assert_eq!(
        (b.layer.as_str(), b.source_name.as_deref(), b.source_version.as_deref()),
        ("sha256:top", Some("bsrc"), Some("1.9"))
    );
    assert_eq!(inv.packages[2].layer, "sha256:base");
}

#[test]
fn a_lockfile_and_node_modules_of_one_project_count_once() {
    let mut c = Collector::new();
    let l = layer(&[
        (
            "srv/package-lock.json",
            0o644,
            br#"{"lockfileVersion":3,"packages":{"":{},"node_modules/lodash":{"version":"4.17.15"}}}"#,
        ),
        (
            "srv/node_modules/lodash/package.json",
            0o644,
            br#"{"name":"lodash","version":"4.17.15"}"#,
        ),
        (
            "other/node_modules/lodash/package.json",
            0o644,
            br#"{"name":"lodash","version":"4.17.15"}"#,
        ),
    ]);
    c.add_layer("sha256:l", GZ, || Ok(&l[..])).unwrap();
    assert_eq!(
        names(&c.finish()),
        [
            "npm lodash@4.17.15 /other/node_modules/lodash/package.json",
            "npm lodash@4.17.15 /srv/package-lock.json"
        ]
    );
}

#[test]
fn unreadable_records_are_warnings_and_broken_layers_errors() {
    let mut c = Collector::new();
    let l = layer(&[
        ("srv/package-lock.json", 0o644, b"{ not json"),
        ("var/lib/rpm/rpmdb.sqlite", 0o644, b"SQLite format 3\0"),
        ("var/lib/rpm/rpmdb.sqlite-wal", 0o644, b"not yet checkpointed"),
        ("usr/lib/sysimage/rpm/rpmdb.sqlite-wal", 0o644, b""),
        ("usr/bin/tool", 0o755, b"#!/bin/sh\necho not a Go binary\n"),
    ]);
    c.add_layer("sha256:l", GZ, || Ok(&l[..])).unwrap();
    let inv = c.finish();
    assert!(inv.packages.is_empty());
    assert_eq!(inv.warnings.len(), 3, "{:?}", inv.warnings);
    assert!(
        inv.warnings[0].starts_with("/srv/package-lock.json (layer sha256:l)"),
        "{:?}",
        inv.warnings
    );
    assert!(
        inv.warnings[1].starts_with("/var/lib/rpm/rpmdb.sqlite ") && inv.warnings[1].contains("SQLite: file is not a database"),
        "{:?}",
        inv.warnings
    );
    // A non-empty write-ahead log is named; an empty one says nothing.
    assert!(
        inv.warnings[2].starts_with("/var/lib/rpm/rpmdb.sqlite-wal ") && inv.warnings[2].contains("20-byte SQLite write-ahead log"),
        "{:?}",
        inv.warnings
    );

    let mut broken = layer(&[("var/lib/dpkg/status", 0o644, STATUS)]);
    broken.truncate(broken.len() / 2);
    let err = Collector::new().add_layer("sha256:broken", GZ, || Ok(&broken[..])).unwrap_err();
    assert!(err.to_string().starts_with("layer sha256:broken:"), "{err}");
}

#[test]
fn uncompressed_layers_are_read_too() {
    let gz = layer(&[("lib/apk/db/installed", 0o644, b"P:musl\nV:1.2.2-r3\no:musl\n")]);
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut plain).unwrap();
    let mut c = Collector::new();
    c.add_layer("sha256:plain", TAR, || Ok(&plain[..])).unwrap();
    assert_eq!(names(&c.finish()), ["Alpine musl@1.2.2-r3 /lib/apk/db/installed"]);
    // The media type decides the decoder, and the bytes must agree with it.
    let err = Collector::new().add_layer("sha256:plain", GZ, || Ok(&plain[..])).unwrap_err();
    assert!(err.to_string().contains("says gzip"), "{err}");
    let err = Collector::new()
        .add_layer("sha256:gz", "application/vnd.oci.image.layer.v1.tar+zstd", || Ok(&gz[..]))
        .unwrap_err();
    assert!(err.to_string().contains("says zstd"), "{err}");
}

/// A gzip tar layer: `files` first, then `links` (path, target, hard).
fn layer_with_links(files: &[(&str, &[u8])], links: &[(&str, &str, bool)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, *data).unwrap();
    }
    for (path, target, hard) in links {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(if *hard { tar::EntryType::Link } else { tar::EntryType::Symlink });
        header.set_size(0);
        header.set_mode(0o777);
        builder.append_link(&mut header, path, target).unwrap();
    }
    let gz = builder.into_inner().unwrap();
    gz.finish().unwrap()
}

const LOCK: &[u8] = br#"{"lockfileVersion":3,"packages":{"":{},"node_modules/minimist":{"version":"1.2.0"}}}"#;

/// A collector with gzip layer `l` added, and how many times the layer was opened.
fn add_counting_opens(l: &[u8]) -> (Collector, usize) {
    let mut c = Collector::new();
    let opened = std::cell::Cell::new(0);
    let open = || {
        opened.set(opened.get() + 1);
        Ok(l)
    };
    c.add_layer("sha256:l", GZ, open).unwrap();
    (c, opened.get())
}

#[test]
fn package_records_behind_links_are_read() {
    // A hard link to a file read past as uninteresting: the layer is read again for it.
    let l = layer_with_links(&[("opt/blob", LOCK)], &[("srv/shop/package-lock.json", "opt/blob", true)]);
    let (c, opened) = add_counting_opens(&l);
    assert_eq!(opened, 2, "the layer was not read again for the link's target");
    assert_eq!(names(&c.finish()), ["npm minimist@1.2.0 /srv/shop/package-lock.json"]);

    // Links to a file read as the same kind: no second read; a symlink counts the same.
    let l = layer_with_links(
        &[("a/package-lock.json", LOCK)],
        &[
            ("b/package-lock.json", "a/package-lock.json", true),
            ("c/package-lock.json", "../a/package-lock.json", false),
        ],
    );
    let (c, opened) = add_counting_opens(&l);
    assert_eq!(opened, 1, "the layer was read again");
    assert_eq!(c.finish().packages.len(), 3);

    // A hard link whose target is not in its layer, and a symlink to a file never read.
    let l = layer_with_links(&[], &[("srv/package-lock.json", "opt/elsewhere", true)]);
    let err = Collector::new().add_layer("sha256:l", GZ, || Ok(&l[..])).unwrap_err();
    assert!(
        err.to_string().contains("/srv/package-lock.json is a hard link to /opt/elsewhere"),
        "{err}"
    );
    // One whose target a layer below holds, read as the same kind, takes that record.
    let base = layer_with_links(&[("opt/package-lock.json", LOCK)], &[]);
    let top = layer_with_links(&[], &[("srv/package-lock.json", "opt/package-lock.json", true)]);
    let mut c = Collector::new();
    c.add_layer("sha256:base", GZ, || Ok(&base[..])).unwrap();
    c.add_layer("sha256:top", GZ, || Ok(&top[..])).unwrap();
    assert_eq!(
        names(&c.finish()),
        [
            "npm minimist@1.2.0 /opt/package-lock.json",
            "npm minimist@1.2.0 /srv/package-lock.json"
        ]
    );
    let l = layer_with_links(&[("opt/blob", LOCK)], &[("srv/package-lock.json", "/opt/blob", false)]);
    let mut c = Collector::new();
    c.add_layer("sha256:l", GZ, || Ok(&l[..])).unwrap();
    let inv = c.finish();
    assert!(inv.packages.is_empty());
    assert!(
        inv.warnings[0].contains("symbolic link to /opt/blob") && inv.warnings[0].contains("not scanned"),
        "{:?}",
        inv.warnings
    );
}

/// A gzip tar layer of raw entries: (path, type, link target or content).
fn raw_layer(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (path, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_mode(0o755);
        if kind.is_symlink() || kind.is_hard_link() {
            header.set_size(0);
            builder.append_link(&mut header, path, std::str::from_utf8(data).unwrap()).unwrap();
        } else {
            header.set_size(data.len() as u64);
            builder.append_data(&mut header, path, *data).unwrap();
        }
    }
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn a_path_given_twice_in_a_layer_hides_what_is_below_if_it_was_ever_a_file() {
    use tar::EntryType::{Directory, Regular, Symlink};
    let base = raw_layer(&[("py/site/six-1.16.0.dist-info/METADATA", Regular, b"Name: six\nVersion: 1.16.0\n")]);
    // The top layer puts a symlink at py/site, then a directory there.
    let top = raw_layer(&[("py/site", Symlink, b"/elsewhere"), ("py/site", Directory, b"")]);
    let mut c = Collector::new();
    c.add_layer("sha256:base", GZ, || Ok(&base[..])).unwrap();
    c.add_layer("sha256:top", GZ, || Ok(&top[..])).unwrap();
    assert!(c.finish().packages.is_empty(), "six is under a path the top layer replaced");
}

#[test]
fn a_hard_link_to_a_lower_record_this_layer_replaces_or_removes_is_an_error() {
    use tar::EntryType::{Link, Regular, Symlink};
    let base = raw_layer(&[("opt/package-lock.json", Regular, LOCK)]);
    for top in [
        // The target replaced by a symlink in the same layer.
        raw_layer(&[
            ("srv/package-lock.json", Link, b"opt/package-lock.json"),
            ("opt/package-lock.json", Symlink, b"x"),
        ]),
        // The target whited out.
        raw_layer(&[
            ("srv/package-lock.json", Link, b"opt/package-lock.json"),
            ("opt/.wh.package-lock.json", Regular, b""),
        ]),
        // Its directory made opaque.
        raw_layer(&[
            ("srv/package-lock.json", Link, b"opt/package-lock.json"),
            ("opt/.wh..wh..opq", Regular, b""),
        ]),
    ] {
        let mut c = Collector::new();
        c.add_layer("sha256:base", GZ, || Ok(&base[..])).unwrap();
        let err = c.add_layer("sha256:top", GZ, || Ok(&top[..])).unwrap_err();
        assert!(
            err.to_string()
                .contains("/srv/package-lock.json is a hard link to /opt/package-lock.json"),
            "{err}"
        );
    }
    // A later file at the link's own path in the same layer still wins over the link.
    let top = raw_layer(&[
        ("srv/package-lock.json", Link, b"opt/package-lock.json"),
        (
            "srv/package-lock.json",
            Regular,
            br#"{"lockfileVersion":3,"packages":{"node_modules/qs":{"version":"6.7.0"}}}"#,
        ),
    ]);
    let mut c = Collector::new();
    c.add_layer("sha256:base", GZ, || Ok(&base[..])).unwrap();
    c.add_layer("sha256:top", GZ, || Ok(&top[..])).unwrap();
    assert_eq!(
        names(&c.finish()),
        ["npm minimist@1.2.0 /opt/package-lock.json", "npm qs@6.7.0 /srv/package-lock.json"]
    );
}

#[test]
fn a_hard_link_names_its_target_as_it_was_when_the_link_was_written() {
    use tar::EntryType::{Link, Regular};
    const FIXED: &[u8] = br#"{"lockfileVersion":3,"packages":{"node_modules/minimist":{"version":"1.2.6"}}}"#;
    // In one layer: the target, a link to it, then the target replaced: the link keeps the
    // first version.
    let l = raw_layer(&[
        ("a/package-lock.json", Regular, LOCK),
        ("b/package-lock.json", Link, b"a/package-lock.json"),
        ("a/package-lock.json", Regular, FIXED),
    ]);
    let mut c = Collector::new();
    c.add_layer("sha256:l", GZ, || Ok(&l[..])).unwrap();
    assert_eq!(
        names(&c.finish()),
        ["npm minimist@1.2.0 /b/package-lock.json", "npm minimist@1.2.6 /a/package-lock.json"]
    );
    // The target in a lower layer, replaced after the link: refused rather than guessed.
    let base = raw_layer(&[("a/package-lock.json", Regular, LOCK)]);
    let top = raw_layer(&[
        ("b/package-lock.json", Link, b"a/package-lock.json"),
        ("a/package-lock.json", Regular, FIXED),
    ]);
    let mut c = Collector::new();
    c.add_layer("sha256:base", GZ, || Ok(&base[..])).unwrap();
    let err = c.add_layer("sha256:top", GZ, || Ok(&top[..])).unwrap_err();
    assert!(
        err.to_string()
            .contains("/b/package-lock.json is a hard link to /a/package-lock.json"),
        "{err}"
    );
}
