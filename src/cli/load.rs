//! `sealift load`: verify, then push. Nothing is pushed unless verification passes in this run.

use std::path::PathBuf;

use anyhow::Context as _;

use sealift::load::{LoadOptions, load};
use sealift::registry::Registry;

use super::output::{Progress, size};
use super::{Format, Outcome, RegistryArgs, secrets, verify};

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
    /// After loading, write the bundle's hardened manifests here with images rewritten to
    /// the target registry (pinned by digest) and the admission policies that enforce it.
    #[arg(long, value_name = "DIR")]
    manifests_out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) fn run(args: &LoadArgs) -> anyhow::Result<Outcome> {
    // Credentials and TLS are settled before verification so a bad flag fails early, but no
    // connection is opened until the bundle has passed.
    let options = secrets::registry_options(&args.connection)?;
    let (verify_report, verified) = verify::verify_bundle(&args.bundle, &args.trust, time::OffsetDateTime::now_utc())?;
    let Some(verified) = verified else {
        match args.format {
            Format::Json => {
                let doc = serde_json::json!({"verify": verify::to_json(&verify_report)?, "load": null});
                println!("{}", serde_json::to_string_pretty(&doc)?);
            }
            Format::Table => verify::render_table(&verify_report),
        }
        eprintln!("nothing was pushed: the bundle failed verification");
        return Ok(Outcome::No);
    };
    if args.format == Format::Table {
        verify::render_table(&verify_report);
    }
    let client = Registry::new(&options)?;
    let progress = Progress::new();
    let target = LoadOptions {
        registry: args.registry.clone(),
    };
    let report = super::runtime()?.block_on(load(&verified, &client, &target, &progress))?;
    let manifests = match &args.manifests_out {
        Some(dir) => match sealift::load::manifests::site_manifests(&verified, &args.registry)? {
            Some(hardened) => {
                sealift::harden::write_outputs(dir, &hardened.files).with_context(|| format!("writing {}", dir.display()))?;
                Some((dir.clone(), hardened.files.len(), hardened.report.changes.len()))
            }
            None => {
                eprintln!("note: the bundle carries no manifests; nothing written to {}", dir.display());
                None
            }
        },
        None => None,
    };
    if args.format == Format::Json {
        let doc = serde_json::json!({"verify": verify::to_json(&verify_report)?, "load": report});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("LOADED into {}", report.registry);
        for i in &report.images {
            println!(
                "  {}  ({} blobs pushed, {}; {} already present; {} manifests)",
                i.reference,
                i.blobs_pushed,
                size(i.bytes_pushed),
                i.blobs_skipped,
                i.manifests_pushed
            );
        }
        if let Some((dir, files, changes)) = &manifests {
            println!(
                "MANIFESTS written to {} ({files} files; {changes} references rewritten or objects updated for this site)",
                dir.display()
            );
        }
    }
    Ok(Outcome::Success)
}
