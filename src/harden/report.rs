//! What hardening changed and what it left, with a reason for each.

use serde::{Deserialize, Serialize};

/// The rules sealift applies, from the merged table in research/hardening.md section 4.
pub const RULES: &[(&str, &str)] = &[
    ("W01", "no privileged containers"),
    ("W02", "no host namespaces"),
    ("W03", "no hostPath volumes"),
    ("W04", "no hostPort"),
    ("W05", "drop ALL capabilities, add at most NET_BIND_SERVICE"),
    ("W06", "allowPrivilegeEscalation: false"),
    ("W07", "run as a non-root numeric user"),
    ("W08", "UID and GID of 10000 or more"),
    ("W09", "seccomp RuntimeDefault"),
    ("W10", "AppArmor never Unconfined"),
    ("W11", "SELinux options from the allowed set"),
    ("W12", "procMount Default"),
    ("W13", "only safe sysctls"),
    ("W14", "no Windows hostProcess"),
    ("W15", "probes and lifecycle hooks without host"),
    ("W16", "only restricted volume types"),
    ("W17", "readOnlyRootFilesystem with emptyDirs for writable paths"),
    ("W18", "CPU and memory requests and limits"),
    ("W19", "no service account token unless the account is bound to a role"),
    ("W21", "image pinned by digest"),
    ("W23", "secrets as files, not environment variables"),
    ("W24", "liveness and readiness probes"),
    ("W25", "not in the default namespace"),
    ("R01", "no cluster-admin bindings"),
    ("R02", "no wildcards in RBAC rules"),
    ("R03", "minimal access to secrets"),
    ("R05", "no bind, escalate or impersonate"),
    ("R06", "no pods/exec, pods/attach, nodes/proxy"),
    ("R07", "no webhook configuration control or CSR approval"),
    ("C01", "Pod Security labels on owned namespaces"),
    (
        "V01",
        "only API versions the target Kubernetes serves: removed ones migrated or refused",
    ),
    ("V02", "images of kinds sealift does not model pinned (the kind is not hardened)"),
];

/// Why a finding was not fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// The image's config says it runs as root; forcing a UID may break it.
    ImageRunsAsRoot,
    /// No image config was available (to tell the image's user, or the paths it writes).
    ImageConfigUnknown,
    /// The image runs as a named user whose UID sealift does not know.
    ImageNamedUser,
    /// No image lock was given, so the reference stays unpinned.
    ImageNotPinned,
    /// The manifest explicitly asks for this (root user, writable root filesystem, ...).
    UpstreamSetting,
    /// The manifest pins a UID below 10000.
    UpstreamLowUid,
    /// The workload's service account is bound to a role: it uses the API.
    NeedsApiToken,
    /// Privileged, host namespaces or hostPath: node-level infrastructure.
    InfraPrivileged,
    /// The container adds a capability.
    AppNeedsCapability,
    /// A secret is passed in an environment variable.
    SecretEnvContract,
    /// Probes cannot be invented without knowing the application.
    NoProbeKnowledge,
    /// The volume type is outside the restricted set.
    RestrictedVolume,
    /// RBAC rules need a human review.
    RbacReview,
    /// Declared in `sealift.yaml` with a reason.
    UserException,
    /// The namespace is not the bundle's to configure (kube-system, default...).
    NotOwnedNamespace,
    /// Migrated to a served API version; a default or a meaning differs.
    ApiMigrated,
    /// The API version is deprecated: a later Kubernetes removes it.
    ApiDeprecated,
    /// The target does not serve this API version and no mechanical conversion exists: the
    /// object is refused.
    ApiNotServed,
    /// A kind sealift does not model: its images are pinned, nothing else is judged.
    KindUnknown,
}

impl Reason {
    /// The three categories: needs app knowledge, RBAC review, user exception.
    pub fn category(self) -> &'static str {
        match self {
            Reason::RbacReview | Reason::NeedsApiToken => "rbac review",
            Reason::UserException => "user exception",
            Reason::ImageNotPinned => "no image lock",
            Reason::NotOwnedNamespace => "not owned",
            Reason::ApiMigrated | Reason::ApiDeprecated | Reason::ApiNotServed => "api version",
            Reason::KindUnknown => "kind unknown",
            _ => "needs app knowledge",
        }
    }
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

/// One edit made to an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `Kind/namespace/name` (or `Kind/name`).
    pub object: String,
    /// Field path, e.g. `spec.template.spec.containers[app].securityContext.runAsNonRoot`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    pub rule: std::borrow::Cow<'static, str>,
}

/// Something left as it was, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub object: String,
    pub path: String,
    pub rule: String,
    pub severity: Severity,
    pub reason: Reason,
    pub detail: String,
}

/// The Pod Security level a workload's pod template meets after hardening.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadLevel {
    pub object: String,
    /// `restricted`, `baseline` or `privileged`.
    pub level: String,
    /// The restricted checks it still fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
}

/// A namespace the bundle owns, and the Pod Security level it enforces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamespacePlan {
    pub name: String,
    pub enforce: String,
    /// Why the level is lower than its evaluated workloads meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capped: Option<String>,
}

/// An object of a kind sealift does not model: its images pinned, nothing else judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotHardened {
    pub object: String,
    /// The images it names, as written after pinning (none for most custom resources).
    pub images: Vec<String>,
}

/// The whole hardening report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The target (`v1.NN`).
    pub kubernetes_version: String,
    /// The target came from no setting: it is sealift's default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kubernetes_version_defaulted: bool,
    pub objects_in: usize,
    pub objects_generated: usize,
    pub namespaces: Vec<NamespacePlan>,
    pub workloads: Vec<WorkloadLevel>,
    /// Objects of kinds sealift does not model: images pinned, not hardened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_hardened: Vec<NotHardened>,
    pub changes: Vec<Change>,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Workloads whose pod template does not meet restricted.
    pub fn below_restricted(&self) -> impl Iterator<Item = &WorkloadLevel> {
        self.workloads.iter().filter(|w| w.level != "restricted")
    }

    /// Objects refused because the target does not serve their API version: while there is
    /// one, the output must not be used.
    pub fn refused(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.reason == Reason::ApiNotServed)
    }
}
