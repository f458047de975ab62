//! `sealift verify`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sealift::bundle::UnverifiedBundle;
use sealift::sign::PublicKey;
use sealift::verify::{VerifiedBundle, VerifyReport, verify};

use super::output::{Progress, size};
use super::{Format, Outcome};

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// The bundle file.
    bundle: PathBuf,
    /// Pinned public key (PEM); repeatable. Only these keys are trusted.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) fn load_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<PublicKey>> {
    paths
        .iter()
        .map(|p| {
            let pem = std::fs::read_to_string(p).with_context(|| format!("reading public key {}", p.display()))?;
            PublicKey::from_pem(&pem).with_context(|| format!("public key {}", p.display()))
        })
        .collect()
}

/// Run verification; shared with `load`.
pub(crate) fn verify_bundle(path: &Path, keys: &[PathBuf]) -> anyhow::Result<(VerifyReport, Option<VerifiedBundle>)> {
    let keys = load_keys(keys)?;
    let bundle = UnverifiedBundle::open(path)?;
    Ok(verify(bundle, &keys, &Progress::new())?)
}

/// The report as JSON, with a top-level `verified` flag.
pub(crate) fn to_json(report: &VerifyReport) -> anyhow::Result<serde_json::Value> {
    let mut doc = serde_json::to_value(report)?;
    doc["verified"] = serde_json::Value::Bool(report.passed());
    Ok(doc)
}

/// Print the report as a table.
pub(crate) fn render_table(report: &VerifyReport) {
    if report.passed() {
        println!("VERIFIED {} ({})", report.bundle, report.name.as_deref().unwrap_or(""));
        let ids: Vec<String> = report.signed_by.iter().map(ToString::to_string).collect();
        println!("  signed by:  {}", ids.join(", "));
        println!("  checked:    {} entries, {}", report.entries_checked, size(report.bytes_checked));
        for i in &report.images {
            println!("  image:      {i}");
        }
    } else {
        println!("FAILED {}: {} problem(s)", report.bundle, report.failures.len());
        for f in &report.failures {
            println!("  {:<18} {}: {}", f.code.as_str(), f.subject, f.message);
        }
    }
}

pub(crate) fn run(args: &VerifyArgs) -> anyhow::Result<Outcome> {
    let (report, verified) = verify_bundle(&args.bundle, &args.keys)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&to_json(&report)?)?),
        Format::Table => render_table(&report),
    }
    Ok(if verified.is_some() { Outcome::Success } else { Outcome::No })
}
