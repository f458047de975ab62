//! Every upstream Pod Security fixture (`../shared/psa-fixtures/<level>/<version>/<pass|fail>`)
//! must be classified exactly as its folder says, and a failing fixture must fail the check its
//! file is named after.

use std::path::{Path, PathBuf};

use sealift::harden::pss::{KubeVersion, Level, evaluate};
use sealift::harden::yaml::{Map, Node, parse_documents};

use crate::support::shared;

fn fixtures() -> PathBuf {
    shared("psa-fixtures")
}

fn pod(path: &Path) -> (Map, Map) {
    let text = std::fs::read_to_string(path).unwrap();
    let docs = parse_documents(&text).unwrap();
    assert_eq!(docs.len(), 1, "{}", path.display());
    let meta = docs[0].at(&["metadata"]).and_then(Node::as_map).cloned().unwrap_or_default();
    let spec = docs[0].at(&["spec"]).and_then(Node::as_map).cloned().unwrap();
    (meta, spec)
}

#[test]
fn pod_security_agrees_with_every_upstream_fixture() {
    let mut judged = 0;
    let mut wrong = Vec::new();
    for (level_dir, level) in [("baseline", Level::Baseline), ("restricted", Level::Restricted)] {
        for version_dir in std::fs::read_dir(fixtures().join(level_dir)).unwrap() {
            let version_dir = version_dir.unwrap().path();
            let version: KubeVersion = version_dir.file_name().unwrap().to_str().unwrap().parse().unwrap();
            for expect_pass in [true, false] {
                let dir = version_dir.join(if expect_pass { "pass" } else { "fail" });
                for file in std::fs::read_dir(&dir).unwrap() {
                    let file = file.unwrap().path();
                    let (meta, spec) = pod(&file);
                    let violations = evaluate(&meta, &spec, level, version);
                    judged += 1;
                    let stem = file.file_stem().unwrap().to_str().unwrap();
                    let named_check = stem.trim_end_matches(|c: char| c.is_ascii_digit());
                    let ok = if expect_pass {
                        violations.is_empty()
                    } else {
                        violations.iter().any(|v| v.check.to_ascii_lowercase() == named_check)
                    };
                    if !ok {
                        wrong.push(format!(
                            "{level} {version} {}: {violations:?}",
                            file.strip_prefix(fixtures()).unwrap().display()
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(judged, 276, "the fixture set changed");
    assert!(
        wrong.is_empty(),
        "{} of {judged} fixtures misjudged:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
