//! Objects of kinds sealift does not model: custom resources such as Argo Rollouts, Knative
//! Services, Tekton Tasks, KubeVirt VirtualMachines or an operator's CRs. Their settings are
//! not hardened, but the images they run are found and pinned like any workload's, so a bundle
//! cannot ship a controller that pulls an image it does not carry.
//!
//! A container is any mapping with an `image` string beside a `name` string, wherever it sits
//! (`spec.template.spec.containers`, `spec.steps`, `spec.sidecars`...): such an image must be
//! in the lock. Another `image` string (an operator's `spec.image`, a KubeVirt
//! `containerDisk.image`) is pinned when the lock holds it and reported when it does not.

use super::images::Pinned;
use super::objects::ObjectId;
use super::pod::{PodJob, pin_image};
use super::report::{Reason, Report, Severity};
use super::yaml::{Map, Node};
use super::{Error, Options};

/// Pins the images of `body`; returns them as written after pinning.
pub(super) fn pin_images(id: &ObjectId, body: &mut Map, options: &Options<'_>, report: &mut Report) -> Result<Vec<String>, Error> {
    let mut job = PodJob {
        id,
        base: String::new(),
        bound_service_account: false,
        runs_to_completion: false,
        options,
        changes: &mut report.changes,
        findings: &mut report.findings,
    };
    let mut images = Vec::new();
    for (key, value) in body.iter_mut() {
        if !matches!(key, "apiVersion" | "kind" | "metadata" | "status") {
            walk(value, key.to_string(), &mut job, &mut images)?;
        }
    }
    Ok(images)
}

fn walk(node: &mut Node, path: String, job: &mut PodJob<'_>, images: &mut Vec<String>) -> Result<(), Error> {
    match node {
        Node::Map(map) => {
            if map.get("image").and_then(Node::as_str).is_some() {
                image(map, &path, job)?;
                images.extend(map.get("image").and_then(Node::as_str).map(str::to_string));
            }
            for (key, value) in map.iter_mut() {
                if key != "image" {
                    walk(value, format!("{path}.{key}"), job, images)?;
                }
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let label = item
                    .at(&["name"])
                    .and_then(Node::as_str)
                    .map_or_else(|| i.to_string(), str::to_string);
                walk(item, format!("{path}[{label}]"), job, images)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn image(map: &mut Map, path: &str, job: &mut PodJob<'_>) -> Result<(), Error> {
    let container = map.get("name").and_then(Node::as_str).is_some();
    let found = job.options.lock.is_none_or(|lock| {
        matches!(
            lock.resolve(map.get("image").and_then(Node::as_str).unwrap_or_default()),
            Pinned::Found(_)
        )
    });
    if container || found {
        return pin_image(map, path, job);
    }
    let image = map.get("image").map(Node::brief).unwrap_or_default();
    job.findings.push(super::report::Finding {
        object: job.id.display(),
        path: format!("{path}.image"),
        rule: "W21".into(),
        severity: Severity::Medium,
        reason: Reason::KindUnknown,
        detail: format!("{image} is not in the bundle and not a container's image (no `name` beside it): left unpinned"),
    });
    Ok(())
}
