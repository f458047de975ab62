//! `check --state DIR`: what earlier runs found, so an unchanged item is not asked again. One
//! JSON line per result, appended as each completes (a killed run keeps what it finished);
//! keyed by the hash of everything the result depends on ([`super::plan::Work`]'s state key).
//! Only `ok` results are ever reused, and only while the image's tag still resolves to the
//! signed digest. The file is local and written by sealift, but still read with a limit, and a
//! line that does not parse (a run killed mid-write) is skipped.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::report::Item;

/// The state file in the state directory.
const FILE: &str = "check-state.jsonl";
/// Largest state file read.
const MAX_STATE: u64 = 1 << 30;

#[derive(Serialize, Deserialize)]
struct Line {
    key: String,
    item: Item,
    /// What the registry showed of the object when the result was made (a signature tag's
    /// manifest digest, a referrers list): the result stands only while it still shows that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<String>,
}

/// Results of earlier runs, and the file new ones are appended to.
pub struct State {
    path: PathBuf,
    known: BTreeMap<String, (Item, Option<String>)>,
    file: Mutex<std::fs::File>,
}

impl State {
    /// Open (or start) the state in `dir`; with `fresh`, forget what is there (`--full`).
    pub fn open(dir: &Path, fresh: bool) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE);
        let mut known = BTreeMap::new();
        if !fresh && path.exists() {
            let bytes = crate::bounded::read(&path, MAX_STATE)?;
            for line in bytes.split(|b| *b == b'\n') {
                if let Ok(l) = serde_json::from_slice::<Line>(line) {
                    known.insert(l.key, (l.item, l.seen));
                }
            }
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).truncate(false).open(&path)?;
        if fresh {
            file.set_len(0)?;
        }
        Ok(Self {
            path,
            known,
            file: Mutex::new(file),
        })
    }

    /// The stored result for `key`, with what the registry showed then.
    pub(super) fn get(&self, key: &str) -> Option<(Item, Option<String>)> {
        self.known.get(key).cloned()
    }

    /// Append a result. A failure to write costs only the reuse next time, so it is not an
    /// error of the check.
    pub(super) fn record(&self, key: &str, item: &Item, seen: Option<String>) {
        let Ok(mut line) = serde_json::to_vec(&Line {
            key: key.to_owned(),
            item: item.clone(),
            seen,
        }) else {
            return;
        };
        line.push(b'\n');
        if let Ok(mut file) = self.file.lock() {
            let _ = file.write_all(&line);
        }
    }

    /// Where the state is kept.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}
