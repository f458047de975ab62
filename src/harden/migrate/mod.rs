//! Moving an object off an API version the target Kubernetes no longer serves, where the
//! conversion is mechanical (the "notable changes" of the Kubernetes deprecated API migration
//! guide). Every field that moves is recorded; defaults that differ between the versions are
//! noted; where the old object does not say enough to write the new one, the migration is
//! refused with the reason and nothing is changed.

mod crd;
mod hpa;
mod ingress;

use super::apis::{Deprecation, Migration};
use super::pss::KubeVersion;
use super::yaml::{Map, Node};

/// One field an object's migration moved or set.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    /// Field path in the migrated object (`spec.defaultBackend`).
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What a migration did.
#[derive(Debug, Default)]
pub struct Migrated {
    /// The new `apiVersion`.
    pub to: String,
    /// `apiVersion` first, then every field that moved.
    pub moved: Vec<Moved>,
    /// `(path, text)`: behaviour that differs because a default or a meaning changed.
    pub notes: Vec<(String, String)>,
}

impl Migrated {
    fn moved(&mut self, path: impl Into<String>, before: Option<&Node>, after: Option<&Node>) {
        self.moved.push(Moved {
            path: path.into(),
            before: before.map(Node::brief),
            after: after.map(Node::brief),
        });
    }
    fn note(&mut self, path: impl Into<String>, text: impl Into<String>) {
        self.notes.push((path.into(), text.into()));
    }
}

/// Migrates `body` (of `kind`, listed in `entry`) to the replacement served at `target`. On
/// `Err` (why no mechanical conversion exists) `body` is left as it was.
pub fn migrate(body: &mut Map, kind: &str, entry: &Deprecation, target: KubeVersion) -> Result<Migrated, String> {
    let Some(to) = entry.replacement_at(kind, target) else {
        return Err("there is no mechanical conversion".into());
    };
    let mut new = body.clone();
    let mut done = Migrated {
        to: to.to_string(),
        ..Migrated::default()
    };
    let from = entry.api_version;
    done.moved("apiVersion", Some(&Node::str(from)), Some(&Node::str(to)));
    new.insert("apiVersion", Node::str(to));
    match entry.migration {
        Migration::Rename => {}
        Migration::Workload => workload(&mut new, kind, from, &mut done)?,
        Migration::Ingress => ingress::convert(&mut new, &mut done)?,
        Migration::PodDisruptionBudget => {
            // `{}`, `{matchLabels: {}}`, `{matchExpressions: []}`: no requirement at all.
            let empty = |n: Option<&Node>| match n {
                None | Some(Node::Null) => true,
                Some(Node::Map(m)) => m.is_empty(),
                Some(Node::Seq(s)) => s.is_empty(),
                _ => false,
            };
            let selector = new.get("spec").and_then(|s| s.at(&["selector"])).and_then(Node::as_map);
            if selector.is_some_and(|s| empty(s.get("matchLabels")) && empty(s.get("matchExpressions"))) {
                done.note(
                    "spec.selector",
                    "an empty selector selected no pods under policy/v1beta1 and selects every pod in the namespace under policy/v1",
                );
            }
        }
        Migration::HorizontalPodAutoscaler => hpa::convert(&mut new, &mut done)?,
        Migration::EndpointSlice => endpoint_slice(&mut new, &mut done)?,
        Migration::AdmissionWebhook => webhooks(&mut new, &mut done)?,
        Migration::CustomResourceDefinition => crd::convert(&mut new, &mut done)?,
        Migration::CertificateSigningRequest => certificate_request(&new)?,
        Migration::AccessReview => {
            let spec = new.map_entry("spec");
            if let Some(group) = spec.remove("group") {
                spec.insert("groups", group.clone());
                done.moved("spec.groups", Some(&group), Some(&group));
            }
        }
        Migration::FlowControl => flow_control(&mut new, kind, from, &mut done),
        Migration::Refuse => return Err("there is no mechanical conversion".into()),
    }
    *body = new;
    Ok(done)
}

/// Deployment, DaemonSet, StatefulSet and ReplicaSet to `apps/v1`.
fn workload(body: &mut Map, kind: &str, from: &str, done: &mut Migrated) -> Result<(), String> {
    let spec = body.map_entry("spec");
    if spec.get("selector").is_none_or(|s| matches!(s, Node::Null)) {
        let labels = spec
            .get("template")
            .and_then(|t| t.at(&["metadata", "labels"]))
            .and_then(Node::as_map)
            .filter(|l| !l.is_empty())
            .cloned()
            .ok_or("spec.selector is unset and the pod template has no labels to make it from (apps/v1 requires a selector)")?;
        let mut selector = Map::new();
        selector.insert("matchLabels", Node::Map(labels));
        let selector = Node::Map(selector);
        done.moved("spec.selector", None, Some(&selector));
        spec.insert("selector", selector);
    }
    for gone in ["rollbackTo", "templateGeneration"] {
        if let Some(old) = spec.remove(gone) {
            done.moved(format!("spec.{gone}"), Some(&old), None);
        }
    }
    let unset = |spec: &Map, path: &[&str]| path.split_first().and_then(|(k, rest)| spec.get(k)?.at(rest)).is_none();
    let extensions = from == "extensions/v1beta1";
    match kind {
        "Deployment" => {
            if extensions && unset(spec, &["revisionHistoryLimit"]) {
                done.note(
                    "spec.revisionHistoryLimit",
                    "default is now 10 old ReplicaSets kept (extensions/v1beta1 kept all)",
                );
            } else if from == "apps/v1beta1" && unset(spec, &["revisionHistoryLimit"]) {
                done.note(
                    "spec.revisionHistoryLimit",
                    "default is now 10 old ReplicaSets kept (apps/v1beta1 kept 2)",
                );
            }
            if extensions && unset(spec, &["progressDeadlineSeconds"]) {
                done.note(
                    "spec.progressDeadlineSeconds",
                    "default is now 600 seconds (extensions/v1beta1 had no deadline)",
                );
            }
            let rolling = spec
                .get("strategy")
                .and_then(|s| s.at(&["type"]))
                .and_then(Node::as_str)
                .is_none_or(|t| t == "RollingUpdate");
            for field in ["maxSurge", "maxUnavailable"] {
                if extensions && rolling && unset(spec, &["strategy", "rollingUpdate", field]) {
                    done.note(
                        format!("spec.strategy.rollingUpdate.{field}"),
                        "default is now 25% (extensions/v1beta1 defaulted to 1)",
                    );
                }
            }
        }
        "DaemonSet" if extensions && unset(spec, &["updateStrategy", "type"]) => {
            done.note(
                "spec.updateStrategy.type",
                "default is now RollingUpdate (extensions/v1beta1 defaulted to OnDelete)",
            );
        }
        "StatefulSet" if from == "apps/v1beta1" && unset(spec, &["updateStrategy", "type"]) => {
            done.note(
                "spec.updateStrategy.type",
                "default is now RollingUpdate (apps/v1beta1 defaulted to OnDelete)",
            );
        }
        _ => {}
    }
    Ok(())
}

/// FlowSchema and PriorityLevelConfiguration: v1beta1 and v1beta2 name the shares
/// `assuredConcurrencyShares`, later versions `nominalConcurrencyShares`. Before v1, zero
/// meant the default of 30; v1 keeps a zero, so a zero (or unset) value is written as 30.
fn flow_control(body: &mut Map, kind: &str, from: &str, done: &mut Migrated) {
    if kind != "PriorityLevelConfiguration" {
        return;
    }
    let Some(limited) = body
        .get_mut("spec")
        .and_then(Node::as_map_mut)
        .and_then(|s| s.get_mut("limited"))
        .and_then(Node::as_map_mut)
    else {
        return;
    };
    let old_name = if from.ends_with("v1beta3") {
        "nominalConcurrencyShares"
    } else {
        "assuredConcurrencyShares"
    };
    let before = limited.remove(old_name);
    let after = match &before {
        Some(n) if n.as_i64().is_some_and(|v| v != 0) => n.clone(),
        _ => Node::int(30),
    };
    if before.as_ref() != Some(&after) || old_name != "nominalConcurrencyShares" {
        done.moved("spec.limited.nominalConcurrencyShares", before.as_ref(), Some(&after));
    }
    limited.insert("nominalConcurrencyShares", after);
}

/// EndpointSlice to `discovery.k8s.io/v1`: the hostname and zone topology keys become fields.
fn endpoint_slice(body: &mut Map, done: &mut Migrated) -> Result<(), String> {
    for (i, endpoint) in body
        .get_mut("endpoints")
        .and_then(Node::as_seq_mut)
        .into_iter()
        .flatten()
        .filter_map(Node::as_map_mut)
        .enumerate()
    {
        let Some(Node::Map(topology)) = endpoint.remove("topology") else {
            continue;
        };
        for (key, value) in topology.iter() {
            let field = match key {
                "kubernetes.io/hostname" => "nodeName",
                "topology.kubernetes.io/zone" => "zone",
                other => {
                    return Err(format!(
                        "endpoints[{i}].topology holds `{other}`, which discovery.k8s.io/v1 cannot write (its deprecatedTopology is read-only)"
                    ));
                }
            };
            endpoint.insert(field, value.clone());
            done.moved(format!("endpoints[{i}].{field}"), Some(value), Some(value));
        }
    }
    Ok(())
}

/// Webhook configurations to `admissionregistration.k8s.io/v1`: the v1beta1 defaults are
/// written out (so the webhook behaves as before), and side effects must be declared.
fn webhooks(body: &mut Map, done: &mut Migrated) -> Result<(), String> {
    let defaults: [(&str, Node); 4] = [
        ("failurePolicy", Node::str("Ignore")),
        ("matchPolicy", Node::str("Exact")),
        ("timeoutSeconds", Node::int(30)),
        ("admissionReviewVersions", Node::Seq(vec![Node::str("v1beta1")])),
    ];
    for (i, hook) in body
        .get_mut("webhooks")
        .and_then(Node::as_seq_mut)
        .into_iter()
        .flatten()
        .filter_map(Node::as_map_mut)
        .enumerate()
    {
        let name = hook.get("name").map(Node::brief).unwrap_or_else(|| i.to_string());
        match hook.get("sideEffects").and_then(Node::as_str) {
            Some("None" | "NoneOnDryRun") => {}
            other => {
                return Err(format!(
                    "webhooks[{name}].sideEffects is {}: admissionregistration.k8s.io/v1 accepts only None or NoneOnDryRun, and only the webhook's author can say which holds",
                    other.unwrap_or("unset (Unknown)")
                ));
            }
        }
        for (field, value) in &defaults {
            if hook.get(field).is_none() {
                done.moved(format!("webhooks[{name}].{field}"), None, Some(value));
                hook.insert(field, value.clone());
            }
        }
    }
    Ok(())
}

/// CertificateSigningRequest: v1 needs a signer and usages that v1beta1 could leave out.
fn certificate_request(body: &Map) -> Result<(), String> {
    let spec = body.get("spec");
    match spec.and_then(|s| s.at(&["signerName"])).and_then(Node::as_str) {
        None => {
            return Err(
                "spec.signerName is unset: certificates.k8s.io/v1 requires one, and which signer is meant is the requester's choice".into(),
            );
        }
        Some("kubernetes.io/legacy-unknown") => {
            return Err("spec.signerName kubernetes.io/legacy-unknown cannot be requested through certificates.k8s.io/v1".into());
        }
        Some(_) => {}
    }
    if spec
        .and_then(|s| s.at(&["usages"]))
        .and_then(Node::as_seq)
        .is_none_or(<[Node]>::is_empty)
    {
        return Err("spec.usages is unset: certificates.k8s.io/v1 requires the key usages".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harden::apis::lookup;
    use crate::harden::yaml::parse_documents;

    fn map(text: &str) -> Map {
        parse_documents(text).unwrap().remove(0).as_map().unwrap().clone()
    }

    #[test]
    fn a_defaulted_selector_comes_from_the_template_labels_and_defaults_that_differ_are_noted() {
        let mut body = map(
            "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  rollbackTo: {revision: 2}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n",
        );
        let entry = lookup("extensions/v1beta1", "Deployment").unwrap();
        let done = migrate(&mut body, "Deployment", entry, KubeVersion(35)).unwrap();
        assert_eq!(body.get("apiVersion").and_then(Node::as_str), Some("apps/v1"));
        assert_eq!(
            body.get("spec")
                .unwrap()
                .at(&["selector", "matchLabels", "app"])
                .and_then(Node::as_str),
            Some("web")
        );
        assert!(body.get("spec").unwrap().at(&["rollbackTo"]).is_none());
        let paths: Vec<&str> = done.moved.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["apiVersion", "spec.selector", "spec.rollbackTo"]);
        let noted: Vec<&str> = done.notes.iter().map(|(p, _)| p.as_str()).collect();
        assert!(noted.contains(&"spec.revisionHistoryLimit") && noted.contains(&"spec.progressDeadlineSeconds"));
    }

    #[test]
    fn a_refused_migration_leaves_the_object_as_it_was() {
        let text = "apiVersion: apps/v1beta2\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec: {containers: [{name: web, image: nginx}]}\n";
        let mut body = map(text);
        let entry = lookup("apps/v1beta2", "Deployment").unwrap();
        let err = migrate(&mut body, "Deployment", entry, KubeVersion(30)).unwrap_err();
        assert!(err.contains("no labels"), "{err}");
        assert_eq!(body, map(text));
        let psp = lookup("policy/v1beta1", "PodSecurityPolicy").unwrap();
        let err = migrate(&mut body, "PodSecurityPolicy", psp, KubeVersion(30)).unwrap_err();
        assert!(err.contains("no mechanical conversion"), "{err}");
    }

    #[test]
    fn meanings_that_change_are_kept_or_noted() {
        // v1beta3 read zero shares as the default 30; v1 keeps zero.
        let plc = lookup("flowcontrol.apiserver.k8s.io/v1beta3", "PriorityLevelConfiguration").unwrap();
        let mut body = map(
            "apiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: PriorityLevelConfiguration\nmetadata: {name: p}\nspec: {type: Limited, limited: {nominalConcurrencyShares: 0, limitResponse: {type: Reject}}}\n",
        );
        migrate(&mut body, "PriorityLevelConfiguration", plc, KubeVersion(32)).unwrap();
        assert_eq!(
            body.get("spec")
                .unwrap()
                .at(&["limited", "nominalConcurrencyShares"])
                .and_then(Node::as_i64),
            Some(30)
        );
        // Every form of an empty PodDisruptionBudget selector is noted.
        let pdb = lookup("policy/v1beta1", "PodDisruptionBudget").unwrap();
        for selector in ["{}", "{matchLabels: {}}", "{matchExpressions: []}"] {
            let mut body = map(&format!(
                "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {{name: p, namespace: n}}\nspec: {{maxUnavailable: 0, selector: {selector}}}\n"
            ));
            let done = migrate(&mut body, "PodDisruptionBudget", pdb, KubeVersion(25)).unwrap();
            assert_eq!(done.notes.len(), 1, "{selector}");
        }
        // A port written as a digit string is a decimal number (never octal).
        let ingress = lookup("extensions/v1beta1", "Ingress").unwrap();
        let mut body = map(
            "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: i, namespace: n}\nspec: {backend: {serviceName: s, servicePort: '010'}}\n",
        );
        migrate(&mut body, "Ingress", ingress, KubeVersion(25)).unwrap();
        assert_eq!(
            body.get("spec")
                .unwrap()
                .at(&["defaultBackend", "service", "port", "number"])
                .and_then(Node::as_i64),
            Some(10)
        );
    }

    #[test]
    fn webhooks_keep_their_v1beta1_behaviour_or_are_refused() {
        let entry = lookup("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration").unwrap();
        let mut ok = map(
            "apiVersion: admissionregistration.k8s.io/v1beta1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: w}\nwebhooks:\n- name: a.example.com\n  sideEffects: None\n  clientConfig: {service: {name: s, namespace: n}}\n",
        );
        migrate(&mut ok, "ValidatingWebhookConfiguration", entry, KubeVersion(30)).unwrap();
        let hook = ok.get("webhooks").unwrap().as_seq().unwrap()[0].clone();
        assert_eq!(hook.at(&["failurePolicy"]).and_then(Node::as_str), Some("Ignore"));
        assert_eq!(hook.at(&["timeoutSeconds"]).and_then(Node::as_i64), Some(30));
        let mut unknown = map(
            "apiVersion: admissionregistration.k8s.io/v1beta1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: w}\nwebhooks:\n- name: a.example.com\n",
        );
        let err = migrate(&mut unknown, "ValidatingWebhookConfiguration", entry, KubeVersion(30)).unwrap_err();
        assert!(err.contains("webhooks[a.example.com].sideEffects is unset"), "{err}");
    }
}
