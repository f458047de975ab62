//! `oci-archive:` sources: an OCI layout inside a tar, read in place by offset (never unpacked).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::oci::Digest;
use crate::store::{Error, LayoutIndex, RangeReader};

const MAX_INDEX_SIZE: u64 = 64 * 1024 * 1024;

/// An opened archive: where each regular file's bytes are.
pub(super) struct Archive {
    path: PathBuf,
    file: Arc<File>,
    entries: HashMap<String, (u64, u64)>,
}

impl Archive {
    pub(super) fn open(path: &Path) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = Arc::new(File::open(path).map_err(io)?);
        let mut entries = HashMap::new();
        let mut archive = tar::Archive::new(RangeReader::new(Arc::clone(&file), 0, u64::MAX));
        for entry in archive.entries().map_err(io)? {
            let entry = entry.map_err(io)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path().map_err(io)?.to_string_lossy().trim_start_matches("./").to_owned();
            entries.insert(name, (entry.raw_file_position(), entry.size()));
        }
        if !entries.contains_key("oci-layout") {
            return Err(Error::NotALayout(path.to_path_buf()));
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            entries,
        })
    }

    fn open_entry(&self, name: &str) -> Option<(RangeReader, u64)> {
        let &(offset, size) = self.entries.get(name)?;
        Some((RangeReader::new(Arc::clone(&self.file), offset, size), size))
    }

    pub(super) fn index(&self) -> Result<LayoutIndex, Error> {
        let (reader, _) = self.open_entry("index.json").ok_or_else(|| Error::NotALayout(self.path.clone()))?;
        let mut bytes = Vec::new();
        reader.take(MAX_INDEX_SIZE).read_to_end(&mut bytes).map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidIndex {
            path: self.path.join("index.json"),
            reason: e.to_string(),
        })
    }

    pub(super) fn blob(&self, digest: &Digest) -> Result<RangeReader, Error> {
        self.open_entry(&digest.layout_path())
            .map(|(r, _)| r)
            .ok_or_else(|| Error::MissingBlob(digest.clone()))
    }
}
