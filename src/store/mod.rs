//! An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/`): the staging area
//! of `bundle create` and the reader for `oci:` sources. No network.
//!
//! Blobs are written to a temporary file beside their final path, hashed as they are written,
//! and renamed into place only when digest and size match, so a blob file under its digest's
//! name always holds that digest's bytes.

mod blob_writer;
mod range_reader;
pub mod run_dir;

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use blob_writer::BlobWriter;
pub use range_reader::RangeReader;
pub use run_dir::RunDir;

use crate::oci::{Descriptor, Digest, VerifyingReader, manifest::MAX_MANIFEST_SIZE, media_type};

/// Annotation holding a manifest's tag in `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// Contents of the `oci-layout` file.
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
const MAX_INDEX_SIZE: u64 = 64 * 1024 * 1024;

/// Errors from the on-disk layout.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// File system error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A directory without a valid `oci-layout` file.
    #[error("{0} is not an OCI image layout (no valid `oci-layout` file)")]
    NotALayout(PathBuf),
    /// `index.json` that does not parse.
    #[error("{path}: invalid index.json: {reason}")]
    InvalidIndex {
        /// The layout's `index.json`.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// Content that does not match the digest or size it is stored under or described by.
    #[error("blob {digest}: {reason}")]
    BlobMismatch {
        /// The expected digest.
        digest: Digest,
        /// What was found instead.
        reason: String,
    },
    /// A blob the layout should hold is not there.
    #[error("blob {0} is not in the layout")]
    MissingBlob(Digest),
    /// A manifest larger than the limit.
    #[error("manifest {digest} is {size} bytes, over the {limit} byte limit")]
    ManifestTooLarge {
        /// The manifest's digest.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The `index.json` document of a layout.
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct LayoutIndex {
    /// Always 2.
    pub schema_version: u32,
    /// Always the OCI index media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Top-level manifests, tagged by the ref-name annotation.
    pub manifests: Vec<Descriptor>,
}

/// Per blob (digest and size) being staged: set once it is.
type Staging = std::collections::HashMap<(Digest, u64), std::sync::Arc<tokio::sync::OnceCell<()>>>;

/// An OCI image layout directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
    /// Blobs being staged right now, by any task sharing this layout.
    staging: std::sync::Arc<std::sync::Mutex<Staging>>,
}

impl Layout {
    /// Create the layout (or reuse an existing one) at `root`.
    pub fn create(root: &Path) -> Result<Self, Error> {
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        let marker = root.join("oci-layout");
        if !marker.exists() {
            fs::write(&marker, OCI_LAYOUT_CONTENT).map_err(io_err(&marker))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
            staging: std::sync::Arc::default(),
        })
    }

    /// Open an existing layout, checking its `oci-layout` marker.
    pub fn open(root: &Path) -> Result<Self, Error> {
        let marker = root.join("oci-layout");
        let mut text = Vec::new();
        open_regular(&marker)
            .and_then(|f| f.take(4096).read_to_end(&mut text))
            .map_err(|_| Error::NotALayout(root.to_path_buf()))?;
        let v: serde_json::Value = serde_json::from_slice(&text).map_err(|_| Error::NotALayout(root.to_path_buf()))?;
        if v.get("imageLayoutVersion").and_then(|v| v.as_str()).is_none() {
            return Err(Error::NotALayout(root.to_path_buf()));
        }
        Ok(Self {
            root: root.to_path_buf(),
            staging: std::sync::Arc::default(),
        })
    }

    /// The layout's directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives.
    #[must_use]
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// Is the blob present with the expected size? Content was checked when it was written.
    #[must_use]
    pub fn has_blob(&self, digest: &Digest, size: u64) -> bool {
        fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Stage a blob once however many tasks need it: `fetch` runs unless the blob is in the
    /// layout already; a task that needs a blob another task is fetching waits for that fetch
    /// (and runs its own if that one failed). `true` when this call fetched it.
    ///
    /// # Errors
    /// Whatever `fetch` returns.
    pub async fn stage_once<E, F, Fut>(&self, digest: &Digest, size: u64, fetch: F) -> Result<bool, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
    {
        if self.has_blob(digest, size) {
            return Ok(false);
        }
        let cell = {
            let mut map = self.staging.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry((digest.clone(), size)).or_default().clone()
        };
        let mut fetched = false;
        cell.get_or_try_init(|| async {
            if !self.has_blob(digest, size) {
                fetch().await?;
                fetched = true;
            }
            Ok(())
        })
        .await?;
        Ok(fetched)
    }

    /// Start writing a blob that must turn out to have `digest` and `size`.
    pub fn blob_writer(&self, digest: &Digest, size: u64) -> Result<BlobWriter, Error> {
        BlobWriter::new(self.blob_path(digest), digest.clone(), size)
    }

    /// Write a blob held in memory (manifests, configs).
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::of(bytes);
        if !self.has_blob(&digest, bytes.len() as u64) {
            let mut w = self.blob_writer(&digest, bytes.len() as u64)?;
            io::Write::write_all(&mut w, bytes).map_err(io_err(&self.blob_path(&digest)))?;
            w.commit()?;
        }
        Ok(digest)
    }

    /// Copy a blob from a reader, verifying it as it streams.
    pub fn copy_blob(&self, reader: impl Read, digest: &Digest, size: u64) -> Result<(), Error> {
        let mut verified = VerifyingReader::new(reader, digest.clone(), size);
        let mut w = self.blob_writer(digest, size)?;
        io::copy(&mut verified, &mut w).map_err(|e| Error::BlobMismatch {
            digest: digest.clone(),
            reason: e.to_string(),
        })?;
        w.commit()
    }

    /// Open a blob for reading. Callers that do not trust the layout wrap it in a
    /// [`VerifyingReader`].
    pub fn open_blob(&self, digest: &Digest) -> Result<File, Error> {
        let path = self.blob_path(digest);
        open_regular(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::MissingBlob(digest.clone()),
            _ => Error::Io { path, source: e },
        })
    }

    /// Read a manifest blob, checking digest and size against its descriptor.
    pub fn read_manifest(&self, desc: &Descriptor) -> Result<Vec<u8>, Error> {
        if desc.size > MAX_MANIFEST_SIZE {
            return Err(Error::ManifestTooLarge {
                digest: desc.digest.clone(),
                size: desc.size,
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let file = self.open_blob(&desc.digest)?;
        let mut out = Vec::new();
        VerifyingReader::new(file, desc.digest.clone(), desc.size)
            .read_to_end(&mut out)
            .map_err(|e| Error::BlobMismatch {
                digest: desc.digest.clone(),
                reason: e.to_string(),
            })?;
        Ok(out)
    }

    /// Read `index.json` (an empty index if the file is absent).
    pub fn read_index(&self) -> Result<LayoutIndex, Error> {
        let path = self.root.join("index.json");
        let file = match open_regular(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(LayoutIndex {
                    schema_version: 2,
                    ..LayoutIndex::default()
                });
            }
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        let mut bytes = Vec::new();
        file.take(MAX_INDEX_SIZE).read_to_end(&mut bytes).map_err(io_err(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidIndex {
            path,
            reason: e.to_string(),
        })
    }

    /// Replace `index.json` with these top-level manifests.
    pub fn write_index(&self, manifests: Vec<Descriptor>) -> Result<(), Error> {
        let index = LayoutIndex {
            schema_version: 2,
            media_type: Some(media_type::OCI_INDEX.to_owned()),
            manifests,
        };
        let path = self.root.join("index.json");
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| Error::InvalidIndex {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        fs::write(&path, bytes).map_err(io_err(&path))
    }
}

/// Blobs readable by digest: a layout, or an image read where it is (`oci-archive:`).
pub trait Blobs: Sync {
    /// A blob's bytes, from its start. Callers check them against the digest while reading
    /// (see [`Blobs::checked_before`]).
    ///
    /// # Errors
    /// The blob is not there or cannot be opened.
    fn open_blob_reader(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, Error>;

    /// Every blob was checked against its digest earlier in this run (as it was staged): a
    /// read then holds it to its size only, so each byte is hashed once per run.
    fn checked_before(&self) -> bool {
        false
    }
}

impl Blobs for Layout {
    fn open_blob_reader(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, Error> {
        Ok(Box::new(self.open_blob(digest)?))
    }
}

/// A layout this run made and filled, checking each blob as it arrived (a `bundle create`
/// staging layout of its own).
pub struct Staged<'a>(pub &'a Layout);

impl Blobs for Staged<'_> {
    fn open_blob_reader(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, Error> {
        self.0.open_blob_reader(digest)
    }

    fn checked_before(&self) -> bool {
        true
    }
}

/// Open a file of a layout for reading, refusing anything but a regular file: a FIFO would
/// wait for a writer forever (it is opened without waiting, then refused), and a device or
/// directory is no blob.
fn open_regular(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(file)
}
