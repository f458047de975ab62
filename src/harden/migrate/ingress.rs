//! Ingress from `extensions/v1beta1` or `networking.k8s.io/v1beta1` to `networking.k8s.io/v1`:
//! `spec.backend` is `spec.defaultBackend`, `serviceName`/`servicePort` become
//! `service.name`/`service.port.number` (or `.name`), and every path needs a `pathType`
//! (`ImplementationSpecific`, what an unset one meant).

use super::{Migrated, NotMechanical};
use crate::harden::yaml::{Map, Node};

pub(super) fn convert(body: &mut Map, done: &mut Migrated) -> Result<(), NotMechanical> {
    let Some(spec) = body.get_mut("spec").and_then(Node::as_map_mut) else {
        return Ok(());
    };
    if let Some(backend) = spec.remove("backend") {
        let new = backend_v1(&backend, "spec.backend")?;
        done.moved_from("spec.backend", "spec.defaultBackend", &backend, &new);
        spec.insert("defaultBackend", new);
    }
    for (r, rule) in spec
        .get_mut("rules")
        .and_then(Node::as_seq_mut)
        .into_iter()
        .flatten()
        .filter_map(Node::as_map_mut)
        .enumerate()
    {
        for (p, path) in rule
            .get_mut("http")
            .and_then(Node::as_map_mut)
            .and_then(|h| h.get_mut("paths"))
            .and_then(Node::as_seq_mut)
            .into_iter()
            .flatten()
            .filter_map(Node::as_map_mut)
            .enumerate()
        {
            let at = format!("spec.rules[{r}].http.paths[{p}]");
            if let Some(backend) = path.get("backend").cloned() {
                let new = backend_v1(&backend, &format!("{at}.backend"))?;
                if new != backend {
                    done.moved(format!("{at}.backend"), Some(&backend), Some(&new));
                    path.insert("backend", new);
                }
            }
            if path.get("pathType").is_none() {
                let new = Node::str("ImplementationSpecific");
                done.moved(format!("{at}.pathType"), None, Some(&new));
                path.insert("pathType", new);
            }
        }
    }
    Ok(())
}

/// A v1beta1 backend in v1 form; a `resource` backend is the same in both.
fn backend_v1(backend: &Node, at: &str) -> Result<Node, NotMechanical> {
    let map = backend.as_map().ok_or_else(|| format!("{at} is not a mapping"))?;
    if map.get("resource").is_some() && map.get("serviceName").is_none() {
        return Ok(backend.clone());
    }
    let name = map
        .get("serviceName")
        .and_then(Node::as_str)
        .ok_or_else(|| format!("{at} names neither a serviceName nor a resource"))?;
    let port = match map.get("servicePort") {
        Some(Node::Num(n)) => ("number", Node::Num(n.clone())),
        // A port name must hold a letter: digits alone are a number, read as decimal.
        Some(Node::Str(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            let n: i64 = s.parse().map_err(|_| format!("{at}.servicePort `{s}` is out of range"))?;
            ("number", Node::int(n))
        }
        Some(Node::Str(s)) if !s.is_empty() => ("name", Node::str(s.clone())),
        _ => return Err(format!("{at} has no servicePort").into()),
    };
    if let Some((extra, _)) = map.iter().find(|(k, _)| !matches!(*k, "serviceName" | "servicePort")) {
        return Err(format!("{at} has `{extra}` beside serviceName, which networking.k8s.io/v1 has no place for").into());
    }
    let mut port_map = Map::new();
    port_map.insert(port.0, port.1);
    let mut service = Map::new();
    service.insert("name", Node::str(name));
    service.insert("port", Node::Map(port_map));
    let mut out = Map::new();
    out.insert("service", Node::Map(service));
    Ok(Node::Map(out))
}
