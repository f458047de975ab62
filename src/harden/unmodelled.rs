//! Objects of kinds sealift does not model: custom resources such as Argo Rollouts, Knative
//! Services, Tekton Tasks, KubeVirt VirtualMachines or an operator's CRs. Their settings are
//! not hardened, but the images they name are found and pinned like any workload's, so a
//! bundle cannot ship a controller that pulls an image it does not carry.
//!
//! Every `image` string, at any depth outside `metadata` and `status`, is an image reference:
//! a container's (`spec.template.spec.containers[web].image`, `spec.steps[build].image`) or
//! an operator's (`spec.image`, a KubeVirt `containerDisk.image`). Each must be in the lock;
//! one that is not is an error naming the object and where the image sits, unless a `V02`
//! exception covers the object (it is then reported and left as written). A string that is not
//! a reference (a template parameter such as `$(params.image)`), or an `image` that is a
//! mapping or a list (`{repository, tag}`), cannot be pinned, and is reported.

use super::images::Pinned;
use super::objects::ObjectId;
use super::pod::{PodJob, pin_image};
use super::report::{Finding, Reason, Report, Severity};
use super::yaml::{Map, Node};
use super::{Error, Options};

/// The rule of this module's findings and exceptions.
pub const RULE: &str = "V02";

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
            match map.get("image") {
                Some(Node::Str(_)) => {
                    image(map, &path, job)?;
                    images.extend(map.get("image").and_then(Node::as_str).map(str::to_string));
                }
                Some(other @ (Node::Map(_) | Node::Seq(_))) => {
                    let detail = format!(
                        "an image given as {} ({}) cannot be pinned or checked against the bundle; left as written",
                        if matches!(other, Node::Map(_)) { "a mapping" } else { "a list" },
                        other.brief()
                    );
                    finding(job, format!("{path}.image"), Severity::Medium, Reason::KindUnknown, detail);
                }
                _ => {}
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

/// Pins the `image` of `map` (at `path`), or fails naming where it is.
fn image(map: &mut Map, path: &str, job: &mut PodJob<'_>) -> Result<(), Error> {
    let reference = map.get("image").and_then(Node::as_str).unwrap_or_default().to_string();
    let Some(lock) = job.options.lock else {
        // No lock: pin_image reports the reference as unpinned.
        return pin_image(map, path, job);
    };
    match lock.resolve(&reference) {
        Pinned::Found(_) => return pin_image(map, path, job),
        Pinned::Missing => {}
        // A template parameter (`$(params.image)`, `{{inputs.parameters.image}}`) or a
        // pattern is not a reference: nothing to pin, and said so.
        Pinned::Invalid(reason) => {
            let detail = format!("`{reference}` is not an image reference ({reason}): not pinned, not checked against the bundle");
            finding(job, format!("{path}.image"), Severity::Medium, Reason::KindUnknown, detail);
            return Ok(());
        }
    }
    let excepted = job
        .options
        .settings
        .exceptions
        .iter()
        .find(|e| e.covers(RULE, &job.id.kind, job.id.namespace.as_deref(), &job.id.name));
    if let Some(e) = excepted {
        let detail = format!("{reference} is not in the bundle; left as written ({})", e.reason);
        finding(job, format!("{path}.image"), Severity::Info, Reason::UserException, detail);
        return Ok(());
    }
    Err(Error::ImageNotInBundle {
        object: job.id.display(),
        container: map
            .get("name")
            .and_then(Node::as_str)
            .map_or_else(|| path.to_string(), str::to_string),
        image: reference,
    })
}

fn finding(job: &mut PodJob<'_>, path: String, severity: Severity, reason: Reason, detail: String) {
    job.findings.push(Finding {
        object: job.id.display(),
        path,
        rule: RULE.into(),
        severity,
        reason,
        detail,
    });
}
