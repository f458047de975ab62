//! Hardening one pod template: the class A and B fixes of research/hardening.md, each
//! recorded as a change, and a finding (with its reason) for everything left alone.

use super::images::{ImageLock, Pinned};
use super::objects::ObjectId;
use super::quantity;
use super::report::{Change, Finding, Reason, Severity};
use super::yaml::{Map, Node};
use super::{Error, Options};

/// Where the template sits and what the rest of the bundle says about it.
pub(super) struct PodJob<'a> {
    pub id: &'a ObjectId,
    /// Field path of the template inside the object (`spec.template`, or empty for a Pod).
    pub base: String,
    /// The pod's service account is bound by a RoleBinding or ClusterRoleBinding.
    pub bound_service_account: bool,
    /// Jobs and run-once pods do not get probe findings.
    pub runs_to_completion: bool,
    pub options: &'a Options<'a>,
    pub changes: &'a mut Vec<Change>,
    pub findings: &'a mut Vec<Finding>,
}

const WRITABLE_TMP: &str = "/tmp";

impl PodJob<'_> {
    fn object(&self) -> String {
        self.id.display()
    }

    fn path(&self, rest: &str) -> String {
        match (self.base.is_empty(), rest.is_empty()) {
            (true, _) => rest.to_string(),
            (false, true) => self.base.clone(),
            (false, false) => format!("{}.{rest}", self.base),
        }
    }

    fn change(&mut self, path: String, before: Option<&Node>, after: Option<&Node>, rule: &'static str) {
        self.changes.push(Change {
            object: self.object(),
            path,
            before: before.map(Node::brief),
            after: after.map(Node::brief),
            rule: rule.into(),
        });
    }

    fn finding(&mut self, path: String, rule: &str, severity: Severity, reason: Reason, detail: String) {
        self.findings.push(Finding {
            object: self.object(),
            path,
            rule: rule.to_string(),
            severity,
            reason,
            detail,
        });
    }

    /// If the user excepted `rule` for this object, record that and return true.
    fn excepted(&mut self, rule: &str, path: &str) -> bool {
        let Some(e) = self
            .options
            .settings
            .exceptions
            .iter()
            .find(|e| e.covers(rule, &self.id.kind, self.id.namespace.as_deref(), &self.id.name))
        else {
            return false;
        };
        let (reason, detail) = (Reason::UserException, e.reason.clone());
        if !self
            .findings
            .iter()
            .any(|f| f.object == self.object() && f.rule == rule && f.reason == reason && f.path == path)
        {
            self.finding(path.to_string(), rule, Severity::Info, reason, detail);
        }
        true
    }
}

/// Hardens `template` (a map with `metadata` and `spec`) in place.
pub(super) fn harden_template(template: &mut Map, job: &mut PodJob<'_>) -> Result<(), Error> {
    let spec = template.map_entry("spec");
    let infra = infrastructure(spec, job);
    for list in super::pss::CONTAINER_LISTS {
        let count = spec.get(list).and_then(Node::as_seq).map_or(0, <[Node]>::len);
        for i in 0..count {
            let name = container_at(spec, list, i)
                .get("name")
                .and_then(Node::as_str)
                .unwrap_or("?")
                .to_string();
            let path = job.path(&format!("spec.{list}[{name}]"));
            pin_image(container_at(spec, list, i), &path, job)?;
            if *list != "ephemeralContainers" {
                // The API refuses resources on ephemeral containers.
                resources(container_at(spec, list, i), &path, job);
            }
            report_container(container_at(spec, list, i), &path, *list == "containers", job);
            if !infra && *list != "ephemeralContainers" {
                container_security(spec, list, i, &path, job);
            }
        }
    }
    if !infra {
        pod_security(spec, job);
    }
    service_account_token(spec, job);
    report_volumes(spec, job);
    Ok(())
}

fn container_at<'m>(spec: &'m mut Map, list: &str, i: usize) -> &'m mut Map {
    match spec.get_mut(list).and_then(Node::as_seq_mut).and_then(|s| s.get_mut(i)) {
        Some(Node::Map(m)) => m,
        _ => unreachable!("counted above"),
    }
}

/// Privileged containers, host namespaces and hostPath volumes mark node-level
/// infrastructure (CNI, CSI, node agents): its security settings are reported, not changed.
fn infrastructure(spec: &Map, job: &mut PodJob<'_>) -> bool {
    let mut reasons = Vec::new();
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec.get(key).and_then(Node::as_bool) == Some(true) {
            reasons.push((job.path(&format!("spec.{key}")), "W02", format!("{key}: true")));
        }
    }
    for v in spec.get("volumes").and_then(Node::as_seq).unwrap_or_default() {
        if let Some(hp) = v.at(&["hostPath", "path"]) {
            let name = v.at(&["name"]).map(Node::brief).unwrap_or_default();
            reasons.push((
                job.path(&format!("spec.volumes[{name}].hostPath")),
                "W03",
                format!("mounts host path {}", hp.brief()),
            ));
        }
    }
    for list in super::pss::CONTAINER_LISTS {
        for c in spec.get(list).and_then(Node::as_seq).unwrap_or_default() {
            if c.at(&["securityContext", "privileged"]).and_then(Node::as_bool) == Some(true) {
                let name = c.at(&["name"]).map(Node::brief).unwrap_or_default();
                reasons.push((
                    job.path(&format!("spec.{list}[{name}].securityContext.privileged")),
                    "W01",
                    "privileged container".into(),
                ));
            }
        }
    }
    for (path, rule, detail) in &reasons {
        job.finding(
            path.clone(),
            rule,
            Severity::High,
            Reason::InfraPrivileged,
            format!("{detail}: node-level infrastructure; its security settings are left as written"),
        );
    }
    !reasons.is_empty()
}

pub(super) fn pin_image(container: &mut Map, path: &str, job: &mut PodJob<'_>) -> Result<(), Error> {
    let Some(image) = container.get("image").and_then(Node::as_str).map(str::to_string) else {
        return Ok(());
    };
    let Some(lock) = job.options.lock else {
        if !is_pinned(&image) {
            job.finding(
                format!("{path}.image"),
                "W21",
                Severity::Medium,
                Reason::ImageNotPinned,
                format!("{image} is not pinned (no image lock given)"),
            );
        }
        return Ok(());
    };
    let container_name = container.get("name").and_then(Node::as_str).unwrap_or("?").to_string();
    let pinned = match lock.resolve(&image) {
        Pinned::Found(locked) => {
            let digest = image
                .parse::<crate::oci::Reference>()
                .ok()
                .and_then(|r| r.digest)
                .map_or_else(|| locked.digest.clone(), |d| lock.carried(&d));
            locked.pinned_reference(job.options.site_registry, &digest)
        }
        Pinned::Missing => {
            return Err(Error::ImageNotInBundle {
                object: job.object(),
                container: container_name,
                image,
            });
        }
        Pinned::Invalid(reason) => {
            return Err(Error::InvalidImage {
                object: job.object(),
                container: container_name,
                image,
                reason,
            });
        }
    };
    if pinned != image {
        let new = Node::str(pinned);
        job.change(format!("{path}.image"), Some(&Node::str(image)), Some(&new), "W21");
        container.insert("image", new);
    }
    Ok(())
}

fn is_pinned(image: &str) -> bool {
    image
        .rsplit_once("@sha256:")
        .is_some_and(|(_, hex)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The image config the lock holds for this container's image.
fn image_config<'a>(lock: Option<&'a ImageLock>, container: &Map) -> Option<&'a super::images::LockedImage> {
    match lock?.resolve(container.get("image")?.as_str()?) {
        Pinned::Found(img) => Some(img),
        _ => None,
    }
}

fn resources(container: &mut Map, path: &str, job: &mut PodJob<'_>) {
    if job.excepted("W18", &format!("{path}.resources")) {
        return;
    }
    let defaults = &job.options.settings.resources;
    let resources = container.map_entry("resources");
    for resource in ["cpu", "memory"] {
        let pick = |c: &super::super::policy::hardening::CpuMemory| if resource == "cpu" { c.cpu.clone() } else { c.memory.clone() };
        let request = resources.get("requests").and_then(|r| r.at(&[resource])).and_then(quantity::text);
        let limit = resources.get("limits").and_then(|r| r.at(&[resource])).and_then(quantity::text);
        let value = |q: &Option<String>| q.as_deref().and_then(quantity::parse);
        let mut set = Vec::new();
        if request.is_none() {
            // Never ask for more than the container's own limit.
            let default = pick(&defaults.requests);
            let chosen = match (&limit, value(&limit), quantity::parse(&default)) {
                (Some(l), Some(lv), Some(dv)) if lv < dv => l.clone(),
                _ => default,
            };
            set.push(("requests", chosen));
        }
        if limit.is_none() {
            // Never limit below the container's own request.
            let default = pick(&defaults.limits);
            let chosen = match (&request, value(&request), quantity::parse(&default)) {
                (Some(r), Some(rv), Some(dv)) if rv > dv => r.clone(),
                _ => default,
            };
            set.push(("limits", chosen));
        }
        for (section, q) in set {
            let node = Node::str(q);
            resources.map_entry(section).insert(resource, node.clone());
            job.changes.push(Change {
                object: job.id.display(),
                path: format!("{path}.resources.{section}.{resource}"),
                before: None,
                after: Some(node.brief()),
                rule: "W18".into(),
            });
        }
    }
}

/// Findings that need application knowledge: secrets in env, missing probes, and
/// security settings the manifest relaxes on purpose.
fn report_container(container: &Map, path: &str, is_main: bool, job: &mut PodJob<'_>) {
    let env_secrets: Vec<String> = container
        .get("env")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter(|e| e.at(&["valueFrom", "secretKeyRef"]).is_some())
        .filter_map(|e| e.at(&["name"]).map(Node::brief))
        .chain(
            container
                .get("envFrom")
                .and_then(Node::as_seq)
                .unwrap_or_default()
                .iter()
                .filter_map(|e| e.at(&["secretRef", "name"]).map(|n| format!("all of secret {}", n.brief()))),
        )
        .collect();
    if !env_secrets.is_empty() {
        job.finding(
            format!("{path}.env"),
            "W23",
            Severity::Low,
            Reason::SecretEnvContract,
            format!("secrets passed as environment variables: {}", env_secrets.join(", ")),
        );
    }
    if is_main && !job.runs_to_completion {
        let missing: Vec<&str> = ["livenessProbe", "readinessProbe"]
            .into_iter()
            .filter(|p| container.get(p).is_none())
            .collect();
        if !missing.is_empty() {
            job.finding(
                path.to_string(),
                "W24",
                Severity::Low,
                Reason::NoProbeKnowledge,
                format!("no {}", missing.join(" or ")),
            );
        }
    }
    let sc = container.get("securityContext").and_then(Node::as_map);
    let field = |k: &str| sc.and_then(|s| s.get(k));
    if field("appArmorProfile").and_then(|p| p.at(&["type"])).and_then(Node::as_str) == Some("Unconfined") {
        job.finding(
            format!("{path}.securityContext.appArmorProfile"),
            "W10",
            Severity::Medium,
            Reason::UpstreamSetting,
            "AppArmor Unconfined".into(),
        );
    }
    if let Some(opts) = field("seLinuxOptions") {
        job.finding(
            format!("{path}.securityContext.seLinuxOptions"),
            "W11",
            Severity::Low,
            Reason::UpstreamSetting,
            format!("SELinux options {}", opts.brief()),
        );
    }
    if let Some(pm) = field("procMount").and_then(Node::as_str).filter(|p| *p != "Default") {
        job.finding(
            format!("{path}.securityContext.procMount"),
            "W12",
            Severity::Medium,
            Reason::UpstreamSetting,
            format!("procMount {pm}"),
        );
    }
}

/// The container's securityContext: W05, W06, W07, W17 (and W09 at container level).
fn container_security(spec: &mut Map, list: &str, i: usize, path: &str, job: &mut PodJob<'_>) {
    let pod_sc = spec.get("securityContext").and_then(Node::as_map).cloned().unwrap_or_default();
    let locked = image_config(job.options.lock, container_at(spec, list, i)).cloned();
    let mut new_volumes: Vec<(String, String)> = Vec::new();
    {
        let container = container_at(spec, list, i);
        let sc_path = format!("{path}.securityContext");
        let adds: Vec<String> = super::pss::added_capabilities(container).map(str::to_string).collect();
        let sys_admin = adds.iter().any(|c| c == "SYS_ADMIN" || c == "CAP_SYS_ADMIN");

        // W06: allowPrivilegeEscalation false (the API refuses it together with SYS_ADMIN).
        let ape = container
            .get("securityContext")
            .and_then(|s| s.at(&["allowPrivilegeEscalation"]))
            .cloned();
        match ape {
            None if !sys_admin && !job.excepted("W06", &format!("{sc_path}.allowPrivilegeEscalation")) => {
                set(
                    container,
                    &["securityContext", "allowPrivilegeEscalation"],
                    Node::Bool(false),
                    &format!("{sc_path}.allowPrivilegeEscalation"),
                    "W06",
                    job,
                );
            }
            Some(Node::Bool(true)) => job.finding(
                format!("{sc_path}.allowPrivilegeEscalation"),
                "W06",
                Severity::Medium,
                Reason::UpstreamSetting,
                "the manifest allows privilege escalation (setuid helpers)".into(),
            ),
            _ => {}
        }

        // W05: drop ALL; added capabilities are reported.
        let drop_path = format!("{sc_path}.capabilities.drop");
        let drops_all = container
            .get("securityContext")
            .and_then(|s| s.at(&["capabilities", "drop"]))
            .and_then(Node::as_seq)
            .is_some_and(|d| d.iter().any(|c| c.as_str() == Some("ALL")));
        if !drops_all && !job.excepted("W05", &drop_path) {
            set(
                container,
                &["securityContext", "capabilities", "drop"],
                Node::Seq(vec![Node::str("ALL")]),
                &drop_path,
                "W05",
                job,
            );
        }
        for cap in &adds {
            let (severity, detail) = if cap == "NET_BIND_SERVICE" {
                (Severity::Info, "adds NET_BIND_SERVICE (allowed by restricted)".to_string())
            } else {
                (Severity::Medium, format!("adds capability {cap}"))
            };
            job.finding(
                format!("{sc_path}.capabilities.add"),
                "W05",
                severity,
                Reason::AppNeedsCapability,
                detail,
            );
        }

        // W07/W08: a non-root numeric user.
        run_as_non_root(container, &pod_sc, locked.as_ref(), &sc_path, job);

        // W17: read-only root filesystem, with emptyDirs where the image expects to write.
        let rorf_path = format!("{sc_path}.readOnlyRootFilesystem");
        match container.get("securityContext").and_then(|s| s.at(&["readOnlyRootFilesystem"])).cloned() {
            Some(Node::Bool(false)) => job.finding(
                rorf_path,
                "W17",
                Severity::Low,
                Reason::UpstreamSetting,
                "the manifest keeps the root filesystem writable".into(),
            ),
            None if locked.as_ref().is_none_or(|l| l.user.is_none()) && !job.options.settings.force_read_only_root => job.finding(
                rorf_path,
                "W17",
                Severity::Low,
                Reason::ImageConfigUnknown,
                "no image config in the lock, so the paths the image writes are unknown; set harden.force-read-only-root to mount /tmp only".into(),
            ),
            None if !job.excepted("W17", &rorf_path) => {
                set(container, &["securityContext", "readOnlyRootFilesystem"], Node::Bool(true), &rorf_path, "W17", job);
                let mut paths = vec![WRITABLE_TMP.to_string()];
                paths.extend(locked.as_ref().map(|l| l.volumes.clone()).unwrap_or_default());
                let mounted: Vec<String> = container
                    .get("volumeMounts")
                    .and_then(Node::as_seq)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|m| m.at(&["mountPath"]).and_then(Node::as_str))
                    .map(|p| p.trim_end_matches('/').to_string())
                    .collect();
                let cname = container.get("name").and_then(Node::as_str).unwrap_or("c").to_string();
                for (n, p) in paths.iter().enumerate() {
                    let p = p.trim_end_matches('/').to_string();
                    if p.is_empty() || mounted.contains(&p) {
                        continue;
                    }
                    let volume = if n == 0 { format!("sealift-tmp-{cname}") } else { format!("sealift-vol{n}-{cname}") };
                    let volume = volume_name(&volume);
                    let mut mount = Map::new();
                    mount.insert("name", Node::str(volume.clone()));
                    mount.insert("mountPath", Node::str(p.clone()));
                    let mounts = container.seq_entry("volumeMounts");
                    mounts.push(Node::Map(mount));
                    job.changes.push(Change {
                        object: job.id.display(),
                        path: format!("{path}.volumeMounts"),
                        before: None,
                        after: Some(format!("emptyDir {volume} at {p}")),
                        rule: "W17".into(),
                    });
                    new_volumes.push((volume, p));
                }
            }
            _ => {}
        }

        // W09 at container level: an explicit Unconfined is the manifest's choice.
        if container
            .get("securityContext")
            .and_then(|s| s.at(&["seccompProfile", "type"]))
            .and_then(Node::as_str)
            == Some("Unconfined")
        {
            job.finding(
                format!("{sc_path}.seccompProfile"),
                "W09",
                Severity::Medium,
                Reason::UpstreamSetting,
                "seccomp Unconfined".into(),
            );
        }
    }
    for (volume, _) in new_volumes {
        let mut v = Map::new();
        v.insert("name", Node::str(volume));
        v.insert("emptyDir", Node::Map(Map::new()));
        spec.seq_entry("volumes").push(Node::Map(v));
    }
}

/// A DNS-1123 label of at most 63 characters.
fn volume_name(raw: &str) -> String {
    let mut s: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    s.truncate(63);
    s.trim_end_matches('-').to_string()
}

fn run_as_non_root(container: &mut Map, pod_sc: &Map, locked: Option<&super::images::LockedImage>, sc_path: &str, job: &mut PodJob<'_>) {
    let own = container.get("securityContext").and_then(Node::as_map).cloned().unwrap_or_default();
    let non_root = own
        .get("runAsNonRoot")
        .or_else(|| pod_sc.get("runAsNonRoot"))
        .and_then(Node::as_bool);
    let explicit_uid = own.get("runAsUser").or_else(|| pod_sc.get("runAsUser")).and_then(Node::as_i64);
    if non_root == Some(false) {
        job.finding(
            format!("{sc_path}.runAsNonRoot"),
            "W07",
            Severity::High,
            Reason::UpstreamSetting,
            "the manifest sets runAsNonRoot: false".into(),
        );
        return;
    }
    if job.excepted("W07", &format!("{sc_path}.runAsNonRoot")) {
        return;
    }
    let uid = match explicit_uid {
        Some(0) => {
            job.finding(
                format!("{sc_path}.runAsUser"),
                "W07",
                Severity::High,
                Reason::UpstreamSetting,
                "the manifest runs it as UID 0".into(),
            );
            return;
        }
        Some(uid) => {
            if uid < 10000 {
                job.finding(
                    format!("{sc_path}.runAsUser"),
                    "W08",
                    Severity::Info,
                    Reason::UpstreamLowUid,
                    format!("the manifest pins UID {uid}"),
                );
            }
            None
        }
        None => match image_user(locked) {
            ImageUser::Uid(uid) => Some(uid),
            other => match job.options.settings.run_as_user {
                Some(forced) => Some(i64::from(forced)),
                None => {
                    if non_root == Some(true) && matches!(other, ImageUser::Unknown) {
                        job.finding(
                            format!("{sc_path}.runAsUser"),
                            "W08",
                            Severity::Info,
                            Reason::ImageConfigUnknown,
                            "runs as non-root, but with no image config the UID (and whether it is 10000 or more) is unknown".into(),
                        );
                    }
                    if non_root != Some(true) {
                        let (reason, detail) = match other {
                            ImageUser::Root => (
                                Reason::ImageRunsAsRoot,
                                "the image runs as root; set harden.run-as-user to force a UID".to_string(),
                            ),
                            ImageUser::Named(n) => (
                                Reason::ImageNamedUser,
                                format!(
                                    "the image runs as user `{n}` and no UID for it is known (not in its /etc/passwd, or not given in the lock)"
                                ),
                            ),
                            _ => (
                                Reason::ImageConfigUnknown,
                                "the image's user is unknown (no image config in the lock)".to_string(),
                            ),
                        };
                        job.finding(format!("{sc_path}.runAsNonRoot"), "W07", Severity::High, reason, detail);
                    }
                    return;
                }
            },
        },
    };
    if let Some(uid) = uid {
        if uid == 0 {
            return;
        }
        set(
            container,
            &["securityContext", "runAsUser"],
            Node::int(uid),
            &format!("{sc_path}.runAsUser"),
            "W07",
            job,
        );
    }
    if non_root.is_none() {
        set(
            container,
            &["securityContext", "runAsNonRoot"],
            Node::Bool(true),
            &format!("{sc_path}.runAsNonRoot"),
            "W07",
            job,
        );
    }
}

enum ImageUser {
    Unknown,
    Root,
    Uid(i64),
    Named(String),
}

fn image_user(locked: Option<&super::images::LockedImage>) -> ImageUser {
    let Some(user) = locked.and_then(|l| l.user.as_deref()) else {
        return ImageUser::Unknown;
    };
    let user = user.split(':').next().unwrap_or("");
    match user {
        "" | "root" | "0" => ImageUser::Root,
        u => u.parse::<i64>().map_or_else(|_| ImageUser::Named(u.to_string()), ImageUser::Uid),
    }
}

/// Pod-level fixes: W04 hostPort, W09 seccomp, W15 probe hosts.
fn pod_security(spec: &mut Map, job: &mut PodJob<'_>) {
    let sc_path = job.path("spec.securityContext.seccompProfile");
    match spec.get("securityContext").and_then(|s| s.at(&["seccompProfile"])).cloned() {
        None if !job.excepted("W09", &sc_path) => {
            let mut profile = Map::new();
            profile.insert("type", Node::str("RuntimeDefault"));
            let after = Node::Map(profile);
            spec.map_entry("securityContext").insert("seccompProfile", after.clone());
            job.change(sc_path, None, Some(&after), "W09");
        }
        Some(p) if p.at(&["type"]).and_then(Node::as_str) == Some("Unconfined") => {
            job.finding(
                sc_path,
                "W09",
                Severity::Medium,
                Reason::UpstreamSetting,
                "seccomp Unconfined".into(),
            );
        }
        _ => {}
    }
    for list in super::pss::CONTAINER_LISTS {
        let count = spec.get(list).and_then(Node::as_seq).map_or(0, <[Node]>::len);
        for i in 0..count {
            let c = container_at(spec, list, i);
            let name = c.get("name").and_then(Node::as_str).unwrap_or("?").to_string();
            let base = job.path(&format!("spec.{list}[{name}]"));
            if let Some(ports) = c.get_mut("ports").and_then(Node::as_seq_mut) {
                for port in ports.iter_mut().filter_map(Node::as_map_mut) {
                    if let Some(hp) = port.get("hostPort").filter(|h| h.as_i64() != Some(0)).cloned()
                        && !job.excepted("W04", &format!("{base}.ports.hostPort"))
                    {
                        port.remove("hostPort");
                        job.change(format!("{base}.ports.hostPort"), Some(&hp), None, "W04");
                    }
                }
            }
            let c = container_at(spec, list, i);
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                for kind in ["httpGet", "tcpSocket"] {
                    if let Some(Node::Map(handler)) = c.get_mut(probe).and_then(Node::as_map_mut).and_then(|p| p.get_mut(kind))
                        && let Some(host) = handler.remove("host")
                    {
                        job.change(format!("{base}.{probe}.{kind}.host"), Some(&host), None, "W15");
                    }
                }
            }
        }
    }
}

/// W19: no API token unless the pod's service account is bound to a role.
fn service_account_token(spec: &mut Map, job: &mut PodJob<'_>) {
    let path = job.path("spec.automountServiceAccountToken");
    match spec.get("automountServiceAccountToken").and_then(Node::as_bool) {
        Some(false) => {}
        _ if job.bound_service_account => {
            let sa = spec
                .get("serviceAccountName")
                .or_else(|| spec.get("serviceAccount"))
                .and_then(Node::as_str)
                .unwrap_or("default")
                .to_string();
            job.finding(
                path,
                "W19",
                Severity::Info,
                Reason::NeedsApiToken,
                format!("service account {sa} is bound to a role"),
            );
        }
        Some(true) => job.finding(
            path,
            "W19",
            Severity::Low,
            Reason::UpstreamSetting,
            "the manifest mounts the token of an unbound account".into(),
        ),
        None => {
            if !job.excepted("W19", &path) {
                spec.insert("automountServiceAccountToken", Node::Bool(false));
                job.change(path, None, Some(&Node::Bool(false)), "W19");
            }
        }
    }
}

fn report_volumes(spec: &Map, job: &mut PodJob<'_>) {
    for v in spec
        .get("volumes")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(Node::as_map)
    {
        let name = v.get("name").map(Node::brief).unwrap_or_default();
        if let Some((kind, _)) = v
            .iter()
            .find(|(k, _)| !matches!(*k, "name" | "hostPath") && !super::pss::RESTRICTED_VOLUME_SOURCES.contains(k))
        {
            job.finding(
                job.path(&format!("spec.volumes[{name}]")),
                "W16",
                Severity::Medium,
                Reason::RestrictedVolume,
                format!("{kind} volume"),
            );
        }
    }
}

/// Sets `path` under `container`, recording the change.
fn set(container: &mut Map, keys: &[&str], value: Node, path: &str, rule: &'static str, job: &mut PodJob<'_>) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut m = container;
    for k in parents {
        m = m.map_entry(k);
    }
    let before = m.get(last).cloned();
    m.insert(last, value.clone());
    job.change(path.to_string(), before.as_ref(), Some(&value), rule);
}
