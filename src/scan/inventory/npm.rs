//! npm: `package-lock.json` / `npm-shrinkwrap.json` (lockfile versions 1 to 3) and the
//! `package.json` of each installed package under `node_modules/`.

use serde_json::Value;

use crate::scan::package::{Found, Kind};

/// The packages a lockfile pins. The root project itself (key `""`) and links to local
/// directories are not packages from the registry and are left out.
pub fn lockfile(bytes: &[u8]) -> Result<Vec<Found>, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    if let Some(packages) = doc.get("packages").and_then(Value::as_object) {
        // Lockfile v2 and v3: a flat map from install path to package.
        for (path, entry) in packages {
            if path.is_empty() || entry.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let Some(tail) = path.rsplit_once("node_modules/").map(|(_, t)| t) else {
                continue; // a workspace member, not an installed package
            };
            let name = entry.get("name").and_then(Value::as_str).unwrap_or(tail);
            if let Some(version) = entry.get("version").and_then(Value::as_str) {
                out.push(Found::new(Kind::Npm, name, version));
            }
        }
    } else if let Some(deps) = doc.get("dependencies").and_then(Value::as_object) {
        // Lockfile v1: nested `dependencies`.
        let mut stack: Vec<&serde_json::Map<String, Value>> = vec![deps];
        while let Some(map) = stack.pop() {
            for (name, entry) in map {
                if let Some(version) = entry.get("version").and_then(Value::as_str)
                    && !version.starts_with("file:")
                    && !version.starts_with("link:")
                {
                    out.push(Found::new(Kind::Npm, name, version));
                }
                if let Some(nested) = entry.get("dependencies").and_then(Value::as_object) {
                    stack.push(nested);
                }
            }
        }
    } else {
        return Err("neither `packages` nor `dependencies` is present".into());
    }
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    out.dedup();
    Ok(out)
}

/// An installed package's own `package.json`.
pub fn installed(bytes: &[u8]) -> Result<Option<Found>, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let (Some(name), Some(version)) = (doc.get("name").and_then(Value::as_str), doc.get("version").and_then(Value::as_str)) else {
        return Ok(None); // package.json files of fixtures and sub-folders often name nothing
    };
    Ok(Some(Found::new(Kind::Npm, name, version)))
}

/// Is `path` (no leading `/`) the `package.json` of a package installed in `node_modules`:
/// `…/node_modules/<name>/package.json` or `…/node_modules/@scope/<name>/package.json`?
pub fn is_installed_manifest(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("/package.json") else {
        return false;
    };
    let Some(name) = dir
        .rsplit_once("/node_modules/")
        .map(|(_, n)| n)
        .or_else(|| dir.strip_prefix("node_modules/"))
    else {
        return false;
    };
    match name.split_once('/') {
        None => !name.starts_with('.'),
        Some((scope, rest)) => scope.starts_with('@') && !rest.contains('/'),
    }
}

/// The project directory a `node_modules` path belongs to.
pub fn project_of(path: &str) -> &str {
    path.find("node_modules/").map_or(path, |i| path[..i].trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lockfile_v3_and_v1() {
        let v3 = br#"{"lockfileVersion":3,"packages":{"":{"name":"app","version":"1.0.0"},
            "node_modules/lodash":{"version":"4.17.15"},
            "node_modules/a/node_modules/@scope/b":{"version":"2.0.0"},
            "node_modules/local":{"resolved":"../local","link":true},
            "packages/ws":{"version":"0.1.0"}}}"#;
        let found = lockfile(v3).unwrap();
        let names: Vec<_> = found.iter().map(|f| format!("{}@{}", f.name, f.version)).collect();
        assert_eq!(names, ["@scope/b@2.0.0", "lodash@4.17.15"]);
        let v1 = br#"{"lockfileVersion":1,"dependencies":{"express":{"version":"4.17.1","dependencies":{"qs":{"version":"6.7.0"}}},"x":{"version":"file:../x"}}}"#;
        let names: Vec<_> = lockfile(v1).unwrap().iter().map(|f| format!("{}@{}", f.name, f.version)).collect();
        assert_eq!(names, ["express@4.17.1", "qs@6.7.0"]);
        assert!(lockfile(b"{}").is_err());
        assert!(lockfile(b"{").is_err());
    }

    #[test]
    fn recognises_installed_package_manifests() {
        assert!(is_installed_manifest("app/node_modules/lodash/package.json"));
        assert!(is_installed_manifest("node_modules/@babel/core/package.json"));
        assert!(is_installed_manifest("app/node_modules/a/node_modules/b/package.json"));
        assert!(!is_installed_manifest("app/node_modules/lodash/fp/package.json"));
        assert!(!is_installed_manifest("app/package.json"));
        assert!(!is_installed_manifest("app/node_modules/.bin/package.json"));
        assert_eq!(project_of("app/node/node_modules/a/package.json"), "app/node");
    }
}
