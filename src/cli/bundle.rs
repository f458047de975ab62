//! `sealift bundle create`, `sealift bundle sign` and `sealift bundle inspect`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use sealift::bundle::UnverifiedBundle;
use sealift::create::{self, CreateOptions, ScanPlan, create};
use sealift::harden::Error as HardenError;
use sealift::policy::Release;
use sealift::scan::db::Database;
use sealift::sign::SigningKey;

use super::output::{Progress, escape, size};
use super::{Outcome, RegistryArgs, ReviewFormat, secrets};

#[derive(Subcommand)]
pub(crate) enum BundleCommand {
    /// Pull the images of a release, and write them with its manifests into one signed bundle.
    Create {
        /// The release description.
        #[arg(short = 'f', long = "file", default_value = "sealift.yaml")]
        file: PathBuf,
        /// The bundle file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Private key to sign with (passphrase from SEALIFT_PASSWORD or a prompt).
        #[arg(long, default_value = "keys/sealift.key")]
        key: PathBuf,
        /// Vulnerability database (from `sealift db build`) to scan every image with; overrides
        /// `scan.vuln-db` in the release file.
        #[arg(long, value_name = "DIR")]
        vuln_db: Option<PathBuf>,
        /// The bundle this one follows: `load` refuses this one in a registry the previous one
        /// was never loaded into (order protection for incremental releases).
        #[arg(long, value_name = "BUNDLE")]
        follows: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Add a co-signature over the bundle's bundle.json, changing nothing else (for trust
    /// policies that need more than one signer). Run `sealift verify` first: you vouch for
    /// what bundle.json lists.
    Sign {
        /// The bundle file (replaced atomically).
        bundle: PathBuf,
        /// Private key to co-sign with (P-256 or Ed25519).
        #[arg(long)]
        key: PathBuf,
    },
    /// Show what a bundle says it contains (nothing is verified: use `sealift verify`).
    Inspect {
        /// The bundle file.
        bundle: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: ReviewFormat,
        /// Write the output to this file instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub(crate) fn run(cmd: BundleCommand) -> anyhow::Result<Outcome> {
    match cmd {
        BundleCommand::Create {
            file,
            output,
            key,
            vuln_db,
            follows,
            registry,
        } => run_create(&file, &output, &key, vuln_db.as_deref(), follows.as_deref(), &registry),
        BundleCommand::Sign { bundle, key } => run_sign(&bundle, &key),
        BundleCommand::Inspect { bundle, format, output } => run_inspect(&bundle, format, output.as_deref()),
    }
}

pub(crate) fn created_time() -> anyhow::Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH `{v}` is not a number of seconds")),
        _ => Ok(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs()),
    }
}

pub(crate) fn open_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = sealift::bounded::read_to_string(path, sealift::bounded::KEY_FILE)
        .with_context(|| format!("reading private key {}", path.display()))?;
    let passphrase = secrets::passphrase(false)?;
    SigningKey::from_pem(&pem, passphrase.as_bytes()).with_context(|| format!("opening private key {}", path.display()))
}

fn run_sign(bundle: &Path, key: &Path) -> anyhow::Result<Outcome> {
    // Fail on an unreadable bundle before asking for a passphrase.
    UnverifiedBundle::open(bundle)?;
    let key = open_key(key)?;
    let done = sealift::bundle::add_signature(bundle, &key)?;
    if done.already_signed {
        println!("{} is already signed by key {}; unchanged", bundle.display(), done.key_id);
    } else {
        println!(
            "{}: bundle.json ({}) co-signed by key {}; {} signature(s) now",
            bundle.display(),
            done.index_digest,
            done.key_id,
            done.signatures
        );
    }
    Ok(Outcome::Success)
}

/// The vulnerability database to scan with: `--vuln-db`, else `scan.vuln-db`; none when the
/// release asks for no scan. Opened (and its age checked) before any image is pulled.
fn open_database(file: &Path, release: &Release, flag: Option<&Path>, now: time::OffsetDateTime) -> anyhow::Result<Option<Database>> {
    let settings = release.scan.as_ref();
    let dir = flag.map(Path::to_path_buf).or_else(|| settings.and_then(|s| s.vuln_db.clone()));
    let Some(dir) = dir else {
        if settings.is_some() {
            anyhow::bail!(
                "{}: `scan:` needs a vulnerability database: set `scan.vuln-db` or pass --vuln-db",
                file.display()
            );
        }
        return Ok(None);
    };
    let max_age = settings.and_then(|s| s.max_db_age_days).map(|d| time::Duration::days(i64::from(d)));
    Ok(Some(Database::open(&dir, max_age, now)?))
}

fn run_create(
    file: &Path,
    output: &Path,
    key: &Path,
    vuln_db: Option<&Path>,
    follows: Option<&Path>,
    registry: &RegistryArgs,
) -> anyhow::Result<Outcome> {
    // Known before any image is pulled: where the bundle goes must be a file in a directory.
    anyhow::ensure!(
        !output.is_dir(),
        "{} is a directory: give the path of the bundle file to write",
        output.display()
    );
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    anyhow::ensure!(
        parent.is_dir(),
        "{} does not exist: the bundle cannot be written there",
        parent.display()
    );
    let release = Release::load(file)?;
    let now = time::OffsetDateTime::now_utc();
    let database = open_database(file, &release, vuln_db, now)?;
    // The previous bundle is named by the digest of its bundle.json: what its signatures cover.
    let follows = match follows {
        Some(p) => {
            let peek = UnverifiedBundle::open(p)?
                .peek()
                .with_context(|| format!("--follows {}", p.display()))?;
            Some(peek.index_digest)
        }
        None => None,
    };
    let key = open_key(key)?;
    let options = CreateOptions {
        release: &release,
        output,
        key: &key,
        registry: secrets::registry_options(registry)?,
        created: created_time()?,
        staging: None,
        follows,
        scan: database.as_ref().map(|database| ScanPlan {
            database,
            policy: release.scan.as_ref().map(|s| s.policy.clone()).unwrap_or_default(),
            today: now.date(),
        }),
    };
    let progress = Progress::new();
    let report = match super::runtime()?.block_on(create(options, &progress)) {
        Ok(r) => r,
        Err(create::Error::PolicyGate(scan)) => {
            println!("bundle {} NOT written: the vulnerability policy says no", escape(&release.name));
            for line in super::verdict::lines(&scan.verdict) {
                println!("{line}");
            }
            return Ok(Outcome::No);
        }
        // The manifests do not fit the release: the answer is no, as `sealift harden` says.
        Err(
            e
            @ create::Error::Harden(HardenError::ImageNotInBundle { .. } | HardenError::InvalidImage { .. } | HardenError::Refused { .. }),
        ) => {
            super::output::error(&anyhow::Error::from(e));
            println!("bundle {} NOT written: its manifests do not fit the release", escape(&release.name));
            return Ok(Outcome::No);
        }
        Err(e) => return Err(e.into()),
    };
    println!("bundle {} written: {}", escape(&release.name), report.written.path.display());
    for i in &report.images {
        let platforms = if i.platforms.is_empty() {
            String::new()
        } else {
            format!(" ({} platforms)", i.platforms.len())
        };
        println!("  {} -> {}{platforms}", escape(&i.source.to_string()), escape(&i.pinned_name()));
    }
    println!(
        "  {} release file{}, {} entries, {}",
        report.files,
        if report.files == 1 { "" } else { "s" },
        report.written.entries,
        size(report.written.size)
    );
    if let Some(scan) = &report.scan {
        let r = &scan.record;
        let packages: usize = r.reports.iter().map(|x| x.packages).sum();
        let findings: usize = r.reports.iter().map(|x| x.findings).sum();
        println!(
            "  scanned:    {} image manifest(s), {packages} packages, {findings} findings; database {} ({} advisories, newest {})",
            r.reports.len(),
            r.database.digest,
            r.database.advisories,
            r.database.newest.as_deref().unwrap_or("undated")
        );
        for line in super::verdict::lines(&scan.verdict) {
            println!("{line}");
        }
    }
    println!("  signed by key {}", key.public_key()?.id());
    println!("  sha256 of bundle file: {}", report.written.digest.hex());
    Ok(Outcome::Success)
}

fn run_inspect(path: &Path, format: ReviewFormat, output: Option<&Path>) -> anyhow::Result<Outcome> {
    if output.is_some() && format != ReviewFormat::Html {
        anyhow::bail!("-o is for --format html; the table and JSON go to stdout");
    }
    super::review::refuse_overwriting(output, &[path])?;
    let bundle = UnverifiedBundle::open(path)?;
    let peek = bundle.peek()?;
    if format == ReviewFormat::Html {
        let files = super::review::ReviewFiles::unverified(&bundle, &peek.index)?;
        let today = time::OffsetDateTime::now_utc().date();
        let view = super::review::BundleView::new(
            &path.display().to_string(),
            &peek.index,
            files,
            &peek.signature_key_ids,
            None,
            super::review::Judging::Here {
                day: today,
                by: "this page",
                verified: false,
            },
        );
        super::review::write(&super::review::Page::inspected(view), output)?;
        return Ok(Outcome::Success);
    }
    if format == ReviewFormat::Json {
        let images: serde_json::Map<String, serde_json::Value> = peek
            .index
            .images
            .iter()
            .map(|i| (i.display_name(), serde_json::Value::String(i.digest.to_string())))
            .collect();
        let doc = serde_json::json!({
            "verified": false,
            "signatureKeyIds": peek.signature_key_ids,
            "lock": images,
            "index": peek.index,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(Outcome::Success);
    }
    let i = &peek.index;
    let total: u64 = i.entries.iter().map(|e| e.size).sum();
    println!("bundle:     {} (NOT verified; run `sealift verify`)", path.display());
    // Nothing here is verified: every string from the bundle is printed escaped.
    let e = super::output::escape;
    println!("name:       {}", e(&i.name));
    println!("created:    {}", e(&i.created.to_string()));
    println!("tool:       {} {}", e(&i.tool.name), e(&i.tool.version));
    println!("signatures: {}", e(&peek.signature_key_ids.join(", ")));
    println!("entries:    {} ({})", i.entries.len(), size(total));
    println!("images:");
    for img in &i.images {
        println!("  {}", e(&img.pinned_name()));
        println!("    source: {}", e(&img.source.to_string()));
        for p in &img.platforms {
            println!("    {:<16} {}", p.platform.to_string(), p.digest);
        }
        for a in &img.artifacts {
            let kind = format!("({})", a.kind);
            let what = a
                .artifact_type
                .as_deref()
                .map(|t| format!(" {}", super::output::escape(t)))
                .unwrap_or_default();
            println!("    {kind:<16} {}{what}", a.digest);
        }
    }
    if let Some(scan) = &i.scan {
        let fail_on = scan.policy.fail_on.map_or("none (report only)", |f| f.as_str());
        println!(
            "scan:       database {} (newest {}), fail-on {fail_on}, {} allowance(s)",
            escape(&scan.database.digest),
            escape(scan.database.newest.as_deref().unwrap_or("undated")),
            scan.policy.allow.len()
        );
        for r in &scan.reports {
            let platform = r.platform.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
            println!(
                "  {}: {} packages, {} findings -> {}",
                escape(&format!("{}{platform}", r.image)),
                r.packages,
                r.findings,
                escape(&r.report)
            );
        }
        for n in &scan.not_scanned {
            let (image, reason) = (super::output::escape(&n.image), super::output::escape(&n.reason));
            println!("  {image} {}: {reason}", n.manifest);
        }
    }
    let files: Vec<&str> = i
        .entries
        .iter()
        .filter(|e| e.path.starts_with("sealift/"))
        .map(|e| e.path.as_str())
        .collect();
    if !files.is_empty() {
        println!("files:");
        for f in files {
            println!("  {}", escape(f));
        }
    }
    Ok(Outcome::Success)
}
