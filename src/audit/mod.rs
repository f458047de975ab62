//! The site's append-only audit log: one JSON object per line, one line per `load`, `verify`,
//! `check` or refused run. Each entry carries its sequence number and the sha256 of the line
//! before it, so an edited, removed or reordered entry breaks the chain where it happened; with
//! a site key each line is also signed (ECDSA P-256 over the line's bytes without its `sig`
//! member), so the chain cannot be rewritten from the edit onwards either.
//!
//! A line looks like `{"seq":3,"prev":"sha256:…",…,"sig":"<base64>"}`; the signed bytes are
//! that line with `,"sig":"<base64>"` removed, which `openssl dgst -sha256 -verify` can check.
//! Writers take an exclusive lock on the file while they read its last line and append, so
//! runs at the same time never fork the chain.
//!
//! What the chain cannot show: entries cut off at the end. Receipts in the registry and the
//! log's size kept elsewhere are the cross-check for that.

mod verify;

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::oci::Digest;
use crate::receipt::Operator;
use crate::sign::SigningKey;

pub use verify::{Problem, Verified, verify};

/// The longest line written or read, in bytes.
pub const MAX_ENTRY_BYTES: usize = 4 << 20;
/// The member holding a line's signature; always last.
const SIG_MEMBER: &str = ",\"sig\":\"";

/// Errors writing or reading the log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened, locked, read or written.
    #[error("audit log {path}")]
    Io {
        /// The log.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An entry too large to be a sane log line.
    #[error("audit log {path}: entry of {bytes} bytes is over the {MAX_ENTRY_BYTES}-byte limit")]
    TooLarge {
        /// The log.
        path: PathBuf,
        /// Its size.
        bytes: usize,
    },
    /// The log's last entry is signed and this run has no key: an unsigned entry would break
    /// `audit verify --key` for everything after it.
    #[error("audit log {path} is signed: give the site key (--site-key or SEALIFT_SITE_KEY) to add to it")]
    KeyRequired {
        /// The log.
        path: PathBuf,
    },
    /// Another process held the log's lock for too long.
    #[error("audit log {path}: another process has held its lock for {seconds} s")]
    Locked {
        /// The log.
        path: PathBuf,
        /// How long this run waited.
        seconds: u64,
    },
    /// The entry could not be encoded (cannot happen for the types written; kept as an error).
    #[error("audit log {path}: encoding the entry: {source}")]
    Encode {
        /// The log.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// How long an append waits for another writer's lock, in seconds.
pub const LOCK_WAIT_SECONDS: u64 = 30;

/// How a run ended.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The answer was yes.
    Passed,
    /// The answer was no (verification failed, the registry drifted).
    Failed,
    /// The run was refused before it acted (rollback, unknown predecessor).
    Refused,
    /// It could not finish (registry unreachable, bad input).
    Error,
}

/// The bundle a run was about.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BundleRef {
    /// The file as given.
    pub file: String,
    /// sha256 of the whole file, when the run computed it (`load` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
    /// Release name, once `bundle.json` is trusted.
    pub name: Option<String>,
    /// Creation time, once trusted.
    pub created: Option<String>,
    /// Digest of the signed `bundle.json`, once trusted.
    pub index: Option<Digest>,
}

/// What the caller records of a run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// `load`, `verify`, `check`.
    pub command: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The registry acted on or checked.
    pub registry: Option<String>,
    /// The bundles involved.
    pub bundles: Vec<BundleRef>,
    /// Images pushed or checked (`host/repo:tag@digest`).
    pub images: Vec<String>,
    /// sha256 of the receipt envelope written, for `load`.
    pub receipt: Option<Digest>,
    /// Failure codes, refusals, the error.
    pub details: Vec<String>,
}

/// One line of the log.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// 1 for the first entry, then one more per line.
    pub seq: u64,
    /// sha256 of the previous line's bytes (without its newline); `None` on the first.
    pub prev: Option<Digest>,
    /// When it was written, RFC 3339 UTC.
    pub time: String,
    /// Who ran it.
    pub operator: Operator,
    /// What happened.
    #[serde(flatten)]
    pub record: Record,
}

/// The log at a path, checked writable; [`AuditLog::append`] locks it for each write.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// Open (creating it and its directory) the log at `path` for appending, by a run that
    /// will sign its entries (`signing`) or not. Called before a command acts, so an
    /// unwritable log, or a signed log and a run without the key ([`Error::KeyRequired`]),
    /// stops the run before anything happens.
    pub fn open(path: &Path, signing: bool) -> Result<Self, Error> {
        let mut file = open_append(path)?;
        if !signing {
            let last = last_line(&mut file).map_err(|source| Error::Io {
                path: path.to_owned(),
                source,
            })?;
            if last.is_some_and(|(line, _)| signed_part(&line).is_some()) {
                return Err(Error::KeyRequired { path: path.to_owned() });
            }
        }
        Ok(Self { path: path.to_owned() })
    }

    /// The log's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `record` as the next entry, signed with `key` when given. Returns the entry.
    pub fn append(&self, record: Record, key: Option<&SigningKey>, now: time::OffsetDateTime) -> Result<Entry, Error> {
        let io = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = self.lock()?;
        let (seq, prev, cut) = match last_line(&mut file).map_err(io)? {
            None => (1, None, false),
            Some((line, cut)) => {
                if key.is_none() && signed_part(&line).is_some() {
                    return Err(Error::KeyRequired { path: self.path.clone() });
                }
                // After a line that is not an entry (a cut write), the count goes on from 0:
                // `audit verify` reports that line.
                let seq = serde_json::from_slice::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v["seq"].as_u64())
                    .unwrap_or(0);
                (seq.saturating_add(1), Some(Digest::of(&line)), cut)
            }
        };
        let entry = Entry {
            seq,
            prev,
            time: now
                .to_offset(time::UtcOffset::UTC)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            operator: Operator::current(),
            record,
        };
        let mut line = serde_json::to_vec(&entry).map_err(|source| Error::Encode {
            path: self.path.clone(),
            source,
        })?;
        if let Some(key) = key {
            let sig = STANDARD.encode(key.sign(&line));
            line.pop();
            line.extend_from_slice(SIG_MEMBER.as_bytes());
            line.extend_from_slice(sig.as_bytes());
            line.extend_from_slice(b"\"}");
        }
        if line.len() > MAX_ENTRY_BYTES {
            return Err(Error::TooLarge {
                path: self.path.clone(),
                bytes: line.len(),
            });
        }
        line.push(b'\n');
        if cut {
            // The cut line stays a line of its own, chained to and reported by `audit verify`.
            line.insert(0, b'\n');
        }
        // One write of the whole line, under the lock, to a file opened for appending.
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(entry)
    }

    /// The log, open for appending under an exclusive flock(2) (released when it is dropped).
    /// Waits up to [`LOCK_WAIT_SECONDS`] for another writer.
    fn lock(&self) -> Result<nix::fcntl::Flock<File>, Error> {
        use nix::fcntl::{Flock, FlockArg};
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(LOCK_WAIT_SECONDS);
        let mut file = open_append(&self.path)?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(locked) => return Ok(locked),
                Err((back, nix::errno::Errno::EWOULDBLOCK)) if std::time::Instant::now() < deadline => {
                    file = back;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                    return Err(Error::Locked {
                        path: self.path.clone(),
                        seconds: LOCK_WAIT_SECONDS,
                    });
                }
                Err((_, errno)) => {
                    return Err(Error::Io {
                        path: self.path.clone(),
                        source: std::io::Error::from(errno),
                    });
                }
            }
        }
    }
}

fn open_append(path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // A FIFO or device would block or never end: only a regular file (or none yet) is a log.
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => return Err(io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"))),
        _ => {}
    }
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(io)
}

/// The last line of `file` (without its newline), reading at most [`MAX_ENTRY_BYTES`] from
/// the end. A final line without a newline (a write cut short) is taken as it is: the next
/// entry then starts on a new line, chains to it, and `audit verify` reports it. The flag
/// says the line was cut.
fn last_line(file: &mut File) -> std::io::Result<Option<(Vec<u8>, bool)>> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    let from = len.saturating_sub(MAX_ENTRY_BYTES as u64 + 1);
    file.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    file.take(len - from).read_to_end(&mut tail)?;
    let cut = tail.last() != Some(&b'\n');
    if !cut {
        tail.pop();
    }
    let start = memchr::memrchr(b'\n', &tail).map_or(0, |i| i + 1);
    Ok(Some((tail[start..].to_vec(), cut)))
}

/// The bytes a line's signature covers, and the signature: the line without its trailing
/// `,"sig":"…"` member. `None` when the line has no such member at its end.
#[must_use]
pub fn signed_part(line: &[u8]) -> Option<(Vec<u8>, &str)> {
    let at = memchr::memmem::rfind(line, SIG_MEMBER.as_bytes())?;
    let rest = line.get(at + SIG_MEMBER.len()..)?.strip_suffix(b"\"}")?;
    let sig = std::str::from_utf8(rest).ok()?;
    if !sig
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    {
        return None;
    }
    let mut signed = line[..at].to_vec();
    signed.push(b'}');
    Some((signed, sig))
}

/// Where sealift keeps its state when not told: `$SEALIFT_STATE_DIR`, else
/// `$XDG_STATE_HOME/sealift`, else `$HOME/.local/state/sealift`.
#[must_use]
pub fn default_state_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("SEALIFT_STATE_DIR")
        .or_else(|| env("XDG_STATE_HOME").map(|d| d.join("sealift")))
        .or_else(|| env("HOME").map(|h| h.join(".local/state/sealift")))
}

/// Is `line` signed by `key`, in the one encoding sealift writes?
#[must_use]
pub fn signed_by(line: &[u8], key: &crate::sign::PublicKey) -> bool {
    signed_part(line).is_some_and(|(bytes, sig)| STANDARD.decode(sig).is_ok_and(|s| key.verify_canonical(&bytes, &s).is_ok()))
}

/// Call `visit` with every entry of the log at `path` that parses, and its line's bytes, in
/// file order, one line in memory at a time. Nothing here is verified (see [`verify`] and
/// [`signed_by`]); a missing file has no entries.
pub fn for_each_entry(path: &Path, mut visit: impl FnMut(Entry, &[u8])) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut buf = Vec::new();
    loop {
        match next_line(&mut reader, &mut buf).map_err(io)? {
            None => return Ok(()),
            Some(Line::Whole(line) | Line::Cut(line)) => {
                if let Ok(entry) = serde_json::from_slice::<Entry>(&line) {
                    visit(entry, &line);
                }
            }
            Some(Line::TooLong) => {}
        }
    }
}

/// One line of the log as read.
pub(crate) enum Line {
    /// A line and its newline (without it).
    Whole(Vec<u8>),
    /// The last line, without a newline: a write cut short, or an edit.
    Cut(Vec<u8>),
    /// More than [`MAX_ENTRY_BYTES`] without a newline (what follows is read as the next line).
    TooLong,
}

/// The next line of `reader`, at most [`MAX_ENTRY_BYTES`] in memory; `None` at the end.
pub(crate) fn next_line(reader: &mut impl std::io::BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<Line>> {
    buf.clear();
    use std::io::{BufRead as _, Read as _};
    let n = reader.take(MAX_ENTRY_BYTES as u64 + 1).read_until(b'\n', buf)?;
    Ok(match buf.strip_suffix(b"\n") {
        _ if n == 0 => None,
        Some(line) => Some(Line::Whole(line.to_vec())),
        None if n > MAX_ENTRY_BYTES => Some(Line::TooLong),
        None => Some(Line::Cut(buf.clone())),
    })
}
