//! The site's audit trail on the command line: the flags `load`, `verify` and `check` share
//! (`--audit-log`, `--site-key`), and `sealift audit verify`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sealift::audit::{AuditLog, BundleRef, Entry, Outcome as Logged, Record};
use sealift::load::receipts::Loaded;
use sealift::sign::{PublicKey, SigningKey};
use sealift::verify::{VerifiedBundle, VerifyReport};

use super::Outcome;

/// Where runs are recorded, and the key that signs the record.
#[derive(clap::Args)]
pub(crate) struct AuditArgs {
    /// Append-only audit log (JSON lines, hash-chained). Default: audit.log in
    /// $SEALIFT_STATE_DIR, else in $XDG_STATE_HOME/sealift, else in ~/.local/state/sealift.
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// The site's private key (cosign format, P-256; passphrase from SEALIFT_PASSWORD): signs
    /// audit entries and import receipts. Without it they are written unsigned. Set
    /// SEALIFT_SITE_KEY once so every run signs: `audit verify --key` refuses unsigned entries.
    #[arg(long = "site-key", visible_alias = "receipt-key", value_name = "KEY", env = "SEALIFT_SITE_KEY")]
    site_key: Option<PathBuf>,
}

/// An open audit log and the site key, ready to record a run.
pub(crate) struct Trail {
    pub log: AuditLog,
    pub key: Option<SigningKey>,
    /// The site key's public half (with `key`).
    pub public: Option<PublicKey>,
}

impl AuditArgs {
    /// Open the log (creating it) and the key, before the command acts: an unwritable log or a
    /// wrong passphrase stops the run before anything happens.
    pub(crate) fn open(&self) -> anyhow::Result<Trail> {
        let path = match &self.audit_log {
            Some(p) => p.clone(),
            None => sealift::audit::default_state_dir()
                .context("no place for the audit log: set --audit-log, SEALIFT_STATE_DIR or HOME")?
                .join("audit.log"),
        };
        let key = self.site_key.as_deref().map(super::bundle::open_key).transpose()?;
        if let Some(k) = &key {
            anyhow::ensure!(
                k.algorithm() == sealift::sign::Algorithm::EcdsaP256,
                "the site key must be P-256: admission controllers verify receipts with cosign's default scheme"
            );
        }
        let public = key.as_ref().map(SigningKey::public_key).transpose()?;
        let log = AuditLog::open(&path, key.is_some())?;
        Ok(Trail { log, key, public })
    }
}

impl Trail {
    /// Append `record`; a log that cannot be written is an error of the run.
    pub(crate) fn record(&self, record: Record) -> anyhow::Result<Entry> {
        Ok(self.log.append(record, self.key.as_ref(), time::OffsetDateTime::now_utc())?)
    }

    /// Record a run that stopped with `error` (exit 2).
    pub(crate) fn record_error(
        &self,
        command: &str,
        registry: Option<String>,
        bundles: Vec<BundleRef>,
        error: &anyhow::Error,
    ) -> anyhow::Result<()> {
        self.record(Record {
            command: command.into(),
            outcome: Logged::Error,
            registry,
            bundles,
            images: Vec::new(),
            receipt: None,
            details: vec![super::output::chain(error)],
        })?;
        Ok(())
    }
}

/// The bundle of a verification, as far as it is trusted.
pub(crate) fn bundle_ref(path: &Path, verified: Option<&VerifiedBundle>, sha256: Option<sealift::oci::Digest>) -> BundleRef {
    BundleRef {
        file: path.display().to_string(),
        sha256,
        name: verified.map(|v| v.index().name.clone()),
        created: verified.map(|v| v.index().created.clone()),
        index: verified.map(|v| v.index_digest().clone()),
    }
}

/// A verification's failures as `code subject` lines.
pub(crate) fn failures(report: &VerifyReport) -> Vec<String> {
    report.failures.iter().map(|f| format!("{} {}", f.code, f.subject)).collect()
}

/// The bundles the audit log says were loaded into `registry`. With the site key only
/// entries it signed may prove a load (for `follows`); any entry may refuse a rollback.
pub(crate) fn loaded_per_log(log: &AuditLog, registry: &str, key: Option<&PublicKey>) -> anyhow::Result<Vec<Loaded>> {
    let mut out = Vec::new();
    sealift::audit::for_each_entry(log.path(), |e, line| {
        let proves_order = key.is_none_or(|k| sealift::audit::signed_by(line, k));
        if e.record.command != "load" || e.record.outcome != Logged::Passed || e.record.registry.as_deref() != Some(registry) {
            return;
        }
        for b in &e.record.bundles {
            if let (Some(name), Some(created), Some(index)) = (&b.name, &b.created, &b.index) {
                out.push(Loaded {
                    name: name.clone(),
                    created: created.clone(),
                    index: index.clone(),
                    source: format!("audit log {} entry {}", log.path().display(), e.seq),
                    proves_order,
                });
            }
        }
    })?;
    Ok(out)
}

/// A public key file (PEM).
pub(crate) fn read_public_key(p: &Path) -> anyhow::Result<PublicKey> {
    let pem =
        sealift::bounded::read_to_string(p, sealift::bounded::KEY_FILE).with_context(|| format!("reading public key {}", p.display()))?;
    PublicKey::from_pem(&pem).with_context(|| format!("public key {}", p.display()))
}

#[derive(clap::Subcommand)]
pub(crate) enum AuditCommand {
    /// Check an audit log: the hash chain, and with --key every entry's signature. Names the
    /// first entry that was edited, removed or reordered.
    Verify {
        /// The audit log.
        file: PathBuf,
        /// The site's public key (PEM); without it only the chain is checked.
        #[arg(long, visible_alias = "site-pub")]
        key: Option<PathBuf>,
    },
}

pub(crate) fn run(cmd: AuditCommand) -> anyhow::Result<Outcome> {
    let AuditCommand::Verify { file, key } = cmd;
    let key = key.as_deref().map(read_public_key).transpose()?;
    let verdict = sealift::audit::verify(&file, key.as_ref())?;
    let name = super::output::escape(&file.display().to_string());
    match &verdict.problem {
        None => {
            println!(
                "OK {name}: {} entr{}, chain intact, {}",
                verdict.entries,
                if verdict.entries == 1 { "y" } else { "ies" },
                match &key {
                    Some(k) => format!(
                        "{} signature{} verified with key {}",
                        verdict.signatures_checked,
                        if verdict.signatures_checked == 1 { "" } else { "s" },
                        k.id()
                    ),
                    None => "signatures not checked (give --key)".to_owned(),
                }
            );
            Ok(Outcome::Success)
        }
        Some(p) => {
            println!(
                "FAILED {name}: line {}: {} ({} entr{} before it intact)",
                p.line,
                super::output::escape(&p.reason),
                verdict.entries,
                if verdict.entries == 1 { "y" } else { "ies" }
            );
            Ok(Outcome::No)
        }
    }
}
