//! One run's scratch directory beside its output (`.sealift-run-<random>/`): the staging
//! layout and the bundle being written live there, and nowhere else, until the finished
//! bundle is renamed into place. The directory names its owner (process id and start time);
//! a later run in the same place removes every run directory whose owner is gone, so a killed
//! run leaves nothing behind for long, and a partial bundle never sits beside finished ones.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const PREFIX: &str = ".sealift-run-";
const OWNER: &str = "owner";
/// Scratch names of earlier versions, removed once this old (nothing may still write them).
const LEGACY: &[&str] = &[".sealift-staging-", ".sealift-bundle-"];
const LEGACY_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A live run's directory; removed with everything in it when dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Create a run directory in `parent`, after removing abandoned ones there.
    pub fn create(parent: &Path) -> io::Result<Self> {
        sweep(parent);
        let dir = tempfile::Builder::new().prefix(PREFIX).tempdir_in(parent)?;
        fs::write(dir.path().join(OWNER), owner_of(std::process::id()).unwrap_or_default())?;
        Ok(Self { path: dir.keep() })
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Remove run directories in `parent` whose owner process is gone (and earlier versions'
/// scratch files over an hour old). Returns what was removed.
pub fn sweep(parent: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(parent) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let abandoned = if name.starts_with(PREFIX) {
            let owner_file = path.join(OWNER);
            // Only a small regular file is read (not a FIFO or a link planted there).
            let owner = fs::symlink_metadata(&owner_file)
                .ok()
                .filter(|m| m.is_file())
                .and_then(|_| crate::bounded::read_to_string(&owner_file, 256).ok());
            owner.is_some_and(|o| !owner_alive(&o))
        } else if LEGACY.iter().any(|p| name.starts_with(p)) {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > LEGACY_AGE)
        } else {
            false
        };
        if !abandoned {
            continue;
        }
        let gone = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// `<pid> <start time>`: the start time (clock ticks since boot, from `/proc/<pid>/stat`)
/// tells a live owner from a later process that got the same id.
fn owner_of(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let start = rest.split_whitespace().nth(19)?;
    Some(format!("{pid} {start}"))
}

/// Is the process an owner line names still running? An unreadable owner is treated as alive
/// only while it is being written (empty file): anything else unparsable is abandoned.
fn owner_alive(owner: &str) -> bool {
    let Some(pid) = owner.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()) else {
        return owner.is_empty();
    };
    owner_of(pid).is_some_and(|now| now == owner.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_owners_directory_is_swept_and_a_live_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        let live = RunDir::create(parent.path()).unwrap();
        let dead = parent.path().join(".sealift-run-dead");
        fs::create_dir(&dead).unwrap();
        // A process id that is not running (pid_max is below 2^22 on Linux).
        fs::write(dead.join(OWNER), "4194303 1").unwrap();
        fs::write(dead.join("bundle.partial"), b"half a bundle").unwrap();
        let other = parent.path().join("release.tar");
        fs::write(&other, b"x").unwrap();
        assert_eq!(sweep(parent.path()), vec![dead.clone()]);
        assert!(live.path().is_dir() && other.exists() && !dead.exists());
        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists());
    }
}
