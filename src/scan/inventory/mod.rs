//! Package inventory of an image: its layers read in order as tar streams, the files package
//! managers leave behind parsed as they pass, and OCI whiteouts applied so a package deleted
//! in a later layer is gone. Nothing is unpacked; memory holds the parsed packages, never a
//! layer.

mod accounts;
pub mod apk;
mod cargo_lock;
pub mod dpkg;
mod gobuild;
pub mod layer;
mod layer_files;
mod links;
mod npm;
mod os_release;
mod python;
pub mod rpm;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

pub use accounts::{Accounts, Ids};
pub use layer_files::{LayerFiles, LayerReader};

use super::package::{Distro, Found, Package};

/// Largest package database or lockfile read (a dpkg status of a big system is a few MiB).
const MAX_TEXT: u64 = 64 << 20;
/// Largest RPM database read (a full Fedora workstation's is about 200 MiB).
const MAX_RPMDB: u64 = 1 << 30;
/// Python metadata: only the header block at the top is needed.
const MAX_PYTHON_METADATA: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A layer is not a readable tar stream.
    #[error("layer {layer}: {reason}")]
    Layer { layer: String, reason: String },
}

/// The packages of an image, and what could not be read.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub distro: Option<Distro>,
    pub packages: Vec<Package>,
    /// The image's `/etc/passwd` and `/etc/group`.
    pub accounts: Accounts,
    /// Files that looked like package records but could not be read; each names the file.
    pub warnings: Vec<String>,
}

/// What a file in a layer means to the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    DpkgStatus,
    ApkInstalled,
    OsRelease,
    NpmLock,
    NpmInstalled,
    Python,
    CargoLock,
    Executable,
    RpmSqlite,
    /// BerkeleyDB (`Packages`) and ndb (`Packages.db`) RPM databases: reported, not read.
    RpmOther,
    /// `rpmdb.sqlite-wal`: SQLite's write-ahead log, which the database is read without.
    RpmWal,
    Passwd,
    Group,
}

fn classify(path: &str, executable: bool) -> Option<FileKind> {
    let name = path.rsplit('/').next().unwrap_or(path);
    Some(match path {
        "var/lib/dpkg/status" => FileKind::DpkgStatus,
        p if p.starts_with("var/lib/dpkg/status.d/") && !p.ends_with(".md5sums") && !p[22..].contains('/') => FileKind::DpkgStatus,
        "lib/apk/db/installed" => FileKind::ApkInstalled,
        "etc/os-release" | "usr/lib/os-release" => FileKind::OsRelease,
        "etc/passwd" => FileKind::Passwd,
        "etc/group" => FileKind::Group,
        "var/lib/rpm/rpmdb.sqlite" | "usr/lib/sysimage/rpm/rpmdb.sqlite" => FileKind::RpmSqlite,
        "var/lib/rpm/Packages" | "var/lib/rpm/Packages.db" | "usr/lib/sysimage/rpm/Packages.db" => FileKind::RpmOther,
        "var/lib/rpm/rpmdb.sqlite-wal" | "usr/lib/sysimage/rpm/rpmdb.sqlite-wal" => FileKind::RpmWal,
        p if (name == "package-lock.json" || name == "npm-shrinkwrap.json") && !p.contains("node_modules/") => FileKind::NpmLock,
        p if npm::is_installed_manifest(p) => FileKind::NpmInstalled,
        p if python::is_metadata(p) => FileKind::Python,
        _ if name == "Cargo.lock" => FileKind::CargoLock,
        _ if executable => FileKind::Executable,
        _ => return None,
    })
}

/// What one file contributed.
#[derive(Debug, Clone)]
enum Content {
    Packages(FileKind, Vec<Found>),
    OsRelease(Distro),
    /// `/etc/passwd` or `/etc/group`, parsed at the end.
    Text(String),
    /// A symbolic link at a package-record path: resolved against the final file system in
    /// [`Collector::finish`].
    Symlink(String, FileKind),
}

#[derive(Debug, Clone)]
struct Record {
    layer: String,
    content: Content,
}

/// Builds an inventory one layer at a time, lowest layer first: each layer is read on its own
/// ([`LayerReader::read`], several at once if the caller likes) and then applied in order
/// ([`Collector::apply`]).
#[derive(Debug, Default)]
pub struct Collector {
    /// Files of the layers applied so far, by path (no leading `/`).
    files: BTreeMap<String, Record>,
    warnings: Vec<String>,
    /// Read only `/etc/passwd` and `/etc/group` (for resolving a user name).
    accounts_only: bool,
}

impl Collector {
    pub fn new() -> Self {
        Self::default()
    }

    /// A collector that reads nothing but the user and group databases.
    pub fn accounts_only() -> Self {
        Self {
            accounts_only: true,
            ..Self::default()
        }
    }

    /// What reads this collector's layers (it can be copied to other threads).
    pub fn reader(&self) -> LayerReader {
        LayerReader {
            accounts_only: self.accounts_only,
        }
    }

    /// Read one layer and apply it: [`LayerReader::read`] then [`Collector::apply`].
    pub fn add_layer<R: Read>(&mut self, digest: &str, media_type: &str, open: impl Fn() -> std::io::Result<R>) -> Result<(), Error> {
        let layer = self.reader().read(digest, media_type, open)?;
        self.apply(layer)
    }

    /// Put one layer read by [`LayerReader::read`] on top of those applied so far: whatever
    /// it has at a path hides what the lower layers had there (a non-directory also hides
    /// everything below it), whiteouts and opaque directories remove what they name, and its
    /// package records are added. A hard link at a package-record path whose target was not in
    /// its own layer takes the lower layers' record of the target, or is an error.
    pub fn apply(&mut self, layer: LayerFiles) -> Result<(), Error> {
        let LayerFiles {
            digest,
            entries,
            mut added,
            deleted,
            opaque,
            warnings,
            mut linked,
            lower_links,
        } = layer;
        // Hard links whose target this layer does not hold as a regular file take the record
        // the layers below have for it, unless this layer puts something else there (or
        // removes it).
        for l in lower_links {
            let removed = entries.contains_key(&l.target)
                || ancestors(&l.target)
                    .any(|a| entries.get(a) == Some(&false) || deleted.iter().any(|d| d == a) || opaque.iter().any(|o| o == a))
                || deleted.contains(&l.target)
                || opaque.iter().any(String::is_empty);
            let known = (!removed)
                .then(|| self.files.get(&l.target))
                .flatten()
                .filter(|r| links::holds(r, &l.target, l.kind))
                .map(|r| r.content.clone());
            let Some(content) = known else {
                return Err(Error::Layer {
                    layer: digest,
                    reason: format!(
                        "/{} is a hard link to /{}, which this layer replaces or removes, or which is no package record of its kind in the layers below: sealift cannot read it",
                        l.link, l.target
                    ),
                });
            };
            let record = Record {
                layer: digest.clone(),
                content,
            };
            linked.push((l.at, l.link, record));
        }
        // Each link's record goes where the link was in the layer, so a later entry at the
        // same path still wins; the last placed first keeps the places right.
        linked.sort_by_key(|(at, _, _)| *at);
        for (at, link, record) in linked.into_iter().rev() {
            added.insert(at.min(added.len()), (link, record));
        }
        for (path, is_dir) in &entries {
            self.files.remove(path);
            if !is_dir {
                remove_below(&mut self.files, path);
            }
        }
        for path in deleted {
            self.files.remove(&path);
            remove_below(&mut self.files, &path);
        }
        for dir in opaque {
            remove_below(&mut self.files, &dir);
        }
        self.files.extend(added);
        self.warnings.extend(warnings);
        Ok(())
    }
    /// The inventory of the image as the layers read so far make it.
    pub fn finish(mut self) -> Inventory {
        self.resolve_symlinks();
        let os_release = |path: &str| match self.files.get(path) {
            Some(Record {
                content: Content::OsRelease(d),
                ..
            }) => Some(d.clone()),
            _ => None,
        };
        let distro = os_release("etc/os-release").or_else(|| os_release("usr/lib/os-release"));
        let mut accounts = Accounts::default();
        if let Some(Content::Text(text)) = self.files.get("etc/passwd").map(|r| &r.content) {
            accounts.add_passwd(text);
        }
        if let Some(Content::Text(text)) = self.files.get("etc/group").map(|r| &r.content) {
            accounts.add_group(text);
        }
        // npm packages a lockfile of the same project already lists are not counted twice.
        let mut locked: BTreeSet<(String, String, String)> = BTreeSet::new();
        for (path, record) in &self.files {
            if let Content::Packages(FileKind::NpmLock, found) = &record.content {
                let project = path.rsplit_once('/').map_or("", |(d, _)| d);
                locked.extend(found.iter().map(|f| (project.to_owned(), f.name.clone(), f.version.clone())));
            }
        }
        let mut packages = Vec::new();
        for (path, record) in self.files {
            let Content::Packages(kind, found) = record.content else { continue };
            for f in found {
                if kind == FileKind::NpmInstalled
                    && locked.contains(&(npm::project_of(&path).to_owned(), f.name.clone(), f.version.clone()))
                {
                    continue;
                }
                packages.push(Package::from_found(f, distro.as_ref(), &record.layer, &path));
            }
        }
        packages.sort_by(|a, b| (&a.ecosystem, &a.name, &a.version, &a.path).cmp(&(&b.ecosystem, &b.name, &b.version, &b.path)));
        packages.dedup_by(|a, b| a.ecosystem == b.ecosystem && a.name == b.name && a.version == b.version && a.path == b.path);
        Inventory {
            distro,
            packages,
            accounts,
            warnings: self.warnings,
        }
    }
}

/// The blank-line separated paragraphs of a package database (dpkg, apk), trimmed, each with
/// the 1-based number of the line it starts on.
fn paragraphs(text: &str) -> impl Iterator<Item = (u32, &str)> {
    let mut line = 1u32;
    text.split("\n\n").filter_map(move |p| {
        let leading = p.len() - p.trim_start().len();
        let start = line.saturating_add(count_newlines(&p[..leading]));
        line = line.saturating_add(count_newlines(p)).saturating_add(2);
        let p = p.trim();
        (!p.is_empty()).then_some((start, p))
    })
}

fn count_newlines(s: &str) -> u32 {
    u32::try_from(memchr::memchr_iter(b'\n', s.as_bytes()).count()).unwrap_or(u32::MAX)
}

/// Read one interesting file. The outer error is the layer's (the stream broke); the inner
/// one is the file's (it does not parse), which becomes a warning.
fn read_file(kind: FileKind, entry: &mut impl Read) -> std::io::Result<Result<Option<Content>, String>> {
    let packages = |r: Result<Vec<Found>, String>| r.map(|found| Some(Content::Packages(kind, found)));
    Ok(match kind {
        FileKind::Executable => Ok(gobuild::read(entry)?.map(|info| Content::Packages(kind, info.packages))),
        FileKind::RpmSqlite => {
            // SQLite reads files: the database is spooled to a private temporary one.
            let mut spool = tempfile::NamedTempFile::new()?;
            let copied = std::io::copy(&mut (&mut *entry).take(MAX_RPMDB + 1), spool.as_file_mut())?;
            if copied > MAX_RPMDB {
                std::io::copy(entry, &mut std::io::sink())?;
                Err(format!("larger than {} MiB, not read", MAX_RPMDB >> 20))
            } else {
                packages(rpm::read(spool.path()))
            }
        }
        FileKind::RpmWal => match std::io::copy(entry, &mut std::io::sink())? {
            0 => Ok(None),
            n => Err(format!(
                "a {n}-byte SQLite write-ahead log: rpmdb.sqlite is read without it, so packages installed since its last checkpoint are not listed"
            )),
        },
        FileKind::RpmOther => {
            std::io::copy(entry, &mut std::io::sink())?;
            Err("a BerkeleyDB or ndb RPM database: only rpmdb.sqlite (RPM >= 4.16) is read".into())
        }
        FileKind::Python => {
            // The header block is at the top; a long description after it may be cut off.
            let bytes = read_capped(entry, MAX_PYTHON_METADATA)?.unwrap_or_else(|b| b);
            packages(python::parse(&String::from_utf8_lossy(&bytes)).map(|f| vec![f]))
        }
        _ => match read_capped(entry, MAX_TEXT)? {
            Err(_) => Err(format!("larger than {} MiB, not read", MAX_TEXT >> 20)),
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                match kind {
                    FileKind::DpkgStatus => packages(dpkg::parse(&text)),
                    FileKind::ApkInstalled => packages(apk::parse(&text)),
                    FileKind::OsRelease => Ok(os_release::parse(&text).map(Content::OsRelease)),
                    FileKind::NpmLock => packages(npm::lockfile(&bytes)),
                    FileKind::NpmInstalled => npm::installed(&bytes).map(|f| f.map(|f| Content::Packages(kind, vec![f]))),
                    FileKind::CargoLock => packages(cargo_lock::parse(&text)),
                    FileKind::Passwd | FileKind::Group => Ok(Some(Content::Text(text.into_owned()))),
                    FileKind::Executable | FileKind::RpmSqlite | FileKind::RpmOther | FileKind::RpmWal | FileKind::Python => {
                        Ok(None) // read above
                    }
                }
            }
        },
    })
}

/// The entry's bytes up to `cap`; `Err` with the first `cap` bytes when it is longer. The rest
/// of the entry is read past either way.
fn read_capped(entry: &mut impl Read, cap: u64) -> std::io::Result<Result<Vec<u8>, Vec<u8>>> {
    let mut bytes = Vec::new();
    entry.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        std::io::copy(entry, &mut std::io::sink())?;
        bytes.truncate(cap as usize);
        return Ok(Err(bytes));
    }
    Ok(Ok(bytes))
}

/// `./usr/bin/` → `usr/bin`
fn normalise(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// `a/b/c` → `a/b`, `a`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .map(move |(i, _)| &path[..i])
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

fn remove_below(files: &mut BTreeMap<String, Record>, dir: &str) {
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let below: Vec<String> = files
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in below {
        files.remove(&k);
    }
}

#[cfg(test)]
mod tests;
