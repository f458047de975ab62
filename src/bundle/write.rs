//! Deterministic bundle writer: index first, then signature, then every listed entry.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::{BundleIndex, Entry, Error, INDEX_PATH, SIGNATURE_PREFIX, is_safe_path};
use crate::oci::{Descriptor, Digest, DigestCounter, VerifyingReader, media_type};
use crate::progress::{ProgressReader, Reporter};
use crate::sign::SigningKey;
use crate::store::Layout;

/// A release file to place under `sealift/` in the bundle.
#[derive(Debug, Clone)]
pub struct BundleFile {
    /// Path inside the bundle, e.g. `sealift/manifests/deploy/app.yaml`.
    pub path: String,
    /// Where to read it from.
    pub source: PathBuf,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct WriteReport {
    /// The bundle file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of the whole file (equal inputs give equal digests).
    pub digest: Digest,
    /// Number of entries listed in `bundle.json`.
    pub entries: usize,
}

enum Content<'a> {
    File(PathBuf),
    Blob(&'a Layout, Digest),
}

struct Planned<'a> {
    entry: Entry,
    content: Content<'a>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn hash_file(path: &Path) -> Result<(Digest, u64), Error> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut counter = DigestCounter::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        counter.update(&buf[..n]);
    }
    Ok(counter.finish())
}

/// Lay out the entries in bundle order and describe each one.
fn plan<'a>(layout: &'a Layout, files: &[BundleFile], blobs: &[Descriptor]) -> Result<Vec<Planned<'a>>, Error> {
    let mut planned = Vec::new();
    let mut files: Vec<&BundleFile> = files.iter().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for f in files {
        if !is_safe_path(&f.path) || !f.path.starts_with("sealift/") || f.path.starts_with(INDEX_PATH) {
            return Err(Error::Input(format!("release file path `{}` is not allowed", f.path)));
        }
        let (digest, size) = hash_file(&f.source)?;
        planned.push(Planned {
            entry: Entry {
                path: f.path.clone(),
                size,
                digest,
                media_type: None,
            },
            content: Content::File(f.source.clone()),
        });
    }
    for name in ["oci-layout", "index.json"] {
        let source = layout.root().join(name);
        let (digest, size) = hash_file(&source)?;
        planned.push(Planned {
            entry: Entry {
                path: name.to_owned(),
                size,
                digest,
                media_type: None,
            },
            content: Content::File(source),
        });
    }
    // Manifests before other blobs, so a reader meets the graph's nodes before its leaves.
    let mut blobs: Vec<&Descriptor> = blobs.iter().collect();
    blobs.sort_by(|a, b| {
        let rank = |d: &Descriptor| !media_type::is_manifest(&d.media_type);
        (rank(a), &a.digest).cmp(&(rank(b), &b.digest))
    });
    blobs.dedup_by(|a, b| a.digest == b.digest);
    for d in blobs {
        planned.push(Planned {
            entry: Entry {
                path: d.digest.layout_path(),
                size: d.size,
                digest: d.digest.clone(),
                media_type: media_type::is_manifest(&d.media_type).then(|| d.media_type.clone()),
            },
            content: Content::Blob(layout, d.digest.clone()),
        });
    }
    Ok(planned)
}

/// Writes to the bundle file and hands a copy of every write to a thread that counts and
/// hashes it: the whole file's digest costs a core that is idle while the file is written,
/// not time on the writing one. Sits behind a large `BufWriter`, so writes come in big
/// pieces; the channel holds a few of them at most.
struct HashingWriter {
    file: File,
    to_hasher: std::sync::mpsc::SyncSender<Vec<u8>>,
    hasher: std::thread::JoinHandle<(Digest, u64)>,
}

impl HashingWriter {
    fn new(file: File) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let hasher = std::thread::spawn(move || {
            let mut counter = DigestCounter::default();
            for piece in rx {
                counter.update(&piece);
            }
            counter.finish()
        });
        Self {
            file,
            to_hasher: tx,
            hasher,
        }
    }

    /// The digest and size of everything written.
    fn finish(self) -> io::Result<(Digest, u64)> {
        let Self { to_hasher, hasher, .. } = self;
        // The thread ends when the channel closes.
        drop(to_hasher);
        hasher.join().map_err(|_| io::Error::other("the hashing thread failed"))
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.to_hasher
            .send(buf[..n].to_vec())
            .map_err(|_| io::Error::other("the hashing thread stopped"))?;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The header of every entry sealift writes: a regular file, 0644, root-owned, fixed mtime.
pub(super) fn header(size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h
}

/// What goes into a bundle besides its index.
pub struct BundleContents<'a> {
    /// The staging layout holding every blob.
    pub layout: &'a Layout,
    /// Release files for `sealift/`.
    pub files: &'a [BundleFile],
    /// Every blob of the layout to include (manifests carry their media type).
    pub blobs: &'a [Descriptor],
    /// Modification time for every tar header (the creation time).
    pub mtime: u64,
    /// Where the bundle is written until it is complete (on the output's filesystem, so the
    /// finished file can be renamed into place).
    pub scratch: &'a Path,
    /// Hash each blob again while copying it. Needed when the layout holds blobs not checked
    /// in this run (a staging directory kept from an earlier one, which anything could have
    /// changed since); a layout this run made and filled, hashing each blob as it arrived,
    /// does not need it.
    pub rehash_blobs: bool,
}

/// Write a signed bundle to `out` (atomically: a temp file renamed into place).
///
/// `index.entries` is filled in here. Release files are re-hashed as they are copied, and so
/// are blobs when `contents.rehash_blobs` says the layout may have changed since they were
/// checked: a corrupted staging blob can never be signed.
pub fn write(
    out: &Path,
    mut index: BundleIndex,
    contents: &BundleContents<'_>,
    signer: &SigningKey,
    reporter: &dyn Reporter,
) -> Result<WriteReport, Error> {
    let mtime = contents.mtime;
    let planned = plan(contents.layout, contents.files, contents.blobs)?;
    index.entries = planned.iter().map(|p| p.entry.clone()).collect();
    let mut index_bytes = serde_json::to_vec_pretty(&index)?;
    index_bytes.push(b'\n');
    let signature = signer.sign(&index_bytes);
    let key_id = signer.public_key().map_err(|e| Error::Input(e.to_string()))?.id().clone();

    let dir = contents.scratch;
    // A bundle is not secret: the mode any new file gets (0666 less the umask), not the
    // temporary file's 0600.
    let tmp = tempfile::Builder::new()
        .prefix("bundle-")
        .suffix(".partial")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    let file = tmp.as_file().try_clone().map_err(io_err(out))?;
    let writer = BufWriter::with_capacity(1 << 20, HashingWriter::new(file));
    let mut tar = tar::Builder::new(writer);
    let tar_err = io_err(out);
    let append =
        |tar: &mut tar::Builder<_>, path: &str, size: u64, data: &mut dyn Read| tar.append_data(&mut header(size, mtime), path, data);
    append(&mut tar, INDEX_PATH, index_bytes.len() as u64, &mut index_bytes.as_slice()).map_err(io_err(out))?;
    let sig_path = format!("{SIGNATURE_PREFIX}{key_id}");
    append(&mut tar, &sig_path, signature.len() as u64, &mut signature.as_slice()).map_err(io_err(out))?;
    for p in &planned {
        let task = reporter.start(&format!("write {}", p.entry.path), p.entry.size);
        let (source, rehash): (Box<dyn Read>, bool) = match &p.content {
            Content::File(path) => (Box::new(File::open(path).map_err(io_err(path))?), true),
            Content::Blob(layout, digest) => (Box::new(layout.open_blob(digest)?), contents.rehash_blobs),
        };
        let source = ProgressReader::new(source, &*task);
        let mut data: Box<dyn Read> = if rehash {
            Box::new(VerifyingReader::new(source, p.entry.digest.clone(), p.entry.size))
        } else {
            // Checked when it was staged in this run: only its size is held to the entry (a
            // short read is an error, not a padded entry).
            Box::new(VerifyingReader::size_only(source, p.entry.digest.clone(), p.entry.size))
        };
        append(&mut tar, &p.entry.path, p.entry.size, &mut data).map_err(|e| Error::Input(format!("{}: {e}", p.entry.path)))?;
        task.finish();
    }
    let writer = tar.into_inner().map_err(tar_err)?;
    let writer = writer.into_inner().map_err(|e| Error::Io {
        path: out.to_path_buf(),
        source: e.into_error(),
    })?;
    let (digest, size) = writer.finish().map_err(io_err(out))?;
    tmp.as_file().sync_all().map_err(io_err(out))?;
    tmp.persist(out).map_err(|e| Error::Io {
        path: out.to_path_buf(),
        source: e.error,
    })?;
    Ok(WriteReport {
        path: out.to_path_buf(),
        size,
        digest,
        entries: index.entries.len(),
    })
}
