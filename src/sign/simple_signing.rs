//! The "simple signing" payload of cosign's legacy `sha256-<hex>.sig` image signatures.
//!
//! Written so that containers/image's strict parser accepts it (exactly `critical` and
//! `optional` at the top; exactly `identity`, `image` and `type` under `critical`), and read
//! just as strictly: a payload with anything extra under `critical` is rejected.

use serde::{Deserialize, Serialize};

use super::Error;
use crate::oci::Digest;

/// The only `critical.type` cosign and containers/image accept.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    critical: Critical,
    /// Required, may be `null`; a non-null value must be an object.
    optional: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// What a simple-signing payload claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `critical.identity.docker-reference`: the repository the signer named.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`: the manifest digest signed.
    pub digest: Digest,
}

impl SimpleSigning {
    /// The payload bytes for `docker_reference` at `digest`, as cosign writes them
    /// (`optional` is `null`).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let payload = Payload {
            critical: Critical {
                identity: Identity {
                    docker_reference: self.docker_reference.clone(),
                },
                image: Image {
                    docker_manifest_digest: self.digest.to_string(),
                },
                kind: SIMPLE_SIGNING_TYPE.to_owned(),
            },
            optional: serde_json::Value::Null,
        };
        // Serialising plain strings into JSON cannot fail.
        serde_json::to_vec(&payload).unwrap_or_default()
    }

    /// Parse a payload strictly, the way containers/image does.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |reason: String| Error::MalformedPayload {
            what: "simple-signing payload",
            reason,
        };
        let p: Payload = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if p.critical.kind != SIMPLE_SIGNING_TYPE {
            return Err(bad(format!(
                "critical.type is `{}`, expected `{SIMPLE_SIGNING_TYPE}`",
                p.critical.kind
            )));
        }
        match &p.optional {
            serde_json::Value::Null => {}
            serde_json::Value::Object(map) => {
                if let Some(ts) = map.get("timestamp")
                    && !(ts.is_i64() || ts.is_u64())
                {
                    return Err(bad("optional.timestamp must be an integer".into()));
                }
            }
            _ => return Err(bad("optional must be an object or null".into())),
        }
        let digest: Digest = p
            .critical
            .image
            .docker_manifest_digest
            .parse()
            .map_err(|e| bad(format!("docker-manifest-digest: {e}")))?;
        Ok(Self {
            docker_reference: p.critical.identity.docker_reference,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::of(b"manifest")
    }

    #[test]
    fn written_payload_has_cosign_shape_and_round_trips() {
        let s = SimpleSigning {
            docker_reference: "registry.example/app/api".into(),
            digest: digest(),
        };
        let bytes = s.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"registry.example/app/api"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":null}}"#,
                digest()
            )
        );
        assert_eq!(SimpleSigning::parse(&bytes).unwrap(), s);
    }

    #[test]
    fn strict_parse_rejects_what_containers_image_rejects() {
        let d = digest();
        let ok = |optional: &str| {
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":{optional}}}"#
            )
        };
        assert!(SimpleSigning::parse(ok("null").as_bytes()).is_ok());
        assert!(SimpleSigning::parse(ok(r#"{"creator":"x","timestamp":1700000000}"#).as_bytes()).is_ok());
        let rejected = [
            // An extra field under critical.
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature","extra":1}},"optional":null}}"#
            ),
            // An extra field under critical.image.
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{d}","tag":"x"}},"type":"cosign container image signature"}},"optional":null}}"#
            ),
            // `optional` missing.
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}}}}"#
            ),
            // Wrong type.
            ok("null").replace("cosign container image signature", "atomic container signature"),
            // Non-integer timestamp.
            ok(r#"{"timestamp":"yesterday"}"#),
            // Duplicate key.
            ok("null").replace(r#"{"critical""#, r#"{"optional":null,"critical""#),
            // An extra top-level field.
            ok("null").replace(r#""optional":null"#, r#""optional":null,"more":{}"#),
        ];
        for doc in rejected {
            assert!(SimpleSigning::parse(doc.as_bytes()).is_err(), "accepted: {doc}");
        }
    }
}
