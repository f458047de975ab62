//! `db build`: find advisory records under directories (any depth, format told by content),
//! normalise them, and write the store.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::store::{ADVISORIES, METADATA, Metadata};
use super::{Error, alpine, debian, osv};

/// What a build read and wrote.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub metadata: Metadata,
    /// Files that held no advisory records of a known format (READMEs, licences, …).
    pub skipped: Vec<PathBuf>,
}

/// Largest file read as a record (the Debian tracker's full JSON is about 70 MB).
const MAX_RECORD_FILE: u64 = 512 * 1024 * 1024;

pub fn build(from: &[PathBuf], out: &Path) -> Result<BuildReport, Error> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    let mut files = Vec::new();
    for dir in from {
        collect(dir, &mut files)?;
    }
    let mut advisories = Vec::new();
    let mut skipped = Vec::new();
    let mut per_format: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let len = std::fs::metadata(file).map_err(io(file))?.len();
        if len > MAX_RECORD_FILE {
            // Too large to read whole: refuse rather than drop whatever it holds.
            return Err(Error::Malformed {
                path: file.clone(),
                format: "advisory",
                reason: format!("{len} bytes, more than the {MAX_RECORD_FILE} a record file may have"),
            });
        }
        let bytes = std::fs::read(file).map_err(io(file))?;
        let doc = json_document(&bytes).map_err(|reason| Error::Malformed {
            path: file.clone(),
            format: "JSON",
            reason,
        })?;
        let Some(doc) = doc else {
            skipped.push(file.clone());
            continue;
        };
        let (format, parsed) = if osv::is_osv(&doc) {
            ("osv", osv::advisories(&doc))
        } else if alpine::is_secdb(&doc) {
            ("alpine-secdb", alpine::advisories(&doc))
        } else if debian::is_vuln_list_cve(&doc) {
            ("debian-tracker", debian::from_vuln_list(&doc))
        } else if debian::is_tracker_json(&doc) {
            ("debian-tracker", debian::from_tracker_json(&doc))
        } else {
            skipped.push(file.clone());
            continue;
        };
        let found = parsed.map_err(|reason| Error::Malformed {
            path: file.clone(),
            format,
            reason,
        })?;
        *per_format.entry(format.to_owned()).or_default() += 1;
        advisories.extend(found);
    }
    if advisories.is_empty() {
        let dirs: Vec<String> = from.iter().map(|d| d.display().to_string()).collect();
        return Err(Error::NoRecords(dirs.join(", ")));
    }
    advisories
        .sort_by(|a, b| (&a.ecosystem, &a.package, &a.id, a.source.as_str()).cmp(&(&b.ecosystem, &b.package, &b.id, b.source.as_str())));
    advisories.dedup();

    std::fs::create_dir_all(out).map_err(io(out))?;
    let path = out.join(ADVISORIES);
    let mut hasher = Sha256::new();
    let mut writer = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
    let mut ecosystems: BTreeMap<String, usize> = BTreeMap::new();
    let mut newest: Option<&str> = None;
    for a in &advisories {
        let mut line = serde_json::to_vec(a).map_err(|e| Error::Unusable {
            dir: out.to_owned(),
            reason: e.to_string(),
        })?;
        line.push(b'\n');
        hasher.update(&line);
        writer.write_all(&line).map_err(io(&path))?;
        *ecosystems.entry(a.ecosystem.clone()).or_default() += 1;
        if let Some(m) = a.modified.as_deref() {
            newest = Some(newest.map_or(m, |n| n.max(m)));
        }
    }
    writer.flush().map_err(io(&path))?;
    let metadata = Metadata {
        format: super::store::FORMAT.into(),
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        newest: newest.map(str::to_owned),
        advisories: advisories.len(),
        ecosystems,
        files: per_format,
    };
    let meta_path = out.join(METADATA);
    let text = serde_json::to_vec_pretty(&metadata).map_err(|e| Error::Unusable {
        dir: out.to_owned(),
        reason: e.to_string(),
    })?;
    std::fs::write(&meta_path, text).map_err(io(&meta_path))?;
    Ok(BuildReport { metadata, skipped })
}

/// The JSON object a file holds, `None` when it does not start like one (text, YAML, …), an
/// error when it starts like one and does not parse: a damaged record must not vanish.
fn json_document(bytes: &[u8]) -> Result<Option<Value>, String> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(bytes).map(Some).map_err(|e| e.to_string()),
        _ => Ok(None),
    }
}

/// Regular files under `dir`, depth first, in name order (so builds are reproducible).
fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    let meta = std::fs::metadata(dir).map_err(io)?;
    if meta.is_file() {
        files.push(dir.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for path in entries {
        let ft = std::fs::symlink_metadata(&path)
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?
            .file_type();
        if ft.is_dir() {
            collect(&path, files)?;
        } else if ft.is_file() {
            files.push(path);
        }
    }
    Ok(())
}
