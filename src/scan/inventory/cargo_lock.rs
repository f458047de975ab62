//! Rust's `Cargo.lock`: `[[package]]` tables with `name`, `version` and `source`. Only
//! packages from a registry are crates.io packages; path and git dependencies (and the
//! workspace's own crates, which have no `source`) are not.

use crate::scan::package::{Found, Kind};

pub fn parse(text: &str) -> Result<Vec<Found>, String> {
    let mut out = Vec::new();
    let mut current: Option<(Option<String>, Option<String>, Option<String>)> = None;
    let finish = |entry: Option<(Option<String>, Option<String>, Option<String>)>, out: &mut Vec<Found>| -> Result<(), String> {
        if let Some((name, version, source)) = entry {
            let (Some(name), Some(version)) = (name, version) else {
                return Err("a [[package]] has no name or version".into());
            };
            if source.is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+")) {
                out.push(Found::new(Kind::Cargo, name, version));
            }
        }
        Ok(())
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            finish(current.take(), &mut out)?;
            if line == "[[package]]" {
                current = Some((None, None, None));
            }
            continue;
        }
        let Some(entry) = current.as_mut() else { continue };
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim();
        let Some(value) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
            continue;
        };
        match key.trim() {
            "name" => entry.0 = Some(value.to_owned()),
            "version" => entry.1 = Some(value.to_owned()),
            "source" => entry.2 = Some(value.to_owned()),
            _ => {}
        }
    }
    finish(current.take(), &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_registry_packages_only() {
        let text = "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n \"tokio\",\n]\n\n\
                    [[package]]\nname = \"tokio\"\nversion = \"1.8.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"ab\"\n\n\
                    [[package]]\nname = \"g\"\nversion = \"0.1.0\"\nsource = \"git+https://example.com/g#abc\"\n\n\
                    [metadata]\n\"x\" = \"y\"\n";
        let found = parse(text).unwrap();
        assert_eq!(found, vec![Found::new(Kind::Cargo, "tokio", "1.8.0")]);
        assert!(parse("[[package]]\nname = \"x\"\n").is_err());
    }
}
