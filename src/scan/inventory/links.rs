//! Package records reached through links. A hard link or symlink at `var/lib/dpkg/status` is
//! what a runtime reads at that path, so the inventory reads it too. A hard link takes its
//! target's record when the target was itself read as the same kind of file, else the layer is
//! read again for the target (tar puts it earlier in the same layer); a target not in its layer
//! takes the record the layers below have for it, and without one is an error. A symlink is resolved against the final file system, after the last layer;
//! one whose target was not read as the same kind of file is a warning naming both paths.
//! Never a silent skip.

use std::io::Read;

use super::{Collector, Content, Error, FileKind, Record, classify, join, layer, normalise, read_file};

/// Does `r` (the record at `target`) hold a file of `kind`?
pub(super) fn holds(r: &Record, target: &str, kind: FileKind) -> bool {
    match &r.content {
        Content::Packages(k, _) => *k == kind,
        Content::OsRelease(_) => kind == FileKind::OsRelease,
        Content::Text(_) => matches!(kind, FileKind::Passwd | FileKind::Group) && classify(target, false) == Some(kind),
        Content::Symlink(..) => false,
    }
}

/// The path a link entry points at, normalised like entry paths (symlinks relative to their
/// directory unless absolute).
pub(super) fn target<R: Read>(entry: &tar::Entry<'_, R>, dir: &str) -> std::io::Result<String> {
    let raw = entry.link_name()?.map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(if entry.header().entry_type().is_symlink() && !raw.starts_with('/') {
        normalise(&join(dir, &raw))
    } else {
        normalise(&raw)
    })
}

/// Record `path` (a link of `kind`) in the layer being read: a symlink as a link, resolved
/// after the last layer; a hard link as holding what its target holds when the layer has
/// already given the target's record, else as `pending`, with the place in `added` its record
/// belongs at (the layer is read again for it).
#[allow(clippy::too_many_arguments)]
pub(super) fn link(
    seq: usize,
    digest: &str,
    added: &mut Vec<(String, Record)>,
    pending: &mut Vec<PendingLink>,
    path: String,
    target: String,
    kind: FileKind,
    hard: bool,
) {
    if !hard {
        let record = Record {
            layer: digest.to_owned(),
            content: Content::Symlink(target, kind),
        };
        added.push((path, record));
        return;
    }
    let known = added
        .iter()
        .rev()
        .find(|(p, _)| *p == target)
        .map(|(_, r)| r)
        .filter(|r| holds(r, &target, kind))
        .map(|r| r.content.clone());
    match known {
        Some(content) => added.push((
            path,
            Record {
                layer: digest.to_owned(),
                content,
            },
        )),
        None => pending.push(PendingLink {
            seq,
            at: added.len(),
            link: path,
            target,
            kind,
        }),
    }
}

/// A hard link at a package-record path whose target's record is not known yet.
#[derive(Debug)]
pub(super) struct PendingLink {
    /// The link's entry number in the layer: a hard link names the file its target was when
    /// the link was written, so only entries before it count.
    pub seq: usize,
    /// Where in the layer's records it belongs (records before it came earlier in the layer).
    pub at: usize,
    pub link: String,
    pub target: String,
    pub kind: FileKind,
}

/// Read a layer again (the same blob, from its start) for the targets of its `pending` hard
/// links: each link takes the last regular file at its target that came before it in the
/// layer, read as the link's kind, and its record goes to `linked` (with its place). Returns
/// the links whose target the layer had not given as a regular file before them, for the
/// layers below.
pub(super) fn read_targets(
    digest: &str,
    media_type: &str,
    blob: impl Read,
    pending: Vec<PendingLink>,
    linked: &mut Vec<(usize, String, Record)>,
    warnings: &mut Vec<String>,
) -> Result<Vec<PendingLink>, Error> {
    let layer_err = |reason: String| Error::Layer {
        layer: digest.to_owned(),
        reason,
    };
    // Per pending link: what the last earlier file at its target held (`Some(None)`: it was
    // read and held no record of that kind).
    let mut found: Vec<Option<Option<Content>>> = vec![None; pending.len()];
    let mut archive = tar::Archive::new(layer::decompress(blob, media_type).map_err(|e| layer_err(e.to_string()))?);
    for (seq, entry) in archive.entries().map_err(|e| layer_err(e.to_string()))?.enumerate() {
        let mut entry = entry.map_err(|e| layer_err(format!("not a tar stream: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = normalise(&entry.path().map_err(|e| layer_err(e.to_string()))?.to_string_lossy());
        let wanting: Vec<usize> = (0..pending.len())
            .filter(|&i| pending[i].target == path && pending[i].seq > seq)
            .collect();
        let Some(&first) = wanting.first() else {
            continue;
        };
        let kind = pending[first].kind;
        let content = match read_file(kind, &mut entry).map_err(|e| layer_err(format!("/{path}: {e}")))? {
            Ok(content) => content,
            Err(reason) => {
                warnings.push(format!("/{path} (layer {digest}, read through a hard link): {reason}"));
                None
            }
        };
        // (A link of another kind to the same file is left to the layers below, or to the
        // error there.)
        for i in wanting.into_iter().filter(|&i| pending[i].kind == kind) {
            found[i] = Some(content.clone());
        }
    }
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(|e| layer_err(e.to_string()))?;
    let mut lower = Vec::new();
    for (link, found) in pending.into_iter().zip(found) {
        match found {
            Some(Some(content)) => linked.push((
                link.at,
                link.link,
                Record {
                    layer: digest.to_owned(),
                    content,
                },
            )),
            Some(None) => {}
            None => lower.push(link),
        }
    }
    Ok(lower)
}

impl Collector {
    /// Give each symbolic link at a package-record path the record of what it points at in the
    /// final file system (following links up to 8 deep), or drop it with a warning.
    pub(super) fn resolve_symlinks(&mut self) {
        let links: Vec<(String, String, FileKind, String)> = self
            .files
            .iter()
            .filter_map(|(p, r)| match &r.content {
                Content::Symlink(t, k) => Some((p.clone(), t.clone(), *k, r.layer.clone())),
                _ => None,
            })
            .collect();
        for (path, first, kind, layer) in links {
            let mut target = first.clone();
            let mut found = None;
            for _ in 0..8 {
                match self.files.get(&target) {
                    Some(Record {
                        content: Content::Symlink(next, _),
                        ..
                    }) => target = next.clone(),
                    Some(r) if holds(r, &target, kind) => {
                        found = Some(r.content.clone());
                        break;
                    }
                    _ => break,
                }
            }
            match found {
                Some(content) => {
                    if let Some(r) = self.files.get_mut(&path) {
                        r.content = content;
                    }
                }
                None => {
                    self.files.remove(&path);
                    self.warnings.push(format!(
                        "/{path} (layer {layer}) is a symbolic link to /{first}, which was not read as the same kind of package record: not scanned"
                    ));
                }
            }
        }
    }
}
