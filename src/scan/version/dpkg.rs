//! Debian version ordering, as deb-version(7) defines it and `dpkg --compare-versions` does it.
//!
//! `[epoch:]upstream[-revision]`: the epoch compares as a number (absent is 0); upstream and
//! revision (absent is "0") compare in alternating runs of non-digits and digits. In the
//! non-digit runs letters sort before other characters and `~` before everything, even the
//! end of the string, so `1.0~rc1 < 1.0`; digit runs compare as numbers.

use std::cmp::Ordering;

use super::{Scheme, VersionError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    epoch: u64,
    upstream: String,
    revision: String,
}

impl Version {
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let err = |reason: &str| VersionError::new(Scheme::Dpkg, s, reason);
        let v = s.trim();
        if v.is_empty() {
            return Err(err("empty"));
        }
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) => {
                if e.is_empty() || !e.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(err("the epoch is not a number"));
                }
                (e.parse().map_err(|_| err("the epoch is too large"))?, rest)
            }
            None => (0, v),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(err("no upstream version"));
        }
        if rest.contains('-') && revision.is_empty() {
            return Err(err("empty revision after `-`"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | '-' | ':');
        if let Some(c) = rest.chars().find(|&c| !allowed(c)) {
            return Err(err(&format!("invalid character `{c}`")));
        }
        if revision.contains(':') {
            return Err(err("`:` in the revision"));
        }
        Ok(Self {
            epoch,
            upstream: upstream.to_owned(),
            revision: revision.to_owned(),
        })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream.as_bytes(), other.upstream.as_bytes()))
            .then_with(|| compare_part(self.revision.as_bytes(), other.revision.as_bytes()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Weight of one character in a non-digit run (`None` is the end of the run).
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn compare_part(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        // A run of non-digits, character by character.
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        // A run of digits, as a number of any size: skip leading zeros, then the longer run
        // is larger, else the first differing digit decides.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let (si, sj) = (i, j);
        while digit(a, i) {
            i += 1;
        }
        while digit(b, j) {
            j += 1;
        }
        let order = (i - si).cmp(&(j - sj)).then_with(|| a[si..i].cmp(&b[sj..j]));
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}
