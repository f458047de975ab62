//! `sealift verify`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sealift::bundle::UnverifiedBundle;
use sealift::sign::{KeyStatus, PublicKey, TrustPolicy};
use sealift::verify::{VerifiedBundle, VerifyReport, verify};

use super::output::{Progress, size};
use super::{Outcome, ReviewFormat};

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// The bundle file.
    bundle: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// Judge key validity dates and vulnerability allowances at this time instead of now
    /// (RFC 3339, or YYYY-MM-DD for the start of that day, UTC): "will this bundle still pass
    /// on the day we install it?".
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    at: Option<time::OffsetDateTime>,
    #[command(flatten)]
    audit: super::audit::AuditArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: ReviewFormat,
    /// Write the output to this file instead of stdout (`--format html`).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(crate) fn parse_time(text: &str) -> Result<time::OffsetDateTime, String> {
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    sealift::policy::vulns::Day::parse(text)
        .map(|d| d.0.midnight().assume_utc())
        .map_err(|_| format!("`{text}` is neither RFC 3339 nor YYYY-MM-DD"))
}

/// Who is trusted: pinned keys and/or a trust policy file.
#[derive(clap::Args)]
pub(crate) struct TrustArgs {
    /// Pinned public key (PEM); repeatable. Each adds a key with no expiry.
    #[arg(long = "key", required_unless_present = "trust")]
    keys: Vec<PathBuf>,
    /// Trust policy (YAML): named keys, validity dates, revoked key ids, and a threshold of
    /// keys that must all have signed.
    #[arg(long)]
    trust: Option<PathBuf>,
}

impl TrustArgs {
    /// The `--key` files given.
    pub(crate) fn key_paths(&self) -> &[PathBuf] {
        &self.keys
    }

    /// The `--trust` file given.
    pub(crate) fn trust_path(&self) -> Option<&Path> {
        self.trust.as_deref()
    }

    /// The policy the flags describe.
    pub(crate) fn policy(&self) -> anyhow::Result<TrustPolicy> {
        let keys = self
            .keys
            .iter()
            .map(|p| {
                let pem = sealift::bounded::read_to_string(p, sealift::bounded::KEY_FILE)
                    .with_context(|| format!("reading public key {}", p.display()))?;
                let key = PublicKey::from_pem(&pem).with_context(|| format!("public key {}", p.display()))?;
                let name = p
                    .file_stem()
                    .map_or_else(|| p.display().to_string(), |s| s.to_string_lossy().into_owned());
                Ok((name, key))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let Some(path) = &self.trust else {
            return Ok(TrustPolicy::from_keys(keys));
        };
        let mut policy = TrustPolicy::load(path)?;
        for (name, key) in keys {
            policy.add_key(name, key);
        }
        Ok(policy)
    }
}

/// Run verification at `now`; shared with `load`.
pub(crate) fn verify_bundle(
    path: &Path,
    trust: &TrustArgs,
    now: time::OffsetDateTime,
) -> anyhow::Result<(VerifyReport, Option<VerifiedBundle>)> {
    let policy = trust.policy()?;
    let bundle = UnverifiedBundle::open(path)?;
    Ok(verify(bundle, &policy, now, &Progress::new())?)
}

/// [`verify_bundle`], leaving blobs over `over` bytes to hash later (see
/// `sealift::verify::verify_deferring`).
pub(crate) fn verify_bundle_deferring(
    path: &Path,
    trust: &TrustArgs,
    now: time::OffsetDateTime,
    over: u64,
) -> anyhow::Result<(VerifyReport, Option<VerifiedBundle>)> {
    let policy = trust.policy()?;
    let bundle = UnverifiedBundle::open(path)?;
    Ok(sealift::verify::verify_deferring(bundle, &policy, now, &Progress::new(), over)?)
}

/// The report as JSON, with a top-level `verified` flag.
pub(crate) fn to_json(report: &VerifyReport) -> anyhow::Result<serde_json::Value> {
    let mut doc = serde_json::to_value(report)?;
    doc["verified"] = serde_json::Value::Bool(report.passed());
    Ok(doc)
}

/// Appends one formatted line to a `String`, control characters (a newline in an entry name
/// too) escaped.
macro_rules! push_line {
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&super::output::escape(&format!($($arg)*)));
        $out.push('\n');
    }};
}

/// Print the report as a table. Paths, names and messages come from the bundle: control
/// characters are escaped, so no entry name can draw a line of its own.
pub(crate) fn render_table(report: &VerifyReport) {
    let mut out = String::new();
    table(report, &mut out);
    print!("{out}");
}

fn table(report: &VerifyReport, out: &mut String) {
    if report.passed() {
        push_line!(out, "VERIFIED {} ({})", report.bundle, report.name.as_deref().unwrap_or(""));
    } else {
        push_line!(out, "FAILED {}: {} problem(s)", report.bundle, report.failures.len());
    }
    if !report.signers.is_empty() {
        let counted = report.signers.iter().filter(|s| s.counted).count();
        let met = if report.threshold_met { "met" } else { "NOT met" };
        push_line!(
            out,
            "  threshold:  {counted} of {} required valid signature(s), {met}",
            report.threshold
        );
        for s in &report.signers {
            let what = match (s.signed, s.status) {
                (true, KeyStatus::Valid) => "signed".to_owned(),
                (true, status) => format!("signed, not counted: key {status}"),
                (false, KeyStatus::Valid) => "did not sign".to_owned(),
                (false, status) => format!("did not sign (key {status})"),
            };
            push_line!(out, "  key:        {} {} ({}): {what}", s.key_id, s.name, s.algorithm);
        }
        for u in &report.unknown_signatures {
            push_line!(out, "  key:        {u} (not in the trust policy): signature ignored");
        }
    }
    if report.passed() {
        push_line!(
            out,
            "  checked:    {} entries, {}",
            report.entries_checked,
            size(report.bytes_checked)
        );
        push_line!(out, "  image sigs: {} verified", report.image_signatures_verified);
        for i in &report.images {
            push_line!(out, "  image:      {i}");
        }
        scan_lines(report, out);
    } else {
        for f in &report.failures {
            push_line!(out, "  {:<23} {}: {}", f.code.as_str(), f.subject, f.message);
        }
    }
}

/// The bundle's scan: what was scanned with which data, and the policy's verdict today.
fn scan_lines(report: &VerifyReport, out: &mut String) {
    let Some(scan) = &report.scan else {
        if report.name.is_some() {
            push_line!(out, "  scan:       none (the bundle was made without a vulnerability database)");
        }
        return;
    };
    push_line!(
        out,
        "  scan:       {} image manifest(s), {} packages, {} findings; database {} (newest {})",
        scan.reports,
        scan.packages,
        scan.verdict.findings,
        scan.database.digest,
        scan.database.newest.as_deref().unwrap_or("undated")
    );
    for line in super::verdict::lines(&scan.verdict) {
        push_line!(out, "{line}");
    }
}

pub(crate) fn run(args: &VerifyArgs) -> anyhow::Result<Outcome> {
    if args.output.is_some() && args.format != ReviewFormat::Html {
        anyhow::bail!("-o is for --format html; the table and JSON go to stdout");
    }
    super::review::refuse_overwriting(args.output.as_deref(), &[&args.bundle])?;
    let now = args.at.unwrap_or_else(time::OffsetDateTime::now_utc);
    let trail = args.audit.open()?;
    let (report, verified) = match verify_bundle(&args.bundle, &args.trust, now) {
        Ok(r) => r,
        Err(e) => {
            trail.record_error("verify", None, vec![super::audit::bundle_ref(&args.bundle, None, None)], &e)?;
            return Err(e);
        }
    };
    let mut details = super::audit::failures(&report);
    if let Some(at) = args.at {
        details.push(format!("judged at {at}"));
    }
    trail.record(sealift::audit::Record {
        command: "verify".into(),
        outcome: if verified.is_some() {
            sealift::audit::Outcome::Passed
        } else {
            sealift::audit::Outcome::Failed
        },
        registry: None,
        bundles: vec![super::audit::bundle_ref(&args.bundle, verified.as_ref(), None)],
        images: report.images.clone(),
        receipt: None,
        details,
    })?;
    match args.format {
        ReviewFormat::Json => println!("{}", serde_json::to_string_pretty(&to_json(&report)?)?),
        ReviewFormat::Table => render_table(&report),
        ReviewFormat::Html => {
            let page = review_page(args, &report, verified.as_ref(), now)?;
            super::review::write(&page, args.output.as_deref())?;
        }
    }
    Ok(if verified.is_some() { Outcome::Success } else { Outcome::No })
}

/// The review page of one verification. A bundle that failed is shown from its unverified
/// index, under the failures; one that cannot even be read, by its failures alone.
fn review_page(
    args: &VerifyArgs,
    report: &VerifyReport,
    verified: Option<&VerifiedBundle>,
    now: time::OffsetDateTime,
) -> anyhow::Result<super::review::Page> {
    use super::review::{BundleView, Judging, Page, ReviewFiles, Verification};
    let policy = args.trust.policy()?;
    let file = args.bundle.display().to_string();
    let verification = Some(Verification {
        report,
        policy: &policy,
        as_of: None,
    });
    let judging = match report.scan.as_ref() {
        Some(scan) => Judging::Verify(&scan.verdict),
        None => Judging::Here {
            day: now.date(),
            by: "this page",
            verified: false,
        },
    };
    let view = match verified {
        Some(v) => Some(BundleView::new(
            &file,
            v.index(),
            ReviewFiles::verified(v)?,
            &[],
            verification,
            judging,
        )),
        None => {
            let unverified = UnverifiedBundle::open(&args.bundle).and_then(|b| {
                let peek = b.peek()?;
                Ok((b, peek))
            });
            match unverified {
                Ok((bundle, peek)) => {
                    let files = ReviewFiles::unverified(&bundle, &peek.index)?;
                    Some(BundleView::new(
                        &file,
                        &peek.index,
                        files,
                        &peek.signature_key_ids,
                        verification,
                        judging,
                    ))
                }
                Err(_) => None,
            }
        }
    };
    let at = super::review::at(now);
    Ok(Page::verified(report, verified.is_some(), view, &at))
}
