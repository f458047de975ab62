//! Adding a co-signature to an existing bundle (`sealift bundle sign`).
//!
//! A signature covers the exact bytes of `bundle.json`, which pins every other entry by
//! digest, so co-signing changes nothing else: the new bundle is the old one, byte for byte,
//! with one more signature entry after the existing ones. The file is replaced atomically.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use super::{Error, INDEX_PATH, MAX_INDEX_SIZE, MAX_SIGNATURE_SIZE, SIGNATURE_PREFIX, UnverifiedBundle};
use crate::oci::Digest;
use crate::sign::{KeyId, SigningKey};
use crate::store::RangeReader;

/// What `add_signature` did.
#[derive(Debug, Clone)]
pub struct CoSigned {
    /// The signing key's id.
    pub key_id: KeyId,
    /// Digest of the `bundle.json` signed.
    pub index_digest: Digest,
    /// The key had already signed; the file was left untouched.
    pub already_signed: bool,
    /// Signature entries now in the bundle.
    pub signatures: usize,
}

struct Head {
    index: Vec<u8>,
    mtime: u64,
    signatures: Vec<(String, Vec<u8>)>,
    rest_start: u64,
}

fn read_head(bundle: &UnverifiedBundle) -> Result<Head, Error> {
    let mut head = Head {
        index: Vec::new(),
        mtime: 0,
        signatures: Vec::new(),
        rest_start: 0,
    };
    let mut position = 0;
    bundle.for_each_entry(|e| {
        position += 1;
        let bad = |reason: &str| Error::Malformed {
            offset: e.header_offset,
            reason: reason.to_owned(),
        };
        if position == 1 {
            if e.path != INDEX_PATH || e.size > MAX_INDEX_SIZE {
                return Err(bad("the first entry is not sealift/bundle.json"));
            }
            e.reader
                .take(MAX_INDEX_SIZE)
                .read_to_end(&mut head.index)
                .map_err(|err| bad(&err.to_string()))?;
            head.mtime = e.mtime;
            return Ok(true);
        }
        if let Some(id) = e.path.strip_prefix(SIGNATURE_PREFIX) {
            if e.size > MAX_SIGNATURE_SIZE {
                return Err(bad("oversized signature entry"));
            }
            let mut sig = Vec::new();
            e.reader
                .take(MAX_SIGNATURE_SIZE)
                .read_to_end(&mut sig)
                .map_err(|err| bad(&err.to_string()))?;
            head.signatures.push((id.to_owned(), sig));
            return Ok(true);
        }
        head.rest_start = e.header_offset;
        Ok(false)
    })?;
    if head.rest_start == 0 {
        return Err(Error::Input("the bundle has nothing after its signatures".into()));
    }
    Ok(head)
}

/// Add `signer`'s signature over the bundle's `bundle.json`.
pub fn add_signature(path: &Path, signer: &SigningKey) -> Result<CoSigned, Error> {
    let bundle = UnverifiedBundle::open(path)?;
    let head = read_head(&bundle)?;
    let public = signer.public_key().map_err(|e| Error::Input(e.to_string()))?;
    let mut done = CoSigned {
        key_id: public.id().clone(),
        index_digest: Digest::of(&head.index),
        already_signed: false,
        signatures: head.signatures.len(),
    };
    if head.signatures.iter().any(|(_, sig)| public.verify(&head.index, sig).is_ok()) {
        done.already_signed = true;
        return Ok(done);
    }
    let signature = signer.sign(&head.index);
    let entry_path = format!("{SIGNATURE_PREFIX}{}", public.id());
    let mut header = super::write::header(signature.len() as u64, head.mtime);
    header.set_path(&entry_path).map_err(|e| Error::Input(e.to_string()))?;
    header.set_cksum();

    let io_err = |source: io::Error| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let run = crate::store::RunDir::create(dir).map_err(io_err)?;
    let tmp = tempfile::Builder::new()
        .prefix("bundle-")
        .suffix(".partial")
        .tempfile_in(run.path())
        .map_err(io_err)?;
    let permissions = std::fs::metadata(path).map_err(io_err)?.permissions();
    {
        let file: Arc<File> = bundle.file();
        let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
        io::copy(&mut RangeReader::new(Arc::clone(&file), 0, head.rest_start), &mut out).map_err(io_err)?;
        out.write_all(header.as_bytes()).map_err(io_err)?;
        out.write_all(&signature).map_err(io_err)?;
        let pad = (512 - signature.len() % 512) % 512;
        out.write_all(&vec![0u8; pad]).map_err(io_err)?;
        io::copy(&mut RangeReader::new(file, head.rest_start, u64::MAX), &mut out).map_err(io_err)?;
        out.flush().map_err(io_err)?;
    }
    tmp.as_file().set_permissions(permissions).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    done.signatures += 1;
    Ok(done)
}
