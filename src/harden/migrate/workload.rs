//! Deployment, DaemonSet, StatefulSet and ReplicaSet from `extensions/v1beta1`,
//! `apps/v1beta1` or `apps/v1beta2` to `apps/v1`: `spec.selector` is required (made from the
//! template labels where the old version defaulted it), `spec.rollbackTo` and
//! `spec.templateGeneration` are gone, and several defaults differ (noted).

use super::{Migrated, NotMechanical};
use crate::harden::yaml::{Map, Node};

pub(super) fn convert(body: &mut Map, kind: &str, from: &str, done: &mut Migrated) -> Result<(), NotMechanical> {
    let spec = body
        .get_mut("spec")
        .and_then(Node::as_map_mut)
        .ok_or("there is no spec (apps/v1 requires a selector and a template)")?;
    if spec.get("selector").is_none_or(|s| matches!(s, Node::Null)) {
        let labels = spec
            .get("template")
            .and_then(|t| t.at(&["metadata", "labels"]))
            .and_then(Node::as_map)
            .filter(|l| !l.is_empty())
            .cloned()
            .ok_or("spec.selector is unset and the pod template has no labels to make it from (apps/v1 requires a selector)")?;
        let mut selector = Map::new();
        selector.insert("matchLabels", Node::Map(labels));
        let selector = Node::Map(selector);
        done.moved("spec.selector", None, Some(&selector));
        spec.insert("selector", selector);
    }
    for gone in ["rollbackTo", "templateGeneration"] {
        if let Some(old) = spec.remove(gone) {
            done.moved(format!("spec.{gone}"), Some(&old), None);
        }
    }
    let unset = |spec: &Map, path: &[&str]| path.split_first().and_then(|(k, rest)| spec.get(k)?.at(rest)).is_none();
    let extensions = from == "extensions/v1beta1";
    match kind {
        "Deployment" => {
            if extensions && unset(spec, &["revisionHistoryLimit"]) {
                done.default_changed(
                    "spec.revisionHistoryLimit",
                    "default is now 10 old ReplicaSets kept (extensions/v1beta1 kept all)",
                );
            } else if from == "apps/v1beta1" && unset(spec, &["revisionHistoryLimit"]) {
                done.default_changed(
                    "spec.revisionHistoryLimit",
                    "default is now 10 old ReplicaSets kept (apps/v1beta1 kept 2)",
                );
            }
            if extensions && unset(spec, &["progressDeadlineSeconds"]) {
                done.default_changed(
                    "spec.progressDeadlineSeconds",
                    "default is now 600 seconds (extensions/v1beta1 had no deadline)",
                );
            }
            let rolling = spec
                .get("strategy")
                .and_then(|s| s.at(&["type"]))
                .and_then(Node::as_str)
                .is_none_or(|t| t == "RollingUpdate");
            for field in ["maxSurge", "maxUnavailable"] {
                if extensions && rolling && unset(spec, &["strategy", "rollingUpdate", field]) {
                    done.default_changed(
                        format!("spec.strategy.rollingUpdate.{field}"),
                        "default is now 25% (extensions/v1beta1 defaulted to 1)",
                    );
                }
            }
        }
        "DaemonSet" if extensions && unset(spec, &["updateStrategy", "type"]) => {
            done.default_changed(
                "spec.updateStrategy.type",
                "default is now RollingUpdate (extensions/v1beta1 defaulted to OnDelete)",
            );
        }
        "StatefulSet" if from == "apps/v1beta1" && unset(spec, &["updateStrategy", "type"]) => {
            done.default_changed(
                "spec.updateStrategy.type",
                "default is now RollingUpdate (apps/v1beta1 defaulted to OnDelete)",
            );
        }
        _ => {}
    }
    Ok(())
}
