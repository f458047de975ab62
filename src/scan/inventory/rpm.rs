//! RPM's package database in its SQLite form (`rpmdb.sqlite`, RPM ≥ 4.16: Fedora, RHEL 9 and
//! its rebuilds): the `Packages` table holds one header blob per installed package. A header
//! blob is an index of (tag, type, offset, count) entries over a data store; the name,
//! epoch, version, release, architecture and source RPM are read from it.
//!
//! The database is read by SQLite itself (rusqlite, bundled), opened read-only and
//! `immutable` (no locks, no journal or WAL is touched) in defensive mode with an untrusted
//! schema, values capped at [`MAX_HEADER`] bytes, [`MAX_PACKAGES`] rows and a budget of
//! virtual-machine steps, and only when `Packages` is the plain two-column table rpm creates:
//! the file comes from an image.

use std::path::Path;

use rusqlite::config::DbConfig;
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::scan::package::{Found, Kind};

/// Largest header blob read; RPM itself refuses headers over 256 MiB.
pub const MAX_HEADER: i32 = 256 << 20;
/// Most packages read from one database (a large distribution installs a few thousand).
pub const MAX_PACKAGES: usize = 100_000;
/// SQLite calls the progress handler every this many virtual-machine steps…
const PROGRESS_EVERY: std::ffi::c_int = 100_000;
/// …and the read is interrupted after this many calls (2·10⁹ steps).
const PROGRESS_TICKS: u32 = 20_000;

const NAME: u32 = 1000;
const VERSION: u32 = 1001;
const RELEASE: u32 = 1002;
const EPOCH: u32 = 1003;
const ARCH: u32 = 1022;
const SOURCERPM: u32 = 1044;

const INT32: u32 = 4;
const STRING: u32 = 6;
const I18NSTRING: u32 = 9;

/// Every package in the SQLite database at `path`, in `hnum` order.
///
/// # Errors
/// A file SQLite cannot read, a database without a `Packages` table, a row without a header
/// blob or a header that does not parse, as a sentence (the caller names the file).
pub fn read(path: &Path) -> Result<Vec<Found>, String> {
    let db = open(path).map_err(|e| format!("SQLite: {e}"))?;
    check_schema(&db)?;
    let mut rows = db
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(|e| format!("SQLite: {e}"))?;
    let mut rows = rows.query([]).map_err(|e| format!("SQLite: {e}"))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| format!("SQLite: {e}"))? {
        let hnum: i64 = row.get(0).map_err(|e| format!("package row: {e}"))?;
        let ValueRef::Blob(blob) = row.get_ref(1).map_err(|e| format!("package row {hnum}: {e}"))? else {
            return Err(format!("package row {hnum} has no header blob"));
        };
        if let Some(found) = read_header(blob).map_err(|e| format!("package row {hnum}: {e}"))? {
            if out.len() == MAX_PACKAGES {
                return Err(format!("more than {MAX_PACKAGES} packages: not read"));
            }
            out.push(found);
        }
    }
    Ok(out)
}

/// The `Packages` table must be the plain table rpm creates, `(hnum INTEGER PRIMARY KEY,
/// blob BLOB)`: not a view, a virtual table, or a table with generated columns, whose reading
/// would run code of the image's choosing.
fn check_schema(db: &Connection) -> Result<(), String> {
    let sqlite = |e: rusqlite::Error| format!("SQLite: {e}");
    let found: Option<(String, String)> = db
        .query_row("SELECT type, sql FROM sqlite_schema WHERE name = 'Packages'", [], |r| {
            Ok((r.get(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_default()))
        })
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(sqlite(e)),
        })?;
    let Some((kind, sql)) = found else {
        return Err("no Packages table: not an RPM database".into());
    };
    if kind != "table" || sql.trim_start().to_ascii_uppercase().starts_with("CREATE VIRTUAL") {
        return Err(format!("`Packages` is a {kind} of another shape than rpm's table: not read"));
    }
    // (name, declared type, primary key position, hidden: 0 plain, 1 virtual-table, 2/3 generated)
    let mut columns = db.prepare("PRAGMA table_xinfo(Packages)").map_err(sqlite)?;
    let columns: Vec<(String, String, i64, i64)> = columns
        .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(5)?, r.get(6)?)))
        .map_err(sqlite)?
        .collect::<Result<_, _>>()
        .map_err(sqlite)?;
    let rpm_shape = columns.len() == 2
        && columns[0].0 == "hnum"
        && columns[0].1.eq_ignore_ascii_case("INTEGER")
        && columns[0].2 == 1
        && columns[1].0 == "blob"
        && columns[1].1.eq_ignore_ascii_case("BLOB")
        && columns.iter().all(|c| c.3 == 0);
    if rpm_shape {
        Ok(())
    } else {
        Err("the Packages table is not rpm's (hnum INTEGER PRIMARY KEY, blob BLOB): not read".into())
    }
}

/// Open `path` read-only and immutable, as SQLite advises for files of unknown origin.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let escaped: String = path
        .to_string_lossy()
        .chars()
        .map(|c| match c {
            '%' => "%25".to_owned(),
            '?' => "%3f".to_owned(),
            '#' => "%23".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = Connection::open_with_flags(format!("file:{escaped}?immutable=1"), flags)?;
    db.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    db.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    db.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_HEADER)?;
    db.pragma_update(None, "cell_size_check", true)?;
    // A budget of virtual-machine steps, so no database makes the read run for ever: a 1 GiB
    // rpmdb takes well under a tenth of it.
    let mut ticks = 0u32;
    db.progress_handler(
        PROGRESS_EVERY,
        Some(move || {
            ticks += 1;
            ticks > PROGRESS_TICKS
        }),
    )?;
    Ok(db)
}

/// The package one header blob describes (`None` for a `gpg-pubkey` entry). The blob is an
/// index entry count and data size (4 bytes each, big-endian), 16-byte index entries (tag,
/// type, offset, count), then the data store; errors say which part does not fit or parse.
pub fn read_header(blob: &[u8]) -> Result<Option<Found>, String> {
    Header::parse(blob)?.package()
}

/// A header blob: its index entries and data store.
struct Header<'a> {
    index: &'a [u8],
    data: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Header<'a> {
    fn parse(blob: &'a [u8]) -> Result<Self, String> {
        if blob.len() < 8 {
            return Err("header blob shorter than 8 bytes".into());
        }
        let entries = be32(blob, 0) as usize;
        let data_len = be32(blob, 4) as usize;
        let index_end = entries
            .checked_mul(16)
            .and_then(|n| n.checked_add(8))
            .filter(|&end| end.checked_add(data_len).is_some_and(|total| total <= blob.len()))
            .ok_or_else(|| {
                format!(
                    "header of {entries} entries and {data_len} data bytes does not fit its {} bytes",
                    blob.len()
                )
            })?;
        Ok(Self {
            index: &blob[8..index_end],
            data: &blob[index_end..index_end + data_len],
        })
    }

    /// The data offset and type of `tag`, if present.
    fn find(&self, tag: u32) -> Option<(u32, usize)> {
        self.index
            .chunks_exact(16)
            .find(|e| be32(e, 0) == tag)
            .map(|e| (be32(e, 4), be32(e, 8) as usize))
    }

    fn string(&self, tag: u32) -> Result<Option<String>, String> {
        let Some((kind, offset)) = self.find(tag) else { return Ok(None) };
        if kind != STRING && kind != I18NSTRING {
            return Err(format!("tag {tag} has type {kind}, not a string"));
        }
        let rest = self
            .data
            .get(offset..)
            .ok_or_else(|| format!("tag {tag} points outside the data"))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| format!("tag {tag}: string not terminated"))?;
        String::from_utf8(rest[..end].to_vec())
            .map(Some)
            .map_err(|_| format!("tag {tag}: not UTF-8"))
    }

    fn int(&self, tag: u32) -> Result<Option<u32>, String> {
        let Some((kind, offset)) = self.find(tag) else { return Ok(None) };
        if kind != INT32 || offset + 4 > self.data.len() {
            return Err(format!("tag {tag} is not a readable INT32"));
        }
        Ok(Some(be32(self.data, offset)))
    }

    /// The package this header describes; `None` for the `gpg-pubkey` entries `rpm --import`
    /// adds, which are keys, not software.
    fn package(&self) -> Result<Option<Found>, String> {
        let need = |tag: u32, what: &str| self.string(tag)?.ok_or_else(|| format!("no {what}"));
        let name = need(NAME, "name")?;
        if name == "gpg-pubkey" {
            return Ok(None);
        }
        let version = need(VERSION, "version")?;
        let release = need(RELEASE, "release")?;
        let evr = match self.int(EPOCH)? {
            Some(epoch) => format!("{epoch}:{version}-{release}"),
            None => format!("{version}-{release}"),
        };
        let own_version = format!("{version}-{release}");
        let mut found = Found::new(Kind::Rpm, name, evr);
        found.arch = self.string(ARCH)?;
        // Like dpkg's, the source is only recorded where it differs from the package itself.
        if let Some((source, source_version)) = self.string(SOURCERPM)?.as_deref().and_then(split_source_rpm) {
            found.source_version = (source_version != own_version).then_some(source_version);
            found.source = (source != found.name || found.source_version.is_some()).then_some(source);
        }
        Ok(Some(found))
    }
}

/// `openssl-1.1.1k-7.el8.src.rpm` → (`openssl`, `1.1.1k-7.el8`).
fn split_source_rpm(file: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".src.rpm").or_else(|| file.strip_suffix(".nosrc.rpm"))?;
    let mut parts = stem.rsplitn(3, '-');
    let release = parts.next()?;
    let version = parts.next()?;
    let name = parts.next().filter(|n| !n.is_empty())?;
    Some((name.to_owned(), format!("{version}-{release}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header blob with the given (tag, type, data) entries.
    fn blob(entries: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, bytes) in entries {
            for v in [*tag, *kind, data.len() as u32, 1] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            data.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    fn s(text: &str) -> Vec<u8> {
        let mut v = text.as_bytes().to_vec();
        v.push(0);
        v
    }

    #[test]
    fn headers_give_epoch_version_release_arch_and_source() {
        let b = blob(&[
            (NAME, STRING, s("openssl-libs")),
            (EPOCH, INT32, 1u32.to_be_bytes().to_vec()),
            (VERSION, STRING, s("1.1.1k")),
            (RELEASE, STRING, s("7.el8_6")),
            (ARCH, STRING, s("x86_64")),
            (SOURCERPM, STRING, s("openssl-1.1.1k-7.el8_6.src.rpm")),
        ]);
        let f = Header::parse(&b).unwrap().package().unwrap().unwrap();
        assert_eq!((f.name.as_str(), f.version.as_str()), ("openssl-libs", "1:1.1.1k-7.el8_6"));
        assert_eq!(f.arch.as_deref(), Some("x86_64"));
        assert_eq!(f.source.as_deref(), Some("openssl"));
        assert_eq!(f.source_version, None, "same as the package's own version-release");
        let key = blob(&[
            (NAME, STRING, s("gpg-pubkey")),
            (VERSION, STRING, s("fd431d51")),
            (RELEASE, STRING, s("4ae0493b")),
        ]);
        assert_eq!(Header::parse(&key).unwrap().package().unwrap(), None);
    }

    /// A database at `dir/name` made by `sql`.
    fn database(dir: &Path, name: &str, sql: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        path
    }

    #[test]
    fn only_rpms_own_packages_table_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let rpm = "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);";
        let path = database(dir.path(), "rpm.sqlite", rpm);
        let header = blob(&[
            (NAME, STRING, s("bash")),
            (VERSION, STRING, s("5.1.8")),
            (RELEASE, STRING, s("6.el9")),
        ]);
        let db = Connection::open(&path).unwrap();
        db.execute("INSERT INTO Packages (hnum, blob) VALUES (1, ?1)", [header]).unwrap();
        drop(db);
        let found = read(&path).unwrap();
        assert_eq!((found.len(), found[0].version.as_str()), (1, "5.1.8-6.el9"));
        let shapes = [
            (
                "extra column",
                "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB, x TEXT);",
            ),
            (
                "generated column",
                "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, raw BLOB, blob BLOB AS (substr(raw, 1)));",
            ),
            ("no rowid key", "CREATE TABLE Packages (hnum TEXT, blob BLOB);"),
        ];
        for (what, sql) in shapes {
            let e = read(&database(dir.path(), &format!("{what}.sqlite"), sql)).unwrap_err();
            assert!(e.contains("not rpm's"), "{what}: {e}");
        }
        // A view of the same name, over a real table: refused before it is run.
        let view = "CREATE TABLE t (hnum INTEGER PRIMARY KEY, blob BLOB); CREATE VIEW Packages AS SELECT hnum, blob FROM t;";
        assert!(read(&database(dir.path(), "view.sqlite", view)).unwrap_err().contains("is a view"));
        let none = database(dir.path(), "none.sqlite", "CREATE TABLE x (y);");
        assert!(read(&none).unwrap_err().contains("no Packages table"));
    }

    #[test]
    fn damaged_headers_are_errors() {
        let mut b = blob(&[(NAME, STRING, s("bash"))]);
        assert!(Header::parse(&b).unwrap().package().unwrap_err().contains("no version"));
        b.truncate(b.len() - 2);
        assert!(Header::parse(&b).err().unwrap().contains("does not fit"));
        let b = blob(&[(NAME, STRING, b"bash".to_vec())]);
        assert!(Header::parse(&b).unwrap().package().unwrap_err().contains("not terminated"));
        assert_eq!(
            split_source_rpm("glibc-2.34-60.el9.src.rpm"),
            Some(("glibc".into(), "2.34-60.el9".into()))
        );
        assert_eq!(split_source_rpm("noversion.src.rpm"), None);
    }
}
