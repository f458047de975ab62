//! Cluster-wide objects that keep the cluster honest after the bundle is applied: a
//! ValidatingAdmissionPolicy admitting only digest-pinned images from the site registry,
//! signature verification with the bundle's key (sigstore policy-controller and Kyverno, both
//! offline: no transparency log), and the API server's audit policy.

use super::namespaces::{map, meta, s, seq};
use super::yaml::Node;

const POLICY_NAME: &str = "sealift-images-pinned";

/// The ValidatingAdmissionPolicy and its binding, for pods and pod controllers in `namespaces`.
pub(super) fn image_policy(registry: &str, namespaces: &[String]) -> Vec<Node> {
    let rule = |group: &str, resources: &[&str]| {
        map([
            ("apiGroups", seq([s(group)])),
            ("apiVersions", seq([s("v1")])),
            ("operations", seq([s("CREATE"), s("UPDATE")])),
            ("resources", seq(resources.iter().map(|r| s(r)))),
        ])
    };
    let prefix = format!("{registry}/");
    let pod_spec = "object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)";
    let images = "variables.podSpec.containers.map(c, c.image) + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers.map(c, c.image) : []) + (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers.map(c, c.image) : [])";
    let pinned = "@sha256:[a-f0-9]{64}$";
    let policy = map([
        ("apiVersion", s("admissionregistration.k8s.io/v1")),
        ("kind", s("ValidatingAdmissionPolicy")),
        ("metadata", meta(POLICY_NAME, None)),
        (
            "spec",
            map([
                ("failurePolicy", s("Fail")),
                (
                    "matchConstraints",
                    map([(
                        "resourceRules",
                        seq([
                            rule("", &["pods", "pods/ephemeralcontainers"]),
                            rule("apps", &["deployments", "statefulsets", "daemonsets", "replicasets"]),
                            rule("batch", &["jobs", "cronjobs"]),
                        ]),
                    )]),
                ),
                (
                    "variables",
                    seq([
                        map([("name", s("podSpec")), ("expression", s(pod_spec))]),
                        map([("name", s("images")), ("expression", s(images))]),
                    ]),
                ),
                (
                    "validations",
                    seq([
                        map([
                            ("expression", s(&format!("variables.images.all(i, i.startsWith('{prefix}'))"))),
                            (
                                "messageExpression",
                                s(&format!(
                                    "'images not from the site registry {registry}: ' + variables.images.filter(i, !i.startsWith('{prefix}')).join(', ')"
                                )),
                            ),
                            ("reason", s("Forbidden")),
                        ]),
                        map([
                            ("expression", s(&format!("variables.images.all(i, i.matches('{pinned}'))"))),
                            (
                                "messageExpression",
                                s(&format!(
                                    "'images not pinned by sha256 digest: ' + variables.images.filter(i, !i.matches('{pinned}')).join(', ')"
                                )),
                            ),
                            ("reason", s("Forbidden")),
                        ]),
                    ]),
                ),
            ]),
        ),
    ]);
    let binding = map([
        ("apiVersion", s("admissionregistration.k8s.io/v1")),
        ("kind", s("ValidatingAdmissionPolicyBinding")),
        ("metadata", meta(POLICY_NAME, None)),
        (
            "spec",
            map([
                ("policyName", s(POLICY_NAME)),
                ("validationActions", seq([s("Deny"), s("Audit")])),
                (
                    "matchResources",
                    map([(
                        "namespaceSelector",
                        map([(
                            "matchExpressions",
                            seq([map([
                                ("key", s("kubernetes.io/metadata.name")),
                                ("operator", s("In")),
                                ("values", seq(namespaces.iter().map(|n| s(n)))),
                            ])]),
                        )]),
                    )]),
                ),
            ]),
        ),
    ]);
    vec![policy, binding]
}

/// sigstore policy-controller: images from the site registry must carry a signature by `key_pem`.
/// No `ctlog` block: with a static key the controller skips the transparency log.
pub(super) fn sigstore_policy(registry: &str, key_pem: &str) -> Node {
    sigstore_cluster_policy(
        "sealift-signed-images",
        registry,
        sigstore_key_authority("sealift-bundle-key", key_pem),
    )
}

/// A policy-controller ClusterImagePolicy enforcing one authority on the site registry's images.
pub(super) fn sigstore_cluster_policy(name: &str, registry: &str, authority: Node) -> Node {
    map([
        ("apiVersion", s("policy.sigstore.dev/v1beta1")),
        ("kind", s("ClusterImagePolicy")),
        ("metadata", meta(name, None)),
        (
            "spec",
            map([
                ("mode", s("enforce")),
                ("images", seq([map([("glob", s(&format!("{registry}/**")))])])),
                ("authorities", seq([authority])),
            ]),
        ),
    ])
}

/// A policy-controller authority: a static key (offline). Add `attestations` to require some.
pub(super) fn sigstore_key_authority(name: &str, key_pem: &str) -> Node {
    map([
        ("name", s(name)),
        ("key", map([("hashAlgorithm", s("sha256")), ("data", s(key_pem))])),
    ])
}

/// Kyverno: the same check; Kyverno needs the transparency log and SCT checks turned off
/// explicitly, and a Rekor URL it will not contact.
pub(super) fn kyverno_policy(registry: &str, key_pem: &str) -> Node {
    kyverno_pod_policy(
        "sealift-verify-images",
        "signed-by-bundle-key",
        map([
            ("imageReferences", seq([s(&format!("{registry}/*"))])),
            ("required", Node::Bool(true)),
            ("verifyDigest", Node::Bool(true)),
            ("mutateDigest", Node::Bool(false)),
            ("attestors", kyverno_key_attestors(key_pem)),
        ]),
    )
}

/// A Kyverno ClusterPolicy, enforced at admission only, with one `verifyImages` rule on Pods.
/// Only fields the v1.19 CRD does not mark deprecated: the failure action per `verifyImages`
/// entry, the webhook timeout under `webhookConfiguration`.
pub(super) fn kyverno_pod_policy(name: &str, rule: &str, mut verify: Node) -> Node {
    if let Node::Map(entries) = &mut verify {
        entries.insert("failureAction", s("Enforce"));
    }
    map([
        ("apiVersion", s("kyverno.io/v1")),
        ("kind", s("ClusterPolicy")),
        ("metadata", meta(name, None)),
        (
            "spec",
            map([
                ("background", Node::Bool(false)),
                ("webhookConfiguration", map([("timeoutSeconds", Node::int(30))])),
                (
                    "rules",
                    seq([map([
                        ("name", s(rule)),
                        (
                            "match",
                            map([("any", seq([map([("resources", map([("kinds", seq([s("Pod")]))]))])]))]),
                        ),
                        ("verifyImages", seq([verify])),
                    ])]),
                ),
            ]),
        ),
    ])
}

/// Kyverno attestors for one static key, offline: no transparency log, no SCT.
pub(super) fn kyverno_key_attestors(key_pem: &str) -> Node {
    seq([map([(
        "entries",
        seq([map([(
            "keys",
            map([
                ("publicKeys", s(key_pem)),
                (
                    "rekor",
                    map([("url", s("https://rekor.invalid")), ("ignoreTlog", Node::Bool(true))]),
                ),
                ("ctlog", map([("ignoreSCT", Node::Bool(true))])),
            ]),
        )])]),
    )])])
}

/// The API server's audit policy (a file for `--audit-policy-file`, not an API object):
/// metadata for secrets and tokens, requests for exec-like access and workload writes, full
/// bodies for changes to RBAC, admission and network policy.
pub(super) fn audit_policy() -> Node {
    let res = |group: &str, resources: &[&str]| map([("group", s(group)), ("resources", seq(resources.iter().map(|r| s(r))))]);
    let writes = || seq(["create", "update", "patch", "delete", "deletecollection"].map(s));
    map([
        ("apiVersion", s("audit.k8s.io/v1")),
        ("kind", s("Policy")),
        ("metadata", meta("sealift-audit-policy", None)),
        ("omitStages", seq([s("RequestReceived")])),
        ("omitManagedFields", Node::Bool(true)),
        (
            "rules",
            seq([
                map([
                    ("level", s("None")),
                    ("users", seq([s("system:kube-proxy")])),
                    ("verbs", seq([s("watch")])),
                    ("resources", seq([res("", &["endpoints", "services", "services/status"])])),
                ]),
                map([
                    ("level", s("None")),
                    ("nonResourceURLs", seq([s("/healthz*"), s("/livez*"), s("/readyz*"), s("/version")])),
                ]),
                map([
                    ("level", s("Metadata")),
                    (
                        "resources",
                        seq([
                            res("", &["secrets", "configmaps", "serviceaccounts/token"]),
                            res("authentication.k8s.io", &["tokenreviews"]),
                        ]),
                    ),
                ]),
                map([
                    ("level", s("Metadata")),
                    (
                        "resources",
                        seq([res(
                            "",
                            &[
                                "pods/exec",
                                "pods/attach",
                                "pods/portforward",
                                "pods/proxy",
                                "services/proxy",
                                "nodes/proxy",
                            ],
                        )]),
                    ),
                ]),
                map([
                    ("level", s("Request")),
                    ("resources", seq([res("", &["pods/ephemeralcontainers"])])),
                ]),
                map([
                    ("level", s("RequestResponse")),
                    ("verbs", writes()),
                    (
                        "resources",
                        seq([
                            res("rbac.authorization.k8s.io", &[]),
                            res("admissionregistration.k8s.io", &[]),
                            res("networking.k8s.io", &["networkpolicies"]),
                            res("", &["namespaces", "resourcequotas", "limitranges", "serviceaccounts"]),
                            res("certificates.k8s.io", &["certificatesigningrequests"]),
                            res("policy.sigstore.dev", &[]),
                            res("kyverno.io", &[]),
                        ]),
                    ),
                ]),
                map([
                    ("level", s("Request")),
                    ("verbs", writes()),
                    ("resources", seq([res("", &["pods"]), res("apps", &[]), res("batch", &[])])),
                ]),
                map([("level", s("Metadata"))]),
            ]),
        ),
    ])
}
