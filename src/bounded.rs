//! Reading files that come from outside with a size limit, so a path like `/dev/zero`, a FIFO
//! or a runaway file is refused after the limit instead of filling memory. Pipes still work
//! (`--key <(…)`): only the size is bounded, not the kind of file.

use std::io::{self, Read};
use std::path::Path;

/// Public keys, private keys and certificates in PEM.
pub const KEY_FILE: u64 = 64 * 1024;
/// Trust policies, registry auth files, CA bundles.
pub const CONFIG_FILE: u64 = 4 * 1024 * 1024;
/// `sealift.yaml`, image locks and Kubernetes manifest files.
pub const DOCUMENT_FILE: u64 = 64 * 1024 * 1024;

/// The whole of `path`, or an `InvalidData` error once it passes `limit` bytes.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    // One byte past the limit tells "too big" from "exactly the limit".
    file.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {limit}-byte limit for this kind of file"),
        ));
    }
    Ok(buf)
}

/// [`read`], as UTF-8 text.
pub fn read_to_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_and_oversized_inputs_stop_at_the_limit() {
        let err = read(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(err.to_string().contains("1024-byte limit"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let exact = dir.path().join("exact");
        std::fs::write(&exact, [b'a'; 1024]).unwrap();
        assert_eq!(read(&exact, 1024).unwrap().len(), 1024);
        assert!(read(&exact, 1023).is_err());
        std::fs::write(&exact, [0xff, 0xfe]).unwrap();
        assert!(read_to_string(&exact, 10).unwrap_err().to_string().contains("UTF-8"));
    }
}
