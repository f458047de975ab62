//! Reading verified content back from the bundle file after the streaming pass: each read is
//! re-hashed against the digest step 4 recorded, so a file changed in between is caught.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read as _;
use std::sync::Arc;

use super::VerifiedEntry;
use crate::oci::{Descriptor, Digest, VerifyingReader};
use crate::store::RangeReader;

/// Access to verified bundle content.
pub(super) struct BundleBlobs<'a> {
    /// The open bundle file.
    pub file: Arc<File>,
    /// Verified entries by path.
    pub verified: &'a BTreeMap<String, VerifiedEntry>,
    /// Verified manifest bytes.
    pub manifests: &'a BTreeMap<Digest, Vec<u8>>,
}

impl BundleBlobs<'_> {
    /// A blob, by descriptor.
    pub fn read(&self, d: &Descriptor) -> Result<Vec<u8>, String> {
        let e = self
            .verified
            .get(&d.digest.layout_path())
            .ok_or_else(|| format!("blob {} is not a verified entry of the bundle", d.digest))?;
        if e.size != d.size {
            return Err(format!("blob {} is {} bytes, the descriptor says {}", d.digest, e.size, d.size));
        }
        self.read_entry(&d.digest.layout_path(), e.size)
    }

    /// A verified entry by path, refused when larger than `cap` bytes.
    pub fn read_entry(&self, path: &str, cap: u64) -> Result<Vec<u8>, String> {
        let e = self
            .verified
            .get(path)
            .ok_or_else(|| format!("{path} is not a verified entry of the bundle"))?;
        if e.size > cap {
            return Err(format!("{path} is {} bytes, more than the {cap} allowed", e.size));
        }
        let mut out = Vec::new();
        VerifyingReader::new(RangeReader::new(self.file.clone(), e.offset, e.size), e.digest.clone(), e.size)
            .read_to_end(&mut out)
            .map_err(|err| format!("{path}: {err}"))?;
        Ok(out)
    }
}
