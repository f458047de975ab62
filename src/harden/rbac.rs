//! RBAC as the hardener needs it: which service accounts are bound to a role (their pods use
//! the API and keep their token), and which rules need a human review (class D: reported,
//! never rewritten).

use std::collections::BTreeSet;

use super::objects::ObjectId;
use super::report::{Finding, Reason, Severity};
use super::yaml::{Map, Node};

/// `(namespace, name)` of every ServiceAccount a (Cluster)RoleBinding names.
pub(super) fn bound_service_accounts<'a>(objects: impl Iterator<Item = (&'a ObjectId, &'a Map)>) -> BTreeSet<(String, String)> {
    let mut bound = BTreeSet::new();
    for (id, object) in objects {
        if id.group() != "rbac.authorization.k8s.io" || !matches!(id.kind.as_str(), "RoleBinding" | "ClusterRoleBinding") {
            continue;
        }
        for subject in object.get("subjects").and_then(Node::as_seq).unwrap_or_default() {
            if subject.at(&["kind"]).and_then(Node::as_str) != Some("ServiceAccount") {
                continue;
            }
            let name = subject.at(&["name"]).and_then(Node::as_str).unwrap_or_default();
            let namespace = subject
                .at(&["namespace"])
                .and_then(Node::as_str)
                .or(id.namespace.as_deref())
                .unwrap_or("default");
            bound.insert((namespace.to_string(), name.to_string()));
        }
    }
    bound
}

/// Review findings for Roles, ClusterRoles and bindings.
pub(super) fn review(id: &ObjectId, object: &Map) -> Vec<Finding> {
    let mut out = Vec::new();
    if id.group() != "rbac.authorization.k8s.io" {
        return out;
    }
    let mut add = |path: String, rule: &str, severity: Severity, detail: String| {
        out.push(Finding {
            object: id.display(),
            path,
            rule: rule.to_string(),
            severity,
            reason: Reason::RbacReview,
            detail,
        });
    };
    match id.kind.as_str() {
        "RoleBinding" | "ClusterRoleBinding" => {
            if object.get("roleRef").and_then(|r| r.at(&["name"])).and_then(Node::as_str) == Some("cluster-admin") {
                add("roleRef".into(), "R01", Severity::High, "binds cluster-admin".into());
            }
            for subject in object.get("subjects").and_then(Node::as_seq).unwrap_or_default() {
                let name = subject.at(&["name"]).and_then(Node::as_str).unwrap_or_default();
                if matches!(name, "system:anonymous" | "system:unauthenticated" | "system:masters") {
                    add("subjects".into(), "R01", Severity::High, format!("binds {name}"));
                }
            }
        }
        "Role" | "ClusterRole" => {
            for (i, rule) in object.get("rules").and_then(Node::as_seq).unwrap_or_default().iter().enumerate() {
                let list = |k: &str| -> Vec<String> {
                    rule.at(&[k])
                        .and_then(Node::as_seq)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(Node::as_str)
                        .map(str::to_string)
                        .collect()
                };
                let (verbs, resources, groups) = (list("verbs"), list("resources"), list("apiGroups"));
                let path = format!("rules[{i}]");
                let has = |l: &[String], v: &str| l.iter().any(|x| x == v);
                if has(&verbs, "*") || has(&resources, "*") || has(&groups, "*") {
                    add(
                        path.clone(),
                        "R02",
                        Severity::High,
                        format!("wildcard in verbs {verbs:?} resources {resources:?} apiGroups {groups:?}"),
                    );
                }
                let reads = ["get", "list", "watch", "*"].iter().any(|v| has(&verbs, v));
                if reads && (has(&resources, "secrets") || has(&resources, "*")) && (has(&groups, "") || has(&groups, "*")) {
                    add(
                        path.clone(),
                        "R03",
                        Severity::Medium,
                        format!("reads secrets ({})", verbs.join(", ")),
                    );
                }
                for v in ["bind", "escalate", "impersonate"] {
                    if has(&verbs, v) {
                        add(path.clone(), "R05", Severity::High, format!("verb {v}"));
                    }
                }
                for r in ["pods/exec", "pods/attach", "nodes/proxy"] {
                    if has(&resources, r) {
                        add(path.clone(), "R06", Severity::High, format!("access to {r}"));
                    }
                }
                let writes = ["create", "update", "patch", "delete", "*"].iter().any(|v| has(&verbs, v));
                for r in [
                    "validatingwebhookconfigurations",
                    "mutatingwebhookconfigurations",
                    "certificatesigningrequests/approval",
                ] {
                    if writes && has(&resources, r) {
                        add(path.clone(), "R07", Severity::Medium, format!("writes {r}"));
                    }
                }
            }
        }
        _ => {}
    }
    out
}
