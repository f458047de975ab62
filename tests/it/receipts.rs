//! Import receipts and the audit log after real loads into `docker-registry`: the receipt
//! verifies with openssl and sigstore-types/-crypto, names the test process's uid and gid and
//! every digest loaded, and is found on each image through the `.att` tag and the referrers
//! API; failed and refused loads still leave a FAILED receipt and an audit entry; rollbacks
//! and loads out of order are refused; the audit chain names the entry that was changed.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::Value;

use crate::support::*;
use sealift::oci::{Digest, Manifest, Reference, media_type};
use sealift::receipt::{EXTENSION, VSA_V1};
use sealift::sign::SigningKey;

/// `keys/site.key` (encrypted like the release key) and `keys/site.pub` in the release dir.
fn site_key(release: &Release) {
    let key = SigningKey::generate(sealift::sign::Algorithm::EcdsaP256).unwrap();
    std::fs::write(
        release.path("keys/site.key"),
        key.to_encrypted_pem(KEY_PASSWORD.as_bytes()).unwrap(),
    )
    .unwrap();
    std::fs::write(release.path("keys/site.pub"), key.public_key().unwrap().to_pem().unwrap()).unwrap();
}

/// The envelope's statement, after sigstore-crypto and openssl both verify its signature
/// over the DSSE pre-authentication encoding with the site key.
fn verified_statement(release: &Release, envelope: &sigstore_types::DsseEnvelope) -> Value {
    let pem = std::fs::read_to_string(release.path("keys/site.pub")).unwrap();
    let key = sigstore_types::DerPublicKey::from_pem(&pem).unwrap();
    sigstore_crypto::verify_signature(
        &key,
        &envelope.pae(),
        &envelope.signature.sig,
        sigstore_crypto::SigningScheme::EcdsaP256Sha256,
    )
    .expect("sigstore-crypto verifies the receipt");
    assert!(crate::oracles::openssl_verifies(
        release.dir.path(),
        &release.path("keys/site.pub"),
        &envelope.pae(),
        envelope.signature.sig.as_bytes()
    ));
    serde_json::from_slice(envelope.payload.as_bytes()).unwrap()
}

/// The receipt file, parsed as a DSSE envelope by sigstore-types.
fn receipt_file(release: &Release, file: &str) -> sigstore_types::DsseEnvelope {
    serde_json::from_slice(&std::fs::read(release.path(file)).unwrap()).unwrap()
}

/// The receipt statement's payload, without checking any signature (unsigned receipts).
fn unsigned_statement(release: &Release, file: &str) -> Value {
    let v: Value = serde_json::from_slice(&std::fs::read(release.path(file)).unwrap()).unwrap();
    let body = base64::engine::general_purpose::STANDARD
        .decode(v["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// Every digest a load of `bundle` pushes as an image: each image's manifest and, under an
/// index, its platform manifests.
fn loaded_digests(release: &Release, bundle: &str) -> BTreeSet<String> {
    let index = release.bundle_json(bundle);
    let mut out = BTreeSet::new();
    for image in &index.images {
        out.insert(image.digest.hex().to_owned());
        out.extend(image.platforms.iter().map(|p| p.digest.hex().to_owned()));
    }
    out
}

fn subjects(statement: &Value) -> BTreeSet<String> {
    statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["digest"]["sha256"].as_str().unwrap().to_owned())
        .collect()
}

fn sha256_file(path: &std::path::Path) -> String {
    Digest::of(&std::fs::read(path).unwrap()).hex().to_owned()
}

/// The audit log's entries, parsed.
fn audit_entries(release: &Release, file: &str) -> Vec<Value> {
    std::fs::read_to_string(release.path(file))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_load_leaves_a_signed_receipt_on_every_image_and_in_the_audit_log() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    create_bundle(&release, &source, "release.tar");
    site_key(&release);
    let target = TestRegistry::with_referrers_api();
    let site = ["--site-key", "keys/site.key", "--audit-log", "audit.log"];
    let mut args = site.to_vec();
    args.extend(["--receipt", "receipt.json", "--manifests-out", "site"]);
    let o = load(&release, "release.tar", &target, &args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("RECEIPT receipt.json (signed; attached"), "{}", text(&o));

    // The receipt: signed by the site key, about every digest loaded, by this process.
    let envelope = receipt_file(&release, "receipt.json");
    let statement = verified_statement(&release, &envelope);
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], VSA_V1);
    assert_eq!(subjects(&statement), loaded_digests(&release, "release.tar"));
    let predicate = &statement["predicate"];
    assert_eq!(predicate["verificationResult"], "PASSED");
    assert_eq!(predicate["verifier"]["id"], "urn:sealift:load");
    let facts = &predicate[EXTENSION];
    assert_eq!(facts["operator"]["uid"], nix::unistd::getuid().as_raw());
    assert_eq!(facts["operator"]["gid"], nix::unistd::getgid().as_raw());
    assert_eq!(facts["registry"], target.host.as_str());
    assert_eq!(
        facts["bundle"]["sha256"],
        format!("sha256:{}", sha256_file(&release.path("release.tar")))
    );
    let index_digest = Digest::of(&release.extract("release.tar", "sealift/bundle.json"));
    assert_eq!(facts["bundle"]["index"], index_digest.to_string());
    assert_eq!(facts["bundle"]["name"], "test-release");
    assert_eq!(facts["policy"]["thresholdMet"], true);
    let pushed: u64 = facts["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["blobsPushed"].as_u64().unwrap())
        .sum();
    assert!(pushed >= 8, "{facts}");

    // Attached to every image: in the `.att` image, and as a referrer the API lists.
    let client = target.client();
    let receipt_payload = envelope.payload.clone();
    for image in &release.bundle_json("release.tar").images {
        let repo: Reference = format!("{}/{}:x", target.host, image.repository).parse().unwrap();
        let att = client
            .fetch_manifest(&Reference {
                tag: Some(format!("{}.att", image.digest.tag_form())),
                ..repo.clone()
            })
            .await
            .unwrap();
        let Manifest::Image { layers, .. } = Manifest::parse(&att.bytes, media_type::OCI_MANIFEST).unwrap() else {
            panic!("the .att tag of {} is not an image", image.repository);
        };
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].media_type, "application/vnd.dsse.envelope.v1+json");
        assert_eq!(layers[0].annotations["predicateType"], VSA_V1);
        let layer: sigstore_types::DsseEnvelope = serde_json::from_slice(&fetch_blob_bytes(&client, &repo, &layers[0]).await).unwrap();
        assert_eq!(layer.payload, receipt_payload);
        verified_statement(&release, &layer);

        let listed = client.referrers(&repo, &image.digest).await.unwrap();
        let receipt = listed
            .iter()
            .find(|d| d.annotations.get("dev.sigstore.bundle.predicateType").map(String::as_str) == Some(VSA_V1))
            .unwrap_or_else(|| panic!("no receipt referrer of {}: {listed:?}", image.repository));
        let m = client.fetch_manifest(&repo.with_digest(receipt.digest.clone())).await.unwrap();
        let Manifest::Image { layers, .. } = Manifest::parse(&m.bytes, media_type::OCI_MANIFEST).unwrap() else {
            panic!("receipt referrer is not an image manifest");
        };
        let bundle_bytes = fetch_blob_bytes(&client, &repo, &layers[0]).await;
        crate::oracles::sigstore_models_parses(&bundle_bytes);
        let bundle: Value = serde_json::from_slice(&bundle_bytes).unwrap();
        let inner: sigstore_types::DsseEnvelope = serde_json::from_value(bundle["dsseEnvelope"].clone()).unwrap();
        assert_eq!(inner.payload, receipt_payload);
    }
    assert!(target.referrers_listings() > 0, "the referrers API was never asked");

    // The cluster objects that require the receipt, valid for both controllers' CRDs.
    let admission = release.path("site/sealift-cluster/admission.yaml");
    let text_of = std::fs::read_to_string(&admission).unwrap();
    assert!(text_of.contains("sealift-require-import-receipt") && text_of.contains("sealift-import-receipts"));
    crd_validate(&admission, true);

    // `check --site-pub`: every image has its receipt.
    let (code, report, said) = crate::check::check(
        &release,
        &target,
        "release.tar",
        &["--site-key", "keys/site.key", "--audit-log", "audit.log"],
    );
    assert_eq!(code, Some(0), "{said}");
    let receipts: Vec<&Value> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["check"] == "receipt")
        .collect();
    assert_eq!(receipts.len(), 3, "{receipts:?}");
    assert!(receipts.iter().all(|i| i["status"] == "ok"), "{receipts:?}");
    // Receipts signed by a key other than the one the check pins do not count.
    let (code, report, said) = crate::check::check(
        &release,
        &target,
        "release.tar",
        &["--site-pub", "keys/other.pub", "--audit-log", "other.log"],
    );
    assert_eq!(code, Some(1), "{said}");
    let missing: Vec<&Value> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "receipt-missing")
        .collect();
    assert_eq!(missing.len(), 3, "{report}");
    assert!(
        missing[0]["detail"].as_str().unwrap().contains("signature does not verify"),
        "{}",
        missing[0]
    );
    // A run without the site key may not add an unsigned entry to the signed log...
    let o = sealift(
        release.dir.path(),
        &["verify", "release.tar", "--key", "keys/sealift.pub", "--audit-log", "audit.log"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is signed: give the site key"), "{}", text(&o));
    // It is refused before it acts: a load without the key pushes nothing.
    let other = TestRegistry::start();
    let o = load(&release, "release.tar", &other, &["--audit-log", "audit.log"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!text(&o).contains("VERIFIED"), "refused only after verifying: {}", text(&o));
    assert!(other.catalog().is_empty(), "{:?}", other.catalog());

    // A second load merges its receipt into the `.att` image beside the first.
    let o = load(&release, "release.tar", &target, &site);
    assert!(o.status.success(), "{}", text(&o));
    let alpha = release
        .bundle_json("release.tar")
        .images
        .into_iter()
        .find(|i| i.repository == "app/alpha")
        .unwrap();
    let repo: Reference = format!("{}/app/alpha:x", target.host).parse().unwrap();
    let att = client
        .fetch_manifest(&Reference {
            tag: Some(format!("{}.att", alpha.digest.tag_form())),
            ..repo
        })
        .await
        .unwrap();
    let Manifest::Image { layers, .. } = Manifest::parse(&att.bytes, media_type::OCI_MANIFEST).unwrap() else {
        panic!()
    };
    assert_eq!(layers.len(), 2);

    // The audit log: load, check, load; chained and signed.
    let entries = audit_entries(&release, "audit.log");
    let commands: Vec<&str> = entries.iter().map(|e| e["command"].as_str().unwrap()).collect();
    assert_eq!(commands, ["load", "check", "load"]);
    assert_eq!(entries[0]["operator"]["uid"], nix::unistd::getuid().as_raw());
    assert_eq!(
        entries[0]["receipt"],
        format!("sha256:{}", sha256_file(&release.path("receipt.json")))
    );
    let o = sealift(release.dir.path(), &["audit", "verify", "audit.log", "--key", "keys/site.pub"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("3 entries, chain intact, 3 signatures verified"), "{}", text(&o));
}

/// `scripts/crd-validate.py` (strict: unknown fields refused) on `file` against both CRDs.
fn crd_validate(file: &std::path::Path, expect_ok: bool) -> String {
    let python = crate::harden::kubernetes_validate().with_file_name("python3");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/crd-validate.py");
    let mut said = String::new();
    for crd in [
        "kyverno.io_clusterpolicies-v1.19.0.yaml",
        "policy.sigstore.dev_clusterimagepolicies-v0.15.1.yaml",
    ] {
        let o = std::process::Command::new(&python)
            .arg(&script)
            .arg(shared(&format!("crds/{crd}")))
            .arg(file)
            .output()
            .unwrap();
        said.push_str(&text(&o));
        if expect_ok {
            assert!(o.status.success(), "{crd}: {}", text(&o));
        }
    }
    said
}

#[test]
fn harden_with_a_receipt_key_adds_policies_that_validate_strictly_against_the_crds() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let pinned = format!("registry.site:5000/app/api@sha256:{}", "a".repeat(64));
    std::fs::write(
        input.join("app.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api}}\nspec:\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}}}\n    spec:\n      containers: [{{name: api, image: \"{pinned}\"}}]\n"
        ),
    )
    .unwrap();
    let key = SigningKey::generate(sealift::sign::Algorithm::EcdsaP256).unwrap();
    std::fs::write(dir.path().join("site.pub"), key.public_key().unwrap().to_pem().unwrap()).unwrap();
    let o = sealift(
        dir.path(),
        &[
            "harden",
            "in",
            "-o",
            "out",
            "--registry",
            "registry.site:5000",
            "--key",
            "site.pub",
            "--site-pub",
            "site.pub",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let admission = dir.path().join("out/sealift-cluster/admission.yaml");
    let said = crd_validate(&admission, true);
    for name in [
        "ClusterPolicy/sealift-verify-images",
        "ClusterPolicy/sealift-require-import-receipt",
        "ClusterImagePolicy/sealift-signed-images",
        "ClusterImagePolicy/sealift-import-receipts",
    ] {
        assert!(said.contains(&format!("ok {name}")), "{name} not validated: {said}");
    }
    // The validator is strict: a misspelt field in either receipt policy is refused.
    let written = std::fs::read_to_string(&admission).unwrap();
    for (from, to) in [("conditions:", "condition:"), ("predicateType: https", "predicatetype: https")] {
        assert!(written.contains(from), "{from}");
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, written.replacen(from, to, 1)).unwrap();
        let said = crd_validate(&bad, false);
        assert!(said.contains("INVALID"), "{to} accepted: {said}");
    }
    // Without a site registry there is nothing to admit: the flag is refused.
    let o = sealift(dir.path(), &["harden", "in", "-o", "out2", "--site-pub", "site.pub"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_verification_leaves_a_failed_receipt_and_entry_and_pushes_nothing() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    create_bundle(&release, &source, "release.tar");
    site_key(&release);
    let target = TestRegistry::start();
    let ca = target.ca();
    // Trusting another key: the bundle's signature does not verify.
    let o = sealift(
        release.dir.path(),
        &[
            "load",
            "release.tar",
            "--key",
            "keys/other.pub",
            "--registry",
            &target.host,
            "--ca-file",
            ca.to_str().unwrap(),
            "--site-key",
            "keys/site.key",
            "--audit-log",
            "audit.log",
            "--receipt",
            "failed.json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("nothing was pushed"), "{}", text(&o));
    assert!(target.catalog().is_empty(), "{:?}", target.catalog());
    let statement = verified_statement(&release, &receipt_file(&release, "failed.json"));
    assert_eq!(statement["predicate"]["verificationResult"], "FAILED");
    assert_eq!(statement["predicate"]["verifiedLevels"], serde_json::json!([]));
    // Nothing was loaded: the subject is the bundle file itself.
    assert_eq!(subjects(&statement), BTreeSet::from([sha256_file(&release.path("release.tar"))]));
    let facts = &statement["predicate"][EXTENSION];
    assert_eq!(facts["result"], "FAILED");
    assert!(!facts["failures"].as_array().unwrap().is_empty(), "{facts}");
    assert_eq!(facts["bundle"]["index"], Value::Null);
    let entries = audit_entries(&release, "audit.log");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["command"], "load");
    assert_eq!(entries[0]["outcome"], "failed");
    assert_eq!(
        entries[0]["receipt"],
        format!("sha256:{}", sha256_file(&release.path("failed.json")))
    );

    // A registry that cannot be reached: exit 2, and the log says why.
    let o = sealift(
        release.dir.path(),
        &[
            "load",
            "release.tar",
            "--key",
            "keys/sealift.pub",
            "--registry",
            "127.0.0.1:1",
            "--retries",
            "0",
            "--site-key",
            "keys/site.key",
            "--audit-log",
            "audit.log",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let entries = audit_entries(&release, "audit.log");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["outcome"], "error");
    // It had verified: a FAILED receipt says why.
    assert!(entries[1]["receipt"].is_string(), "{}", entries[1]);
    assert!(entries[1]["details"][0].as_str().unwrap().contains("127.0.0.1:1"), "{}", entries[1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_verify_names_the_entry_edited_removed_swapped_or_resigned() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    create_bundle(&release, &source, "release.tar");
    site_key(&release);
    for key in ["keys/sealift.pub", "keys/other.pub", "keys/sealift.pub", "keys/sealift.pub"] {
        sealift(
            release.dir.path(),
            &[
                "verify",
                "release.tar",
                "--key",
                key,
                "--site-key",
                "keys/site.key",
                "--audit-log",
                "audit.log",
            ],
        );
    }
    let entries = audit_entries(&release, "audit.log");
    let outcomes: Vec<&str> = entries.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["passed", "failed", "passed", "passed"]);
    let verify = |file: &str| {
        let o = sealift(release.dir.path(), &["audit", "verify", file, "--key", "keys/site.pub"]);
        (o.status.code(), text(&o))
    };
    let (code, said) = verify("audit.log");
    assert_eq!(code, Some(0), "{said}");

    let lines: Vec<String> = std::fs::read_to_string(release.path("audit.log"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let write = |name: &str, lines: &[String]| release.write(name, &lines.iter().map(|l| format!("{l}\n")).collect::<String>());
    // One byte edited in the third entry: an image it names.
    let mut edited = lines.clone();
    edited[2] = edited[2].replacen("app/alpha", "app/blpha", 1);
    let differing = lines[2].bytes().zip(edited[2].bytes()).filter(|(a, b)| a != b).count();
    assert_eq!((differing, lines[2].len()), (1, edited[2].len()));
    write("edited.log", &edited);
    // An entry removed; two swapped; a signature replaced by one from another entry.
    let mut removed = lines.clone();
    removed.remove(2);
    write("removed.log", &removed);
    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    write("swapped.log", &swapped);
    let sig_of = |l: &str| l[l.rfind(",\"sig\":\"").unwrap()..].to_owned();
    let mut resigned = lines.clone();
    resigned[3] = resigned[3].replace(&sig_of(&lines[3]), &sig_of(&lines[0]));
    write("resigned.log", &resigned);
    for (file, line, words) in [
        ("edited.log", 3, "signature does not verify"),
        (
            "removed.log",
            3,
            "holds entry 4 where entry 3 belongs: 1 entry before it was removed",
        ),
        ("swapped.log", 2, "holds entry 3 where entry 2 belongs"),
        ("resigned.log", 4, "signature does not verify"),
    ] {
        let (code, said) = verify(file);
        assert_eq!(code, Some(1), "{file}: {said}");
        assert!(said.contains(&format!("line {line}: {words}")), "{file}: {said}");
    }
    // Without the key the chain alone still finds the edit (at the entry after it).
    let o = sealift(release.dir.path(), &["audit", "verify", "edited.log"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("line 4: records the previous entry as"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_bundle_of_the_same_name_is_refused_unless_allowed_and_order_is_kept() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    create_bundle(&release, &source, "release.tar");
    site_key(&release);
    let dir = release.dir.path().to_path_buf();
    let newest = Digest::of(&release.extract("release.tar", "sealift/bundle.json"));
    rebundle(&dir, "release.tar", "older.tar", |index, _, _| {
        index.created = "2025-12-01T00:00:00Z".into();
        Vec::new()
    });
    let following = newest.clone();
    rebundle(&dir, "release.tar", "next.tar", move |index, _, _| {
        index.created = "2026-02-01T00:00:00Z".into();
        index.follows = Some(following);
        Vec::new()
    });
    rebundle(&dir, "release.tar", "skipping.tar", |index, _, _| {
        index.created = "2026-03-01T00:00:00Z".into();
        index.follows = Some(Digest::of(b"a bundle this registry never had"));
        Vec::new()
    });
    let target = TestRegistry::start();
    let site = ["--site-key", "keys/site.key", "--audit-log", "audit.log"];
    let with = |extra: &[&'static str]| {
        let mut v = site.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let o = load(&release, "release.tar", &target, &site);
    assert!(o.status.success(), "{}", text(&o));

    // The receipts in the registry are the evidence, even with a fresh audit log.
    let o = load(
        &release,
        "older.tar",
        &target,
        &[
            "--site-key",
            "keys/site.key",
            "--audit-log",
            "fresh.log",
            "--receipt",
            "refused.json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("rollback: bundle `test-release` created 2025-12-01T00:00:00Z is older than"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("receipt in"), "the refusal names its evidence: {}", text(&o));
    let refused = verified_statement(&release, &receipt_file(&release, "refused.json"));
    assert_eq!(refused["predicate"]["verificationResult"], "FAILED");
    assert!(
        refused["predicate"][EXTENSION]["failures"][0]
            .as_str()
            .unwrap()
            .starts_with("rollback")
    );
    assert_eq!(audit_entries(&release, "fresh.log")[0]["outcome"], "refused");
    let alpha = format!("{}/app/alpha:1.0", target.host).parse::<Reference>().unwrap();
    let still = target.client().fetch_manifest(&alpha).await.unwrap().digest;
    assert_eq!(
        still,
        release
            .bundle_json("release.tar")
            .images
            .iter()
            .find(|i| i.repository == "app/alpha")
            .unwrap()
            .digest
    );

    // Allowed on purpose: loaded, and the receipt says over what.
    let o = load(
        &release,
        "older.tar",
        &target,
        &with(&["--allow-rollback", "--receipt", "rollback.json"]),
    );
    assert!(o.status.success(), "{}", text(&o));
    let rolled = verified_statement(&release, &receipt_file(&release, "rollback.json"));
    assert_eq!(rolled["predicate"]["verificationResult"], "PASSED");
    assert_eq!(rolled["predicate"][EXTENSION]["rollback"]["newerIndex"], newest.to_string());

    // A bundle that follows one never loaded is refused; one that follows a loaded one is not.
    let o = load(&release, "skipping.tar", &target, &site);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("out of order"), "{}", text(&o));
    // A line forged into the log (well chained, but not signed by the site key) saying the
    // missing predecessor was loaded does not let the bundle through.
    let log = std::fs::read_to_string(release.path("audit.log")).unwrap();
    let last = log.lines().last().unwrap();
    let mut forged: Value = serde_json::from_str(last).unwrap();
    forged.as_object_mut().unwrap().remove("sig");
    forged["seq"] = (forged["seq"].as_u64().unwrap() + 1).into();
    forged["prev"] = Digest::of(last.as_bytes()).to_string().into();
    forged["outcome"] = "passed".into();
    forged["bundles"][0]["index"] = Digest::of(b"a bundle this registry never had").to_string().into();
    // (Another release's name: any entry, signed or not, may still refuse a rollback.)
    forged["bundles"][0]["name"] = "other-release".into();
    std::fs::write(
        release.path("audit.log"),
        format!("{log}{}\n", serde_json::to_string(&forged).unwrap()),
    )
    .unwrap();
    let o = load(&release, "skipping.tar", &target, &site);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("out of order"), "the forged entry was believed: {}", text(&o));
    let o = load(&release, "next.tar", &target, &site);
    assert!(o.status.success(), "{}", text(&o));

    // Without a site key the audit log alone is the evidence.
    let bare = TestRegistry::start();
    let o = load(&release, "release.tar", &bare, &["--audit-log", "bare.log"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("warning: no --site-key"), "{}", text(&o));
    // The default place: receipts/ beside the audit log.
    let said = text(&o);
    let written = said
        .lines()
        .find_map(|l| l.strip_prefix("RECEIPT "))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        written.starts_with("receipts/") && written.ends_with("-test-release.receipt.json"),
        "{written}"
    );
    let unsigned: Value = serde_json::from_slice(&std::fs::read(release.path(&written)).unwrap()).unwrap();
    assert_eq!(unsigned["signatures"], serde_json::json!([]));
    let statement = unsigned_statement(&release, &written);
    assert_eq!(statement["predicate"]["verificationResult"], "PASSED");
    let o = load(&release, "older.tar", &bare, &["--audit-log", "bare.log"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("audit log"), "{}", text(&o));
    // And a check that wants receipts finds none there.
    let (code, report, said) = crate::check::check(
        &release,
        &bare,
        "release.tar",
        &["--site-pub", "keys/site.pub", "--audit-log", "bare.log"],
    );
    assert_eq!(code, Some(1), "{said}");
    let missing = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "receipt-missing")
        .count();
    assert_eq!(missing, 3, "{report}");
}
