//! `sealift audit verify`: walk the log once, line by line, and name the first entry that was
//! edited, removed or reordered.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use super::{Entry, Error, MAX_ENTRY_BYTES, signed_part};
use crate::oci::Digest;
use crate::sign::PublicKey;

/// The first thing wrong with the log, at a line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The line it was found on.
    pub line: u64,
    /// What the line should have been: the sequence number expected there.
    pub expected_seq: u64,
    /// What is wrong, in words.
    pub reason: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// Lines read up to the first problem (all of them when there is none).
    pub entries: u64,
    /// Entries whose signature was checked with the key.
    pub signatures_checked: u64,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

/// Check the chain of the log at `path` and, with `key`, that every entry is signed by it.
/// Stops at the first problem. I/O errors are errors; a bad log is an `Ok` with a problem.
pub fn verify(path: &Path, key: Option<&PublicKey>) -> Result<Verified, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut reader = BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut out = Verified {
        entries: 0,
        signatures_checked: 0,
        problem: None,
    };
    let mut prev: Option<Digest> = None;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_ENTRY_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(io)?;
        if n == 0 {
            return Ok(out);
        }
        let line_no = out.entries + 1;
        let fail = |reason: String| Problem {
            line: line_no,
            expected_seq: line_no,
            reason,
        };
        let Some(line) = buf.strip_suffix(b"\n") else {
            out.problem = Some(fail(if n > MAX_ENTRY_BYTES {
                format!("longer than {MAX_ENTRY_BYTES} bytes")
            } else {
                "the last line has no newline: a write was cut short or the file was edited".to_owned()
            }));
            return Ok(out);
        };
        if let Some(problem) = check_line(line, line_no, prev.as_ref(), key, &mut out.signatures_checked) {
            out.problem = Some(fail(problem));
            return Ok(out);
        }
        prev = Some(Digest::of(line));
        out.entries = line_no;
    }
}

/// What is wrong with one line, given the hash of the line before it.
fn check_line(line: &[u8], line_no: u64, prev: Option<&Digest>, key: Option<&PublicKey>, checked: &mut u64) -> Option<String> {
    let entry: Entry = match serde_json::from_slice(line) {
        Ok(e) => e,
        Err(e) => return Some(format!("not an audit entry ({e}): the line was edited")),
    };
    if entry.seq != line_no {
        return Some(if entry.seq > line_no {
            format!(
                "holds entry {} where entry {line_no} belongs: {} entr{} before it {} removed",
                entry.seq,
                entry.seq - line_no,
                if entry.seq - line_no == 1 { "y" } else { "ies" },
                if entry.seq - line_no == 1 { "was" } else { "were" },
            )
        } else {
            format!("holds entry {} where entry {line_no} belongs: entries were reordered", entry.seq)
        });
    }
    if entry.prev.as_ref() != prev {
        return Some(match prev {
            None => "the first line names a previous entry: the log's start was cut off".to_owned(),
            Some(p) => format!(
                "records the previous entry as {}, but line {} hashes to {p}: line {} was edited",
                entry.prev.map_or_else(|| "none".to_owned(), |d| d.to_string()),
                line_no - 1,
                line_no - 1
            ),
        });
    }
    let signed = signed_part(line);
    match (key, signed) {
        (None, _) => None,
        (Some(_), None) => Some("is not signed (no `sig` member at its end): written without a site key, or edited".to_owned()),
        (Some(key), Some((bytes, sig))) => {
            let ok = STANDARD.decode(sig).is_ok_and(|s| key.verify(&bytes, &s).is_ok());
            *checked += 1;
            (!ok).then(|| {
                format!(
                    "signature does not verify with key {}: the entry or its signature was changed",
                    key.id()
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AuditLog, Outcome, Record};
    use super::*;
    use crate::sign::{Algorithm, SigningKey};

    fn record(n: usize) -> Record {
        Record {
            command: "verify".into(),
            outcome: Outcome::Passed,
            registry: None,
            bundles: Vec::new(),
            images: vec![format!("image-{n}")],
            receipt: None,
            details: Vec::new(),
        }
    }

    fn log_of(n: usize, key: Option<&SigningKey>) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/audit.log");
        let log = AuditLog::open(&path).unwrap();
        for i in 0..n {
            log.append(record(i), key, time::OffsetDateTime::now_utc()).unwrap();
        }
        (dir, path)
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
    }

    fn rewrite(path: &Path, lines: &[String]) {
        std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    }

    #[test]
    fn an_unsigned_chain_catches_edits_removals_and_swaps() {
        let (_dir, path) = log_of(4, None);
        let clean = verify(&path, None).unwrap();
        assert_eq!((clean.entries, clean.problem), (4, None));
        let original = lines(&path);

        let mut edited = original.clone();
        edited[1] = edited[1].replace("image-1", "image-X");
        rewrite(&path, &edited);
        let p = verify(&path, None).unwrap().problem.unwrap();
        assert_eq!(p.line, 3, "{p:?}");
        assert!(p.reason.contains("line 2 was edited"), "{}", p.reason);

        let mut removed = original.clone();
        removed.remove(1);
        rewrite(&path, &removed);
        let p = verify(&path, None).unwrap().problem.unwrap();
        assert_eq!((p.line, p.expected_seq), (2, 2));
        assert!(p.reason.contains("1 entry before it was removed"), "{}", p.reason);

        let mut swapped = original.clone();
        swapped.swap(1, 2);
        rewrite(&path, &swapped);
        let p = verify(&path, None).unwrap().problem.unwrap();
        assert_eq!(p.line, 2);
        assert!(p.reason.contains("holds entry 3 where entry 2 belongs"), "{}", p.reason);
    }

    #[test]
    fn with_a_key_every_entry_must_carry_its_signature() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let public = key.public_key().unwrap();
        let (_dir, path) = log_of(3, Some(&key));
        let ok = verify(&path, Some(&public)).unwrap();
        assert_eq!((ok.entries, ok.signatures_checked, ok.problem), (3, 3, None));

        // One entry re-signed by someone else (the chain still holds for the lines before).
        let other = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let original = lines(&path);
        let (bytes, _) = signed_part(original[2].as_bytes()).unwrap();
        let forged = format!(
            "{},\"sig\":\"{}\"}}",
            std::str::from_utf8(&bytes[..bytes.len() - 1]).unwrap(),
            STANDARD.encode(other.sign(&bytes))
        );
        let mut replaced = original.clone();
        replaced[2] = forged;
        rewrite(&path, &replaced);
        let p = verify(&path, Some(&public)).unwrap().problem.unwrap();
        assert_eq!(p.line, 3);
        assert!(p.reason.contains("signature does not verify"), "{}", p.reason);
        // Without the key only the chain is checked, and a last-line forgery is not seen.
        assert_eq!(verify(&path, None).unwrap().problem, None);
    }

    #[test]
    fn appends_after_a_cut_write_chain_to_it_and_the_cut_is_reported() {
        let (_dir, path) = log_of(2, None);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.truncate(text.len() - 10);
        std::fs::write(&path, &text).unwrap();
        let p = verify(&path, None).unwrap().problem.unwrap();
        assert_eq!(p.line, 2);
        AuditLog::open(&path)
            .unwrap()
            .append(record(9), None, time::OffsetDateTime::now_utc())
            .unwrap();
        assert!(verify(&path, None).unwrap().problem.is_some());
    }
}
