//! The OCI 1.1 referrers API in front of a `docker-registry`, which (Distribution 2.8) has
//! none. A TLS proxy on 127.0.0.1 forwards every request to the registry unchanged and
//! streaming, and adds what the API needs on top:
//!
//! - a manifest `PUT` whose body declares a `subject` is remembered once the registry has
//!   accepted it (201), and the response carries `OCI-Subject`, as the distribution spec asks;
//! - `GET /v2/<name>/referrers/<digest>` answers from that memory with an image index, after
//!   the registry has accepted the request's credentials. No `artifactType` filtering is
//!   applied (the spec allows that; clients filter themselves).
//!
//! The proxy serves the registry's own certificate, so the registry's CA trusts it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sealift::oci::{Digest, media_type};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Largest manifest body the proxy reads to look for a subject (the registry's own limit).
const MAX_MANIFEST: usize = 4 * 1024 * 1024;

/// A running proxy; stopped on drop.
pub struct ReferrersApi {
    pub host: String,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct State {
    upstream: SocketAddr,
    connector: TlsConnector,
    /// (repository, subject digest) -> descriptors of the manifests that refer to it.
    referrers: Mutex<HashMap<(String, String), Vec<Value>>>,
    /// How many referrers listings were answered, so tests can show the API was used.
    listings: AtomicUsize,
}

impl ReferrersApi {
    /// Start in front of the registry at `upstream` whose files (`server.crt`, `server.key`,
    /// `ca.crt`) are in `dir`.
    pub fn start(dir: &Path, upstream: &str) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = vec![CertificateDer::from_pem_file(dir.join("server.crt")).unwrap()];
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(dir.join("ca.crt")).unwrap()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let state = Arc::new(State {
            upstream: upstream.parse().unwrap(),
            connector: TlsConnector::from(Arc::new(client)),
            referrers: Mutex::new(HashMap::new()),
            listings: AtomicUsize::new(0),
        });

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let acceptor = TlsAcceptor::from(Arc::new(server));
        let shared = state.clone();
        // Its own runtime, so the proxy keeps serving while a test blocks on a CLI run.
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    _ = stopped => {}
                    _ = serve(listener, acceptor, shared) => {}
                }
            });
        });
        Self {
            host,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// How many referrers listings the proxy has answered.
    pub fn listings(&self) -> usize {
        self.state.listings.load(Ordering::SeqCst)
    }
}

impl Drop for ReferrersApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<State>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let (acceptor, state) = (acceptor.clone(), state.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(handle(req, &state).await.unwrap_or_else(|e| {
                        Response::builder()
                            .status(StatusCode::BAD_GATEWAY)
                            .body(full(Bytes::from(format!("referrers proxy: {e}"))))
                            .unwrap()
                    }))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

async fn handle(req: Request<Incoming>, state: &State) -> Result<Response<Body>, Failure> {
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET
        && let Some((name, subject)) = path_parts(&path, "referrers")
    {
        return list(&req, state, name, subject).await;
    }
    if req.method() == Method::PUT
        && let Some((name, _)) = path_parts(&path, "manifests")
    {
        let name = name.to_owned();
        let (parts, body) = req.into_parts();
        let bytes = Limited::new(body, MAX_MANIFEST).collect().await?.to_bytes();
        let referrer = referrer_of(&bytes);
        let mut response = forward(Request::from_parts(parts, full(bytes)), state).await?;
        if response.status() == StatusCode::CREATED
            && let Some((subject, descriptor)) = referrer
        {
            response.headers_mut().insert("OCI-Subject", subject.parse()?);
            let mut all = state.referrers.lock().unwrap();
            let listed = all.entry((name, subject)).or_default();
            if !listed.iter().any(|d| d["digest"] == descriptor["digest"]) {
                listed.push(descriptor);
            }
        }
        return Ok(response);
    }
    forward(req.map(|b| b.map_err(Failure::from).boxed()), state).await
}

/// `/v2/<name>/<kind>/<last>` split into name and last segment.
fn path_parts<'a>(path: &'a str, kind: &str) -> Option<(&'a str, &'a str)> {
    let rest = path.strip_prefix("/v2/")?;
    let (name, last) = rest.rsplit_once(&format!("/{kind}/"))?;
    (!name.is_empty() && !last.is_empty() && !last.contains('/')).then_some((name, last))
}

/// For a manifest that declares a subject: the subject's digest and the descriptor the
/// referrers listing shows for the manifest.
fn referrer_of(bytes: &[u8]) -> Option<(String, Value)> {
    let doc: Value = serde_json::from_slice(bytes).ok()?;
    let subject = doc["subject"]["digest"].as_str()?.to_owned();
    let artifact_type = doc.get("artifactType").or_else(|| doc["config"].get("mediaType")).cloned();
    let mut descriptor = json!({
        "mediaType": doc.get("mediaType").cloned().unwrap_or(json!(media_type::OCI_MANIFEST)),
        "digest": Digest::of(bytes).to_string(),
        "size": bytes.len(),
    });
    if let Some(t) = artifact_type {
        descriptor["artifactType"] = t;
    }
    if let Some(a) = doc.get("annotations") {
        descriptor["annotations"] = a.clone();
    }
    Some((subject, descriptor))
}

async fn list(req: &Request<Incoming>, state: &State, name: &str, subject: &str) -> Result<Response<Body>, Failure> {
    // The registry judges the credentials: ask it for `/v2/` with the same Authorization.
    let mut check = Request::get("/v2/").header(HOST, state.upstream.to_string());
    if let Some(auth) = req.headers().get(AUTHORIZATION) {
        check = check.header(AUTHORIZATION, auth);
    }
    let answer = forward(check.body(Empty::new().map_err(|n| match n {}).boxed())?, state).await?;
    if answer.status() != StatusCode::OK {
        return Ok(answer);
    }
    state.listings.fetch_add(1, Ordering::SeqCst);
    let manifests = state
        .referrers
        .lock()
        .unwrap()
        .get(&(name.to_owned(), subject.to_owned()))
        .cloned()
        .unwrap_or_default();
    let index = json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": manifests});
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, media_type::OCI_INDEX)
        .body(full(Bytes::from(serde_json::to_vec(&index)?)))?)
}

/// Send one request to the registry on a fresh TLS connection; the response streams back.
async fn forward(req: Request<Body>, state: &State) -> Result<Response<Body>, Failure> {
    let tcp = TcpStream::connect(state.upstream).await?;
    let name = ServerName::IpAddress(state.upstream.ip().into());
    let tls = state.connector.connect(name, tcp).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(req).await?;
    Ok(response.map(|b| b.map_err(Failure::from).boxed()))
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|n| match n {}).boxed()
}
