//! Alpine version ordering, as apk-tools does it.
//!
//! `1.2.3[letter][_suffix[N]]...[-rN]`: dotted numbers (a part after a dot with leading zeros
//! sorts below any part without, `1.01 < 1.1`), an optional letter (`1.2a > 1.2`; a number
//! may follow it, as in `3.3.3p1`), suffixes where `_alpha < _beta < _pre < _rc` come before
//! the plain version and `_cvs < _svn < _git < _hg < _p` after it, then the package revision.
//! When one version is a prefix of the other, the longer one is newer unless what follows is
//! a pre-release suffix.

use std::cmp::Ordering;

use super::{Scheme, VersionError};

const PRE: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];

/// What a token is; the order matters: a version may only move to a later kind, with the
/// exceptions in [`Kind::may_follow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A number after a dot (leading zeros are special).
    DotNumber,
    Number,
    Letter,
    Suffix,
    SuffixNumber,
    Revision,
    End,
}

impl Kind {
    /// May `next` come after `self` although it is an earlier kind?
    fn may_follow(self, next: Kind) -> bool {
        next >= self
            || matches!(
                (self, next),
                (Kind::Number, Kind::DotNumber) | (Kind::SuffixNumber, Kind::Suffix) | (Kind::Letter, Kind::Number)
            )
    }
}

/// A parsed version: its tokens as (kind, value) pairs, ending with `End`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    tokens: Vec<(Kind, i64)>,
}

impl Version {
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let err = |reason: String| VersionError::new(Scheme::Apk, s, reason);
        let b = s.as_bytes();
        if !b.first().is_some_and(u8::is_ascii_digit) {
            return Err(err("does not start with a digit".into()));
        }
        let mut tokens = Vec::new();
        let (mut kind, mut at) = (Kind::Number, 0usize);
        loop {
            if at == b.len() {
                return Err(err("ends with a separator".into()));
            }
            let (value, used, forced) = read_value(kind, &b[at..]).ok_or_else(|| err(format!("unreadable at `{}`", &s[at..])))?;
            tokens.push((kind, value));
            at += used;
            if at == b.len() {
                tokens.push((Kind::End, 0));
                return Ok(Self { tokens });
            }
            kind = match forced {
                Some(next) => next,
                None => {
                    let (next, skip) = next_token(kind, &b[at..]).ok_or_else(|| err(format!("unexpected `{}`", &s[at..])))?;
                    at += skip;
                    next
                }
            };
        }
    }
}

/// Read the value of a token of `kind` at the start of `b` (not empty): the value, the bytes
/// it used, and the kind that must follow when that is already decided.
fn read_value(kind: Kind, b: &[u8]) -> Option<(i64, usize, Option<Kind>)> {
    match kind {
        Kind::DotNumber if b[0] == b'0' => {
            // Leading zeros after a dot: worth minus their count; a number follows.
            let zeros = b.iter().take_while(|&&c| c == b'0').count();
            Some((-i64::try_from(zeros).ok()?, zeros, Some(Kind::Number)))
        }
        Kind::DotNumber | Kind::Number | Kind::SuffixNumber | Kind::Revision => {
            // apk-tools reads zero digits as 0 (`1.0a` is 1, -1, 0, a).
            let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let value = if n == 0 {
                0
            } else {
                std::str::from_utf8(&b[..n]).ok()?.parse().ok()?
            };
            Some((value, n, None))
        }
        Kind::Letter => Some((i64::from(b[0]), 1, None)),
        Kind::Suffix => {
            let text = std::str::from_utf8(b).ok()?;
            if let Some((i, p)) = PRE.iter().enumerate().find(|(_, p)| text.starts_with(**p)) {
                return Some((i as i64 - PRE.len() as i64, p.len(), None));
            }
            let (i, p) = POST.iter().enumerate().find(|(_, p)| text.starts_with(**p))?;
            Some((i as i64, p.len(), None))
        }
        Kind::End => None,
    }
}

/// The kind of the token after one of kind `prev`, and how many separator bytes precede it.
fn next_token(prev: Kind, b: &[u8]) -> Option<(Kind, usize)> {
    let c = *b.first()?;
    let (next, skip) = if matches!(prev, Kind::Number | Kind::DotNumber) && c.is_ascii_lowercase() {
        (Kind::Letter, 0)
    } else if prev == Kind::Letter && c.is_ascii_digit() {
        (Kind::Number, 0)
    } else if prev == Kind::Suffix && c.is_ascii_digit() {
        (Kind::SuffixNumber, 0)
    } else {
        match c {
            b'.' => (Kind::DotNumber, 1),
            b'_' => (Kind::Suffix, 1),
            b'-' if b.get(1) == Some(&b'r') => (Kind::Revision, 2),
            _ => return None,
        }
    };
    prev.may_follow(next).then_some((next, skip))
}

pub fn compare(a: &Version, b: &Version) -> Ordering {
    for (i, (&(ka, va), &(kb, vb))) in a.tokens.iter().zip(&b.tokens).enumerate() {
        if ka == kb && ka != Kind::End && va == vb {
            continue;
        }
        if ka == kb {
            // Same kind, different value (or both ended).
            return va.cmp(&vb);
        }
        // One version goes on with a token the other does not have at this position: the
        // longer is newer, unless it goes on with a pre-release suffix.
        let pre = |v: &Version| v.tokens.get(i).is_some_and(|&(k, val)| k == Kind::Suffix && val < 0);
        if pre(a) {
            return Ordering::Less;
        }
        if pre(b) {
            return Ordering::Greater;
        }
        return kb.cmp(&ka);
    }
    Ordering::Equal
}
