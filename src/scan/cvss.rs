//! CVSS base scores: a record's CVSS v3.0, v3.1 or v4.0 vector, scored by the RustSec `cvss`
//! crate and mapped onto the qualitative scale (CVSS v3.1 specification §5, v4.0 §6: 0.0 none,
//! 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10.0 critical).
//!
//! CVSS v2 vectors are not scored: their scale differs, and records that carry only one stay
//! `unknown`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A CVSS vector and its base score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cvss {
    /// The vector as the record gives it (`CVSS:3.1/AV:N/AC:L/…`, `CVSS:4.0/AV:N/…`).
    pub vector: String,
    /// The base score, 0.0 to 10.0.
    pub score: Score,
}

/// A CVSS score in tenths (the specifications give one decimal), written as a JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Score(u8);

impl Score {
    /// The score as a number from 0.0 to 10.0.
    #[must_use]
    pub fn value(self) -> f64 {
        f64::from(self.0) / 10.0
    }

    fn from_value(v: f64) -> Option<Self> {
        let tenths = (v * 10.0).round();
        (0.0..=100.0).contains(&tenths).then_some(Self(tenths as u8))
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 / 10, self.0 % 10)
    }
}

impl Serialize for Score {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.value())
    }
}

impl<'de> Deserialize<'de> for Score {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Self::from_value(v).ok_or_else(|| serde::de::Error::custom(format!("CVSS score {v} is not within 0.0–10.0")))
    }
}

/// CVSS v3.x base metrics (v3.1 specification §2).
const V3_BASE: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];
/// CVSS v4.0 base metrics (v4.0 specification §2).
const V4_BASE: [&str; 11] = ["AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"];

/// The CVSS versions scored, as OSV names their `severity[].type`.
pub const OSV_TYPES: [&str; 2] = ["CVSS_V4", "CVSS_V3"];

impl Cvss {
    /// Score a v3.0, v3.1 or v4.0 vector: its base score (v3.1 §7.1; for v4.0 the CVSS-B score
    /// of §2, from the base metrics alone, threat and environmental metrics set aside).
    ///
    /// # Errors
    /// A vector the `cvss` crate cannot parse, one missing a base metric, or one of another
    /// version (v2), as a sentence quoting (at most 200 characters of) the vector.
    pub fn from_vector(vector: &str) -> Result<Self, String> {
        let vector = vector.trim();
        let shown: String = vector.chars().take(200).collect();
        let shown = if shown.len() < vector.len() { format!("{shown}…") } else { shown };
        let fail = |why: &dyn fmt::Display| format!("CVSS vector `{shown}`: {why}");
        let Some((prefix, metrics)) = ["CVSS:3.0/", "CVSS:3.1/", "CVSS:4.0/"]
            .iter()
            .find_map(|p| vector.strip_prefix(p).map(|rest| (*p, rest)))
        else {
            return Err(fail(&"only v3.0, v3.1 and v4.0 are scored"));
        };
        let names: Vec<&str> = metrics.split('/').map(|m| m.split(':').next().unwrap_or_default()).collect();
        let base: &[&str] = if prefix == "CVSS:4.0/" { &V4_BASE } else { &V3_BASE };
        // The `cvss` crate scores an incomplete v3 vector as if the missing metrics were lowest.
        if let Some(missing) = base.iter().find(|m| !names.contains(m)) {
            return Err(fail(&format_args!("no {missing} metric: every base metric is required")));
        }
        let score = if prefix == "CVSS:4.0/" {
            // CVSS-B: the vector reduced to its base metrics.
            let kept: Vec<&str> = metrics
                .split('/')
                .filter(|m| V4_BASE.contains(&m.split(':').next().unwrap_or_default()))
                .collect();
            let reduced = format!("{prefix}{}", kept.join("/"));
            vector.parse::<cvss::v4::Vector>().map_err(|e| fail(&e))?;
            reduced.parse::<cvss::v4::Vector>().map_err(|e| fail(&e))?.score().value()
        } else {
            vector.parse::<cvss::v3::Vector>().map_err(|e| fail(&e))?.base_score().value()
        };
        let score = Score::from_value(score).ok_or_else(|| fail(&format_args!("score {score} out of range")))?;
        Ok(Self {
            vector: vector.to_owned(),
            score,
        })
    }

    /// The qualitative rating of the score, in the report's words (`none` is `negligible`).
    #[must_use]
    pub fn severity(&self) -> &'static str {
        match self.score.0 {
            0 => "negligible",
            1..=39 => "low",
            40..=69 => "medium",
            70..=89 => "high",
            _ => "critical",
        }
    }

    /// The CVSS version: `3.0`, `3.1` or `4.0`.
    #[must_use]
    pub fn version(&self) -> &str {
        self.vector
            .strip_prefix("CVSS:")
            .and_then(|v| v.split('/').next())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors with the base scores published for them: FIRST's specification examples and
    /// calculator, and NVD's entries for the CVEs named; each also checked against Red Hat's
    /// `cvss` Python library (tests/it/cvss.rs compares the two over the shared records).
    const GOLDEN: &[(&str, &str)] = &[
        // CVSS v3.0 (FIRST v3.0 examples; NVD).
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "9.8"),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "10.0"),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "6.1"), // CVE-2013-1937, phpMyAdmin XSS
        ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", "5.9"), // CVE-2014-3566, POODLE
        ("CVSS:3.0/AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N", "6.2"), // CVE-2012-1516, VMware
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "7.5"),
        ("CVSS:3.0/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", "1.6"),
        // CVSS v3.1 (NVD).
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "10.0"), // CVE-2021-44228, Log4Shell
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", "7.5"),  // CVE-2014-0160, Heartbleed
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "9.8"),  // CVE-2014-6271, Shellshock
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "7.8"),  // CVE-2021-4034, PwnKit
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", "6.5"),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", "8.1"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N", "5.3"),
        ("CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N", "4.7"),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N", "5.4"),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", "3.1"),
        ("CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "0.0"),
        // CVSS v4.0 (FIRST v4.0 calculator).
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", "10.0"),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "9.3"),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", "0.0"),
        ("CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "8.5"),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N", "5.3"),
        ("CVSS:4.0/AV:N/AC:H/AT:P/PR:L/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", "2.0"),
        ("CVSS:4.0/AV:P/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "7.0"),
    ];

    #[test]
    fn scores_match_the_published_base_scores() {
        let mut wrong = Vec::new();
        for (vector, expected) in GOLDEN {
            let got = Cvss::from_vector(vector).unwrap_or_else(|e| panic!("{e}"));
            if got.score.to_string() != *expected {
                wrong.push(format!("{vector}: {} (published {expected})", got.score));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
        let versions: std::collections::BTreeSet<&str> = GOLDEN.iter().map(|(v, _)| &v[5..8]).collect();
        assert_eq!(versions.into_iter().collect::<Vec<_>>(), ["3.0", "3.1", "4.0"]);
    }

    #[test]
    fn severity_follows_the_qualitative_scale_at_its_edges() {
        let rate = |tenths: u8| {
            Cvss {
                vector: String::new(),
                score: Score(tenths),
            }
            .severity()
        };
        let got: Vec<_> = [0, 1, 39, 40, 69, 70, 89, 90, 100].into_iter().map(rate).collect();
        assert_eq!(
            got,
            [
                "negligible",
                "low",
                "low",
                "medium",
                "medium",
                "high",
                "high",
                "critical",
                "critical"
            ]
        );
    }

    #[test]
    fn v2_and_malformed_vectors_are_refused_by_name() {
        let v2 = Cvss::from_vector("AV:N/AC:L/Au:N/C:P/I:P/A:P").unwrap_err();
        assert!(v2.contains("only v3.0, v3.1 and v4.0"), "{v2}");
        let bad = Cvss::from_vector("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap_err();
        assert!(bad.contains("CVSS:3.1/AV:X/AC:L"), "{bad}");
        // Incomplete vectors: the crate alone would score them as if the rest were lowest.
        for cut in ["CVSS:3.1/AV:N", "CVSS:3.1/C:H/I:H/A:H", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"] {
            let e = Cvss::from_vector(cut).unwrap_err();
            assert!(e.contains("every base metric is required"), "{cut}: {e}");
        }
        let long = format!("CVSS:3.1/{}", "AV:N/".repeat(10_000));
        assert!(
            Cvss::from_vector(&long).unwrap_err().len() < 400,
            "a long vector is not echoed whole"
        );
    }

    #[test]
    fn v4_scores_are_cvss_b_whatever_threat_or_environment_say() {
        let base = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        let with_threat = format!("{base}/E:U/CR:L");
        let (b, t) = (Cvss::from_vector(base).unwrap(), Cvss::from_vector(&with_threat).unwrap());
        assert_eq!((b.score.to_string(), t.score.to_string()), ("9.3".into(), "9.3".into()));
        assert_eq!(t.vector, with_threat, "the vector is kept as given");
    }

    #[test]
    fn score_round_trips_through_json_as_a_number() {
        let c = Cvss::from_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N").unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"vector":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N","score":7.5}"#);
        assert_eq!(serde_json::from_str::<Cvss>(&json).unwrap(), c);
        assert_eq!(c.version(), "3.1");
    }
}
