//! Image source references with skopeo-style transports: `docker://REF` (the default when no
//! transport is given), `oci:DIR[:TAG]` and `oci-archive:FILE[:TAG]`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::{Error, Reference};

/// Where an image is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceRef {
    /// A registry.
    Docker(Reference),
    /// An OCI image layout directory, optionally selecting a tag (`ref.name` annotation).
    Layout {
        /// The layout directory.
        dir: PathBuf,
        /// The `org.opencontainers.image.ref.name` to select; the only image if absent.
        tag: Option<String>,
    },
    /// A tar file holding an OCI image layout.
    Archive {
        /// The archive file.
        file: PathBuf,
        /// As for `Layout`.
        tag: Option<String>,
    },
}

/// Split `PATH[:REF]` at the first colon, as skopeo does: the path cannot contain one, and the
/// ref (the `ref.name` annotation) may, e.g. `oci:dir:app/multi:3.0`.
fn split_path_tag(s: &str) -> (PathBuf, Option<String>) {
    match s.split_once(':') {
        Some((path, tag)) if !tag.is_empty() && !path.is_empty() => (PathBuf::from(path), Some(tag.to_owned())),
        _ => (PathBuf::from(s), None),
    }
}

impl FromStr for SourceRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let empty = |t: &str| Error::InvalidReference {
            reference: s.to_owned(),
            reason: format!("`{t}` needs a path"),
        };
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (file, tag) = split_path_tag(rest);
            if file.as_os_str().is_empty() {
                return Err(empty("oci-archive:"));
            }
            return Ok(Self::Archive { file, tag });
        }
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = split_path_tag(rest);
            if dir.as_os_str().is_empty() {
                return Err(empty("oci:"));
            }
            return Ok(Self::Layout { dir, tag });
        }
        let r = s.strip_prefix("docker://").unwrap_or(s);
        Ok(Self::Docker(r.parse()?))
    }
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = |t: &Option<String>| t.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
        match self {
            Self::Docker(r) => write!(f, "docker://{r}"),
            Self::Layout { dir, tag: t } => write!(f, "oci:{}{}", dir.display(), tag(t)),
            Self::Archive { file, tag: t } => write!(f, "oci-archive:{}{}", file.display(), tag(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_parse_like_skopeo() {
        assert!(matches!("nginx:1".parse::<SourceRef>().unwrap(), SourceRef::Docker(_)));
        assert_eq!(
            "oci:/tmp/x:v1".parse::<SourceRef>().unwrap(),
            SourceRef::Layout {
                dir: "/tmp/x".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            "oci-archive:a.tar".parse::<SourceRef>().unwrap(),
            SourceRef::Archive {
                file: "a.tar".into(),
                tag: None
            }
        );
        assert!("oci:".parse::<SourceRef>().is_err());
        assert_eq!(
            "oci:dir:app/multi:3.0".parse::<SourceRef>().unwrap(),
            SourceRef::Layout {
                dir: "dir".into(),
                tag: Some("app/multi:3.0".into())
            }
        );
    }
}
