//! `sealift audit verify`: walk the log once, line by line, and name the first entry that was
//! edited, removed or reordered.

use std::io::BufReader;
use std::path::Path;

use serde::Serialize;

use super::{Entry, Error, Line, MAX_ENTRY_BYTES, next_line, signed_part};
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
    /// Lines intact before the first problem (all of them when there is none).
    pub entries: u64,
    /// Entries whose signature was checked with the key.
    pub signatures_checked: u64,
    /// The first problem, if any. An empty log is a problem too: a wiped log looks like that.
    pub problem: Option<Problem>,
}

/// Check the chain of the log at `path` and, with `key`, that every entry is signed by it
/// (in the one encoding sealift writes). Stops at the first problem. A path that is not a
/// regular file, and I/O errors, are errors; a bad log is an `Ok` with a problem.
pub fn verify(path: &Path, key: Option<&PublicKey>) -> Result<Verified, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    // Checked before opening: opening a FIFO would wait for a writer.
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file")));
    }
    let mut reader = BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut out = Verified {
        entries: 0,
        signatures_checked: 0,
        problem: None,
    };
    let mut prev: Option<Digest> = None;
    let mut buf = Vec::new();
    loop {
        let line_no = out.entries + 1;
        let fail = |reason: String| Problem {
            line: line_no,
            expected_seq: line_no,
            reason,
        };
        let line = match next_line(&mut reader, &mut buf).map_err(io)? {
            None => {
                if out.entries == 0 {
                    out.problem = Some(fail(
                        "the log is empty: there is nothing to verify (a wiped log looks like this)".into(),
                    ));
                }
                return Ok(out);
            }
            Some(Line::Whole(l)) => l,
            Some(Line::Cut(_)) => {
                out.problem = Some(fail(
                    "the last line has no newline: a write was cut short or the file was edited".into(),
                ));
                return Ok(out);
            }
            Some(Line::TooLong) => {
                out.problem = Some(fail(format!("longer than {MAX_ENTRY_BYTES} bytes")));
                return Ok(out);
            }
        };
        let first_signature = out.signatures_checked == 0;
        match check_line(&line, line_no, prev.as_ref(), key, &mut out.signatures_checked) {
            Ok(()) => {}
            Err(Check::Problem(reason)) => {
                let hint = if first_signature && reason.starts_with("signature does not verify") {
                    " (no entry before it verified either: is the log signed with another key?)"
                } else {
                    ""
                };
                out.problem = Some(fail(format!("{reason}{hint}")));
                return Ok(out);
            }
            Err(Check::PreviousEdited(reason)) => {
                out.entries = line_no.saturating_sub(2);
                out.problem = Some(fail(reason));
                return Ok(out);
            }
            Err(Check::Ahead(found)) => {
                // Entry `found` where `line_no` belongs: swapped with the next line, or removed.
                let next_seq = match next_line(&mut reader, &mut buf) {
                    Ok(Some(Line::Whole(l) | Line::Cut(l))) => serde_json::from_slice::<Entry>(&l).ok().map(|e| e.seq),
                    _ => None,
                };
                let missing = found - line_no;
                let why = if next_seq == Some(line_no) {
                    format!("entries {line_no} and {found} were swapped")
                } else if missing == 1 {
                    "1 entry before it was removed".to_owned()
                } else {
                    format!("{missing} entries before it were removed")
                };
                out.problem = Some(fail(format!("holds entry {found} where entry {line_no} belongs: {why}")));
                return Ok(out);
            }
        }
        prev = Some(Digest::of(&line));
        out.entries = line_no;
    }
}

enum Check {
    /// What is wrong, in words.
    Problem(String),
    /// The line before this one was changed (seen here, by its hash): it is not intact either.
    PreviousEdited(String),
    /// The line holds a later entry than it should.
    Ahead(u64),
}

/// What is wrong with one line, given the hash of the line before it. With a key the
/// signature is checked first: an edited line is named as edited, whatever field changed.
fn check_line(line: &[u8], line_no: u64, prev: Option<&Digest>, key: Option<&PublicKey>, checked: &mut u64) -> Result<(), Check> {
    let entry: Entry =
        serde_json::from_slice(line).map_err(|e| Check::Problem(format!("not an audit entry ({e}): the line was edited")))?;
    if let Some(key) = key {
        if signed_part(line).is_none() {
            return Err(Check::Problem(
                "has no valid `sig` member at its end: written without a site key, or edited".to_owned(),
            ));
        }
        *checked += 1;
        if !super::signed_by(line, key) {
            return Err(Check::Problem(format!(
                "signature does not verify with key {}: the entry or its signature was changed",
                key.id()
            )));
        }
    }
    if entry.seq > line_no {
        return Err(Check::Ahead(entry.seq));
    }
    if entry.seq < line_no {
        return Err(Check::Problem(format!(
            "holds entry {} where entry {line_no} belongs: entries were reordered or repeated",
            entry.seq
        )));
    }
    if entry.prev.as_ref() != prev {
        return Err(match prev {
            None => Check::Problem("the first line names a previous entry: the log's start was cut off".to_owned()),
            Some(p) => Check::PreviousEdited(format!(
                "records the previous entry as {}, but line {} hashes to {p}: line {} was edited",
                entry.prev.map_or_else(|| "none".to_owned(), |d| d.to_string()),
                line_no - 1,
                line_no - 1
            )),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{AuditLog, Outcome, Record};
    use super::*;
    use crate::sign::{Algorithm, SigningKey};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

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
        let log = AuditLog::open(&path, key.is_some()).unwrap();
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
        let v = verify(&path, None).unwrap();
        let p = v.problem.unwrap();
        assert_eq!(p.line, 3, "{p:?}");
        assert!(p.reason.contains("line 2 was edited"), "{}", p.reason);
        assert_eq!(v.entries, 1, "only the line before the edited one is intact");

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
    fn an_empty_log_fails_and_a_signed_log_takes_no_unsigned_entry() {
        let (_dir, path) = log_of(0, None);
        let p = verify(&path, None).unwrap().problem.unwrap();
        assert!(p.reason.contains("empty"), "{}", p.reason);
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let (_dir, path) = log_of(1, Some(&key));
        assert!(matches!(AuditLog::open(&path, false), Err(super::super::Error::KeyRequired { .. })));
        let log = AuditLog::open(&path, true).unwrap();
        assert!(matches!(
            log.append(record(1), None, time::OffsetDateTime::now_utc()),
            Err(super::super::Error::KeyRequired { .. })
        ));
        // A FIFO is refused, not waited on.
        let fifo = path.with_file_name("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(verify(&fifo, None).is_err());
        assert!(AuditLog::open(&fifo, false).is_err());
    }

    #[test]
    fn swapped_entries_are_named_as_swapped_and_a_high_s_signature_is_refused() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let public = key.public_key().unwrap();
        let (_dir, path) = log_of(3, Some(&key));
        let original = lines(&path);
        let mut swapped = original.clone();
        swapped.swap(1, 2);
        rewrite(&path, &swapped);
        let p = verify(&path, Some(&public)).unwrap().problem.unwrap();
        assert!(p.reason.contains("entries 2 and 3 were swapped"), "{}", p.reason);
        // The last line's signature re-encoded with s' = n - s: still a valid ECDSA signature,
        // but not the bytes sealift wrote.
        let (bytes, sig) = signed_part(original[2].as_bytes()).unwrap();
        let der = STANDARD.decode(sig).unwrap();
        let parsed = p256::ecdsa::Signature::from_der(&der).unwrap();
        let (r, s) = parsed.split_scalars();
        let flipped = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        let high = STANDARD.encode(flipped.to_der().as_bytes());
        public
            .verify(&bytes, &STANDARD.decode(&high).unwrap())
            .expect("n - s verifies as ECDSA");
        let mut resigned = original.clone();
        resigned[2] = original[2].replace(sig, &high);
        rewrite(&path, &resigned);
        let p = verify(&path, Some(&public)).unwrap().problem.unwrap();
        assert_eq!(p.line, 3, "{p:?}");
    }

    #[test]
    fn appends_after_a_cut_write_chain_to_it_and_the_cut_is_reported() {
        let (_dir, path) = log_of(2, None);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.truncate(text.len() - 10);
        std::fs::write(&path, &text).unwrap();
        let p = verify(&path, None).unwrap().problem.unwrap();
        assert_eq!(p.line, 2);
        AuditLog::open(&path, false)
            .unwrap()
            .append(record(9), None, time::OffsetDateTime::now_utc())
            .unwrap();
        assert!(verify(&path, None).unwrap().problem.is_some());
    }
}
