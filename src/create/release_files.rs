//! Release files (Kubernetes manifests) named in `sealift.yaml`, placed under
//! `sealift/manifests/` in the bundle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Error;
use crate::bundle::BundleFile;

fn is_manifest_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), Error> {
    let err = |reason: String| Error::ReleaseFile {
        path: dir.to_path_buf(),
        reason,
    };
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    children.sort_by_key(std::fs::DirEntry::file_name);
    for child in children {
        let path = child.path();
        let name = child.file_name().to_string_lossy().into_owned();
        let meta = std::fs::metadata(&path).map_err(|e| Error::ReleaseFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if meta.is_dir() {
            walk(&path, &format!("{prefix}/{name}"), out)?;
        } else if meta.is_file() && is_manifest_file(&path) {
            out.push((format!("{prefix}/{name}"), path));
        }
    }
    Ok(())
}

/// Files to include, keyed by bundle path. A name given twice is an error.
pub(super) fn collect(paths: &[PathBuf]) -> Result<Vec<BundleFile>, Error> {
    let mut found = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| Error::ReleaseFile {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::ReleaseFile {
                path: p.clone(),
                reason: "has no file name".into(),
            })?;
        if meta.is_dir() {
            walk(p, &format!("sealift/manifests/{name}"), &mut found)?;
        } else {
            found.push((format!("sealift/manifests/{name}"), p.clone()));
        }
    }
    let mut by_path = BTreeMap::new();
    for (path, source) in found {
        if let Some(prev) = by_path.insert(path.clone(), source.clone()) {
            return Err(Error::ReleaseFile {
                path: source,
                reason: format!("would be stored as `{path}`, which {} already uses", prev.display()),
            });
        }
    }
    Ok(by_path.into_iter().map(|(path, source)| BundleFile { path, source }).collect())
}
