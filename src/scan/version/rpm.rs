//! RPM version ordering: `[epoch:]version[-release]`, each of version and release compared
//! with rpm's `rpmvercmp`. That walks both strings in runs of digits or of letters, skipping
//! other characters: digit runs compare as numbers, letter runs as bytes, a digit run beats a
//! letter run; `~` sorts before everything (even the end), `^` after the end but before
//! anything else; whichever string has a run left over is newer. A missing epoch is 0.

use std::cmp::Ordering;

use super::{Scheme, VersionError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evr {
    epoch: u64,
    version: String,
    release: String,
}

impl Evr {
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let err = |reason: &str| VersionError::new(Scheme::Rpm, s, reason);
        let v = s.trim();
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) => (e.parse().map_err(|_| err("the epoch is not a number"))?, rest),
            None => (0, v),
        };
        let (version, release) = rest.rsplit_once('-').unwrap_or((rest, ""));
        if version.is_empty() {
            return Err(err("no version"));
        }
        if let Some(c) = rest.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(err(&format!("invalid character {c:?}")));
        }
        Ok(Self {
            epoch,
            version: version.to_owned(),
            release: release.to_owned(),
        })
    }
}

impl Ord for Evr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| vercmp(&self.version, &other.version))
            .then_with(|| vercmp(&self.release, &other.release))
    }
}

impl PartialOrd for Evr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// rpm's `rpmvercmp` for one field.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while a.get(i).is_some_and(|&c| separator(c)) {
            i += 1;
        }
        while b.get(j).is_some_and(|&c| separator(c)) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            match (ca, cb) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(x), _) if x != b'^' => return Ordering::Greater,
                (_, Some(y)) if y != b'^' => return Ordering::Less,
                _ => {}
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(first), Some(_)) = (ca, cb) else { break };
        let numeric = first.is_ascii_digit();
        let run = |s: &[u8], k: usize| {
            let class = |c: &u8| if numeric { c.is_ascii_digit() } else { c.is_ascii_alphabetic() };
            k + s[k..].iter().take_while(|c| class(c)).count()
        };
        let (ei, ej) = (run(a, i), run(b, j));
        if ej == j {
            // b has a run of the other class here: a number beats letters.
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let order = if numeric {
            let (x, y) = (trim_zeros(&a[i..ei]), trim_zeros(&b[j..ej]));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        } else {
            a[i..ei].cmp(&b[j..ej])
        };
        if order != Ordering::Equal {
            return order;
        }
        i = ei;
        j = ej;
    }
    match (i < a.len(), j < b.len()) {
        (false, false) => Ordering::Equal,
        (true, _) => Ordering::Greater,
        (false, true) => Ordering::Less,
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}
