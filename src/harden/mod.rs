//! Manifest hardening: pure transforms of Kubernetes objects and the findings that remain
//! (no cluster, no network).
//!
//! [`harden`] takes rendered manifests (what `helm template` or `kubectl kustomize` print),
//! pins every workload image by the digest the bundle carries, applies the class A and B fixes
//! of research/hardening.md to every pod template, generates the per-namespace and cluster-wide
//! objects, and reports every change and every finding left with its reason. Objects of API
//! versions the target Kubernetes no longer serves are migrated or refused first
//! ([`versions`]); objects of kinds sealift does not model keep their settings but have their
//! images pinned ([`unmodelled`]). Running it on its own output changes nothing.

mod admission;
mod admission_receipts;
pub mod apis;
pub mod images;
mod migrate;
mod namespaces;
pub mod objects;
mod pod;
pub mod pss;
pub mod quantity;
mod rbac;
pub mod report;
mod shape;
mod unmodelled;
mod versions;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet};

use crate::policy::hardening::HardenSettings;
use images::ImageLock;
use namespaces::{NamespaceFacts, ServiceInfo};
use objects::{NOT_OWNED_NAMESPACES, ObjectId};
use pss::{KubeVersion, Level};
use report::{Change, Finding, NamespacePlan, NotHardened, Reason, Report, Severity, WorkloadLevel};
use yaml::{Map, Node, YamlError};

/// Where generated cluster objects go in the output directory.
pub const CLUSTER_DIR: &str = "sealift-cluster";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not YAML. The position is in the message itself (not a `source`, which the CLI would
    /// print a second time).
    #[error("{file}: {error}")]
    Parse { file: String, error: YamlError },
    /// A pod-template field of the wrong type ([`shape`]): `problem` names its path.
    #[error("{object}: {problem}; the Kubernetes API would refuse this object, and sealift does not guess what it means")]
    Shape { object: String, problem: String },
    #[error("{file}: document {document} is not a Kubernetes object: {reason}")]
    NotAnObject { file: String, document: usize, reason: String },
    #[error("{object}: container `{container}` uses image {image}, which the bundle does not contain")]
    ImageNotInBundle { object: String, container: String, image: String },
    #[error("{object}: container `{container}` has an invalid image reference `{image}`: {reason}")]
    InvalidImage {
        object: String,
        container: String,
        image: String,
        reason: String,
    },
    #[error("harden settings: {0}")]
    Settings(String),
    /// Objects the target does not serve and sealift cannot migrate (`harden_strict` only):
    /// each `Kind/namespace/name: why`.
    #[error(
        "Kubernetes {target} does not serve the API version of {} object(s), and no mechanical migration exists; list an exception for rule V01 with a reason in sealift.yaml to drop them:\n{}",
        objects.len(),
        objects.join("\n")
    )]
    Refused { target: String, objects: Vec<String> },
}

/// What the hardener knows beyond the manifests.
pub struct Options<'a> {
    pub settings: &'a HardenSettings,
    pub kube_version: KubeVersion,
    /// Reference → digest (and image config); `None` leaves references as they are.
    pub lock: Option<&'a ImageLock>,
    /// The site registry images are rewritten to, and admission admits.
    pub site_registry: Option<&'a str>,
    /// The public key (PEM) image signatures are verified with in the cluster.
    pub signing_key_pem: Option<&'a str>,
    /// The site key (PEM) import receipts are signed with: admission then requires a PASSED
    /// receipt for every image from the site registry.
    pub receipt_key_pem: Option<&'a str>,
}

/// One input file: its path relative to the input root, and its text.
pub struct InputFile {
    pub path: String,
    pub text: String,
}

/// One output file, relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub path: String,
    pub text: String,
}

/// The hardened manifests, the generated cluster objects, and the report. When the report
/// refuses an object ([`Report::refused`]), `files` is empty.
#[derive(Debug)]
pub struct Hardened {
    pub files: Vec<OutputFile>,
    pub report: Report,
}

struct Object {
    file: usize,
    id: ObjectId,
    body: Map,
}

/// Harden every object of `files`.
pub fn harden(files: &[InputFile], options: &Options<'_>) -> Result<Hardened, Error> {
    options.settings.validate().map_err(Error::Settings)?;
    let mut objects = read_objects(files)?;
    let mut report = Report {
        kubernetes_version: options.kube_version.to_string(),
        objects_in: objects.len(),
        ..Report::default()
    };
    relocate(&mut objects, options.settings.namespace.as_deref(), &mut report);
    // Namespace → an object in it whose pods were not evaluated (it caps the level).
    let mut unevaluated = versions::check(&mut objects, options, &mut report);

    let bound = rbac::bound_service_accounts(objects.iter().map(|o| (&o.id, &o.body)));
    // Pod template → the level it meets (`None`: privileged only).
    let mut levels: BTreeMap<String, Option<Level>> = BTreeMap::new();
    let mut workload_namespaces: BTreeMap<String, Option<Level>> = BTreeMap::new();
    let mut facts: BTreeMap<String, NamespaceFacts> = BTreeMap::new();
    for object in &mut objects {
        let id = object.id.clone();
        let ns = id.namespace.clone().unwrap_or_else(|| "default".into());
        report.findings.extend(rbac::review(&id, &object.body));
        if let Some(path) = objects::pod_template_path(&id).filter(|p| id.is_builtin() || has_template(&object.body, p)) {
            let level = harden_workload(object, path, &bound, options, &mut report)?;
            levels.insert(id.display(), level);
            let slot = workload_namespaces.entry(ns.clone()).or_insert(Some(Level::Restricted));
            *slot = match (*slot, level) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            };
            let template = path.iter().try_fold(&object.body, |m, k| m.get(k).and_then(Node::as_map));
            let sa = template.and_then(|t| t.at_spec_service_account());
            if bound.contains(&(ns.clone(), sa.clone().unwrap_or_else(|| "default".into()))) {
                let labels = template
                    .and_then(|t| t.get("metadata"))
                    .and_then(|m| m.at(&["labels"]))
                    .and_then(Node::as_map)
                    .cloned()
                    .unwrap_or_default();
                facts
                    .entry(ns.clone())
                    .or_default()
                    .api_clients
                    .push((namespaces::name_part(&id.name), labels));
            }
            claims(&id, &object.body, facts.entry(ns.clone()).or_default());
        } else if !id.is_builtin() {
            let images = unmodelled::pin_images(&id, &mut object.body, options, &mut report)?;
            if !images.is_empty() {
                report.findings.push(Finding {
                    object: id.display(),
                    path: String::new(),
                    rule: unmodelled::RULE.into(),
                    severity: Severity::Low,
                    reason: Reason::KindUnknown,
                    detail: format!("images pinned, not hardened (kind unknown): {}", images.join(", ")),
                });
            }
            // Without a namespace of its own it lands in the bundle's (or the default).
            let lands_in = id
                .namespace
                .clone()
                .or_else(|| options.settings.namespace.clone())
                .unwrap_or_else(|| "default".into());
            unevaluated.entry(lands_in).or_insert_with(|| id.display());
            report.not_hardened.push(NotHardened {
                object: id.display(),
                images,
            });
        }
        match (id.group(), id.kind.as_str()) {
            ("", "ServiceAccount") => service_account(object, &bound, options, &mut report, facts.entry(ns).or_default()),
            ("", "Service") => service(&object.body, facts.entry(ns).or_default()),
            ("", "PersistentVolumeClaim") => facts.entry(ns).or_default().claims += 1,
            _ => {}
        }
    }

    let owned = owned_namespaces(&objects);
    for (ns, level) in &workload_namespaces {
        if !owned.contains(ns) {
            report.findings.push(Finding {
                object: format!("Namespace/{ns}"),
                path: String::new(),
                rule: "C01".into(),
                severity: Severity::Info,
                reason: Reason::NotOwnedNamespace,
                detail: format!(
                    "workloads in {ns}, which the bundle does not own: no namespace policies generated (least level met: {})",
                    level_text(*level)
                ),
            });
        }
    }
    let mut generated = Vec::new();
    for ns in &owned {
        // A namespace without workloads enforces restricted; one holding objects whose pods
        // were not evaluated enforces baseline at most.
        let mut level = workload_namespaces.get(ns).copied().unwrap_or(Some(Level::Restricted));
        let capped = match unevaluated.get(ns) {
            Some(object) if level == Some(Level::Restricted) => {
                level = Some(Level::Baseline);
                Some(format!(
                    "baseline at most: {object} was not evaluated (a kind sealift does not model, or refused), nor were any pods it runs"
                ))
            }
            _ => None,
        };
        let enforce = level_text(level);
        label_namespace(&mut objects, ns, &enforce, options.kube_version, &mut report, &mut generated);
        generated.extend(namespaces::objects(
            ns,
            facts.get(ns).unwrap_or(&NamespaceFacts::default()),
            &options.settings.resources,
        ));
        report.namespaces.push(NamespacePlan {
            name: ns.clone(),
            enforce,
            capped,
        });
    }
    let mut admission_objects = Vec::new();
    if let Some(registry) = options.site_registry {
        admission_objects.extend(admission::image_policy(registry, &owned.iter().cloned().collect::<Vec<_>>()));
        if let Some(key) = options.signing_key_pem {
            admission_objects.push(admission::sigstore_policy(registry, key));
            admission_objects.push(admission::kyverno_policy(registry, key));
        }
        if let Some(key) = options.receipt_key_pem {
            admission_objects.push(admission_receipts::sigstore_receipt_policy(registry, key));
            admission_objects.push(admission_receipts::kyverno_receipt_policy(registry, key));
        }
    }
    report.objects_generated = generated.len() + admission_objects.len() + 1;
    let mut failing_checks: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for f in &report.findings {
        if let Some(check) = f.rule.strip_prefix("pss/") {
            failing_checks.entry(f.object.as_str()).or_default().push(check.to_string());
        }
    }
    let workloads = levels
        .into_iter()
        .map(|(object, level)| {
            let failing = failing_checks.get(object.as_str()).cloned().unwrap_or_default();
            WorkloadLevel {
                object,
                level: level_text(level),
                failing,
            }
        })
        .collect();
    report.workloads = workloads;

    // Refused objects would not apply: with one, no file is written, only the report.
    if report.refused().next().is_some() {
        return Ok(Hardened { files: Vec::new(), report });
    }
    let mut out = write_inputs(files, &objects);
    if !generated.is_empty() {
        out.push(OutputFile {
            path: format!("{CLUSTER_DIR}/namespaces.yaml"),
            text: yaml::emit_documents(&generated),
        });
    }
    if !admission_objects.is_empty() {
        out.push(OutputFile {
            path: format!("{CLUSTER_DIR}/admission.yaml"),
            text: yaml::emit_documents(&admission_objects),
        });
    }
    out.push(OutputFile {
        path: format!("{CLUSTER_DIR}/audit-policy.yaml"),
        text: yaml::emit_documents([&admission::audit_policy()]),
    });
    Ok(Hardened { files: out, report })
}

/// [`harden`], with objects refused for their API version an error: for callers that use the
/// output (`bundle create`, `load`).
pub fn harden_strict(files: &[InputFile], options: &Options<'_>) -> Result<Hardened, Error> {
    let hardened = harden(files, options)?;
    let objects: Vec<String> = hardened.report.refused().map(|f| format!("{}: {}", f.object, f.detail)).collect();
    if !objects.is_empty() {
        return Err(Error::Refused {
            target: options.kube_version.to_string(),
            objects,
        });
    }
    Ok(hardened)
}

/// Does `body` hold a pod template at `path`? A custom kind whose pods come from elsewhere (a
/// Rollout's `workloadRef`) does not, and is searched for images instead.
fn has_template(body: &Map, path: &[&str]) -> bool {
    match path.split_first() {
        None => true,
        Some((first, rest)) => body.get(first).and_then(|n| n.at(rest)).is_some_and(|t| t.as_map().is_some()),
    }
}

/// A Pod Security level by name; `None` is `privileged` (meets neither baseline nor restricted).
fn level_text(level: Option<Level>) -> String {
    level.map_or("privileged".into(), |l| l.to_string())
}

trait TemplateExt {
    fn at_spec_service_account(&self) -> Option<String>;
}

impl TemplateExt for Map {
    fn at_spec_service_account(&self) -> Option<String> {
        let spec = self.get("spec")?.as_map()?;
        spec.get("serviceAccountName")
            .or_else(|| spec.get("serviceAccount"))
            .and_then(Node::as_str)
            .map(str::to_string)
    }
}

fn read_objects(files: &[InputFile]) -> Result<Vec<Object>, Error> {
    let mut objects = Vec::new();
    for (file_index, file) in files.iter().enumerate() {
        let docs = yaml::parse_documents(&file.text).map_err(|error| Error::Parse {
            file: file.path.clone(),
            error,
        })?;
        for (i, doc) in docs.into_iter().enumerate() {
            let not_object = |reason: &str| Error::NotAnObject {
                file: file.path.clone(),
                document: i + 1,
                reason: reason.to_string(),
            };
            let body = match doc {
                Node::Null => continue,
                Node::Map(m) => m,
                _ => return Err(not_object("not a mapping")),
            };
            let mut items = Vec::new();
            flatten(body, &mut items).map_err(not_object)?;
            for body in items {
                let id = ObjectId::of(&body).ok_or_else(|| not_object("no apiVersion or kind"))?;
                shape::check_metadata(&body).map_err(|problem| Error::Shape {
                    object: id.display(),
                    problem,
                })?;
                if objects::is_generated(&id, &body) {
                    continue;
                }
                objects.push(Object {
                    file: file_index,
                    id,
                    body,
                });
            }
        }
    }
    Ok(objects)
}

/// The objects `body` stands for: itself, or the items of a list, at any depth. As kubectl
/// reads them, any object with an `items` sequence is a list (`List`, `DeploymentList`, or
/// another kind), and each item must be an object.
fn flatten(body: Map, out: &mut Vec<Map>) -> Result<(), &'static str> {
    match body.get("items") {
        Some(Node::Seq(_)) => {}
        Some(Node::Null) | None if body.get("kind").and_then(Node::as_str).is_some_and(|k| k.ends_with("List")) => return Ok(()),
        _ => {
            out.push(body);
            return Ok(());
        }
    }
    let Some(Node::Seq(items)) = Map::into_iter(body).find(|(k, _)| k == "items").map(|(_, v)| v) else {
        return Ok(());
    };
    for item in items {
        match item {
            Node::Map(m) => flatten(m, out)?,
            _ => return Err("an item of a list is not a mapping"),
        }
    }
    Ok(())
}

/// W25: namespaced built-in objects without a namespace (or in `default`) move to the
/// bundle's namespace, with the references to them.
fn relocate(objects: &mut [Object], namespace: Option<&str>, report: &mut Report) {
    let Some(ns) = namespace else {
        for o in objects
            .iter()
            .filter(|o| o.id.is_builtin_namespaced() && o.id.namespace.as_deref().is_none_or(|n| n == "default"))
        {
            if objects::pod_template_path(&o.id).is_some() {
                report.findings.push(Finding {
                    object: o.id.display(),
                    path: "metadata.namespace".into(),
                    rule: "W25".into(),
                    severity: Severity::Low,
                    reason: Reason::NotOwnedNamespace,
                    detail: "no namespace (or default): set harden.namespace to move it into one the bundle owns".into(),
                });
            }
        }
        return;
    };
    for o in objects.iter_mut() {
        if o.id.is_builtin_namespaced() && o.id.namespace.as_deref().is_none_or(|n| n == "default") {
            let old = o.id.namespace.clone();
            o.body.map_entry("metadata").insert("namespace", Node::str(ns));
            o.id.namespace = Some(ns.to_string());
            report.changes.push(Change {
                object: o.id.display(),
                path: "metadata.namespace".into(),
                before: old,
                after: Some(ns.to_string()),
                rule: "W25".into(),
            });
        }
        // References to service accounts and services that moved.
        if matches!(o.id.kind.as_str(), "RoleBinding" | "ClusterRoleBinding") {
            for subject in o
                .body
                .get_mut("subjects")
                .and_then(Node::as_seq_mut)
                .into_iter()
                .flatten()
                .filter_map(Node::as_map_mut)
            {
                if subject.get("kind").and_then(Node::as_str) == Some("ServiceAccount")
                    && subject.get("namespace").and_then(Node::as_str).is_none_or(|n| n == "default")
                {
                    let old = subject.get("namespace").map(Node::brief);
                    subject.insert("namespace", Node::str(ns));
                    report.changes.push(Change {
                        object: o.id.display(),
                        path: "subjects.namespace".into(),
                        before: old,
                        after: Some(ns.to_string()),
                        rule: "W25".into(),
                    });
                }
            }
        }
    }
}

fn harden_workload(
    object: &mut Object,
    path: &[&str],
    bound: &BTreeSet<(String, String)>,
    options: &Options<'_>,
    report: &mut Report,
) -> Result<Option<Level>, Error> {
    let id = object.id.clone();
    shape::check_pod_template(&object.body, path).map_err(|problem| Error::Shape {
        object: id.display(),
        problem,
    })?;
    let mut template = &mut object.body;
    for k in path {
        template = template.map_entry(k);
    }
    let ns = id.namespace.clone().unwrap_or_else(|| "default".into());
    let sa = template.at_spec_service_account().unwrap_or_else(|| "default".into());
    let spec_now = template.get("spec").and_then(Node::as_map).cloned().unwrap_or_default();
    // This workload's findings are the ones from here on.
    let start = report.findings.len();
    let mut job = pod::PodJob {
        id: &id,
        base: path.join("."),
        bound_service_account: bound.contains(&(ns, sa)),
        runs_to_completion: objects::runs_to_completion(&id, &spec_now),
        options,
        changes: &mut report.changes,
        findings: &mut report.findings,
    };
    pod::harden_template(template, &mut job)?;

    // Confirm with the Pod Security evaluator; every check still failing gets a finding.
    let meta = template.get("metadata").and_then(Node::as_map).cloned().unwrap_or_default();
    let spec = template.get("spec").and_then(Node::as_map).cloned().unwrap_or_default();
    let restricted = pss::evaluate(&meta, &spec, Level::Restricted, options.kube_version);
    if restricted.is_empty() {
        return Ok(Some(Level::Restricted));
    }
    let base = pss::evaluate(&meta, &spec, Level::Baseline, options.kube_version);
    for v in &restricted {
        let rule = rule_of_check(v.check);
        let own = &report.findings[start..];
        let reason = own
            .iter()
            .filter(|f| f.object == id.display() && f.rule == rule)
            .map(|f| f.reason)
            .max()
            .or_else(|| {
                own.iter()
                    .find(|f| f.object == id.display() && f.reason == Reason::InfraPrivileged)
                    .map(|f| f.reason)
            })
            .unwrap_or(Reason::UpstreamSetting);
        report.findings.push(Finding {
            object: id.display(),
            path: path.join("."),
            rule: format!("pss/{}", v.check),
            severity: if v.level == Level::Baseline {
                Severity::High
            } else {
                Severity::Medium
            },
            reason,
            detail: format!("fails Pod Security {} {}: {} (see {rule})", v.level, options.kube_version, v.detail),
        });
    }
    Ok(if base.is_empty() { Some(Level::Baseline) } else { None })
}

/// The hardening rule behind a Pod Security check.
fn rule_of_check(check: &str) -> &'static str {
    match check {
        "privileged" => "W01",
        "hostNamespaces" => "W02",
        "hostPathVolumes" => "W03",
        "hostPorts" => "W04",
        "capabilities_baseline" | "capabilities_restricted" => "W05",
        "allowPrivilegeEscalation" => "W06",
        "runAsNonRoot" | "runAsUser" => "W07",
        "seccompProfile_baseline" | "seccompProfile_restricted" => "W09",
        "appArmorProfile" => "W10",
        "seLinuxOptions" => "W11",
        "procMount" | "procMount_restricted" => "W12",
        "sysctls" => "W13",
        "windowsHostProcess" => "W14",
        "hostProbesAndHostLifecycle" => "W15",
        "restrictedVolumes" => "W16",
        _ => "W00",
    }
}

fn claims(id: &ObjectId, body: &Map, facts: &mut NamespaceFacts) {
    if id.kind == "StatefulSet" {
        let replicas = body
            .get("spec")
            .and_then(|s| s.at(&["replicas"]))
            .and_then(Node::as_i64)
            .unwrap_or(1)
            .max(0);
        let templates = body
            .get("spec")
            .and_then(|s| s.at(&["volumeClaimTemplates"]))
            .and_then(Node::as_seq)
            .map_or(0, <[Node]>::len);
        facts.claims += usize::try_from(replicas).unwrap_or(0) * templates;
    }
}

/// W19 for ServiceAccount objects: no token unless bound.
fn service_account(
    object: &mut Object,
    bound: &BTreeSet<(String, String)>,
    options: &Options<'_>,
    report: &mut Report,
    facts: &mut NamespaceFacts,
) {
    let ns = object.id.namespace.clone().unwrap_or_else(|| "default".into());
    if object.id.name == "default" {
        facts.has_default_service_account = true;
    }
    let excepted = options
        .settings
        .exceptions
        .iter()
        .any(|e| e.covers("W19", &object.id.kind, object.id.namespace.as_deref(), &object.id.name));
    if bound.contains(&(ns, object.id.name.clone())) || excepted || object.body.get("automountServiceAccountToken").is_some() {
        return;
    }
    object.body.insert("automountServiceAccountToken", Node::Bool(false));
    report.changes.push(Change {
        object: object.id.display(),
        path: "automountServiceAccountToken".into(),
        before: None,
        after: Some("false".into()),
        rule: "W19".into(),
    });
}

fn service(body: &Map, facts: &mut NamespaceFacts) {
    let Some(spec) = body.get("spec").and_then(Node::as_map) else {
        return;
    };
    let name = body
        .get("metadata")
        .and_then(|m| m.at(&["name"]))
        .and_then(Node::as_str)
        .unwrap_or("svc");
    let kind = spec.get("type").and_then(Node::as_str).unwrap_or("ClusterIP");
    match kind {
        "NodePort" => facts.node_ports += 1,
        "LoadBalancer" => facts.load_balancers += 1,
        _ => {}
    }
    let ports = spec
        .get("ports")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            let protocol = p.at(&["protocol"]).and_then(Node::as_str).unwrap_or("TCP").to_string();
            let port = p.at(&["targetPort"]).or_else(|| p.at(&["port"]))?.clone();
            Some((protocol, port))
        })
        .collect();
    facts.services.push(ServiceInfo {
        name: namespaces::name_part(name),
        selector: spec.get("selector").and_then(Node::as_map).cloned().unwrap_or_default(),
        ports,
        external: matches!(kind, "NodePort" | "LoadBalancer"),
    });
}

fn owned_namespaces(objects: &[Object]) -> BTreeSet<String> {
    objects
        .iter()
        .filter_map(|o| {
            if o.id.kind == "Namespace" && o.id.group().is_empty() {
                Some(o.id.name.clone())
            } else {
                o.id.namespace.clone()
            }
        })
        .filter(|ns| !NOT_OWNED_NAMESPACES.contains(&ns.as_str()))
        .collect()
}

/// C01: Pod Security labels on the namespace, added to the input's Namespace object if it has
/// one, or on a generated one.
fn label_namespace(objects: &mut [Object], ns: &str, enforce: &str, version: KubeVersion, report: &mut Report, generated: &mut Vec<Node>) {
    let labels = namespaces::pss_labels(enforce, version);
    if let Some(o) = objects
        .iter_mut()
        .find(|o| o.id.kind == "Namespace" && o.id.group().is_empty() && o.id.name == ns)
    {
        let id = o.id.display();
        let map = o.body.map_entry("metadata").map_entry("labels");
        for (k, v) in labels {
            let before = map.get(k).map(Node::brief);
            if before.as_deref() != Some(v.as_str()) {
                map.insert(k, Node::str(v.clone()));
                report.changes.push(Change {
                    object: id.clone(),
                    path: format!("metadata.labels.{k}"),
                    before,
                    after: Some(v),
                    rule: "C01".into(),
                });
            }
        }
        return;
    }
    let mut object = namespaces::namespace(ns);
    if let Some(m) = object.as_map_mut() {
        let labels_map = m.map_entry("metadata").map_entry("labels");
        for (k, v) in labels {
            labels_map.insert(k, Node::str(v));
        }
    }
    generated.push(object);
}

/// The input files again, each with its hardened objects (generated ones dropped: they are
/// written fresh under [`CLUSTER_DIR`]).
fn write_inputs(files: &[InputFile], objects: &[Object]) -> Vec<OutputFile> {
    let mut out = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let docs: Vec<Node> = objects.iter().filter(|o| o.file == i).map(|o| Node::Map(o.body.clone())).collect();
        if docs.is_empty() {
            continue;
        }
        let text = if file.path.ends_with(".json") {
            yaml::emit_json(&docs)
        } else {
            yaml::emit_documents(&docs)
        };
        out.push(OutputFile {
            path: file.path.clone(),
            text,
        });
    }
    out
}

/// Reads a manifest file, or every `.yaml`, `.yml` and `.json` file under a directory (sorted,
/// paths relative to it). Generated files from an earlier run are read too; their objects are
/// recognised by label and regenerated.
pub fn read_inputs(root: &std::path::Path) -> std::io::Result<Vec<InputFile>> {
    let meta = std::fs::metadata(root)?;
    if meta.is_file() {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "manifest.yaml".into());
        return Ok(vec![InputFile {
            path: name,
            text: crate::bounded::read_to_string(root, crate::bounded::DOCUMENT_FILE)?,
        }]);
    }
    let mut out = Vec::new();
    walk(root, "", &mut out)?;
    Ok(out)
}

fn walk(dir: &std::path::Path, prefix: &str, out: &mut Vec<InputFile>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(&entry.path(), &rel, out)?;
        } else if ty.is_file() && matches!(entry.path().extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            out.push(InputFile {
                path: rel,
                text: crate::bounded::read_to_string(&entry.path(), crate::bounded::DOCUMENT_FILE)?,
            });
        }
    }
    Ok(())
}

/// Writes the output files under `dir`, creating directories as needed.
pub fn write_outputs(dir: &std::path::Path, files: &[OutputFile]) -> std::io::Result<()> {
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &f.text)?;
    }
    Ok(())
}
