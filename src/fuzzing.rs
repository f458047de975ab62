//! The bodies of the fuzz targets in `fuzz/` (run by `scripts/fuzz.sh`), kept in the library so
//! that the committed corpus seeds also run under `cargo test` on a stable toolchain
//! (`tests/it/fuzz_corpus.rs`). Each takes arbitrary bytes, drives one reader of untrusted
//! input the way sealift does, and panics only when an invariant the reader promises is broken;
//! every error a reader returns is an acceptable outcome. Each returns whether the input was
//! accepted whole (the seeds test checks that the seeds reach the end of the reader).

use std::path::Path;

use crate::bundle::UnverifiedBundle;
use crate::harden::pss::KubeVersion;
use crate::harden::{InputFile, Options, yaml};
use crate::oci::graph::{Need, walk};
use crate::oci::manifest::sniff_media_type;
use crate::oci::{Descriptor, Digest, Manifest, media_type};
use crate::policy::Release;
use crate::policy::hardening::HardenSettings;
use crate::scan::inventory::{apk, dpkg, rpm};
use crate::sign::{PublicKey, TrustPolicy};

/// The public key the `bundle` seeds are signed with (`fuzz/bundle-key.pub`); mutations that
/// leave `bundle.json` and its signature intact reach the blob and graph checks.
const BUNDLE_KEY: &str = include_str!("../fuzz/bundle-key.pub");

/// The time signatures are judged at: fixed, so a run is repeatable.
const BUNDLE_NOW: i64 = 1_798_761_600; // 2027-01-01T00:00:00Z

/// A bundle file: `bundle inspect`'s peek, then `verify` against the seeds' key. A report
/// without failures and a verified bundle come together or not at all.
pub fn bundle(data: &[u8]) -> bool {
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return false;
    };
    if std::io::Write::write_all(&mut file, data).is_err() {
        return false;
    }
    let key = PublicKey::from_pem(BUNDLE_KEY).expect("fuzz/bundle-key.pub is a public key");
    let trust = TrustPolicy::from_keys(vec![("fuzz".to_owned(), key)]);
    let now = time::OffsetDateTime::from_unix_timestamp(BUNDLE_NOW).expect("a valid time");
    let Ok(opened) = UnverifiedBundle::open(file.path()) else {
        return false;
    };
    let _ = opened.peek();
    let Ok((report, verified)) = crate::verify::verify(opened, &trust, now, &crate::progress::Silent) else {
        return false;
    };
    assert_eq!(
        report.passed(),
        verified.is_some(),
        "a verdict without a verified bundle, or the reverse"
    );
    report.passed()
}

/// Manifests and indexes: the input is documents separated by NUL bytes (which JSON text
/// cannot hold). The first is parsed as each media type a registry may declare, then the
/// graph walk starts from it and is handed the following documents in the order it asks.
/// The walk is not given a digest check here: it must stay sound on any bytes.
pub fn manifests(data: &[u8]) -> bool {
    let mut docs = data.split(|&b| b == 0);
    let root = docs.next().unwrap_or_default();
    for declared in [
        media_type::OCI_INDEX,
        media_type::OCI_MANIFEST,
        media_type::DOCKER_MANIFEST,
        media_type::DOCKER_MANIFEST_LIST,
        "application/octet-stream",
    ] {
        if let Ok(manifest) = Manifest::parse(root, declared) {
            let _ = manifest.children();
        }
    }
    let root_type = sniff_media_type(root).unwrap_or_else(|| media_type::OCI_INDEX.to_owned());
    let descriptor = Descriptor::new(&root_type, Digest::of(root), root.len() as u64);
    let mut first = Some(root);
    let graph = walk([descriptor.clone()], |_: &Need| {
        first.take().or_else(|| docs.next()).map(<[u8]>::to_vec).ok_or(())
    });
    let Ok(graph) = graph else { return false };
    for node in graph.children_first(&descriptor.digest) {
        let _ = graph.blobs(&node.descriptor.digest);
    }
    let _ = graph.all_runnable();
    true
}

/// `sealift.yaml`, as `bundle create` reads it (paths resolve against a directory that does
/// not exist: parsing must not touch the file system).
pub fn release_config(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else { return false };
    Release::parse(text, Path::new("/nonexistent-fuzz-base")).is_ok()
}

/// Kubernetes YAML: a stream that parses must be written back to text that parses to the same
/// documents (`harden` writes what it read this way), and `harden` itself must return (an
/// error or a report) on it, its outputs parsing again.
pub fn kubernetes_yaml(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else { return false };
    let Ok(docs) = yaml::parse_documents(text) else { return false };
    let written = yaml::emit_documents(&docs);
    let again = yaml::parse_documents(&written).unwrap_or_else(|e| panic!("written YAML does not parse ({e}):\n{written}\nfrom:\n{text}"));
    assert_eq!(again, docs, "written YAML reads back differently:\n{written}");
    let _ = yaml::emit_json(&docs);
    let settings = HardenSettings::default();
    let options = Options {
        settings: &settings,
        kube_version: KubeVersion::DEFAULT,
        lock: None,
        site_registry: Some("registry.site.example"),
        signing_key_pem: None,
        receipt_key_pem: None,
    };
    let files = [InputFile {
        path: "input.yaml".to_owned(),
        text: text.to_owned(),
    }];
    let Ok(hardened) = crate::harden::harden(&files, &options) else {
        return false;
    };
    for out in &hardened.files {
        if out.path.ends_with(".json") {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&out.text) {
                panic!("harden wrote {} that is not JSON ({e}):\n{}", out.path, out.text);
            }
            continue;
        }
        if let Err(e) = yaml::parse_documents(&out.text) {
            panic!("harden wrote {} that does not parse ({e}):\n{}", out.path, out.text);
        }
    }
    true
}

/// A dpkg status file (or a `status.d` stanza), decoded as the inventory decodes it.
pub fn dpkg_status(data: &[u8]) -> bool {
    dpkg::parse(&String::from_utf8_lossy(data)).is_ok_and(|found| !found.is_empty())
}

/// Alpine's `lib/apk/db/installed`.
pub fn apk_installed(data: &[u8]) -> bool {
    apk::parse(&String::from_utf8_lossy(data)).is_ok_and(|found| !found.is_empty())
}

/// One RPM header blob, as a row of `rpmdb.sqlite` holds it.
pub fn rpm_header(data: &[u8]) -> bool {
    matches!(rpm::read_header(data), Ok(Some(_)))
}

/// A SQLite file read as an RPM database, by SQLite itself as `scan` opens it (read-only,
/// immutable, defensive). Accepted when packages were read.
pub fn sqlite(data: &[u8]) -> bool {
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return false;
    };
    if std::io::Write::write_all(&mut file, data).is_err() {
        return false;
    }
    rpm::read(file.path()).is_ok_and(|found| !found.is_empty())
}
