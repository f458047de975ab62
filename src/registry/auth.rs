//! Registry credentials: explicit ones first, then the Docker/Podman auth files users already
//! have. Secrets never appear in `Debug` output or error messages.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::Error;

/// Where credentials come from, in order: `explicit` (for every registry), then the first auth
/// file with an entry for the registry, else anonymous.
#[derive(Clone, Default)]
pub struct Credentials {
    /// Username and password given on the command line or in the environment.
    pub explicit: Option<(String, String)>,
    /// Docker `config.json` / Podman `auth.json` files, searched in order.
    pub auth_files: Vec<PathBuf>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("explicit_user", &self.explicit.as_ref().map(|(u, _)| u))
            .field("auth_files", &self.auth_files)
            .finish()
    }
}

/// What to send a registry.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum RegistryAuth {
    Anonymous,
    /// User name and password.
    Basic(String, String),
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic(user, _) => write!(f, "Basic({user}, <password>)"),
        }
    }
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// The auth files container tools use, in their order of precedence: `$REGISTRY_AUTH_FILE`,
/// `$XDG_RUNTIME_DIR/containers/auth.json`, `$DOCKER_CONFIG/config.json`,
/// `~/.docker/config.json`.
#[must_use]
pub fn default_auth_files() -> Vec<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut files = Vec::new();
    files.extend(env("REGISTRY_AUTH_FILE"));
    files.extend(env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    files.extend(env("DOCKER_CONFIG").map(|d| d.join("config.json")));
    files.extend(env("HOME").map(|d| d.join(".docker/config.json")));
    files
}

/// Keys under which auth files may list a registry host.
fn candidate_keys(host: &str) -> Vec<String> {
    let mut keys = vec![host.to_owned(), format!("https://{host}"), format!("http://{host}")];
    if host == "docker.io" {
        for alias in ["index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"] {
            keys.push(alias.to_owned());
        }
    }
    keys
}

fn normalise_key(key: &str) -> &str {
    let k = key.trim_start_matches("https://").trim_start_matches("http://");
    k.split('/').next().unwrap_or(k)
}

fn lookup(path: &Path, host: &str) -> Result<Option<(String, String)>, Error> {
    let text = match crate::bounded::read(path, crate::bounded::CONFIG_FILE) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::AuthFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
    };
    let bad = |reason: String| Error::AuthFile {
        path: path.to_path_buf(),
        reason,
    };
    let file: AuthFile = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    let wanted = candidate_keys(host);
    let entry = file
        .auths
        .iter()
        .find(|(k, _)| wanted.iter().any(|w| w == *k))
        .or_else(|| file.auths.iter().find(|(k, _)| normalise_key(k) == host));
    let Some((key, entry)) = entry else {
        return Ok(None);
    };
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some((u.clone(), p.clone())));
    }
    let Some(auth) = &entry.auth else {
        return Ok(None);
    };
    let decoded = STANDARD
        .decode(auth.trim())
        .map_err(|_| bad(format!("entry `{key}`: `auth` is not base64")))?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad(format!("entry `{key}`: `auth` is not UTF-8")))?;
    let (u, p) = decoded
        .split_once(':')
        .ok_or_else(|| bad(format!("entry `{key}`: `auth` is not user:password")))?;
    Ok(Some((u.to_owned(), p.to_owned())))
}

impl Credentials {
    /// The credentials to use for `host` (a registry host with optional port).
    pub(super) fn for_registry(&self, host: &str) -> Result<RegistryAuth, Error> {
        if let Some((u, p)) = &self.explicit {
            return Ok(RegistryAuth::Basic(u.clone(), p.clone()));
        }
        for file in &self.auth_files {
            if let Some((u, p)) = lookup(file, host)? {
                return Ok(RegistryAuth::Basic(u, p));
            }
        }
        Ok(RegistryAuth::Anonymous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_and_podman_entries_by_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = STANDARD.encode("alice:s3cret");
        std::fs::write(
            &path,
            format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},"127.0.0.1:5000":{{"auth":"{auth}"}}}}}}"#),
        )
        .unwrap();
        let creds = Credentials {
            explicit: None,
            auth_files: vec![dir.path().join("missing.json"), path],
        };
        let basic = RegistryAuth::Basic("alice".into(), "s3cret".into());
        assert_eq!(creds.for_registry("docker.io").unwrap(), basic);
        assert_eq!(creds.for_registry("127.0.0.1:5000").unwrap(), basic);
        assert_eq!(creds.for_registry("127.0.0.1:5001").unwrap(), RegistryAuth::Anonymous);
    }

    #[test]
    fn malformed_auth_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        std::fs::write(&path, "{not json").unwrap();
        let creds = Credentials {
            explicit: None,
            auth_files: vec![path],
        };
        let err = creds.for_registry("x.io").unwrap_err().to_string();
        assert!(err.contains("auth.json"), "{err}");
    }
}
