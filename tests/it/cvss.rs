//! CVSS base scores against an independent implementation: every CVSS v3.x and v4.0 vector in
//! ../shared's advisory records (the 619 PyPI and crates.io records that have no severity
//! label, and the rest: 164 distinct vectors), scored by sealift (the RustSec `cvss` crate) and by Red Hat's `cvss`
//! Python library, must agree to the tenth.

use std::collections::BTreeSet;

use sealift::scan::cvss::Cvss;
use serde_json::Value;

use crate::oracles::tools_python;
use crate::support::shared;

/// Every distinct `CVSS:3.x/…` and `CVSS:4.0/…` vector in the shared OSV records.
fn shared_vectors() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let entries = doc["affected"].as_array().cloned().unwrap_or_default();
                let lists = std::iter::once(&doc["severity"]).chain(entries.iter().map(|a| &a["severity"]));
                for list in lists {
                    for s in list.as_array().map(Vec::as_slice).unwrap_or_default() {
                        if matches!(s["type"].as_str(), Some("CVSS_V3" | "CVSS_V4")) {
                            out.insert(s["score"].as_str().unwrap().to_owned());
                        }
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&shared("vulndata/osv"), &mut out);
    out
}

/// Red Hat's scores: v3 base scores; v4 CVSS-B, the vector cut to its base metrics (four
/// shared v4 vectors carry threat or environmental metrics, which CVSS-B sets aside).
const RED_HAT_CVSS: &str = r#"
import sys
from cvss import CVSS3, CVSS4
V4_BASE = {"AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"}
for line in sys.stdin.read().split("\n"):
    if line.startswith("CVSS:4.0/"):
        metrics = [m for m in line[len("CVSS:4.0/"):].split("/") if m.split(":")[0] in V4_BASE]
        print(f"{float(CVSS4('CVSS:4.0/' + '/'.join(metrics)).base_score):.1f}")
    elif line:
        print(f"{float(CVSS3(line).base_score):.1f}")
"#;

#[test]
fn every_shared_vector_scores_as_red_hat_cvss_scores_it() {
    let vectors: Vec<String> = shared_vectors().into_iter().collect();
    assert!(vectors.len() > 150, "{} distinct vectors", vectors.len());
    assert!(vectors.iter().any(|v| v.starts_with("CVSS:4.0/")) && vectors.iter().any(|v| v.starts_with("CVSS:3.1/")));
    let out = tools_python(RED_HAT_CVSS, &[], vectors.join("\n").as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(theirs.len(), vectors.len());
    let differ: Vec<String> = vectors
        .iter()
        .zip(&theirs)
        .filter_map(|(v, score)| {
            let ours = Cvss::from_vector(v).map(|c| c.score.to_string()).unwrap_or_else(|e| e);
            (ours != *score).then(|| format!("{v}: sealift {ours}, Red Hat cvss {score}"))
        })
        .collect();
    assert!(differ.is_empty(), "{} of {} differ: {differ:#?}", differ.len(), vectors.len());
}
