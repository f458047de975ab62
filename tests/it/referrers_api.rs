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
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use sealift::oci::{Digest, media_type};
use serde_json::{Value, json};

use crate::tls_proxy::{self, Body, Failure, Running, Upstream, full};

/// Largest manifest body the proxy reads to look for a subject (the registry's own limit).
const MAX_MANIFEST: usize = 4 * 1024 * 1024;

/// A running proxy; stopped on drop.
pub struct ReferrersApi {
    pub host: String,
    state: Arc<State>,
    _running: Running,
}

struct State {
    upstream: Upstream,
    /// (repository, subject digest) -> descriptors of the manifests that refer to it.
    referrers: Mutex<HashMap<(String, String), Vec<Value>>>,
    /// How many referrers listings were answered, so tests can show the API was used.
    listings: AtomicUsize,
}

impl ReferrersApi {
    /// Start in front of the registry at `upstream` whose files (`server.crt`, `server.key`,
    /// `ca.crt`) are in `dir`.
    pub fn start(dir: &Path, upstream: &str) -> Self {
        let (acceptor, upstream) = tls_proxy::tls(dir, upstream);
        let state = Arc::new(State {
            upstream,
            referrers: Mutex::new(HashMap::new()),
            listings: AtomicUsize::new(0),
        });
        let running = tls_proxy::start(acceptor, state.clone(), |req, state| async move { handle(req, &state).await });
        Self {
            host: running.host.clone(),
            state,
            _running: running,
        }
    }

    /// How many referrers listings the proxy has answered.
    pub fn listings(&self) -> usize {
        self.state.listings.load(Ordering::SeqCst)
    }
}

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
        let mut response = state.upstream.forward(Request::from_parts(parts, full(bytes))).await?;
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
    state.upstream.forward(req.map(|b| b.map_err(Failure::from).boxed())).await
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
    let mut check = Request::get("/v2/").header(HOST, state.upstream.addr.to_string());
    if let Some(auth) = req.headers().get(AUTHORIZATION) {
        check = check.header(AUTHORIZATION, auth);
    }
    let answer = state
        .upstream
        .forward(check.body(Empty::new().map_err(|n| match n {}).boxed())?)
        .await?;
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
