//! Command-line front end. Each subcommand builds library options, calls one entry point and
//! renders the returned report. Exit codes: 0 success, 1 the answer is no (verification
//! failed), 2 usage or environment error.

mod audit;
mod bundle;
mod check;
mod db;
mod harden;
mod keys;
mod load;
mod load_rest;
mod output;
mod review;
mod scan;
mod secrets;
mod verdict;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Air-gapped Kubernetes bundle builder and verifier.
#[derive(Parser)]
#[command(
    name = "sealift",
    version,
    about,
    after_help = "Exit codes: 0 success, 1 the answer is no (verification failed, vulnerability policy tripped), 2 usage or environment error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Create and inspect bundles.
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
    /// Verify a bundle offline: its signatures (bundle.json and every image) and every digest.
    Verify(verify::VerifyArgs),
    /// Verify a bundle, then push its images into a registry.
    Load(load::LoadArgs),
    /// Check a registry against verified bundles: tags, manifests, blobs, signatures, and no
    /// unexpected tags. Read-only.
    Check(Box<check::CheckArgs>),
    /// List an image's packages and the known vulnerabilities in them, offline.
    Scan(Box<scan::ScanArgs>),
    /// The offline vulnerability database.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Pin images by digest, apply least privilege, and generate the policies that enforce it.
    Harden(Box<harden::HardenArgs>),
    /// The site's audit log of loads, verifications and checks.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// Output format for reports.
#[derive(Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub(crate) enum Format {
    /// Human-readable table.
    #[default]
    Table,
    /// JSON on stdout.
    Json,
}

/// Output format of `bundle inspect` and `verify`.
#[derive(Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub(crate) enum ReviewFormat {
    /// Human-readable table.
    #[default]
    Table,
    /// JSON on stdout.
    Json,
    /// A self-contained HTML review page (on stdout, or into the file `-o` names).
    Html,
}

/// Lower the calling thread's scheduling priority (nice +10; on Linux the nice value belongs
/// to the thread): for hashing that runs beside a transfer, so that on a machine shared with
/// the registry, the registry's side of the transfer, which bounds the run, is served first.
/// Failing to lower it only costs speed.
pub(crate) fn background_thread() {
    let _ = rustix::process::nice(10);
}

/// Registry connection flags shared by commands that talk to registries.
#[derive(clap::Args, Clone)]
pub(crate) struct RegistryArgs {
    /// Extra trusted CA certificate (PEM); repeatable.
    #[arg(long = "ca-file", value_name = "FILE")]
    ca_files: Vec<PathBuf>,
    /// Registry username (else SEALIFT_REGISTRY_USERNAME, else Docker/Podman auth files).
    #[arg(long)]
    username: Option<String>,
    /// Read the registry password from standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Registry requests to run at once (blob downloads, and every request of `load`); 1-256.
    #[arg(long, default_value_t = 4, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    jobs: usize,
    /// MiB per request of a chunked blob upload, 1-4096 (`load`; lower it for a proxy that
    /// limits request bodies).
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    upload_chunk: u64,
    /// Retries of a registry request that may pass on another try (connection failures,
    /// timeouts, 408, 429, 5xx), with exponential back-off; 0 for none.
    #[arg(long, value_name = "N", default_value_t = 5)]
    retries: usize,
    /// Stop retrying a request after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    retry_max_time: u64,
}

impl RegistryArgs {
    /// `--ca-file`s given.
    pub(crate) fn ca_files(&self) -> &[PathBuf] {
        &self.ca_files
    }

    /// The flags that shape how requests are made (jobs, retries, upload chunks), as given.
    pub(crate) fn request_flags(&self) -> Vec<String> {
        vec![
            "--jobs".into(),
            self.jobs.to_string(),
            "--retries".into(),
            self.retries.to_string(),
            "--retry-max-time".into(),
            self.retry_max_time.to_string(),
            "--upload-chunk".into(),
            self.upload_chunk.to_string(),
        ]
    }
}

/// How a command ended.
pub(crate) enum Outcome {
    Success,
    No,
}

pub(crate) fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let result = match cli.command {
        Command::Keys(c) => keys::run(c),
        Command::Bundle(c) => bundle::run(c),
        Command::Verify(a) => verify::run(&a),
        Command::Load(a) => load::run(&a),
        Command::Check(a) => check::run(&a),
        Command::Db(c) => db::run(c),
        Command::Scan(a) => scan::run(&a),
        Command::Harden(a) => harden::run(&a),
        Command::Audit(c) => audit::run(c),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::No) => ExitCode::from(1),
        Err(e) => {
            output::error(&e);
            ExitCode::from(2)
        }
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
