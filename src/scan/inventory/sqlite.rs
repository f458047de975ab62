//! Just enough of the SQLite file format (https://www.sqlite.org/fileformat2.html) to list the
//! rows of one table, read-only: the schema table on page 1 gives the table's root page, and
//! its table b-tree is walked leaf by leaf, following overflow chains for large records. No
//! SQL, no indexes, no write-ahead log (a database closed cleanly has none pending).

use std::io::{Read, Seek, SeekFrom};

const MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// Largest record assembled (an RPM header is tens of KiB).
const MAX_RECORD: u64 = 64 << 20;

/// One column value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

/// An open database file.
pub struct Db<R> {
    r: R,
    page_size: u64,
    usable: u64,
    pages: u32,
}

fn be16(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|x| u16::from_be_bytes([x[0], x[1]]))
        .ok_or_else(|| format!("truncated at {at}"))
}

fn be32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or_else(|| format!("truncated at {at}"))
}

/// A SQLite varint at `at`: its value and length.
fn varint(b: &[u8], at: usize) -> Result<(u64, usize), String> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let byte = *b.get(at + i).ok_or("truncated varint")?;
        if i == 8 {
            return Ok(((v << 8) | u64::from(byte), 9));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    unreachable!("the loop returns by its ninth byte")
}

impl<R: Read + Seek> Db<R> {
    /// Check the header and read the page geometry.
    pub fn open(mut r: R) -> Result<Self, String> {
        let len = r.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
        let mut header = [0u8; 100];
        r.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        r.read_exact(&mut header).map_err(|_| "shorter than a SQLite header")?;
        if &header[..16] != MAGIC {
            return Err("not a SQLite 3 database".into());
        }
        let page_size = match be16(&header, 16)? {
            1 => 65536,
            n if n >= 512 && n.is_power_of_two() => u64::from(n),
            n => return Err(format!("page size {n} is not valid")),
        };
        let usable = page_size - u64::from(header[20]);
        if usable < 480 {
            return Err(format!("usable page size {usable} is too small"));
        }
        if be32(&header, 56)? > 1 {
            return Err("text encoding is UTF-16; only UTF-8 databases are read".into());
        }
        let pages = u32::try_from(len / page_size).map_err(|_| "too many pages")?;
        Ok(Self {
            r,
            page_size,
            usable,
            pages,
        })
    }

    fn page(&mut self, n: u32) -> Result<Vec<u8>, String> {
        if n == 0 || n > self.pages {
            return Err(format!("page {n} is outside the file ({} pages)", self.pages));
        }
        let mut buf = vec![0u8; usize::try_from(self.page_size).map_err(|e| e.to_string())?];
        self.r
            .seek(SeekFrom::Start(u64::from(n - 1) * self.page_size))
            .map_err(|e| e.to_string())?;
        self.r.read_exact(&mut buf).map_err(|e| format!("page {n}: {e}"))?;
        Ok(buf)
    }

    /// The root page of table `name`, from the schema table.
    pub fn table_root(&mut self, name: &str) -> Result<Option<u32>, String> {
        let mut root = None;
        self.rows(1, |_, values| {
            if let [Value::Text(kind), Value::Text(n), _, Value::Int(page), ..] = values.as_slice() {
                if kind == b"table" && n == name.as_bytes() {
                    root = u32::try_from(*page).ok();
                }
            }
            Ok(())
        })?;
        Ok(root)
    }

    /// Call `f` with every row (rowid, column values) of the table b-tree rooted at `root`,
    /// in rowid order.
    pub fn rows(&mut self, root: u32, mut f: impl FnMut(i64, Vec<Value>) -> Result<(), String>) -> Result<(), String> {
        let mut stack = vec![root];
        let mut visited = 0u32;
        while let Some(n) = stack.pop() {
            visited += 1;
            if visited > self.pages {
                return Err("the table's b-tree has a cycle".into());
            }
            let page = self.page(n)?;
            let hdr = if n == 1 { 100 } else { 0 };
            let cells = usize::from(be16(&page, hdr + 3)?);
            match page[hdr] {
                0x05 => {
                    // Interior: children left to right, pushed in reverse so the leftmost is next.
                    stack.push(be32(&page, hdr + 8)?);
                    for i in (0..cells).rev() {
                        let at = usize::from(be16(&page, hdr + 12 + 2 * i)?);
                        stack.push(be32(&page, at)?);
                    }
                }
                0x0d => {
                    for i in 0..cells {
                        let at = usize::from(be16(&page, hdr + 8 + 2 * i)?);
                        let (rowid, record) = self.leaf_cell(&page, at).map_err(|e| format!("page {n}, cell {i}: {e}"))?;
                        f(rowid, decode_record(&record).map_err(|e| format!("row {rowid}: {e}"))?)?;
                    }
                }
                t => return Err(format!("page {n} has type {t:#04x}, not a table b-tree page")),
            }
        }
        Ok(())
    }

    /// A table leaf cell: its rowid and whole record, overflow pages included.
    fn leaf_cell(&mut self, page: &[u8], at: usize) -> Result<(i64, Vec<u8>), String> {
        let (size, a) = varint(page, at)?;
        let (rowid, b) = varint(page, at + a)?;
        if size > MAX_RECORD {
            return Err(format!("record of {size} bytes"));
        }
        let start = at + a + b;
        let u = self.usable;
        let max_local = u - 35;
        let local = if size <= max_local {
            size
        } else {
            let min_local = ((u - 12) * 32 / 255) - 23;
            let k = min_local + (size - min_local) % (u - 4);
            if k <= max_local { k } else { min_local }
        };
        let local = usize::try_from(local).map_err(|e| e.to_string())?;
        let mut record = page.get(start..start + local).ok_or("cell overruns its page")?.to_vec();
        let mut next = if (local as u64) < size { be32(page, start + local)? } else { 0 };
        let mut hops = 0;
        while (record.len() as u64) < size {
            hops += 1;
            if next == 0 || hops > self.pages {
                return Err("overflow chain ends early or loops".into());
            }
            let overflow = self.page(next)?;
            next = be32(&overflow, 0)?;
            let want = usize::try_from((size - record.len() as u64).min(u - 4)).map_err(|e| e.to_string())?;
            record.extend_from_slice(&overflow[4..4 + want]);
        }
        Ok((i64::from_be_bytes(rowid.to_be_bytes()), record))
    }
}

/// A record: header of serial types, then the values.
fn decode_record(rec: &[u8]) -> Result<Vec<Value>, String> {
    let (header_len, mut pos) = varint(rec, 0)?;
    let header_len = usize::try_from(header_len).map_err(|e| e.to_string())?;
    let mut body = header_len;
    let mut values = Vec::new();
    while pos < header_len {
        let (serial, n) = varint(rec, pos)?;
        pos += n;
        // A serial type may claim a length near 2^63: every end is computed with a check.
        let span = |len: usize, body: usize| -> Result<&[u8], String> {
            body.checked_add(len)
                .and_then(|end| rec.get(body..end))
                .ok_or_else(|| "value overruns the record".to_owned())
        };
        let int = |len: usize, body: usize| -> Result<i64, String> {
            let bytes = span(len, body)?;
            let mut v: i64 = if bytes.first().is_some_and(|b| b & 0x80 != 0) { -1 } else { 0 };
            for b in bytes {
                v = (v << 8) | i64::from(*b);
            }
            Ok(v)
        };
        let (value, len) = match serial {
            0 => (Value::Null, 0),
            1..=6 => {
                let len = [1, 2, 3, 4, 6, 8][usize::try_from(serial - 1).map_err(|e| e.to_string())?];
                (Value::Int(int(len, body)?), len)
            }
            7 => (Value::Float(f64::from_bits(u64::from_be_bytes(int(8, body)?.to_be_bytes()))), 8),
            8 => (Value::Int(0), 0),
            9 => (Value::Int(1), 0),
            10 | 11 => return Err(format!("reserved serial type {serial}")),
            s => {
                let len = usize::try_from((s - 12) / 2).map_err(|e| e.to_string())?;
                let bytes = span(len, body)?.to_vec();
                (if s % 2 == 0 { Value::Blob(bytes) } else { Value::Text(bytes) }, len)
            }
        };
        values.push(value);
        body = body.checked_add(len).ok_or("value overruns the record")?;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_records_decode() {
        assert_eq!(varint(&[0x05], 0).unwrap(), (5, 1));
        assert_eq!(varint(&[0x81, 0x00], 0).unwrap(), (128, 2));
        assert_eq!(varint(&[0xff; 9], 0).unwrap(), (u64::MAX, 9));
        // Header (4 bytes: len, NULL, int8, text of 2), then -2 and "hi".
        let rec = [4, 0, 1, 17, 0xfe, b'h', b'i'];
        assert_eq!(
            decode_record(&rec).unwrap(),
            vec![Value::Null, Value::Int(-2), Value::Text(b"hi".to_vec())]
        );
        assert!(decode_record(&[3, 1, 19, 5]).is_err(), "text longer than the record");
        // A header that claims 2^64 - 1 bytes, then a one-byte text: where the value starts plus
        // its length overflowed (found by fuzzing).
        let mut huge = vec![0xff; 9];
        huge.push(15);
        assert!(decode_record(&huge).is_err());
    }

    #[test]
    fn non_databases_are_refused() {
        let err = Db::open(std::io::Cursor::new(vec![0u8; 4096])).err().unwrap();
        assert!(err.contains("not a SQLite"), "{err}");
        let err = Db::open(std::io::Cursor::new(b"SQLite".to_vec())).err().unwrap();
        assert!(err.contains("shorter"), "{err}");
    }
}
