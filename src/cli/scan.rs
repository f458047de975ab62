//! `sealift scan`: inventory and vulnerability findings for one image, offline.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::ValueEnum;
use sealift::create::{ScanOptions, scan_source};
use sealift::oci::{Platform, SourceRef};
use sealift::policy::vulns::Severity;
use sealift::scan::db::Database;
use sealift::scan::matcher::{SEVERITIES, severity_rank};
use sealift::scan::{Report, formats};

use super::output::{Progress, escape};
use super::{Outcome, RegistryArgs, secrets};

#[derive(Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub(crate) enum ScanFormat {
    /// Human-readable table of findings.
    #[default]
    Table,
    /// sealift's scan report (schema `sealift-scan/1`, see README).
    Json,
    /// CycloneDX 1.6 JSON: components with purls, and vulnerabilities.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
    /// SARIF 2.1.0.
    Sarif,
}

#[derive(clap::Args)]
pub(crate) struct ScanArgs {
    /// The image: docker://REF, oci:DIR[:TAG] or oci-archive:FILE[:TAG].
    source: String,
    /// The vulnerability database built by `sealift db build`.
    #[arg(long, value_name = "DIR")]
    vuln_db: PathBuf,
    /// Refuse a database whose newest record is older than this many days.
    #[arg(long, value_name = "DAYS")]
    max_db_age: Option<u32>,
    /// Platform to scan in a multi-platform image (default: the host's).
    #[arg(long)]
    platform: Option<Platform>,
    /// Exit 1 when a finding is this severe or more (critical, high, medium, low, negligible, unknown).
    #[arg(long, value_name = "SEVERITY", value_parser = clap::builder::PossibleValuesParser::new(SEVERITIES))]
    fail_on: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    format: ScanFormat,
    /// Write the report to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    connection: RegistryArgs,
}

pub(crate) fn run(args: &ScanArgs) -> anyhow::Result<Outcome> {
    let source: SourceRef = args.source.parse().with_context(|| format!("image `{}`", args.source))?;
    let max_age = args.max_db_age.map(|d| time::Duration::days(i64::from(d)));
    let database = Database::open(&args.vuln_db, max_age, time::OffsetDateTime::now_utc())?;
    let options = ScanOptions {
        source,
        platform: args.platform.clone(),
        registry: secrets::registry_options(&args.connection)?,
        database: &database,
        staging: None,
    };
    let progress = Progress::new();
    let report = super::runtime()?.block_on(scan_source(options, &progress))?;
    let text = match args.format {
        ScanFormat::Table => table(&report),
        ScanFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        ScanFormat::Cyclonedx => serde_json::to_string_pretty(&formats::cyclonedx(&report))? + "\n",
        ScanFormat::Spdx => serde_json::to_string_pretty(&formats::spdx(&report, spdx_time()?))? + "\n",
        ScanFormat::Sarif => serde_json::to_string_pretty(&formats::sarif(&report))? + "\n",
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    // Warnings quote file names, package records and SQLite's messages from the image.
    for w in &report.warnings {
        eprintln!("warning: {}", escape(w));
    }
    for n in &report.not_scanned {
        eprintln!("{}: {}", n.digest, escape(&n.reason));
    }
    let threshold = args
        .fail_on
        .as_deref()
        .map(Severity::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let failing = threshold.map_or(0, |t| report.findings.iter().filter(|f| t.reached_by(&f.severity)).count());
    if failing > 0 {
        eprintln!(
            "{failing} finding(s) at or above --fail-on {}",
            args.fail_on.as_deref().unwrap_or_default()
        );
        return Ok(Outcome::No);
    }
    Ok(Outcome::Success)
}

/// The report for a terminal. Everything read from the image or the database (names,
/// versions, ids, the distribution) is escaped.
fn table(report: &Report) -> String {
    let mut out = String::new();
    let counts = report.counts();
    let summary: Vec<String> = SEVERITIES
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    out.push_str(&format!(
        "{} ({}{})\n  distro: {}\n  packages: {}\n  findings: {}{}\n  database: {} advisories, newest {}, {}\n",
        escape(&report.image),
        report.digest,
        report.platform.as_deref().map(|p| format!(", {}", escape(p))).unwrap_or_default(),
        report
            .distro
            .as_ref()
            .map_or("unknown".into(), |d| escape(&format!("{} {}", d.id, d.version_id))),
        report.packages.len(),
        report.findings.len(),
        if summary.is_empty() {
            String::new()
        } else {
            format!(" ({})", summary.join(", "))
        },
        report.database.advisories,
        report.database.newest.as_deref().unwrap_or("undated"),
        report.database.digest,
    ));
    if report.findings.is_empty() {
        return out;
    }
    let mut sorted: Vec<&sealift::scan::matcher::Finding> = report.findings.iter().collect();
    sorted.sort_by_key(|f| (severity_rank(&f.severity), f.ecosystem.clone(), f.name.clone(), f.id.clone()));
    // (severity, cvss, name, version, id, fixed, ecosystem), escaped.
    let rows: Vec<[String; 7]> = sorted
        .iter()
        .map(|f| {
            [
                escape(&f.severity),
                f.cvss.as_ref().map_or("-".to_owned(), |c| c.score.to_string()),
                escape(&f.name),
                escape(&f.version),
                escape(&f.id),
                escape(f.fixed_version.as_deref().unwrap_or("(no fix)")),
                escape(&f.ecosystem),
            ]
        })
        .collect();
    let width = |i: usize, least: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0).max(least);
    let (w_name, w_ver, w_id) = (width(2, 7), width(3, 9), width(4, 2));
    out.push_str(&format!(
        "\n{:<10} {:<4} {:<w_name$} {:<w_ver$} {:<w_id$} {:<20} ECOSYSTEM\n",
        "SEVERITY", "CVSS", "PACKAGE", "INSTALLED", "ID", "FIXED IN"
    ));
    for [severity, cvss, name, version, id, fixed, ecosystem] in &rows {
        out.push_str(&format!(
            "{severity:<10} {cvss:<4} {name:<w_name$} {version:<w_ver$} {id:<w_id$} {fixed:<20} {ecosystem}\n"
        ));
    }
    out
}

/// SPDX documents need a creation time: SOURCE_DATE_EPOCH when set, else now.
fn spdx_time() -> anyhow::Result<time::OffsetDateTime> {
    let secs = super::bundle::created_time()?;
    Ok(time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs)?)?)
}
