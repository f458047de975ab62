//! A reader that hashes what passes through it and refuses to end on a wrong digest or size.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use super::Digest;

/// Wraps a reader; yields at most `expected_size` bytes and, at end of stream, fails with
/// `InvalidData` unless the bytes seen had exactly the expected size and digest.
///
/// The error is reported by the read that would otherwise return end-of-file, so a consumer
/// that copies to completion (`io::copy`) never sees success on bad content.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: Digest,
    expected_size: u64,
    seen: u64,
    /// Hash what passes (else only the size is held: see [`VerifyingReader::size_only`]).
    hash: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Verify `inner` against `expected` and `expected_size`.
    pub fn new(inner: R, expected: Digest, expected_size: u64) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            expected,
            expected_size,
            seen: 0,
            hash: true,
        }
    }

    /// Hold `inner` to `expected_size` only, for bytes this run has already checked against
    /// `expected` (a blob it staged itself): each byte is hashed once per run, not twice.
    pub fn size_only(inner: R, expected: Digest, expected_size: u64) -> Self {
        Self {
            hash: false,
            ..Self::new(inner, expected, expected_size)
        }
    }

    fn check_end(&self) -> io::Result<()> {
        if self.seen != self.expected_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: expected {} bytes, found {}", self.expected, self.expected_size, self.seen),
            ));
        }
        if !self.hash {
            return Ok(());
        }
        let found = Digest::from_hasher(self.hasher.clone());
        if found != self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("digest mismatch: expected {}, found {found}", self.expected),
            ));
        }
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Read one byte past the expected size so that oversized input is noticed.
        let remaining = self.expected_size.saturating_sub(self.seen).saturating_add(1);
        let limit = usize::try_from(remaining).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..limit])?;
        if n == 0 {
            self.check_end()?;
            return Ok(0);
        }
        self.seen += n as u64;
        if self.seen > self.expected_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: more than the expected {} bytes", self.expected, self.expected_size),
            ));
        }
        if self.hash {
            self.hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Hashes and counts bytes fed to it, for writers that check at the end.
#[derive(Default, Clone)]
pub struct DigestCounter {
    hasher: Sha256,
    size: u64,
}

impl DigestCounter {
    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// Bytes seen so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest and size of everything fed.
    #[must_use]
    pub fn finish(self) -> (Digest, u64) {
        (Digest::from_hasher(self.hasher), self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], digest: Digest, size: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        VerifyingReader::new(data, digest, size).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn passes_exact_content_and_rejects_any_change() {
        let data = b"hello layer".to_vec();
        let digest = Digest::of(&data);
        assert_eq!(read_all(&data, digest.clone(), 11).unwrap(), data);
        let err = read_all(b"hello layeR", digest.clone(), 11).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        let err = read_all(b"hello laye", digest.clone(), 11).unwrap_err();
        assert!(err.to_string().contains("expected 11 bytes, found 10"), "{err}");
        let err = read_all(b"hello layer!", digest, 11).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }
}
