//! `harden:` in `sealift.yaml`: the site's choices for manifest hardening.
//!
//! ```yaml
//! harden:
//!   namespace: shop               # for namespaced objects with no namespace (or `default`)
//!   kubernetes-version: v1.33     # the Pod Security rule set to meet; default v1.35
//!   run-as-user: 10001            # opt-in: run images that would run as root as this UID
//!   force-read-only-root: false   # opt-in: read-only root even where the image config is unknown
//!   resources:                    # filled in only where a container sets none
//!     requests: {cpu: 100m, memory: 128Mi}
//!     limits: {cpu: "1", memory: 512Mi}
//!   exceptions:                   # leave a rule unapplied for some objects, with a reason
//!     - rule: W17                 # readOnlyRootFilesystem
//!       object: Deployment/shop/legacy   # Kind/namespace/name; `*` matches any one part
//!       reason: writes its cache under /var/lib/app
//! ```

use serde::{Deserialize, Serialize};

/// `harden:` settings; every field has a default.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HardenSettings {
    /// Namespace for namespaced objects that have none or `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The Kubernetes version whose Pod Security rules the output must meet (`v1.NN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Opt-in: a non-root UID to run images that run as root or whose user is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<u32>,
    /// Opt-in: make root filesystems read-only even where the image config (and so the paths
    /// it writes) is unknown; only `/tmp` gets an emptyDir then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_read_only_root: bool,
    /// Container requests and limits to fill in where missing.
    #[serde(default)]
    pub resources: ResourceDefaults,
    /// Rules not to apply to some objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<HardenException>,
}

/// Site defaults for container resources (Kubernetes quantities).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ResourceDefaults {
    #[serde(default = "ResourceDefaults::default_requests")]
    pub requests: CpuMemory,
    #[serde(default = "ResourceDefaults::default_limits")]
    pub limits: CpuMemory,
}

impl ResourceDefaults {
    fn default_requests() -> CpuMemory {
        CpuMemory {
            cpu: "100m".into(),
            memory: "128Mi".into(),
        }
    }
    fn default_limits() -> CpuMemory {
        CpuMemory {
            cpu: "1".into(),
            memory: "512Mi".into(),
        }
    }
}

impl Default for ResourceDefaults {
    fn default() -> Self {
        Self {
            requests: Self::default_requests(),
            limits: Self::default_limits(),
        }
    }
}

/// A CPU and a memory quantity.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CpuMemory {
    pub cpu: String,
    pub memory: String,
}

/// One declared exception.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HardenException {
    /// The rule id (`W17`) or Pod Security check it exempts.
    pub rule: String,
    /// `Kind/namespace/name` (`Kind/name` for cluster-scoped objects); `*` matches any part.
    pub object: String,
    /// Why; shown in every report.
    pub reason: String,
}

impl HardenSettings {
    /// Checks what serde cannot: reasons present, object patterns well formed.
    pub fn validate(&self) -> Result<(), String> {
        for e in &self.exceptions {
            if e.reason.trim().is_empty() {
                return Err(format!("exception for {} on {} needs a `reason`", e.rule, e.object));
            }
            let parts = e.object.split('/').count();
            if !(2..=3).contains(&parts) || e.object.split('/').any(str::is_empty) {
                return Err(format!("exception object `{}` is not Kind/namespace/name or Kind/name", e.object));
            }
        }
        Ok(())
    }
}

impl HardenException {
    /// Does this exception cover `rule` on the object `kind`/`namespace`/`name`?
    pub fn covers(&self, rule: &str, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        if !self.rule.eq_ignore_ascii_case(rule) {
            return false;
        }
        let want: Vec<&str> = self.object.split('/').collect();
        let have: Vec<&str> = match namespace {
            Some(ns) => vec![kind, ns, name],
            None => vec![kind, name],
        };
        want.len() == have.len() && want.iter().zip(&have).all(|(w, h)| *w == "*" || w == h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_match_kind_namespace_and_name_with_wildcards() {
        let e = HardenException {
            rule: "W17".into(),
            object: "Deployment/*/legacy".into(),
            reason: "r".into(),
        };
        assert!(e.covers("w17", "Deployment", Some("shop"), "legacy"));
        assert!(!e.covers("W17", "StatefulSet", Some("shop"), "legacy"));
        assert!(!e.covers("W06", "Deployment", Some("shop"), "legacy"));
        assert!(!e.covers("W17", "Deployment", None, "legacy"));
    }
}
