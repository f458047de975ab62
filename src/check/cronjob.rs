//! `check --print-cronjob`: the Kubernetes objects that run `sealift check` on a schedule, on
//! the cluster itself: a CronJob whose Job is Indexed (`completionMode: Indexed`), one pod per
//! shard running `check --shard $(JOB_COMPLETION_INDEX)/N`; with several shards a second
//! CronJob that merges and signs the parts; and a NetworkPolicy that lets the pods reach only
//! the registry and DNS. The pods meet Pod Security `restricted` and sealift's own hardening:
//! non-root, read-only root file system, no capabilities, no service-account token, seccomp
//! `RuntimeDefault`, requests and limits. Bundles come read-only from a volume, the keys from a
//! Secret, registry credentials (and the report key's passphrase) from a Secret, and reports
//! and state go to a volume of their own.

use serde_json::{Value, json};

use crate::harden::yaml;

/// What the objects need to know.
#[derive(Debug, Clone)]
pub struct CronJobSpec {
    /// Namespace of every object.
    pub namespace: String,
    /// Cron schedule of the check (`0 3 * * *`).
    pub schedule: String,
    /// Cron schedule of the merge, when there are several shards.
    pub merge_schedule: Option<String>,
    /// Shards (pods) per run.
    pub shards: u32,
    /// The sealift image, pinned by digest.
    pub image: String,
    /// The registry to check, `HOST[:PORT]`.
    pub registry: String,
    /// Bundle file names in the bundles volume.
    pub bundles: Vec<String>,
    /// Public key file names in the keys Secret.
    pub keys: Vec<String>,
    /// The trust policy's file name in the keys Secret (its `path:` entries must name files
    /// there too, relative to it).
    pub trust: Option<String>,
    /// The report-signing key's file name in the keys Secret.
    pub report_key: Option<String>,
    /// Keep state between runs (`--state` on the reports volume).
    pub state: bool,
    /// Extra `check` flags (`--deep`, `--vuln-db /bundles/vulndb`, …).
    pub extra: Vec<String>,
}

const NAME: &str = "sealift-check";
const USER: u32 = 65532;

/// Errors in the request.
#[derive(Debug, thiserror::Error)]
pub enum CronJobError {
    #[error("{0}")]
    Invalid(String),
}

/// The objects, as one YAML stream.
pub fn render(spec: &CronJobSpec) -> Result<String, CronJobError> {
    let invalid = |m: &str| Err(CronJobError::Invalid(m.to_owned()));
    if spec.shards == 0 || spec.shards > 1000 {
        return invalid("--shards must be 1 to 1000");
    }
    if spec.shards > 1 && spec.merge_schedule.is_none() {
        return invalid("several shards need --merge-schedule: when to merge and sign their reports");
    }
    if !spec.image.contains("@sha256:") {
        return invalid("--image must be pinned by digest (name@sha256:…): a tag could move under the job");
    }
    if spec.bundles.is_empty() || (spec.keys.is_empty() && spec.trust.is_none()) {
        return invalid("at least one --bundle, and --key or --trust, are needed");
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in spec.bundles.iter().chain(&spec.keys).chain(&spec.trust).chain(&spec.report_key) {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return invalid(&format!("`{name}`: give file names in the volume, not paths"));
        }
        if !seen.insert(name) {
            return invalid(&format!(
                "two files are named `{name}`: in the job they share one volume or Secret, so give them different names"
            ));
        }
    }
    let mut docs = vec![check_cronjob(spec), network_policy(spec)];
    if spec.shards > 1 {
        docs.push(merge_cronjob(spec));
    }
    let text = docs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n---\n");
    let nodes = yaml::parse_documents(&text).map_err(|e| CronJobError::Invalid(e.to_string()))?;
    Ok(yaml::emit_documents(&nodes))
}

fn labels(component: &str) -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": component})
}

/// A restricted, read-only, token-less pod running `args`.
fn pod(spec: &CronJobSpec, component: &str, args: Vec<String>, env: Vec<Value>) -> Value {
    json!({
        "metadata": {"labels": labels(component)},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": USER,
                "runAsGroup": USER,
                "fsGroup": USER,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [{
                "name": component,
                "image": spec.image,
                "args": args,
                "env": env,
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "runAsNonRoot": true,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "resources": {
                    "requests": {"cpu": "250m", "memory": "256Mi"},
                    "limits": {"cpu": "1", "memory": "512Mi"},
                },
                "volumeMounts": [
                    {"name": "bundles", "mountPath": "/bundles", "readOnly": true},
                    {"name": "keys", "mountPath": "/keys", "readOnly": true},
                    {"name": "reports", "mountPath": "/reports"},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }],
            "volumes": [
                {"name": "bundles", "persistentVolumeClaim": {"claimName": "sealift-bundles", "readOnly": true}},
                {"name": "keys", "secret": {"secretName": "sealift-keys"}},
                {"name": "reports", "persistentVolumeClaim": {"claimName": "sealift-check-reports"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
            ],
        },
    })
}

fn secret_env(name: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": "sealift-registry", "key": key}}})
}

fn check_cronjob(spec: &CronJobSpec) -> Value {
    let n = spec.shards;
    let mut args: Vec<String> = vec!["check".into(), "--registry".into(), spec.registry.clone()];
    for b in &spec.bundles {
        args.extend(["--bundle".into(), format!("/bundles/{b}")]);
    }
    for k in &spec.keys {
        args.extend(["--key".into(), format!("/keys/{k}")]);
    }
    if let Some(t) = &spec.trust {
        args.extend(["--trust".into(), format!("/keys/{t}")]);
    }
    // The Job controller sets JOB_COMPLETION_INDEX in every pod of an Indexed Job.
    let part = if n > 1 {
        "part-$(JOB_COMPLETION_INDEX)".to_owned()
    } else {
        "report".to_owned()
    };
    if spec.state {
        args.extend(["--state".into(), format!("/reports/state-{part}")]);
    }
    args.extend(["-o".into(), format!("/reports/{part}.json")]);
    // The root filesystem is read-only: the audit log lives with the reports, one per shard
    // so pods on different nodes never share a file lock.
    args.extend(["--audit-log".into(), format!("/reports/audit-{part}.log")]);
    if n > 1 {
        args.extend(["--shard".into(), format!("$(JOB_COMPLETION_INDEX)/{n}")]);
    } else if let Some(k) = &spec.report_key {
        args.extend(["--report-key".into(), format!("/keys/{k}")]);
    }
    args.extend(spec.extra.iter().cloned());
    let mut env = vec![
        secret_env("SEALIFT_REGISTRY_USERNAME", "username"),
        secret_env("SEALIFT_REGISTRY_PASSWORD", "password"),
    ];
    if n == 1 && spec.report_key.is_some() {
        env.push(secret_env("SEALIFT_PASSWORD", "report-key-passphrase"));
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": NAME, "namespace": spec.namespace, "labels": labels("check")},
        "spec": {
            "schedule": spec.schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {
                "completionMode": "Indexed",
                "completions": n,
                "parallelism": n,
                "backoffLimitPerIndex": 2,
                "maxFailedIndexes": n,
                // Exit 1 (findings) and 2 (cannot check) are answers: running the shard again
                // would give the same one. Only a crash or an eviction is retried.
                "podFailurePolicy": {"rules": [
                    {"action": "FailIndex", "onExitCodes": {"containerName": "check", "operator": "In", "values": [1, 2]}},
                ]},
                "activeDeadlineSeconds": 6 * 3600,
                "ttlSecondsAfterFinished": 7 * 86400,
                "template": pod(spec, "check", args, env),
            }},
        },
    })
}

fn merge_cronjob(spec: &CronJobSpec) -> Value {
    let mut args: Vec<String> = vec!["check".into(), "merge".into()];
    args.extend((0..spec.shards).map(|i| format!("/reports/part-{i}.json")));
    args.extend(["-o".into(), "/reports/report.json".into()]);
    let mut env = Vec::new();
    if let Some(k) = &spec.report_key {
        args.extend(["--report-key".into(), format!("/keys/{k}")]);
        env.push(secret_env("SEALIFT_PASSWORD", "report-key-passphrase"));
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": format!("{NAME}-merge"), "namespace": spec.namespace, "labels": labels("merge")},
        "spec": {
            "schedule": spec.merge_schedule,
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {
                "backoffLimit": 2,
                "activeDeadlineSeconds": 3600,
                "ttlSecondsAfterFinished": 7 * 86400,
                "template": pod(spec, "merge", args, env),
            }},
        },
    })
}

/// Egress to the registry's port and to DNS only; no ingress at all.
fn network_policy(spec: &CronJobSpec) -> Value {
    let (host, port) = match spec.registry.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']')) => (h, p.parse::<u16>().unwrap_or(443)),
        _ => (spec.registry.as_str(), 443),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut to = json!({"ports": [{"protocol": "TCP", "port": port}]});
    if host.parse::<std::net::IpAddr>().is_ok() {
        let prefix = if host.contains(':') { 128 } else { 32 };
        to["to"] = json!([{"ipBlock": {"cidr": format!("{host}/{prefix}")}}]);
    }
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": NAME, "namespace": spec.namespace, "labels": labels("check")},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "policyTypes": ["Ingress", "Egress"],
            "egress": [
                to,
                {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            ],
        },
    })
}
