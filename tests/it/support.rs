//! Test support: a real registry per test, generated images pushed with sealift's own client,
//! keys, and a runner for the `sealift` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bytes::Bytes;
use sealift::bundle::{self, BundleContents, BundleFile, BundleIndex};
use sealift::oci::{Descriptor, Digest, Reference, media_type};
use sealift::progress::Silent;
use sealift::registry::{Credentials, Registry, RegistryOptions};
use sealift::sign::SigningKey;
use sealift::sign::artifact::{self, Artifact, SignatureFormat};
use sealift::store::Layout;
use serde_json::json;

use crate::referrers_api::ReferrersApi;

pub const USER: &str = "sealift";
pub const PASSWORD: &str = "sealift-test";
pub const KEY_PASSWORD: &str = "test-only-passphrase";
/// A fixed creation time so bundles are reproducible.
pub const EPOCH: &str = "1767225600";

/// A running `docker-registry` with its own CA; stopped on drop.
pub struct TestRegistry {
    pub dir: tempfile::TempDir,
    /// Where clients connect: the registry, or the referrers-API proxy in front of it.
    pub host: String,
    /// The registry itself, behind the proxy if there is one.
    pub backend: String,
    referrers_api: Option<ReferrersApi>,
}

/// `scripts/registry.sh start DIR` with the test credentials (read-only when asked); the port.
fn registry_script(dir: &Path, read_only: bool) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/registry.sh");
    let mut command = Command::new("bash");
    command.arg(script).arg("start").arg(dir).arg(USER).arg(PASSWORD);
    if read_only {
        command.env("SEALIFT_REGISTRY_READONLY", "1");
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "registry did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl TestRegistry {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("127.0.0.1:{}", registry_script(dir.path(), false));
        Self {
            dir,
            backend: host.clone(),
            host,
            referrers_api: None,
        }
    }

    /// Stop the registry and serve the same data again, read-only (Distribution's
    /// `storage.maintenance.readonly`), on a new port.
    pub fn restart_read_only(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/registry.sh");
        let stop = Command::new("bash").arg(&script).arg("stop").arg(self.dir.path()).status().unwrap();
        assert!(stop.success());
        self.host = format!("127.0.0.1:{}", registry_script(self.dir.path(), true));
        self.backend = self.host.clone();
    }

    /// A registry with the OCI 1.1 referrers API: `docker-registry` behind [`ReferrersApi`].
    pub fn with_referrers_api() -> Self {
        let mut reg = Self::start();
        let api = ReferrersApi::start(reg.dir.path(), &reg.backend);
        reg.host = api.host.clone();
        reg.referrers_api = Some(api);
        reg
    }

    /// How many referrers listings the API has answered (0 without one).
    pub fn referrers_listings(&self) -> usize {
        self.referrers_api.as_ref().map_or(0, ReferrersApi::listings)
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    pub fn client(&self) -> Registry {
        Registry::new(&RegistryOptions {
            ca_files: vec![self.ca()],
            credentials: Credentials {
                explicit: Some((USER.into(), PASSWORD.into())),
                auth_files: vec![],
            },
            jobs: 4,
            upload_chunk: sealift::registry::UPLOAD_CHUNK,
            retry: sealift::registry::RetryPolicy::default(),
        })
        .unwrap()
    }

    /// Repositories in the registry, from `/v2/_catalog`.
    pub fn catalog(&self) -> Vec<String> {
        self.list("_catalog", "repositories")
    }

    /// A repository's tags, from the registry itself (`/v2/<repo>/tags/list`).
    pub fn tags(&self, repo: &str) -> Vec<String> {
        self.list(&format!("{repo}/tags/list"), "tags")
    }

    fn list(&self, path: &str, field: &str) -> Vec<String> {
        let out = Command::new("curl")
            .args(["-sf", "--cacert"])
            .arg(self.ca())
            .args(["-u", &format!("{USER}:{PASSWORD}")])
            .arg(format!("https://{}/v2/{path}", self.backend))
            .output()
            .unwrap();
        assert!(out.status.success(), "{path} request failed");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/registry.sh");
        let _ = Command::new("bash").arg(script).arg("stop").arg(self.dir.path()).status();
    }
}

/// Files served over HTTPS on 127.0.0.1 by Python's own `http.server`, with a test
/// registry's certificate (so its CA trusts it); stopped on drop.
pub struct FileServer {
    pub dir: tempfile::TempDir,
    pub host: String,
    child: std::process::Child,
}

impl FileServer {
    pub fn start(cert_of: &TestRegistry) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = "import http.server, ssl, sys, os\n\
            os.chdir(sys.argv[1])\n\
            srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)\n\
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
            ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n\
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n\
            print(srv.server_address[1], flush=True)\n\
            srv.serve_forever()\n";
        let certs = cert_of.dir.path();
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(dir.path())
            .arg(certs.join("server.crt"))
            .arg(certs.join("server.key"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let port: u16 = line.trim().parse().expect("file server port");
        Self {
            dir,
            host: format!("127.0.0.1:{port}"),
            child,
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random bytes (a SHA-256 chain), standing in for layer content.
pub fn blob_bytes(seed: &str, len: usize) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    let mut out = Vec::with_capacity(len + 32);
    let mut block = Sha256::digest(seed.as_bytes());
    while out.len() < len {
        out.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    out.truncate(len);
    out
}

/// A blob with its descriptor JSON.
pub struct Blob {
    pub bytes: Vec<u8>,
    pub media_type: &'static str,
}

impl Blob {
    pub fn digest(&self) -> Digest {
        Digest::of(&self.bytes)
    }
    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest().to_string(), "size": self.bytes.len()})
    }
    pub fn described(&self) -> Descriptor {
        serde_json::from_value(self.descriptor()).unwrap()
    }
}

pub fn layer(seed: &str, len: usize, docker: bool) -> Blob {
    let media_type = if docker {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    } else {
        media_type::OCI_LAYER_GZIP
    };
    Blob {
        bytes: blob_bytes(seed, len),
        media_type,
    }
}

pub fn config(os: &str, arch: &str, docker: bool) -> Blob {
    let bytes = serde_json::to_vec(
        &json!({"architecture": arch, "os": os, "config": {"User": "1000"}, "rootfs": {"type": "layers", "diff_ids": []}}),
    )
    .unwrap();
    let media_type = if docker {
        "application/vnd.docker.container.image.v1+json"
    } else {
        media_type::OCI_CONFIG
    };
    Blob { bytes, media_type }
}

pub fn manifest(config: &Blob, layers: &[&Blob], docker: bool) -> Blob {
    let mt = if docker {
        media_type::DOCKER_MANIFEST
    } else {
        media_type::OCI_MANIFEST
    };
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": config.descriptor(),
        "layers": layers.iter().map(|l| l.descriptor()).collect::<Vec<_>>(),
    });
    Blob {
        bytes: serde_json::to_vec_pretty(&doc).unwrap(),
        media_type: mt,
    }
}

pub fn index(children: &[(&Blob, &str, &str)]) -> Blob {
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": children.iter().map(|(m, os, arch)| {
            let mut d = m.descriptor();
            d["platform"] = json!({"os": os, "architecture": arch});
            d
        }).collect::<Vec<_>>(),
    });
    Blob {
        bytes: serde_json::to_vec(&doc).unwrap(),
        media_type: media_type::OCI_INDEX,
    }
}

pub async fn push_blob(client: &Registry, repo: &Reference, blob: &Blob) {
    let bytes = Bytes::from(blob.bytes.clone());
    client
        .push_blob_from(repo, &blob.digest(), blob.bytes.len() as u64, std::sync::Arc::new(bytes))
        .await
        .unwrap();
}

pub async fn push_manifest(client: &Registry, repo: &Reference, m: &Blob, tag: Option<&str>) {
    let r = match tag {
        Some(t) => Reference {
            tag: Some(t.into()),
            digest: None,
            ..repo.clone()
        },
        None => repo.with_digest(m.digest()),
    };
    client.push_manifest(&r, &m.bytes, m.media_type).await.unwrap();
}

/// The images every end-to-end test uses, as pushed to a source registry.
pub struct SourceImages {
    /// `app/alpha:1.0`: one OCI manifest.
    pub alpha: Blob,
    /// `app/beta`: a Docker schema-2 manifest sharing a layer with alpha, referenced by digest.
    pub beta: Blob,
    /// `app/multi:3.0`: an index for linux/amd64 and linux/arm64.
    pub multi: Blob,
    pub multi_children: Vec<Blob>,
}

impl SourceImages {
    /// Every digest sealift signs, with its repository: the three images and multi's two
    /// platform manifests.
    pub fn subjects(&self) -> [(&'static str, Digest); 5] {
        [
            ("app/alpha", self.alpha.digest()),
            ("app/beta", self.beta.digest()),
            ("app/multi", self.multi.digest()),
            ("app/multi", self.multi_children[0].digest()),
            ("app/multi", self.multi_children[1].digest()),
        ]
    }
}

/// The 3 MiB layer every image of [`push_source_images`] has (over the 2 MiB sent whole, so
/// it goes up in chunks and `load` hashes it while it uploads).
pub fn shared_layer() -> Blob {
    layer("shared", 3 * 1024 * 1024 + 17, false)
}

pub async fn push_source_images(reg: &TestRegistry) -> SourceImages {
    let client = reg.client();
    let repo = |p: &str| -> Reference { format!("{}/{p}:x", reg.host).parse().unwrap() };
    let shared = shared_layer();
    let shared_docker = Blob {
        bytes: shared.bytes.clone(),
        media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip",
    };

    let (ca, la) = (config("linux", "amd64", false), layer("alpha-only", 300_000, false));
    let alpha = manifest(&ca, &[&shared, &la], false);
    for b in [&ca, &shared, &la] {
        push_blob(&client, &repo("app/alpha"), b).await;
    }
    push_manifest(&client, &repo("app/alpha"), &alpha, Some("1.0")).await;

    let (cb, lb) = (config("linux", "amd64", true), layer("beta-only", 200_000, true));
    let beta = manifest(&cb, &[&shared_docker, &lb], true);
    for b in [&cb, &shared_docker, &lb] {
        push_blob(&client, &repo("app/beta"), b).await;
    }
    push_manifest(&client, &repo("app/beta"), &beta, None).await;

    let (c1, l1) = (config("linux", "amd64", false), layer("multi-amd64", 400_000, false));
    let (c2, l2) = (config("linux", "arm64", false), layer("multi-arm64", 400_001, false));
    let m1 = manifest(&c1, &[&l1], false);
    let m2 = manifest(&c2, &[&l2, &shared], false);
    for b in [&c1, &l1, &c2, &l2, &shared] {
        push_blob(&client, &repo("app/multi"), b).await;
    }
    push_manifest(&client, &repo("app/multi"), &m1, None).await;
    push_manifest(&client, &repo("app/multi"), &m2, None).await;
    let multi = index(&[(&m1, "linux", "amd64"), (&m2, "linux", "arm64")]);
    push_manifest(&client, &repo("app/multi"), &multi, Some("3.0")).await;
    SourceImages {
        alpha,
        beta,
        multi,
        multi_children: vec![m1, m2],
    }
}

/// A release directory: keys, `sealift.yaml` naming the source images, a manifests folder.
pub struct Release {
    pub dir: tempfile::TempDir,
}

impl Release {
    pub fn new(source: &TestRegistry, images: &SourceImages) -> Self {
        let h = &source.host;
        Self::with_yaml(&format!(
            "name: test-release\nimages:\n  - {h}/app/alpha:1.0\n  - docker://{h}/app/beta@{}\n  - ref: {h}/app/multi:3.0\nmanifests:\n  - deploy/\n",
            images.beta.digest()
        ))
    }

    /// A release directory with the release key (`keys/sealift.key`, `.pub`), an unrelated
    /// public key (`keys/other.pub`), `deploy/app.yaml` (a ConfigMap) and this `sealift.yaml`.
    pub fn with_yaml(yaml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(sealift::sign::Algorithm::EcdsaP256).unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::write(
            dir.path().join("keys/sealift.key"),
            key.to_encrypted_pem(KEY_PASSWORD.as_bytes()).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("keys/sealift.pub"), key.public_key().unwrap().to_pem().unwrap()).unwrap();
        let other = SigningKey::generate(sealift::sign::Algorithm::EcdsaP256).unwrap();
        std::fs::write(dir.path().join("keys/other.pub"), other.public_key().unwrap().to_pem().unwrap()).unwrap();
        std::fs::create_dir_all(dir.path().join("deploy")).unwrap();
        std::fs::write(
            dir.path().join("deploy/app.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("sealift.yaml"), yaml).unwrap();
        Self { dir }
    }

    /// Write `file` in the release directory.
    pub fn write(&self, file: &str, text: &str) {
        let p = self.path(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// `sealift/bundle.json` of a bundle in the release directory.
    pub fn bundle_json(&self, bundle: &str) -> BundleIndex {
        serde_json::from_slice(&self.extract(bundle, "sealift/bundle.json")).unwrap()
    }

    /// One entry of a bundle in the release directory, read with `tar`.
    pub fn extract(&self, bundle: &str, entry: &str) -> Vec<u8> {
        let out = Command::new("tar").arg("-xOf").arg(self.path(bundle)).arg(entry).output().unwrap();
        assert!(out.status.success(), "{bundle}: {entry}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

/// Run the `sealift` binary in `cwd` with test credentials in the environment.
pub fn sealift(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealift"))
        .current_dir(cwd)
        .args(args)
        .env("SEALIFT_PASSWORD", KEY_PASSWORD)
        .env("SEALIFT_REGISTRY_USERNAME", USER)
        .env("SEALIFT_REGISTRY_PASSWORD", PASSWORD)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("HOME", cwd)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_STATE_HOME")
        .env_remove("SEALIFT_STATE_DIR")
        .env_remove("SEALIFT_SITE_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `sealift bundle create -f FILE -o OUT` with the release key, trusting the source's CA.
pub fn create(release: &Release, source: &TestRegistry, file: &str, out: &str) -> Output {
    let ca = source.ca();
    sealift(
        release.dir.path(),
        &[
            "bundle",
            "create",
            "-f",
            file,
            "-o",
            out,
            "--key",
            "keys/sealift.key",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    )
}

/// Build a bundle from `sealift.yaml` with the CLI; panics with the output on failure.
pub fn create_bundle(release: &Release, source: &TestRegistry, out: &str) -> PathBuf {
    let o = create(release, source, "sealift.yaml", out);
    assert!(o.status.success(), "bundle create failed:\n{}", text(&o));
    release.path(out)
}

/// `sealift load BUNDLE --key keys/sealift.pub` into `target`, trusting its CA, plus `extra`.
pub fn load(release: &Release, bundle: &str, target: &TestRegistry, extra: &[&str]) -> Output {
    load_at(release, bundle, &target.host, &target.ca(), extra)
}

/// `sealift load BUNDLE --key keys/sealift.pub` into the registry at `host` (a proxy in
/// front of one, say), trusting `ca`, plus `extra`.
pub fn load_at(release: &Release, bundle: &str, host: &str, ca: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "load",
        bundle,
        "--key",
        "keys/sealift.pub",
        "--registry",
        host,
        "--ca-file",
        ca.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    sealift(release.dir.path(), &args)
}

/// Publish a signature object the way cosign does: blobs, then the manifest (legacy: at its
/// `.sig` tag; bundle: by digest, plus the `sha256-<hex>` index when `tag_schema` is set, as a
/// registry without the referrers API needs).
pub async fn publish(client: &Registry, repo: &Reference, subject: &Digest, a: &Artifact, tag_schema: bool) {
    for b in &a.blobs {
        let blob = Blob {
            bytes: b.bytes.clone(),
            media_type: media_type::OCI_CONFIG,
        };
        push_blob(client, repo, &blob).await;
    }
    let manifest = Blob {
        bytes: a.manifest.bytes.clone(),
        media_type: media_type::OCI_MANIFEST,
    };
    match a.format {
        SignatureFormat::CosignLegacy => push_manifest(client, repo, &manifest, Some(&artifact::legacy_tag(subject))).await,
        SignatureFormat::SigstoreBundle => {
            push_manifest(client, repo, &manifest, None).await;
            if tag_schema {
                let index = artifact::referrers_index(std::slice::from_ref(&a.manifest.descriptor));
                let index = Blob {
                    bytes: index.bytes,
                    media_type: media_type::OCI_INDEX,
                };
                push_manifest(client, repo, &index, Some(&artifact::fallback_tag(subject))).await;
            }
        }
    }
}

/// A blob's bytes, fetched from the registry.
pub async fn fetch_blob_bytes(client: &Registry, repo: &Reference, d: &Descriptor) -> Vec<u8> {
    use futures_util::TryStreamExt as _;
    let chunks: Vec<Bytes> = client.fetch_blob(repo, d).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

/// The Sigstore bundle JSON of the one referrer listed for `subject` (its API or the
/// tag-schema index), after checking that it is a bundle whose manifest names `subject`.
pub async fn sole_bundle_referrer(client: &Registry, repo: &Reference, subject: &Digest) -> Vec<u8> {
    let listed = client.referrers(repo, subject).await.unwrap();
    assert_eq!(listed.len(), 1, "{repo} {subject}: {listed:?}");
    assert_eq!(listed[0].artifact_type.as_deref(), Some(sealift::sign::sigstore_bundle::BUNDLE_V03));
    let referrer = client.fetch_manifest(&repo.with_digest(listed[0].digest.clone())).await.unwrap();
    let sealift::oci::Manifest::Image {
        layers, subject: named, ..
    } = sealift::oci::Manifest::parse(&referrer.bytes, media_type::OCI_MANIFEST).unwrap()
    else {
        panic!("referrer of {subject} is not an image manifest");
    };
    assert_eq!(named.unwrap().digest, *subject);
    assert_eq!(layers.len(), 1);
    fetch_blob_bytes(client, repo, &layers[0]).await
}

/// A path in the team's shared test data: `../shared` next to the repository, or
/// `SEALIFT_SHARED`.
pub fn shared(p: &str) -> PathBuf {
    let root = std::env::var_os("SEALIFT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        root.is_dir(),
        "shared test data not found at {} (set SEALIFT_SHARED)",
        root.display()
    );
    root.join(p)
}

/// Unpack a bundle (a file in `dir_of`, which holds `keys/sealift.key`) with `tar`, let `edit`
/// change its index and add blobs to its layout, and write it again with its release files,
/// signed with the release key: bundle.json stays properly signed, so only the later
/// verification steps can object.
pub fn rebundle(dir_of: &Path, from: &str, to: &str, edit: impl FnOnce(&mut BundleIndex, &Layout, &SigningKey) -> Vec<Descriptor>) {
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(dir_of.join(from))
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let mut index: BundleIndex = serde_json::from_slice(&std::fs::read(dir.path().join("sealift/bundle.json")).unwrap()).unwrap();
    let layout = Layout::open(dir.path()).unwrap();
    let pem = std::fs::read_to_string(dir_of.join("keys/sealift.key")).unwrap();
    let key = SigningKey::from_pem(&pem, KEY_PASSWORD.as_bytes()).unwrap();
    let mut blobs: Vec<Descriptor> = index
        .entries
        .iter()
        .filter_map(|e| {
            let hex = e.path.strip_prefix("blobs/sha256/")?;
            Some(Descriptor::new(
                e.media_type.as_deref().unwrap_or("application/octet-stream"),
                Digest::from_hex(hex).unwrap(),
                e.size,
            ))
        })
        .collect();
    blobs.extend(edit(&mut index, &layout, &key));
    let files: Vec<BundleFile> = index
        .entries
        .iter()
        .filter(|e| e.path.starts_with("sealift/"))
        .map(|e| BundleFile {
            path: e.path.clone(),
            source: dir.path().join(&e.path),
        })
        .collect();
    let contents = BundleContents {
        layout: &layout,
        files: &files,
        blobs: &blobs,
        mtime: 1,
        scratch: dir_of,
        rehash_blobs: true,
    };
    bundle::write(&dir_of.join(to), index, &contents, &key, &Silent).unwrap();
}
