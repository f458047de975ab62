//! Byte ranges of a shared open file.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

/// Reads a byte range of a shared file with positional reads, so several readers can share one
/// open file (and so the bytes read later are from the very file that was verified).
pub struct RangeReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl RangeReader {
    /// Read `len` bytes starting at `start` (`u64::MAX` for "to the end").
    #[must_use]
    pub fn new(file: Arc<File>, start: u64, len: u64) -> Self {
        Self {
            file,
            pos: start,
            end: start.saturating_add(len),
        }
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.end - self.pos).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}
