//! One layer read on its own: what it puts where, its whiteouts, and the package records it
//! holds. Nothing here depends on the layers below, so the layers of an image can be read at
//! the same time; [`Collector::apply`](super::Collector::apply) then stacks them in order.

use std::collections::HashMap;
use std::io::Read;

use super::links::PendingLink;
use super::{Error, FileKind, Record, classify, join, layer, links, normalise, read_file};

/// What reads layers: copied to each thread that reads one.
#[derive(Debug, Clone, Copy)]
pub struct LayerReader {
    pub(super) accounts_only: bool,
}

/// One layer, read: to be applied on top of the layers below it.
#[derive(Debug)]
pub struct LayerFiles {
    /// The layer's digest, for the report and errors.
    pub(super) digest: String,
    /// Every path the layer has an entry at (whiteouts aside), and whether it is a directory.
    pub(super) entries: HashMap<String, bool>,
    /// Package records (and links to them) in the layer, in the order met.
    pub(super) added: Vec<(String, Record)>,
    /// Paths whited out (`.wh.<name>`).
    pub(super) deleted: Vec<String>,
    /// Directories made opaque (`.wh..wh..opq`).
    pub(super) opaque: Vec<String>,
    /// Files that looked like package records but could not be read.
    pub(super) warnings: Vec<String>,
    /// Hard links at package-record paths resolved by reading the layer again: (place in
    /// `added`, link, record).
    pub(super) linked: Vec<(usize, String, Record)>,
    /// Hard links at package-record paths whose target is not a regular file of this layer,
    /// for the layers below to answer.
    pub(super) lower_links: Vec<PendingLink>,
}

impl LayerReader {
    /// Read one layer blob of a tar `media_type`, decoded as the media type says, to its last
    /// byte (`digest` names it in errors and in the report). `open` gives the blob from its
    /// start; it is called a second time only when a hard link at a package-record path
    /// points at a file the layer had not given as a record of that kind before the link (a
    /// file read past, or one in a layer below).
    ///
    /// # Errors
    /// The blob is not a readable tar stream of that media type (or `open` fails).
    pub fn read<R: Read>(self, digest: &str, media_type: &str, open: impl Fn() -> std::io::Result<R>) -> Result<LayerFiles, Error> {
        let layer_err = |reason: String| Error::Layer {
            layer: digest.to_owned(),
            reason,
        };
        let mut out = LayerFiles {
            digest: digest.to_owned(),
            entries: HashMap::new(),
            added: Vec::new(),
            deleted: Vec::new(),
            opaque: Vec::new(),
            warnings: Vec::new(),
            linked: Vec::new(),
            lower_links: Vec::new(),
        };
        // Hard links whose target the pass had not met (as a record of their kind) yet.
        let mut pending: Vec<PendingLink> = Vec::new();
        let blob = open().map_err(|e| layer_err(e.to_string()))?;
        let mut archive = tar::Archive::new(layer::decompress(blob, media_type).map_err(|e| layer_err(e.to_string()))?);
        for (seq, entry) in archive.entries().map_err(|e| layer_err(e.to_string()))?.enumerate() {
            let mut entry = entry.map_err(|e| layer_err(format!("not a tar stream: {e}")))?;
            let raw = entry.path().map_err(|e| layer_err(e.to_string()))?.to_string_lossy().into_owned();
            let path = normalise(&raw);
            if path.is_empty() {
                continue;
            }
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            if let Some(hidden) = name.strip_prefix(".wh.") {
                if hidden == ".wh..opq" {
                    out.opaque.push(dir.to_owned());
                } else {
                    out.deleted.push(join(dir, hidden));
                }
                continue;
            }
            let entry_type = entry.header().entry_type();
            // A path given twice is a directory only if it always was: a non-directory at it
            // hides what the layers below have under it.
            out.entries
                .entry(path.clone())
                .and_modify(|dir| *dir &= entry_type.is_dir())
                .or_insert(entry_type.is_dir());
            let wanted = |k: &FileKind| !self.accounts_only || matches!(k, FileKind::Passwd | FileKind::Group);
            if entry_type.is_hard_link() || entry_type.is_symlink() {
                // A package record reached through a link is read like the file itself.
                if let Some(kind) = classify(&path, false).filter(|k| *k != FileKind::Executable && wanted(k)) {
                    let target = links::target(&entry, dir).map_err(|e| layer_err(format!("/{path}: {e}")))?;
                    links::link(
                        seq,
                        digest,
                        &mut out.added,
                        &mut pending,
                        path,
                        target,
                        kind,
                        entry_type.is_hard_link(),
                    );
                }
                continue;
            }
            if !entry_type.is_file() {
                continue;
            }
            let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
            let Some(kind) = classify(&path, executable).filter(wanted) else {
                continue;
            };
            match read_file(kind, &mut entry).map_err(|e| layer_err(format!("/{path}: {e}")))? {
                Ok(Some(content)) => out.added.push((
                    path,
                    Record {
                        layer: digest.to_owned(),
                        content,
                    },
                )),
                Ok(None) => {}
                Err(reason) => out.warnings.push(format!("/{path} (layer {digest}): {reason}")),
            }
        }
        // Read to the end: the gzip trailer's CRC and the blob's digest are checked there.
        std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(|e| layer_err(e.to_string()))?;
        if !pending.is_empty() {
            let blob = open().map_err(|e| layer_err(e.to_string()))?;
            out.lower_links = links::read_targets(digest, media_type, blob, pending, &mut out.linked, &mut out.warnings)?;
        }
        Ok(out)
    }
}
