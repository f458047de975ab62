//! `sealift load`: verify, check the order of imports, push, and leave a receipt. Nothing is
//! committed to the registry unless verification passes in this run and the bundle is not a
//! rollback (the large layers are hashed while their uploads start; see `load_rest`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use sealift::audit::{Outcome as Logged, Record};
use sealift::load::receipts::{self, Judgement};
use sealift::load::{LoadOptions, LoadReport, load};
use sealift::oci::Digest;
use sealift::receipt::{BundleFacts, ImageFacts, Import, Operator, PolicyFacts, Rollback, Signer, Verdict};
use sealift::registry::Registry;
use sealift::sign::PublicKey;
use sealift::verify::{VerifiedBundle, VerifyReport};

use super::audit::{AuditArgs, Trail};
use super::output::{Progress, size};
use super::{Format, Outcome, RegistryArgs, load_rest, secrets, verify};

#[derive(clap::Args)]
pub(crate) struct LoadArgs {
    /// The bundle file.
    bundle: PathBuf,
    #[command(flatten)]
    trust: verify::TrustArgs,
    /// Target registry, HOST[:PORT].
    #[arg(long)]
    registry: String,
    #[command(flatten)]
    connection: RegistryArgs,
    #[command(flatten)]
    audit: AuditArgs,
    /// Where to write the import receipt (a DSSE envelope) [default: receipts/ beside the
    /// audit log].
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,
    /// Load even when a newer bundle of the same name was loaded into this registry before
    /// (the receipt records the rollback).
    #[arg(long)]
    allow_rollback: bool,
    /// After loading, write the bundle's hardened manifests here with images rewritten to
    /// the target registry (pinned by digest) and the admission policies that enforce it
    /// (with --site-key, also the policies that require the import receipt).
    #[arg(long, value_name = "DIR")]
    manifests_out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) fn run(args: &LoadArgs) -> anyhow::Result<Outcome> {
    // Credentials, TLS, the audit log and the site key are settled before verification so a
    // bad flag fails early, but no connection is opened until the bundle has passed.
    let options = secrets::registry_options(&args.connection)?;
    let trail = args.audit.open()?;
    if trail.key.is_none() {
        eprintln!("warning: no --site-key: the receipt and the audit entry are unsigned, and nothing is attached in the registry");
    }
    let started = now();
    let outcome = load_logged(args, &trail, &options, &started);
    let unlogged = outcome.as_ref().err().filter(|e| e.downcast_ref::<AlreadyLogged>().is_none());
    if let Some(e) = unlogged {
        // Whatever else stopped the run after the log was opened is recorded too.
        let bundles = vec![super::audit::bundle_ref(&args.bundle, None, None)];
        trail.record_error("load", Some(args.registry.clone()), bundles, e)?;
    }
    outcome
}

/// An error the run has already written to the audit log.
#[derive(Debug)]
struct AlreadyLogged(String);

impl std::fmt::Display for AlreadyLogged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AlreadyLogged {}

/// The run once the audit trail is open; every answer it gives is in the log.
fn load_logged(args: &LoadArgs, trail: &Trail, options: &sealift::registry::RegistryOptions, started: &str) -> anyhow::Result<Outcome> {
    let file_hash = FileHash::start(&args.bundle);
    let (verify_report, verified) =
        verify::verify_bundle_deferring(&args.bundle, &args.trust, time::OffsetDateTime::now_utc(), load_rest::OVER)?;
    let facts = Facts {
        args,
        trail,
        report: &verify_report,
        started,
        file_hash: &file_hash,
    };
    let Some(verified) = verified else {
        return unverified(&facts);
    };
    std::thread::scope(|scope| {
        // The large layers are hashed on a thread while the load goes on; nothing commits
        // before they all matched (see `load_rest`).
        let table = (args.format == Format::Table).then_some(&verify_report);
        let rest = load_rest::Rest::start(scope, &verified, table);
        match load_verified(&facts, &verified, options, &rest) {
            Err(_) | Ok(_) if !rest.passed() => {
                let mut report = verify_report.clone();
                report.failures.extend(rest.failures().iter().cloned());
                unverified(&Facts { report: &report, ..facts })
            }
            Err(e) if e.downcast_ref::<AlreadyLogged>().is_none() => {
                // Verified, then stopped (the registry, the history, a push): a FAILED receipt
                // that says why, and its audit entry.
                let text = super::output::chain(&e);
                let sha256 = facts.file_hash.get()?;
                let receipt = facts.receipt(Some(&verified), sha256, Vec::new(), vec![text.clone()], None)?;
                facts.log(Some(&verified), Logged::Error, Vec::new(), Some(&receipt), vec![text.clone()])?;
                Err(AlreadyLogged(format!("{text} (FAILED receipt {})", receipt.path.display())).into())
            }
            other => other,
        }
    })
}

/// A bundle that failed verification (`facts.report` says how): nothing was pushed; a FAILED
/// receipt and its audit entry, and the report.
fn unverified(facts: &Facts<'_>) -> anyhow::Result<Outcome> {
    let report = facts.report;
    let sha256 = facts.file_hash.get()?;
    let receipt = facts.receipt(None, sha256, Vec::new(), failures(report), None)?;
    facts.log(None, Logged::Failed, Vec::new(), Some(&receipt), failures(report))?;
    match facts.args.format {
        Format::Json => {
            let doc = serde_json::json!({"verify": verify::to_json(report)?, "load": null, "receipt": receipt.path});
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Table => verify::render_table(report),
    }
    eprintln!(
        "nothing was pushed: the bundle failed verification (FAILED receipt {})",
        receipt.path.display()
    );
    Ok(Outcome::No)
}

/// Push a verified bundle, attach its receipt, write its manifests and report.
/// Every commit waits for `rest` (the remaining hashing) to pass; an answer given before the
/// pushes (a refusal) waits for it too.
fn load_verified(
    facts: &Facts<'_>,
    verified: &VerifiedBundle,
    options: &sealift::registry::RegistryOptions,
    rest: &load_rest::Rest<'_>,
) -> anyhow::Result<Outcome> {
    let (args, trail, verify_report) = (facts.args, facts.trail, facts.report);
    let client = Registry::new(options)?;
    client.hold_commits(rest.gate());
    let runtime = super::runtime()?;
    // Order of imports: the receipts in the registry (signed by the site key) and this
    // site's audit log say which bundles the registry has had.
    let mut history = super::audit::loaded_per_log(&trail.log, &args.registry, trail.public.as_ref())?;
    if let Some(public) = &trail.public {
        let repos: BTreeSet<String> = verified.index().images.iter().map(|i| i.repository.clone()).collect();
        history.extend(runtime.block_on(receipts::history(&client, &args.registry, &repos, public))?);
    }
    let rollback = match receipts::judge(verified.index(), verified.index_digest(), &history) {
        Judgement::InOrder => None,
        Judgement::Rollback { newer } if args.allow_rollback => {
            eprintln!(
                "warning: rolling back: {} created {} was loaded before ({}); --allow-rollback given",
                newer.index,
                super::output::escape(&newer.created),
                super::output::escape(&newer.source)
            );
            Some(Rollback {
                newer_created: newer.created,
                newer_index: newer.index,
            })
        }
        refused => {
            let reason = match refused {
                Judgement::Rollback { newer } => format!(
                    "rollback: bundle `{}` created {} is older than {} created {}, already loaded into {} ({}); give --allow-rollback to load it anyway",
                    verified.index().name,
                    verified.index().created,
                    newer.index,
                    newer.created,
                    args.registry,
                    newer.source
                ),
                Judgement::PredecessorMissing { follows } => format!(
                    "out of order: bundle `{}` follows {follows}, which was never loaded into {}: load that one first",
                    verified.index().name,
                    args.registry
                ),
                Judgement::InOrder => unreachable!("handled above"),
            };
            if !rest.passed() {
                return Err(load_rest::Failed.into());
            }
            let sha256 = facts.file_hash.get()?;
            let receipt = facts.receipt(Some(verified), sha256, Vec::new(), vec![reason.clone()], None)?;
            facts.log(Some(verified), Logged::Refused, Vec::new(), Some(&receipt), vec![reason.clone()])?;
            eprintln!(
                "nothing was pushed: {} (FAILED receipt {})",
                super::output::escape(&reason),
                receipt.path.display()
            );
            return Ok(Outcome::No);
        }
    };
    let progress = Progress::new();
    let target = LoadOptions {
        registry: args.registry.clone(),
    };
    let loaded = runtime.block_on(load(verified, &client, &target, &progress));
    if !rest.passed() {
        return Err(load_rest::Failed.into());
    }
    let report = loaded?;
    let sha256 = facts.file_hash.get()?;
    let images = image_facts(verified, &report);
    let mut details = Vec::new();
    if let Some(r) = &rollback {
        details.push(format!(
            "rollback over {} created {} (--allow-rollback)",
            r.newer_index, r.newer_created
        ));
    }
    let receipt = facts.receipt(Some(verified), sha256, images, Vec::new(), rollback)?;
    if let Some(public) = &trail.public {
        let created = now();
        let attached = runtime.block_on(receipts::attach(
            &client,
            &args.registry,
            verified,
            &receipt.envelope,
            public,
            &created,
        ));
        if let Err(e) = attached {
            let text = format!("attaching the receipt: {}", super::output::chain(&anyhow::Error::from(e)));
            facts.log(
                Some(verified),
                Logged::Error,
                loaded_refs(&report),
                Some(&receipt),
                vec![text.clone()],
            )?;
            return Err(AlreadyLogged(format!(
                "{text} (the images are loaded; the receipt is at {})",
                receipt.path.display()
            ))
            .into());
        }
    }
    facts.log(Some(verified), Logged::Passed, loaded_refs(&report), Some(&receipt), details)?;
    let node_policy = match &args.manifests_out {
        Some(dir) => write_node_policy(dir, verified, &args.registry)?,
        None => None,
    };
    let manifests = match &args.manifests_out {
        Some(dir) => {
            let receipt_key = trail.public.as_ref().map(PublicKey::to_pem).transpose()?;
            match sealift::load::manifests::site_manifests(verified, &args.registry, receipt_key.as_deref())? {
                Some(hardened) => {
                    sealift::harden::write_outputs(dir, &hardened.files).with_context(|| format!("writing {}", dir.display()))?;
                    Some((dir.clone(), hardened.files.len(), hardened.report.changes.len()))
                }
                None => {
                    eprintln!("note: the bundle carries no manifests; nothing written to {}", dir.display());
                    None
                }
            }
        }
        None => None,
    };
    if args.format == Format::Json {
        let doc = serde_json::json!({"verify": verify::to_json(verify_report)?, "load": report, "receipt": receipt.path});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("LOADED into {}", report.registry);
        for i in &report.images {
            let mounted = if i.blobs_mounted > 0 {
                format!("; {} mounted from another repository", i.blobs_mounted)
            } else {
                String::new()
            };
            println!(
                "  {}  ({} blobs pushed, {}; {} already present{mounted}; {} manifests)",
                i.reference,
                i.blobs_pushed,
                size(i.bytes_pushed),
                i.blobs_skipped,
                i.manifests_pushed
            );
        }
        println!(
            "RECEIPT {} ({}{})",
            receipt.path.display(),
            if trail.key.is_some() { "signed" } else { "unsigned" },
            if trail.key.is_some() {
                "; attached to every image as .att and referrer"
            } else {
                ""
            }
        );
        if let Some((dir, files, changes)) = &manifests {
            println!(
                "MANIFESTS written to {} ({files} files; {changes} references rewritten or objects updated for this site)",
                dir.display()
            );
        }
        if let Some(nodes) = &node_policy {
            println!(
                "NODE POLICY written to {} (containers-policy.json and registries.d/sealift.yaml, for CRI-O and Podman nodes; see the README)",
                nodes.display()
            );
        }
    }
    Ok(Outcome::Success)
}

/// CRI-O and Podman: `DIR/sealift-nodes/containers-policy.json` (to merge into
/// `/etc/containers/policy.json`) and `registries.d/sealift.yaml`, trusting the key the
/// bundle's images were signed with (recorded with its hardening). Returns the directory
/// written, `None` when the bundle records no image key.
fn write_node_policy(dir: &Path, verified: &VerifiedBundle, registry: &str) -> anyhow::Result<Option<PathBuf>> {
    let Some(key) = verified.index().harden.as_ref().map(|h| h.image_key.as_str()) else {
        eprintln!("note: the bundle records no image key (it carries no manifests): no node policy written");
        return Ok(None);
    };
    let policy = sealift::load::containers_policy::node_policy(verified, registry, key)?;
    let nodes = dir.join("sealift-nodes");
    std::fs::create_dir_all(nodes.join("registries.d")).with_context(|| format!("creating {}", nodes.display()))?;
    std::fs::write(nodes.join("containers-policy.json"), policy.policy_json).with_context(|| format!("writing {}", nodes.display()))?;
    std::fs::write(nodes.join("registries.d/sealift.yaml"), policy.registries_d).with_context(|| format!("writing {}", nodes.display()))?;
    Ok(Some(nodes))
}

/// What every receipt and audit entry of one run shares.
struct Facts<'a> {
    args: &'a LoadArgs,
    trail: &'a Trail,
    report: &'a VerifyReport,
    started: &'a str,
    file_hash: &'a FileHash,
}

/// The whole bundle file's sha256, for the receipt: hashed on a thread of its own from the
/// start of the run, so that it overlaps verification (which keeps one core busy) rather than
/// the push (where the registry wants the cores).
struct FileHash {
    path: PathBuf,
    running: std::cell::RefCell<Option<std::thread::JoinHandle<Result<Digest, sealift::bundle::Error>>>>,
    done: std::cell::OnceCell<Digest>,
}

impl FileHash {
    fn start(path: &Path) -> Self {
        let owned = path.to_path_buf();
        Self {
            path: path.to_path_buf(),
            running: std::cell::RefCell::new(Some(std::thread::spawn(move || {
                super::background_thread();
                sealift::bundle::file_digest(&owned)
            }))),
            done: std::cell::OnceCell::new(),
        }
    }

    fn get(&self) -> anyhow::Result<Digest> {
        if let Some(d) = self.done.get() {
            return Ok(d.clone());
        }
        let digest = match self.running.borrow_mut().take() {
            Some(thread) => thread
                .join()
                .map_err(|_| anyhow::anyhow!("hashing {} failed", self.path.display()))??,
            None => sealift::bundle::file_digest(&self.path)?,
        };
        Ok(self.done.get_or_init(|| digest).clone())
    }
}

/// A receipt written.
struct Written {
    /// Where.
    path: PathBuf,
    /// The envelope (attached to the images when signed).
    envelope: sealift::sign::dsse::Envelope,
    /// sha256 of the bytes written to `path`.
    digest: Digest,
    /// sha256 of the whole bundle file.
    bundle_sha256: Digest,
}

impl Facts<'_> {
    /// Build, sign (with the site key) and write the receipt.
    fn receipt(
        &self,
        verified: Option<&VerifiedBundle>,
        sha256: Digest,
        images: Vec<ImageFacts>,
        failures: Vec<String>,
        rollback: Option<Rollback>,
    ) -> anyhow::Result<Written> {
        let index = verified.map(VerifiedBundle::index);
        let signers = self
            .report
            .signers
            .iter()
            .map(|s| Signer {
                name: s.name.clone(),
                key_id: s.key_id.to_string(),
                signed: s.signed,
                counted: s.counted,
            })
            .collect();
        let passed = failures.is_empty() && verified.is_some();
        let import = Import {
            operator: Operator::current(),
            registry: self.args.registry.clone(),
            bundle: BundleFacts {
                file: file_name(&self.args.bundle),
                sha256,
                name: index.map(|i| i.name.clone()),
                created: index.map(|i| i.created.clone()),
                index: verified.map(|v| v.index_digest().clone()),
                follows: index.and_then(|i| i.follows.clone()),
            },
            policy: PolicyFacts::new(signers, self.report.threshold, self.report.threshold_met),
            result: if passed { Verdict::Passed } else { Verdict::Failed },
            failures,
            images,
            rollback,
            started: self.started.to_owned(),
            finished: now(),
        };
        let bundle_sha256 = import.bundle.sha256.clone();
        let envelope = import.envelope(self.trail.key.as_ref())?;
        let path = match &self.args.receipt {
            Some(p) => p.clone(),
            None => {
                let stem = index.map_or_else(|| file_name(&self.args.bundle), |i| i.name.clone());
                let stem: String = stem
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                            c
                        } else {
                            '_'
                        }
                    })
                    // File names end at 255 bytes: a long bundle name is cut, not a failed load.
                    .take(120)
                    .collect();
                let dir = self.trail.log.path().parent().unwrap_or(Path::new(".")).join("receipts");
                dir.join(format!("{}-{stem}.receipt.json", import.finished.replace(':', "")))
            }
        };
        let bytes = serde_json::to_vec_pretty(&envelope)?;
        super::check::write_whole(&path, &bytes).with_context(|| format!("writing the receipt {}", path.display()))?;
        Ok(Written {
            path,
            envelope,
            digest: Digest::of(&bytes),
            bundle_sha256,
        })
    }

    /// Append the run to the audit log.
    fn log(
        &self,
        verified: Option<&VerifiedBundle>,
        outcome: Logged,
        images: Vec<String>,
        receipt: Option<&Written>,
        details: Vec<String>,
    ) -> anyhow::Result<()> {
        self.trail.record(Record {
            command: "load".into(),
            outcome,
            registry: Some(self.args.registry.clone()),
            bundles: vec![super::audit::bundle_ref(
                &self.args.bundle,
                verified,
                receipt.map(|r| r.bundle_sha256.clone()),
            )],
            images,
            receipt: receipt.map(|r| r.digest.clone()),
            details,
        })?;
        Ok(())
    }
}

/// A verification's failures, `code subject` each.
fn failures(report: &VerifyReport) -> Vec<String> {
    super::audit::failures(report)
}

/// Per image of the bundle (in order), what was pushed.
fn image_facts(bundle: &VerifiedBundle, report: &LoadReport) -> Vec<ImageFacts> {
    bundle
        .index()
        .images
        .iter()
        .zip(&report.images)
        .map(|(image, loaded)| ImageFacts {
            reference: loaded.reference.split('@').next().unwrap_or_default().to_owned(),
            digest: image.digest.clone(),
            platforms: image.platforms.iter().map(|p| p.digest.clone()).collect(),
            blobs_pushed: loaded.blobs_pushed,
            blobs_skipped: loaded.blobs_skipped + loaded.blobs_mounted,
            bytes_pushed: loaded.bytes_pushed,
        })
        .collect()
}

fn loaded_refs(report: &LoadReport) -> Vec<String> {
    report.images.iter().map(|i| i.reference.clone()).collect()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Now, RFC 3339 UTC.
fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
