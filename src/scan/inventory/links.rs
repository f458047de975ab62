//! Package records reached through links. A hard link or symlink at `var/lib/dpkg/status` is
//! what a runtime reads at that path, so the inventory reads it too. A hard link takes its
//! target's record when the target was itself read as the same kind of file, else the layer is
//! read again for the target (tar puts it earlier in the same layer); a target not in its layer
//! is an error. A symlink is resolved against the final file system, after the last layer;
//! one whose target was not read as the same kind of file is a warning naming both paths.
//! Never a silent skip.

use std::io::Read;

use super::{Collector, Content, Error, FileKind, Record, classify, join, layer, normalise, read_file};

/// Does `r` (the record at `target`) hold a file of `kind`?
fn holds(r: &Record, target: &str, kind: FileKind) -> bool {
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

impl Collector {
    /// Record `path` (a link of `kind`) as holding what `target` holds.
    pub(super) fn link(
        &mut self,
        digest: &str,
        added: &mut Vec<(String, Record)>,
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
            .or_else(|| self.files.get(&target))
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
            None => self.pending_links.push((path, target, kind)),
        }
    }

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

    /// Does the layer just added need a second read for hard-link targets?
    pub fn needs_link_targets(&self) -> bool {
        !self.pending_links.is_empty()
    }

    /// Read the layer just added again (the same blob, from its start) for the targets of its
    /// hard links at package-record paths. A target not found in the layer is an error.
    pub fn add_link_targets(&mut self, digest: &str, media_type: &str, blob: impl Read) -> Result<(), Error> {
        let layer_err = |reason: String| Error::Layer {
            layer: digest.to_owned(),
            reason,
        };
        let mut pending = std::mem::take(&mut self.pending_links);
        let mut archive = tar::Archive::new(layer::decompress(blob, media_type).map_err(|e| layer_err(e.to_string()))?);
        for entry in archive.entries().map_err(|e| layer_err(e.to_string()))? {
            let mut entry = entry.map_err(|e| layer_err(format!("not a tar stream: {e}")))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = normalise(&entry.path().map_err(|e| layer_err(e.to_string()))?.to_string_lossy());
            let Some(kind) = pending.iter().find(|(_, target, _)| *target == path).map(|(_, _, k)| *k) else {
                continue;
            };
            // Every link to this file that wants it read as `kind` gets the same content.
            let (links, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(_, t, k)| *t == path && *k == kind);
            pending = rest;
            match read_file(kind, &mut entry).map_err(|e| layer_err(format!("/{path}: {e}")))? {
                Ok(Some(content)) => {
                    for (link, _, _) in links {
                        let record = Record {
                            layer: digest.to_owned(),
                            content: content.clone(),
                        };
                        self.files.insert(link, record);
                    }
                }
                Ok(None) => {}
                Err(reason) => self
                    .warnings
                    .push(format!("/{path} (layer {digest}, read through a hard link): {reason}")),
            }
        }
        std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(|e| layer_err(e.to_string()))?;
        match pending.first() {
            Some((link, target, _)) => Err(layer_err(format!(
                "/{link} is a hard link to /{target}, which is not in this layer: sealift cannot read it"
            ))),
            None => Ok(()),
        }
    }
}
