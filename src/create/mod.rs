//! The connected side's pipeline: `sealift.yaml` → pull every image into a staging layout →
//! collect the release files → write and sign one bundle.

mod image_signing;
mod provenance;
mod release_files;
pub mod release_harden;
mod release_scan;
mod scan;

use std::path::{Path, PathBuf};

use futures_util::{StreamExt as _, TryStreamExt as _};

pub use release_scan::{ReleaseScan, ScanPlan};
pub use scan::{ScanOptions, scan_source};

use crate::bundle::{self, BundleIndex, ImageRecord, Tool, WriteReport};
use crate::oci::{Descriptor, SourceRef};
use crate::policy::Release;
use crate::progress::Reporter;
use crate::registry::{self, Registry, RegistryOptions};
use crate::sign::{self, Algorithm, SigningKey};
use crate::source::{self, PulledImage};
use crate::store::{self, Layout, REF_NAME_ANNOTATION};

/// Errors building a bundle.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Pulling an image failed.
    #[error(transparent)]
    Pull(#[from] source::Error),
    /// The registry client could not be set up.
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// The staging layout failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Writing the bundle failed.
    #[error(transparent)]
    Bundle(#[from] bundle::Error),
    /// A release file (manifest) cannot be used.
    #[error("{path}: {reason}")]
    ReleaseFile {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An image lacks the upstream signature `sealift.yaml` requires.
    #[error("image `{image}`: upstream provenance: {reason}")]
    Provenance {
        /// The image as written in `sealift.yaml`.
        image: String,
        /// What was looked for and found.
        reason: String,
    },
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] sign::Error),
    /// Scanning an image failed.
    #[error(transparent)]
    Scan(#[from] crate::scan::Error),
    /// The vulnerability policy says no: findings at or above `fail-on` that no current
    /// allowance covers. Nothing was written.
    #[error("vulnerability policy: {} finding(s) at or above `fail-on: {}` are not allowed", .0.verdict.blocked.len(), .0.verdict.fail_on.map(|s| s.as_str()).unwrap_or("-"))]
    PolicyGate(Box<ReleaseScan>),
    /// The release key cannot make image signatures.
    #[error(
        "the release key {0} is Ed25519; image signatures need a P-256 key (cosign verifiers disagree on Ed25519). Sign with a P-256 key and add the Ed25519 key with `sealift bundle sign`"
    )]
    ImageKeyAlgorithm(String),
    /// The manifests cannot be hardened (unparsable, or an image the bundle lacks).
    #[error("hardening manifests: {0}")]
    Harden(crate::harden::Error),
    /// A blocking task failed to complete.
    #[error("internal task failed: {0}")]
    Task(String),
}

/// Everything `bundle create` needs.
pub struct CreateOptions<'a> {
    /// The release description.
    pub release: &'a Release,
    /// Where to write the bundle.
    pub output: &'a Path,
    /// The release signing key.
    pub key: &'a SigningKey,
    /// How to reach source registries.
    pub registry: RegistryOptions,
    /// Creation time, seconds since the epoch (tar mtimes and `created`).
    pub created: u64,
    /// Staging directory; a temporary one next to the output when absent.
    pub staging: Option<PathBuf>,
    /// Scan every image and platform into the bundle, and gate on the policy.
    pub scan: Option<ScanPlan<'a>>,
    /// The `bundle.json` digest of the bundle this one follows, recorded for `load`'s order
    /// check.
    pub follows: Option<crate::oci::Digest>,
}

/// What `bundle create` did.
#[derive(Debug, Clone)]
pub struct CreateReport {
    /// Images carried.
    pub images: Vec<ImageRecord>,
    /// Release files (manifests) included; scan documents are counted in `scan`.
    pub files: usize,
    /// The written bundle.
    pub written: WriteReport,
    /// What scanning found, when the release was scanned.
    pub scan: Option<ReleaseScan>,
    /// What hardening changed and left, when the release has manifests.
    pub harden: Option<release_harden::Hardening>,
}

/// Build and sign a bundle. Needs a multi-threaded Tokio runtime (writing runs in place).
pub async fn create(options: CreateOptions<'_>, reporter: &(dyn Reporter + 'static)) -> Result<CreateReport, Error> {
    if options.key.algorithm() != Algorithm::EcdsaP256 {
        return Err(Error::ImageKeyAlgorithm(options.key.public_key()?.id().to_string()));
    }
    let out_dir = options
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Staging and the bundle being written live in this run's directory, which a later run
    // removes if this one is killed.
    let run = crate::store::RunDir::create(out_dir).map_err(|e| Error::ReleaseFile {
        path: out_dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let staging = options.staging.clone().unwrap_or_else(|| run.path().join("staging"));
    let layout = Layout::create(&staging)?;
    let registry = Registry::new(&options.registry)?;
    // Images are resolved and pulled several at once (blob downloads stay within `--jobs`
    // across them, and a blob two images share is fetched once).
    let fetched: Vec<PulledImage> = futures_util::stream::iter(
        options
            .release
            .images
            .iter()
            .map(|spec| source::pull(spec, &registry, &layout, reporter)),
    )
    .buffered(registry.jobs())
    .try_collect()
    .await?;
    let mut pulled: Vec<PulledImage> = Vec::new();
    let mut upstream = Vec::new();
    for (spec, image) in options.release.images.iter().zip(fetched) {
        for earlier in &pulled {
            image.graph.agrees_with(&earlier.graph).map_err(|e| {
                Error::Pull(source::Error::Graph {
                    image: format!("{} (and `{}`)", image.source, earlier.source),
                    source: Box::new(e),
                })
            })?;
        }
        upstream.push(check_provenance(options.release, spec, &image, &registry, &layout, reporter).await?);
        pulled.push(image);
    }
    // Layers are read again for user names and scans: a staging layout of this run's own was
    // checked blob by blob as it arrived, and is not hashed again; one kept from an earlier run
    // (`--staging`) is.
    let staged = crate::store::Staged(&layout);
    let layers: &dyn crate::store::Blobs = if options.staging.is_some() { &layout } else { &staged };
    let mut files = release_files::collect(&options.release.manifests)?;
    let release_file_count = files.len();

    let mut top = Vec::new();
    let mut blobs: Vec<Descriptor> = Vec::new();
    let mut images = Vec::new();
    let created = rfc3339(options.created);
    for ((p, spec), up) in pulled.iter().zip(&options.release.images).zip(upstream) {
        let identity = match &spec.source {
            SourceRef::Docker(r) => r.name(),
            _ => p.repository.clone(),
        };
        let (platforms, artifacts) = bundle::graph_records(&p.graph, &p.root.digest);
        let mut signed = image_signing::sign_image(&layout, options.key, p, &platforms, &identity, &created)?;
        signed.records.extend(up.signed.records);
        signed.top.extend(up.signed.top);
        signed.blobs.extend(up.signed.blobs);
        let record = ImageRecord {
            source: p.source.clone(),
            repository: p.repository.clone(),
            tag: p.tag.clone(),
            digest: p.root.digest.clone(),
            media_type: p.root.media_type.clone(),
            size: p.root.size,
            source_digest: p.source_digest.clone(),
            platforms,
            artifacts,
            signatures: signed.records,
            upstream_keys: up.pems,
            config: tokio::task::block_in_place(|| release_harden::image_config(&layout, layers, p))?,
        };
        let mut desc = p.root.clone();
        desc.annotations.insert(REF_NAME_ANNOTATION.to_owned(), record.display_name());
        blobs.extend(p.blobs.iter().cloned());
        blobs.extend(signed.blobs);
        // Two names for one image, or one image listed twice, give one index.json entry each.
        for d in std::iter::once(desc).chain(signed.top) {
            if !top
                .iter()
                .any(|t: &Descriptor| t.digest == d.digest && t.annotations == d.annotations)
            {
                top.push(d);
            }
        }
        images.push(record);
    }
    let key_pem = options.key.public_key()?.to_pem()?;
    let hardening = release_harden::harden_release(
        &options.release.harden,
        &mut files,
        &images,
        &key_pem,
        &staging.join("sealift-harden"),
    )?;
    // The gate comes before anything is written: a "no" leaves no bundle behind.
    let scanned = match &options.scan {
        Some(plan) => {
            let roots: Vec<(String, &PulledImage)> = images.iter().zip(&pulled).map(|(r, p)| (r.display_name(), p)).collect();
            let dir = staging.join("sealift-scan");
            let (scanned, scan_files) =
                tokio::task::block_in_place(|| release_scan::scan_images(&layout, layers, &roots, plan, &dir, reporter))?;
            if !scanned.verdict.passed() {
                return Err(Error::PolicyGate(Box::new(scanned)));
            }
            files.extend(scan_files);
            Some(scanned)
        }
        None => None,
    };
    layout.write_index(top)?;
    let index = BundleIndex {
        schema_version: bundle::SCHEMA_VERSION,
        name: options.release.name.clone(),
        created,
        tool: Tool {
            name: "sealift".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        follows: options.follows.clone(),
        images: images.clone(),
        scan: scanned.as_ref().map(|s| s.record.clone()),
        harden: hardening.as_ref().map(|h| h.record.clone()),
        entries: Vec::new(),
    };
    let contents = bundle::BundleContents {
        layout: &layout,
        files: &files,
        blobs: &blobs,
        mtime: options.created,
        scratch: run.path(),
        // Every blob in a staging layout of this run's own was hashed as it arrived; one kept
        // from an earlier run (`--staging`) may have changed since, and is hashed again.
        rehash_blobs: options.staging.is_some(),
    };
    let written = tokio::task::block_in_place(|| bundle::write(options.output, index, &contents, options.key, reporter))?;
    Ok(CreateReport {
        images,
        files: release_file_count,
        written,
        scan: scanned,
        harden: hardening,
    })
}

/// Upstream signatures found for one image (empty when none are required).
#[derive(Default)]
struct Upstream {
    pems: Vec<String>,
    signed: image_signing::Signed,
}

async fn check_provenance(
    release: &Release,
    spec: &crate::policy::ImageSpec,
    image: &PulledImage,
    registry: &Registry,
    layout: &Layout,
    reporter: &dyn Reporter,
) -> Result<Upstream, Error> {
    let paths = spec.provenance.as_deref().unwrap_or(&release.provenance);
    if paths.is_empty() {
        return Ok(Upstream::default());
    }
    let (keys, pems) = provenance::read_keys(paths)?;
    let SourceRef::Docker(reference) = &spec.source else {
        return Err(Error::Provenance {
            image: image.source.clone(),
            reason: "upstream signatures are only looked up in registries (docker:// sources)".into(),
        });
    };
    let subject = image.source_digest.clone().unwrap_or_else(|| image.root.digest.clone());
    let found = provenance::check(registry, reference, &subject, &keys, &image.source).await?;
    reporter.note(&format!(
        "{}: upstream signature verified ({} object(s))",
        image.source,
        found.len()
    ));
    let signed = provenance::store(layout, &found, &subject)?;
    Ok(Upstream { pems, signed })
}

/// Seconds since the epoch as RFC 3339 UTC.
#[must_use]
pub fn rfc3339(secs: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
