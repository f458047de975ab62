//! CustomResourceDefinition from `apiextensions.k8s.io/v1beta1` to `v1`.
//!
//! v1 keeps schema, subresources and printer columns per version, requires a structural
//! schema for every version, and always prunes fields the schema does not name. A v1beta1 CRD
//! migrates only when that changes nothing: `preserveUnknownFields: false` was already set and
//! every schema is structural. Otherwise the custom resources stored under it might lose
//! fields, and that is for the CRD's author to decide.

use super::{Migrated, NotMechanical};
use crate::harden::yaml::{Map, Node};

/// Keywords v1 schemas refuse (structural schemas, apiextensions.k8s.io/v1 validation).
const FORBIDDEN: &[&str] = &["$ref", "definitions", "dependencies", "patternProperties", "additionalItems"];

pub(super) fn convert(body: &mut Map, done: &mut Migrated) -> Result<(), NotMechanical> {
    let spec = body.map_entry("spec");
    if spec.get("preserveUnknownFields").and_then(Node::as_bool) != Some(false) {
        return Err(
            "preserveUnknownFields is not false: v1beta1 kept fields its schema does not name and v1 prunes them, so stored resources could lose data"
                .into(),
        );
    }
    spec.remove("preserveUnknownFields");
    done.moved("spec.preserveUnknownFields", Some(&Node::Bool(false)), None);
    if spec.get("scope").is_none() {
        let scope = Node::str("Namespaced");
        done.moved("spec.scope", None, Some(&scope));
        spec.insert("scope", scope);
    }
    if spec.get("versions").is_none() {
        let name = spec
            .get("version")
            .cloned()
            .ok_or("neither spec.versions nor spec.version is set")?;
        let mut v = Map::new();
        v.insert("name", name);
        v.insert("served", Node::Bool(true));
        v.insert("storage", Node::Bool(true));
        spec.insert("versions", Node::Seq(vec![Node::Map(v)]));
    }
    if let Some(old) = spec.remove("version") {
        done.moved("spec.version", Some(&old), None);
    }
    // Spec-wide fields move into every version.
    let schema = spec.remove("validation");
    let subresources = spec.remove("subresources");
    let columns = spec.remove("additionalPrinterColumns");
    let versions = spec
        .get_mut("versions")
        .and_then(Node::as_seq_mut)
        .ok_or("spec.versions is not a list")?;
    for version in versions.iter_mut() {
        let version = version.as_map_mut().ok_or("a spec.versions entry is not a mapping")?;
        let name = version.get("name").map(Node::brief).unwrap_or_default();
        let at = format!("spec.versions[{name}]");
        for (field, value) in [
            ("schema", &schema),
            ("subresources", &subresources),
            ("additionalPrinterColumns", &columns),
        ] {
            if let (Some(value), None) = (value, version.get(field)) {
                version.insert(field, value.clone());
                done.moved(format!("{at}.{field}"), None, Some(value));
            }
        }
        for column in version
            .get_mut("additionalPrinterColumns")
            .and_then(Node::as_seq_mut)
            .into_iter()
            .flatten()
            .filter_map(Node::as_map_mut)
        {
            if let Some(path) = column.remove("JSONPath") {
                column.insert("jsonPath", path.clone());
                done.moved(format!("{at}.additionalPrinterColumns.jsonPath"), Some(&path), Some(&path));
            }
        }
        let root = version
            .get("schema")
            .and_then(|s| s.at(&["openAPIV3Schema"]))
            .ok_or_else(|| format!("{at} has no openAPIV3Schema, which v1 requires"))?;
        let at = format!("{at}.schema.openAPIV3Schema");
        if root.at(&["type"]).and_then(Node::as_str) != Some("object") {
            return Err(format!("{at} is not of type object, which v1 requires at the root").into());
        }
        if let Some((field, _)) = root
            .at(&["properties", "metadata", "properties"])
            .and_then(Node::as_map)
            .into_iter()
            .flat_map(Map::iter)
            .find(|(k, _)| !matches!(*k, "name" | "generateName"))
        {
            return Err(format!("{at}.properties.metadata restricts `{field}`; v1 allows only name and generateName").into());
        }
        structural(root, &at)?;
    }
    if let Some(conversion) = spec.get_mut("conversion").and_then(Node::as_map_mut) {
        let client = conversion.remove("webhookClientConfig");
        let reviews = conversion.remove("conversionReviewVersions");
        if conversion.get("strategy").and_then(Node::as_str) == Some("Webhook") {
            let webhook = conversion.map_entry("webhook");
            if let Some(client) = client {
                done.moved("spec.conversion.webhook.clientConfig", Some(&client), Some(&client));
                webhook.insert("clientConfig", client);
            }
            let reviews = reviews.unwrap_or_else(|| Node::Seq(vec![Node::str("v1beta1")]));
            done.moved("spec.conversion.webhook.conversionReviewVersions", None, Some(&reviews));
            webhook.insert("conversionReviewVersions", reviews);
        }
    }
    Ok(())
}

/// Is this schema node structural: a type on every node (unless int-or-string or
/// preserve-unknown-fields), and none of the keywords v1 refuses?
fn structural(node: &Node, at: &str) -> Result<(), NotMechanical> {
    let map = node.as_map().ok_or_else(|| format!("{at} is not a mapping"))?;
    if let Some(k) = FORBIDDEN.iter().find(|k| map.get(k).is_some()) {
        return Err(format!("{at} uses `{k}`, which a structural schema cannot").into());
    }
    if map.get("uniqueItems").and_then(Node::as_bool) == Some(true) {
        return Err(format!("{at} sets uniqueItems, which a structural schema cannot").into());
    }
    let flag = |k: &str| map.get(k).and_then(Node::as_bool) == Some(true);
    if map.get("type").and_then(Node::as_str).is_none_or(str::is_empty)
        && !flag("x-kubernetes-int-or-string")
        && !flag("x-kubernetes-preserve-unknown-fields")
    {
        return Err(format!("{at} has no type, so the schema is not structural").into());
    }
    for junctor in ["allOf", "anyOf", "oneOf", "not"] {
        let branches: Vec<&Node> = match map.get(junctor) {
            Some(Node::Seq(items)) => items.iter().collect(),
            Some(one @ Node::Map(_)) => vec![one],
            _ => continue,
        };
        for branch in branches {
            value_validation_only(branch, &format!("{at}.{junctor}"))?;
        }
    }
    for (name, child) in map.get("properties").and_then(Node::as_map).into_iter().flat_map(Map::iter) {
        structural(child, &format!("{at}.properties.{name}"))?;
    }
    match map.get("items") {
        Some(Node::Seq(_)) => return Err(format!("{at}.items is a list, which a structural schema cannot be").into()),
        Some(items) => structural(items, &format!("{at}.items"))?,
        None if map.get("type").and_then(Node::as_str) == Some("array") => {
            return Err(format!("{at} is an array without items, which v1 requires").into());
        }
        None => {}
    }
    match map.get("additionalProperties") {
        Some(Node::Map(_)) if map.get("properties").is_some() => {
            return Err(format!("{at} sets both properties and additionalProperties").into());
        }
        Some(extra @ Node::Map(_)) => structural(extra, &format!("{at}.additionalProperties"))?,
        Some(Node::Bool(false)) => return Err(format!("{at}.additionalProperties is false, which v1 does not allow").into()),
        _ => {}
    }
    Ok(())
}

/// Inside `allOf`, `anyOf`, `oneOf` and `not` a structural schema may only validate values:
/// no types, descriptions, defaults, `additionalProperties`, `nullable` or extensions.
fn value_validation_only(node: &Node, at: &str) -> Result<(), NotMechanical> {
    let map = node.as_map().ok_or_else(|| format!("{at} is not a mapping"))?;
    for (key, value) in map.iter() {
        if matches!(
            key,
            "type" | "description" | "default" | "additionalProperties" | "nullable" | "title"
        ) || key.starts_with("x-kubernetes-")
        {
            return Err(format!("{at} sets `{key}`, which a structural schema allows only outside allOf/anyOf/oneOf/not").into());
        }
        match (key, value) {
            ("properties", Node::Map(props)) => {
                for (name, child) in props.iter() {
                    value_validation_only(child, &format!("{at}.properties.{name}"))?;
                }
            }
            ("items" | "not", child @ Node::Map(_)) => value_validation_only(child, &format!("{at}.{key}"))?,
            ("allOf" | "anyOf" | "oneOf", Node::Seq(items)) => {
                for child in items {
                    value_validation_only(child, &format!("{at}.{key}"))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harden::yaml::parse_documents;

    fn crd(schema: &str) -> Result<Migrated, String> {
        let text = format!(
            "apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\nmetadata: {{name: a.example.com}}\nspec:\n  group: example.com\n  version: v1\n  preserveUnknownFields: false\n  names: {{plural: as, kind: A}}\n  validation:\n    openAPIV3Schema: {schema}\n"
        );
        let mut body = parse_documents(&text).unwrap().remove(0).as_map().unwrap().clone();
        let mut done = Migrated::default();
        convert(&mut body, &mut done).map(|()| done).map_err(|e| e.0)
    }

    #[test]
    fn only_structural_schemas_migrate() {
        crd("{type: object, properties: {spec: {type: object, anyOf: [{required: [a]}, {required: [b]}]}}}").unwrap();
        crd("{type: object, properties: {spec: {type: object, x-kubernetes-preserve-unknown-fields: true}}}").unwrap();
        for (schema, why) in [
            ("{type: string}", "not of type object"),
            (
                "{type: object, properties: {spec: {anyOf: [{type: string}, {type: integer}]}}}",
                "has no type",
            ),
            (
                "{type: object, properties: {spec: {type: object, anyOf: [{type: object}]}}}",
                "sets `type`",
            ),
            (
                "{type: object, properties: {metadata: {type: object, properties: {labels: {type: object}}}}}",
                "restricts `labels`",
            ),
            (
                "{type: object, properties: {spec: {type: array, items: [{type: string}]}}}",
                "is a list",
            ),
            ("{type: object, properties: {spec: {$ref: '#/definitions/x'}}}", "uses `$ref`"),
            ("{type: object, properties: {spec: {type: array}}}", "without items"),
        ] {
            let err = crd(schema).unwrap_err();
            assert!(err.contains(why), "{schema}: {err}");
        }
    }
}
