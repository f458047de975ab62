//! Kubernetes objects as sealift sees them: identity, scope, and where a pod template lives.

use super::yaml::{Map, Node};

/// Namespaces a bundle never configures: they belong to the cluster.
pub const NOT_OWNED_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease", "default"];

/// The label sealift puts on objects it generates; inputs carrying it are regenerated.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "sealift");

/// Built-in kinds that have no namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "APIService",
    "IngressClass",
    "RuntimeClass",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "CertificateSigningRequest",
    "FlowSchema",
    "PriorityLevelConfiguration",
    "ClusterImagePolicy",
    "ClusterPolicy",
];

/// Built-in namespaced kinds (the ones sealift may move out of `default`).
const NAMESPACED: &[&str] = &[
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "PodTemplate",
    "Service",
    "ServiceAccount",
    "ConfigMap",
    "Secret",
    "Role",
    "RoleBinding",
    "PersistentVolumeClaim",
    "Ingress",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "LimitRange",
    "ResourceQuota",
    "Endpoints",
    "EndpointSlice",
    "Lease",
];

/// An object's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectId {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectId {
    pub fn of(object: &Map) -> Option<ObjectId> {
        let api_version = object.get("apiVersion")?.as_str()?.to_string();
        let kind = object.get("kind")?.as_str()?.to_string();
        let meta = object.get("metadata").and_then(Node::as_map);
        let name = meta
            .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_string();
        let namespace = meta.and_then(|m| m.get("namespace")).and_then(Node::as_str).map(str::to_string);
        Some(ObjectId {
            api_version,
            kind,
            namespace,
            name,
        })
    }

    /// `Kind/namespace/name`, or `Kind/name` without a namespace.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    pub fn group(&self) -> &str {
        super::apis::group_of(&self.api_version)
    }

    /// Is this object's group one Kubernetes serves itself (not a CRD's)?
    pub fn is_builtin(&self) -> bool {
        super::apis::BUILTIN_GROUPS.contains(&self.group())
    }

    pub fn is_builtin_namespaced(&self) -> bool {
        NAMESPACED.contains(&self.kind.as_str()) && self.is_builtin()
    }

    pub fn is_cluster_scoped(&self) -> bool {
        CLUSTER_SCOPED.contains(&self.kind.as_str())
    }
}

/// Where the pod template (a map with `metadata` and `spec`) sits in an object of this kind,
/// or `None` for objects without pods. `[]` means the object itself (a Pod).
pub fn pod_template_path(id: &ObjectId) -> Option<&'static [&'static str]> {
    let group = id.group();
    match (group, id.kind.as_str()) {
        ("", "Pod") => Some(&[]),
        ("", "PodTemplate") => Some(&["template"]),
        ("", "ReplicationController") | ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            Some(&["spec", "template"])
        }
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template"]),
        // Common CRDs whose pod template path is documented.
        ("argoproj.io", "Rollout") | ("apps.kruise.io", "CloneSet" | "StatefulSet" | "DaemonSet") => Some(&["spec", "template"]),
        _ => None,
    }
}

/// Does this object's pod run to completion (no probes expected)?
pub fn runs_to_completion(id: &ObjectId, pod_spec: &Map) -> bool {
    matches!(id.kind.as_str(), "Job" | "CronJob")
        || matches!(pod_spec.get("restartPolicy").and_then(Node::as_str), Some("Never" | "OnFailure"))
}

/// The kinds sealift generates under `sealift-cluster/`.
const GENERATED_KINDS: &[&str] = &[
    "Namespace",
    "ServiceAccount",
    "NetworkPolicy",
    "LimitRange",
    "ResourceQuota",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ClusterImagePolicy",
    "ClusterPolicy",
    "Policy",
];

/// Is this object one sealift generated (and so regenerates)? Only the kinds it generates
/// count: any other object with the label is the input's, and hardened like the rest.
pub fn is_generated(id: &ObjectId, object: &Map) -> bool {
    GENERATED_KINDS.contains(&id.kind.as_str())
        && object
            .get("metadata")
            .and_then(|m| m.at(&["labels", MANAGED_BY.0]))
            .and_then(Node::as_str)
            == Some(MANAGED_BY.1)
}
