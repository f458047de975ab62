//! The types of the pod-template fields the hardener and the Pod Security evaluator read or
//! change (core/v1 PodSpec, Container, SecurityContext, as the Kubernetes API reference gives
//! them). An object with one of them of the wrong type (a container that is a string, a
//! `securityContext` that is a list, `privileged: "true"`) is refused before hardening: the API
//! server would reject it, and hardening it would mean guessing (a string `"true"` read as
//! not privileged, a list replaced by an empty mapping). `null` is the same as absent.

use super::yaml::{Map, Node};

/// What a field must hold.
#[derive(Debug, Clone, Copy)]
enum Want {
    Bool,
    /// A whole number (`80` or `80.0`: the YAML-to-JSON step gives both to the API as 80).
    Int,
    Str,
    /// A mapping of strings to strings (labels, annotations).
    StringMap,
    /// A mapping of resource names to quantities (a string, or a number).
    QuantityMap,
    /// A sequence of strings.
    Strings,
    /// A mapping whose listed fields have these types (others are not read).
    Map(&'static [(&'static str, Want)]),
    /// A sequence of such mappings.
    List(&'static [(&'static str, Want)]),
}

impl Want {
    fn name(self) -> &'static str {
        match self {
            Want::Bool => "a boolean",
            Want::Int => "a whole number",
            Want::Str => "a string",
            Want::StringMap => "a mapping of strings",
            Want::QuantityMap => "a mapping of quantities",
            Want::Strings => "a list of strings",
            Want::Map(_) => "a mapping",
            Want::List(_) => "a list of mappings",
        }
    }
}

const SECCOMP: &[(&str, Want)] = &[("type", Want::Str), ("localhostProfile", Want::Str)];
const SELINUX: &[(&str, Want)] = &[("type", Want::Str), ("user", Want::Str), ("role", Want::Str), ("level", Want::Str)];
const WINDOWS: &[(&str, Want)] = &[("hostProcess", Want::Bool)];
const CAPABILITIES: &[(&str, Want)] = &[("add", Want::Strings), ("drop", Want::Strings)];

const POD_SECURITY_CONTEXT: &[(&str, Want)] = &[
    ("runAsNonRoot", Want::Bool),
    ("runAsUser", Want::Int),
    ("runAsGroup", Want::Int),
    ("fsGroup", Want::Int),
    ("seccompProfile", Want::Map(SECCOMP)),
    ("appArmorProfile", Want::Map(SECCOMP)),
    ("seLinuxOptions", Want::Map(SELINUX)),
    ("windowsOptions", Want::Map(WINDOWS)),
    ("sysctls", Want::List(&[("name", Want::Str), ("value", Want::Str)])),
];

const CONTAINER_SECURITY_CONTEXT: &[(&str, Want)] = &[
    ("privileged", Want::Bool),
    ("allowPrivilegeEscalation", Want::Bool),
    ("readOnlyRootFilesystem", Want::Bool),
    ("runAsNonRoot", Want::Bool),
    ("runAsUser", Want::Int),
    ("runAsGroup", Want::Int),
    ("procMount", Want::Str),
    ("capabilities", Want::Map(CAPABILITIES)),
    ("seccompProfile", Want::Map(SECCOMP)),
    ("appArmorProfile", Want::Map(SECCOMP)),
    ("seLinuxOptions", Want::Map(SELINUX)),
    ("windowsOptions", Want::Map(WINDOWS)),
];

/// A probe or lifecycle handler: the fields that name a host.
const HANDLER: &[(&str, Want)] = &[
    ("httpGet", Want::Map(&[("host", Want::Str)])),
    ("tcpSocket", Want::Map(&[("host", Want::Str)])),
];

const CONTAINER: &[(&str, Want)] = &[
    ("name", Want::Str),
    ("image", Want::Str),
    ("securityContext", Want::Map(CONTAINER_SECURITY_CONTEXT)),
    (
        "resources",
        Want::Map(&[("requests", Want::QuantityMap), ("limits", Want::QuantityMap)]),
    ),
    ("ports", Want::List(&[("containerPort", Want::Int), ("hostPort", Want::Int)])),
    (
        "volumeMounts",
        Want::List(&[("name", Want::Str), ("mountPath", Want::Str), ("readOnly", Want::Bool)]),
    ),
    ("env", Want::List(&[("name", Want::Str), ("valueFrom", Want::Map(&[]))])),
    ("envFrom", Want::List(&[])),
    ("livenessProbe", Want::Map(HANDLER)),
    ("readinessProbe", Want::Map(HANDLER)),
    ("startupProbe", Want::Map(HANDLER)),
    (
        "lifecycle",
        Want::Map(&[("postStart", Want::Map(HANDLER)), ("preStop", Want::Map(HANDLER))]),
    ),
];

const POD_SPEC: &[(&str, Want)] = &[
    ("securityContext", Want::Map(POD_SECURITY_CONTEXT)),
    ("containers", Want::List(CONTAINER)),
    ("initContainers", Want::List(CONTAINER)),
    ("ephemeralContainers", Want::List(CONTAINER)),
    (
        "volumes",
        Want::List(&[
            ("name", Want::Str),
            ("hostPath", Want::Map(&[("path", Want::Str), ("type", Want::Str)])),
        ]),
    ),
    ("hostNetwork", Want::Bool),
    ("hostPID", Want::Bool),
    ("hostIPC", Want::Bool),
    ("hostUsers", Want::Bool),
    ("automountServiceAccountToken", Want::Bool),
    ("serviceAccountName", Want::Str),
    ("serviceAccount", Want::Str),
    ("os", Want::Map(&[("name", Want::Str)])),
];

/// Object metadata: what the hardener reads and changes in it.
const METADATA: &[(&str, Want)] = &[
    ("name", Want::Str),
    ("namespace", Want::Str),
    ("labels", Want::StringMap),
    ("annotations", Want::StringMap),
];

/// A pod template (`metadata` and `spec`), or a Pod itself.
const POD_TEMPLATE: &[(&str, Want)] = &[("metadata", Want::Map(METADATA)), ("spec", Want::Map(POD_SPEC))];

/// Check any object's `metadata` (every object has one, as a mapping).
pub(super) fn check_metadata(body: &Map) -> Result<(), String> {
    check_fields(body, &[("metadata", Want::Map(METADATA))], "")
}

/// Check the pod template at `path` in `body` (the fields on the way must be mappings, or
/// absent). `Err` is the first field of the wrong type: its path from the object's top
/// (`spec.template.spec.containers[0]`), what it holds and what it must hold.
pub(super) fn check_pod_template(body: &Map, path: &[&str]) -> Result<(), String> {
    let mut at = body;
    let mut where_ = String::new();
    for key in path {
        join(&mut where_, key);
        match at.get(key) {
            None | Some(Node::Null) => return Ok(()),
            Some(Node::Map(m)) => at = m,
            Some(other) => return Err(wrong(&where_, other, Want::Map(&[]).name())),
        }
    }
    check_fields(at, POD_TEMPLATE, &where_)
}

fn join(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn wrong(path: &str, found: &Node, want: &str) -> String {
    let found = match found {
        Node::Null => "null",
        Node::Bool(_) => "a boolean",
        Node::Num(_) => "a number",
        Node::Str(_) => "a string",
        Node::Seq(_) => "a list",
        Node::Map(_) => "a mapping",
    };
    format!("{path} is {found}, not {want}")
}

fn check_fields(map: &Map, fields: &[(&str, Want)], base: &str) -> Result<(), String> {
    for (key, want) in fields {
        let Some(node) = map.get(key) else { continue };
        let mut path = base.to_owned();
        join(&mut path, key);
        check(node, *want, &path)?;
    }
    Ok(())
}

fn check(node: &Node, want: Want, path: &str) -> Result<(), String> {
    match (want, node) {
        (_, Node::Null) | (Want::Bool, Node::Bool(_)) | (Want::Str, Node::Str(_)) => Ok(()),
        (Want::Int, Node::Num(_)) if node.as_i64().is_some() => Ok(()),
        (Want::StringMap | Want::QuantityMap, Node::Map(m)) => {
            for (key, value) in m.iter() {
                let fits = match want {
                    Want::StringMap => matches!(value, Node::Str(_)),
                    _ => matches!(value, Node::Str(_) | Node::Num(_)),
                };
                if !fits {
                    let each = if matches!(want, Want::StringMap) {
                        "a string"
                    } else {
                        "a quantity"
                    };
                    return Err(wrong(&format!("{path}.{key}"), value, each));
                }
            }
            Ok(())
        }
        (Want::Strings, Node::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !matches!(item, Node::Str(_)) {
                    return Err(wrong(&format!("{path}[{i}]"), item, Want::Str.name()));
                }
            }
            Ok(())
        }
        (Want::Map(fields), Node::Map(m)) => check_fields(m, fields, path),
        (Want::List(fields), Node::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("{path}[{i}]");
                match item {
                    Node::Map(m) => check_fields(m, fields, &at)?,
                    other => return Err(wrong(&at, other, Want::Map(&[]).name())),
                }
            }
            Ok(())
        }
        (want, other) => Err(wrong(path, other, want.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harden::yaml::parse_documents;

    fn check_yaml(text: &str) -> Result<(), String> {
        let docs = parse_documents(text).unwrap();
        check_pod_template(docs[0].as_map().unwrap(), &["spec", "template"])
    }

    #[test]
    fn a_well_typed_template_passes() {
        let text = "spec:\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n      containers:\n        - name: a\n          image: x\n          securityContext: {privileged: false, capabilities: {drop: [ALL]}}\n          ports: [{containerPort: 80}]\n          env: null\n";
        assert_eq!(check_yaml(text), Ok(()));
        assert_eq!(check_yaml("spec: {}\n"), Ok(()));
        // Integral floats are whole numbers (the API gets them as such); quantities may be numbers.
        let text =
            "spec: {template: {spec: {securityContext: {runAsUser: 0.0}, containers: [{resources: {limits: {cpu: 1, memory: 1Gi}}}]}}}\n";
        assert_eq!(check_yaml(text), Ok(()));
        // Integral floats are whole numbers (the API gets them as such), quantities may be numbers.
        let text =
            "spec: {template: {spec: {securityContext: {runAsUser: 0.0}, containers: [{resources: {limits: {cpu: 1, memory: 1Gi}}}]}}}\n";
        assert_eq!(check_yaml(text), Ok(()));
    }

    #[test]
    fn each_kind_of_wrong_type_names_its_path() {
        let cases = [
            ("spec: {template: []}\n", "spec.template is a list, not a mapping"),
            (
                "spec: {template: {spec: {containers: [x]}}}\n",
                "spec.template.spec.containers[0] is a string, not a mapping",
            ),
            (
                "spec: {template: {spec: {containers: [{name: a, securityContext: {privileged: \"true\"}}]}}}\n",
                "spec.template.spec.containers[0].securityContext.privileged is a string, not a boolean",
            ),
            (
                "spec: {template: {spec: {initContainers: [{securityContext: {capabilities: {add: [1]}}}]}}}\n",
                "spec.template.spec.initContainers[0].securityContext.capabilities.add[0] is a number, not a string",
            ),
            (
                "spec: {template: {spec: {hostNetwork: yes please}}}\n",
                "spec.template.spec.hostNetwork is a string, not a boolean",
            ),
            (
                "spec: {template: {spec: {volumes: {a: b}}}}\n",
                "spec.template.spec.volumes is a mapping, not a list of mappings",
            ),
            (
                "spec: {template: {metadata: {annotations: [a]}}}\n",
                "spec.template.metadata.annotations is a list, not a mapping of strings",
            ),
            (
                "spec: {template: {metadata: {annotations: {container.apparmor.security.beta.kubernetes.io/a: 1}}}}\n",
                "spec.template.metadata.annotations.container.apparmor.security.beta.kubernetes.io/a is a number, not a string",
            ),
            (
                "spec: {template: {spec: {containers: [{resources: {limits: {cpu: [1]}}}]}}}\n",
                "spec.template.spec.containers[0].resources.limits.cpu is a list, not a quantity",
            ),
            (
                "spec: {template: {spec: {securityContext: {runAsUser: 1.5}}}}\n",
                "spec.template.spec.securityContext.runAsUser is a number, not a whole number",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(check_yaml(text), Err(want.to_owned()), "{text}");
        }
    }
}
