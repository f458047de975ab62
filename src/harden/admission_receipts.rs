//! Admission that requires the site's import receipt: an image from the site registry runs
//! only if a receipt signed by the site key says `load` verified it (SLSA verification
//! summary, `verificationResult: PASSED`, verifier `urn:sealift:load`). One object for
//! sigstore policy-controller and one for Kyverno, both offline (no transparency log).
//! A separate ClusterImagePolicy is ANDed with the signature policy by policy-controller.

use super::admission::{kyverno_key_attestors, kyverno_pod_policy, sigstore_cluster_policy, sigstore_key_authority};
use super::namespaces::{map, s, seq};
use super::yaml::Node;
use crate::receipt::{VERIFIER_ID, VSA_V1};

/// policy-controller: an authority with the site key whose attestation of the VSA type must
/// satisfy a CUE policy over the in-toto statement.
pub(super) fn sigstore_receipt_policy(registry: &str, key_pem: &str) -> Node {
    let cue =
        format!("predicateType: \"{VSA_V1}\"\npredicate: {{\n  verifier: id: \"{VERIFIER_ID}\"\n  verificationResult: \"PASSED\"\n}}\n");
    let mut authority = sigstore_key_authority("sealift-site-key", key_pem);
    if let Node::Map(entries) = &mut authority {
        entries.insert(
            "attestations",
            seq([map([
                ("name", s("import-receipt-passed")),
                ("predicateType", s(VSA_V1)),
                ("policy", map([("type", s("cue")), ("data", s(&cue))])),
            ])]),
        );
    }
    sigstore_cluster_policy("sealift-import-receipts", registry, authority)
}

/// Kyverno: a verifyImages attestation rule; its conditions read the predicate.
pub(super) fn kyverno_receipt_policy(registry: &str, key_pem: &str) -> Node {
    let condition = |key: &str, value: &str| map([("key", s(key)), ("operator", s("Equals")), ("value", s(value))]);
    let attestation = map([
        ("type", s(VSA_V1)),
        ("attestors", kyverno_key_attestors(key_pem)),
        (
            "conditions",
            seq([map([(
                "all",
                seq([
                    condition("{{ verificationResult }}", "PASSED"),
                    condition("{{ verifier.id }}", VERIFIER_ID),
                ]),
            )])]),
        ),
    ]);
    kyverno_pod_policy(
        "sealift-require-import-receipt",
        "import-receipt-passed",
        map([
            ("imageReferences", seq([s(&format!("{registry}/*"))])),
            ("required", Node::Bool(true)),
            ("verifyDigest", Node::Bool(true)),
            ("mutateDigest", Node::Bool(false)),
            ("attestations", seq([attestation])),
        ]),
    )
}
