//! Every object's `apiVersion` judged against the target Kubernetes ([`super::apis`]): removed
//! ones migrated ([`super::migrate`]) or refused, refused ones dropped where `sealift.yaml`
//! excepts them with a reason, deprecated and off-by-default ones reported. Nothing passes
//! because of its version without a word.

use std::collections::BTreeMap;

use super::apis::{self, ApiStatus};
use super::migrate;
use super::report::{Change, Finding, Reason, Report, Severity};
use super::{Object, Options};

/// The rule every finding and change here carries; a `V01` exception drops a refused object.
pub const RULE: &str = "V01";
/// A `V03` exception keeps an object of a built-in group's alpha or beta version the table
/// does not know, for a site whose cluster serves it.
pub const KEEP_RULE: &str = "V03";

/// Judges, migrates and drops `objects` in place. Returns the namespaces that hold a refused
/// object, each with the first such object.
pub(super) fn check(objects: &mut Vec<Object>, options: &Options<'_>, report: &mut Report) -> BTreeMap<String, String> {
    let target = options.kube_version;
    let mut refused = BTreeMap::new();
    let mut keep = Vec::with_capacity(objects.len());
    for mut object in objects.drain(..) {
        let id = object.id.clone();
        let what = format!("{} {}", id.api_version, id.kind);
        let finding = |severity, reason, detail: String| Finding {
            object: id.display(),
            path: "apiVersion".into(),
            rule: RULE.into(),
            severity,
            reason,
            detail,
        };
        let refusal = match apis::status(&id.api_version, &id.kind, target) {
            ApiStatus::Served => None,
            ApiStatus::Deprecated(d) => {
                report.findings.push(finding(
                    Severity::Low,
                    Reason::ApiDeprecated,
                    format!(
                        "{what} is deprecated since v1.{} and Kubernetes v1.{} no longer serves it: use {}",
                        d.deprecated,
                        d.removed,
                        d.replaced_by()
                    ),
                ));
                None
            }
            ApiStatus::NotByDefault => {
                let detail = format!(
                    "{what} is neither GA nor a version sealift knows Kubernetes {target} to serve: an alpha or a recent beta is served only where the cluster enables it, an older one was removed"
                );
                let keep = options
                    .settings
                    .exceptions
                    .iter()
                    .find(|e| e.covers(KEEP_RULE, &id.kind, id.namespace.as_deref(), &id.name));
                match keep {
                    Some(e) => {
                        report.findings.push(Finding {
                            rule: KEEP_RULE.into(),
                            ..finding(Severity::Info, Reason::UserException, format!("kept ({}): {detail}", e.reason))
                        });
                        None
                    }
                    None => Some(format!("{detail}; list a V03 exception with a reason to keep it")),
                }
            }
            ApiStatus::NotYet(since) => Some(format!("{what} is served only from v1.{since}, and the target is {target}")),
            ApiStatus::Removed(d) => match migrate::migrate(&mut object.body, &id.kind, d, target) {
                Ok(done) => {
                    object.id.api_version.clone_from(&done.to);
                    for m in done.moved {
                        let path = match m.from {
                            Some(from) => format!("{} (from {from})", m.path),
                            None => m.path,
                        };
                        report.changes.push(Change {
                            object: id.display(),
                            path,
                            before: m.before,
                            after: m.after,
                            rule: RULE.into(),
                        });
                    }
                    for note in done.notes {
                        report.findings.push(Finding {
                            path: note.path,
                            ..finding(
                                note.severity,
                                Reason::ApiMigrated,
                                format!("migrated from {} to {}: {}", id.api_version, done.to, note.text),
                            )
                        });
                    }
                    None
                }
                Err(why) => Some(format!(
                    "{what} is not served from Kubernetes v1.{} (the target is {target}); it is replaced by {}, and cannot be migrated: {why}",
                    d.removed,
                    d.replaced_by()
                )),
            },
        };
        let Some(detail) = refusal else {
            keep.push(object);
            continue;
        };
        let exception = options
            .settings
            .exceptions
            .iter()
            .find(|e| e.covers(RULE, &id.kind, id.namespace.as_deref(), &id.name));
        match exception {
            Some(e) => report.findings.push(finding(
                Severity::Info,
                Reason::UserException,
                format!("dropped from the output ({}): {detail}", e.reason),
            )),
            None => {
                if let Some(ns) = &id.namespace {
                    refused.entry(ns.clone()).or_insert_with(|| id.display());
                }
                report.findings.push(finding(Severity::High, Reason::ApiNotServed, detail));
                keep.push(object);
            }
        }
    }
    *objects = keep;
    refused
}
