use std::collections::BTreeMap;

use serde_json::json;

use super::*;

/// An in-memory content store for walks.
#[derive(Default)]
struct Store(BTreeMap<Digest, Vec<u8>>);

impl Store {
    fn put(&mut self, doc: &serde_json::Value) -> Descriptor {
        let bytes = serde_json::to_vec(doc).unwrap();
        let d = Descriptor::new(
            doc["mediaType"].as_str().unwrap_or(media_type::OCI_CONFIG),
            Digest::of(&bytes),
            bytes.len() as u64,
        );
        self.0.insert(d.digest.clone(), bytes);
        d
    }

    fn config(&mut self, os: &str, arch: &str) -> Descriptor {
        self.put(&json!({"os": os, "architecture": arch, "rootfs": {"type": "layers", "diff_ids": []}}))
    }

    fn image(&mut self, config: &Descriptor, layer_type: &str) -> Descriptor {
        let layer = json!({"mediaType": layer_type, "digest": Digest::of(layer_type.as_bytes()).to_string(), "size": 1});
        self.put(&json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "config": config, "layers": [layer]}))
    }

    fn index(&mut self, entries: &[serde_json::Value]) -> Descriptor {
        self.put(&json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": entries}))
    }

    fn walk(&self, roots: &[Descriptor]) -> Result<Graph, GraphError> {
        walk(roots.iter().cloned(), |need: &Need| {
            self.0.get(&need.descriptor().digest).cloned().ok_or("missing")
        })
        .map_err(|e| match e {
            WalkError::Graph(g) => g,
            WalkError::Fetch(f) => panic!("{f}"),
        })
    }
}

fn entry(d: &Descriptor, platform: Option<(&str, &str)>) -> serde_json::Value {
    let mut v = serde_json::to_value(d).unwrap();
    if let Some((os, arch)) = platform {
        v["platform"] = json!({"os": os, "architecture": arch});
    }
    v
}

const TAR_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[test]
fn nested_index_images_are_runnable_with_their_platforms() {
    let mut s = Store::default();
    let (ca, cb, cc) = (s.config("linux", "amd64"), s.config("linux", "arm64"), s.config("linux", "s390x"));
    let (a, b, c) = (s.image(&ca, TAR_GZ), s.image(&cb, TAR_GZ), s.image(&cc, TAR_GZ));
    let inner = s.index(&[entry(&a, Some(("linux", "amd64"))), entry(&b, Some(("linux", "arm64")))]);
    let outer = s.index(&[entry(&inner, None), entry(&c, Some(("linux", "s390x")))]);
    let g = s.walk(std::slice::from_ref(&outer)).unwrap();
    let mut platforms: Vec<String> = g
        .runnable(&outer.digest)
        .iter()
        .map(|n| n.platform.as_ref().unwrap().to_string())
        .collect();
    platforms.sort();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64", "linux/s390x"]);
    assert_eq!(g.nodes[&inner.digest].kind, ManifestKind::Index);
    assert_eq!(g.nodes[&a.digest].depth, 2);
    // A single image root takes its platform from its config.
    let g = s.walk(std::slice::from_ref(&a)).unwrap();
    assert_eq!(g.runnable(&a.digest)[0].platform.as_ref().unwrap().to_string(), "linux/amd64");
}

#[test]
fn attestations_signatures_and_artifacts_are_not_platforms() {
    let mut s = Store::default();
    let ca = s.config("linux", "amd64");
    let a = s.image(&ca, TAR_GZ);
    let unknown = s.config("unknown", "unknown");
    let att = s.image(&unknown, media_type::IN_TOTO);
    let sig = s.image(&ca, media_type::COSIGN_SIMPLE_SIGNING);
    let empty = s.put(&json!({}));
    let mut e = serde_json::to_value(&empty).unwrap();
    e["mediaType"] = json!(media_type::OCI_EMPTY);
    let chart = s.put(&json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "artifactType": "application/vnd.cncf.helm.chart",
        "config": e, "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": Digest::of(b"c").to_string(), "size": 1}]}));
    let sbom = s.put(
        &json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "artifactType": "application/spdx+json",
        "config": e, "layers": [{"mediaType": "application/spdx+json", "digest": Digest::of(b"s").to_string(), "size": 1}]}),
    );
    let mut att_entry = entry(&att, Some(("unknown", "unknown")));
    att_entry["annotations"] =
        json!({"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": a.digest.to_string()});
    let idx = s.index(&[
        entry(&a, Some(("linux", "amd64"))),
        att_entry,
        entry(&sig, None),
        entry(&chart, None),
        entry(&sbom, None),
    ]);
    let g = s.walk(std::slice::from_ref(&idx)).unwrap();
    assert_eq!(g.runnable(&idx.digest).len(), 1);
    let kinds: BTreeMap<Digest, ManifestKind> = g
        .others(&idx.digest)
        .iter()
        .map(|n| (n.descriptor.digest.clone(), n.kind))
        .collect();
    assert_eq!(kinds[&att.digest], ManifestKind::Attestation);
    assert_eq!(kinds[&sig.digest], ManifestKind::Signature);
    assert_eq!(kinds[&chart.digest], ManifestKind::Artifact);
    assert_eq!(kinds[&sbom.digest], ManifestKind::Sbom);
    assert_eq!(
        g.nodes[&chart.digest].artifact_type.as_deref(),
        Some("application/vnd.cncf.helm.chart")
    );
}

#[test]
fn a_container_image_is_runnable_whatever_it_claims() {
    let mut s = Store::default();
    let ca = s.config("linux", "amd64");
    let layer = json!({"mediaType": TAR_GZ, "digest": Digest::of(b"l").to_string(), "size": 1});
    let typed = s.put(
        &json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "artifactType": "application/vnd.example.not-an-image",
        "config": ca, "layers": [layer]}),
    );
    let plain = s.image(&ca, TAR_GZ);
    // An attestation annotation on an entry a runtime would select by platform.
    let mut claimed = entry(&plain, Some(("linux", "amd64")));
    claimed["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest"});
    let idx = s.index(&[entry(&typed, Some(("linux", "amd64"))), claimed]);
    let g = s.walk(std::slice::from_ref(&idx)).unwrap();
    assert_eq!(g.runnable(&idx.digest).len(), 2);
    assert!(g.others(&idx.digest).is_empty());
    // A tar layer next to an in-toto one: still an image, and the in-toto layer is refused.
    let mixed = s.put(&json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "config": ca,
        "layers": [layer, {"mediaType": media_type::IN_TOTO, "digest": Digest::of(b"s").to_string(), "size": 1}]}));
    assert!(matches!(s.walk(&[mixed]).unwrap_err(), GraphError::UnknownLayer { .. }));
    // A container config under another media type, with a tar layer: runnable after all.
    let mut disguised = serde_json::to_value(s.config("linux", "arm64")).unwrap();
    disguised["mediaType"] = json!("application/octet-stream");
    let hidden = s.put(&json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "config": disguised, "layers": [layer]}));
    let mut not_config = serde_json::to_value(s.put(&json!({"name": "chart", "version": "1"}))).unwrap();
    not_config["mediaType"] = json!("application/vnd.example.config+json");
    let data = s.put(&json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "config": not_config, "layers": [layer]}));
    let idx = s.index(&[entry(&hidden, Some(("linux", "arm64"))), entry(&data, None)]);
    let g = s.walk(std::slice::from_ref(&idx)).unwrap();
    let runnable: Vec<&Digest> = g.runnable(&idx.digest).iter().map(|n| &n.descriptor.digest).collect();
    assert_eq!(runnable, [&hidden.digest]);
    assert_eq!(g.nodes[&data.digest].kind, ManifestKind::Artifact);
    // One manifest offered as two platforms: refused, whichever entry is read first.
    let two = s.index(&[entry(&plain, Some(("linux", "amd64"))), entry(&plain, Some(("linux", "arm64")))]);
    assert!(matches!(s.walk(&[two]).unwrap_err(), GraphError::Conflict { .. }));
}

#[test]
fn runnable_images_fail_closed() {
    let mut s = Store::default();
    let ca = s.config("linux", "amd64");
    let odd = s.image(&ca, "application/vnd.oci.image.layer.v1.tar+encrypted");
    let err = s.walk(std::slice::from_ref(&odd)).unwrap_err();
    assert!(
        err.to_string().contains("tar+encrypted") && err.to_string().contains(&odd.digest.to_string()),
        "{err}"
    );
    let no_os = s.put(&json!({"rootfs": {"type": "layers", "diff_ids": []}}));
    let m = s.image(&no_os, TAR_GZ);
    let err = s.walk(&[m]).unwrap_err();
    assert!(matches!(err, GraphError::NoPlatform { .. }), "{err}");
    // Five levels of index: refused, naming the manifest too deep.
    let mut d = s.image(&ca, TAR_GZ);
    for _ in 0..5 {
        d = s.index(&[entry(&d, Some(("linux", "amd64")))]);
    }
    assert!(matches!(s.walk(&[d]).unwrap_err(), GraphError::TooDeep { depth: 5, .. }));
}

#[test]
fn shared_children_and_duplicates_are_seen_once() {
    let mut s = Store::default();
    let ca = s.config("linux", "amd64");
    let a = s.image(&ca, TAR_GZ);
    let i1 = s.index(&[entry(&a, Some(("linux", "amd64"))), entry(&a, Some(("linux", "amd64")))]);
    let i2 = s.index(&[entry(&a, Some(("linux", "amd64"))), entry(&i1, None)]);
    let g = s.walk(&[i2.clone(), i1.clone(), i2.clone()]).unwrap();
    assert_eq!(g.roots.len(), 2);
    assert_eq!(g.runnable(&i2.digest).len(), 1);
    assert_eq!(g.all_runnable().len(), 1);
    assert_eq!(g.nodes[&i1.digest].manifests.len(), 1);
    assert_eq!(g.blobs(&i2.digest).len(), 2);
}

#[test]
fn children_come_before_every_parent() {
    // root -> [y, a], a -> p, p -> y: breadth-first order would put p after y's discovery but
    // its reverse would push p before y.
    let mut s = Store::default();
    let ca = s.config("linux", "amd64");
    let y = s.image(&ca, TAR_GZ);
    let p = s.index(&[entry(&y, Some(("linux", "amd64")))]);
    let a = s.index(&[entry(&p, None)]);
    let root = s.index(&[entry(&y, Some(("linux", "amd64"))), entry(&a, None)]);
    let g = s.walk(std::slice::from_ref(&root)).unwrap();
    let order: Vec<&Digest> = g.children_first(&root.digest).iter().map(|n| &n.descriptor.digest).collect();
    let at = |d: &Digest| order.iter().position(|o| *o == d).unwrap();
    assert_eq!(order.len(), 4);
    assert!(at(&y.digest) < at(&p.digest) && at(&p.digest) < at(&a.digest) && at(&a.digest) < at(&root.digest));
}
