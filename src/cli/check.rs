//! `sealift check`: verify the bundles, then check the site registry against them (read-only).

use std::path::PathBuf;

use anyhow::Context as _;

use sealift::check::{CheckOptions, CheckReport, Status, check};
use sealift::registry::Registry;

use super::output::{Progress, escape};
use super::{Outcome, RegistryArgs, secrets, verify};

/// How the report is printed.
#[derive(Clone, Copy, clap::ValueEnum, Default, PartialEq, Eq)]
pub(crate) enum CheckFormat {
    /// Human-readable table.
    #[default]
    Table,
    /// The `sealift-check/1` JSON report.
    Json,
    /// SARIF 2.1.0.
    Sarif,
    /// A self-contained HTML review page (into the file `-o` names, else on stdout).
    Html,
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct CheckArgs {
    #[command(subcommand)]
    command: Option<CheckCommand>,
    /// The site registry to check, HOST[:PORT].
    #[arg(long, required = true)]
    registry: Option<String>,
    /// A bundle whose images the registry must hold; repeatable. Where two name the same
    /// repository and tag, the one created last is expected.
    #[arg(long = "bundle", value_name = "FILE", required = true)]
    bundles: Vec<PathBuf>,
    #[command(flatten)]
    trust: verify::TrustArgs,
    #[command(flatten)]
    connection: RegistryArgs,
    /// Stream and hash every blob (finds storage rot), instead of asking whether it is there.
    #[arg(long)]
    deep: bool,
    /// Judge the keys of the registry's signatures at this time instead of now (RFC 3339, or
    /// YYYY-MM-DD for the start of that day, UTC).
    #[arg(long, value_name = "TIME", value_parser = verify::parse_time)]
    at: Option<time::OffsetDateTime>,
    /// Match the package inventories the bundles' scans carry against this (newer)
    /// vulnerability database, and judge each bundle's policy again at check time.
    #[arg(long, value_name = "DIR")]
    vuln_db: Option<PathBuf>,
    /// Refuse a database whose newest record is older than this many days.
    #[arg(long, value_name = "DAYS", requires = "vuln_db")]
    max_db_age: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: CheckFormat,
    /// Also write the JSON report to this file; with `--format html`, the page instead.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Sign the report: FILE.dsse.json beside the report, a DSSE envelope over an in-toto
    /// statement with a SLSA verification summary (passphrase from SEALIFT_PASSWORD).
    #[arg(long, value_name = "KEY")]
    report_key: Option<PathBuf>,
    /// Also list the registry's repositories (its `_catalog`) and report those no bundle
    /// names as unexpected.
    #[arg(long)]
    catalog: bool,
    /// The site's public key: report every image without a PASSED import receipt signed by
    /// it (`receipt-missing`). Implied by --site-key.
    #[arg(long, value_name = "PUB")]
    site_pub: Option<PathBuf>,
    #[command(flatten)]
    audit: super::audit::AuditArgs,
    /// Check only shard I of N (0-based): a deterministic share of the items by digest, for
    /// a Kubernetes Indexed Job (`I` is `JOB_COMPLETION_INDEX`). Merge the parts with
    /// `sealift check merge`.
    #[arg(long, value_name = "I/N", value_parser = sealift::check::Shard::parse)]
    shard: Option<sealift::check::Shard>,
    /// Keep each item's result here, and do not ask again for what was ok and has not
    /// changed (while its image's tag still resolves to the signed digest).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// With --state: ignore what it holds and check everything (it is then rewritten).
    #[arg(long, requires = "state")]
    full: bool,
    /// Check nothing: print the Kubernetes objects that run this check on a schedule (an
    /// Indexed-Job CronJob of --shards pods, a merge CronJob, a NetworkPolicy), with the
    /// bundles and keys named as files of their volume and Secret.
    #[arg(long, requires_all = ["schedule", "image"])]
    print_cronjob: bool,
    /// With --print-cronjob: when to check (cron syntax).
    #[arg(long, value_name = "CRON")]
    schedule: Option<String>,
    /// With --print-cronjob: when to merge the shards' reports (cron syntax).
    #[arg(long, value_name = "CRON")]
    merge_schedule: Option<String>,
    /// With --print-cronjob: pods per run, each checking one shard.
    #[arg(long, value_name = "N", default_value_t = 1)]
    shards: u32,
    /// With --print-cronjob: the sealift image, pinned by digest.
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// With --print-cronjob: the namespace of the objects.
    #[arg(long, value_name = "NS", default_value = "sealift")]
    namespace: String,
}

#[derive(clap::Subcommand)]
pub(crate) enum CheckCommand {
    /// Combine the JSON reports of every shard of one check into one report.
    Merge {
        /// The shards' JSON reports (`-o` of each `check --shard I/N`).
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Where to write the merged JSON report.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        /// Sign the merged report (FILE.dsse.json), as `check --report-key` does.
        #[arg(long, value_name = "KEY")]
        report_key: Option<PathBuf>,
        /// Refuse a part checked more than this many hours ago (a shard that failed today
        /// must not pass with yesterday's part).
        #[arg(long, value_name = "HOURS", default_value_t = 12)]
        max_part_age: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: CheckFormat,
    },
}

pub(crate) fn run(args: &CheckArgs) -> anyhow::Result<Outcome> {
    if let Some(CheckCommand::Merge {
        parts,
        output,
        report_key,
        max_part_age,
        format,
    }) = &args.command
    {
        let oldest = time::OffsetDateTime::now_utc() - time::Duration::hours(i64::from(*max_part_age));
        return merge(parts, output, report_key.as_deref(), oldest, *format);
    }
    let registry = args.registry.clone().context("--registry is required")?;
    if args.print_cronjob {
        return print_cronjob(args, &registry);
    }
    if args.report_key.is_some() && args.output.is_none() {
        anyhow::bail!("--report-key signs the report written with -o FILE: give -o");
    }
    let inputs: Vec<&std::path::Path> = args.bundles.iter().map(PathBuf::as_path).collect();
    super::review::refuse_overwriting(args.output.as_deref(), &inputs)?;
    if args.report_key.is_some() && args.format == CheckFormat::Html {
        anyhow::bail!("--report-key signs the JSON report; with --format html, -o is the page: leave --format out to sign");
    }
    if args.report_key.is_some() && args.shard.is_some() {
        anyhow::bail!("a shard checks part of the items: sign the merged report (`check merge --report-key`), not a part");
    }
    let options = secrets::registry_options(&args.connection)?;
    // The signing key is opened first: a wrong passphrase stops the run before any request.
    let report_key = args.report_key.as_deref().map(super::bundle::open_key).transpose()?;
    let trail = args.audit.open()?;
    let outcome = check_logged(args, &trail, registry.clone(), &options, report_key.as_ref());
    if let Err(e) = &outcome {
        let bundles = args.bundles.iter().map(|b| super::audit::bundle_ref(b, None, None)).collect();
        trail.record_error("check", Some(registry), bundles, e)?;
    }
    outcome
}

/// Details kept in a check's audit entry; the rest are counted.
const AUDIT_DETAILS: usize = 100;

/// The check once the audit log is open: every answer it gives is recorded.
fn check_logged(
    args: &CheckArgs,
    trail: &super::audit::Trail,
    registry: String,
    options: &sealift::registry::RegistryOptions,
    report_key: Option<&sealift::sign::SigningKey>,
) -> anyhow::Result<Outcome> {
    let receipt_key = match &args.site_pub {
        Some(p) => Some(super::audit::read_public_key(p)?),
        None => trail.public.clone(),
    };
    let at = args.at.unwrap_or_else(time::OffsetDateTime::now_utc);
    let mut verified = Vec::new();
    let mut verifications = Vec::new();
    for path in &args.bundles {
        // A bundle is verified as of when it was made: whether its keys are still valid is
        // judged on the registry's signatures (`key-expired`), not by refusing the inventory.
        let made = made_at(path)?;
        if made > at {
            anyhow::bail!("{} says it was created at {made}, after the check time {at}", path.display());
        }
        let (report, bundle) = verify::verify_bundle(path, &args.trust, made)?;
        let Some(bundle) = bundle else {
            verify::render_table(&report);
            anyhow::bail!(
                "{} does not verify: a bundle that cannot be trusted sets no expectations, so nothing was checked",
                path.display()
            );
        };
        verified.push((path.display().to_string(), bundle));
        verifications.push(report);
    }
    let db = match &args.vuln_db {
        Some(dir) => {
            let max_age = args.max_db_age.map(|d| time::Duration::days(i64::from(d)));
            Some(sealift::scan::db::Database::open(dir, max_age, time::OffsetDateTime::now_utc())?)
        }
        None => None,
    };
    let state = match &args.state {
        Some(dir) => Some(sealift::check::State::open(dir, args.full).with_context(|| format!("state directory {}", dir.display()))?),
        None => None,
    };
    let client = Registry::new(options)?;
    let check_options = CheckOptions {
        registry,
        deep: args.deep,
        trust: args.trust.policy()?,
        at,
        shard: args.shard,
        catalog: args.catalog,
        receipt_key,
    };
    let report = super::runtime()?.block_on(check(
        &verified,
        &client,
        &check_options,
        db.as_ref(),
        state.as_ref(),
        &Progress::new(),
    ))?;
    if args.format == CheckFormat::Html {
        use super::review::{BundleView, Judging, Page, ReviewFiles, Verification};
        let bundles = verified
            .iter()
            .zip(&verifications)
            .map(|((file, bundle), verification)| {
                let v = Verification {
                    report: verification,
                    policy: &check_options.trust,
                    as_of: Some("as of the bundle's creation"),
                };
                let judging = Judging::Here {
                    day: at.date(),
                    by: "this check",
                    verified: true,
                };
                Ok(BundleView::new(
                    file,
                    bundle.index(),
                    ReviewFiles::verified(bundle)?,
                    &[],
                    Some(v),
                    judging,
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        super::review::write(&Page::checked(&report, bundles, None), args.output.as_deref())?;
    } else {
        if let Some(path) = &args.output {
            write_report(&report, path, report_key)?;
        }
        print(&report, args.format, 0)?;
    }
    let findings = report.items.iter().filter(|i| i.status != sealift::check::Status::Ok);
    let mut problems: Vec<String> = findings
        .clone()
        .take(AUDIT_DETAILS)
        .map(|i| format!("{} {} {}", i.status.as_str(), i.image, i.subject))
        .collect();
    let more = findings.count().saturating_sub(AUDIT_DETAILS);
    if more > 0 {
        problems.push(format!("and {more} more finding(s): see the report"));
    }
    trail.record(sealift::audit::Record {
        command: "check".into(),
        outcome: if report.passed() {
            sealift::audit::Outcome::Passed
        } else {
            sealift::audit::Outcome::Failed
        },
        registry: Some(check_options.registry.clone()),
        bundles: verified
            .iter()
            .map(|(path, b)| super::audit::bundle_ref(std::path::Path::new(path), Some(b), None))
            .collect(),
        images: Vec::new(),
        receipt: None,
        details: problems,
    })?;
    Ok(if report.passed() { Outcome::Success } else { Outcome::No })
}

/// The creation time `bundle.json` states (not yet verified: verification at that time then
/// checks the signatures over it).
fn made_at(path: &std::path::Path) -> anyhow::Result<time::OffsetDateTime> {
    let peek = sealift::bundle::UnverifiedBundle::open(path)?
        .peek()
        .with_context(|| format!("reading {}", path.display()))?;
    time::OffsetDateTime::parse(&peek.index.created, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("{}: `created` is not an RFC 3339 time", path.display()))
}

fn print_cronjob(args: &CheckArgs, registry: &str) -> anyhow::Result<Outcome> {
    if args.at.is_some() {
        anyhow::bail!("--at judges one run at a fixed time; a scheduled job judges at each run's own time: leave --at out");
    }
    let file_name = |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut extra = args.connection.request_flags();
    for ca in args.connection.ca_files() {
        extra.extend(["--ca-file".to_owned(), format!("/keys/{}", file_name(ca))]);
    }
    if args.deep {
        extra.push("--deep".to_owned());
    }
    if let Some(db) = &args.vuln_db {
        extra.extend(["--vuln-db".to_owned(), format!("/bundles/{}", file_name(db))]);
    }
    if args.catalog {
        extra.push("--catalog".to_owned());
    }
    if let Some(p) = &args.site_pub {
        extra.extend(["--site-pub".to_owned(), format!("/keys/{}", file_name(p))]);
    }
    if let Some(days) = args.max_db_age {
        extra.extend(["--max-db-age".to_owned(), days.to_string()]);
    }
    let spec = sealift::check::cronjob::CronJobSpec {
        namespace: args.namespace.clone(),
        schedule: args.schedule.clone().unwrap_or_default(),
        merge_schedule: args.merge_schedule.clone(),
        shards: args.shards,
        image: args.image.clone().unwrap_or_default(),
        registry: registry.to_owned(),
        bundles: args.bundles.iter().map(file_name).collect(),
        keys: args.trust.key_paths().iter().map(file_name).collect(),
        trust: args.trust.trust_path().map(|p| file_name(&p.to_path_buf())),
        report_key: args.report_key.as_ref().map(file_name),
        state: args.state.is_some(),
        extra,
    };
    print!("{}", sealift::check::cronjob::render(&spec)?);
    Ok(Outcome::Success)
}

/// The JSON report to `path`, and with `key` its signed statement to `path.dsse.json`.
fn write_report(report: &CheckReport, path: &std::path::Path, key: Option<&sealift::sign::SigningKey>) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(report)?;
    if let Some(key) = key {
        let envelope = sealift::check::attest::sign(report, &json, key);
        let signed = PathBuf::from(format!("{}.dsse.json", path.display()));
        write_whole(&signed, &serde_json::to_vec_pretty(&envelope)?)?;
    }
    write_whole(path, &json)
}

/// Write `bytes` to `path` whole or not at all (a temporary file renamed into place), so a
/// killed run never leaves half a report for `check merge` to read.
pub(crate) fn write_whole(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing beside {}", path.display()))?;
    std::io::Write::write_all(&mut tmp, bytes).with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Print `report` in `format`; `parts` is how many reports `check merge` merged (0 otherwise).
fn print(report: &CheckReport, format: CheckFormat, parts: usize) -> anyhow::Result<()> {
    let text = match format {
        CheckFormat::Json => serde_json::to_string_pretty(report)? + "\n",
        CheckFormat::Sarif => serde_json::to_string_pretty(&sealift::check::sarif::sarif(report))? + "\n",
        CheckFormat::Table => render_table(report),
        // `check merge`: the merged report's items, without the bundles' details.
        CheckFormat::Html => super::review::render(&super::review::Page::checked(report, Vec::new(), Some(parts)))?,
    };
    emit(&text)
}

/// Write to standard output; a reader that went away (`| head`) ends the output, not the run.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// `check merge`: read every part (a JSON report, at most 256 MiB), merge, write, sign.
fn merge(
    parts: &[PathBuf],
    output: &std::path::Path,
    key: Option<&std::path::Path>,
    oldest: time::OffsetDateTime,
    format: CheckFormat,
) -> anyhow::Result<Outcome> {
    let key = key.map(super::bundle::open_key).transpose()?;
    let mut reports = Vec::new();
    for p in parts {
        let bytes = sealift::bounded::read(p, 256 << 20).with_context(|| format!("reading {}", p.display()))?;
        reports.push(serde_json::from_slice(&bytes).with_context(|| format!("{} is not a sealift-check/1 report", p.display()))?);
    }
    let report = sealift::check::merge::merge(reports, oldest).map_err(|e| match e {
        sealift::check::merge::MergeError::Mismatch { part, reason } => {
            anyhow::anyhow!(
                "{}: {reason}",
                parts.get(part).map_or_else(String::new, |p| p.display().to_string())
            )
        }
        other => other.into(),
    })?;
    write_report(&report, output, key.as_ref())?;
    print(&report, format, parts.len())?;
    Ok(if report.passed() { Outcome::Success } else { Outcome::No })
}

fn render_table(report: &CheckReport) -> String {
    use std::fmt::Write as _;
    let s = &report.summary;
    let mut out = String::new();
    let verdict = if report.passed() { "OK" } else { "FINDINGS" };
    let shard = report
        .shard
        .map(|s| format!(" in shard {}/{}", s.index, s.count))
        .unwrap_or_default();
    let spared = report.items.iter().filter(|i| i.from_state).count();
    let _ = writeln!(
        out,
        "{verdict} {}: {} item(s){shard}{}, {} ok, {} finding(s) ({} error(s)){}",
        escape(&report.registry),
        s.items,
        if report.deep { " (deep)" } else { "" },
        s.ok,
        s.findings,
        s.errors,
        if spared > 0 {
            format!("; {spared} ok from --state, not asked again")
        } else {
            String::new()
        }
    );
    for b in &report.bundles {
        let _ = writeln!(
            out,
            "  bundle: {} ({}, created {}, {} image(s))",
            escape(&b.file),
            escape(&b.name),
            escape(&b.created),
            b.images
        );
    }
    let findings: Vec<_> = report.items.iter().filter(|i| i.status != Status::Ok).collect();
    if findings.is_empty() {
        let _ = writeln!(out, "  every item ok (--format json lists them)");
        return out;
    }
    let _ = writeln!(out, "  {:<17} {:<15} {:<40} SUBJECT: DETAIL", "STATUS", "CHECK", "IMAGE");
    for item in findings {
        let _ = writeln!(
            out,
            "  {:<17} {:<15} {:<40} {}: {}",
            item.status.as_str(),
            format!("{:?}", item.kind).to_lowercase(),
            escape(&item.image),
            escape(&item.subject),
            escape(&item.detail)
        );
    }
    out
}
