//! Moving an object off an API version the target Kubernetes no longer serves, where the
//! conversion is mechanical (the "notable changes" of the Kubernetes deprecated API migration
//! guide). Every field that moves is recorded; defaults that differ between the versions are
//! noted; where the old object does not say enough to write the new one, the migration is
//! refused with the reason and nothing is changed.

mod crd;
mod flowcontrol;
mod hpa;
mod ingress;
mod webhook;
mod workload;

use super::apis::{Deprecation, Migration};
use super::pss::KubeVersion;
use super::report::Severity;
use super::yaml::{Map, Node};

/// Why an object of a removed API version cannot be migrated mechanically: what the old
/// object leaves unsaid that the new version needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotMechanical(pub String);

impl From<String> for NotMechanical {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for NotMechanical {
    fn from(text: &str) -> Self {
        Self(text.to_string())
    }
}

/// One field an object's migration moved or set.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    /// Field path in the migrated object (`spec.defaultBackend`).
    pub path: String,
    /// Where the value was in the old object, when it moved (`spec.backend`).
    pub from: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Behaviour that differs after a migration because a default or a meaning changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub path: String,
    /// Low for a changed default; medium where the object now does something else.
    pub severity: Severity,
    pub text: String,
}

/// What a migration did.
#[derive(Debug, Default)]
pub struct Migrated {
    /// The new `apiVersion`.
    pub to: String,
    /// `apiVersion` first, then every field that moved or was set.
    pub moved: Vec<Moved>,
    pub notes: Vec<Note>,
}

impl Migrated {
    /// A field set (or removed) in place.
    fn moved(&mut self, path: impl Into<String>, before: Option<&Node>, after: Option<&Node>) {
        self.moved.push(Moved {
            path: path.into(),
            from: None,
            before: before.map(Node::brief),
            after: after.map(Node::brief),
        });
    }
    /// A value moved from `from` to `path` (and possibly reshaped).
    fn moved_from(&mut self, from: impl Into<String>, path: impl Into<String>, before: &Node, after: &Node) {
        self.moved.push(Moved {
            path: path.into(),
            from: Some(from.into()),
            before: Some(before.brief()),
            after: Some(after.brief()),
        });
    }
    /// A default that differs between the versions (low).
    fn default_changed(&mut self, path: impl Into<String>, text: impl Into<String>) {
        self.note(path, Severity::Low, text);
    }
    fn note(&mut self, path: impl Into<String>, severity: Severity, text: impl Into<String>) {
        self.notes.push(Note {
            path: path.into(),
            severity,
            text: text.into(),
        });
    }
}

/// Migrates `body` (of `kind`, listed in `entry`) to the replacement served at `target`. On
/// `Err` `body` is left as it was.
pub fn migrate(body: &mut Map, kind: &str, entry: &Deprecation, target: KubeVersion) -> Result<Migrated, NotMechanical> {
    let Some(to) = entry.replacement_at(kind, target) else {
        return Err(if entry.replacements.is_empty() {
            "there is no mechanical conversion".into()
        } else {
            format!("none of its replacements is served at {target}").into()
        });
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
        Migration::Event => event(&new)?,
        Migration::Workload => workload::convert(&mut new, kind, from, &mut done)?,
        Migration::Ingress => ingress::convert(&mut new, &mut done)?,
        Migration::PodDisruptionBudget => pod_disruption_budget(&new, &mut done),
        Migration::HorizontalPodAutoscaler => hpa::convert(&mut new, &mut done)?,
        Migration::EndpointSlice => endpoint_slice(&mut new, &mut done)?,
        Migration::AdmissionWebhook => webhook::convert(&mut new, &mut done)?,
        Migration::CustomResourceDefinition => crd::convert(&mut new, &mut done)?,
        Migration::CertificateSigningRequest => certificate_request(&new)?,
        Migration::AccessReview => access_review(&mut new, &mut done),
        Migration::FlowControl => flowcontrol::convert(&mut new, kind, from, &mut done),
        Migration::Refuse => return Err("there is no mechanical conversion".into()),
    }
    *body = new;
    Ok(done)
}

/// PodDisruptionBudget to `policy/v1`: an empty selector (`{}`, `{matchLabels: {}}`,
/// `{matchExpressions: []}`) selected no pods and now selects every pod in the namespace.
fn pod_disruption_budget(body: &Map, done: &mut Migrated) {
    let empty = |n: Option<&Node>| match n {
        None | Some(Node::Null) => true,
        Some(Node::Map(m)) => m.is_empty(),
        Some(Node::Seq(s)) => s.is_empty(),
        _ => false,
    };
    let selector = body.get("spec").and_then(|s| s.at(&["selector"])).and_then(Node::as_map);
    if selector.is_some_and(|s| empty(s.get("matchLabels")) && empty(s.get("matchExpressions"))) {
        done.note(
            "spec.selector",
            Severity::Medium,
            "an empty selector selected no pods under policy/v1beta1 and selects every pod in the namespace under policy/v1 (with maxUnavailable: 0 it blocks every eviction there)",
        );
    }
}

/// SubjectAccessReview and its kin: `spec.group` is `spec.groups`.
fn access_review(body: &mut Map, done: &mut Migrated) {
    let Some(spec) = body.get_mut("spec").and_then(Node::as_map_mut) else {
        return;
    };
    if let Some(group) = spec.remove("group") {
        done.moved_from("spec.group", "spec.groups", &group, &group);
        spec.insert("groups", group);
    }
}

/// Event to `events.k8s.io/v1`: what v1 requires on create, the old version did not.
fn event(body: &Map) -> Result<(), NotMechanical> {
    match body.get("type").and_then(Node::as_str) {
        Some("Normal" | "Warning") => {}
        other => {
            return Err(format!(
                "type is {}: events.k8s.io/v1 accepts only Normal or Warning",
                other.unwrap_or("unset")
            )
            .into());
        }
    }
    for field in ["action", "reason", "reportingController", "reportingInstance", "eventTime"] {
        if body.get(field).is_none_or(|v| matches!(v, Node::Null)) {
            return Err(format!("{field} is unset, and events.k8s.io/v1 requires it").into());
        }
    }
    if let Some((field, _)) = body.iter().find(|(k, _)| k.starts_with("deprecated")) {
        return Err(format!("{field} is set, and events.k8s.io/v1 does not accept it on create").into());
    }
    Ok(())
}

/// EndpointSlice to `discovery.k8s.io/v1`: the hostname and zone topology keys become fields.
fn endpoint_slice(body: &mut Map, done: &mut Migrated) -> Result<(), NotMechanical> {
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
                    )
                    .into());
                }
            };
            endpoint.insert(field, value.clone());
            done.moved_from(
                format!("endpoints[{i}].topology.{key}"),
                format!("endpoints[{i}].{field}"),
                value,
                value,
            );
        }
    }
    Ok(())
}

/// CertificateSigningRequest: v1 needs a signer and usages that v1beta1 could leave out.
fn certificate_request(body: &Map) -> Result<(), NotMechanical> {
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
    let usages = spec.and_then(|s| s.at(&["usages"])).and_then(Node::as_seq).unwrap_or_default();
    if usages.is_empty() {
        return Err("spec.usages is unset: certificates.k8s.io/v1 requires the key usages".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for usage in usages {
        let usage = usage.as_str().unwrap_or_default();
        if !KEY_USAGES.contains(&usage) {
            return Err(format!("spec.usages holds `{usage}`, which certificates.k8s.io/v1 does not know").into());
        }
        if !seen.insert(usage) {
            return Err(format!("spec.usages lists `{usage}` twice, which certificates.k8s.io/v1 refuses").into());
        }
    }
    Ok(())
}

/// The key usages certificates.k8s.io/v1 accepts (its `KeyUsage` values).
const KEY_USAGES: &[&str] = &[
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
];

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
        let noted: Vec<&str> = done.notes.iter().map(|n| n.path.as_str()).collect();
        assert!(noted.contains(&"spec.revisionHistoryLimit") && noted.contains(&"spec.progressDeadlineSeconds"));
    }

    #[test]
    fn a_refused_migration_leaves_the_object_as_it_was() {
        let text = "apiVersion: apps/v1beta2\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec: {containers: [{name: web, image: nginx}]}\n";
        let mut body = map(text);
        let entry = lookup("apps/v1beta2", "Deployment").unwrap();
        let err = migrate(&mut body, "Deployment", entry, KubeVersion(30)).unwrap_err().0;
        assert!(err.contains("no labels"), "{err}");
        assert_eq!(body, map(text));
        let psp = lookup("policy/v1beta1", "PodSecurityPolicy").unwrap();
        let err = migrate(&mut body, "PodSecurityPolicy", psp, KubeVersion(30)).unwrap_err().0;
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
        let err = migrate(&mut unknown, "ValidatingWebhookConfiguration", entry, KubeVersion(30))
            .unwrap_err()
            .0;
        assert!(err.contains("webhooks[a.example.com].sideEffects is unset"), "{err}");
    }
}
