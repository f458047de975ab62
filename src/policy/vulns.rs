//! The vulnerability policy: which findings stop a bundle (`fail-on`), and which known ones a
//! release may carry anyway (`allow`, each with a reason and an expiry date). Pure: it judges
//! findings it is handed, at the date it is given.
//!
//! An allowance matches a finding by its id or any of its aliases (`CVE-…`, `GHSA-…`) and holds
//! through its expiry date; from the next day on the finding blocks again.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month};

/// Severity words from most to least severe, as reports and policies rank them.
pub const SEVERITIES: [&str; 6] = ["critical", "high", "medium", "low", "negligible", "unknown"];

/// Rank of a severity word: 0 is critical; words not in [`SEVERITIES`] rank with `unknown`.
#[must_use]
pub fn severity_rank(severity: &str) -> usize {
    SEVERITIES.iter().position(|s| *s == severity).unwrap_or(SEVERITIES.len() - 1)
}

/// A severity threshold: findings this severe or more block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Severity(usize);

impl Severity {
    /// Parse one of [`SEVERITIES`].
    pub fn parse(word: &str) -> Result<Self, String> {
        SEVERITIES
            .iter()
            .position(|s| *s == word)
            .map(Self)
            .ok_or_else(|| format!("unknown severity `{word}`; expected one of {}", SEVERITIES.join(", ")))
    }

    /// The word.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        SEVERITIES[self.0]
    }

    /// Is a finding of severity `word` at or above this threshold?
    #[must_use]
    pub fn reached_by(self, word: &str) -> bool {
        severity_rank(word) <= self.0
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        Self::parse(&word).map_err(serde::de::Error::custom)
    }
}

/// A calendar date written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub Date);

impl Day {
    /// Parse `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a date (YYYY-MM-DD)");
        let mut parts = text.split('-');
        let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let num = |s: &str| s.parse::<u16>().map_err(|_| bad());
        let month = Month::try_from(u8::try_from(num(m)?).map_err(|_| bad())?).map_err(|_| bad())?;
        let day = u8::try_from(num(d)?).map_err(|_| bad())?;
        Date::from_calendar_date(i32::from(num(y)?), month, day)
            .map(Self)
            .map_err(|_| bad())
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), u8::from(self.0.month()), self.0.day())
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One known vulnerability a release may carry until a date, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowance {
    /// The advisory id or one of its aliases.
    pub id: String,
    /// Why it is acceptable (shown in every report that uses it).
    pub reason: String,
    /// Last day the allowance holds.
    pub expires: Day,
}

/// `scan:` policy, as written in `sealift.yaml` and carried in `bundle.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VulnPolicy {
    /// Findings this severe or more block, unless allowed; none means report only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on: Option<Severity>,
    /// Known findings accepted until a date.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<Allowance>,
}

/// What the policy says about one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Below the threshold (or no threshold): reported, not judged.
    Below,
    /// At or above the threshold, covered by a current allowance.
    Allowed(&'a Allowance),
    /// At or above the threshold and not allowed; an allowance that matched but has expired is
    /// named.
    Blocked(Option<&'a Allowance>),
}

impl VulnPolicy {
    /// Check the allowlist itself: non-empty ids and reasons, no id twice.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for a in &self.allow {
            if a.id.trim().is_empty() {
                return Err("an `allow` entry has an empty `id`".into());
            }
            if a.reason.trim().is_empty() {
                return Err(format!("allow entry `{}` needs a `reason`", a.id));
            }
            if !seen.insert(a.id.as_str()) {
                return Err(format!("`{}` is allowed twice", a.id));
            }
        }
        Ok(())
    }

    /// Judge one finding (its id, aliases and severity word) on `today`.
    #[must_use]
    pub fn decide(&self, id: &str, aliases: &[String], severity: &str, today: Date) -> Decision<'_> {
        let Some(threshold) = self.fail_on else {
            return Decision::Below;
        };
        if !threshold.reached_by(severity) {
            return Decision::Below;
        }
        let mut matching = self.allow.iter().filter(|a| a.id == id || aliases.contains(&a.id));
        let first = matching.clone().next();
        match matching.find(|a| today <= a.expires.0) {
            Some(a) => Decision::Allowed(a),
            None => Decision::Blocked(first),
        }
    }
}

/// One finding, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct FindingRef<'a> {
    /// The image (`repository:tag`).
    pub image: &'a str,
    /// Its platform, when known.
    pub platform: Option<&'a str>,
    /// Advisory id.
    pub id: &'a str,
    /// Other ids of the same vulnerability.
    pub aliases: &'a [String],
    /// Severity word.
    pub severity: &'a str,
    /// Package name.
    pub package: &'a str,
    /// Installed version.
    pub version: &'a str,
}

/// A finding at or above the threshold, and the allowance that covers it (or covered it once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judged {
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub id: String,
    pub package: String,
    pub version: String,
    pub severity: String,
    /// For an allowed finding, the allowance; for a blocked one, an expired allowance if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowance: Option<Allowance>,
}

/// The policy's answer over every finding of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The threshold applied, if any.
    pub fail_on: Option<Severity>,
    /// The day allowances were judged on.
    pub judged_on: Day,
    /// Findings looked at.
    pub findings: usize,
    /// At or above the threshold and not allowed: any of these means "no".
    pub blocked: Vec<Judged>,
    /// At or above the threshold, covered by a current allowance.
    pub allowed: Vec<Judged>,
    /// Allowances no finding used (stale entries worth removing).
    pub unused_allowances: Vec<String>,
    #[serde(skip)]
    policy: VulnPolicy,
}

impl Verdict {
    /// Start judging findings with `policy` on `today`.
    #[must_use]
    pub fn new(policy: &VulnPolicy, today: Date) -> Self {
        Self {
            fail_on: policy.fail_on,
            judged_on: Day(today),
            findings: 0,
            blocked: Vec::new(),
            allowed: Vec::new(),
            unused_allowances: Vec::new(),
            policy: policy.clone(),
        }
    }

    /// Judge one finding.
    pub fn judge(&mut self, f: FindingRef<'_>) {
        self.findings += 1;
        let judged = |allowance: Option<&Allowance>| Judged {
            image: f.image.to_owned(),
            platform: f.platform.map(str::to_owned),
            id: f.id.to_owned(),
            package: f.package.to_owned(),
            version: f.version.to_owned(),
            severity: f.severity.to_owned(),
            allowance: allowance.cloned(),
        };
        match self.policy.decide(f.id, f.aliases, f.severity, self.judged_on.0) {
            Decision::Below => {}
            Decision::Allowed(a) => self.allowed.push(judged(Some(a))),
            Decision::Blocked(expired) => self.blocked.push(judged(expired)),
        }
    }

    /// The answer, once every finding was judged.
    #[must_use]
    pub fn finish(mut self) -> Self {
        self.unused_allowances = self
            .policy
            .allow
            .iter()
            .filter(|a| !self.allowed.iter().chain(&self.blocked).any(|j| j.allowance.as_ref() == Some(*a)))
            .map(|a| a.id.clone())
            .collect();
        self
    }

    /// Did the policy pass?
    #[must_use]
    pub fn passed(&self) -> bool {
        self.blocked.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Date {
        Day::parse(s).unwrap().0
    }

    fn policy() -> VulnPolicy {
        VulnPolicy {
            fail_on: Some(Severity::parse("high").unwrap()),
            allow: vec![Allowance {
                id: "CVE-2023-4911".into(),
                reason: "no setuid binaries".into(),
                expires: Day::parse("2027-01-31").unwrap(),
            }],
        }
    }

    #[test]
    fn threshold_ranks_severities_and_unknown_words_rank_lowest() {
        let high = Severity::parse("high").unwrap();
        assert!(high.reached_by("critical") && high.reached_by("high"));
        assert!(!high.reached_by("medium") && !high.reached_by("unknown") && !high.reached_by("moderate"));
        assert!(Severity::parse("unknown").unwrap().reached_by("moderate"));
        assert!(Severity::parse("severe").unwrap_err().contains("critical, high"));
    }

    #[test]
    fn allowance_matches_id_or_alias_through_its_expiry_day() {
        let p = policy();
        let aliases = vec!["CVE-2023-4911".to_owned()];
        assert!(matches!(
            p.decide("DSA-5514-1", &aliases, "high", day("2027-01-31")),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            p.decide("CVE-2023-4911", &[], "critical", day("2026-11-22")),
            Decision::Allowed(_)
        ));
        match p.decide("CVE-2023-4911", &[], "high", day("2027-02-01")) {
            Decision::Blocked(Some(a)) => assert_eq!(a.expires.to_string(), "2027-01-31"),
            other => panic!("{other:?}"),
        }
        assert_eq!(p.decide("CVE-2024-0001", &[], "high", day("2026-11-22")), Decision::Blocked(None));
        assert_eq!(p.decide("CVE-2024-0001", &[], "medium", day("2026-11-22")), Decision::Below);
        assert_eq!(
            VulnPolicy::default().decide("CVE-2024-0001", &[], "critical", day("2026-11-22")),
            Decision::Below
        );
    }

    #[test]
    fn verdict_lists_blocked_allowed_and_unused_entries() {
        let mut p = policy();
        p.allow.push(Allowance {
            id: "CVE-2000-0001".into(),
            reason: "stale".into(),
            expires: Day::parse("2030-01-01").unwrap(),
        });
        let mut v = Verdict::new(&p, day("2026-11-22"));
        let f = |id, severity| FindingRef {
            image: "shop:1",
            platform: Some("linux/amd64"),
            id,
            aliases: &[],
            severity,
            package: "glibc",
            version: "2.36-9",
        };
        v.judge(f("CVE-2023-4911", "high"));
        v.judge(f("CVE-2024-2961", "critical"));
        v.judge(f("CVE-2024-33599", "medium"));
        let v = v.finish();
        assert_eq!(v.findings, 3);
        assert!(!v.passed());
        assert_eq!(v.blocked.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), ["CVE-2024-2961"]);
        assert_eq!(v.allowed[0].allowance.as_ref().unwrap().reason, "no setuid binaries");
        assert_eq!(v.unused_allowances, ["CVE-2000-0001"]);
    }

    #[test]
    fn dates_are_strict() {
        assert_eq!(Day::parse("2027-01-31").unwrap().to_string(), "2027-01-31");
        for bad in [
            "2027-02-30",
            "2027-1-31",
            "27-01-31",
            "2027-01-31T00:00:00Z",
            "tomorrow",
            "2027-13-01",
        ] {
            assert!(Day::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allowlist_needs_reasons_and_unique_ids() {
        let mut p = policy();
        assert!(p.validate().is_ok());
        p.allow.push(p.allow[0].clone());
        assert!(p.validate().unwrap_err().contains("allowed twice"));
        p.allow.pop();
        p.allow[0].reason = " ".into();
        assert!(p.validate().unwrap_err().contains("needs a `reason`"));
    }
}
