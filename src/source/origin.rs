//! The three transports behind one interface: root manifest, child manifests, blobs.

use std::io::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;

use super::Error;
use super::archive::Archive;
use crate::oci::{Descriptor, Reference, SourceRef, VerifyingReader, manifest::MAX_MANIFEST_SIZE};
use crate::progress::{ProgressReader, Reporter};
use crate::registry::Registry;
use crate::store::{Layout, LayoutIndex, REF_NAME_ANNOTATION};

/// A local origin's blob store.
pub(super) enum Local {
    Layout(Layout),
    Archive(Arc<Archive>),
}

impl Local {
    pub(super) fn open(&self, digest: &crate::oci::Digest) -> Result<Box<dyn std::io::Read + Send + '_>, crate::store::Error> {
        Ok(match self {
            Self::Layout(layout) => Box::new(layout.open_blob(digest)?),
            Self::Archive(archive) => Box::new(archive.blob(digest)?),
        })
    }
}

pub(super) enum Origin<'a> {
    Registry {
        client: &'a Registry,
        reference: Reference,
        image: String,
    },
    Layout {
        layout: Layout,
        tag: Option<String>,
        image: String,
    },
    Archive {
        archive: Arc<Archive>,
        tag: Option<String>,
        image: String,
    },
}

impl<'a> Origin<'a> {
    pub(super) async fn open(source: &SourceRef, client: &'a Registry, image: &str) -> Result<Self, Error> {
        let image = image.to_owned();
        let store_err = |source| Error::Store {
            image: image.clone(),
            source,
        };
        Ok(match source {
            SourceRef::Docker(reference) => Self::Registry {
                client,
                reference: reference.clone(),
                image,
            },
            SourceRef::Layout { dir, tag } => Self::Layout {
                layout: Layout::open(dir).map_err(store_err)?,
                tag: tag.clone(),
                image,
            },
            SourceRef::Archive { file, tag } => {
                let file = file.clone();
                let archive = tokio::task::spawn_blocking(move || Archive::open(&file))
                    .await
                    .map_err(|e| Error::NotFound {
                        image: image.clone(),
                        reason: e.to_string(),
                    })?
                    .map_err(store_err)?;
                Self::Archive {
                    archive: Arc::new(archive),
                    tag: tag.clone(),
                    image,
                }
            }
        })
    }

    /// An `oci:` layout or `oci-archive:` file (no network).
    pub(super) fn is_local(&self) -> bool {
        !matches!(self, Self::Registry { .. })
    }

    /// Its blobs, opened where they are, for a local origin.
    pub(super) fn in_place(self) -> Option<super::InPlace> {
        match self {
            Self::Registry { .. } => None,
            Self::Layout { layout, .. } => Some(super::InPlace(Local::Layout(layout))),
            Self::Archive { archive, .. } => Some(super::InPlace(Local::Archive(archive))),
        }
    }

    fn image(&self) -> &str {
        match self {
            Self::Registry { image, .. } | Self::Layout { image, .. } | Self::Archive { image, .. } => image,
        }
    }

    /// The top-level manifest bytes and media type.
    pub(super) async fn root(&self) -> Result<(Vec<u8>, String), Error> {
        let image = self.image().to_owned();
        match self {
            Self::Registry { client, reference, .. } => {
                let m = client
                    .fetch_manifest(reference)
                    .await
                    .map_err(|source| Error::Registry { image, source })?;
                Ok((m.bytes.to_vec(), m.media_type))
            }
            Self::Layout { layout, tag, .. } => {
                let index = layout.read_index().map_err(|source| Error::Store {
                    image: image.clone(),
                    source,
                })?;
                let desc = pick(&index, tag.as_deref(), &image)?;
                Ok((self.manifest(&desc).await?, desc.media_type))
            }
            Self::Archive { archive, tag, .. } => {
                let index = archive.index().map_err(|source| Error::Store {
                    image: image.clone(),
                    source,
                })?;
                let desc = pick(&index, tag.as_deref(), &image)?;
                Ok((self.manifest(&desc).await?, desc.media_type))
            }
        }
    }

    /// A child manifest, checked against its descriptor.
    pub(super) async fn manifest(&self, desc: &Descriptor) -> Result<Vec<u8>, Error> {
        let image = self.image().to_owned();
        if desc.size > MAX_MANIFEST_SIZE {
            return Err(Error::Transfer {
                image,
                digest: desc.digest.clone(),
                reason: format!("manifest of {} bytes is over the limit", desc.size),
            });
        }
        match self {
            Self::Registry { client, reference, .. } => {
                let m = client
                    .fetch_manifest_sized(&reference.with_digest(desc.digest.clone()), Some(desc.size))
                    .await
                    .map_err(|source| Error::Registry { image, source })?;
                Ok(m.bytes.to_vec())
            }
            Self::Layout { layout, .. } => layout.read_manifest(desc).map_err(|source| Error::Store { image, source }),
            Self::Archive { archive, .. } => {
                let mut out = Vec::new();
                let reader = archive.blob(&desc.digest).map_err(|source| Error::Store {
                    image: image.clone(),
                    source,
                })?;
                std::io::Read::read_to_end(&mut VerifyingReader::new(reader, desc.digest.clone(), desc.size), &mut out).map_err(|e| {
                    Error::Transfer {
                        image,
                        digest: desc.digest.clone(),
                        reason: e.to_string(),
                    }
                })?;
                Ok(out)
            }
        }
    }

    /// Copy a blob into the layout, verified as it streams.
    pub(super) async fn blob(&self, desc: &Descriptor, layout: &Layout, reporter: &dyn Reporter) -> Result<(), Error> {
        let image = self.image().to_owned();
        let transfer = |reason: String| Error::Transfer {
            image: image.clone(),
            digest: desc.digest.clone(),
            reason,
        };
        let task = reporter.start(&format!("pull {}", desc.digest.short()), desc.size);
        match self {
            Self::Registry { client, reference, .. } => {
                let mut stream = client.fetch_blob(reference, desc).await.map_err(|source| Error::Registry {
                    image: image.clone(),
                    source,
                })?;
                let mut writer = layout.blob_writer(&desc.digest, desc.size).map_err(|source| Error::Store {
                    image: image.clone(),
                    source,
                })?;
                // Disk writes and hashing run on a blocking thread fed by a small channel, so
                // memory stays at a few chunks however large the blob.
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
                let sink = tokio::task::spawn_blocking(move || {
                    while let Some(chunk) = rx.blocking_recv() {
                        writer.write_all(&chunk).map_err(|e| e.to_string())?;
                        task.advance(chunk.len() as u64);
                    }
                    task.finish();
                    Ok::<_, String>(writer)
                });
                let mut failed = None;
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(c) => {
                            if tx.send(c).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            failed = Some(e.to_string());
                            break;
                        }
                    }
                }
                drop(tx);
                let writer = sink.await.map_err(|e| transfer(e.to_string()))?.map_err(transfer)?;
                if let Some(reason) = failed {
                    return Err(transfer(reason));
                }
                writer.commit().map_err(|source| Error::Store { image, source })
            }
            Self::Layout { layout: src, .. } => {
                let file = src.open_blob(&desc.digest).map_err(|source| Error::Store {
                    image: image.clone(),
                    source,
                })?;
                copy_blocking(file, desc, layout, task, &image).await
            }
            Self::Archive { archive, .. } => {
                let reader = archive.blob(&desc.digest).map_err(|source| Error::Store {
                    image: image.clone(),
                    source,
                })?;
                copy_blocking(reader, desc, layout, task, &image).await
            }
        }
    }
}

async fn copy_blocking(
    reader: impl std::io::Read + Send + 'static,
    desc: &Descriptor,
    layout: &Layout,
    task: Box<dyn crate::progress::Task>,
    image: &str,
) -> Result<(), Error> {
    let (layout, digest, size) = (layout.clone(), desc.digest.clone(), desc.size);
    let result = tokio::task::spawn_blocking(move || {
        let r = layout.copy_blob(ProgressReader::new(reader, &*task), &digest, size);
        task.finish();
        r
    })
    .await
    .map_err(|e| Error::Transfer {
        image: image.to_owned(),
        digest: desc.digest.clone(),
        reason: e.to_string(),
    })?;
    result.map_err(|source| Error::Store {
        image: image.to_owned(),
        source,
    })
}

/// Choose the manifest a layout reference names: by tag, or the only one. A tag that names two
/// different manifests is ambiguous and refused, listing both.
fn pick(index: &LayoutIndex, tag: Option<&str>, image: &str) -> Result<Descriptor, Error> {
    let tags: Vec<&str> = index
        .manifests
        .iter()
        .filter_map(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str))
        .collect();
    let found: Vec<&Descriptor> = match tag {
        Some(t) => index
            .manifests
            .iter()
            .filter(|d| d.annotations.get(REF_NAME_ANNOTATION).is_some_and(|n| n == t))
            .collect(),
        None if index.manifests.len() == 1 => index.manifests.iter().collect(),
        None => Vec::new(),
    };
    let not_found = |reason| Error::NotFound {
        image: image.to_owned(),
        reason,
    };
    let Some(first) = found.first() else {
        return Err(not_found(match tag {
            Some(t) => format!("no manifest tagged `{t}` in index.json (tags: {})", tags.join(", ")),
            None => format!(
                "index.json lists {} manifests; name one with :TAG (tags: {})",
                index.manifests.len(),
                tags.join(", ")
            ),
        }));
    };
    let mut digests: Vec<String> = found.iter().map(|d| d.digest.to_string()).collect();
    digests.sort();
    digests.dedup();
    if digests.len() > 1 {
        return Err(not_found(format!(
            "index.json names {} different manifests `{}`: {}",
            digests.len(),
            tag.unwrap_or_default(),
            digests.join(", ")
        )));
    }
    Ok((*first).clone())
}
