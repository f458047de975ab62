//! FlowSchema and PriorityLevelConfiguration from `flowcontrol.apiserver.k8s.io/v1beta1` to
//! `v1beta3` to `v1`.

use super::Migrated;
use crate::harden::yaml::{Map, Node};

/// FlowSchema and PriorityLevelConfiguration: v1beta1 and v1beta2 name the shares
/// `assuredConcurrencyShares`, later versions `nominalConcurrencyShares`. Before v1, zero
/// meant the default of 30; v1 keeps a zero, so a zero (or unset) value is written as 30.
pub(super) fn convert(body: &mut Map, kind: &str, from: &str, done: &mut Migrated) {
    if kind != "PriorityLevelConfiguration" {
        return;
    }
    let Some(limited) = body
        .get_mut("spec")
        .and_then(Node::as_map_mut)
        .and_then(|s| s.get_mut("limited"))
        .and_then(Node::as_map_mut)
    else {
        return;
    };
    let old_name = if from.ends_with("v1beta3") {
        "nominalConcurrencyShares"
    } else {
        "assuredConcurrencyShares"
    };
    let before = limited.remove(old_name);
    let after = match &before {
        Some(n) if n.as_i64().is_some_and(|v| v != 0) => n.clone(),
        _ => Node::int(30),
    };
    if before.as_ref() != Some(&after) || old_name != "nominalConcurrencyShares" {
        done.moved("spec.limited.nominalConcurrencyShares", before.as_ref(), Some(&after));
    }
    limited.insert("nominalConcurrencyShares", after);
}
