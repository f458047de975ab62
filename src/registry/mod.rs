//! The distribution-API client: auth, manifests and blobs over HTTPS. No filesystem: blobs
//! come and go as byte streams, and only the caller decides where they are stored.
//!
//! Every request is sealift's own ([`http`], [`upload`]): bodies read with a limit, retries
//! where another try may pass ([`retry`]), blob downloads resumed with `Range`, uploads in
//! chunks resumed from what the session holds and committed only when the bytes sent hash to
//! the digest; auth challenges and bearer tokens too ([`token`]).

mod auth;
mod gate;
mod http;
pub mod retry;
mod tags;
mod token;
mod upload;

use token::Operation;

use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

pub use auth::{Credentials, default_auth_files};
pub use gate::CommitGate;
pub use retry::RetryPolicy;
pub use upload::{BlobSource, Landed, MIN_UPLOAD_CHUNK, UPLOAD_CHUNK, WHOLE_UPLOAD_MAX};

use crate::oci::{Descriptor, Digest, Reference, manifest::MAX_MANIFEST_SIZE, media_type};

/// A stream of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Errors talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry answered with content other than what was asked for.
    #[error("{target}: registry returned {found}, expected {expected}")]
    DigestMismatch {
        /// The reference involved.
        target: String,
        /// The digest requested.
        expected: Digest,
        /// The digest of what came back.
        found: Digest,
    },
    /// The bytes read from the source for an upload do not hash to the digest they were
    /// verified against: the source changed after it was verified. Nothing was committed for
    /// this blob.
    #[error(
        "{target}: the bytes read to send hash to {found}, not the verified {expected} (the file changed after it was verified?); not committed"
    )]
    SourceChanged {
        /// The blob's reference.
        target: String,
        /// The verified digest.
        expected: Digest,
        /// What the bytes read hash to.
        found: Digest,
    },
    /// A manifest over the size limit.
    #[error("{target}: manifest is {size} bytes, over the {MAX_MANIFEST_SIZE} byte limit")]
    ManifestTooLarge {
        /// The reference involved.
        target: String,
        /// Its size.
        size: usize,
    },
    /// A CA file that cannot be read.
    #[error("CA file {path}: {source}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An auth file that cannot be read or parsed.
    #[error("registry auth file {path}: {reason}")]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The registry answered with something that breaks the distribution spec.
    #[error("{target}: {reason}")]
    Protocol {
        /// The reference involved.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// A commit held back until the bundle's last bytes were hashed, and they did not match
    /// (see [`Registry::hold_commits`]): nothing was committed.
    #[error("{target}: not committed: the bundle's remaining bytes did not verify")]
    CommitRefused {
        /// The reference involved.
        target: String,
    },
    /// The HTTP client could not be built (bad CA certificate, TLS setup).
    #[error("cannot set up the registry client: {0}")]
    Setup(String),
    /// Authenticating failed: the registry's challenge or its token service. Kept apart from
    /// [`Error::Http`] so that a 404 or 401 from the token service is never read as the
    /// registry's answer about an image (a missing tag, an expired token to fetch again).
    #[error("{what} `{target}`: {reason} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
    Auth {
        /// "authenticating to" (the registry's `/v2/`) or "getting a token from" (its realm).
        what: &'static str,
        /// The registry or the token service's URL.
        target: String,
        /// What went wrong the last time.
        reason: String,
        /// Tries made.
        attempts: usize,
    },
    /// A request failed for good: what it was, the registry's status (if it answered) and
    /// words, and how many tries were made.
    #[error("{what} `{target}`: {reason} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
    Http {
        /// What was being done: "pulling manifest", ...
        what: &'static str,
        /// The reference or blob involved.
        target: String,
        /// The last response's status, when there was one.
        status: Option<u16>,
        /// What went wrong the last time.
        reason: String,
        /// Tries made.
        attempts: usize,
    },
}

impl Error {
    /// The registry's HTTP status, when the failure was an answer to the request itself (not
    /// to authenticating for it: see [`Error::Auth`]).
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } => *status,
            _ => None,
        }
    }

    /// Did the registry say the manifest or repository does not exist (as opposed to failing)?
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// How to reach registries.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Extra trusted CA certificates (PEM files), on top of the system store.
    pub ca_files: Vec<PathBuf>,
    /// Where credentials come from.
    pub credentials: Credentials,
    /// Blob transfers in flight at once.
    pub jobs: usize,
    /// Bytes per `PATCH` of a chunked blob upload: [`UPLOAD_CHUNK`] when 0; at least
    /// [`MIN_UPLOAD_CHUNK`].
    pub upload_chunk: u64,
    /// How hard to retry requests that may pass on another try.
    pub retry: RetryPolicy,
}

/// A manifest as fetched: exact bytes, their digest, and the media type.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    /// Exact bytes as served.
    pub bytes: Bytes,
    /// SHA-256 of `bytes`.
    pub digest: Digest,
    /// The manifest's media type.
    pub media_type: String,
}

/// A client for one or more registries (TLS always; credentials per host).
pub struct Registry {
    http: reqwest::Client,
    retry: RetryPolicy,
    tokens: token::TokenCache,
    credentials: Credentials,
    jobs: usize,
    upload_chunk: u64,
    /// Blob downloads in flight, at most `jobs` however many callers stream at once.
    downloads: std::sync::Arc<tokio::sync::Semaphore>,
    /// Hosts that answered a bare 404 (no error document) to the referrers API: they have
    /// none (OCI distribution spec v1.1, "Listing Referrers": a registry with the API never
    /// answers 404), so later listings there go to the tag schema without asking again.
    no_referrers_api: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Hosts that refused an upload `POST` asking for a mount from the same repository (see
    /// [`upload`]): they are not asked that way again.
    no_mount_asks: std::sync::Mutex<std::collections::HashSet<String>>,
    /// While set, what commits wait for (see [`gate`]).
    commit_gate: std::sync::Mutex<Option<CommitGate>>,
    /// While above 0, every commit is refused (see [`gate`]).
    commits_stopped: tokio::sync::watch::Sender<usize>,
}

impl Registry {
    /// Build a client. Fails on unreadable or invalid CA files rather than falling back.
    pub fn new(options: &RegistryOptions) -> Result<Self, Error> {
        // Several tests or commands may race to install the provider; the first one wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = Vec::new();
        for path in &options.ca_files {
            let data = crate::bounded::read(path, crate::bounded::CONFIG_FILE).map_err(|source| Error::CaFile {
                path: path.clone(),
                source,
            })?;
            roots.extend(
                reqwest::Certificate::from_pem_bundle(&data).map_err(|e| Error::Setup(format!("CA file {}: {e}", path.display())))?,
            );
        }
        let http = reqwest::Client::builder()
            .https_only(true)
            .tls_certs_merge(roots)
            .user_agent(concat!("sealift/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Setup(e.to_string()))?;
        Ok(Self {
            http,
            retry: options.retry.clone(),
            tokens: token::TokenCache::default(),
            credentials: options.credentials.clone(),
            jobs: options.jobs.max(1),
            // 0 (a defaulted field) is the default size, not the smallest.
            upload_chunk: match options.upload_chunk {
                0 => UPLOAD_CHUNK,
                n => n.max(upload::MIN_UPLOAD_CHUNK),
            },
            downloads: std::sync::Arc::new(tokio::sync::Semaphore::new(options.jobs.max(1))),
            no_referrers_api: std::sync::Mutex::default(),
            no_mount_asks: std::sync::Mutex::default(),
            commit_gate: std::sync::Mutex::default(),
            commits_stopped: tokio::sync::watch::Sender::new(0),
        })
    }

    /// How many blob transfers to run at once.
    #[must_use]
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// The largest blob sent whole, in the request that commits it: [`WHOLE_UPLOAD_MAX`], or
    /// the `PATCH` size when that is smaller.
    #[must_use]
    pub fn whole_upload_max(&self) -> u64 {
        WHOLE_UPLOAD_MAX.min(self.upload_chunk)
    }

    /// Fetch a manifest by tag or digest. When the reference has a digest, the bytes must hash
    /// to it; either way the returned digest is computed from the bytes, never taken from a header.
    /// At most [`MAX_MANIFEST_SIZE`] bytes are read.
    pub async fn fetch_manifest(&self, reference: &Reference) -> Result<FetchedManifest, Error> {
        self.fetch_manifest_sized(reference, None).await
    }

    /// [`Self::fetch_manifest`], reading at most `size` bytes when a descriptor gives it (a
    /// longer body is refused as soon as it passes that).
    pub async fn fetch_manifest_sized(&self, reference: &Reference, size: Option<u64>) -> Result<FetchedManifest, Error> {
        let r = Repo::of(reference);
        self.unless_unauthorized(&r, Operation::Pull, || self.fetch_manifest_sized_once(reference, size))
            .await
    }

    /// One try of the above, with the cached credentials.
    async fn fetch_manifest_sized_once(&self, reference: &Reference, size: Option<u64>) -> Result<FetchedManifest, Error> {
        let r = Repo::of(reference);
        let auth = self.auth_header(&r, Operation::Pull).await?;
        let target = reference.to_string();
        let name = match (&reference.digest, &reference.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        };
        let url = http::v2_url(&r, "manifests", &name);
        let limit = size.map_or(MAX_MANIFEST_SIZE, |s| s.min(MAX_MANIFEST_SIZE));
        let accept = media_type::ACCEPTED_MANIFESTS.join(", ");
        let bytes = match self
            .get_bounded("pulling manifest", &target, auth.as_ref(), &url, &accept, limit)
            .await?
        {
            http::Got::Body(b) => b,
            http::Got::NotFound { .. } => {
                return Err(Error::Http {
                    what: "pulling manifest",
                    target,
                    status: Some(404),
                    reason: "404 Not Found".into(),
                    attempts: 1,
                });
            }
        };
        let digest = Digest::of(&bytes);
        if let Some(expected) = &reference.digest
            && *expected != digest
        {
            return Err(Error::DigestMismatch {
                target,
                expected: expected.clone(),
                found: digest,
            });
        }
        let media_type = crate::oci::manifest::sniff_media_type(&bytes).unwrap_or_default();
        Ok(FetchedManifest { bytes, digest, media_type })
    }

    /// Stream a blob, resuming where a broken transfer stopped. The stream fails if the
    /// registry sends more than the descriptor's size; the caller hashes what it receives and
    /// checks the digest (the blob store does). A foreign layer's `urls`, when the caller
    /// kept them, are tried (without credentials) where the registry does not have it.
    ///
    /// At most `jobs` streams are open at once across the client: this waits for one to be
    /// dropped. (A caller must not wait for a second stream while holding the first.)
    pub async fn fetch_blob(&self, repo: &Reference, desc: &Descriptor) -> Result<ByteStream, Error> {
        use futures_util::StreamExt as _;
        let permit = self
            .downloads
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Setup("the download limit was closed".into()))?;
        let r = Repo::of(repo);
        let stream = self
            .unless_unauthorized(&r, Operation::Pull, || self.fetch_blob_once(repo, desc))
            .await?;
        // The permit goes when the stream does.
        Ok(stream
            .map(move |chunk| {
                let _held = &permit;
                chunk
            })
            .boxed())
    }

    /// A small blob (a signature, an attestation) read whole: refused unpulled when its
    /// descriptor says more than `max` bytes, and checked against its digest.
    pub async fn fetch_small_blob(&self, repo: &Reference, desc: &Descriptor, max: u64) -> Result<Vec<u8>, Error> {
        use futures_util::StreamExt as _;
        let target = format!("{}@{}", repo.name(), desc.digest);
        if desc.size > max {
            return Err(Error::Protocol {
                target,
                reason: format!("{} bytes, over the {max}-byte limit for this kind of blob", desc.size),
            });
        }
        let mut stream = self.fetch_blob(repo, desc).await?;
        let (mut bytes, mut counter) = (Vec::new(), crate::oci::DigestCounter::default());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Protocol {
                target: target.clone(),
                reason: e.to_string(),
            })?;
            counter.update(&chunk);
            bytes.extend_from_slice(&chunk);
        }
        let (found, _) = counter.finish();
        if found != desc.digest {
            return Err(Error::DigestMismatch {
                target,
                expected: desc.digest.clone(),
                found,
            });
        }
        Ok(bytes)
    }

    /// One try of the above, with the cached credentials.
    async fn fetch_blob_once(&self, repo: &Reference, desc: &Descriptor) -> Result<ByteStream, Error> {
        let r = Repo::of(repo);
        let auth = self.auth_header(&r, Operation::Pull).await?;
        let target = format!("{}@{}", repo.name(), desc.digest);
        self.blob_stream(target, auth, http::blob_urls(&r, desc), desc).await
    }

    /// Does the repository already hold this blob?
    pub async fn blob_exists(&self, repo: &Reference, digest: &Digest) -> Result<bool, Error> {
        let r = Repo::of(repo);
        self.unless_unauthorized(&r, Operation::Pull, || self.blob_exists_once(repo, digest))
            .await
    }

    /// One try of the above, with the cached credentials.
    async fn blob_exists_once(&self, repo: &Reference, digest: &Digest) -> Result<bool, Error> {
        let r = Repo::of(repo);
        let auth = self.auth_header(&r, Operation::Pull).await?;
        let url = http::v2_url(&r, "blobs", &digest.to_string());
        self.head("checking blob", &format!("{}@{digest}", repo.name()), auth.as_ref(), &url, &[])
            .await
    }

    /// The manifests that declare `subject` as their subject: the referrers API where the
    /// registry has it, else the `sha256-<hex>` tag-schema index (empty when neither exists).
    /// Descriptors are as listed; callers verify whatever they then fetch by digest.
    pub async fn referrers(&self, repo: &Reference, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
        Ok(self.referrers_listing(repo, subject).await?.manifests)
    }

    /// [`Registry::referrers`], saying where the listing came from.
    pub async fn referrers_listing(&self, repo: &Reference, subject: &Digest) -> Result<Referrers, Error> {
        let r = Repo::of(repo);
        self.unless_unauthorized(&r, Operation::Pull, || self.referrers_once(repo, subject))
            .await
    }

    /// One try of the above, with the cached credentials.
    async fn referrers_once(&self, repo: &Reference, subject: &Digest) -> Result<Referrers, Error> {
        let r = Repo::of(repo);
        let auth = self.auth_header(&r, Operation::Pull).await?;
        let target = format!("{}@{subject}", repo.name());
        let url = http::v2_url(&r, "referrers", &subject.to_string());
        let host = r.resolve_registry().to_owned();
        let known_without = self.no_referrers_api.lock().is_ok_and(|hosts| hosts.contains(&host));
        let got = if known_without {
            http::Got::NotFound { error_document: false }
        } else {
            self.get_bounded(
                "listing referrers of",
                &target,
                auth.as_ref(),
                &url,
                media_type::OCI_INDEX,
                MAX_MANIFEST_SIZE,
            )
            .await?
        };
        let (body, api) = match got {
            http::Got::Body(b) => (b, true),
            // No referrers API: the tag schema.
            http::Got::NotFound { error_document } => {
                // A bare 404 is a path the registry does not serve: it has no referrers API,
                // and is not asked again. Some registries that do have one answer an error
                // document (`NAME_UNKNOWN`, `MANIFEST_UNKNOWN`) for a repository or subject
                // they do not know yet, against the spec: they are asked again next time.
                if !known_without
                    && !error_document
                    && let Ok(mut hosts) = self.no_referrers_api.lock()
                {
                    hosts.insert(host);
                }
                let mut tag = repo.clone();
                tag.digest = None;
                tag.tag = Some(subject.tag_form());
                match self.fetch_manifest(&tag).await {
                    Ok(m) => (m.bytes, false),
                    Err(e) if e.is_not_found() => {
                        return Ok(Referrers {
                            manifests: Vec::new(),
                            api: false,
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        #[derive(serde::Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let index: Index = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
            target,
            reason: format!("unusable referrers index: {e}"),
        })?;
        Ok(Referrers {
            manifests: index.manifests,
            api,
        })
    }

    /// Upload manifest bytes unchanged, under the reference's tag (or its digest); retried
    /// like reads (a `PUT` of the same bytes is idempotent).
    pub async fn push_manifest(&self, reference: &Reference, bytes: &[u8], media_type: &str) -> Result<(), Error> {
        let r = Repo::of(reference);
        self.unless_unauthorized(&r, Operation::Push, || self.push_manifest_once(reference, bytes, media_type))
            .await
    }

    /// One try of the above, with the cached credentials.
    async fn push_manifest_once(&self, reference: &Reference, bytes: &[u8], media_type: &str) -> Result<(), Error> {
        let r = Repo::of(reference);
        let auth = self.auth_header(&r, Operation::Push).await?;
        let name = match (&reference.digest, &reference.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        };
        let url = http::v2_url(&r, "manifests", &name);
        self.put_bytes(
            "pushing manifest",
            &reference.to_string(),
            auth.as_ref(),
            &url,
            media_type,
            Bytes::copy_from_slice(bytes),
        )
        .await
    }
}

/// A repository as the distribution API addresses it.
#[derive(Debug, Clone)]
pub(super) struct Repo {
    /// The registry as written (`docker.io`): what credentials are looked up by.
    registry: String,
    /// The repository's name in it.
    repository: String,
}

impl Repo {
    pub(super) fn of(r: &Reference) -> Self {
        Self {
            registry: r.registry.clone(),
            repository: r.repository.clone(),
        }
    }

    /// The registry as written.
    pub(super) fn registry(&self) -> &str {
        &self.registry
    }

    /// The host that serves the registry's API: Docker Hub's `docker.io` is `index.docker.io`.
    pub(super) fn resolve_registry(&self) -> &str {
        if self.registry == "docker.io" {
            "index.docker.io"
        } else {
            &self.registry
        }
    }

    pub(super) fn repository(&self) -> &str {
        &self.repository
    }
}

/// A referrers listing (OCI distribution spec v1.1, "Listing Referrers").
#[derive(Debug, Clone)]
pub struct Referrers {
    /// The manifests listed, as listed.
    pub manifests: Vec<Descriptor>,
    /// Whether the registry's referrers API answered (else the `sha256-<hex>` tag schema, or
    /// nothing, was read): such a registry lists a pushed referrer by itself.
    pub api: bool,
}
