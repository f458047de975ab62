//! `sealift harden` on the real manifests in ../shared/manifests-corpus: every image pinned to
//! the site registry by digest, every pod template restricted or explained in the report,
//! valid for `kubernetes-validate --strict`, and stable when run on its own output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sealift::harden::objects::{ObjectId, pod_template_path};
use sealift::harden::pss::{KubeVersion, Level, evaluate};
use sealift::harden::yaml::{Map, Node, parse_documents};
use sha2::{Digest as _, Sha256};

use crate::support::{sealift, shared, text};

const SITE: &str = "registry.site.test:5000";

/// kubernetes-validate from the venv scripts/install-deps.sh makes.
pub(crate) fn kubernetes_validate() -> PathBuf {
    let path = std::env::var_os("SEALIFT_KUBERNETES_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let tools = std::env::var_os("SEALIFT_TOOLS")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/sealift-tools"));
            tools.join("venv/bin/kubernetes-validate")
        });
    assert!(path.is_file(), "{} not found: run scripts/install-deps.sh", path.display());
    path
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(yaml_files(&p));
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn objects(dir: &Path) -> Vec<Map> {
    yaml_files(dir)
        .iter()
        .flat_map(|f| parse_documents(&std::fs::read_to_string(f).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .filter_map(|d| d.as_map().cloned())
        .collect()
}

pub(crate) fn images_in(node: &Node, out: &mut BTreeSet<String>) {
    match node {
        Node::Map(m) => {
            for (k, v) in m.iter() {
                match (k, v) {
                    ("image", Node::Str(s)) => {
                        out.insert(s.clone());
                    }
                    _ => images_in(v, out),
                }
            }
        }
        Node::Seq(s) => s.iter().for_each(|n| images_in(n, out)),
        _ => {}
    }
}

/// A lock for every image the corpus names: references already pinned keep their digest,
/// the others get a made-up one.
fn corpus_lock(dir: &Path) -> (PathBuf, BTreeSet<String>) {
    let mut images = BTreeSet::new();
    for o in objects(&shared("manifests-corpus")) {
        images_in(&Node::Map(o), &mut images);
    }
    let mut lock = String::new();
    let mut digests = BTreeSet::new();
    for image in &images {
        digests.insert(lock_line(image, &mut lock));
    }
    let path = dir.join("lock.yaml");
    std::fs::write(&path, lock).unwrap();
    (path, digests)
}

/// Appends a lock line for `image` to `lock`: its own digest if pinned, else a made-up one
/// (which it returns).
pub(crate) fn lock_line(image: &str, lock: &mut String) -> String {
    let digest = match image.split_once("@") {
        Some((_, d)) => d.to_string(),
        None => format!("sha256:{}", hex::encode(Sha256::digest(image.as_bytes()))),
    };
    lock.push_str(&format!("\"{image}\": {digest}\n"));
    digest
}

fn public_key(dir: &Path) -> PathBuf {
    let out = sealift(dir, &["keys", "generate", "--dir", "keys", "--name", "site"]);
    assert!(out.status.success(), "{}", text(&out));
    dir.join("keys/site.pub")
}

fn harden(dir: &Path, input: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let input = input.to_str().unwrap();
    let mut args = vec!["harden", input, "-o", out, "--kube-version", "v1.35"];
    args.extend_from_slice(extra);
    sealift(dir, &args)
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn corpus_is_pinned_restricted_or_explained_valid_and_stable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (lock, digests) = corpus_lock(dir);
    let key = public_key(dir);
    let corpus = shared("manifests-corpus");
    let apps: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(apps.len(), 10, "the corpus changed");
    let pinned = regex_like_pinned();
    let (mut templates, mut restricted, mut explained) = (0, 0, 0);
    for app in &apps {
        let common = [
            "--images",
            lock.to_str().unwrap(),
            "--registry",
            SITE,
            "--key",
            key.to_str().unwrap(),
            "--namespace",
            app.as_str(),
        ];
        let report_path = dir.join(format!("{app}.json"));
        let mut args = common.to_vec();
        args.extend(["--report", report_path.to_str().unwrap()]);
        let out = harden(dir, &corpus.join(app), &format!("out/{app}"), &args);
        assert!(out.status.success(), "{app}: {}", text(&out));
        let rep = report(&report_path);
        let findings = rep["findings"].as_array().unwrap();

        for object in objects(&dir.join("out").join(app)) {
            let id = ObjectId::of(&object).unwrap();
            let Some(path) = pod_template_path(&id) else { continue };
            templates += 1;
            let template = path.iter().try_fold(&object, |m, k| m.get(k).and_then(Node::as_map)).unwrap();
            let mut images = BTreeSet::new();
            images_in(&Node::Map(template.clone()), &mut images);
            for image in &images {
                assert!(
                    pinned(image),
                    "{app} {}: image {image} is not {SITE}/<path>@sha256:<hex>",
                    id.display()
                );
                assert!(
                    digests.contains(image.split_once('@').unwrap().1),
                    "{image}: digest not from the lock"
                );
            }
            let meta = template.get("metadata").and_then(Node::as_map).cloned().unwrap_or_default();
            let spec = template.get("spec").and_then(Node::as_map).unwrap();
            let violations = evaluate(&meta, spec, Level::Restricted, KubeVersion(35));
            if violations.is_empty() {
                restricted += 1;
                continue;
            }
            for v in &violations {
                let rule = format!("pss/{}", v.check);
                let reason = findings
                    .iter()
                    .find(|f| f["object"] == id.display() && f["rule"] == rule.as_str())
                    .and_then(|f| f["reason"].as_str());
                assert!(
                    reason.is_some_and(|r| !r.is_empty()),
                    "{app} {}: fails {} with no reported reason",
                    id.display(),
                    v.check
                );
            }
            explained += 1;
        }

        // Running harden on its own output changes nothing.
        let again_report = dir.join(format!("{app}-again.json"));
        let mut args = common.to_vec();
        args.extend(["--report", again_report.to_str().unwrap()]);
        let out = harden(dir, &dir.join("out").join(app), &format!("again/{app}"), &args);
        assert!(out.status.success(), "{app} again: {}", text(&out));
        assert_eq!(
            report(&again_report)["changes"].as_array().unwrap().len(),
            0,
            "{app}: second run changed something"
        );
        let first: BTreeMap<PathBuf, Vec<u8>> = tree(&dir.join("out").join(app));
        let second = tree(&dir.join("again").join(app));
        assert_eq!(first, second, "{app}: second run's files differ");
    }
    println!("{templates} pod templates: {restricted} restricted, {explained} below restricted with reported reasons");
    assert_eq!(templates, 36, "the corpus's pod templates changed");
    assert!(
        restricted >= templates / 2,
        "fewer than half the templates are restricted: {restricted} of {templates}"
    );

    // The independent schema check of every file written, for the target version.
    let files = yaml_files(&dir.join("out"));
    let out = std::process::Command::new(kubernetes_validate())
        .args(["--strict", "-k", "1.35", "--quiet"])
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "kubernetes-validate: {}", text(&out));

    // ... which does catch what it should: a misspelt field.
    let typo = dir.join("typo.yaml");
    let good = std::fs::read_to_string(dir.join("out/guestbook/guestbook-all-in-one.yaml")).unwrap();
    let bad = good.replacen("allowPrivilegeEscalation", "allowPrivilegeEscalaton", 1);
    assert_ne!(good, bad);
    std::fs::write(&typo, bad).unwrap();
    let out = std::process::Command::new(kubernetes_validate())
        .args(["--strict", "-k", "1.35", "--quiet"])
        .arg(&typo)
        .output()
        .unwrap();
    assert!(!out.status.success(), "kubernetes-validate accepted a misspelt field");
}

fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    yaml_files(dir)
        .into_iter()
        .map(|p| (p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap()))
        .collect()
}

/// `SITE/<path>@sha256:<64 lowercase hex>`.
fn regex_like_pinned() -> impl Fn(&str) -> bool {
    |image: &str| {
        let Some(rest) = image.strip_prefix(&format!("{SITE}/")) else {
            return false;
        };
        let Some((path, hex)) = rest.split_once("@sha256:") else {
            return false;
        };
        !path.is_empty() && !path.contains('@') && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

#[test]
fn an_image_the_bundle_lacks_is_an_error_naming_object_and_container() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let lock = dir.join("lock.yaml");
    std::fs::write(
        &lock,
        "registry.k8s.io/redis:e2e: sha256:1111111111111111111111111111111111111111111111111111111111111111\n\
         gcr.io/google_samples/gb-redisslave:v1: sha256:2222222222222222222222222222222222222222222222222222222222222222\n",
    )
    .unwrap();
    let input = shared("manifests-corpus/guestbook");
    let out = harden(dir, &input, "out", &["--images", lock.to_str().unwrap(), "--namespace", "shop"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("Deployment/shop/frontend") && msg.contains("`php-redis`") && msg.contains("gcr.io/google-samples/gb-frontend:v5"),
        "{msg}"
    );
    assert!(!dir.join("out").exists(), "nothing is written when an image is missing");
}

const APP: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME, namespace: shop}
spec:
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec:
      containers:
      - name: main
        image: IMAGE
        livenessProbe: {tcpSocket: {port: 8080}}
        readinessProbe: {tcpSocket: {port: 8080}}
";

fn app(name: &str, image: &str) -> String {
    APP.replace("NAME", name).replace("IMAGE", image)
}

fn container(dir: &Path, file: &str, name: &str) -> Map {
    let docs = parse_documents(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
    let d = docs
        .iter()
        .find(|d| d.at(&["metadata", "name"]).and_then(Node::as_str) == Some(name))
        .unwrap();
    d.at(&["spec", "template", "spec", "containers"]).and_then(Node::as_seq).unwrap()[0]
        .as_map()
        .unwrap()
        .clone()
}

#[test]
fn the_image_config_decides_the_user_and_the_writable_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("in")).unwrap();
    let manifests = [
        app("numeric", "nginx:1.27"),
        app("root", "ghcr.io/a/root:1"),
        app("named", "ghcr.io/a/named:1"),
        app("legacy", "ghcr.io/a/legacy:1"),
    ]
    .join("---\n");
    std::fs::write(dir.join("in/app.yaml"), manifests).unwrap();
    let d = |n: u8| format!("sha256:{}", format!("{n:x}").repeat(64));
    std::fs::write(
        dir.join("lock.yaml"),
        format!(
            "nginx:1.27: {{digest: '{}', user: '101', volumes: [/var/cache/nginx]}}\nghcr.io/a/root:1: {{digest: '{}', user: ''}}\nghcr.io/a/named:1: {{digest: '{}', user: nginx}}\nghcr.io/a/legacy:1: {{digest: '{}', user: '1000'}}\n",
            d(1),
            d(2),
            d(3),
            d(4)
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("sealift.yaml"),
        "name: t\nimages: [nginx]\nharden:\n  exceptions:\n    - {rule: W17, object: Deployment/shop/legacy, reason: writes its cache under /var/lib/app}\n",
    )
    .unwrap();
    let out = harden(
        dir,
        &dir.join("in"),
        "out",
        &["--images", "lock.yaml", "-f", "sealift.yaml", "--report", "r.json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rep = report(&dir.join("r.json"));
    let reasons = |object: &str| -> Vec<String> {
        rep["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["object"] == object)
            .map(|f| format!("{} {}", f["rule"].as_str().unwrap(), f["reason"].as_str().unwrap()))
            .collect()
    };

    // USER 101 in the image config: runAsUser 101, read-only root with emptyDirs for /tmp and
    // the image's VOLUME.
    let c = container(&dir.join("out"), "app.yaml", "numeric");
    let sc = c.get("securityContext").unwrap();
    assert_eq!(sc.at(&["runAsUser"]).and_then(Node::as_i64), Some(101));
    assert_eq!(sc.at(&["runAsNonRoot"]).and_then(Node::as_bool), Some(true));
    assert_eq!(sc.at(&["readOnlyRootFilesystem"]).and_then(Node::as_bool), Some(true));
    let mounts: Vec<&str> = c
        .get("volumeMounts")
        .and_then(Node::as_seq)
        .unwrap()
        .iter()
        .filter_map(|m| m.at(&["mountPath"]).and_then(Node::as_str))
        .collect();
    assert_eq!(mounts, ["/tmp", "/var/cache/nginx"]);
    assert!(
        reasons("Deployment/shop/numeric").iter().all(|r| !r.starts_with("pss/")),
        "{:?}",
        reasons("Deployment/shop/numeric")
    );

    // Root and a named user are reported, not forced.
    let c = container(&dir.join("out"), "app.yaml", "root");
    assert!(c.get("securityContext").unwrap().at(&["runAsNonRoot"]).is_none());
    assert!(
        reasons("Deployment/shop/root").contains(&"W07 IMAGE_RUNS_AS_ROOT".to_string()),
        "{:?}",
        reasons("Deployment/shop/root")
    );
    assert!(reasons("Deployment/shop/root").contains(&"pss/runAsNonRoot IMAGE_RUNS_AS_ROOT".to_string()));
    assert!(
        reasons("Deployment/shop/named").contains(&"W07 IMAGE_NAMED_USER".to_string()),
        "{:?}",
        reasons("Deployment/shop/named")
    );

    // The declared exception keeps legacy's root filesystem writable, and says why.
    let c = container(&dir.join("out"), "app.yaml", "legacy");
    assert!(c.get("securityContext").unwrap().at(&["readOnlyRootFilesystem"]).is_none());
    let exception = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["object"] == "Deployment/shop/legacy" && f["rule"] == "W17")
        .unwrap();
    assert_eq!(exception["reason"], "USER_EXCEPTION");
    assert_eq!(exception["detail"], "writes its cache under /var/lib/app");

    // Asked for, a UID is forced on the root image.
    let out = harden(dir, &dir.join("in"), "forced", &["--images", "lock.yaml", "--run-as-user", "10001"]);
    assert!(out.status.success(), "{}", text(&out));
    let c = container(&dir.join("forced"), "app.yaml", "root");
    assert_eq!(
        c.get("securityContext").unwrap().at(&["runAsUser"]).and_then(Node::as_i64),
        Some(10001)
    );
}

#[test]
fn values_and_unknown_kinds_pass_through_with_the_same_meaning() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("in")).unwrap();
    let input = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\ndata:\n  a: 'yes'\n  b: \"0644\"\n  c: '2024-01-01'\n  d: \"line one\\nline two\\n\"\n  e: 'on'\n  f: '~'\n  g: \"tab\\there\"\n  h: '1e3'\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: shop}\ntype: Opaque\nstringData: {mode: '0600'}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {replicas: 0x10, enabled: yes, mode: 0644, ratio: 1.50, list: [a, 'b', 3]}\n";
    std::fs::write(dir.join("in/all.yaml"), input).unwrap();
    let out = harden(dir, &dir.join("in"), "out", &[]);
    assert!(out.status.success(), "{}", text(&out));
    // PyYAML reads YAML 1.1 as Kubernetes does; the venv kubernetes-validate lives in has it.
    let python = kubernetes_validate().with_file_name("python3");
    let script =
        "import sys, yaml, json\nprint(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], default=str, sort_keys=True))";
    let load = |p: &Path| {
        let out = std::process::Command::new(&python).args(["-c", script]).arg(p).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(load(&dir.join("in/all.yaml")), load(&dir.join("out/all.yaml")));

    // Ephemeral containers get no resources (the API refuses them there); regular ones do.
    std::fs::write(
        dir.join("in/all.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec:\n  containers: [{name: app, image: nginx}]\n  ephemeralContainers: [{name: debug, image: busybox}]\n",
    )
    .unwrap();
    let out = harden(dir, &dir.join("in"), "out2", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let pod = parse_documents(&std::fs::read_to_string(dir.join("out2/all.yaml")).unwrap())
        .unwrap()
        .remove(0);
    assert!(
        pod.at(&["spec", "ephemeralContainers"]).and_then(Node::as_seq).unwrap()[0]
            .at(&["resources"])
            .is_none()
    );
    assert!(
        pod.at(&["spec", "containers"]).and_then(Node::as_seq).unwrap()[0]
            .at(&["resources", "limits", "memory"])
            .is_some()
    );
}

fn bundle_entry(bundle: &Path, entry: &str) -> String {
    let out = std::process::Command::new("tar")
        .arg("-xOf")
        .arg(bundle)
        .arg(entry)
        .output()
        .unwrap();
    assert!(out.status.success(), "{entry}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn images_of(text: &str) -> Vec<String> {
    let mut set = BTreeSet::new();
    for doc in parse_documents(text).unwrap() {
        images_in(&doc, &mut set);
    }
    set.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bundle_create_hardens_the_manifests_and_load_rewrites_them_for_the_site() {
    use crate::support::{Release, TestRegistry, create, create_bundle, load, push_source_images};
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let images = push_source_images(&source).await;
    let named = push_named_user_image(&source).await;
    let release = Release::new(&source, &images);
    let h = &source.host;
    let yaml = std::fs::read_to_string(release.path("sealift.yaml")).unwrap();
    let yaml = yaml.replace("manifests:", &format!("  - {h}/app/named:1.0\nmanifests:"));
    std::fs::write(release.path("sealift.yaml"), yaml).unwrap();
    // A kind sealift does not model (a Tekton Task): its step's image is pinned too.
    let app = format!(
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {{name: build, namespace: shop}}\nspec:\n  steps:\n  - {{name: compile, image: '{h}/app/alpha:1.0', script: make}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app, namespace: shop}}\n---\n{}---\n{}---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: nightly, namespace: shop}}\nspec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n          - {{name: job, image: '{h}/app/multi:3.0'}}\n",
        APP.replace("NAME", "web").replace("IMAGE", &format!("{h}/app/alpha:1.0")),
        APP.replace("NAME", "named").replace("IMAGE", &format!("{h}/app/named:1.0"))
    );
    std::fs::write(release.path("deploy/app.yaml"), &app).unwrap();
    let bundle = create_bundle(&release, &source, "release.tar");

    // In the bundle: pinned to the digests pulled, with the report and the namespace policies.
    let hardened = bundle_entry(&bundle, "sealift/manifests/deploy/app.yaml");
    assert_eq!(
        images_of(&hardened),
        [
            format!("{h}/app/alpha@{}", images.alpha.digest()),
            format!("{h}/app/multi@{}", images.multi.digest()),
            format!("{h}/app/named@{}", named.digest()),
        ]
    );
    let namespaces = bundle_entry(&bundle, "sealift/manifests/sealift-cluster/namespaces.yaml");
    assert!(
        namespaces.contains("name: sealift-default-deny") && namespaces.contains("pod-security.kubernetes.io/audit: restricted"),
        "{namespaces}"
    );
    let rep: serde_json::Value = serde_json::from_str(&bundle_entry(&bundle, "sealift/harden/report.json")).unwrap();
    // The test images' configs say `User: 1000`, the named one `User: web`, which its top
    // layer's /etc/passwd makes UID 4321 (the lower layer's 1111 is replaced). The pulled
    // configs decide the UIDs, and all three pod templates end up restricted.
    let uid_changes: BTreeMap<&str, &str> = rep["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["path"].as_str().unwrap().ends_with("securityContext.runAsUser"))
        .map(|c| (c["object"].as_str().unwrap(), c["after"].as_str().unwrap()))
        .collect();
    assert_eq!(
        uid_changes,
        BTreeMap::from([
            ("Deployment/shop/web", "1000"),
            ("Deployment/shop/named", "4321"),
            ("CronJob/shop/nightly", "1000")
        ]),
        "{rep}"
    );
    assert!(
        rep["workloads"].as_array().unwrap().iter().all(|w| w["level"] == "restricted"),
        "{rep}"
    );
    assert_eq!(rep["notHardened"][0]["object"], "Task/shop/build", "{rep}");
    assert_eq!(
        rep["notHardened"][0]["images"][0],
        format!("{h}/app/alpha@{}", images.alpha.digest())
    );
    // Its pods were not evaluated: the namespace claims baseline, not restricted.
    assert_eq!(rep["namespaces"][0]["enforce"], "baseline", "{rep}");
    let o = sealift(release.dir.path(), &["bundle", "inspect", "release.tar", "--format", "json"]);
    let inspect: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(inspect["index"]["harden"]["report"], "sealift/harden/report.json");
    assert_eq!(inspect["index"]["harden"]["changes"], rep["changes"].as_array().unwrap().len());
    // Standalone, with the lock `bundle inspect` printed (it carries each image's recorded
    // user and volumes), harden makes the same file as bundle create did.
    std::fs::write(release.path("lock.json"), &o.stdout).unwrap();
    let o = sealift(
        release.dir.path(),
        &["harden", "deploy/app.yaml", "-o", "standalone", "--images", "lock.json"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(release.path("standalone/app.yaml")).unwrap(), hardened);

    // At the site: the same digests under the site registry, and admission naming it.
    let o = load(&release, "release.tar", &target, &["--manifests-out", "site"]);
    assert!(o.status.success(), "{}", text(&o));
    let site = std::fs::read_to_string(release.path("site/deploy/app.yaml")).unwrap();
    let t = &target.host;
    assert_eq!(
        images_of(&site),
        [
            format!("{t}/app/alpha@{}", images.alpha.digest()),
            format!("{t}/app/multi@{}", images.multi.digest()),
            format!("{t}/app/named@{}", named.digest()),
        ]
    );
    let admission = std::fs::read_to_string(release.path("site/sealift-cluster/admission.yaml")).unwrap();
    assert!(admission.contains(&format!("i.startsWith('{t}/')")), "{admission}");
    let key = std::fs::read_to_string(release.path("keys/sealift.pub")).unwrap();
    // CRI-O and Podman: one exactRepository entry per site repository, naming the repository
    // the cosign payload carries (the source), with the release key.
    let policy: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release.path("site/sealift-nodes/containers-policy.json")).unwrap()).unwrap();
    let docker = policy["transports"]["docker"].as_object().unwrap();
    let sites: Vec<&String> = docker.keys().collect();
    assert_eq!(
        sites,
        ["alpha", "beta", "multi", "named"]
            .map(|r| format!("{t}/app/{r}"))
            .iter()
            .collect::<Vec<_>>(),
        "every loaded repository, the one loaded by digest too"
    );
    use base64::Engine as _;
    for (site, entries) in docker {
        let e = &entries[0];
        assert_eq!(e["type"], "sigstoreSigned");
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(e["keyData"].as_str().unwrap())
                .unwrap(),
            key.as_bytes()
        );
        assert_eq!(e["signedIdentity"]["type"], "exactRepository");
        let repo = site.strip_prefix(&format!("{t}/")).unwrap();
        assert_eq!(e["signedIdentity"]["dockerRepository"], format!("{h}/{repo}"), "{site}");
    }
    let registries_d = std::fs::read_to_string(release.path("site/sealift-nodes/registries.d/sealift.yaml")).unwrap();
    assert!(
        registries_d.contains(&format!("  {t}:\n    use-sigstore-attachments: true")),
        "{registries_d}"
    );
    let policies = parse_documents(&admission).unwrap();
    let cip = policies
        .iter()
        .find(|d| d.at(&["kind"]).and_then(Node::as_str) == Some("ClusterImagePolicy"))
        .unwrap();
    assert_eq!(
        cip.at(&["spec", "authorities"]).and_then(Node::as_seq).unwrap()[0]
            .at(&["key", "data"])
            .and_then(Node::as_str),
        Some(key.as_str())
    );

    // A manifest naming an image the release does not carry stops create; nothing is written.
    std::fs::write(
        release.path("deploy/extra.yaml"),
        APP.replace("NAME", "stray").replace("IMAGE", &format!("{h}/app/gamma:1")),
    )
    .unwrap();
    let o = create(&release, &source, "sealift.yaml", "stray.tar");
    assert!(!o.status.success());
    assert!(
        text(&o).contains("Deployment/shop/stray") && text(&o).contains("`main`"),
        "{}",
        text(&o)
    );
    assert!(!release.path("stray.tar").exists());

    // So does a custom resource whose pod template names one (a Knative Service).
    std::fs::write(
        release.path("deploy/extra.yaml"),
        format!("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {{name: hello, namespace: shop}}\nspec:\n  template:\n    spec:\n      containers:\n      - {{name: user-container, image: '{h}/app/gamma:1'}}\n"),
    )
    .unwrap();
    let o = create(&release, &source, "sealift.yaml", "knative.tar");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains("Service/shop/hello") && msg.contains("`user-container`") && msg.contains("app/gamma:1"),
        "{msg}"
    );
    assert!(!release.path("knative.tar").exists());

    // And an object of an API version the target no longer serves, with no migration.
    std::fs::write(
        release.path("deploy/extra.yaml"),
        "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: old}\nspec: {privileged: false}\n",
    )
    .unwrap();
    let o = create(&release, &source, "sealift.yaml", "psp.tar");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains("PodSecurityPolicy/old") && msg.contains("v1.25") && msg.contains("V01"),
        "{msg}"
    );
    assert!(!release.path("psp.tar").exists());
}

/// `app/named:1.0`: config `User: web`; the lower layer's /etc/passwd gives web UID 1111, the
/// upper layer replaces it with 4321 (and whites out an old /etc/shadow on the way).
async fn push_named_user_image(reg: &crate::support::TestRegistry) -> crate::support::Blob {
    use crate::support::{Blob, manifest, push_blob, push_manifest};
    let tar_gz = |files: &[(&str, &str)]| {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (path, body) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, body.as_bytes()).unwrap();
        }
        Blob {
            bytes: builder.into_inner().unwrap().finish().unwrap(),
            media_type: sealift::oci::media_type::OCI_LAYER_GZIP,
        }
    };
    let lower = tar_gz(&[
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nweb:x:1111:1111::/srv:/bin/false\n"),
        ("etc/shadow", "root:*:1::::::\n"),
    ]);
    let upper = tar_gz(&[
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nweb:x:4321:4321::/srv:/bin/false\n"),
        ("etc/group", "root:x:0:\nweb:x:4321:\n"),
        ("etc/.wh.shadow", ""),
    ]);
    let config = Blob {
        bytes: serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {"User": "web"},
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .unwrap(),
        media_type: sealift::oci::media_type::OCI_CONFIG,
    };
    let image = manifest(&config, &[&lower, &upper], false);
    let repo: sealift::oci::Reference = format!("{}/app/named:x", reg.host).parse().unwrap();
    let client = reg.client();
    for b in [&config, &lower, &upper] {
        push_blob(&client, &repo, b).await;
    }
    push_manifest(&client, &repo, &image, Some("1.0")).await;
    image
}
