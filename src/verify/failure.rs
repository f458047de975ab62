//! Verification failures: a stable code, the subject (path, image or blob) and what was
//! expected versus found.

use std::fmt;

use serde::Serialize;

use crate::oci::Digest;

/// Stable, kebab-case failure codes (shown to users and in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureCode {
    /// The tar is broken or uses features sealift never writes.
    MalformedArchive,
    /// `sealift/bundle.json` is not the first entry.
    IndexMissing,
    /// `bundle.json` does not parse or has an unsupported schema.
    IndexInvalid,
    /// No signature follows `bundle.json`.
    SignatureMissing,
    /// No signature verifies with a pinned key.
    SignatureInvalid,
    /// Fewer trusted, valid keys signed than the trust policy's threshold.
    ThresholdNotMet,
    /// An entry not listed in `bundle.json`.
    UnlistedEntry,
    /// A listed entry absent from the archive.
    MissingEntry,
    /// An entry present twice.
    DuplicateEntry,
    /// A link, device, directory, absolute path or `..`.
    UnsafeEntry,
    /// An entry larger than its kind allows.
    OversizedEntry,
    /// Size differs from `bundle.json`.
    SizeMismatch,
    /// Content hash differs from `bundle.json`.
    DigestMismatch,
    /// The OCI layout is incomplete or inconsistent.
    LayoutInvalid,
    /// The layout holds manifests under an image that `bundle.json` does not list as that
    /// image's (or lists manifests it does not hold).
    ManifestNotListed,
    /// A blob a manifest needs is not in the bundle.
    MissingBlob,
    /// An image (or platform manifest) lacks a signature in one of the required formats.
    ImageSignatureMissing,
    /// An image signature is malformed, covers another digest, or is by no trusted key.
    ImageSignatureInvalid,
    /// A scanned bundle lacks the scan report of an image manifest it carries.
    ScanReportMissing,
    /// A scan report does not parse, or describes another image or database than `bundle.json`.
    ScanReportInvalid,
    /// A finding at or above the policy's `fail-on` that no current allowance covers.
    VulnerabilityBlocked,
}

impl FailureCode {
    /// The code as shown to users.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedArchive => "malformed-archive",
            Self::IndexMissing => "index-missing",
            Self::IndexInvalid => "index-invalid",
            Self::SignatureMissing => "signature-missing",
            Self::SignatureInvalid => "signature-invalid",
            Self::ThresholdNotMet => "threshold-not-met",
            Self::UnlistedEntry => "unlisted-entry",
            Self::MissingEntry => "missing-entry",
            Self::DuplicateEntry => "duplicate-entry",
            Self::UnsafeEntry => "unsafe-entry",
            Self::OversizedEntry => "oversized-entry",
            Self::SizeMismatch => "size-mismatch",
            Self::DigestMismatch => "digest-mismatch",
            Self::LayoutInvalid => "layout-invalid",
            Self::ManifestNotListed => "manifest-not-listed",
            Self::MissingBlob => "missing-blob",
            Self::ImageSignatureMissing => "image-signature-missing",
            Self::ImageSignatureInvalid => "image-signature-invalid",
            Self::ScanReportMissing => "scan-report-missing",
            Self::ScanReportInvalid => "scan-report-invalid",
            Self::VulnerabilityBlocked => "vulnerability-blocked",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing that is wrong with a bundle.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// What kind of problem.
    pub code: FailureCode,
    /// The path, image or blob it concerns.
    pub subject: String,
    /// Expected versus found, in words.
    pub message: String,
}

impl Failure {
    /// A failure about `subject`.
    pub fn new(code: FailureCode, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            subject: subject.into(),
            message: message.into(),
        }
    }

    /// What is wrong with entry `path` whose content was read as `found` (digest and size)
    /// where the signed index lists `listed`: a size mismatch, else a digest mismatch, else
    /// nothing.
    #[must_use]
    pub(super) fn of_content(path: &str, listed: (&Digest, u64), found: (&Digest, u64)) -> Option<Self> {
        if found.1 != listed.1 {
            Some(Self::new(
                FailureCode::SizeMismatch,
                path,
                format!("expected {} bytes, read {}", listed.1, found.1),
            ))
        } else if found.0 != listed.0 {
            Some(Self::new(
                FailureCode::DigestMismatch,
                path,
                format!("expected {}, found {}", listed.0, found.0),
            ))
        } else {
            None
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.code, self.subject, self.message)
    }
}
