//! The distribution-API client: auth, manifests and blobs over HTTPS. No filesystem: blobs
//! come and go as byte streams, and only the caller decides where they are stored.
//!
//! Built on `oci-client`'s low-level calls only (its high-level `pull`/`push` hold whole
//! layers in memory and re-serialise manifests, which would change digests).

mod auth;

use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt as _};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;

pub use auth::{Credentials, default_auth_files};

use crate::oci::{Descriptor, Digest, Reference, manifest::MAX_MANIFEST_SIZE, media_type};

/// A stream of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Errors talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request failed (network, TLS, auth, HTTP status).
    #[error("{what} `{target}`")]
    Request {
        /// What was being done: "pulling manifest", "pushing blob", ...
        what: &'static str,
        /// The reference or blob involved.
        target: String,
        /// The cause from the HTTP layer.
        #[source]
        source: OciDistributionError,
    },
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
    /// The HTTP client could not be built (bad CA certificate, TLS setup).
    #[error("cannot set up the registry client: {0}")]
    Setup(String),
}

impl Error {
    /// Did the registry say the manifest or repository does not exist (as opposed to failing)?
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        let Self::Request { source, .. } = self else {
            return false;
        };
        match source {
            OciDistributionError::ImageManifestNotFoundError(_) => true,
            OciDistributionError::ServerError { code, .. } => *code == 404,
            OciDistributionError::RegistryError { envelope, .. } => envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown)),
            _ => false,
        }
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
    client: oci_client::Client,
    credentials: Credentials,
    jobs: usize,
}

impl Registry {
    /// Build a client. Fails on unreadable or invalid CA files rather than falling back.
    pub fn new(options: &RegistryOptions) -> Result<Self, Error> {
        // Several tests or commands may race to install the provider; the first one wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut extra = Vec::new();
        for path in &options.ca_files {
            let data = crate::bounded::read(path, crate::bounded::CONFIG_FILE).map_err(|source| Error::CaFile {
                path: path.clone(),
                source,
            })?;
            extra.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let config = ClientConfig {
            protocol: ClientProtocol::Https,
            extra_root_certificates: extra,
            use_monolithic_push: true,
            user_agent: concat!("sealift/", env!("CARGO_PKG_VERSION")),
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(300)),
            ..ClientConfig::default()
        };
        // `Client::new` would silently drop a bad CA and use defaults: refuse instead.
        let client = oci_client::Client::try_from(config).map_err(|e| Error::Setup(e.to_string()))?;
        Ok(Self {
            client,
            credentials: options.credentials.clone(),
            jobs: options.jobs.max(1),
        })
    }

    /// How many blob transfers to run at once.
    #[must_use]
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    async fn authorize(&self, r: &oci_client::Reference) -> Result<RegistryAuth, Error> {
        let auth = self.credentials.for_registry(r.registry())?;
        self.client.store_auth_if_needed(r.resolve_registry(), &auth).await;
        Ok(auth)
    }

    /// Fetch a manifest by tag or digest. When the reference has a digest, the bytes must hash
    /// to it; either way the returned digest is computed from the bytes, never taken from a header.
    pub async fn fetch_manifest(&self, reference: &Reference) -> Result<FetchedManifest, Error> {
        let r = to_client_ref(reference);
        let auth = self.authorize(&r).await?;
        let target = reference.to_string();
        let (bytes, _) = self
            .client
            .pull_manifest_raw(&r, &auth, &media_type::ACCEPTED_MANIFESTS)
            .await
            .map_err(|source| Error::Request {
                what: "pulling manifest",
                target: target.clone(),
                source,
            })?;
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(Error::ManifestTooLarge { target, size: bytes.len() });
        }
        let digest = Digest::of(&bytes);
        if let Some(expected) = &reference.digest {
            if *expected != digest {
                return Err(Error::DigestMismatch {
                    target,
                    expected: expected.clone(),
                    found: digest,
                });
            }
        }
        let media_type = crate::oci::manifest::sniff_media_type(&bytes).unwrap_or_default();
        Ok(FetchedManifest { bytes, digest, media_type })
    }

    /// Stream a blob. The stream fails if the content does not hash to the descriptor's digest;
    /// the caller must still cap the size (the blob store does).
    pub async fn fetch_blob(&self, repo: &Reference, desc: &Descriptor) -> Result<ByteStream, Error> {
        let r = to_client_ref(repo);
        self.authorize(&r).await?;
        let d = to_client_descriptor(desc);
        let sized = self.client.pull_blob_stream(&r, &d).await.map_err(|source| Error::Request {
            what: "pulling blob",
            target: format!("{}@{}", repo.name(), desc.digest),
            source,
        })?;
        Ok(Box::pin(sized.stream))
    }

    /// Does the repository already hold this blob?
    pub async fn blob_exists(&self, repo: &Reference, digest: &Digest) -> Result<bool, Error> {
        let r = to_client_ref(repo);
        self.authorize(&r).await?;
        self.client
            .blob_exists(&r, &digest.to_string())
            .await
            .map_err(|source| Error::Request {
                what: "checking blob",
                target: format!("{}@{digest}", repo.name()),
                source,
            })
    }

    /// Upload a blob in one streaming request. The registry checks the digest on commit.
    pub async fn push_blob(&self, repo: &Reference, digest: &Digest, size: u64, data: ByteStream) -> Result<(), Error> {
        let r = to_client_ref(repo);
        self.authorize(&r).await?;
        let stream = data.map_err(OciDistributionError::IoError);
        self.client
            .push_blob_stream(&r, stream, &digest.to_string(), Some(size))
            .await
            .map(|_| ())
            .map_err(|source| Error::Request {
                what: "pushing blob",
                target: format!("{}@{digest}", repo.name()),
                source,
            })
    }

    /// The manifests that declare `subject` as their subject: the referrers API where the
    /// registry has it, else the `sha256-<hex>` tag-schema index (empty when neither exists).
    /// Descriptors are as listed; callers verify whatever they then fetch by digest.
    pub async fn referrers(&self, repo: &Reference, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
        let r = to_client_ref(&repo.with_digest(subject.clone()));
        self.authorize(&r).await?;
        let target = format!("{}@{subject}", repo.name());
        let index = self.client.pull_referrers(&r, None).await.map_err(|source| Error::Request {
            what: "listing referrers of",
            target: target.clone(),
            source,
        })?;
        index
            .manifests
            .into_iter()
            .map(|entry| {
                serde_json::to_value(entry)
                    .and_then(serde_json::from_value::<Descriptor>)
                    .map_err(|e| Error::Protocol {
                        target: target.clone(),
                        reason: format!("unusable referrers entry: {e}"),
                    })
            })
            .collect()
    }

    /// Upload manifest bytes unchanged, under the reference's tag (or its digest).
    pub async fn push_manifest(&self, reference: &Reference, bytes: &[u8], media_type: &str) -> Result<(), Error> {
        let r = to_client_ref(reference);
        self.authorize(&r).await?;
        let content_type = media_type
            .parse()
            .map_err(|_| Error::Setup(format!("bad media type `{media_type}`")))?;
        self.client
            .push_manifest_raw(&r, bytes.to_vec(), content_type)
            .await
            .map(|_| ())
            .map_err(|source| Error::Request {
                what: "pushing manifest",
                target: reference.to_string(),
                source,
            })
    }
}

fn to_client_ref(r: &Reference) -> oci_client::Reference {
    match (&r.digest, &r.tag) {
        (Some(d), _) => oci_client::Reference::with_digest(r.registry.clone(), r.repository.clone(), d.to_string()),
        (None, Some(t)) => oci_client::Reference::with_tag(r.registry.clone(), r.repository.clone(), t.clone()),
        (None, None) => oci_client::Reference::with_tag(r.registry.clone(), r.repository.clone(), "latest".into()),
    }
}

/// The descriptor oci-client sends. `urls` are passed on only as the caller left them (pull
/// keeps the HTTPS URLs of a foreign layer when the release allows fetching it): oci-client
/// then tries them, without credentials, when the registry does not serve the blob.
fn to_client_descriptor(d: &Descriptor) -> OciDescriptor {
    OciDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.to_string(),
        size: i64::try_from(d.size).unwrap_or(i64::MAX),
        urls: (!d.urls.is_empty()).then(|| d.urls.clone()),
        ..OciDescriptor::default()
    }
}
