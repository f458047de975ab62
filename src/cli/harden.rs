//! `sealift harden`: digest-pinned, least-privilege manifests plus the namespace and cluster
//! policies that enforce them, with a report of every change and every finding left.

use std::path::PathBuf;

use anyhow::Context as _;
use sealift::harden::images::ImageLock;
use sealift::harden::pss::KubeVersion;
use sealift::harden::report::{RULES, Report};
use sealift::harden::{Error, Options, harden, read_inputs, write_outputs};
use sealift::policy::Release;
use sealift::policy::hardening::HardenSettings;

use super::{Format, Outcome};

#[derive(clap::Args)]
pub(crate) struct HardenArgs {
    /// A manifest file or a directory of them (rendered YAML, any kinds).
    input: PathBuf,
    /// Directory to write the hardened manifests and generated policies to.
    #[arg(short = 'o', long = "output", value_name = "OUT_DIR")]
    output: PathBuf,
    /// Write the full report (JSON) to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Image lock: `bundle inspect --format json` output, or a YAML map of reference to digest.
    #[arg(long, value_name = "LOCK")]
    images: Option<PathBuf>,
    /// Site registry (HOST[:PORT][/PATH]) to rewrite images to and admit in the cluster.
    #[arg(long, value_name = "HOST")]
    registry: Option<String>,
    /// Public key the cluster verifies image signatures with (keys/NAME.pub).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The site's public key import receipts are signed with (`load --site-key`): adds the
    /// Kyverno and policy-controller policies that admit only images with a PASSED receipt.
    #[arg(long = "site-pub", value_name = "FILE", requires = "registry")]
    receipt_key: Option<PathBuf>,
    /// Read `harden:` settings from this sealift.yaml.
    #[arg(short = 'f', long = "file", value_name = "SEALIFT_YAML")]
    release: Option<PathBuf>,
    /// Namespace for objects without one (overrides harden.namespace).
    #[arg(long)]
    namespace: Option<String>,
    /// Target Kubernetes version (v1.25 to v1.37; default v1.35): the API versions it serves
    /// and the Pod Security rules to meet.
    #[arg(long, value_name = "v1.NN")]
    kube_version: Option<String>,
    /// Opt-in: run images that would run as root (or whose user is unknown) as this UID.
    #[arg(long, value_name = "UID")]
    run_as_user: Option<u32>,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) fn run(args: &HardenArgs) -> anyhow::Result<Outcome> {
    let mut settings = match &args.release {
        Some(path) => Release::load(path)?.harden,
        None => HardenSettings::default(),
    };
    if args.namespace.is_some() {
        settings.namespace.clone_from(&args.namespace);
    }
    if args.run_as_user.is_some() {
        settings.run_as_user = args.run_as_user;
    }
    let version_text = args.kube_version.clone().or_else(|| settings.kubernetes_version.clone());
    let kube_version = KubeVersion::from_setting(version_text.as_deref()).map_err(anyhow::Error::msg)?;
    let lock = args
        .images
        .as_ref()
        .map(|p| {
            let text =
                sealift::bounded::read_to_string(p, sealift::bounded::DOCUMENT_FILE).with_context(|| format!("reading {}", p.display()))?;
            ImageLock::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        })
        .transpose()?;
    let read_pem = |p: &PathBuf| {
        let pem = sealift::bounded::read_to_string(p, sealift::bounded::KEY_FILE).with_context(|| format!("reading {}", p.display()))?;
        anyhow::ensure!(
            pem.trim_start().starts_with("-----BEGIN PUBLIC KEY-----"),
            "{} is not a PEM public key",
            p.display()
        );
        Ok(pem)
    };
    let key = args.key.as_ref().map(read_pem).transpose()?;
    let receipt_key = args.receipt_key.as_ref().map(read_pem).transpose()?;
    if let Some(r) = &args.registry {
        anyhow::ensure!(
            !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || ".-:/_".contains(c)) && !r.ends_with('/'),
            "`{r}` is not a registry name like HOST[:PORT][/PATH]"
        );
    }
    let files = read_inputs(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    anyhow::ensure!(!files.is_empty(), "{} holds no .yaml, .yml or .json files", args.input.display());
    let options = Options {
        settings: &settings,
        kube_version,
        lock: lock.as_ref(),
        site_registry: args.registry.as_deref(),
        signing_key_pem: key.as_deref(),
        receipt_key_pem: receipt_key.as_deref(),
    };
    let mut hardened = match harden(&files, &options) {
        Ok(h) => h,
        Err(e @ (Error::ImageNotInBundle { .. } | Error::InvalidImage { .. })) => {
            super::output::error(&anyhow::Error::from(e));
            return Ok(Outcome::No);
        }
        Err(e) => return Err(e.into()),
    };
    hardened.report.kubernetes_version_defaulted = version_text.is_none();
    let refused = hardened.report.refused().count();
    // Refused objects would not apply: nothing is written but the report.
    if refused == 0 {
        write_outputs(&args.output, &hardened.files).with_context(|| format!("writing {}", args.output.display()))?;
    }
    let json = serde_json::to_string_pretty(&hardened.report)? + "\n";
    if let Some(path) = &args.report {
        std::fs::write(path, &json).with_context(|| format!("writing {}", path.display()))?;
    }
    match args.format {
        Format::Json => print!("{json}"),
        // Names and values come from the manifests: control characters are escaped.
        Format::Table => {
            print!("{}", table(&hardened.report, hardened.files.len()));
        }
    }
    if refused > 0 {
        eprintln!(
            "error: {refused} object(s) refused: Kubernetes {} does not serve their API version and no mechanical migration exists; nothing written to {} (list an exception for rule V01 with a reason in sealift.yaml to drop them)",
            hardened.report.kubernetes_version,
            args.output.display()
        );
        return Ok(Outcome::No);
    }
    Ok(Outcome::Success)
}

fn rule_name(rule: &str) -> &str {
    let id = rule.split('/').next().unwrap_or(rule);
    RULES.iter().find(|(r, _)| *r == id).map_or("", |(_, n)| n)
}

fn table(report: &Report, files: usize) -> String {
    let defaulted = if report.kubernetes_version_defaulted {
        " (sealift's default; set --kube-version or harden.kubernetes-version)"
    } else {
        ""
    };
    let refused: Vec<_> = report.refused().collect();
    let written = if refused.is_empty() {
        format!("{files} files written")
    } else {
        format!("{} objects refused, nothing written", refused.len())
    };
    let mut out = String::new();
    line(
        &mut out,
        format!(
            "hardened {} objects for Kubernetes {}{defaulted}: {} changes, {} findings, {} objects generated, {written}",
            report.objects_in,
            report.kubernetes_version,
            report.changes.len(),
            report.findings.len(),
            report.objects_generated
        ),
    );
    if !refused.is_empty() {
        out.push('\n');
        line(&mut out, "refused (the target does not serve their API version):".into());
        for f in &refused {
            line(&mut out, format!("  {}: {}", f.object, f.detail));
        }
    }
    if !report.not_hardened.is_empty() {
        out.push('\n');
        line(&mut out, "not hardened (kind unknown):".into());
        for n in &report.not_hardened {
            let images = if n.images.is_empty() {
                "names no image".to_string()
            } else {
                format!("images pinned: {}", n.images.join(", "))
            };
            line(&mut out, format!("  {}: {images}", n.object));
        }
    }
    if !report.namespaces.is_empty() {
        out.push('\n');
        line(&mut out, "namespaces (Pod Security enforce level):".into());
        for ns in &report.namespaces {
            let capped = ns.capped.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
            line(&mut out, format!("  {:<30} {}{capped}", ns.name, ns.enforce));
        }
    }
    if !report.workloads.is_empty() {
        out.push('\n');
        line(&mut out, "workloads:".into());
        for w in &report.workloads {
            let failing = if w.failing.is_empty() {
                String::new()
            } else {
                format!(" (fails {})", w.failing.join(", "))
            };
            line(&mut out, format!("  {:<60} {}{failing}", w.object, w.level));
        }
    }
    if !report.changes.is_empty() {
        out.push('\n');
        line(&mut out, "changes:".into());
        for c in &report.changes {
            line(
                &mut out,
                format!(
                    "  {:<4} {} {}: {} -> {}",
                    c.rule,
                    c.object,
                    c.path,
                    c.before.as_deref().unwrap_or("(unset)"),
                    c.after.as_deref().unwrap_or("(removed)")
                ),
            );
        }
    }
    if !report.findings.is_empty() {
        out.push('\n');
        line(&mut out, "findings left (severity, rule, reason):".into());
        for f in &report.findings {
            let reason = serde_json::to_value(f.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            line(
                &mut out,
                format!(
                    "  {:<6} {:<30} {:<26} {} {}: {} [{}; {}]",
                    serde_json::to_value(f.severity)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    f.rule,
                    reason,
                    f.object,
                    f.path,
                    f.detail,
                    f.reason.category(),
                    rule_name(&f.rule)
                ),
            );
        }
    }
    out
}

/// Appends `text` as one line, its control characters (a newline in a name too) escaped: names
/// and values come from the manifests.
fn line(out: &mut String, text: String) {
    out.push_str(&super::output::escape(&text));
    out.push('\n');
}
