//! `db build`: find advisory records under directories (any depth, format told by content;
//! zip archives are read like directories), normalise them, and write the store.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::store::{ADVISORIES, METADATA, Metadata};
use super::{Advisory, Error, alpine, debian, osv};

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
    let mut found = Found::default();
    for file in &files {
        let len = std::fs::metadata(file).map_err(io(file))?.len();
        if is_zip(file)? {
            read_zip(file, &mut found)?;
            continue;
        }
        if len > MAX_RECORD_FILE {
            // Too large to read whole: refuse rather than drop whatever it holds.
            return Err(Error::Malformed {
                path: file.clone(),
                format: "advisory",
                reason: format!("{len} bytes, more than the {MAX_RECORD_FILE} a record file may have"),
            });
        }
        let bytes = std::fs::read(file).map_err(io(file))?;
        found.ingest(file.clone(), &bytes)?;
    }
    let Found {
        mut advisories,
        skipped,
        per_format,
    } = found;
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

/// Records found so far.
#[derive(Default)]
struct Found {
    advisories: Vec<Advisory>,
    skipped: Vec<PathBuf>,
    per_format: BTreeMap<String, usize>,
}

impl Found {
    /// Parse one file's bytes (`name` is the file, or `archive.zip/entry` inside a zip).
    fn ingest(&mut self, name: PathBuf, bytes: &[u8]) -> Result<(), Error> {
        let doc = json_document(bytes).map_err(|reason| Error::Malformed {
            path: name.clone(),
            format: "JSON",
            reason,
        })?;
        let Some(doc) = doc else {
            self.skipped.push(name);
            return Ok(());
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
            self.skipped.push(name);
            return Ok(());
        };
        let found = parsed.map_err(|reason| Error::Malformed {
            path: name,
            format,
            reason,
        })?;
        *self.per_format.entry(format.to_owned()).or_default() += 1;
        self.advisories.extend(found);
        Ok(())
    }
}

/// `PK\x03\x04`: the first bytes of a zip file (its first local header).
const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";

/// Does the file start like a zip archive?
fn is_zip(path: &Path) -> Result<bool, Error> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let n = f.read(&mut head).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(n == 4 && &head == ZIP_MAGIC)
}

/// Every file inside a zip archive (read by the `zip` crate: stored and deflated entries,
/// zip64, each entry's CRC-32 checked at its end), in name order, as if it were a directory.
/// A damaged, encrypted or otherwise unreadable archive or entry stops the build: its records
/// must not vanish. An entry is read up to [`MAX_RECORD_FILE`] bytes, whatever its header says.
fn read_zip(path: &Path, found: &mut Found) -> Result<(), Error> {
    let malformed = |reason: String| Error::Malformed {
        path: path.to_owned(),
        format: "zip",
        reason,
    };
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut archive = ::zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| malformed(e.to_string()))?;
    let mut entries: Vec<(String, usize)> = (0..archive.len())
        .filter_map(|i| archive.name_for_index(i).map(|name| (name.to_owned(), i)))
        .filter(|(name, _)| !name.ends_with('/'))
        .collect();
    entries.sort();
    // An archive with no files (or one whose directory could not be found) is not an empty
    // database: its records would vanish.
    if entries.is_empty() {
        return Err(malformed("no files in the archive".into()));
    }
    for (name, index) in entries {
        let entry_error = |e: &dyn std::fmt::Display| malformed(format!("entry {name}: {e}"));
        let entry = archive.by_index(index).map_err(|e| entry_error(&e))?;
        let mut bytes = Vec::new();
        entry
            .take(MAX_RECORD_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| entry_error(&e))?;
        if bytes.len() as u64 > MAX_RECORD_FILE {
            return Err(entry_error(&format!(
                "more than the {MAX_RECORD_FILE} bytes a record file may have"
            )));
        }
        // `archive.zip/entry` as a label only: nothing is extracted, whatever the name says.
        found.ingest(PathBuf::from(format!("{}/{name}", path.display())), &bytes)?;
    }
    Ok(())
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
