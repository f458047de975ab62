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

/// The CVSS versions scored, as OSV names their `severity[].type`.
pub const OSV_TYPES: [&str; 2] = ["CVSS_V4", "CVSS_V3"];

impl Cvss {
    /// Score a v3.0, v3.1 or v4.0 vector.
    ///
    /// # Errors
    /// A vector the `cvss` crate cannot parse, or of another version (v2), as a sentence.
    pub fn from_vector(vector: &str) -> Result<Self, String> {
        let vector = vector.trim();
        let only = || format!("CVSS vector `{vector}`: only v3.0, v3.1 and v4.0 are scored");
        if !["CVSS:3.0/", "CVSS:3.1/", "CVSS:4.0/"].iter().any(|p| vector.starts_with(p)) {
            return Err(only());
        }
        let parsed: cvss::Cvss = vector.parse().map_err(|e| format!("CVSS vector `{vector}`: {e}"))?;
        let score = match &parsed {
            cvss::Cvss::CvssV30(v) | cvss::Cvss::CvssV31(v) => v.base_score().value(),
            cvss::Cvss::CvssV40(v) => v.score().value(),
            _ => return Err(only()),
        };
        let score = Score::from_value(score).ok_or_else(|| format!("CVSS vector `{vector}`: score {score} out of range"))?;
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
        let bad = Cvss::from_vector("CVSS:3.1/AV:X/AC:L").unwrap_err();
        assert!(bad.contains("CVSS:3.1/AV:X/AC:L"), "{bad}");
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
