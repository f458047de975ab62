//! Safe, streaming reading of a bundle's tar: never unpacks, never follows links, caps every
//! header-borne allocation. Yields entries for `verify` to judge.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Error, is_safe_path};
use crate::store::RangeReader;

/// Longest path a GNU long-name entry may carry.
const MAX_LONG_NAME: u64 = 4096;

/// The end-of-archive marker: two zero blocks (POSIX.1-2001 ustar, "At the end of the archive
/// file there shall be two 512-octet blocks filled with binary zeros").
const END_OF_ARCHIVE: u64 = 1024;

/// Zero padding allowed after the last entry, marker included: tar writers pad to their
/// record size (10 KiB by default, larger with a bigger blocking factor). Anything longer is
/// not a bundle as written, and is refused rather than read to its end.
pub const MAX_TRAILER: u64 = 1 << 20;

/// What kind of tar entry was found. Only `File` entries can be part of a valid bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// Anything else (directory, link, device, fifo, PAX header...), with its type name.
    Other(String),
}

/// One entry as read from the tar; its content can be read once, in order.
pub struct RawEntry<'a> {
    /// The entry's path (after applying a GNU long name). Not yet checked for safety.
    pub path: String,
    /// Whether the path is a safe relative path (no `..`, not absolute, no empty parts).
    pub path_is_safe: bool,
    /// Entry type.
    pub kind: EntryKind,
    /// Size declared by the header.
    pub size: u64,
    /// Offset of the content within the bundle file.
    pub offset: u64,
    /// Offset of the entry's first header block (its long-name header, if it has one).
    pub header_offset: u64,
    /// Modification time from the header.
    pub mtime: u64,
    /// The content.
    pub reader: &'a mut dyn Read,
}

/// A bundle file opened for reading; nothing in it is trusted yet.
pub struct UnverifiedBundle {
    path: PathBuf,
    file: Arc<File>,
}

impl UnverifiedBundle {
    /// Open a bundle file: a regular file (not a directory, FIFO or device, which could be
    /// endless or change under the reader).
    pub fn open(path: &Path) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        // Checked before opening: opening a FIFO would block until a writer comes.
        if !std::fs::metadata(path).map_err(io)?.is_file() {
            return Err(io(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")));
        }
        let file = File::open(path).map_err(io)?;
        if !file.metadata().map_err(io)?.is_file() {
            return Err(io(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")));
        }
        Ok(Self {
            path: path.to_path_buf(),
            file: Arc::new(file),
        })
    }

    /// The bundle's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, shared with readers of verified content (the same inode that was checked).
    #[must_use]
    pub fn file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// Visit every entry in order. `visit` returns `Ok(true)` to continue, `Ok(false)` to stop.
    /// Content the visitor does not read is skipped. After the last entry, anything but zero
    /// padding before the end of the file is an error.
    pub fn for_each_entry<F>(&self, mut visit: F) -> Result<(), Error>
    where
        F: FnMut(RawEntry<'_>) -> Result<bool, Error>,
    {
        let reader = RangeReader::new(Arc::clone(&self.file), 0, u64::MAX);
        let mut archive = tar::Archive::new(reader);
        let mut entries = archive.entries().map_err(|e| malformed(0, &e))?.raw(true);
        let mut long_name: Option<(String, u64)> = None;
        let mut end_of_entries = 0u64;
        for item in &mut entries {
            let mut entry = item.map_err(|e| malformed(end_of_entries, &e))?;
            let offset = entry.raw_file_position();
            let size = entry.header().entry_size().map_err(|e| malformed(offset, &e))?;
            end_of_entries = offset.saturating_add(size.div_ceil(512) * 512);
            let entry_type = entry.header().entry_type();
            if entry_type.is_gnu_longname() {
                if long_name.is_some() {
                    return Err(malformed_msg(offset, "two long-name headers in a row"));
                }
                if size > MAX_LONG_NAME {
                    return Err(malformed_msg(offset, &format!("long name of {size} bytes (limit {MAX_LONG_NAME})")));
                }
                let mut buf = Vec::new();
                (&mut entry)
                    .take(MAX_LONG_NAME)
                    .read_to_end(&mut buf)
                    .map_err(|e| malformed(offset, &e))?;
                while buf.last() == Some(&0) {
                    buf.pop();
                }
                let name = String::from_utf8(buf).map_err(|_| malformed_msg(offset, "long name is not UTF-8"))?;
                long_name = Some((name, entry.raw_header_position()));
                continue;
            }
            let (path, header_offset) = match long_name.take() {
                Some(n) => n,
                None => (
                    String::from_utf8(entry.header().path_bytes().into_owned())
                        .map_err(|_| malformed_msg(offset, "entry path is not UTF-8"))?,
                    entry.raw_header_position(),
                ),
            };
            let mtime = entry.header().mtime().unwrap_or(0);
            let kind = if entry_type.is_file() {
                EntryKind::File
            } else {
                EntryKind::Other(type_name(entry_type))
            };
            let raw = RawEntry {
                path_is_safe: is_safe_path(&path),
                path,
                kind,
                size,
                offset,
                header_offset,
                mtime,
                reader: &mut entry,
            };
            if !visit(raw)? {
                return Ok(());
            }
        }
        if long_name.is_some() {
            return Err(malformed_msg(end_of_entries, "long-name header without an entry"));
        }
        self.check_trailer(end_of_entries)
    }

    /// After the last entry: the end-of-archive marker, then at most [`MAX_TRAILER`] bytes of
    /// zero padding in all, and nothing else.
    fn check_trailer(&self, from: u64) -> Result<(), Error> {
        // One byte past the limit tells "too long" from "exactly the limit".
        let mut reader = RangeReader::new(Arc::clone(&self.file), from, MAX_TRAILER + 1);
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = from;
        loop {
            let n = reader.read(&mut buf).map_err(|e| malformed(pos, &e))?;
            if n == 0 {
                break;
            }
            if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
                return Err(malformed_msg(pos + i as u64, "data after the end-of-archive marker"));
            }
            pos += n as u64;
        }
        let zeros = pos - from;
        if zeros < END_OF_ARCHIVE {
            return Err(malformed_msg(
                pos,
                "the end-of-archive marker (two zero blocks) is missing: the archive is truncated",
            ));
        }
        if zeros > MAX_TRAILER {
            return Err(malformed_msg(
                from + MAX_TRAILER,
                &format!("more than {MAX_TRAILER} bytes of zero padding after the last entry"),
            ));
        }
        Ok(())
    }
}

fn type_name(t: tar::EntryType) -> String {
    match t {
        tar::EntryType::Directory => "directory".into(),
        tar::EntryType::Symlink => "symbolic link".into(),
        tar::EntryType::Link => "hard link".into(),
        tar::EntryType::Char => "character device".into(),
        tar::EntryType::Block => "block device".into(),
        tar::EntryType::Fifo => "fifo".into(),
        tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => "PAX header".into(),
        tar::EntryType::GNULongLink => "GNU long link".into(),
        other => format!("type {:?}", other.as_byte() as char),
    }
}

fn malformed(offset: u64, e: &io::Error) -> Error {
    Error::Malformed {
        offset,
        reason: e.to_string(),
    }
}

fn malformed_msg(offset: u64, reason: &str) -> Error {
    Error::Malformed {
        offset,
        reason: reason.to_owned(),
    }
}

impl UnverifiedBundle {
    /// A cheap check that the file is a finished archive: whole 512-byte blocks ending in the
    /// end-of-archive marker. (`verify` checks the trailer fully, after every entry.)
    fn check_ends_with_marker(&self) -> Result<(), Error> {
        use std::os::unix::fs::FileExt as _;
        let len = self.file.metadata().map_err(|e| malformed(0, &e))?.len();
        let mut tail = [0u8; END_OF_ARCHIVE as usize];
        if len < END_OF_ARCHIVE
            || len % 512 != 0
            || self.file.read_exact_at(&mut tail, len - END_OF_ARCHIVE).is_err()
            || tail.iter().any(|&b| b != 0)
        {
            return Err(malformed_msg(
                len,
                "the file does not end with the end-of-archive marker: it is not a finished bundle (a partial write?)",
            ));
        }
        Ok(())
    }
}

/// What `bundle inspect` shows: the index and the key ids its signatures claim. Nothing here is
/// verified; `verify` decides trust.
#[derive(Debug, Clone)]
pub struct Peek {
    /// The index as found.
    pub index: super::BundleIndex,
    /// Key ids named by signature entries.
    pub signature_key_ids: Vec<String>,
    /// sha256 of `bundle.json` as found: the bundle's identity once verified.
    pub index_digest: crate::oci::Digest,
}

impl UnverifiedBundle {
    /// Read the index and signature names without verifying anything.
    pub fn peek(&self) -> Result<Peek, Error> {
        let mut index_bytes = None;
        let mut ids = Vec::new();
        self.for_each_entry(|e| {
            if index_bytes.is_none() {
                if e.path != super::INDEX_PATH || e.size > super::MAX_INDEX_SIZE {
                    return Err(malformed_msg(e.offset, "first entry is not sealift/bundle.json"));
                }
                let mut buf = Vec::new();
                e.reader
                    .take(super::MAX_INDEX_SIZE)
                    .read_to_end(&mut buf)
                    .map_err(|err| malformed(e.offset, &err))?;
                index_bytes = Some(buf);
                return Ok(true);
            }
            match e.path.strip_prefix(super::SIGNATURE_PREFIX) {
                Some(id) => {
                    ids.push(id.to_owned());
                    Ok(true)
                }
                None => Ok(false),
            }
        })?;
        self.check_ends_with_marker()?;
        let bytes = index_bytes.ok_or_else(|| malformed_msg(0, "empty archive"))?;
        let index = serde_json::from_slice(&bytes).map_err(|e| malformed_msg(0, &format!("bundle.json: {e}")))?;
        Ok(Peek {
            index,
            signature_key_ids: ids,
            index_digest: crate::oci::Digest::of(&bytes),
        })
    }
}

/// Release files read before verification, for display (`bundle inspect`'s review page).
#[derive(Debug, Default)]
pub struct Listed {
    /// Path → content, for each wanted entry whose size and sha256 match what the index lists.
    pub files: std::collections::BTreeMap<String, Vec<u8>>,
    /// Wanted entries that are missing, larger than the cap, or differ from the index, each
    /// with why.
    pub unreadable: Vec<String>,
}

impl UnverifiedBundle {
    /// Read the entries of `wanted` (paths `index` lists) whole, at most `cap` bytes each, and
    /// check each against the size and sha256 `index` gives it. The first entry of each path
    /// is the one read, and reading stops once all are found (a path repeated later in the
    /// archive is `verify`'s to refuse). The index itself is not verified here: what this
    /// returns is for showing, never for trusting.
    pub fn read_listed(&self, index: &super::BundleIndex, wanted: &[&str], cap: u64) -> Result<Listed, Error> {
        let mut pending: std::collections::BTreeMap<&str, &super::Entry> = index
            .entries
            .iter()
            .filter(|e| wanted.contains(&e.path.as_str()))
            .map(|e| (e.path.as_str(), e))
            .collect();
        let mut out = Listed::default();
        out.unreadable.extend(
            wanted
                .iter()
                .filter(|w| !pending.contains_key(**w))
                .map(|w| format!("{w}: not listed in bundle.json")),
        );
        self.for_each_entry(|e| {
            if pending.is_empty() {
                return Ok(false);
            }
            let Some(listed) = pending.remove(e.path.as_str()) else {
                return Ok(true);
            };
            if e.kind != EntryKind::File || !e.path_is_safe {
                out.unreadable.push(format!("{}: not a plain file at a safe path", e.path));
                return Ok(true);
            }
            if e.size != listed.size || e.size > cap {
                out.unreadable.push(format!(
                    "{}: {} bytes, listed as {} (at most {cap} read)",
                    e.path, e.size, listed.size
                ));
                return Ok(true);
            }
            let mut bytes = Vec::new();
            e.reader
                .take(cap)
                .read_to_end(&mut bytes)
                .map_err(|err| malformed(e.offset, &err))?;
            if crate::oci::Digest::of(&bytes) == listed.digest {
                out.files.insert(e.path, bytes);
            } else {
                out.unreadable.push(format!("{}: content differs from its listed digest", e.path));
            }
            Ok(true)
        })?;
        out.unreadable
            .extend(pending.keys().map(|p| format!("{p}: listed but not in the archive")));
        Ok(out)
    }
}

/// sha256 of a whole file, read in 1 MiB pieces: a bundle named by its bytes.
pub fn file_digest(path: &Path) -> Result<crate::oci::Digest, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut counter = crate::oci::DigestCounter::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            return Ok(counter.finish().0);
        }
        counter.update(&buf[..n]);
    }
}
