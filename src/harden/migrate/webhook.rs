//! MutatingWebhookConfiguration and ValidatingWebhookConfiguration from
//! `admissionregistration.k8s.io/v1beta1` to `v1`.

use std::collections::BTreeSet;

use super::{Migrated, NotMechanical};
use crate::harden::yaml::{Map, Node};

/// Webhook configurations to `admissionregistration.k8s.io/v1`: the v1beta1 defaults are
/// written out (so the webhook behaves as before), and side effects must be declared.
pub(super) fn convert(body: &mut Map, done: &mut Migrated) -> Result<(), NotMechanical> {
    let defaults: [(&str, Node); 4] = [
        ("failurePolicy", Node::str("Ignore")),
        ("matchPolicy", Node::str("Exact")),
        ("timeoutSeconds", Node::int(30)),
        ("admissionReviewVersions", Node::Seq(vec![Node::str("v1beta1")])),
    ];
    let mut names = BTreeSet::new();
    for (i, hook) in body
        .get_mut("webhooks")
        .and_then(Node::as_seq_mut)
        .into_iter()
        .flatten()
        .filter_map(Node::as_map_mut)
        .enumerate()
    {
        let name = hook.get("name").map(Node::brief).unwrap_or_else(|| i.to_string());
        // v1 requires the names to be unique within the configuration.
        if !names.insert(name.clone()) {
            return Err(format!("two webhooks are named {name}, which admissionregistration.k8s.io/v1 refuses").into());
        }
        match hook.get("sideEffects").and_then(Node::as_str) {
            Some("None" | "NoneOnDryRun") => {}
            other => {
                return Err(format!(
                    "webhooks[{name}].sideEffects is {}: admissionregistration.k8s.io/v1 accepts only None or NoneOnDryRun, and only the webhook's author can say which holds",
                    other.unwrap_or("unset (Unknown)")
                )
                .into());
            }
        }
        for (field, value) in &defaults {
            if hook.get(field).is_none() {
                done.moved(format!("webhooks[{name}].{field}"), None, Some(value));
                hook.insert(field, value.clone());
            }
        }
    }
    Ok(())
}
