//! Reading the files of a zip archive (OSV publishes each ecosystem as one `all.zip`): the
//! central directory, then each entry inflated and checked against its CRC-32. Stored and
//! deflated entries, zip64 sizes and offsets; encrypted entries are refused.

use std::io::{Read, Seek, SeekFrom};

/// `PK\x03\x04`: the first bytes of a zip file (its first local header).
pub const MAGIC: &[u8; 4] = b"PK\x03\x04";

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

/// One file in the archive, as the central directory describes it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    method: u16,
    flags: u16,
    crc32: u32,
    compressed: u64,
    /// Uncompressed size.
    pub size: u64,
    local_offset: u64,
}

impl Entry {
    /// Directories are listed with a trailing slash.
    pub fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn read_at<R: Read + Seek>(r: &mut R, offset: u64, len: usize) -> Result<Vec<u8>, String> {
    r.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
    let mut buf = vec![0; len];
    r.read_exact(&mut buf).map_err(|e| format!("{len} bytes at offset {offset}: {e}"))?;
    Ok(buf)
}

/// The central directory's entries.
pub fn entries<R: Read + Seek>(r: &mut R) -> Result<Vec<Entry>, String> {
    let len = r.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    // The end record is 22 bytes plus a comment of up to 65535.
    let tail_len = len.min(22 + 65535);
    let tail = read_at(r, len - tail_len, usize::try_from(tail_len).map_err(|e| e.to_string())?)?;
    let at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&tail, i) == EOCD)
        .ok_or("no end of central directory record: not a zip file, or truncated")?;
    let eocd_offset = len - tail_len + at as u64;
    let mut count = u64::from(u16_at(&tail, at + 10));
    let mut cd_size = u64::from(u32_at(&tail, at + 12));
    let mut cd_offset = u64::from(u32_at(&tail, at + 16));
    if count == 0xffff || cd_size == 0xffff_ffff || cd_offset == 0xffff_ffff {
        let locator = read_at(r, eocd_offset.checked_sub(20).ok_or("zip64 locator missing")?, 20)?;
        if u32_at(&locator, 0) != ZIP64_LOCATOR {
            return Err("zip64 end of central directory locator missing".into());
        }
        let record = read_at(r, u64_at(&locator, 8), 56)?;
        if u32_at(&record, 0) != ZIP64_EOCD {
            return Err("zip64 end of central directory record missing".into());
        }
        count = u64_at(&record, 32);
        cd_size = u64_at(&record, 40);
        cd_offset = u64_at(&record, 48);
    }
    if cd_offset.checked_add(cd_size).is_none_or(|end| end > eocd_offset) {
        return Err(format!("central directory ({cd_size} bytes at {cd_offset}) lies outside the file"));
    }
    let cd = read_at(r, cd_offset, usize::try_from(cd_size).map_err(|e| e.to_string())?)?;
    let mut out = Vec::new();
    let mut pos = 0;
    for n in 0..count {
        let bad = |what: &str| format!("central directory entry {n}: {what}");
        if pos + 46 > cd.len() || u32_at(&cd, pos) != CENTRAL {
            return Err(bad("bad signature or truncated"));
        }
        let name_len = usize::from(u16_at(&cd, pos + 28));
        let extra_len = usize::from(u16_at(&cd, pos + 30));
        let comment_len = usize::from(u16_at(&cd, pos + 32));
        let end = pos + 46 + name_len + extra_len + comment_len;
        if end > cd.len() {
            return Err(bad("truncated"));
        }
        let name = String::from_utf8(cd[pos + 46..pos + 46 + name_len].to_vec()).map_err(|_| bad("name is not UTF-8"))?;
        let mut e = Entry {
            name,
            method: u16_at(&cd, pos + 10),
            flags: u16_at(&cd, pos + 8),
            crc32: u32_at(&cd, pos + 16),
            compressed: u64::from(u32_at(&cd, pos + 20)),
            size: u64::from(u32_at(&cd, pos + 24)),
            local_offset: u64::from(u32_at(&cd, pos + 42)),
        };
        zip64_extra(&mut e, &cd[pos + 46 + name_len..pos + 46 + name_len + extra_len]).map_err(|w| bad(&w))?;
        out.push(e);
        pos = end;
    }
    Ok(out)
}

/// Replace 0xffffffff sizes and offsets with the zip64 extra field's 64-bit values, which
/// appear in that order for just the fields that overflowed.
fn zip64_extra(e: &mut Entry, mut extra: &[u8]) -> Result<(), String> {
    while extra.len() >= 4 {
        let id = u16_at(extra, 0);
        let len = usize::from(u16_at(extra, 2));
        let body = extra.get(4..4 + len).ok_or("extra field truncated")?;
        if id == 1 {
            let mut vals = body.chunks_exact(8).map(|c| u64_at(c, 0));
            let mut take = |field: &mut u64| -> Result<(), String> {
                if *field == 0xffff_ffff {
                    *field = vals.next().ok_or("zip64 extra field too short")?;
                }
                Ok(())
            };
            take(&mut e.size)?;
            take(&mut e.compressed)?;
            take(&mut e.local_offset)?;
        }
        extra = &extra[4 + len..];
    }
    Ok(())
}

/// An entry's content, at most `cap` bytes, checked against its size and CRC-32.
pub fn read_entry<R: Read + Seek>(r: &mut R, e: &Entry, cap: u64) -> Result<Vec<u8>, String> {
    if e.flags & 1 != 0 {
        return Err(format!("{}: encrypted entries are not read", e.name));
    }
    if e.size > cap {
        return Err(format!("{}: {} bytes, more than the {cap} allowed", e.name, e.size));
    }
    let header = read_at(r, e.local_offset, 30)?;
    if u32_at(&header, 0) != LOCAL {
        return Err(format!("{}: no local header at offset {}", e.name, e.local_offset));
    }
    let data = e.local_offset + 30 + u64::from(u16_at(&header, 26)) + u64::from(u16_at(&header, 28));
    r.seek(SeekFrom::Start(data)).map_err(|err| err.to_string())?;
    let raw = (&mut *r).take(e.compressed);
    let mut out = Vec::with_capacity(usize::try_from(e.size).unwrap_or(0));
    let read = match e.method {
        0 => raw.take(cap + 1).read_to_end(&mut out),
        8 => flate2::read::DeflateDecoder::new(raw).take(cap + 1).read_to_end(&mut out),
        m => {
            return Err(format!(
                "{}: compression method {m} is not supported (stored and deflate are)",
                e.name
            ));
        }
    };
    read.map_err(|err| format!("{}: {err}", e.name))?;
    if out.len() as u64 != e.size {
        return Err(format!("{}: {} bytes, the directory says {}", e.name, out.len(), e.size));
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    if crc.sum() != e.crc32 {
        return Err(format!("{}: CRC-32 {:08x}, the directory says {:08x}", e.name, crc.sum(), e.crc32));
    }
    Ok(out)
}
