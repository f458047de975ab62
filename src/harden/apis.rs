//! Which Kubernetes API versions a target release serves.
//!
//! [`DEPRECATIONS`] holds every group/version/kind the Kubernetes deprecated API migration
//! guide (<https://kubernetes.io/docs/reference/using-api/deprecation-guide/>) lists as removed
//! from v1.16 to v1.32: the release that deprecated it, the release that stopped serving it,
//! and what replaces it with the release that replacement is served from. [`SERVED_SINCE`]
//! holds the versions that arrived after v1.25, the oldest target sealift knows. Both are checked
//! against the OpenAPI schemas kubernetes-validate ships for v1.25 to v1.37 (tests/it/apis.rs).

use super::pss::KubeVersion;

/// How an object of a removed version becomes one of its replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migration {
    /// Same fields: only `apiVersion` changes.
    Rename,
    /// Event to `events.k8s.io/v1`: `type` is Normal or Warning, `action`, `reason`,
    /// `reportingController` and `reportingInstance` are required, and the `deprecated*`
    /// fields cannot be written.
    Event,
    /// Deployment, DaemonSet, StatefulSet, ReplicaSet to `apps/v1`: `spec.selector` becomes
    /// required, `spec.rollbackTo` and `spec.templateGeneration` are gone, some defaults differ.
    Workload,
    /// Ingress to `networking.k8s.io/v1`: backend fields restructured, `pathType` required.
    Ingress,
    /// PodDisruptionBudget to `policy/v1`: an empty selector now selects every pod.
    PodDisruptionBudget,
    /// HorizontalPodAutoscaler `autoscaling/v2beta1` to `v2`: metric targets restructured.
    HorizontalPodAutoscaler,
    /// EndpointSlice to `discovery.k8s.io/v1`: `topology` becomes `nodeName` and `zone`.
    EndpointSlice,
    /// Admission webhooks to `v1`: defaults made explicit, `sideEffects` must be None or
    /// NoneOnDryRun.
    AdmissionWebhook,
    /// CustomResourceDefinition to `apiextensions.k8s.io/v1`: per-version schemas, which must
    /// be structural.
    CustomResourceDefinition,
    /// CertificateSigningRequest to `certificates.k8s.io/v1`: `signerName` and `usages` required.
    CertificateSigningRequest,
    /// SubjectAccessReview and its kin to `v1`: `spec.group` is `spec.groups`.
    AccessReview,
    /// FlowSchema and PriorityLevelConfiguration: `assuredConcurrencyShares` is
    /// `nominalConcurrencyShares` from v1beta3 on.
    FlowControl,
    /// No mechanical conversion exists.
    Refuse,
}

/// One removed group/version and the kinds it served.
#[derive(Debug, PartialEq, Eq)]
pub struct Deprecation {
    /// `apiVersion` as written (`extensions/v1beta1`).
    pub api_version: &'static str,
    /// The kinds it served that the guide lists (`Deployment`, ...).
    pub kinds: &'static [&'static str],
    /// Minor version that deprecated it.
    pub deprecated: u32,
    /// Minor version that no longer serves it.
    pub removed: u32,
    /// Replacement `apiVersion`s, preferred first, each with the minor it is served from.
    pub replacements: &'static [(&'static str, u32)],
    /// How an object moves to a replacement ([`Migration::Refuse`]: it cannot).
    pub migration: Migration,
    /// What to use once no replacement `apiVersion` is served (PodSecurityPolicy: Pod
    /// Security admission); empty when a replacement always is.
    pub instead: &'static str,
}

const fn entry(
    api_version: &'static str,
    kinds: &'static [&'static str],
    deprecated: u32,
    removed: u32,
    replacements: &'static [(&'static str, u32)],
    migration: Migration,
) -> Deprecation {
    Deprecation {
        api_version,
        kinds,
        deprecated,
        removed,
        replacements,
        migration,
        instead: "",
    }
}

const WORKLOADS: &[&str] = &["Deployment", "DaemonSet", "StatefulSet", "ReplicaSet"];
const EXTENSIONS_WORKLOADS: &[&str] = &["Deployment", "DaemonSet", "ReplicaSet"];
const APPS_V1: &[(&str, u32)] = &[("apps/v1", 9)];
const INGRESS_V1: &[(&str, u32)] = &[("networking.k8s.io/v1", 19)];
const FLOWCONTROL: &[&str] = &["FlowSchema", "PriorityLevelConfiguration"];
const PSA: &str = "Pod Security admission: the pod-security.kubernetes.io labels sealift writes on every namespace it owns";

/// The removed APIs, by the release that removed them (the guide's sections).
pub const DEPRECATIONS: &[Deprecation] = &[
    // v1.16
    entry("extensions/v1beta1", EXTENSIONS_WORKLOADS, 9, 16, APPS_V1, Migration::Workload),
    entry(
        "apps/v1beta1",
        &["Deployment", "StatefulSet", "ReplicaSet"],
        9,
        16,
        APPS_V1,
        Migration::Workload,
    ),
    entry("apps/v1beta2", WORKLOADS, 9, 16, APPS_V1, Migration::Workload),
    entry(
        "extensions/v1beta1",
        &["NetworkPolicy"],
        9,
        16,
        &[("networking.k8s.io/v1", 8)],
        Migration::Rename,
    ),
    Deprecation {
        instead: PSA,
        ..entry(
            "extensions/v1beta1",
            &["PodSecurityPolicy"],
            11,
            16,
            &[("policy/v1beta1", 10)],
            Migration::Rename,
        )
    },
    // v1.22
    entry(
        "admissionregistration.k8s.io/v1beta1",
        &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"],
        16,
        22,
        &[("admissionregistration.k8s.io/v1", 16)],
        Migration::AdmissionWebhook,
    ),
    entry(
        "apiextensions.k8s.io/v1beta1",
        &["CustomResourceDefinition"],
        16,
        22,
        &[("apiextensions.k8s.io/v1", 16)],
        Migration::CustomResourceDefinition,
    ),
    entry(
        "apiregistration.k8s.io/v1beta1",
        &["APIService"],
        19,
        22,
        &[("apiregistration.k8s.io/v1", 10)],
        Migration::Rename,
    ),
    entry(
        "authentication.k8s.io/v1beta1",
        &["TokenReview"],
        19,
        22,
        &[("authentication.k8s.io/v1", 6)],
        Migration::Rename,
    ),
    entry(
        "authorization.k8s.io/v1beta1",
        &["SubjectAccessReview", "LocalSubjectAccessReview", "SelfSubjectAccessReview"],
        19,
        22,
        &[("authorization.k8s.io/v1", 6)],
        Migration::AccessReview,
    ),
    entry(
        "certificates.k8s.io/v1beta1",
        &["CertificateSigningRequest"],
        19,
        22,
        &[("certificates.k8s.io/v1", 19)],
        Migration::CertificateSigningRequest,
    ),
    entry(
        "coordination.k8s.io/v1beta1",
        &["Lease"],
        19,
        22,
        &[("coordination.k8s.io/v1", 14)],
        Migration::Rename,
    ),
    entry("extensions/v1beta1", &["Ingress"], 14, 22, INGRESS_V1, Migration::Ingress),
    entry("networking.k8s.io/v1beta1", &["Ingress"], 19, 22, INGRESS_V1, Migration::Ingress),
    entry(
        "networking.k8s.io/v1beta1",
        &["IngressClass"],
        19,
        22,
        INGRESS_V1,
        Migration::Rename,
    ),
    entry(
        "rbac.authorization.k8s.io/v1beta1",
        &["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"],
        17,
        22,
        &[("rbac.authorization.k8s.io/v1", 8)],
        Migration::Rename,
    ),
    entry(
        "scheduling.k8s.io/v1beta1",
        &["PriorityClass"],
        14,
        22,
        &[("scheduling.k8s.io/v1", 14)],
        Migration::Rename,
    ),
    entry(
        "storage.k8s.io/v1beta1",
        &["CSIDriver"],
        19,
        22,
        &[("storage.k8s.io/v1", 19)],
        Migration::Rename,
    ),
    entry(
        "storage.k8s.io/v1beta1",
        &["CSINode"],
        19,
        22,
        &[("storage.k8s.io/v1", 17)],
        Migration::Rename,
    ),
    entry(
        "storage.k8s.io/v1beta1",
        &["StorageClass"],
        19,
        22,
        &[("storage.k8s.io/v1", 6)],
        Migration::Rename,
    ),
    entry(
        "storage.k8s.io/v1beta1",
        &["VolumeAttachment"],
        19,
        22,
        &[("storage.k8s.io/v1", 13)],
        Migration::Rename,
    ),
    // v1.25
    entry("batch/v1beta1", &["CronJob"], 21, 25, &[("batch/v1", 21)], Migration::Rename),
    entry(
        "discovery.k8s.io/v1beta1",
        &["EndpointSlice"],
        21,
        25,
        &[("discovery.k8s.io/v1", 21)],
        Migration::EndpointSlice,
    ),
    entry(
        "events.k8s.io/v1beta1",
        &["Event"],
        19,
        25,
        &[("events.k8s.io/v1", 19)],
        Migration::Event,
    ),
    entry(
        "autoscaling/v2beta1",
        &["HorizontalPodAutoscaler"],
        22,
        25,
        &[("autoscaling/v2", 23)],
        Migration::HorizontalPodAutoscaler,
    ),
    entry(
        "policy/v1beta1",
        &["PodDisruptionBudget"],
        21,
        25,
        &[("policy/v1", 21)],
        Migration::PodDisruptionBudget,
    ),
    Deprecation {
        instead: PSA,
        ..entry("policy/v1beta1", &["PodSecurityPolicy"], 21, 25, &[], Migration::Refuse)
    },
    entry(
        "node.k8s.io/v1beta1",
        &["RuntimeClass"],
        20,
        25,
        &[("node.k8s.io/v1", 20)],
        Migration::Rename,
    ),
    // v1.26
    entry(
        "flowcontrol.apiserver.k8s.io/v1beta1",
        FLOWCONTROL,
        23,
        26,
        &[
            ("flowcontrol.apiserver.k8s.io/v1", 29),
            ("flowcontrol.apiserver.k8s.io/v1beta3", 26),
            ("flowcontrol.apiserver.k8s.io/v1beta2", 23),
        ],
        Migration::FlowControl,
    ),
    entry(
        "autoscaling/v2beta2",
        &["HorizontalPodAutoscaler"],
        23,
        26,
        &[("autoscaling/v2", 23)],
        Migration::Rename,
    ),
    // v1.27
    entry(
        "storage.k8s.io/v1beta1",
        &["CSIStorageCapacity"],
        24,
        27,
        &[("storage.k8s.io/v1", 24)],
        Migration::Rename,
    ),
    // v1.29
    entry(
        "flowcontrol.apiserver.k8s.io/v1beta2",
        FLOWCONTROL,
        26,
        29,
        &[
            ("flowcontrol.apiserver.k8s.io/v1", 29),
            ("flowcontrol.apiserver.k8s.io/v1beta3", 26),
        ],
        Migration::FlowControl,
    ),
    // v1.32
    entry(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        FLOWCONTROL,
        29,
        32,
        &[("flowcontrol.apiserver.k8s.io/v1", 29)],
        Migration::FlowControl,
    ),
];

/// Versions first served after v1.25, the oldest target: `(apiVersion, kinds, minor)`.
pub const SERVED_SINCE: &[(&str, &[&str], u32)] = &[
    ("flowcontrol.apiserver.k8s.io/v1beta3", FLOWCONTROL, 26),
    ("flowcontrol.apiserver.k8s.io/v1", FLOWCONTROL, 29),
    (
        "admissionregistration.k8s.io/v1",
        &["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"],
        30,
    ),
    (
        "admissionregistration.k8s.io/v1",
        &["MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"],
        36,
    ),
    ("networking.k8s.io/v1", &["IPAddress", "ServiceCIDR"], 33),
    ("storage.k8s.io/v1", &["VolumeAttributesClass"], 34),
    (
        "resource.k8s.io/v1",
        &["DeviceClass", "ResourceClaim", "ResourceClaimTemplate", "ResourceSlice"],
        34,
    ),
    ("authentication.k8s.io/v1", &["SelfSubjectReview"], 28),
    ("certificates.k8s.io/v1", &["ClusterTrustBundle", "PodCertificateRequest"], 37),
    ("resource.k8s.io/v1", &["DeviceTaintRule"], 37),
    ("storagemigration.k8s.io/v1", &["StorageVersionMigration"], 37),
];

/// The API groups Kubernetes itself serves (`""` is the core group). Other groups, even ones
/// ending in `.k8s.io` such as `gateway.networking.k8s.io`, come from CRDs or aggregated APIs.
pub const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// What the target release does with an object's `apiVersion` and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiStatus {
    /// Served (a GA version of a built-in group, a beta the table lists before it is
    /// deprecated, or a custom resource).
    Served,
    /// Still served, but deprecated: the release that removes it is in the entry.
    Deprecated(&'static Deprecation),
    /// Not served any more.
    Removed(&'static Deprecation),
    /// A version the target is too old to serve; the minor that first serves it.
    NotYet(u32),
    /// A built-in group's alpha or beta version the table does not list: alpha versions, and
    /// betas added since v1.24, are off unless the cluster enables them; older ones (such as
    /// `batch/v2alpha1`) were removed outright. sealift cannot tell which, so it refuses the
    /// object unless a `V03` exception says the site serves it.
    NotByDefault,
}

/// The group of an `apiVersion` (`""` for the core group's `v1`).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// The status of `apiVersion`/`kind` at `target`.
pub fn status(api_version: &str, kind: &str, target: KubeVersion) -> ApiStatus {
    if let Some((_, _, since)) = SERVED_SINCE.iter().find(|(v, kinds, _)| *v == api_version && kinds.contains(&kind))
        && target.0 < *since
    {
        return ApiStatus::NotYet(*since);
    }
    if let Some(d) = lookup(api_version, kind) {
        return if target.0 >= d.removed {
            ApiStatus::Removed(d)
        } else if target.0 >= d.deprecated {
            ApiStatus::Deprecated(d)
        } else {
            ApiStatus::Served
        };
    }
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    let ga = version
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if BUILTIN_GROUPS.contains(&group_of(api_version)) && !ga {
        ApiStatus::NotByDefault
    } else {
        ApiStatus::Served
    }
}

/// The table entry for `apiVersion`/`kind`, if it was deprecated.
pub fn lookup(api_version: &str, kind: &str) -> Option<&'static Deprecation> {
    DEPRECATIONS
        .iter()
        .find(|d| d.api_version == api_version && d.kinds.contains(&kind))
}

impl Deprecation {
    /// The replacement `apiVersion` to migrate `kind` to at `target`: the first one served
    /// there and not itself removed there.
    pub fn replacement_at(&self, kind: &str, target: KubeVersion) -> Option<&'static str> {
        self.replacements
            .iter()
            .find(|(v, since)| target.0 >= *since && lookup(v, kind).is_none_or(|d| target.0 < d.removed))
            .map(|(v, _)| *v)
    }

    /// What replaces it, for messages: the replacement `apiVersion`s, then [`Self::instead`].
    pub fn replaced_by(&self) -> String {
        let versions = self.replacements.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(" or ");
        match (versions.is_empty(), self.instead.is_empty()) {
            (true, _) => self.instead.to_string(),
            (false, true) => versions,
            (false, false) => format!("{versions}, and after it {}", self.instead),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_order_and_every_replacement_outlives_what_it_replaces() {
        let mut seen = std::collections::BTreeSet::new();
        for d in DEPRECATIONS {
            assert!(d.deprecated < d.removed, "{}: deprecated after removal", d.api_version);
            assert!(
                (16..=32).contains(&d.removed),
                "{}: removal outside the guide's range",
                d.api_version
            );
            assert!(BUILTIN_GROUPS.contains(&group_of(d.api_version)), "{}", d.api_version);
            assert_eq!(
                d.replacements.is_empty(),
                d.migration == Migration::Refuse,
                "{}: a replacement exactly when it migrates",
                d.api_version
            );
            assert!(
                !d.replacements.is_empty() || !d.instead.is_empty(),
                "{}: says what replaces it",
                d.api_version
            );
            for kind in d.kinds {
                assert!(seen.insert((d.api_version, *kind)), "{} {kind} listed twice", d.api_version);
                // One replacement is served before the old one stops being served...
                assert!(
                    d.replacements.is_empty() || d.replacements.iter().any(|(_, since)| *since <= d.removed),
                    "{} {kind}: every replacement arrives after the removal",
                    d.api_version
                );
                for (to, _) in d.replacements {
                    assert_ne!(*to, d.api_version);
                    // ... and none is removed at the same release (or earlier).
                    if let Some(r) = lookup(to, kind) {
                        assert!(r.removed > d.removed, "{} {kind}: {to} is removed too", d.api_version);
                    }
                }
                // Every target that no longer serves it has somewhere to go, unless the entry
                // says what to use instead.
                if d.instead.is_empty() {
                    for minor in KubeVersion::OLDEST.0.max(d.removed)..=KubeVersion::NEWEST.0 {
                        assert!(
                            d.replacement_at(kind, KubeVersion(minor)).is_some(),
                            "{} {kind} has no replacement at v1.{minor}",
                            d.api_version
                        );
                    }
                }
            }
        }
        // Ordered by the release that removed them, as the guide is.
        assert!(DEPRECATIONS.windows(2).all(|w| w[0].removed <= w[1].removed));
    }

    #[test]
    fn status_follows_the_target() {
        let v = KubeVersion;
        assert!(matches!(status("extensions/v1beta1", "Deployment", v(25)), ApiStatus::Removed(_)));
        assert!(matches!(status("autoscaling/v2beta2", "HorizontalPodAutoscaler", v(25)), ApiStatus::Deprecated(d) if d.removed == 26));
        assert!(matches!(
            status("autoscaling/v2beta2", "HorizontalPodAutoscaler", v(26)),
            ApiStatus::Removed(_)
        ));
        assert!(matches!(
            status("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", v(25)),
            ApiStatus::Served
        ));
        assert_eq!(
            status("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", v(25)),
            ApiStatus::NotYet(26)
        );
        assert_eq!(
            status("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", v(28)),
            ApiStatus::NotYet(29)
        );
        assert_eq!(status("apps/v1", "Deployment", v(25)), ApiStatus::Served);
        assert_eq!(status("apps/v1beta3", "Deployment", v(35)), ApiStatus::NotByDefault);
        assert_eq!(status("gateway.networking.k8s.io/v1beta1", "HTTPRoute", v(35)), ApiStatus::Served);
        // flowcontrol v1beta1 goes to v1beta3 until v1 is served.
        let d = lookup("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema").unwrap();
        assert_eq!(d.replacement_at("FlowSchema", v(27)), Some("flowcontrol.apiserver.k8s.io/v1beta3"));
        assert_eq!(d.replacement_at("FlowSchema", v(29)), Some("flowcontrol.apiserver.k8s.io/v1"));
    }
}
