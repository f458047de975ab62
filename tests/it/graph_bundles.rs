//! Generated graphs: random trees of indexes, images, attestations and artifacts (indexes
//! nested up to 4 deep, children shared between roots, entries listed twice) are pushed to a
//! registry and bundled with scanning on. The test's own model of each graph says which
//! manifests are runnable; every stage must see exactly that set: `bundle.json` lists them,
//! each is signed in both formats, each is scanned exactly once, `verify` passes, and after
//! `load` each carries a release signature openssl accepts.

use std::collections::{BTreeMap, BTreeSet};

use sealift::bundle::{SignatureOrigin, SignatureRecord};
use sealift::oci::{Digest, ManifestKind};
use serde_json::json;

use crate::oracles::legacy_signature_verifies;
use crate::shapes::{gz_layer, index_of, npm_db, repo_ref};
use crate::support::*;

const PLATFORMS: [(&str, &str); 5] = [
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("linux", "s390x"),
    ("linux", "ppc64le"),
    ("windows", "amd64"),
];

/// xorshift64*: the same graphs on every run of a seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// One generated manifest, as the model knows it.
#[derive(Clone)]
struct Made {
    blob: std::rc::Rc<Blob>,
    kind: ManifestKind,
    platform: Option<(&'static str, &'static str)>,
    /// Runnable manifests at or under it.
    runnable: BTreeSet<Digest>,
    /// Attestations and artifacts at or under it.
    others: BTreeMap<Digest, ManifestKind>,
    /// Levels of index at and below it (0 for a manifest that is not an index).
    height: usize,
}

struct Gen {
    rng: Rng,
    /// Every manifest made so far (children may be shared from here).
    made: Vec<Made>,
    /// Blobs to push, children before parents.
    blobs: Vec<std::rc::Rc<Blob>>,
    manifests: Vec<std::rc::Rc<Blob>>,
    serial: usize,
}

impl Gen {
    fn node(&mut self, depth: usize) -> Made {
        // Shared with another parent, where it still fits under the depth limit.
        let fits: Vec<usize> = (0..self.made.len()).filter(|&i| depth + self.made[i].height <= 4).collect();
        if depth > 0 && !fits.is_empty() && self.rng.chance(20) {
            return self.made[fits[self.rng.below(fits.len())]].clone();
        }
        let roll = self.rng.below(100);
        let index_chance = if depth == 0 { 70 } else { 35 };
        let made = if depth < 4 && roll < index_chance {
            self.index(depth)
        } else if depth > 0 && roll < index_chance + 12 {
            self.attestation()
        } else if roll < index_chance + 20 {
            self.artifact()
        } else {
            self.image()
        };
        self.made.push(made.clone());
        made
    }

    fn push_manifest(&mut self, blob: Blob) -> std::rc::Rc<Blob> {
        let b = std::rc::Rc::new(blob);
        self.manifests.push(b.clone());
        b
    }

    fn image(&mut self) -> Made {
        self.serial += 1;
        let (os, arch) = PLATFORMS[self.rng.below(PLATFORMS.len())];
        let c = config(os, arch, false);
        let l = gz_layer(&[(&format!("etc/image-{}", self.serial), b"generated\n")]);
        let m = manifest(&c, &[&l], false);
        self.blobs.push(std::rc::Rc::new(c));
        self.blobs.push(std::rc::Rc::new(l));
        let blob = self.push_manifest(m);
        Made {
            runnable: BTreeSet::from([blob.digest()]),
            others: BTreeMap::new(),
            blob,
            kind: ManifestKind::Image,
            platform: Some((os, arch)),
            height: 0,
        }
    }

    fn attestation(&mut self) -> Made {
        self.serial += 1;
        let c = config("unknown", "unknown", false);
        let l = Blob {
            bytes: format!(r#"{{"_type":"https://in-toto.io/Statement/v1","n":{}}}"#, self.serial).into_bytes(),
            media_type: sealift::oci::media_type::IN_TOTO,
        };
        let m = manifest(&c, &[&l], false);
        self.blobs.push(std::rc::Rc::new(c));
        self.blobs.push(std::rc::Rc::new(l));
        let blob = self.push_manifest(m);
        Made {
            others: BTreeMap::from([(blob.digest(), ManifestKind::Attestation)]),
            runnable: BTreeSet::new(),
            blob,
            kind: ManifestKind::Attestation,
            platform: Some(("unknown", "unknown")),
            height: 0,
        }
    }

    fn artifact(&mut self) -> Made {
        self.serial += 1;
        let c = Blob {
            bytes: b"{}".to_vec(),
            media_type: sealift::oci::media_type::OCI_EMPTY,
        };
        let l = Blob {
            bytes: format!("artifact {}", self.serial).into_bytes(),
            media_type: "application/vnd.example.data.v1",
        };
        let doc = json!({"schemaVersion": 2, "mediaType": sealift::oci::media_type::OCI_MANIFEST,
            "artifactType": "application/vnd.example.thing.v1", "config": c.descriptor(), "layers": [l.descriptor()]});
        self.blobs.push(std::rc::Rc::new(c));
        self.blobs.push(std::rc::Rc::new(l));
        let blob = self.push_manifest(Blob {
            bytes: serde_json::to_vec(&doc).unwrap(),
            media_type: sealift::oci::media_type::OCI_MANIFEST,
        });
        Made {
            others: BTreeMap::from([(blob.digest(), ManifestKind::Artifact)]),
            runnable: BTreeSet::new(),
            blob,
            kind: ManifestKind::Artifact,
            platform: None,
            height: 0,
        }
    }

    fn index(&mut self, depth: usize) -> Made {
        let n = 1 + self.rng.below(4);
        let mut entries = Vec::new();
        let mut runnable = BTreeSet::new();
        let mut others = BTreeMap::new();
        let mut height = 1;
        for _ in 0..n {
            let child = self.node(depth + 1);
            height = height.max(child.height + 1);
            let mut e = child.blob.descriptor();
            if let Some((os, arch)) = child.platform {
                e["platform"] = json!({"os": os, "architecture": arch});
            }
            if child.kind == ManifestKind::Attestation {
                let described = runnable
                    .iter()
                    .next()
                    .map_or_else(|| Digest::of(b"elsewhere").to_string(), ToString::to_string);
                e["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": described});
            }
            runnable.extend(child.runnable.iter().cloned());
            others.extend(child.others.clone());
            if self.rng.chance(15) {
                entries.push(e.clone()); // listed twice
            }
            entries.push(e);
        }
        let blob = self.push_manifest(index_of(entries));
        Made {
            blob,
            kind: ManifestKind::Index,
            platform: None,
            runnable,
            others,
            height,
        }
    }
}

fn release_signed(sigs: &[SignatureRecord], subject: &Digest) -> usize {
    sigs.iter()
        .filter(|s| s.subject == *subject && s.origin == SignatureOrigin::Release)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_stage_sees_the_same_runnable_manifests_in_generated_graphs() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let client = source.client();
    let mut deepest = 0;
    for seed in [0x05ea_11f7_u64, 0xdead_beef, 0x00c1_0001, 0x7777_1234, 0x1234_5678, 0xfeed_f00d] {
        let repo = format!("gen/s{seed:x}");
        let r = repo_ref(&source, &repo);
        let mut g = Gen {
            rng: Rng(seed),
            made: Vec::new(),
            blobs: Vec::new(),
            manifests: Vec::new(),
            serial: 0,
        };
        let roots: Vec<Made> = (0..5).map(|_| g.node(0)).collect();
        deepest = deepest.max(roots.iter().map(|r| r.height).max().unwrap_or(0));
        for b in &g.blobs {
            push_blob(&client, &r, b).await;
        }
        for m in &g.manifests {
            push_manifest(&client, &r, m, None).await;
        }
        let mut yaml = String::from("name: generated\nimages:\n");
        for (i, root) in roots.iter().enumerate() {
            push_manifest(&client, &r, &root.blob, Some(&format!("r{i}"))).await;
            yaml.push_str(&format!("  - {}/{repo}:r{i}\n", source.host));
        }
        yaml.push_str("scan:\n  vuln-db: vulndb\n");
        let release = Release::with_yaml(&yaml);
        npm_db(&release);
        let o = create(&release, &source, "sealift.yaml", "gen.tar");
        assert!(o.status.success(), "seed {seed:x}: {}", text(&o));
        let index = release.bundle_json("gen.tar");

        let mut all_runnable = BTreeSet::new();
        let mut release_sigs = 0;
        for (root, image) in roots.iter().zip(&index.images) {
            let listed: BTreeSet<Digest> = image.runnable().into_iter().cloned().collect();
            assert_eq!(listed, root.runnable, "seed {seed:x} {}: listed", image.display_name());
            let others: BTreeMap<Digest, ManifestKind> = image.artifacts.iter().map(|a| (a.digest.clone(), a.kind)).collect();
            assert_eq!(others, root.others, "seed {seed:x} {}: artifacts", image.display_name());
            for d in root.runnable.iter().chain([&image.digest]) {
                assert_eq!(release_signed(&image.signatures, d), 2, "seed {seed:x}: {d} signed");
            }
            for d in root.others.keys() {
                if *d != image.digest {
                    assert_eq!(release_signed(&image.signatures, d), 0, "seed {seed:x}: {d} is no platform");
                }
            }
            release_sigs += image.signatures.len();
            all_runnable.extend(root.runnable.iter().cloned());
        }
        let scan = index.scan.as_ref().unwrap();
        let scanned: Vec<Digest> = scan.reports.iter().map(|r| r.manifest.clone()).collect();
        assert_eq!(scanned.len(), all_runnable.len(), "seed {seed:x}: each scanned exactly once");
        assert_eq!(scanned.into_iter().collect::<BTreeSet<_>>(), all_runnable, "seed {seed:x}: scanned");

        let o = sealift(release.dir.path(), &["verify", "gen.tar", "--key", "keys/sealift.pub"]);
        assert!(o.status.success(), "seed {seed:x}: {}", text(&o));
        assert!(text(&o).contains(&format!("image sigs: {release_sigs} verified")), "{}", text(&o));
        let o = load(&release, "gen.tar", &target, &[]);
        assert!(o.status.success(), "seed {seed:x}: {}", text(&o));
        let loaded = repo_ref(&target, &repo);
        for d in &all_runnable {
            assert!(
                legacy_signature_verifies(&target, &loaded, d, &release.path("keys/sealift.pub")).await,
                "seed {seed:x}: {d} has no valid release signature after load"
            );
        }
        eprintln!(
            "seed {seed:x}: {} manifests, {} runnable, {} other, {} levels of index",
            g.manifests.len(),
            all_runnable.len(),
            roots.iter().flat_map(|r| r.others.keys()).collect::<BTreeSet<_>>().len(),
            roots.iter().map(|r| r.height).max().unwrap_or(0)
        );
    }
    assert_eq!(deepest, 4, "the seeds must reach the depth limit");
}
