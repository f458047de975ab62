use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::support::*;

/// Data offset and size of every entry, by path.
fn entries(bundle: &Path) -> BTreeMap<String, (u64, u64)> {
    let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path().unwrap().to_string_lossy().into_owned(), (e.raw_file_position(), e.size()))
        })
        .collect()
}

fn flip_byte(bundle: &Path, out: &Path, at: u64) {
    let mut bytes = std::fs::read(bundle).unwrap();
    bytes[usize::try_from(at).unwrap()] ^= 0x01;
    std::fs::write(out, bytes).unwrap();
}

/// Copy a bundle's entries into a new tar, letting `edit` drop entries and `extra` append some.
fn rebuild(bundle: &Path, out: &Path, keep: impl Fn(&str) -> bool, extra: Vec<(tar::Header, Vec<u8>)>) {
    let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        if !keep(&path) {
            continue;
        }
        let header = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        builder.append(&header, data.as_slice()).unwrap();
    }
    for (header, data) in extra {
        builder.append(&header, data.as_slice()).unwrap();
    }
    builder.finish().unwrap();
}

/// Copy a bundle, adding `extra` signature entries right after its own (where verify reads
/// signatures).
fn with_signatures(bundle: &Path, out: &Path, extra: &[(String, Vec<u8>)]) {
    let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let header = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        builder.append(&header, data.as_slice()).unwrap();
        if path.starts_with("sealift/bundle.json.sig.") {
            for (name, bytes) in extra {
                builder
                    .append(&raw_header(name.as_bytes(), bytes.len() as u64), bytes.as_slice())
                    .unwrap();
            }
        }
    }
    builder.finish().unwrap();
}

fn raw_header(name: &[u8], size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    h
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tampered_bundle_is_rejected_by_verify_and_load_pushes_nothing() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    let good = create_bundle(&release, &source, "good.tar");
    let map = entries(&good);
    let shared_layer = format!("blobs/sha256/{}", crate::support::shared_layer().digest().hex());
    let alpha_manifest = images.alpha.digest().layout_path();
    let dir = release.dir.path();
    let t = |name: &str| dir.join(name);

    let mut cases: Vec<(&str, &str, Vec<&str>)> = Vec::new();

    flip_byte(&good, &t("layer.tar"), map[&shared_layer].0 + 1000);
    // `load` hashes this 3 MiB layer while it uploads, not before; it names the layer, and
    // the image that needs it, as `verify` does.
    let needed_by = format!("needs sha256:{}", shared_layer.trim_start_matches("blobs/sha256/"));
    cases.push((
        "layer.tar",
        "keys/sealift.pub",
        vec!["digest-mismatch", &shared_layer, "missing-blob", &needed_by],
    ));

    flip_byte(&good, &t("manifest.tar"), map[&alpha_manifest].0 + 20);
    cases.push(("manifest.tar", "keys/sealift.pub", vec!["digest-mismatch", &alpha_manifest]));

    flip_byte(&good, &t("index.tar"), map["sealift/bundle.json"].0 + 40);
    cases.push(("index.tar", "keys/sealift.pub", vec!["signature-invalid"]));

    let sig = map.keys().find(|k| k.starts_with("sealift/bundle.json.sig.")).unwrap().clone();
    flip_byte(&good, &t("sig.tar"), map[&sig].0 + 10);
    cases.push(("sig.tar", "keys/sealift.pub", vec!["signature-invalid"]));

    // Cut inside the 3 MiB layer (which `load` hashes while uploading, not before): both name
    // it.
    let bytes = std::fs::read(&good).unwrap();
    let cut = usize::try_from(map[&shared_layer].0 + 1000).unwrap();
    std::fs::write(t("cut-in-layer.tar"), &bytes[..cut]).unwrap();
    cases.push((
        "cut-in-layer.tar",
        "keys/sealift.pub",
        vec!["size-mismatch", &shared_layer, "missing-blob", &needed_by],
    ));

    rebuild(&good, &t("removed.tar"), |p| p != shared_layer, vec![]);
    cases.push((
        "removed.tar",
        "keys/sealift.pub",
        vec!["missing-entry", "missing-blob", &shared_layer],
    ));

    rebuild(
        &good,
        &t("extra.tar"),
        |_| true,
        vec![(raw_header(b"blobs/sha256/extra", 5), b"extra".to_vec())],
    );
    cases.push(("extra.tar", "keys/sealift.pub", vec!["unlisted-entry", "blobs/sha256/extra"]));

    rebuild(
        &good,
        &t("dotdot.tar"),
        |_| true,
        vec![(raw_header(b"../evil", 4), b"evil".to_vec())],
    );
    cases.push(("dotdot.tar", "keys/sealift.pub", vec!["unsafe-entry", "../evil"]));

    let mut appended = std::fs::read(&good).unwrap();
    appended.extend_from_slice(b"trailing bytes after the archive");
    std::fs::write(t("trailing.tar"), appended).unwrap();
    cases.push(("trailing.tar", "keys/sealift.pub", vec!["malformed-archive", "end-of-archive"]));

    cases.push(("good.tar", "keys/other.pub", vec!["signature-invalid"]));

    // Strict reading: the end-of-archive marker is required, padding after it is bounded.
    let last_end = map.values().map(|(offset, size)| offset + size.div_ceil(512) * 512).max().unwrap();
    let good_bytes = std::fs::read(&good).unwrap();
    std::fs::write(t("truncated.tar"), &good_bytes[..usize::try_from(last_end).unwrap()]).unwrap();
    cases.push((
        "truncated.tar",
        "keys/sealift.pub",
        vec!["malformed-archive", "end-of-archive marker"],
    ));
    std::fs::copy(&good, t("zeros.tar")).unwrap();
    let zeros = std::fs::OpenOptions::new().write(true).open(t("zeros.tar")).unwrap();
    zeros.set_len(good_bytes.len() as u64 + (2 << 30)).unwrap(); // sparse: 2 GiB of zeros
    drop(zeros);
    cases.push(("zeros.tar", "keys/sealift.pub", vec!["malformed-archive", "zero padding"]));

    // Signature entries: one per key id, each a signature, a bounded number of them.
    let own = std::fs::read(&good)
        .map(|_| {
            let mut archive = tar::Archive::new(std::fs::File::open(&good).unwrap());
            let mut e = archive.entries().unwrap().nth(1).unwrap().unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            data
        })
        .unwrap();
    with_signatures(&good, &t("dup-sig.tar"), &[(sig.clone(), own)]);
    cases.push(("dup-sig.tar", "keys/sealift.pub", vec!["duplicate-entry", &sig]));
    with_signatures(
        &good,
        &t("junk-sig.tar"),
        &[("sealift/bundle.json.sig.0123456789abcdef".into(), vec![0x42; 70])],
    );
    cases.push(("junk-sig.tar", "keys/sealift.pub", vec!["signature-invalid", "not a P-256"]));
    with_signatures(&good, &t("name-sig.tar"), &[("sealift/bundle.json.sig.x".into(), vec![0x42; 64])]);
    cases.push(("name-sig.tar", "keys/sealift.pub", vec!["signature-invalid", "key id"]));
    let many: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| (format!("sealift/bundle.json.sig.{i:016x}"), vec![7; 64]))
        .collect();
    with_signatures(&good, &t("many-sig.tar"), &many);
    cases.push((
        "many-sig.tar",
        "keys/sealift.pub",
        vec!["signature-invalid", "more than 32 signature entries"],
    ));

    // A name with control characters cannot draw a line of its own.
    rebuild(
        &good,
        &t("newline.tar"),
        |_| true,
        vec![(raw_header(b"blobs/x\nVERIFIED good.tar (demo)", 1), b"x".to_vec())],
    );
    cases.push(("newline.tar", "keys/sealift.pub", vec!["unlisted-entry", "blobs/x\\u{a}VERIFIED"]));

    let ca = target.ca();
    for (file, key, expected) in &cases {
        let o = sealift(dir, &["verify", file, "--key", key]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "verify {file} with {key} should fail:\n{out}");
        for e in expected {
            assert!(out.contains(e), "verify {file}: expected `{e}` in:\n{out}");
        }
        assert!(!out.lines().any(|l| l.starts_with("VERIFIED")), "verify {file}:\n{out}");
        let o = sealift(
            dir,
            &[
                "load",
                file,
                "--key",
                key,
                "--registry",
                &target.host,
                "--ca-file",
                ca.to_str().unwrap(),
            ],
        );
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "load {file} should fail:\n{out}");
        assert!(out.contains("nothing was pushed"), "{out}");
        // The same report: a layer over 2 MiB is hashed while its upload starts (and its
        // commit is refused), the rest before the first request.
        for e in expected {
            assert!(out.contains(e), "load {file}: expected `{e}` in:\n{out}");
        }
    }
    // Distribution lists a repository as soon as one blob is committed into it (or mounted),
    // not only once it holds a manifest: an empty catalog means nothing landed at all.
    assert!(
        target.catalog().is_empty(),
        "tampered loads pushed something: {:?}",
        target.catalog()
    );

    // The untouched bundle still verifies: the failures above came from the tampering.
    let o = sealift(dir, &["verify", "good.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));

    // What is no regular file is a usage error, before anything is read.
    std::fs::create_dir(t("a-directory")).unwrap();
    // A FIFO is refused before it is opened (opening one blocks until a writer comes).
    assert!(std::process::Command::new("mkfifo").arg(t("a-fifo")).status().unwrap().success());
    for path in ["/dev/zero", "a-directory", "a-fifo"] {
        let o = sealift(dir, &["verify", path, "--key", "keys/sealift.pub"]);
        assert_eq!(o.status.code(), Some(2), "verify {path}: {}", text(&o));
        assert!(text(&o).contains("not a regular file"), "{}", text(&o));
    }
    // A key file that never ends is refused at its limit.
    let o = sealift(dir, &["verify", "good.tar", "--key", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("limit"), "{}", text(&o));
}
