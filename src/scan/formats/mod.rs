//! Standard documents made from a scan [`Report`](super::Report): CycloneDX 1.6 (SBOM with
//! vulnerabilities), SPDX 2.3 (SBOM) and SARIF 2.1.0 (findings for code-scanning tools).
//!
//! Both SBOMs name the operating system (from os-release: `ID` as its name, `VERSION_ID` as its
//! version, `CPE_NAME` where the distribution declares one) as a component that holds the OS
//! packages, and the image's architecture, so SBOM-driven scanners (trivy, grype,
//! Dependency-Track) match distribution advisories.
//!
//! Identifiers that must be unique (serial numbers, namespaces) are derived from the image and
//! database digests, so the same scan gives the same bytes.

mod cyclonedx;
mod sarif;
mod spdx;

pub use cyclonedx::cyclonedx;
pub use sarif::sarif;
pub use spdx::spdx;

use sha2::{Digest as _, Sha256};

use super::Report;
use super::package::{Kind, Package};

const TOOL: &str = "sealift";
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The image's architecture (`amd64`, `arm64/v8`), from its `os/architecture[/variant]`.
fn architecture(report: &Report) -> Option<&str> {
    report.platform.as_deref()?.split_once('/').map(|(_, arch)| arch)
}

/// Is this package one of the operating system's own (deb, apk, rpm)?
fn is_os_package(p: &Package) -> bool {
    p.kind().is_some_and(Kind::is_os)
}

/// The SPDX reference type of a CPE that is well formed (`cpe22Type` for a `cpe:/` URI,
/// `cpe23Type` for a `cpe:2.3:` formatted string, as SPDX 2.3 Annex F's patterns read them),
/// `None` for anything else: an image's `CPE_NAME` is not trusted to be one.
fn cpe_type(cpe: &str) -> Option<&'static str> {
    let plain = |s: &str, extra: &[u8]| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b) || extra.contains(&b))
    };
    if let Some(rest) = cpe.strip_prefix("cpe:2.3:") {
        let fields: Vec<&str> = rest.split(':').collect();
        let part_ok = matches!(fields.first(), Some(&("a" | "h" | "o" | "*" | "-")));
        let ok = fields.len() == 11 && part_ok && fields[1..].iter().all(|f| !f.is_empty() && plain(f, b"*?"));
        return ok.then_some("cpe23Type");
    }
    let rest = cpe.strip_prefix("cpe:/")?;
    let fields: Vec<&str> = rest.split(':').collect();
    let part_ok = matches!(fields.first(), Some(&("" | "a" | "h" | "o" | "A" | "H" | "O")));
    (part_ok && fields.len() <= 7 && fields[1..].iter().all(|f| plain(f, b"~%"))).then_some("cpe22Type")
}

/// A name-based (version 5 layout) UUID from the report's image and database digests.
fn uuid_for(report: &Report, salt: &str) -> String {
    let mut h = Sha256::new();
    for part in [salt, &report.digest, &report.database.digest] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let mut b: [u8; 16] = [0; 16];
    b.copy_from_slice(&h.finalize()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::cpe_type;

    #[test]
    fn only_well_formed_cpes_are_named() {
        assert_eq!(cpe_type("cpe:/o:fedoraproject:fedora:39"), Some("cpe22Type"));
        assert_eq!(cpe_type("cpe:2.3:o:redhat:enterprise_linux:9:*:*:*:*:*:*:*"), Some("cpe23Type"));
        for bad in [
            "not a cpe",
            "cpe:2.3:o:debian:debian linux:12:*:*:*:*:*:*:*",
            "cpe:2.3:o:x",
            "cpe:/o:a b",
            "cpe:/q:x",
        ] {
            assert_eq!(cpe_type(bad), None, "{bad}");
        }
    }
}
