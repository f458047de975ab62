//! Alpine secdb: `secfixes` maps a fixed package version to the CVEs it fixes. Two layouts
//! exist: Alpine's own (`{"distroversion", "packages": [{"pkg": {"name", "secfixes"}}]}`) and
//! one file per package as vuln-list mirrors it (`{"name", "distroversion", "secfixes"}`).
//! The version key `"0"` means the package was never affected (the CVE was a false match)
//! and yields nothing.

use serde_json::Value;

use super::{Advisory, Range};

pub fn is_secdb(doc: &Value) -> bool {
    doc.get("distroversion").is_some() && (doc.get("secfixes").is_some() || doc.get("packages").is_some())
}

pub fn advisories(doc: &Value) -> Result<Vec<Advisory>, String> {
    let release = doc["distroversion"].as_str().ok_or("no `distroversion`")?;
    // "v3.14" in both layouts; OSV calls the ecosystem "Alpine:v3.14".
    let ecosystem = format!("Alpine:v{}", release.trim_start_matches('v'));
    let mut out = Vec::new();
    let mut add = |name: &str, secfixes: &Value| -> Result<(), String> {
        let fixes = secfixes.as_object().ok_or_else(|| format!("{name}: `secfixes` is not a map"))?;
        for (version, ids) in fixes {
            if version == "0" {
                continue;
            }
            for id in ids.as_array().ok_or_else(|| format!("{name} {version}: not a list"))? {
                // Entries look like "CVE-2021-3711" or "CVE-2021-3711 GHSA-…".
                let Some(text) = id.as_str() else { continue };
                let mut ids = text.split_whitespace().map(str::to_owned);
                let Some(first) = ids.next() else { continue };
                out.push(Advisory {
                    id: first,
                    aliases: ids.collect(),
                    ecosystem: ecosystem.clone(),
                    package: name.to_owned(),
                    severity: "unknown".into(),
                    cvss: None,
                    ranges: vec![Range::before(Some(version.clone()))],
                    versions: Vec::new(),
                    modified: None,
                    source: "alpine-secdb".into(),
                });
            }
        }
        Ok(())
    };
    if let Some(name) = doc["name"].as_str() {
        add(name, &doc["secfixes"])?;
    }
    for p in doc["packages"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = p["pkg"]["name"].as_str().ok_or("a package without `pkg.name`")?;
        add(name, &p["pkg"]["secfixes"])?;
    }
    Ok(out)
}
