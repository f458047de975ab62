//! Image references: `[registry/]repository[:tag][@digest]`, normalised as Docker does
//! (`nginx` is `docker.io/library/nginx`).

use std::fmt;
use std::str::FromStr;

use super::{Digest, Error};

/// The registry implied by a reference without a host part.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// A parsed image reference. At least one of `tag` and `digest` is set; a reference that names
/// neither is given the tag `latest`, as every container tool does.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Reference {
    /// Registry host with optional port, e.g. `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `library/nginx`.
    pub repository: String,
    /// Tag, if the reference names one.
    pub tag: Option<String>,
    /// Digest, if the reference is pinned.
    pub digest: Option<Digest>,
}

impl Reference {
    /// The same repository at another tag or digest.
    #[must_use]
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// `registry/repository`, without tag or digest.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

fn is_valid_component(c: &str) -> bool {
    // path-component ::= [a-z0-9]+ (separator [a-z0-9]+)*; separator ::= [_.] | __ | [-]+
    let bytes = c.as_bytes();
    !c.is_empty()
        && bytes[0].is_ascii_lowercase() | bytes[0].is_ascii_digit()
        && bytes[bytes.len() - 1].is_ascii_lowercase() | bytes[bytes.len() - 1].is_ascii_digit()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_valid_tag(t: &str) -> bool {
    // tag ::= [\w][\w.-]{0,127}
    !t.is_empty()
        && t.len() <= 128
        && t.as_bytes()[0] != b'.'
        && t.as_bytes()[0] != b'-'
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn is_valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidReference {
            reference: input.to_owned(),
            reason: why.to_owned(),
        };
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => (rest, Some(d.parse::<Digest>()?)),
            None => (input, None),
        };
        // A tag is after the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag
            && !is_valid_tag(t)
        {
            return Err(bad(&format!("invalid tag `{t}`")));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                if !is_valid_host(first) {
                    return Err(bad(&format!("invalid registry host `{first}`")));
                }
                (first.to_owned(), path.to_owned())
            }
            _ => (DEFAULT_REGISTRY.to_owned(), name.to_owned()),
        };
        let registry = if registry == "index.docker.io" {
            DEFAULT_REGISTRY.to_owned()
        } else {
            registry
        };
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !repository.split('/').all(is_valid_component) {
            return Err(bad("repository must be lowercase path components"));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Parse `repository[:tag]` with no registry part (the name an image from an `oci:` source
/// is loaded under).
pub fn parse_repository_tag(input: &str) -> Result<(String, Option<String>), Error> {
    let bad = |why: &str| Error::InvalidReference {
        reference: input.to_owned(),
        reason: why.to_owned(),
    };
    let last_slash = input.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match input[last_slash..].rfind(':') {
        Some(i) => (&input[..last_slash + i], Some(&input[last_slash + i + 1..])),
        None => (input, None),
    };
    if !repo.split('/').all(is_valid_component) {
        return Err(bad("repository must be lowercase path components"));
    }
    if let Some(t) = tag
        && !is_valid_tag(t)
    {
        return Err(bad(&format!("invalid tag `{t}`")));
    }
    Ok((repo.to_owned(), tag.map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Reference {
        s.parse().unwrap()
    }

    #[test]
    fn normalises_docker_hub_short_names() {
        let r = parse("nginx");
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("docker.io", "library/nginx"));
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(parse("index.docker.io/foo/bar:1").to_string(), "docker.io/foo/bar:1");
    }

    #[test]
    fn keeps_host_port_and_splits_tag_after_last_slash() {
        let r = parse("127.0.0.1:5000/team/api:v1.2");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/api");
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        let r = parse("localhost/app");
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("localhost", "app"));
    }

    #[test]
    fn digest_references_have_no_implied_tag() {
        let hex = "b".repeat(64);
        let r = parse(&format!("registry.example.com/x@sha256:{hex}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.unwrap().hex(), hex);
        let r = parse(&format!("x:1@sha256:{hex}"));
        assert_eq!(r.tag.as_deref(), Some("1"));
    }

    #[test]
    fn rejects_uppercase_and_bad_tags() {
        assert!("Docker.io/Foo".parse::<Reference>().is_err());
        assert!("foo:-bad".parse::<Reference>().is_err());
        assert!("foo@sha256:xyz".parse::<Reference>().is_err());
        assert!("".parse::<Reference>().is_err());
    }
}
