//! The fuzz targets' seeds (fuzz/seeds/TARGET) run once through the same target bodies
//! scripts/fuzz.sh fuzzes (src/fuzzing.rs), on the stable toolchain: every seed must be read
//! to the end and accepted (so fuzzing starts from inputs that reach deep into each reader),
//! and every `regression-*` input, one a fuzzer once broke a reader with, must now be handled
//! without a panic.

use std::path::Path;

type Target = fn(&[u8]) -> bool;

const TARGETS: [(&str, Target); 8] = [
    ("bundle", sealift::fuzzing::bundle),
    ("manifests", sealift::fuzzing::manifests),
    ("release_config", sealift::fuzzing::release_config),
    ("kubernetes_yaml", sealift::fuzzing::kubernetes_yaml),
    ("dpkg_status", sealift::fuzzing::dpkg_status),
    ("apk_installed", sealift::fuzzing::apk_installed),
    ("rpm_header", sealift::fuzzing::rpm_header),
    ("sqlite", sealift::fuzzing::sqlite),
];

#[test]
fn every_fuzz_seed_is_accepted_and_every_regression_handled() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut rejected = Vec::new();
    for (name, target) in TARGETS {
        let mut seeds = 0;
        for entry in std::fs::read_dir(root.join(name)).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let accepted = target(&data);
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if !file.starts_with("regression-") {
                seeds += 1;
                if !accepted {
                    rejected.push(format!("{name}/{file}"));
                }
            }
        }
        assert!(seeds > 0, "fuzz/seeds/{name} holds no seed");
    }
    assert!(rejected.is_empty(), "seeds the readers reject: {rejected:?}");
}

#[test]
fn a_changed_byte_in_the_bundle_seed_is_not_accepted() {
    // The target is not accepting everything: one flipped byte in a blob fails verification.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/bundle/web.bundle");
    let mut data = std::fs::read(path).unwrap();
    assert!(sealift::fuzzing::bundle(&data));
    // The image config's `"architecture"`: inside a blob, not a tar header.
    let at = data.windows(14).position(|w| w == b"\"architecture\"").unwrap();
    data[at + 1] ^= 1;
    assert!(!sealift::fuzzing::bundle(&data));
}
