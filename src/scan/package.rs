//! An installed package as the inventory finds it, and its package URL (purl).

use serde::{Deserialize, Serialize};

use super::version::Scheme;

/// The package manager that installed a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Deb,
    Apk,
    Rpm,
    Npm,
    Pypi,
    Cargo,
    Golang,
}

const KINDS: [Kind; 7] = [Kind::Deb, Kind::Apk, Kind::Rpm, Kind::Npm, Kind::Pypi, Kind::Cargo, Kind::Golang];

impl Kind {
    /// The purl type.
    pub fn purl_type(self) -> &'static str {
        match self {
            Self::Deb => "deb",
            Self::Apk => "apk",
            Self::Rpm => "rpm",
            Self::Npm => "npm",
            Self::Pypi => "pypi",
            Self::Cargo => "cargo",
            Self::Golang => "golang",
        }
    }

    /// Does it install the operating system's own packages (deb, apk, rpm)?
    pub fn is_os(self) -> bool {
        matches!(self, Self::Deb | Self::Apk | Self::Rpm)
    }

    /// How this package manager orders versions.
    pub fn scheme(self) -> Scheme {
        match self {
            Self::Deb => Scheme::Dpkg,
            Self::Apk => Scheme::Apk,
            Self::Rpm => Scheme::Rpm,
            Self::Npm | Self::Cargo | Self::Golang => Scheme::Semver,
            Self::Pypi => Scheme::Pep440,
        }
    }
}

/// The operating system of an image, from `/etc/os-release`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    /// `ID`: `debian`, `ubuntu`, `alpine`, `fedora`, …
    pub id: String,
    /// `VERSION_ID`: `12`, `3.14.0`, …
    pub version_id: String,
    /// `PRETTY_NAME`: `Debian GNU/Linux 12 (bookworm)`, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    /// `CPE_NAME`: the distribution's own CPE (`cpe:/o:fedoraproject:fedora:39`), when it
    /// declares one (Debian, Ubuntu and Alpine do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe_name: Option<String>,
}

impl Distro {
    /// The OSV ecosystem of this distribution's OS packages (`Debian:12`, `Alpine:v3.14`), if known.
    pub fn ecosystem(&self) -> Option<String> {
        if self.version_id.is_empty() {
            return None;
        }
        let major_minor = || self.version_id.split('.').take(2).collect::<Vec<_>>().join(".");
        match self.id.as_str() {
            "debian" => Some(format!("Debian:{}", self.version_id.split('.').next().unwrap_or_default())),
            "ubuntu" => Some(format!("Ubuntu:{}", self.version_id)),
            "alpine" => Some(format!("Alpine:v{}", major_minor())),
            "rocky" => Some(format!("Rocky Linux:{}", self.version_id.split('.').next().unwrap_or_default())),
            "almalinux" => Some(format!("AlmaLinux:{}", self.version_id.split('.').next().unwrap_or_default())),
            _ => None,
        }
    }
}

/// A package as read from a package database, lockfile, metadata file or binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: Kind,
    pub name: String,
    pub version: String,
    /// The source package (Debian `Source:`, Alpine origin, RPM source name), when it differs.
    pub source: Option<String>,
    /// The source package's version (Debian binNMUs differ from the binary version).
    pub source_version: Option<String>,
    pub arch: Option<String>,
    /// The line of its file the package's record starts on (1-based), where the format has
    /// one record per paragraph (dpkg, apk).
    pub line: Option<u32>,
}

impl Found {
    pub fn new(kind: Kind, name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            version: version.into(),
            source: None,
            source_version: None,
            arch: None,
            line: None,
        }
    }
}

/// An installed package in an image: what was found, where, and how to name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub purl: String,
    /// OSV ecosystem name (`Debian:12`, `Alpine:v3.14`, `npm`, `PyPI`, `crates.io`, `Go`).
    pub ecosystem: String,
    /// Digest of the layer holding the file the package was read from.
    pub layer: String,
    /// That file, as an absolute path in the image.
    pub path: String,
    /// The line of that file its record starts on, where the format has one (dpkg, apk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
}

impl Package {
    pub fn from_found(found: Found, distro: Option<&Distro>, layer: &str, path: &str) -> Self {
        let ecosystem = match found.kind {
            Kind::Deb | Kind::Apk | Kind::Rpm => distro.and_then(Distro::ecosystem).unwrap_or_else(|| {
                match found.kind {
                    Kind::Deb => "Debian",
                    Kind::Apk => "Alpine",
                    _ => "RPM",
                }
                .to_owned()
            }),
            Kind::Npm => "npm".into(),
            Kind::Pypi => "PyPI".into(),
            Kind::Cargo => "crates.io".into(),
            Kind::Golang => "Go".into(),
        };
        let purl = purl(&found, distro);
        Self {
            line: found.line,
            name: found.name,
            version: found.version,
            purl,
            ecosystem,
            layer: layer.to_owned(),
            path: format!("/{path}"),
            source_name: found.source,
            source_version: found.source_version,
        }
    }

    /// The package manager, from the purl's type.
    pub fn kind(&self) -> Option<Kind> {
        let purl_type = self.purl.strip_prefix("pkg:")?.split('/').next()?;
        KINDS.into_iter().find(|k| k.purl_type() == purl_type)
    }
}

/// The package URL (https://github.com/package-url/purl-spec) of a found package.
pub fn purl(found: &Found, distro: Option<&Distro>) -> String {
    let mut qualifiers: Vec<(&str, String)> = Vec::new();
    let (namespace, name): (Option<String>, String) = match found.kind {
        Kind::Deb | Kind::Apk | Kind::Rpm => {
            let vendor = distro.map_or_else(
                || {
                    match found.kind {
                        Kind::Deb => "debian",
                        Kind::Apk => "alpine",
                        _ => "rpm",
                    }
                    .to_owned()
                },
                |d| d.id.clone(),
            );
            if let Some(arch) = &found.arch {
                qualifiers.push(("arch", arch.clone()));
            }
            if let Some(d) = distro {
                qualifiers.push(("distro", format!("{}-{}", d.id, d.version_id)));
            }
            if let Some(source) = &found.source {
                let upstream = match &found.source_version {
                    Some(v) if found.kind == Kind::Deb => format!("{source}@{v}"),
                    _ => source.clone(),
                };
                qualifiers.push(("upstream", upstream));
            }
            (Some(vendor), found.name.clone())
        }
        Kind::Npm => match found.name.split_once('/') {
            Some((scope, name)) if scope.starts_with('@') => (Some(scope.to_owned()), name.to_owned()),
            _ => (None, found.name.clone()),
        },
        Kind::Pypi => (None, pypi_normalise(&found.name)),
        Kind::Cargo => (None, found.name.clone()),
        Kind::Golang => match found.name.rsplit_once('/') {
            Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
            None => (None, found.name.clone()),
        },
    };
    let mut out = format!("pkg:{}/", found.kind.purl_type());
    if let Some(ns) = namespace {
        for segment in ns.split('/') {
            out.push_str(&encode(segment));
            out.push('/');
        }
    }
    out.push_str(&encode(&name));
    out.push('@');
    // The purl spec puts an RPM epoch in a qualifier, not in the version.
    let version = match (found.kind, found.version.split_once(':')) {
        (Kind::Rpm, Some((epoch, rest))) => {
            qualifiers.push(("epoch", epoch.to_owned()));
            rest
        }
        _ => found.version.as_str(),
    };
    out.push_str(&encode(version));
    qualifiers.sort();
    for (i, (k, v)) in qualifiers.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

/// PEP 503 name normalisation: lower case, runs of `-`, `_` and `.` become one `-`.
pub fn pypi_normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_separator = false;
        }
    }
    out
}

/// Percent-encode everything but the purl spec's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian() -> Distro {
        Distro {
            id: "debian".into(),
            version_id: "12".into(),
            ..Distro::default()
        }
    }

    #[test]
    fn purls_follow_the_spec_per_type() {
        let mut deb = Found::new(Kind::Deb, "bsdutils", "1:2.38.1-5+deb12u3");
        deb.arch = Some("amd64".into());
        deb.source = Some("util-linux".into());
        deb.source_version = Some("2.38.1-5+deb12u3".into());
        assert_eq!(
            purl(&deb, Some(&debian())),
            "pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5%2Bdeb12u3"
        );
        assert_eq!(
            purl(&Found::new(Kind::Npm, "@babel/core", "7.0.0"), None),
            "pkg:npm/%40babel/core@7.0.0"
        );
        assert_eq!(
            purl(&Found::new(Kind::Pypi, "Django_Rest.framework", "3.0"), None),
            "pkg:pypi/django-rest-framework@3.0"
        );
        assert_eq!(
            purl(&Found::new(Kind::Golang, "github.com/spf13/cobra", "v1.8.1"), None),
            "pkg:golang/github.com/spf13/cobra@v1.8.1"
        );
        assert_eq!(
            purl(&Found::new(Kind::Cargo, "smallvec", "1.6.0"), None),
            "pkg:cargo/smallvec@1.6.0"
        );
    }

    #[test]
    fn distro_ecosystems_use_osv_names() {
        assert_eq!(debian().ecosystem().as_deref(), Some("Debian:12"));
        let alpine = Distro {
            id: "alpine".into(),
            version_id: "3.14.0".into(),
            ..Distro::default()
        };
        assert_eq!(alpine.ecosystem().as_deref(), Some("Alpine:v3.14"));
        let unknown = Distro {
            id: "plan9".into(),
            version_id: "4".into(),
            ..Distro::default()
        };
        assert_eq!(unknown.ecosystem(), None);
    }
}
