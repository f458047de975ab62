//! Write-temp, verify, rename: the only way a blob gets into a layout.

use std::io::{self, Write};
use std::path::PathBuf;

use super::{Error, io_err};
use crate::oci::{Digest, DigestCounter};

/// A blob being written. Nothing appears under the digest's name unless [`BlobWriter::commit`]
/// finds the expected digest and size; dropping an uncommitted writer removes the temp file.
/// (The staging layout is scratch space, so blobs are not fsynced; the bundle file is.)
pub struct BlobWriter {
    file: tempfile::NamedTempFile,
    target: PathBuf,
    expected: Digest,
    expected_size: u64,
    counter: DigestCounter,
}

impl BlobWriter {
    pub(super) fn new(target: PathBuf, expected: Digest, expected_size: u64) -> Result<Self, Error> {
        let dir = target.parent().map(PathBuf::from).unwrap_or_default();
        let file = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir).map_err(io_err(&dir))?;
        Ok(Self {
            file,
            target,
            expected,
            expected_size,
            counter: DigestCounter::default(),
        })
    }

    /// Check digest and size, then move the blob into place.
    pub fn commit(mut self) -> Result<(), Error> {
        self.file.flush().map_err(io_err(&self.target))?;
        let (digest, size) = self.counter.finish();
        if size != self.expected_size {
            return Err(Error::BlobMismatch {
                digest: self.expected,
                reason: format!("expected {} bytes, received {size}", self.expected_size),
            });
        }
        if digest != self.expected {
            return Err(Error::BlobMismatch {
                digest: self.expected,
                reason: format!("content hashes to {digest}"),
            });
        }
        self.file.persist(&self.target).map_err(|e| Error::Io {
            path: self.target.clone(),
            source: e.error,
        })?;
        Ok(())
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.counter.size() + buf.len() as u64 > self.expected_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: more than the expected {} bytes", self.expected, self.expected_size),
            ));
        }
        let n = self.file.write(buf)?;
        self.counter.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
