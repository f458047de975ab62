//! Media types sealift reads and writes.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list, schema 2.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Every manifest media type sealift accepts, in the order it asks registries for them.
pub const ACCEPTED_MANIFESTS: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST];

/// Is this an index (a list of manifests) media type?
#[must_use]
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Is this a single image manifest media type?
#[must_use]
pub fn is_image_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Is this any manifest (image or index) media type?
#[must_use]
pub fn is_manifest(media_type: &str) -> bool {
    is_index(media_type) || is_image_manifest(media_type)
}

/// Docker image config (schema 2).
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// The OCI empty descriptor's media type (`{}`), the config of most OCI 1.1 artifacts.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// cosign's legacy simple-signing payload (the layer of a `sha256-<hex>.sig` image).
pub const COSIGN_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Sigstore bundles as OCI artifacts: `application/vnd.dev.sigstore.bundle.v0.3+json` and kin.
pub const SIGSTORE_BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// An in-toto statement (buildx attestation layers, cosign attestations).
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// A DSSE envelope (cosign attestations).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";

/// The annotation buildx puts on an index entry to say what kind of manifest it names.
pub const DOCKER_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// Its value for attestation manifests.
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// Layer media types whose content is a tar stream (plain, gzip or zstd; OCI image spec
/// `layer.md`, the non-distributable variants included, and Docker's schema-2 layers).
pub const TAR_LAYERS: [&str; 11] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
];

/// Is this a layer media type whose content is a (possibly compressed) tar stream?
#[must_use]
pub fn is_tar_layer(media_type: &str) -> bool {
    TAR_LAYERS.contains(&media_type)
}

/// Is this the config media type of a container image (one a runtime can run)?
#[must_use]
pub fn is_container_config(media_type: &str) -> bool {
    media_type == OCI_CONFIG || media_type == DOCKER_CONFIG
}

/// Does a layer of this media type have to be fetched from elsewhere than the registry that
/// serves the image (OCI non-distributable, Docker foreign layers)?
#[must_use]
pub fn is_non_distributable(media_type: &str) -> bool {
    media_type.contains(".nondistributable.") || media_type.contains(".foreign.")
}
