//! The objects every namespace the bundle owns gets: Pod Security labels, a default-deny
//! NetworkPolicy with the allows the manifests imply, LimitRange, ResourceQuota and a `default`
//! ServiceAccount without a token.

use super::objects::MANAGED_BY;
use super::pss::KubeVersion;
use super::yaml::{Map, Node};
use crate::policy::hardening::ResourceDefaults;

/// Short constructors for generated objects.
pub(super) fn map<const N: usize>(entries: [(&str, Node); N]) -> Node {
    Node::Map(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}
pub(super) fn s(v: &str) -> Node {
    Node::str(v)
}
pub(super) fn seq(items: impl IntoIterator<Item = Node>) -> Node {
    Node::Seq(items.into_iter().collect())
}

/// Metadata of a generated object.
pub(super) fn meta(name: &str, namespace: Option<&str>) -> Node {
    let labels = map([(MANAGED_BY.0, s(MANAGED_BY.1))]);
    match namespace {
        Some(ns) => map([("name", s(name)), ("namespace", s(ns)), ("labels", labels)]),
        None => map([("name", s(name)), ("labels", labels)]),
    }
}

/// A Service's pods and the ports they serve.
#[derive(Debug, Clone)]
pub(super) struct ServiceInfo {
    pub name: String,
    pub selector: Map,
    /// `(protocol, targetPort)`; the port may be a name.
    pub ports: Vec<(String, Node)>,
    /// NodePort or LoadBalancer: reachable from outside the namespace.
    pub external: bool,
}

/// What the manifests say about one owned namespace.
#[derive(Debug, Clone, Default)]
pub(super) struct NamespaceFacts {
    pub services: Vec<ServiceInfo>,
    /// Pod template labels of workloads whose service account is bound to a role.
    pub api_clients: Vec<(String, Map)>,
    pub node_ports: usize,
    pub load_balancers: usize,
    pub claims: usize,
    /// The input already defines the `default` ServiceAccount.
    pub has_default_service_account: bool,
}

/// The Pod Security labels for a namespace enforcing `enforce` at `version`.
pub(super) fn pss_labels(enforce: &str, version: KubeVersion) -> Vec<(&'static str, String)> {
    vec![
        ("pod-security.kubernetes.io/enforce", enforce.to_string()),
        ("pod-security.kubernetes.io/enforce-version", version.to_string()),
        ("pod-security.kubernetes.io/audit", "restricted".into()),
        ("pod-security.kubernetes.io/audit-version", version.to_string()),
        ("pod-security.kubernetes.io/warn", "restricted".into()),
        ("pod-security.kubernetes.io/warn-version", version.to_string()),
    ]
}

/// The namespace-level objects, except the Namespace itself.
pub(super) fn objects(ns: &str, facts: &NamespaceFacts, defaults: &ResourceDefaults) -> Vec<Node> {
    let mut out = Vec::new();
    if !facts.has_default_service_account {
        out.push(map([
            ("apiVersion", s("v1")),
            ("kind", s("ServiceAccount")),
            ("metadata", meta("default", Some(ns))),
            ("automountServiceAccountToken", Node::Bool(false)),
        ]));
    }
    let policy = |name: &str, spec: Node| {
        map([
            ("apiVersion", s("networking.k8s.io/v1")),
            ("kind", s("NetworkPolicy")),
            ("metadata", meta(name, Some(ns))),
            ("spec", spec),
        ])
    };
    out.push(policy(
        "sealift-default-deny",
        map([("podSelector", map([])), ("policyTypes", seq([s("Ingress"), s("Egress")]))]),
    ));
    let dns_to = map([
        (
            "namespaceSelector",
            map([("matchLabels", map([("kubernetes.io/metadata.name", s("kube-system"))]))]),
        ),
        ("podSelector", map([("matchLabels", map([("k8s-app", s("kube-dns"))]))])),
    ]);
    let dns_ports = seq([
        map([("protocol", s("UDP")), ("port", Node::int(53))]),
        map([("protocol", s("TCP")), ("port", Node::int(53))]),
    ]);
    out.push(policy(
        "sealift-allow-dns",
        map([
            ("podSelector", map([])),
            ("policyTypes", seq([s("Egress")])),
            ("egress", seq([map([("to", seq([dns_to])), ("ports", dns_ports)])])),
        ]),
    ));
    let mut egress_rules = Vec::new();
    for svc in &facts.services {
        if svc.selector.is_empty() || svc.ports.is_empty() {
            continue;
        }
        let ports = seq(svc
            .ports
            .iter()
            .map(|(proto, port)| map([("protocol", s(proto)), ("port", port.clone())])));
        let mut rule = Map::new();
        if !svc.external {
            // ClusterIP Services: clients in this namespace only.
            rule.insert("from", seq([map([("podSelector", map([]))])]));
        }
        rule.insert("ports", ports.clone());
        out.push(policy(
            &format!("sealift-ingress-{}", svc.name),
            map([
                ("podSelector", map([("matchLabels", Node::Map(svc.selector.clone()))])),
                ("policyTypes", seq([s("Ingress")])),
                ("ingress", seq([Node::Map(rule)])),
            ]),
        ));
        egress_rules.push(map([
            (
                "to",
                seq([map([("podSelector", map([("matchLabels", Node::Map(svc.selector.clone()))]))])]),
            ),
            ("ports", ports),
        ]));
    }
    if !egress_rules.is_empty() {
        out.push(policy(
            "sealift-egress-services",
            map([
                ("podSelector", map([])),
                ("policyTypes", seq([s("Egress")])),
                ("egress", seq(egress_rules)),
            ]),
        ));
    }
    for (workload, labels) in &facts.api_clients {
        if labels.is_empty() {
            continue;
        }
        let ports = seq([
            map([("protocol", s("TCP")), ("port", Node::int(443))]),
            map([("protocol", s("TCP")), ("port", Node::int(6443))]),
        ]);
        out.push(policy(
            &format!("sealift-egress-apiserver-{workload}"),
            map([
                ("podSelector", map([("matchLabels", Node::Map(labels.clone()))])),
                ("policyTypes", seq([s("Egress")])),
                ("egress", seq([map([("ports", ports)])])),
            ]),
        ));
    }
    let cpu_mem = |c: &crate::policy::hardening::CpuMemory| map([("cpu", s(&c.cpu)), ("memory", s(&c.memory))]);
    out.push(map([
        ("apiVersion", s("v1")),
        ("kind", s("LimitRange")),
        ("metadata", meta("sealift-container-defaults", Some(ns))),
        (
            "spec",
            map([(
                "limits",
                seq([map([
                    ("type", s("Container")),
                    ("defaultRequest", cpu_mem(&defaults.requests)),
                    ("default", cpu_mem(&defaults.limits)),
                ])]),
            )]),
        ),
    ]));
    let count = |n: usize| s(&n.to_string());
    out.push(map([
        ("apiVersion", s("v1")),
        ("kind", s("ResourceQuota")),
        ("metadata", meta("sealift-quota", Some(ns))),
        (
            "spec",
            map([(
                "hard",
                map([
                    ("services.nodeports", count(facts.node_ports)),
                    ("services.loadbalancers", count(facts.load_balancers)),
                    ("persistentvolumeclaims", count(facts.claims.max(10))),
                    ("pods", s("100")),
                ]),
            )]),
        ),
    ]));
    out
}

/// A Namespace object for `ns`.
pub(super) fn namespace(ns: &str) -> Node {
    map([("apiVersion", s("v1")), ("kind", s("Namespace")), ("metadata", meta(ns, None))])
}

/// A name fragment safe inside a DNS-1123 object name.
pub(super) fn name_part(raw: &str) -> String {
    let mut out: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(40);
    out.trim_matches(['-', '.']).to_string()
}
