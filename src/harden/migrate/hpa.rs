//! HorizontalPodAutoscaler from `autoscaling/v2beta1` to `autoscaling/v2`: each metric's
//! `metricName`/`metricSelector` become `metric.name`/`metric.selector`, and its
//! `targetAverageUtilization`, `targetAverageValue` or `targetValue` become a `target` with
//! the matching `type`.

use super::{Migrated, NotMechanical};
use crate::harden::yaml::{Map, Node};

pub(super) fn convert(body: &mut Map, done: &mut Migrated) -> Result<(), NotMechanical> {
    let Some(metrics) = body
        .get_mut("spec")
        .and_then(Node::as_map_mut)
        .and_then(|s| s.get_mut("metrics"))
        .and_then(Node::as_seq_mut)
    else {
        return Ok(());
    };
    for (i, metric) in metrics.iter_mut().enumerate() {
        let at = format!("spec.metrics[{i}]");
        let map = metric.as_map().ok_or_else(|| format!("{at} is not a mapping"))?;
        let source = map.get("type").and_then(Node::as_str).ok_or_else(|| format!("{at} has no type"))?;
        let key = match source {
            "Resource" => "resource",
            "ContainerResource" => "containerResource",
            "Pods" => "pods",
            "Object" => "object",
            "External" => "external",
            other => return Err(format!("{at}.type `{other}` is not a metric source autoscaling/v2 knows").into()),
        };
        let old = map
            .get(key)
            .and_then(Node::as_map)
            .ok_or_else(|| format!("{at}.{key} is missing"))?
            .clone();
        let new = source_v2(&old, key, &format!("{at}.{key}"))?;
        let (before, after) = (Node::Map(old), Node::Map(new));
        done.moved(format!("{at}.{key}"), Some(&before), Some(&after));
        if let Some(m) = metric.as_map_mut() {
            m.insert(key, after);
        }
    }
    Ok(())
}

fn source_v2(old: &Map, key: &str, at: &str) -> Result<Map, NotMechanical> {
    let mut new = Map::new();
    let mut target = Map::new();
    let mut metric = Map::new();
    for (field, value) in old.iter() {
        match (key, field) {
            ("resource" | "containerResource", "name" | "container") => new.insert(field, value.clone()),
            ("object", "target") => new.insert("describedObject", value.clone()),
            ("pods" | "object" | "external", "metricName") => metric.insert("name", value.clone()),
            ("pods" | "object", "selector") | ("external", "metricSelector") => metric.insert("selector", value.clone()),
            (_, "targetAverageUtilization") => {
                target.insert("type", Node::str("Utilization"));
                target.insert("averageUtilization", value.clone());
            }
            (_, "targetAverageValue" | "averageValue") => {
                target.insert("type", Node::str("AverageValue"));
                target.insert("averageValue", value.clone());
            }
            ("object" | "external", "targetValue") => {
                target.insert("type", Node::str("Value"));
                target.insert("value", value.clone());
            }
            _ => return Err(format!("{at}.{field} has no autoscaling/v2 counterpart sealift knows").into()),
        }
    }
    if target.get("type").is_none() {
        return Err(format!("{at} has no target value").into());
    }
    if target.len() > 2 {
        return Err(format!("{at} sets more than one kind of target").into());
    }
    if !metric.is_empty() {
        new.insert("metric", Node::Map(metric));
    }
    new.insert("target", Node::Map(target));
    Ok(new)
}
