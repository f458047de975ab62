//! Kubernetes API versions: sealift's deprecation table agrees with the OpenAPI schemas
//! kubernetes-validate ships for every target sealift knows (v1.25 to v1.37); every removed
//! group/version/kind in tests/fixtures/apis/removed.yaml is migrated (valid for the target,
//! hardened, stable on a second run) or refused; deprecated ones still served warn; objects of
//! kinds sealift does not model have their images pinned.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sealift::harden::apis::{BUILTIN_GROUPS, DEPRECATIONS, SERVED_SINCE, group_of, lookup};
use sealift::harden::pss::KubeVersion;
use sealift::harden::yaml::{Node, parse_documents};

use crate::harden::kubernetes_validate;
use crate::support::{sealift, shared, text};

const IMAGE: &str = "registry.example/shop/app:1.0";
const DIGEST: &str = "sha256:5e1f0a1f0a1f0a1f0a1f0a1f0a1f0a1f0a1f0a1f0a1f0a1f0a1f0a1f0a1f0a1f";

/// The strict schemas kubernetes-validate has for `v1.{minor}`.
fn schema_dir(minor: u32) -> PathBuf {
    let lib = kubernetes_validate().parent().unwrap().parent().unwrap().join("lib");
    let python = std::fs::read_dir(&lib).unwrap().next().unwrap().unwrap().path();
    let dir = python.join(format!(
        "site-packages/kubernetes_validate/kubernetes-json-schema/v1.{minor}.0-local-strict"
    ));
    assert!(dir.is_dir(), "{} missing", dir.display());
    dir
}

/// kubernetes-validate's file name for a kind: `deployment-apps-v1.json`, `pod-v1.json`.
fn schema_file(api_version: &str, kind: &str) -> String {
    let version = api_version.rsplit('/').next().unwrap();
    match group_of(api_version).split('.').next().unwrap() {
        "" => format!("{}-{version}.json", kind.to_lowercase()),
        group => format!("{}-{group}-{version}.json", kind.to_lowercase()),
    }
}

fn served(minor: u32, api_version: &str, kind: &str) -> bool {
    schema_dir(minor).join(schema_file(api_version, kind)).is_file()
}

#[test]
fn the_table_agrees_with_the_schemas_of_every_target() {
    let targets = KubeVersion::OLDEST.0..=KubeVersion::NEWEST.0;
    let since = |api_version: &str, kind: &str| {
        SERVED_SINCE
            .iter()
            .find(|(v, kinds, _)| *v == api_version && kinds.contains(&kind))
            .map_or(0, |(_, _, since)| *since)
    };
    for d in DEPRECATIONS {
        for kind in d.kinds {
            for minor in targets.clone() {
                assert_eq!(
                    served(minor, d.api_version, kind),
                    minor >= since(d.api_version, kind) && minor < d.removed,
                    "{} {kind} at v1.{minor} (table: removed in v1.{})",
                    d.api_version,
                    d.removed
                );
                if let Some(to) = d.replacement_at(kind, KubeVersion(minor)) {
                    assert!(
                        served(minor, to, kind),
                        "{} {kind}: replacement {to} not served at v1.{minor}",
                        d.api_version
                    );
                }
            }
        }
    }
    for (api_version, kinds, since) in SERVED_SINCE {
        for kind in *kinds {
            let removed = lookup(api_version, kind).map_or(u32::MAX, |d| d.removed);
            for minor in targets.clone() {
                assert_eq!(
                    served(minor, api_version, kind),
                    minor >= *since && minor < removed,
                    "{api_version} {kind} at v1.{minor}"
                );
            }
        }
    }
    // Every GA kind of a built-in group the newest target serves is served by the oldest, or
    // SERVED_SINCE says from when.
    let newest = schema_dir(KubeVersion::NEWEST.0);
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&newest).unwrap() {
        let path = entry.unwrap().path();
        let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for gvk in schema["x-kubernetes-group-version-kind"].as_array().into_iter().flatten() {
            let (group, version, kind) = (
                gvk["group"].as_str().unwrap(),
                gvk["version"].as_str().unwrap(),
                gvk["kind"].as_str().unwrap(),
            );
            let ga = version.strip_prefix('v').is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            let api_version = if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            };
            // Shared meta types (Status, WatchEvent...) are listed under every group.
            let own = path.file_name().and_then(|n| n.to_str()) == Some(schema_file(&api_version, kind).as_str());
            if !own
                || !ga
                || kind.ends_with("List")
                || !BUILTIN_GROUPS.contains(&group)
                || served(KubeVersion::OLDEST.0, &api_version, kind)
            {
                continue;
            }
            if !SERVED_SINCE.iter().any(|(v, kinds, _)| *v == api_version && kinds.contains(&kind)) {
                missing.push(format!("{api_version} {kind}"));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "GA since v1.25 but not in SERVED_SINCE: {missing:?}");
}

/// The fixture's objects, one document each, with the test image.
fn removed_objects() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apis/removed.yaml")).unwrap();
    text.split("\n---\n")
        .map(|doc| {
            let doc = doc.replace("IMAGE", IMAGE);
            let node = parse_documents(&doc).unwrap().remove(0);
            let field = |k: &str| node.at(&[k]).and_then(Node::as_str).unwrap().to_string();
            (field("apiVersion"), field("kind"), doc)
        })
        .collect()
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn harden_at(dir: &Path, input: &str, out: &str, minor: u32, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let version = format!("v1.{minor}");
    let report_path = dir.join(format!("{out}.json"));
    let mut args = vec![
        "harden",
        input,
        "-o",
        out,
        "--kube-version",
        &version,
        "--images",
        "lock.yaml",
        "--report",
        report_path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = sealift(dir, &args);
    (o, report(&report_path))
}

fn findings<'a>(report: &'a serde_json::Value, reason: &str) -> Vec<&'a serde_json::Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["reason"] == reason)
        .collect()
}

#[test]
fn every_removed_api_is_migrated_and_hardened_or_refused_and_deprecated_ones_warn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("lock.yaml"), format!("{IMAGE}: {DIGEST}\n")).unwrap();
    let objects = removed_objects();
    // Every group/version/kind of the table has its object.
    let covered: Vec<(String, String)> = objects.iter().map(|(v, k, _)| (v.clone(), k.clone())).collect();
    for d in DEPRECATIONS {
        for kind in d.kinds {
            assert!(
                covered.contains(&(d.api_version.to_string(), kind.to_string())),
                "no fixture object for {} {kind}",
                d.api_version
            );
        }
    }
    let mut to_validate: BTreeMap<u32, Vec<PathBuf>> = BTreeMap::new();
    let (mut migrated, mut refused, mut warned) = (0, 0, 0);
    for (i, (api_version, kind, doc)) in objects.iter().enumerate() {
        let entry = lookup(api_version, kind).unwrap_or_else(|| panic!("{api_version} {kind} is not in the table"));
        let name = format!("{i:02}-{}", kind.to_lowercase());
        std::fs::write(dir.join(format!("{name}.yaml")), doc).unwrap();
        let input = format!("{name}.yaml");
        let target = entry.removed.max(KubeVersion::OLDEST.0);
        let (o, rep) = harden_at(dir, &input, &format!("{name}-out"), target, &[]);
        let what = format!("{api_version} {kind} at v1.{target}");
        if entry.replacement_at(kind, KubeVersion(target)).is_none() {
            assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
            let refusal = findings(&rep, "API_NOT_SERVED");
            assert_eq!(refusal.len(), 1, "{what}: {rep}");
            let detail = refusal[0]["detail"].as_str().unwrap();
            assert!(
                detail.contains(&format!("v1.{}", entry.removed)) && detail.contains("Pod Security admission"),
                "{what}: {detail}"
            );
            assert_eq!(refusal[0]["rule"], "V01");
            assert!(
                !dir.join(format!("{name}-out")).exists(),
                "{what}: output written despite the refusal"
            );
            refused += 1;
            continue;
        }
        assert!(o.status.success(), "{what}: {}", text(&o));
        let out_file = dir.join(format!("{name}-out/{name}.yaml"));
        let out = parse_documents(&std::fs::read_to_string(&out_file).unwrap()).unwrap().remove(0);
        let to = entry.replacement_at(kind, KubeVersion(target)).unwrap();
        assert_eq!(out.at(&["apiVersion"]).and_then(Node::as_str), Some(to), "{what}");
        let change = rep["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["path"] == "apiVersion")
            .unwrap_or_else(|| panic!("{what}: no apiVersion change: {rep}"));
        assert_eq!(
            (change["before"].as_str(), change["after"].as_str(), change["rule"].as_str()),
            (Some(api_version.as_str()), Some(to), Some("V01"))
        );
        // A pod template is hardened like any other: pinned, restricted or explained.
        if doc.contains(IMAGE) {
            assert!(
                !text_of(&out_file).contains(IMAGE) && text_of(&out_file).contains(DIGEST),
                "{what}: image not pinned"
            );
            let workload = &rep["workloads"].as_array().unwrap()[0];
            assert!(
                workload["level"] == "restricted" || !workload["failing"].as_array().unwrap().is_empty(),
                "{what}: {workload}"
            );
        }
        to_validate.entry(target).or_default().push(out_file);
        // A second run on the output changes nothing.
        let (o, again) = harden_at(dir, &format!("{name}-out"), &format!("{name}-again"), target, &[]);
        assert!(o.status.success(), "{what} again: {}", text(&o));
        assert_eq!(again["changes"].as_array().unwrap().len(), 0, "{what}: second run changed {again}");
        assert_eq!(
            text_of(&dir.join(format!("{name}-again/{name}.yaml"))),
            text_of(&dir.join(format!("{name}-out/{name}.yaml")))
        );
        migrated += 1;

        // Where some target still serves it but deprecates it: a warning naming the removal.
        let deprecated_target = entry.deprecated.max(KubeVersion::OLDEST.0);
        if deprecated_target < entry.removed {
            let (o, rep) = harden_at(dir, &input, &format!("{name}-served"), deprecated_target, &[]);
            assert!(o.status.success(), "{what}: {}", text(&o));
            let warning = findings(&rep, "API_DEPRECATED");
            assert_eq!(warning.len(), 1, "{api_version} {kind} at v1.{deprecated_target}: {rep}");
            assert!(
                warning[0]["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("Kubernetes v1.{} no longer serves it", entry.removed))
            );
            let kept = parse_documents(&text_of(&dir.join(format!("{name}-served/{name}.yaml"))))
                .unwrap()
                .remove(0);
            assert_eq!(kept.at(&["apiVersion"]).and_then(Node::as_str), Some(api_version.as_str()));
            warned += 1;
        }
    }
    println!("{migrated} migrated, {refused} refused, {warned} warned while still served");
    assert_eq!((migrated, refused), (47, 2));
    assert!(warned >= 6, "{warned}");
    // The independent schema check, for each target.
    for (minor, files) in &to_validate {
        let o = std::process::Command::new(kubernetes_validate())
            .args(["--strict", "-k", &format!("1.{minor}"), "--quiet"])
            .args(files)
            .output()
            .unwrap();
        assert!(o.status.success(), "kubernetes-validate 1.{minor}: {}", text(&o));
    }
}

#[test]
fn what_cannot_be_migrated_mechanically_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("lock.yaml"), format!("{IMAGE}: {DIGEST}\n")).unwrap();
    let fixture = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apis/not-mechanical.yaml")).unwrap();
    let docs: Vec<&str> = fixture.split("\n---\n").collect();
    assert_eq!(docs.len(), 9);
    for (i, doc) in docs.iter().enumerate() {
        let expect = doc.lines().find_map(|l| l.strip_prefix("# expect: ")).unwrap();
        let node = parse_documents(doc).unwrap().remove(0);
        let field = |path: &[&str]| node.at(path).and_then(Node::as_str).unwrap().to_string();
        let (api_version, kind) = (field(&["apiVersion"]), field(&["kind"]));
        let entry = lookup(&api_version, &kind).unwrap();
        let object = match node.at(&["metadata", "namespace"]) {
            Some(ns) => format!("{kind}/{}/{}", ns.as_str().unwrap(), field(&["metadata", "name"])),
            None => format!("{kind}/{}", field(&["metadata", "name"])),
        };
        let input = format!("{i}.yaml");
        std::fs::write(dir.join(&input), doc.replace("IMAGE", IMAGE)).unwrap();
        let target = entry.removed.max(KubeVersion::OLDEST.0);
        let (o, rep) = harden_at(dir, &input, &format!("{i}-out"), target, &[]);
        assert_eq!(o.status.code(), Some(1), "{object}: {}", text(&o));
        let refused = findings(&rep, "API_NOT_SERVED");
        assert_eq!(refused.len(), 1, "{object}: {rep}");
        let detail = refused[0]["detail"].as_str().unwrap();
        assert_eq!(refused[0]["object"], object.as_str());
        assert!(
            detail.contains(expect) && detail.contains(&format!("v1.{}", entry.removed)) && detail.contains(&entry.replaced_by()),
            "{object}: {detail}"
        );
        assert!(text(&o).contains(&object), "{object}: {}", text(&o));
    }
    // A version the target is too old for is refused the same way.
    std::fs::write(
        dir.join("new.yaml"),
        "apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: PriorityLevelConfiguration\nmetadata: {name: shop}\nspec: {type: Exempt}\n",
    )
    .unwrap();
    let (o, rep) = harden_at(dir, "new.yaml", "new-out", 28, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        findings(&rep, "API_NOT_SERVED")[0]["detail"]
            .as_str()
            .unwrap()
            .contains("served only from v1.29"),
        "{rep}"
    );

    // So is an alpha or beta of a built-in group the table does not know (batch/v2alpha1 was
    // removed; others are served only where enabled), unless a V03 exception keeps it.
    let alpha = format!(
        "apiVersion: batch/v2alpha1\nkind: CronJob\nmetadata: {{name: old, namespace: shop}}\nspec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{{name: job, image: '{IMAGE}'}}]\n"
    );
    std::fs::write(dir.join("alpha.yaml"), &alpha).unwrap();
    let (o, rep) = harden_at(dir, "alpha.yaml", "alpha-out", 35, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        findings(&rep, "API_NOT_SERVED")[0]["detail"].as_str().unwrap().contains("V03"),
        "{rep}"
    );
    std::fs::write(
        dir.join("sealift.yaml"),
        "name: x\nimages: [nginx:1]\nharden:\n  exceptions:\n  - {rule: V03, object: CronJob/shop/old, reason: the site enables batch/v2alpha1}\n",
    )
    .unwrap();
    let (o, rep) = harden_at(dir, "alpha.yaml", "alpha-kept", 35, &["-f", "sealift.yaml"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text_of(&dir.join("alpha-kept/alpha.yaml")).contains("batch/v2alpha1"));
    assert_eq!(findings(&rep, "USER_EXCEPTION")[0]["rule"], "V03", "{rep}");
}

fn text_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_refused_object_is_dropped_only_with_an_exception_and_its_namespace_claims_no_more_than_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The image runs as UID 10001, so its workloads can be restricted.
    std::fs::write(dir.join("lock.yaml"), format!("{IMAGE}: {{digest: {DIGEST}, user: '10001'}}\n")).unwrap();
    // A load-balancer install of a few releases ago: apps/v1 workloads, a policy/v1beta1 PSP.
    let psp = removed_objects()
        .into_iter()
        .find(|(v, k, _)| v == "policy/v1beta1" && k == "PodSecurityPolicy")
        .unwrap()
        .2;
    let app = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: speaker, namespace: lb}}\nspec:\n  selector: {{matchLabels: {{app: speaker}}}}\n  template:\n    metadata: {{labels: {{app: speaker}}}}\n    spec:\n      containers:\n      - name: speaker\n        image: {IMAGE}\n        livenessProbe: {{tcpSocket: {{port: 7472}}}}\n        readinessProbe: {{tcpSocket: {{port: 7472}}}}\n"
    );
    std::fs::create_dir(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/psp.yaml"), &psp).unwrap();
    std::fs::write(dir.join("in/app.yaml"), &app).unwrap();
    let (o, rep) = harden_at(dir, "in", "out", 30, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains("PodSecurityPolicy/restricted") && msg.contains("refused") && msg.contains("V01"),
        "{msg}"
    );
    assert!(!dir.join("out").exists());
    assert_eq!(findings(&rep, "API_NOT_SERVED").len(), 1);

    // With an exception the PSP is dropped, and the report says so.
    std::fs::write(
        dir.join("sealift.yaml"),
        "name: lb\nimages: [registry.example/shop/app:1.0]\nharden:\n  exceptions:\n  - rule: V01\n    object: PodSecurityPolicy/restricted\n    reason: replaced by the Pod Security labels sealift writes\n",
    )
    .unwrap();
    let (o, rep) = harden_at(dir, "in", "out", 30, &["-f", "sealift.yaml"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!dir.join("out/psp.yaml").exists(), "the excepted PSP is still written");
    let dropped = findings(&rep, "USER_EXCEPTION");
    assert!(
        dropped.iter().any(|f| f["object"] == "PodSecurityPolicy/restricted"
            && f["detail"]
                .as_str()
                .unwrap()
                .contains("dropped from the output (replaced by the Pod Security labels")),
        "{rep}"
    );

    // A kind sealift does not model, running an image: pinned, listed, and its namespace
    // enforces baseline at most though every evaluated workload is restricted.
    std::fs::write(
        dir.join("in/rollout.yaml"),
        format!("apiVersion: example.com/v1alpha1\nkind: Canary\nmetadata: {{name: speaker-canary, namespace: lb}}\nspec:\n  workload:\n    podSpec:\n      containers:\n      - {{name: speaker, image: {IMAGE}}}\n"),
    )
    .unwrap();
    let (o, rep) = harden_at(dir, "in", "out2", 30, &["-f", "sealift.yaml"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text_of(&dir.join("out2/rollout.yaml")).contains(&format!("registry.example/shop/app@{DIGEST}")));
    assert_eq!(rep["notHardened"][0]["object"], "Canary/lb/speaker-canary", "{rep}");
    let lb = rep["namespaces"].as_array().unwrap().iter().find(|n| n["name"] == "lb").unwrap();
    assert_eq!(lb["enforce"], "baseline", "{rep}");
    assert!(lb["capped"].as_str().unwrap().contains("Canary/lb/speaker-canary"), "{lb}");
    assert!(text(&o).contains("images pinned, not hardened (kind unknown)"), "{}", text(&o));
}

#[test]
fn an_old_microservices_demo_is_migrated_pinned_hardened_and_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The corpus's demo as it was written for Kubernetes before v1.16.
    let modern = std::fs::read_to_string(shared("manifests-corpus/microservices-demo/kubernetes-manifests.yaml")).unwrap();
    let old = modern.replace("apiVersion: apps/v1\n", "apiVersion: extensions/v1beta1\n");
    let deployments = old.matches("apiVersion: extensions/v1beta1\nkind: Deployment").count();
    assert!(deployments >= 10, "{deployments}");
    std::fs::create_dir(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/demo.yaml"), &old).unwrap();
    let mut images = std::collections::BTreeSet::new();
    for doc in parse_documents(&old).unwrap() {
        crate::harden::images_in(&doc, &mut images);
    }
    let mut lock = String::new();
    for image in &images {
        crate::harden::lock_line(image, &mut lock);
    }
    std::fs::write(dir.join("lock.yaml"), lock).unwrap();
    let (o, rep) = harden_at(dir, "in", "out", 35, &["--namespace", "shop"]);
    assert!(o.status.success(), "{}", text(&o));
    let moved = rep["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["path"] == "apiVersion")
        .count();
    assert_eq!(moved, deployments, "{rep}");
    let out = text_of(&dir.join("out/demo.yaml"));
    assert!(!out.contains("extensions/v1beta1"));
    let pinned = rep["changes"].as_array().unwrap().iter().filter(|c| c["rule"] == "W21").count();
    assert!(pinned >= deployments, "{pinned} images pinned for {deployments} deployments");
    assert_eq!(rep["workloads"].as_array().unwrap().len(), deployments);
    let o = std::process::Command::new(kubernetes_validate())
        .args(["--strict", "-k", "1.35", "--quiet"])
        .arg(dir.join("out/demo.yaml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "kubernetes-validate: {}", text(&o));
}

#[test]
fn a_target_outside_the_known_range_is_an_error_and_the_default_is_said() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\n",
    )
    .unwrap();
    for bad in ["v1.24", "v1.38", "v2.0", "latest"] {
        let o = sealift(dir, &["harden", "cm.yaml", "-o", "out", "--kube-version", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(text(&o).contains(bad), "{bad}: {}", text(&o));
        assert!(!dir.join("out").exists());
    }
    std::fs::write(
        dir.join("sealift.yaml"),
        "name: x\nimages: [nginx:1]\nharden: {kubernetes-version: v1.12}\n",
    )
    .unwrap();
    let o = sealift(dir, &["harden", "cm.yaml", "-o", "out", "-f", "sealift.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("v1.12") && text(&o).contains("v1.25 to v1.37"), "{}", text(&o));
    let o = sealift(dir, &["harden", "cm.yaml", "-o", "out"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("for Kubernetes v1.35 (sealift's default"), "{}", text(&o));
}

/// Runs `harden` on `yaml` (one file) with the test lock; returns the exit code, the report
/// (when written) and the output text.
fn harden_one(dir: &Path, name: &str, yaml: &str, extra: &[&str]) -> (Option<i32>, String, Option<serde_json::Value>) {
    std::fs::write(dir.join(format!("{name}.yaml")), yaml).unwrap();
    let report_path = dir.join(format!("{name}.json"));
    let mut args = vec![
        "harden".to_string(),
        format!("{name}.yaml"),
        "-o".into(),
        format!("{name}-out"),
        "--images".into(),
        "lock.yaml".into(),
        "--report".into(),
        report_path.to_str().unwrap().into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = sealift(dir, &args);
    let report = std::fs::read_to_string(&report_path)
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    (o.status.code(), text(&o), report)
}

const PRIVILEGED: &str = "{apiVersion: apps/v1, kind: Deployment, metadata: {name: hidden, namespace: shop}, spec: {selector: {matchLabels: {app: h}}, template: {metadata: {labels: {app: h}}, spec: {containers: [{name: evil, image: 'evil.example.com/x:1', securityContext: {privileged: true}}]}}}}";

#[test]
fn lists_and_custom_resources_hide_no_object_and_no_image() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("lock.yaml"),
        format!("{IMAGE}: {{digest: {DIGEST}, user: '10001'}}\n\"docker.io/library/busybox:1.36\": {DIGEST}\n"),
    )
    .unwrap();
    // A Deployment inside a List inside a List, or inside any object with `items`, is read
    // (kubectl applies it): its image is not in the lock, so the run stops naming it.
    for (name, wrapper) in [
        (
            "nested",
            format!("{{apiVersion: v1, kind: List, items: [{{apiVersion: v1, kind: List, items: [{PRIVILEGED}]}}]}}"),
        ),
        (
            "bundle",
            format!("{{apiVersion: example.com/v1, kind: Bundle, items: [{PRIVILEGED}]}}"),
        ),
        (
            "labelled",
            PRIVILEGED.replace(
                "namespace: shop}",
                "namespace: shop, labels: {app.kubernetes.io/managed-by: sealift}}",
            ),
        ),
    ] {
        let (code, out, _) = harden_one(dir, name, &wrapper, &[]);
        assert_eq!(code, Some(1), "{name}: {out}");
        assert!(out.contains("Deployment/shop/hidden") && out.contains("`evil`"), "{name}: {out}");
    }
    // A custom resource's container without a name, whose image the lock lacks: an error
    // naming where it sits.
    let knative = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: hello, namespace: shop}\nspec:\n  template:\n    spec:\n      containers: [{image: 'evil.example.com/miner:latest'}]\n";
    let (code, out, _) = harden_one(dir, "knative", knative, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("Service/shop/hello") && out.contains("spec.template.spec.containers[0]"),
        "{out}"
    );
    // ... unless a V02 exception says to leave it (reported).
    std::fs::write(
        dir.join("sealift.yaml"),
        "name: x\nimages: [nginx:1]\nharden:\n  exceptions:\n  - {rule: V02, object: Service/shop/hello, reason: pulled from the site mirror}\n",
    )
    .unwrap();
    let (code, out, report) = harden_one(dir, "knative-excepted", knative, &["-f", "sealift.yaml"]);
    assert_eq!(code, Some(0), "{out}");
    let report = report.unwrap();
    assert!(findings(&report, "USER_EXCEPTION").iter().any(|f| f["rule"] == "V02"), "{report}");
    // A template parameter is not a reference: reported, not an error.
    let task = "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t, namespace: shop}\nspec:\n  steps:\n  - {name: build, image: $(params.builder)}\n";
    let (code, out, report) = harden_one(dir, "task", task, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        report.unwrap()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "spec.steps[build].image" && f["detail"].as_str().unwrap().contains("is not an image reference")),
        "{out}"
    );

    // An image given as a map cannot be pinned: reported. A namespaced custom resource with no
    // namespace lands in the bundle's, which then claims baseline at most; so does one that
    // names no image at all (an operator's CR may still start pods).
    let operator =
        "apiVersion: example.com/v1\nkind: Database\nmetadata: {name: db}\nspec:\n  image: {repository: evil.example.com/y, tag: '2'}\n";
    let (code, out, report) = harden_one(dir, "operator", operator, &["--namespace", "app"]);
    assert_eq!(code, Some(0), "{out}");
    let report = report.unwrap();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "spec.image" && f["detail"].as_str().unwrap().contains("cannot be pinned")),
        "{report}"
    );
    let operator_ns = format!("{operator}---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: app}}\n");
    let (_, _, report) = harden_one(dir, "operator-ns", &operator_ns, &["--namespace", "app"]);
    let report = report.unwrap();
    let app = report["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "app")
        .unwrap();
    assert_eq!(app["enforce"], "baseline", "{report}");
    assert!(app["capped"].as_str().unwrap().contains("Database/db"), "{app}");

    // A Rollout whose pods come from a workloadRef has no template to harden: none is made up.
    let rollout = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web, namespace: shop}\nspec:\n  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n";
    let (code, out, report) = harden_one(dir, "rollout", rollout, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!text_of(&dir.join("rollout-out/rollout.yaml")).contains("template"));
    assert_eq!(report.unwrap()["notHardened"][0]["object"], "Rollout/shop/web");

    // One digest carried under two names: each reference keeps its own name, and a second run
    // changes nothing.
    let two = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: shop}}\nspec:\n  containers:\n  - {{name: a, image: '{IMAGE}'}}\n  - {{name: b, image: 'busybox:1.36'}}\n"
    );
    let (code, out, _) = harden_one(dir, "two", &two, &[]);
    assert_eq!(code, Some(0), "{out}");
    let once = text_of(&dir.join("two-out/two.yaml"));
    assert!(once.contains(&format!("docker.io/library/busybox@{DIGEST}")), "{once}");
    let (code, out, report) = harden_one(dir, "two-again", &once, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(report.unwrap()["changes"].as_array().unwrap().len(), 0);
}
