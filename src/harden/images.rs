//! The image lock: which digest each image reference in the manifests is pinned to, and what
//! sealift knows about that image's configuration (its user and volumes).
//!
//! Two lock formats are read: the JSON `sealift bundle inspect --format json` prints (its
//! `index.images`), and a plain YAML map of reference to digest, where a value may instead be
//! a map with `digest`, `user` and `volumes`.

use std::collections::BTreeMap;

use super::yaml::{Node, parse_documents};
use crate::oci::{Digest, Reference, SourceRef};

/// What is known about one locked image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedImage {
    /// Repository path the bundle loads it under (`library/nginx`).
    pub repository: String,
    /// Registry it came from (`docker.io`).
    pub registry: String,
    /// The pinned manifest or index digest.
    pub digest: Digest,
    /// The image config's `User`, when known (`""` means root by default).
    pub user: Option<String>,
    /// The image config's `Volumes`.
    pub volumes: Vec<String>,
}

/// The reference manifests name a bundled image by: its registry reference, or for `oci:` and
/// `oci-archive:` sources the name it loads as (`repository:tag`, else `repository@digest`).
pub fn bundled_reference(source: &str, repository: &str, tag: Option<&str>, digest: &Digest) -> Result<Reference, String> {
    if let Ok(SourceRef::Docker(r)) = source.parse::<SourceRef>() {
        return Ok(r);
    }
    let name = match tag {
        Some(t) => format!("{repository}:{t}"),
        None => format!("{repository}@{digest}"),
    };
    name.parse().map_err(|e| format!("`{name}`: {e}"))
}

/// Reference → locked image.
#[derive(Debug, Clone, Default)]
pub struct ImageLock {
    by_reference: BTreeMap<String, LockedImage>,
    /// Every digest the bundle holds (images and their platform manifests) → the images that
    /// hold it (one content may be carried under several names).
    by_digest: BTreeMap<String, Vec<LockedImage>>,
    /// A digest the bundle does not carry → the one it carries instead (an index's source
    /// digest → the platform subset made from it); `None` when two subsets of one index are
    /// carried, so the source digest does not say which.
    aliases: BTreeMap<Digest, Option<Digest>>,
}

/// How a manifest's image reference resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pinned<'a> {
    Found(&'a LockedImage),
    /// The reference is not in the lock.
    Missing,
    /// The reference is not a valid image reference.
    Invalid(String),
}

impl ImageLock {
    /// Parse either lock format.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
            if let Some(images) = v.pointer("/index/images").and_then(|i| i.as_array()) {
                return Self::from_inspect(images);
            }
        }
        let docs = parse_documents(text).map_err(|e| e.to_string())?;
        let [Node::Map(map)] = docs.as_slice() else {
            return Err("expected one map of image reference to digest".into());
        };
        let mut lock = Self::default();
        for (reference, value) in map.iter() {
            let r: Reference = reference.parse().map_err(|e| format!("`{reference}`: {e}"))?;
            let (digest, user, volumes) = match value {
                Node::Str(d) => (d.as_str(), None, Vec::new()),
                Node::Map(m) => {
                    for (k, _) in m.iter() {
                        if !matches!(k, "digest" | "user" | "volumes") {
                            return Err(format!("`{reference}`: unknown key `{k}` (expected digest, user, volumes)"));
                        }
                    }
                    let digest = m
                        .get("digest")
                        .and_then(Node::as_str)
                        .ok_or_else(|| format!("`{reference}`: no `digest`"))?;
                    let user = m.get("user").map(|u| match u {
                        Node::Num(n) => n.clone(),
                        other => other.as_str().unwrap_or_default().to_string(),
                    });
                    let volumes = m
                        .get("volumes")
                        .and_then(Node::as_seq)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(Node::as_str)
                        .map(str::to_string)
                        .collect();
                    (digest, user, volumes)
                }
                _ => return Err(format!("`{reference}`: the value must be a digest or a map")),
            };
            let digest: Digest = digest.parse().map_err(|e| format!("`{reference}`: {e}"))?;
            if let Some(pinned) = &r.digest
                && *pinned != digest
            {
                return Err(format!("`{reference}` names digest {pinned} but is locked to {digest}"));
            }
            lock.add(
                &r,
                LockedImage {
                    repository: r.repository.clone(),
                    registry: r.registry.clone(),
                    digest,
                    user,
                    volumes,
                },
                &[],
            );
        }
        Ok(lock)
    }

    fn from_inspect(images: &[serde_json::Value]) -> Result<Self, String> {
        let mut lock = Self::default();
        for image in images {
            let field = |k: &str| image.get(k).and_then(|v| v.as_str());
            let source = field("source").ok_or("an image without `source`")?;
            let digest: Digest = field("digest")
                .ok_or("an image without `digest`")?
                .parse()
                .map_err(|e| format!("{e}"))?;
            let repository = field("repository").ok_or("an image without `repository`")?.to_string();
            let platforms: Vec<Digest> = image
                .get("platforms")
                .and_then(|p| p.as_array())
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("digest")?.as_str()?.parse().ok())
                .collect();
            let reference = bundled_reference(source, &repository, field("tag"), &digest)?;
            // The run-time config bundle create recorded (user and volumes), if any.
            let config = image.get("config");
            let user = config.and_then(|c| c.get("user")).and_then(|u| u.as_str()).map(str::to_string);
            let volumes = config
                .and_then(|c| c.get("volumes"))
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let locked = LockedImage {
                repository,
                registry: reference.registry.clone(),
                digest: digest.clone(),
                user,
                volumes,
            };
            lock.add(&reference, locked, &platforms);
            if let Some(source_digest) = field("sourceDigest").and_then(|d| d.parse::<Digest>().ok()) {
                lock.alias(&source_digest, &digest);
            }
        }
        Ok(lock)
    }

    /// Adds an image under its reference (when tagged) and under every digest it holds.
    pub fn add(&mut self, reference: &Reference, image: LockedImage, platform_digests: &[Digest]) {
        let mut key = reference.clone();
        key.digest = None;
        if key.tag.is_some() {
            self.by_reference.insert(key.to_string(), image.clone());
        }
        for d in std::iter::once(&image.digest).chain(platform_digests) {
            let holders = self.by_digest.entry(d.to_string()).or_default();
            if !holders.contains(&image) {
                holders.push(image.clone());
            }
        }
    }

    /// Let manifests that name `source` (an index before its platform subset) resolve to the
    /// image carried as `carried`.
    pub fn alias(&mut self, source: &Digest, carried: &Digest) {
        let Some(image) = self.by_digest.get(&carried.to_string()).cloned() else {
            return;
        };
        match self.aliases.get(source) {
            Some(Some(other)) if other != carried => {
                self.aliases.insert(source.clone(), None);
                self.by_digest.remove(&source.to_string());
            }
            Some(_) => {}
            None => {
                self.by_digest.insert(source.to_string(), image);
                self.aliases.insert(source.clone(), Some(carried.clone()));
            }
        }
    }

    /// The digest the bundle carries for `digest`: itself, or what an alias names.
    #[must_use]
    pub fn carried(&self, digest: &Digest) -> Digest {
        self.aliases.get(digest).cloned().flatten().unwrap_or_else(|| digest.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// What `reference` (as written in a manifest) is pinned to.
    pub fn resolve(&self, reference: &str) -> Pinned<'_> {
        let r: Reference = match reference.parse() {
            Ok(r) => r,
            Err(e) => return Pinned::Invalid(e.to_string()),
        };
        if let Some(d) = &r.digest {
            if self.aliases.get(d).is_some_and(Option::is_none) {
                return Pinned::Invalid(format!(
                    "{d} is an index the bundle carries as two different platform subsets; name the one meant by its digest"
                ));
            }
            // The holder named like the reference, so a pinned reference keeps its name.
            let holders = self.by_digest.get(&d.to_string()).map(Vec::as_slice).unwrap_or_default();
            return holders
                .iter()
                .find(|img| img.registry == r.registry && img.repository == r.repository)
                .or_else(|| holders.first())
                .map_or(Pinned::Missing, Pinned::Found);
        }
        match self.by_reference.get(&r.to_string()) {
            Some(img) => Pinned::Found(img),
            None => Pinned::Missing,
        }
    }
}

impl LockedImage {
    /// `registry/repository@digest`, with `registry` replaced by the site's when given. A
    /// platform digest keeps its own digest (the bundle holds that manifest too).
    pub fn pinned_reference(&self, site_registry: Option<&str>, digest: &Digest) -> String {
        format!("{}/{}@{digest}", site_registry.unwrap_or(&self.registry), self.repository)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn plain_yaml_lock_normalises_references() {
        let lock = ImageLock::parse(&format!(
            "nginx:1.27: {D1}\nghcr.io/a/b:2:\n  digest: {D1}\n  user: '101'\n  volumes: [/data]\n"
        ))
        .unwrap();
        let Pinned::Found(img) = lock.resolve("docker.io/library/nginx:1.27") else {
            panic!()
        };
        assert_eq!(
            img.pinned_reference(Some("reg.site:5000"), &img.digest),
            format!("reg.site:5000/library/nginx@{D1}")
        );
        let Pinned::Found(img) = lock.resolve("ghcr.io/a/b:2") else {
            panic!()
        };
        assert_eq!(
            (img.user.as_deref(), img.volumes.as_slice()),
            (Some("101"), &["/data".to_string()][..])
        );
        assert_eq!(lock.resolve("nginx:1.28"), Pinned::Missing);
        assert_eq!(
            lock.resolve(&format!("nginx@{D1}")),
            Pinned::Found(&lock.by_digest.values().next().unwrap()[0])
        );
        assert!(matches!(lock.resolve("UPPER/case"), Pinned::Invalid(_)));
        assert!(ImageLock::parse("nginx:1: sha256:12\n").unwrap_err().contains("nginx:1"));
    }

    #[test]
    fn a_source_digest_pins_to_its_one_subset_or_is_refused() {
        let (src, a, b): (Digest, Digest, Digest) = (D1.parse().unwrap(), Digest::of(b"a"), Digest::of(b"b"));
        let image = |d: &Digest| LockedImage {
            repository: "team/app".into(),
            registry: "ghcr.io".into(),
            digest: d.clone(),
            user: None,
            volumes: Vec::new(),
        };
        let mut lock = ImageLock::default();
        lock.add(&"ghcr.io/team/app:amd".parse().unwrap(), image(&a), &[]);
        lock.alias(&src, &a);
        assert_eq!(lock.resolve(&format!("ghcr.io/team/app@{D1}")), Pinned::Found(&image(&a)));
        assert_eq!(lock.carried(&src), a);
        // A second subset of the same index: the source digest no longer says which.
        lock.add(&"ghcr.io/team/app:arm".parse().unwrap(), image(&b), &[]);
        lock.alias(&src, &b);
        assert!(
            matches!(lock.resolve(&format!("ghcr.io/team/app@{D1}")), Pinned::Invalid(m) if m.contains("two different platform subsets"))
        );
    }

    #[test]
    fn bundled_images_are_known_by_their_registry_reference_or_their_load_name() {
        let d: Digest = D1.parse().unwrap();
        let name = |source: &str, tag: Option<&str>| bundled_reference(source, "team/tool", tag, &d).unwrap().to_string();
        assert_eq!(name("docker://ghcr.io/a/b:2", Some("2")), "ghcr.io/a/b:2");
        assert_eq!(name("nginx:1.27", Some("1.27")), "docker.io/library/nginx:1.27");
        // oci-archive:app.tar would also parse as the Docker Hub image `oci-archive:app.tar`.
        assert_eq!(name("oci-archive:app.tar", Some("v1")), "docker.io/team/tool:v1");
        assert_eq!(name("oci:layout:app/x:1", None), format!("docker.io/team/tool@{D1}"));
    }
}
