//! `sealift check merge`: the reports of the shards of one check (`--shard I/N` for every I)
//! combined into the report an unsharded run would have written. The parts must be of the same
//! registry, bundles, images and depth, and cover every shard exactly once.

use super::report::{CheckReport, SCHEMA, Summary};

/// Why the parts do not make one report.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no reports to merge")]
    Empty,
    /// A part that does not belong with the first one.
    #[error("part {part}: {reason}")]
    Mismatch { part: usize, reason: String },
    /// Shards missing or given twice.
    #[error("{0}")]
    Coverage(String),
}

/// Most shards one check may have.
pub const MAX_SHARDS: u32 = 1000;

/// Merge `parts` (in any order), each checked no earlier than `oldest` (so a shard that failed
/// to write today's part cannot pass with yesterday's). The result has no shard, the latest
/// `checked_at`, and the earliest `judged_at`.
pub fn merge(parts: Vec<CheckReport>, oldest: time::OffsetDateTime) -> Result<CheckReport, MergeError> {
    let first = parts.first().ok_or(MergeError::Empty)?.clone();
    let count = first.shard.map_or(1, |s| s.count);
    if count == 0 || count > MAX_SHARDS {
        return Err(MergeError::Mismatch {
            part: 0,
            reason: format!("{count} shards (at most {MAX_SHARDS})"),
        });
    }
    let mut seen = vec![false; count as usize];
    for (i, p) in parts.iter().enumerate() {
        let mismatch = |reason: String| MergeError::Mismatch { part: i, reason };
        if p.schema != SCHEMA {
            return Err(mismatch(format!("schema `{}`, expected `{SCHEMA}`", p.schema)));
        }
        let checked = time::OffsetDateTime::parse(&p.checked_at, &time::format_description::well_known::Rfc3339)
            .map_err(|_| mismatch(format!("checked_at `{}` is not an RFC 3339 time", p.checked_at)))?;
        if checked < oldest {
            let oldest = oldest.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            return Err(mismatch(format!(
                "checked at {}, before {oldest}: a part of an earlier run",
                p.checked_at
            )));
        }
        if p.settings != first.settings {
            return Err(mismatch(
                "checked with other settings (keys, database, depth, catalog or day) than the first part".into(),
            ));
        }
        if p.registry != first.registry || p.deep != first.deep {
            return Err(mismatch(format!(
                "checked {} (deep: {}), the first part {} (deep: {})",
                p.registry, p.deep, first.registry, first.deep
            )));
        }
        if p.bundles.iter().map(|b| &b.digest).ne(first.bundles.iter().map(|b| &b.digest)) || p.images != first.images {
            return Err(mismatch("expectations from other bundles than the first part's".into()));
        }
        let Some(shard) = p.shard else {
            return Err(mismatch("not a shard (it has no `shard`)".into()));
        };
        if shard.count != count || shard.index >= count {
            return Err(mismatch(format!(
                "shard {}/{}, the first part is of {count}",
                shard.index, shard.count
            )));
        }
        if std::mem::replace(&mut seen[shard.index as usize], true) {
            return Err(MergeError::Coverage(format!("shard {}/{count} is given twice", shard.index)));
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| !**s)
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Coverage(format!("shards missing: {}", missing.join(", "))));
    }
    let checked_at = parts.iter().map(|p| p.checked_at.clone()).max().unwrap_or_default();
    let judged_at = parts.iter().map(|p| p.judged_at.clone()).min().unwrap_or_default();
    let mut items: Vec<_> = parts.into_iter().flat_map(|p| p.items).collect();
    super::sort_items(&mut items);
    let before = items.len();
    items.dedup();
    if items.len() != before {
        return Err(MergeError::Coverage("an item appears in two shards".into()));
    }
    Ok(CheckReport {
        checked_at,
        judged_at,
        shard: None,
        summary: Summary::of(&items),
        items,
        ..first
    })
}
