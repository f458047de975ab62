//! Every trust decision on the disconnected side, and the only producer of [`VerifiedBundle`].
//! No network; the bundle is read in one streaming pass and never unpacked.
//!
//! Steps, in order (the code labels them):
//! 1. The first entry must be `sealift/bundle.json`; the entries right after it are its
//!    detached signatures.
//! 2. Signatures must verify against enough of the operator's keys: the trust policy's
//!    threshold of distinct keys, each within its validity dates and not revoked. Until then
//!    nothing in the bundle is believed, not even its index.
//! 3. The signed index is parsed strictly; its entry list must be free of unsafe or
//!    duplicate paths.
//! 4. Every later tar entry is streamed through SHA-256 and checked against the index:
//!    unlisted, duplicated, unsafe (links, devices, `..`, absolute), wrongly sized or wrongly
//!    hashed entries are failures; so is any listed entry that never appears.
//! 5. The OCI layout must be whole: every descriptor reachable from `index.json` is a verified
//!    blob of the right size, and every image the index names is reachable with the
//!    platforms it lists. The graph of manifests is classified again (runnable images,
//!    indexes, attestations, signatures, SBOMs, artifacts) and must equal what `bundle.json`
//!    lists for each image; a runnable manifest no image lists fails.
//! 6. Every image and platform manifest carries valid release signatures in both cosign
//!    formats, by a currently trusted key, checked from the bundle's own copies; upstream
//!    signatures carried along are checked against the keys `bundle.json` names for them.
//! 7. A scanned bundle carries a scan report for every image manifest, each describing that
//!    manifest and the database `bundle.json` names; the policy it carries is judged again at
//!    verification time (expired allowances no longer count).

mod bundle_blobs;
mod failure;
mod graph_check;
mod image_signatures;
mod layout_check;
mod verified;
mod vuln_policy;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde::Serialize;

pub use failure::{Failure, FailureCode};
pub use verified::{VerifiedBundle, VerifiedEntry};
pub use vuln_policy::ScanSummary;

use crate::bundle::{
    self, BundleIndex, EntryKind, INDEX_PATH, ImageRecord, MAX_INDEX_SIZE, MAX_SIGNATURE_SIZE, MAX_SIGNATURES, SIGNATURE_PREFIX,
    UnverifiedBundle,
};
use crate::oci::{Digest, DigestCounter, manifest::MAX_MANIFEST_SIZE};
use crate::progress::{ProgressReader, Reporter};
use crate::sign::{Algorithm, KeyId, KeyStatus, TrustPolicy};

/// Largest `index.json` the verifier will hold in memory.
const MAX_LAYOUT_INDEX_SIZE: u64 = 16 * 1024 * 1024;

/// Errors that stop verification before an answer exists (the file cannot be read at all).
/// A bundle that is readable but wrong is not an error: it is a [`VerifyReport`] with failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No keys were given: there is nothing to verify against.
    #[error("no public key given: verification needs at least one pinned key")]
    NoKeys,
    /// The threshold asks for more signers than there are keys.
    #[error("threshold {threshold} is more than the {keys} trusted key(s)")]
    Threshold {
        /// Required signers.
        threshold: usize,
        /// Keys in the policy.
        keys: usize,
    },
    /// The bundle file cannot be opened or read.
    #[error(transparent)]
    Bundle(#[from] bundle::Error),
}

/// What verification found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The bundle file.
    pub bundle: String,
    /// The bundle's name, once the index is trusted.
    pub name: Option<String>,
    /// Every key of the trust policy: whether it signed `bundle.json` and whether it counts.
    pub signers: Vec<SignerReport>,
    /// Signature entries that no key of the policy verifies (entry name suffix).
    pub unknown_signatures: Vec<String>,
    /// Distinct valid keys required.
    pub threshold: usize,
    /// Did enough valid keys sign?
    pub threshold_met: bool,
    /// Image signatures verified (release and upstream, both formats).
    pub image_signatures_verified: usize,
    /// Entries hashed and checked.
    pub entries_checked: usize,
    /// Bytes hashed.
    pub bytes_checked: u64,
    /// Images in the bundle (`repository:tag@digest`), once the index is trusted.
    pub images: Vec<String>,
    /// The scan carried in the bundle and the policy's verdict today, when it was scanned.
    pub scan: Option<ScanSummary>,
    /// Every failure found; empty means verified.
    pub failures: Vec<Failure>,
}

/// One trusted key's part in a verification.
#[derive(Debug, Clone, Serialize)]
pub struct SignerReport {
    /// Name from the trust policy (or the key file).
    pub name: String,
    /// Key id.
    pub key_id: KeyId,
    /// Signature scheme.
    pub algorithm: Algorithm,
    /// Validity at verification time.
    pub status: KeyStatus,
    /// A signature entry verifies with this key.
    pub signed: bool,
    /// Signed and valid: counts towards the threshold.
    pub counted: bool,
}

impl VerifyReport {
    /// Ids of the keys that signed and count.
    #[must_use]
    pub fn counted_signers(&self) -> Vec<KeyId> {
        self.signers.iter().filter(|s| s.counted).map(|s| s.key_id.clone()).collect()
    }

    /// Did the bundle pass every check?
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Verify a bundle against the operator's trust policy, judging key validity at `now`. Returns
/// the report, and the verified bundle only if the report has no failures.
pub fn verify(
    bundle: UnverifiedBundle,
    trust: &TrustPolicy,
    now: time::OffsetDateTime,
    reporter: &dyn Reporter,
) -> Result<(VerifyReport, Option<VerifiedBundle>), Error> {
    verify_with(bundle, trust, now, reporter, None)
}

/// [`verify`], except that the content of blobs larger than `over` bytes that no check reads
/// (layers, mostly) is not hashed yet: their size is checked and their place recorded, and
/// the returned bundle says so ([`VerifiedBundle::pending`]). `load` uses this to upload
/// while the rest is hashed ([`VerifiedBundle::check_pending`]) and commits nothing before
/// that has passed; anything else must call `check_pending` before relying on the bundle.
pub fn verify_deferring(
    bundle: UnverifiedBundle,
    trust: &TrustPolicy,
    now: time::OffsetDateTime,
    reporter: &dyn Reporter,
    over: u64,
) -> Result<(VerifyReport, Option<VerifiedBundle>), Error> {
    verify_with(bundle, trust, now, reporter, Some(over))
}

fn verify_with(
    bundle: UnverifiedBundle,
    trust: &TrustPolicy,
    now: time::OffsetDateTime,
    reporter: &dyn Reporter,
    defer_over: Option<u64>,
) -> Result<(VerifyReport, Option<VerifiedBundle>), Error> {
    if trust.keys.is_empty() {
        return Err(Error::NoKeys);
    }
    if trust.threshold == 0 || trust.threshold > trust.keys.len() {
        return Err(Error::Threshold {
            threshold: trust.threshold,
            keys: trust.keys.len(),
        });
    }
    let mut report = VerifyReport {
        bundle: bundle.path().display().to_string(),
        name: None,
        signers: Vec::new(),
        unknown_signatures: Vec::new(),
        threshold: trust.threshold,
        threshold_met: false,
        image_signatures_verified: 0,
        entries_checked: 0,
        bytes_checked: 0,
        images: Vec::new(),
        scan: None,
        failures: Vec::new(),
    };
    let mut state = Walk {
        defer_over,
        file_len: bundle.file().metadata().map_or(u64::MAX, |m| m.len()),
        ..Walk::default()
    };
    let walked = bundle.for_each_entry(|entry| state.visit(entry, trust, now, &mut report, reporter));
    if let Err(e) = walked {
        match e {
            bundle::Error::Malformed { .. } => report.failures.push(Failure::new(
                FailureCode::MalformedArchive,
                bundle.path().display().to_string(),
                e.to_string(),
            )),
            other => return Err(other.into()),
        }
    }
    // A bundle that ends right after its signatures still gets steps 2 and 3, so the report
    // says what is wrong (missing entries) rather than that there is no index.
    if state.index_bytes.is_some() && !state.signatures_done && report.failures.is_empty() {
        state.signatures_done = true;
        state.trust_index(trust, now, &mut report);
    }
    let Some(index) = state.index.take() else {
        if report.failures.is_empty() {
            report
                .failures
                .push(Failure::new(FailureCode::IndexMissing, INDEX_PATH, "the bundle has no entries"));
        }
        return Ok((report, None));
    };
    // Step 4 (end): listed entries that never appeared.
    for e in &index.entries {
        if !state.seen.contains(&e.path) {
            report.failures.push(Failure::new(
                FailureCode::MissingEntry,
                &e.path,
                format!("listed in bundle.json ({} bytes, {}) but not in the archive", e.size, e.digest),
            ));
        }
    }
    // Step 5.
    let mut reached = BTreeMap::new();
    let layout_index = layout_check::check(
        &index,
        &state.verified,
        &state.manifests,
        &state.layout_index,
        &mut reached,
        &mut report.failures,
    );
    // Who needs each entry left to hash, to name them as verification would if one fails.
    let pending_owners: verified::Owners = reached
        .into_values()
        .map(|(owner, desc)| (desc.digest.layout_path(), (owner, desc)))
        .filter(|(path, _)| state.pending.contains(path))
        .collect();
    let blobs = bundle_blobs::BundleBlobs {
        file: bundle.file(),
        verified: &state.verified,
        manifests: &state.manifests,
    };
    let graph = graph_check::check(&index, &layout_index, &blobs, &mut report.failures).unwrap_or_default();
    // Step 6.
    report.image_signatures_verified = image_signatures::check(&index, &blobs, &trust.valid_keys(now), &mut report.failures);
    // Step 7.
    report.scan = vuln_policy::check(&index, &blobs, now.date(), &mut report.failures);
    report.name = Some(index.name.clone());
    report.images = index.images.iter().map(ImageRecord::pinned_name).collect();
    if !report.passed() {
        return Ok((report, None));
    }
    let verified = VerifiedBundle::new(
        bundle,
        (index, state.index_digest.take().unwrap_or_else(|| crate::oci::Digest::of(b""))),
        report.counted_signers(),
        (state.verified, state.pending, pending_owners),
        state.manifests,
        layout_index,
        graph,
    );
    Ok((report, Some(verified)))
}

#[derive(Default)]
struct Walk {
    position: usize,
    index_bytes: Option<Vec<u8>>,
    /// The digest of `bundle.json` as signed.
    index_digest: Option<crate::oci::Digest>,
    signatures: Vec<(String, Vec<u8>)>,
    signatures_done: bool,
    index: Option<BundleIndex>,
    listed: BTreeMap<String, bundle::Entry>,
    seen: BTreeSet<String>,
    verified: BTreeMap<String, VerifiedEntry>,
    manifests: BTreeMap<Digest, Vec<u8>>,
    layout_index: Option<Vec<u8>>,
    /// Blobs larger than this that no check reads are left to hash later.
    defer_over: Option<u64>,
    /// The entries so left.
    pending: Vec<String>,
    /// The bundle file's length, for entries not read now.
    file_len: u64,
}

fn read_capped(reader: &mut dyn Read, size: u64, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(usize::try_from(size.min(cap)).unwrap_or(0));
    reader.take(cap).read_to_end(&mut buf)?;
    Ok(buf)
}

impl Walk {
    fn visit(
        &mut self,
        entry: bundle::RawEntry<'_>,
        trust: &TrustPolicy,
        now: time::OffsetDateTime,
        report: &mut VerifyReport,
        reporter: &dyn Reporter,
    ) -> Result<bool, bundle::Error> {
        self.position += 1;
        let offset = entry.offset;
        let io = |e: std::io::Error| bundle::Error::Malformed {
            offset,
            reason: e.to_string(),
        };
        // Step 1: the index comes first.
        if self.position == 1 {
            if entry.path != INDEX_PATH || entry.kind != EntryKind::File {
                report.failures.push(Failure::new(
                    FailureCode::IndexMissing,
                    &entry.path,
                    format!("first entry must be the regular file {INDEX_PATH}"),
                ));
                return Ok(false);
            }
            if entry.size > MAX_INDEX_SIZE {
                report.failures.push(Failure::new(
                    FailureCode::OversizedEntry,
                    INDEX_PATH,
                    format!("{} bytes, limit {MAX_INDEX_SIZE}", entry.size),
                ));
                return Ok(false);
            }
            self.index_bytes = Some(read_capped(entry.reader, entry.size, MAX_INDEX_SIZE).map_err(io)?);
            return Ok(true);
        }
        if !self.signatures_done {
            if let Some(id) = entry.path.strip_prefix(SIGNATURE_PREFIX) {
                if entry.kind != EntryKind::File || entry.size > MAX_SIGNATURE_SIZE {
                    report.failures.push(Failure::new(
                        FailureCode::UnsafeEntry,
                        &entry.path,
                        format!("signature entries must be regular files of at most {MAX_SIGNATURE_SIZE} bytes"),
                    ));
                    return Ok(false);
                }
                let sig = read_capped(entry.reader, entry.size, MAX_SIGNATURE_SIZE).map_err(io)?;
                // One entry per key, named by a key id, holding a signature: anything else was
                // not written by `bundle create` or `bundle sign`.
                let problem = if self.signatures.len() >= MAX_SIGNATURES {
                    Some((
                        FailureCode::SignatureInvalid,
                        format!("more than {MAX_SIGNATURES} signature entries"),
                    ))
                } else if KeyId::parse(id).is_none() {
                    Some((FailureCode::SignatureInvalid, "the entry name does not end in a key id".to_owned()))
                } else if self.signatures.iter().any(|(other, _)| other == id) {
                    Some((FailureCode::DuplicateEntry, "a second signature entry for the same key".to_owned()))
                } else if !crate::sign::is_well_formed_signature(&sig) {
                    Some((FailureCode::SignatureInvalid, "not a P-256 (DER) or Ed25519 signature".to_owned()))
                } else {
                    None
                };
                if let Some((code, message)) = problem {
                    report.failures.push(Failure::new(code, &entry.path, message));
                    return Ok(false);
                }
                self.signatures.push((id.to_owned(), sig));
                return Ok(true);
            }
            self.signatures_done = true;
            // Steps 2 and 3: nothing after this point is read unless the index is trusted.
            if !self.trust_index(trust, now, report) {
                return Ok(false);
            }
        }
        self.check_entry(entry, report, reporter)
    }

    fn trust_index(&mut self, trust: &TrustPolicy, now: time::OffsetDateTime, report: &mut VerifyReport) -> bool {
        let bytes = self.index_bytes.take().unwrap_or_default();
        self.index_digest = Some(crate::oci::Digest::of(&bytes));
        if self.signatures.is_empty() {
            report.failures.push(Failure::new(
                FailureCode::SignatureMissing,
                INDEX_PATH,
                "no signature entries follow bundle.json",
            ));
            return false;
        }
        let mut matched = vec![false; self.signatures.len()];
        for tk in &trust.keys {
            let mut signed = false;
            for (i, (_, sig)) in self.signatures.iter().enumerate() {
                if tk.key.verify(&bytes, sig).is_ok() {
                    signed = true;
                    matched[i] = true;
                }
            }
            let status = trust.status(tk, now);
            report.signers.push(SignerReport {
                name: tk.name.clone(),
                key_id: tk.key.id().clone(),
                algorithm: tk.key.algorithm(),
                status,
                signed,
                counted: signed && status == KeyStatus::Valid,
            });
        }
        report.unknown_signatures = self
            .signatures
            .iter()
            .zip(&matched)
            .filter(|(_, m)| !**m)
            .map(|((id, _), _)| id.clone())
            .collect();
        let counted = report.signers.iter().filter(|s| s.counted).count();
        report.threshold_met = counted >= trust.threshold;
        if !report.threshold_met {
            let describe: Vec<String> = report
                .signers
                .iter()
                .map(|s| {
                    let what = match (s.signed, s.status) {
                        (false, _) => "did not sign".to_owned(),
                        (true, KeyStatus::Valid) => "signed".to_owned(),
                        (true, status) => format!("signed but is {status}"),
                    };
                    format!("{} ({}) {what}", s.name, s.key_id)
                })
                .collect();
            let unknown = if report.unknown_signatures.is_empty() {
                String::new()
            } else {
                format!("; signatures by unknown keys: {}", report.unknown_signatures.join(", "))
            };
            let any_signed = report.signers.iter().any(|s| s.signed);
            report.failures.push(Failure::new(
                if any_signed {
                    FailureCode::ThresholdNotMet
                } else {
                    FailureCode::SignatureInvalid
                },
                INDEX_PATH,
                format!(
                    "{counted} of {} required valid signature(s): {}{unknown}",
                    trust.threshold,
                    describe.join("; ")
                ),
            ));
            return false;
        }
        let index: BundleIndex = match serde_json::from_slice(&bytes) {
            Ok(i) => i,
            Err(e) => {
                report
                    .failures
                    .push(Failure::new(FailureCode::IndexInvalid, INDEX_PATH, e.to_string()));
                return false;
            }
        };
        if index.schema_version != bundle::SCHEMA_VERSION {
            report.failures.push(Failure::new(
                FailureCode::IndexInvalid,
                INDEX_PATH,
                format!(
                    "schemaVersion {} is not supported (this sealift reads {})",
                    index.schema_version,
                    bundle::SCHEMA_VERSION
                ),
            ));
            return false;
        }
        for e in &index.entries {
            let bad_place = e.path == INDEX_PATH || e.path.starts_with(SIGNATURE_PREFIX);
            if !bundle::is_safe_path(&e.path) || bad_place {
                report.failures.push(Failure::new(
                    FailureCode::UnsafeEntry,
                    &e.path,
                    "listed path is not a safe relative path",
                ));
            }
            if self.listed.insert(e.path.clone(), e.clone()).is_some() {
                report
                    .failures
                    .push(Failure::new(FailureCode::DuplicateEntry, &e.path, "listed twice in bundle.json"));
            }
        }
        self.index = Some(index);
        report.failures.is_empty()
    }

    /// Step 4 for one entry.
    fn check_entry(
        &mut self,
        entry: bundle::RawEntry<'_>,
        report: &mut VerifyReport,
        reporter: &dyn Reporter,
    ) -> Result<bool, bundle::Error> {
        let path = entry.path.clone();
        if !entry.path_is_safe {
            report.failures.push(Failure::new(
                FailureCode::UnsafeEntry,
                &path,
                "path is absolute, contains `..` or empty components",
            ));
            return Ok(true);
        }
        if let EntryKind::Other(kind) = &entry.kind {
            report.failures.push(Failure::new(
                FailureCode::UnsafeEntry,
                &path,
                format!("{kind} entries are not allowed"),
            ));
            return Ok(true);
        }
        if !self.seen.insert(path.clone()) {
            report
                .failures
                .push(Failure::new(FailureCode::DuplicateEntry, &path, "appears twice in the archive"));
            return Ok(true);
        }
        let Some(listed) = self.listed.get(&path).cloned() else {
            report.failures.push(Failure::new(
                FailureCode::UnlistedEntry,
                &path,
                format!("{} bytes, not listed in the signed bundle.json", entry.size),
            ));
            return Ok(true);
        };
        if entry.size != listed.size {
            report.failures.push(Failure::new(
                FailureCode::SizeMismatch,
                &path,
                format!("expected {} bytes, found {}", listed.size, entry.size),
            ));
            return Ok(true);
        }
        // Small documents the layout check needs are kept; everything else only hashed.
        let keep_cap = if path == "index.json" {
            Some(MAX_LAYOUT_INDEX_SIZE)
        } else if listed.media_type.is_some() {
            Some(MAX_MANIFEST_SIZE)
        } else {
            None
        };
        if let Some(cap) = keep_cap
            && entry.size > cap
        {
            report.failures.push(Failure::new(
                FailureCode::OversizedEntry,
                &path,
                format!("{} bytes, limit {cap} for this kind of entry", entry.size),
            ));
            return Ok(true);
        }
        // A file that ends inside the entry (cut short) names the entry.
        let held = self.file_len.saturating_sub(entry.offset);
        if held < entry.size {
            report.failures.push(Failure::new(
                FailureCode::SizeMismatch,
                &path,
                format!("expected {} bytes, the file ends after {held}", listed.size),
            ));
            return Ok(true);
        }
        if keep_cap.is_none() && self.defer_over.is_some_and(|over| entry.size > over) {
            // Not read now (see `verify_deferring`): its bytes are hashed before anything
            // commits on the strength of this bundle. Checks that read it re-hash it.
            report.entries_checked += 1;
            report.bytes_checked += entry.size;
            self.pending.push(path.clone());
            self.verified.insert(
                path,
                VerifiedEntry {
                    offset: entry.offset,
                    size: entry.size,
                    digest: listed.digest,
                    media_type: listed.media_type,
                },
            );
            return Ok(true);
        }
        let task = reporter.start(&format!("verify {path}"), entry.size);
        let mut counter = DigestCounter::default();
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut reader = ProgressReader::new(entry.reader, &*task);
        loop {
            let n = reader.read(&mut buf).map_err(|e| bundle::Error::Malformed {
                offset: entry.offset,
                reason: format!("{path}: {e}"),
            })?;
            if n == 0 {
                break;
            }
            counter.update(&buf[..n]);
            if keep_cap.is_some() {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        task.finish();
        let (digest, size) = counter.finish();
        report.entries_checked += 1;
        report.bytes_checked += size;
        if let Some(failure) = Failure::of_content(&path, (&listed.digest, listed.size), (&digest, size)) {
            report.failures.push(failure);
            return Ok(true);
        }
        if path == "index.json" {
            self.layout_index = Some(kept);
        } else if listed.media_type.is_some() {
            self.manifests.insert(digest.clone(), kept);
        }
        self.verified.insert(
            path,
            VerifiedEntry {
                offset: entry.offset,
                size,
                digest,
                media_type: listed.media_type,
            },
        );
        Ok(true)
    }
}
