//! The review page: one self-contained HTML file (no external assets, works offline, prints)
//! for whoever approves a bundle, decides to load it, or reads a check job's result.
//!
//! `bundle inspect`, `verify` and `check` fill one [`Page`]; the minijinja template
//! `page.html` renders it. Every value is a string from the model: the environment escapes all
//! of them for HTML, after making control and bidirectional characters visible, so a name
//! from a bundle, a registry or a manifest is shown as text and never runs. The page's own
//! style and script are allowed by their hashes in its Content-Security-Policy; nothing else
//! may run or load.

mod bundle_view;

pub(crate) use bundle_view::{BundleView, Judging, ReviewFiles, Verification};

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

const TEMPLATE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// Whether the page may say VERIFIED.
#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Standing {
    /// `bundle inspect`: nothing was checked.
    NotVerified,
    /// `verify` passed; `check` found every item as signed.
    Verified,
    /// `verify` failed, or `check` found problems.
    Failed,
}

/// One at-a-glance fact: a label and its value.
#[derive(Serialize)]
pub(crate) struct Fact {
    pub label: String,
    pub value: String,
}

impl Fact {
    pub(crate) fn new(label: &str, value: impl Into<String>) -> Self {
        Self {
            label: label.to_owned(),
            value: value.into(),
        }
    }
}

/// A verification failure: its code, subject and message.
#[derive(Serialize)]
pub(crate) struct Problem {
    pub code: String,
    pub subject: String,
    pub message: String,
}

/// `check`'s part: the registry and every item, failures first.
#[derive(Serialize)]
pub(crate) struct CheckView {
    pub registry: String,
    pub checked_at: String,
    pub items: Vec<CheckItem>,
}

/// One thing `check` looked at.
#[derive(Serialize)]
pub(crate) struct CheckItem {
    pub status: String,
    pub ok: bool,
    pub check: String,
    pub image: String,
    pub subject: String,
    pub detail: String,
}

/// Everything the page shows.
#[derive(Serialize)]
pub(crate) struct Page {
    /// The command that made it: `bundle inspect`, `verify`, `check`.
    pub command: String,
    pub standing: Standing,
    /// The banner's words.
    pub headline: String,
    /// One sentence under the banner.
    pub summary: String,
    /// When the page was made (RFC 3339, UTC).
    pub generated: String,
    pub facts: Vec<Fact>,
    pub problems: Vec<Problem>,
    pub bundles: Vec<BundleView>,
    pub check: Option<CheckView>,
}

/// `'sha256-…'` of an inline style or script, for the Content-Security-Policy.
fn csp_hash(text: &str) -> String {
    use base64::Engine as _;
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// The page as HTML.
pub(crate) fn render(page: &Page) -> anyhow::Result<String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    // Only the page's own style and script are passed as safe strings; the model has none.
    // Every other value has its control, bidirectional and invisible characters made visible
    // (a line break too: multi-line text reaches the template as a list of lines).
    env.set_formatter(|out, state, value| {
        use minijinja::value::ValueKind;
        let shown = match (value.as_str(), value.kind()) {
            (Some(s), _) if !value.is_safe() => Value::from(super::output::escape(s)),
            (_, ValueKind::Number | ValueKind::Bool | ValueKind::None | ValueKind::Undefined) => value.clone(),
            (None, _) => Value::from(super::output::escape(&value.to_string())),
            _ => value.clone(),
        };
        minijinja::escape_formatter(out, state, &shown)
    });
    env.add_function("rank", |severity: &str| sealift::scan::matcher::severity_rank(severity));
    env.add_template("page.html", TEMPLATE)?;
    let html = env.get_template("page.html")?.render(minijinja::context! {
        page => Value::from(minijinja::value::Serde(page)),
        style => Value::from_safe_string(STYLE.to_owned()),
        script => Value::from_safe_string(SCRIPT.to_owned()),
        // The fixed words a class name may be made of.
        severities => sealift::scan::matcher::SEVERITIES,
        levels => ["restricted", "baseline", "privileged"],
        csp => format!(
            "default-src 'none'; style-src {}; script-src {}; img-src data:; base-uri 'none'; form-action 'none'",
            csp_hash(STYLE),
            csp_hash(SCRIPT)
        ),
    })?;
    Ok(html)
}

/// Write the page to `path` (atomically), or to stdout without one.
pub(crate) fn write(page: &Page, path: Option<&std::path::Path>) -> anyhow::Result<()> {
    let html = render(page)?;
    match path {
        Some(path) => super::check::write_whole(path, html.as_bytes()),
        None => {
            use std::io::Write as _;
            // A reader that went away (`| head`) ends the output, not the run.
            match std::io::stdout().lock().write_all(html.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => Ok(other?),
            }
        }
    }
}

/// `t` as RFC 3339 UTC, whole seconds.
pub(crate) fn at(t: time::OffsetDateTime) -> String {
    sealift::create::rfc3339(u64::try_from(t.unix_timestamp()).unwrap_or(0))
}

/// Now, for the page's footer.
pub(crate) fn now() -> String {
    at(time::OffsetDateTime::now_utc())
}

impl Page {
    /// `bundle inspect`'s page: nothing checked, and it says so first.
    pub(crate) fn inspected(bundle: BundleView) -> Self {
        Self {
            command: "bundle inspect".into(),
            standing: Standing::NotVerified,
            headline: "NOT VERIFIED".into(),
            summary: "Nothing on this page has been checked: anyone could have written this bundle. \
                      Run `sealift verify` with the pinned release keys before trusting any of it."
                .into(),
            generated: now(),
            facts: glance(std::slice::from_ref(&bundle)),
            problems: Vec::new(),
            bundles: vec![bundle],
            check: None,
        }
    }

    /// `verify`'s page: VERIFIED only when verification produced a verified bundle (`passed`).
    /// Without `bundle` (it could not even be read), the failures alone.
    pub(crate) fn verified(report: &sealift::verify::VerifyReport, passed: bool, bundle: Option<BundleView>, at: &str) -> Self {
        let summary = if passed {
            format!(
                "Every signature, digest and policy check passed, judged at {at}: {} entries, {} checked.",
                report.entries_checked,
                super::output::size(report.bytes_checked)
            )
        } else {
            format!(
                "{} problem(s), judged at {at}: do not load this bundle. Nothing else on this page can be trusted.",
                report.failures.len()
            )
        };
        Self {
            command: "verify".into(),
            standing: if passed { Standing::Verified } else { Standing::Failed },
            headline: if passed { "VERIFIED" } else { "VERIFICATION FAILED" }.into(),
            summary,
            generated: now(),
            facts: glance(bundle.as_slice()),
            problems: report
                .failures
                .iter()
                .map(|f| Problem {
                    code: f.code.as_str().to_owned(),
                    subject: f.subject.clone(),
                    message: f.message.clone(),
                })
                .collect(),
            bundles: bundle.into_iter().collect(),
            check: None,
        }
    }
}

/// The facts at the top of the page, over every bundle shown.
pub(crate) fn glance(bundles: &[BundleView]) -> Vec<Fact> {
    let mut facts = Vec::new();
    for b in bundles {
        let prefix = if bundles.len() > 1 {
            format!("{}: ", b.name)
        } else {
            String::new()
        };
        let fact = |label: &str, value: String| Fact::new(&format!("{prefix}{label}"), value);
        facts.push(fact("Bundle", format!("{} (created {})", b.name, b.created)));
        facts.push(fact("Signatures", b.threshold.clone()));
        let signed: Vec<String> = b
            .signers
            .iter()
            .filter(|s| s.signed != "did not sign")
            .map(|s| {
                let who = if s.name.is_empty() {
                    s.key_id.clone()
                } else {
                    format!("{} ({})", s.name, s.key_id)
                };
                let validity = match s.validity.as_str() {
                    "" | "no dates" => String::new(),
                    dates => format!(", valid {dates}"),
                };
                format!("{who}: key {}{validity}", s.status)
            })
            .collect();
        facts.push(fact(
            "Signed by",
            if signed.is_empty() { "nobody".into() } else { signed.join("; ") },
        ));
        let platforms: usize = b.images.iter().map(|i| i.platforms.len().max(1)).sum();
        facts.push(fact(
            "Images",
            format!("{} image(s), {platforms} image manifest(s)", b.images.len()),
        ));
        match &b.scan {
            Some(s) => {
                facts.push(fact(
                    "Vulnerabilities",
                    format!(
                        "{} finding(s); fail-on {}: {} blocked, {} allowed",
                        s.findings,
                        s.fail_on,
                        s.blocked.len(),
                        s.allowed.len()
                    ),
                ));
                facts.push(fact("Vulnerability data", format!("newest record {}", s.newest)));
            }
            None => facts.push(fact("Vulnerabilities", "not scanned".into())),
        }
        match b.harden.as_ref().and_then(|h| h.report.as_ref()).map(|r| &r.workloads) {
            Some(workloads) => {
                let mut levels: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
                for w in workloads {
                    *levels.entry(w.level.as_str()).or_default() += 1;
                }
                let said: Vec<String> = levels.iter().map(|(l, n)| format!("{n} {l}")).collect();
                facts.push(fact("Workloads", format!("{} ({})", workloads.len(), said.join(", "))));
            }
            None => facts.push(fact("Workloads", "no manifests hardened".into())),
        }
    }
    facts
}

impl Page {
    /// `check`'s page: every item, those that are not as signed first, then the bundles the
    /// registry was checked against.
    ///
    /// VERIFIED only for a whole check: a shard saw part of the items, and a merged report
    /// comes from unsigned parts, so those pages say what they are instead.
    pub(crate) fn checked(report: &sealift::check::CheckReport, bundles: Vec<BundleView>, merged: Option<usize>) -> Self {
        use sealift::check::Status;
        let passed = report.passed();
        let s = &report.summary;
        let mut items: Vec<CheckItem> = report
            .items
            .iter()
            .map(|i| CheckItem {
                status: i.status.as_str().to_owned(),
                ok: i.status == Status::Ok,
                check: serde_json::to_value(i.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                image: i.image.clone(),
                subject: i.subject.clone(),
                detail: i.detail.clone(),
            })
            .collect();
        items.sort_by_key(|i| i.ok);
        let from_state = report.items.iter().filter(|i| i.from_state).count();
        let mut facts = vec![
            Fact::new("Registry", report.registry.clone()),
            Fact::new("Checked at", report.checked_at.clone()),
            Fact::new("Keys and allowances judged at", report.judged_at.clone()),
            Fact::new(
                "Items",
                format!(
                    "{} checked: {} as signed, {} not (of which {} could not be checked)",
                    s.items, s.ok, s.findings, s.errors
                ),
            ),
            Fact::new(
                "How",
                format!(
                    "{}{}{}",
                    if report.deep {
                        "every blob read and hashed"
                    } else {
                        "blobs asked for, not read"
                    },
                    report
                        .shard
                        .map(|sh| format!("; shard {} of {}", sh.index, sh.count))
                        .unwrap_or_default(),
                    if from_state > 0 {
                        format!("; {from_state} item(s) unchanged since the last run, from state")
                    } else {
                        String::new()
                    },
                ),
            ),
        ];
        facts.extend(glance(&bundles));
        let registry = &report.registry;
        let (standing, headline, summary) = if s.items == 0 {
            (
                Standing::Failed,
                "NOTHING CHECKED".to_owned(),
                format!("No item of {registry} was checked."),
            )
        } else if let Some(parts) = merged {
            let verdict = if passed {
                "EVERY ITEM AS SIGNED".to_owned()
            } else {
                format!("{} PROBLEM(S) FOUND", s.findings)
            };
            (
                Standing::NotVerified,
                format!("MERGED REPORT: {verdict}"),
                format!("Merged from {parts} JSON part(s) of a sharded check of {registry}; the parts' signatures were not checked here."),
            )
        } else if let Some(sh) = report.shard {
            let verdict = if passed {
                "ITEMS AS SIGNED".to_owned()
            } else {
                format!("{} PROBLEM(S) FOUND", s.findings)
            };
            (
                Standing::NotVerified,
                format!("SHARD {} OF {}: {verdict}", sh.index, sh.count),
                format!(
                    "This run checked one part of {registry}'s items; the merged report of every shard answers for the whole registry."
                ),
            )
        } else if passed {
            (
                Standing::Verified,
                "VERIFIED".to_owned(),
                format!("The registry {registry} holds exactly what the signed bundles carry."),
            )
        } else {
            (
                Standing::Failed,
                format!("{} PROBLEM(S) FOUND", s.findings),
                format!("The registry {registry} differs from what the signed bundles carry: the items that are not as signed come first."),
            )
        };
        Self {
            command: "check".into(),
            standing,
            headline,
            summary,
            generated: now(),
            facts,
            problems: Vec::new(),
            bundles,
            check: Some(CheckView {
                registry: report.registry.clone(),
                checked_at: report.checked_at.clone(),
                items,
            }),
        }
    }
}

/// Refuse an `-o` that names one of the command's own inputs (a bundle): the page would
/// replace it.
pub(crate) fn refuse_overwriting(output: Option<&std::path::Path>, inputs: &[&std::path::Path]) -> anyhow::Result<()> {
    let Some(out) = output.and_then(|o| std::fs::canonicalize(o).ok()) else {
        return Ok(());
    };
    for input in inputs {
        if std::fs::canonicalize(input).ok().as_ref() == Some(&out) {
            anyhow::bail!("-o {} is an input of this command: the page would replace it", input.display());
        }
    }
    Ok(())
}
