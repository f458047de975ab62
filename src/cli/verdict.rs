//! Rendering the vulnerability policy's verdict (shared by `bundle create` and `verify`).

use sealift::policy::vulns::{Judged, Verdict};

use super::output::escape;

fn row(what: &str, j: &Judged) -> String {
    let platform = j.platform.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
    let allowance = match (&j.allowance, what) {
        (Some(a), "allowed") => format!("  until {}: {}", a.expires, a.reason),
        (Some(a), _) => format!("  allowance expired {}", a.expires),
        (None, _) => String::new(),
    };
    // Ids, packages, versions and images come from scanned images and bundles.
    escape(&format!(
        "    {what:<8} {:<9} {:<20} {} {}  {}{platform}{allowance}",
        j.severity, j.id, j.package, j.version, j.image
    ))
}

/// Lines describing the verdict, indented for a report.
pub(crate) fn lines(v: &Verdict) -> Vec<String> {
    let mut out = Vec::new();
    let Some(threshold) = v.fail_on else {
        out.push(format!("  policy:     none (report only), {} finding(s)", v.findings));
        return out;
    };
    out.push(format!(
        "  policy:     fail-on {threshold} on {}: {} blocked, {} allowed, of {} finding(s)",
        v.judged_on,
        v.blocked.len(),
        v.allowed.len(),
        v.findings
    ));
    out.extend(v.blocked.iter().map(|j| row("BLOCKED", j)));
    out.extend(v.allowed.iter().map(|j| row("allowed", j)));
    if !v.unused_allowances.is_empty() {
        out.push(escape(&format!("    unused allowances: {}", v.unused_allowances.join(", "))));
    }
    out
}
