//! The Pod Security Standards (baseline and restricted) for a target Kubernetes version, as
//! the PodSecurity admission plugin evaluates them. Written from the standard's published
//! field table and checked against upstream's pass/fail fixtures (tests/it/pss.rs).
//!
//! The evaluator sees a pod's metadata and spec, so it judges Pods and the pod templates of
//! controllers alike (admission itself only warns about templates).

use std::fmt;
use std::str::FromStr;

use super::yaml::{Map, Node};

/// A Pod Security level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Baseline,
    Restricted,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        })
    }
}

/// A Kubernetes minor version (`v1.NN`), which selects the rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion(pub u32);

impl KubeVersion {
    /// The oldest version whose rules this evaluator knows (Pod Security went GA in 1.25).
    pub const OLDEST: KubeVersion = KubeVersion(25);
    /// The newest version whose rules this evaluator knows.
    pub const NEWEST: KubeVersion = KubeVersion(37);
    /// The default target.
    pub const DEFAULT: KubeVersion = KubeVersion(35);

    /// The version a setting names (`v1.33`, `1.33`), or [`Self::DEFAULT`] when none is set.
    pub fn from_setting(text: Option<&str>) -> Result<Self, String> {
        text.map_or(Ok(Self::DEFAULT), str::parse)
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}", self.0)
    }
}

impl FromStr for KubeVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // `v1.35`, `1.35` or `v1.35.2`: decimal numbers, no sign, no leading zero.
        let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'));
        let minor = s
            .strip_prefix('v')
            .unwrap_or(s)
            .strip_prefix("1.")
            .and_then(|rest| match rest.split_once('.') {
                Some((minor, patch)) if number(patch) => Some(minor),
                Some(_) => None,
                None => Some(rest),
            })
            .filter(|m| number(m) && m.len() <= 3)
            .and_then(|m| m.parse::<u32>().ok())
            .ok_or_else(|| format!("`{s}` is not a Kubernetes version like v1.35"))?;
        let v = KubeVersion(minor);
        if v < Self::OLDEST || v > Self::NEWEST {
            return Err(format!(
                "Kubernetes {v} is outside the versions sealift knows ({} to {})",
                Self::OLDEST,
                Self::NEWEST
            ));
        }
        Ok(v)
    }
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The upstream check id, e.g. `runAsNonRoot`.
    pub check: &'static str,
    /// The level that check belongs to.
    pub level: Level,
    /// What is wrong, naming the containers or volumes.
    pub detail: String,
}

/// Every check of `level` (restricted includes baseline) that the pod fails at `version`.
pub fn evaluate(meta: &Map, spec: &Map, level: Level, version: KubeVersion) -> Vec<Violation> {
    let pod = Pod { meta, spec, version };
    let mut out = Vec::new();
    let mut push = |check: &'static str, level: Level, detail: Option<String>| {
        if let Some(detail) = detail {
            out.push(Violation { check, level, detail });
        }
    };
    use Level::{Baseline, Restricted};
    push("hostNamespaces", Baseline, pod.host_namespaces());
    push("privileged", Baseline, pod.privileged());
    push("capabilities_baseline", Baseline, pod.capabilities_baseline());
    push("hostPathVolumes", Baseline, pod.host_path_volumes());
    push("hostPorts", Baseline, pod.host_ports());
    push("appArmorProfile", Baseline, pod.app_armor());
    push("seLinuxOptions", Baseline, pod.se_linux());
    push(
        "procMount",
        Baseline,
        pod.proc_mount(version < KubeVersion(35) || !pod.user_namespaced()),
    );
    push("seccompProfile_baseline", Baseline, pod.seccomp_baseline());
    push("sysctls", Baseline, pod.sysctls());
    push("windowsHostProcess", Baseline, pod.windows_host_process());
    if version >= KubeVersion(34) {
        push("hostProbesAndHostLifecycle", Baseline, pod.host_probes());
    }
    if level == Restricted {
        push("restrictedVolumes", Restricted, pod.restricted_volumes());
        let windows_exempt = pod.is_windows();
        let userns_relaxed = version >= KubeVersion(35) && pod.user_namespaced();
        if !windows_exempt {
            push("allowPrivilegeEscalation", Restricted, pod.allow_privilege_escalation());
            push("seccompProfile_restricted", Restricted, pod.seccomp_restricted());
            push("capabilities_restricted", Restricted, pod.capabilities_restricted());
        }
        if !userns_relaxed {
            push("runAsNonRoot", Restricted, pod.run_as_non_root());
            push("runAsUser", Restricted, pod.run_as_user());
        }
        if version >= KubeVersion(35) {
            push("procMount_restricted", Restricted, pod.proc_mount(true));
        }
    }
    out
}

const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Safe sysctls and the minor version that allowed each.
const SAFE_SYSCTLS: &[(&str, u32)] = &[
    ("kernel.shm_rmid_forced", 0),
    ("net.ipv4.ip_local_port_range", 0),
    ("net.ipv4.tcp_syncookies", 0),
    ("net.ipv4.ping_group_range", 0),
    ("net.ipv4.ip_unprivileged_port_start", 0),
    ("net.ipv4.ip_local_reserved_ports", 27),
    ("net.ipv4.tcp_keepalive_time", 29),
    ("net.ipv4.tcp_fin_timeout", 29),
    ("net.ipv4.tcp_keepalive_intvl", 29),
    ("net.ipv4.tcp_keepalive_probes", 29),
    ("net.ipv4.tcp_rmem", 32),
    ("net.ipv4.tcp_wmem", 32),
    ("net.ipv4.tcp_slow_start_after_idle", 37),
    ("net.ipv4.tcp_notsent_lowat", 37),
];

/// Volume sources the restricted level allows. A volume without a source is defaulted to
/// `emptyDir` by the API server.
pub const RESTRICTED_VOLUME_SOURCES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// The pod-spec keys that hold containers.
pub const CONTAINER_LISTS: &[&str] = &["initContainers", "containers", "ephemeralContainers"];

struct Pod<'a> {
    meta: &'a Map,
    spec: &'a Map,
    version: KubeVersion,
}

fn is_true(n: Option<&Node>) -> bool {
    n.and_then(Node::as_bool) == Some(true)
}

fn list(names: Vec<String>, what: &str) -> Option<String> {
    if names.is_empty() {
        None
    } else {
        Some(format!("{what}: {}", names.join(", ")))
    }
}

impl<'a> Pod<'a> {
    fn containers(&self) -> impl Iterator<Item = (&'a str, &'a Map)> + use<'a> {
        let spec = self.spec;
        CONTAINER_LISTS
            .iter()
            .filter_map(move |k| spec.get(k).and_then(Node::as_seq))
            .flatten()
            .filter_map(Node::as_map)
            .map(|c| (c.get("name").and_then(Node::as_str).unwrap_or("?"), c))
    }

    fn pod_context(&self) -> Option<&'a Map> {
        self.spec.get("securityContext").and_then(Node::as_map)
    }

    /// Names of containers whose `securityContext` makes `bad` true.
    fn containers_where(&self, bad: impl Fn(&Map) -> bool) -> Vec<String> {
        self.containers()
            .filter(|(_, c)| c.get("securityContext").and_then(Node::as_map).is_some_and(&bad))
            .map(|(n, _)| format!("\"{n}\""))
            .collect()
    }

    fn is_windows(&self) -> bool {
        self.spec
            .get("os")
            .and_then(|o| o.as_map()?.get("name")?.as_str().map(str::to_string))
            .as_deref()
            == Some("windows")
    }

    fn user_namespaced(&self) -> bool {
        self.spec.get("hostUsers").and_then(Node::as_bool) == Some(false)
    }

    fn host_namespaces(&self) -> Option<String> {
        let set: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
            .iter()
            .filter(|k| is_true(self.spec.get(k)))
            .map(|k| format!("{k}=true"))
            .collect();
        list(set, "host namespaces")
    }

    fn privileged(&self) -> Option<String> {
        list(self.containers_where(|sc| is_true(sc.get("privileged"))), "privileged containers")
    }

    fn capabilities_baseline(&self) -> Option<String> {
        let mut bad = Vec::new();
        for (name, c) in self.containers() {
            for cap in added_capabilities(c) {
                if !BASELINE_CAPABILITIES.contains(&cap) {
                    bad.push(format!("\"{name}\" adds {cap}"));
                }
            }
        }
        list(bad, "non-default capabilities")
    }

    fn volumes(&self) -> impl Iterator<Item = (&'a str, &'a Map)> + use<'a> {
        self.spec
            .get("volumes")
            .and_then(Node::as_seq)
            .into_iter()
            .flatten()
            .filter_map(Node::as_map)
            .map(|v| (v.get("name").and_then(Node::as_str).unwrap_or("?"), v))
    }

    fn host_path_volumes(&self) -> Option<String> {
        let bad = self
            .volumes()
            .filter(|(_, v)| v.get("hostPath").is_some_and(|h| *h != Node::Null))
            .map(|(n, _)| format!("\"{n}\""))
            .collect();
        list(bad, "hostPath volumes")
    }

    fn host_ports(&self) -> Option<String> {
        let mut bad = Vec::new();
        for (name, c) in self.containers() {
            for port in c.get("ports").and_then(Node::as_seq).into_iter().flatten() {
                if let Some(hp) = port.at(&["hostPort"]).and_then(Node::as_i64).filter(|p| *p != 0) {
                    bad.push(format!("\"{name}\" hostPort {hp}"));
                }
            }
        }
        list(bad, "hostPort")
    }

    fn app_armor(&self) -> Option<String> {
        let mut bad = Vec::new();
        let annotations = self.meta.get("annotations").and_then(Node::as_map);
        for (k, v) in annotations.into_iter().flat_map(Map::iter) {
            if let Some(container) = k.strip_prefix("container.apparmor.security.beta.kubernetes.io/") {
                let value = v.as_str().unwrap_or("");
                if !(value.is_empty() || value == "runtime/default" || value.starts_with("localhost/")) {
                    bad.push(format!("annotation for \"{container}\" is {value}"));
                }
            }
        }
        let bad_type = |sc: &Map| {
            sc.get("appArmorProfile")
                .and_then(Node::as_map)
                .is_some_and(|p| !matches!(p.get("type").and_then(Node::as_str), Some("RuntimeDefault" | "Localhost")))
        };
        if self.pod_context().is_some_and(bad_type) {
            bad.push("pod appArmorProfile".into());
        }
        bad.extend(
            self.containers_where(bad_type)
                .into_iter()
                .map(|c| format!("container {c} appArmorProfile")),
        );
        list(bad, "forbidden AppArmor profiles")
    }

    fn se_linux(&self) -> Option<String> {
        let engine = self.version >= KubeVersion(31);
        let bad_options = |sc: &Map| {
            sc.get("seLinuxOptions").and_then(Node::as_map).is_some_and(|o| {
                let field = |k| o.get(k).and_then(Node::as_str).unwrap_or("");
                let type_ok = matches!(field("type"), "" | "container_t" | "container_init_t" | "container_kvm_t")
                    || (engine && field("type") == "container_engine_t");
                !type_ok || !field("user").is_empty() || !field("role").is_empty()
            })
        };
        let mut bad = Vec::new();
        if self.pod_context().is_some_and(bad_options) {
            bad.push("pod".to_string());
        }
        bad.extend(self.containers_where(bad_options));
        list(bad, "forbidden seLinuxOptions")
    }

    fn proc_mount(&self, applies: bool) -> Option<String> {
        if !applies {
            return None;
        }
        let bad = self.containers_where(|sc| sc.get("procMount").and_then(Node::as_str).is_some_and(|p| p != "Default"));
        list(bad, "procMount other than Default")
    }

    fn seccomp_baseline(&self) -> Option<String> {
        let unconfined = |sc: &Map| sc.get("seccompProfile").and_then(|p| p.at(&["type"])).and_then(Node::as_str) == Some("Unconfined");
        let mut bad = Vec::new();
        if self.pod_context().is_some_and(unconfined) {
            bad.push("pod".to_string());
        }
        bad.extend(self.containers_where(unconfined));
        list(bad, "seccompProfile type Unconfined")
    }

    fn sysctls(&self) -> Option<String> {
        let minor = self.version.0;
        let bad = self
            .pod_context()
            .and_then(|sc| sc.get("sysctls"))
            .and_then(Node::as_seq)
            .into_iter()
            .flatten()
            .filter_map(|s| s.at(&["name"]).and_then(Node::as_str))
            .filter(|name| !SAFE_SYSCTLS.iter().any(|(safe, since)| safe == name && *since <= minor))
            .map(str::to_string)
            .collect();
        list(bad, "forbidden sysctls")
    }

    fn windows_host_process(&self) -> Option<String> {
        let host_process = |sc: &Map| is_true(sc.get("windowsOptions").and_then(|w| w.at(&["hostProcess"])));
        let mut bad = Vec::new();
        if self.pod_context().is_some_and(host_process) {
            bad.push("pod".to_string());
        }
        bad.extend(self.containers_where(host_process));
        list(bad, "hostProcess")
    }

    fn host_probes(&self) -> Option<String> {
        let mut bad = Vec::new();
        for (name, c) in self.containers() {
            let handlers = ["livenessProbe", "readinessProbe", "startupProbe"]
                .iter()
                .map(|p| (p.to_string(), c.get(p)))
                .chain(
                    ["postStart", "preStop"]
                        .iter()
                        .map(|h| (format!("lifecycle.{h}"), c.get("lifecycle").and_then(|l| l.at(&[h])))),
                );
            for (what, handler) in handlers {
                let Some(handler) = handler else { continue };
                for kind in ["httpGet", "tcpSocket"] {
                    if handler.at(&[kind, "host"]).and_then(Node::as_str).is_some_and(|h| !h.is_empty()) {
                        bad.push(format!("\"{name}\" {what}.{kind}.host"));
                    }
                }
            }
        }
        list(bad, "probe or lifecycle host set")
    }

    fn restricted_volumes(&self) -> Option<String> {
        let bad = self
            .volumes()
            .filter_map(|(name, v)| {
                let sources: Vec<&str> = v.iter().map(|(k, _)| k).filter(|k| *k != "name").collect();
                let allowed = sources.is_empty() || sources.iter().any(|s| RESTRICTED_VOLUME_SOURCES.contains(s));
                (!allowed).then(|| format!("\"{name}\" ({})", sources.join(", ")))
            })
            .collect();
        list(bad, "restricted volume types")
    }

    fn allow_privilege_escalation(&self) -> Option<String> {
        let bad: Vec<String> = self
            .containers()
            .filter(|(_, c)| {
                c.get("securityContext")
                    .and_then(|sc| sc.at(&["allowPrivilegeEscalation"]))
                    .and_then(Node::as_bool)
                    != Some(false)
            })
            .map(|(n, _)| format!("\"{n}\""))
            .collect();
        list(bad, "allowPrivilegeEscalation is not false")
    }

    fn seccomp_restricted(&self) -> Option<String> {
        let valid = |p: &Node| matches!(p.at(&["type"]).and_then(Node::as_str), Some("RuntimeDefault" | "Localhost"));
        let mut bad = Vec::new();
        let mut pod_set = false;
        if let Some(profile) = self.pod_context().and_then(|sc| sc.get("seccompProfile")) {
            if valid(profile) {
                pod_set = true
            } else {
                bad.push("pod".to_string())
            }
        }
        for (name, c) in self.containers() {
            match c.get("securityContext").and_then(|sc| sc.at(&["seccompProfile"])) {
                Some(profile) if !valid(profile) => bad.push(format!("\"{name}\"")),
                Some(_) => {}
                None if !pod_set => bad.push(format!("\"{name}\" (unset)")),
                None => {}
            }
        }
        list(bad, "seccompProfile is not RuntimeDefault or Localhost")
    }

    fn capabilities_restricted(&self) -> Option<String> {
        let mut bad = Vec::new();
        for (name, c) in self.containers() {
            let caps = c.get("securityContext").and_then(|sc| sc.at(&["capabilities"]));
            let drops_all = caps
                .and_then(|cp| cp.at(&["drop"]))
                .and_then(Node::as_seq)
                .is_some_and(|d| d.iter().any(|x| x.as_str() == Some("ALL")));
            if !drops_all {
                bad.push(format!("\"{name}\" does not drop ALL"));
            }
            for cap in added_capabilities(c) {
                if cap != "NET_BIND_SERVICE" {
                    bad.push(format!("\"{name}\" adds {cap}"));
                }
            }
        }
        list(bad, "capabilities")
    }

    fn run_as_non_root(&self) -> Option<String> {
        let pod = self.pod_context().and_then(|sc| sc.get("runAsNonRoot")).and_then(Node::as_bool);
        let mut bad = Vec::new();
        if pod == Some(false) {
            bad.push("pod sets runAsNonRoot=false".to_string());
        }
        for (name, c) in self.containers() {
            match c
                .get("securityContext")
                .and_then(|sc| sc.at(&["runAsNonRoot"]))
                .and_then(Node::as_bool)
            {
                Some(false) => bad.push(format!("\"{name}\" sets runAsNonRoot=false")),
                None if pod != Some(true) => bad.push(format!("\"{name}\" does not set runAsNonRoot=true")),
                _ => {}
            }
        }
        list(bad, "runAsNonRoot")
    }

    fn run_as_user(&self) -> Option<String> {
        let root = |sc: &Map| sc.get("runAsUser").and_then(Node::as_i64) == Some(0);
        let mut bad = Vec::new();
        if self.pod_context().is_some_and(root) {
            bad.push("pod".to_string());
        }
        bad.extend(self.containers_where(root));
        list(bad, "runAsUser=0")
    }
}

/// The capabilities a container's securityContext adds.
pub(super) fn added_capabilities(container: &Map) -> impl Iterator<Item = &str> {
    container
        .get("securityContext")
        .and_then(|sc| sc.at(&["capabilities", "add"]))
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
        .filter_map(Node::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_stay_in_range() {
        assert_eq!("v1.33".parse(), Ok(KubeVersion(33)));
        assert_eq!("1.35.2".parse(), Ok(KubeVersion(35)));
        assert!("v1.24".parse::<KubeVersion>().unwrap_err().contains("outside"));
        assert!("latest".parse::<KubeVersion>().is_err());
        for bad in ["v1.+30", "v1.030", "1.30.0.0", "v1.30.x", "v1.30.", "v1.", "v1.3 0"] {
            assert!(
                bad.parse::<KubeVersion>().unwrap_err().contains("not a Kubernetes version"),
                "{bad}"
            );
        }
    }
}
