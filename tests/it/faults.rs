//! Flaky and hostile registries: a fault-injecting TLS proxy in front of `docker-registry`
//! (which cannot fail on demand), and what sealift does through it. The proxy forwards every
//! request unchanged and streaming, except where a test's rule says to answer with an error
//! status, cut a response body short, send a body that never ends, or pad one. It counts the
//! requests it saw and the body bytes it sent, so a test can show that a retry happened, that a
//! resumed download did not start again from byte 0, and that an endless body was dropped
//! soon after the limit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response};

use crate::support::*;
use crate::tls_proxy::{self, Body, Failure, Running, Upstream, full};

/// What the proxy does to a request that a rule matches.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds, when given) instead of forwarding.
    Status { status: u16, retry_after: Option<u64> },
    /// Forward, but end the connection after this many bytes of the response body.
    CutBody { after: u64 },
    /// Answer with this status and a body that never ends.
    Endless { status: u16 },
    /// Forward, with this many spaces added to the end of the body.
    Pad { extra: usize },
    /// Wait this many milliseconds, then forward.
    Stall { ms: u64 },
    /// Forward only this many bytes of a request body that is longer and whose
    /// `Content-Range` does not start at 0 (a later chunk of an upload), then break both
    /// connections; `left` says how many more times (other requests pass and do not count).
    CutRequest {
        after: u64,
        left: Arc<std::sync::atomic::AtomicUsize>,
    },
}

/// A fault for requests whose method matches and whose path contains `path`, `times` times.
#[derive(Clone, Debug)]
pub struct Rule {
    pub method: Method,
    pub path: String,
    pub fault: Fault,
    pub times: usize,
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub range: Option<String>,
    /// Response body bytes the proxy sent for it.
    pub sent: Arc<std::sync::atomic::AtomicU64>,
    /// Request body bytes it forwarded.
    pub received: Arc<std::sync::atomic::AtomicU64>,
}

/// What the proxy's token service answers when the proxy asks for bearer tokens (the
/// distribution token spec; docker-registry itself only does basic auth here).
#[derive(Clone, Copy, Debug)]
pub enum TokenService {
    /// A token, for requests that bring the test credentials.
    Token,
    /// A body that never ends.
    Endless,
}

/// The token the proxy's token service hands out.
const TOKEN: &str = "fault-proxy-token";

struct State {
    upstream: Upstream,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    tokens: Mutex<Option<TokenService>>,
}

/// A running proxy; stopped on drop.
pub struct FaultProxy {
    pub host: String,
    state: Arc<State>,
    _running: Running,
}

impl FaultProxy {
    /// Start in front of `registry`, serving its certificate (so its CA trusts the proxy).
    pub fn start(registry: &TestRegistry) -> Self {
        let (acceptor, upstream) = tls_proxy::tls(registry.dir.path(), &registry.backend);
        let state = Arc::new(State {
            upstream,
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            tokens: Mutex::new(None),
        });
        let running = tls_proxy::start(acceptor, state.clone(), |req, state| async move { handle(req, &state).await });
        Self {
            host: running.host.clone(),
            state,
            _running: running,
        }
    }

    pub fn add(&self, method: Method, path: &str, fault: Fault, times: usize) {
        self.state.rules.lock().unwrap().push(Rule {
            method,
            path: path.to_owned(),
            fault,
            times,
        });
    }

    /// From now on, answer `/v2/` requests without the proxy's bearer token with a 401 and a
    /// `Bearer` challenge naming the proxy's `/token` service, which answers as `service` says;
    /// requests with the token go on to the registry with its basic credentials.
    pub fn require_tokens(&self, service: TokenService) {
        *self.state.tokens.lock().unwrap() = Some(service);
    }

    /// Forget the rules and the requests seen.
    pub fn clear(&self) {
        self.state.rules.lock().unwrap().clear();
        self.state.seen.lock().unwrap().clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Requests of `method` whose path contains `path`.
    pub fn requests(&self, method: &Method, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == *method && s.path.contains(path))
            .collect()
    }
}

/// Whether `path` holds the parts of `pattern` between its `*`s, in order.
fn matches(pattern: &str, path: &str) -> bool {
    let mut rest = path;
    for part in pattern.split('*') {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// `POST`s asking to mount a blob from another repository (not the same-repository asks that
/// open small blobs' upload sessions).
fn cross_mounts(proxy: &FaultProxy) -> Vec<Seen> {
    proxy
        .requests(&Method::POST, "/blobs/uploads/?mount=")
        .into_iter()
        .filter(|s| {
            let into = s.path.trim_start_matches("/v2/").split("/blobs/").next().unwrap_or_default();
            !s.path.ends_with(&format!("&from={into}"))
        })
        .collect()
}

async fn handle(mut req: Request<Incoming>, state: &State) -> Result<Response<Body>, Failure> {
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    state.seen.lock().unwrap().push(Seen {
        method: req.method().clone(),
        path: path.clone(),
        range: req
            .headers()
            .get("range")
            .or_else(|| req.headers().get("content-range"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        sent: sent.clone(),
        received: received.clone(),
    });
    let tokens = *state.tokens.lock().unwrap();
    if let Some(service) = tokens {
        use base64::Engine as _;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
        );
        let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        if path.starts_with("/token?") {
            if authorization != basic {
                return Ok(Response::builder()
                    .status(401)
                    .body(counted(full(Bytes::from("no credentials")), sent, None))?);
            }
            return Ok(match service {
                TokenService::Token => {
                    let answer = format!(r#"{{"token":"{TOKEN}","expires_in":300}}"#);
                    Response::builder()
                        .status(200)
                        .body(counted(full(Bytes::from(answer)), sent, None))?
                }
                TokenService::Endless => {
                    let endless =
                        futures_util::stream::repeat(Bytes::from(vec![b' '; 64 * 1024])).map(|c| Ok::<_, Failure>(Frame::data(c)));
                    Response::builder()
                        .status(200)
                        .body(counted(http_body_util::BodyExt::boxed(StreamBody::new(endless)), sent, None))?
                }
            });
        }
        if authorization != format!("Bearer {TOKEN}") {
            let host = req.headers().get("host").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            return Ok(Response::builder()
                .status(401)
                .header(
                    "www-authenticate",
                    format!(r#"Bearer realm="https://{host}/token",service="fault-proxy""#),
                )
                .body(counted(full(Bytes::from(r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#)), sent, None))?);
        }
        req.headers_mut().insert("authorization", basic.parse().unwrap());
    }
    let fault = {
        let mut rules = state.rules.lock().unwrap();
        let hit = rules
            .iter_mut()
            .find(|r| r.times > 0 && r.method == req.method() && matches(&r.path, &path));
        hit.map(|r| {
            r.times -= 1;
            r.fault.clone()
        })
    };
    match fault {
        Some(Fault::Status { status, retry_after }) => {
            let mut response = Response::builder().status(status);
            if let Some(secs) = retry_after {
                response = response.header("retry-after", secs.to_string());
            }
            let body = format!(r#"{{"errors":[{{"code":"INJECTED","message":"fault proxy says {status}"}}]}}"#);
            Ok(response.body(counted(full(Bytes::from(body)), sent, None))?)
        }
        Some(Fault::Endless { status }) => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let endless = futures_util::stream::repeat(chunk).map(|c| Ok::<_, Failure>(Frame::data(c)));
            let body = http_body_util::BodyExt::boxed(StreamBody::new(endless));
            Ok(Response::builder().status(status).body(counted(body, sent, None))?)
        }
        Some(Fault::Stall { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let req = req.map(|b| counted(b.map_err(Failure::from).boxed(), received, None));
            let response = state.upstream.forward(req).await?;
            Ok(response.map(|b| counted(b, sent, None)))
        }
        Some(Fault::Pad { extra }) => {
            let response = state.upstream.forward(req.map(|b| b.map_err(Failure::from).boxed())).await?;
            let (mut parts, body) = response.into_parts();
            let mut bytes = body.collect().await?.to_bytes().to_vec();
            bytes.extend(std::iter::repeat_n(b' ', extra));
            parts.headers.remove(hyper::header::CONTENT_LENGTH);
            Ok(Response::from_parts(parts, counted(full(Bytes::from(bytes)), sent, None)))
        }
        Some(Fault::CutRequest { after, left }) => {
            let later_chunk = req
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|r| !r.starts_with("0-"));
            let left = if later_chunk {
                left
            } else {
                Arc::new(std::sync::atomic::AtomicUsize::new(0))
            };
            let req = req.map(|b| cut_once(b.map_err(Failure::from).boxed(), received, after, left));
            let response = state.upstream.forward(req).await?;
            Ok(response.map(|b| counted(b, sent, None)))
        }
        Some(Fault::CutBody { after }) => {
            let response = state.upstream.forward(req.map(|b| b.map_err(Failure::from).boxed())).await?;
            Ok(response.map(|b| counted(b, sent, Some(after))))
        }
        None => {
            let req = req.map(|b| counted(b.map_err(Failure::from).boxed(), received, None));
            let response = state.upstream.forward(req).await?;
            Ok(response.map(|b| counted(b, sent, None)))
        }
    }
}

/// `body`, counting the bytes sent, and failing (which ends the connection) after `cut`.
fn counted(body: Body, sent: Arc<std::sync::atomic::AtomicU64>, cut: Option<u64>) -> Body {
    use std::sync::atomic::Ordering;
    let stream = body.into_data_stream().map(move |chunk| {
        let mut chunk = chunk?;
        let before = sent.load(Ordering::SeqCst);
        if let Some(limit) = cut {
            if before >= limit {
                return Err::<Frame<Bytes>, Failure>("fault proxy: connection cut".into());
            }
            let room = usize::try_from(limit - before).unwrap_or(usize::MAX);
            if chunk.len() > room {
                chunk = chunk.slice(..room);
            }
        }
        sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Ok(Frame::data(chunk))
    });
    // After the cut point the next poll errs, which aborts the connection mid-body.
    let stream = stream.chain(futures_util::stream::iter(
        cut.map(|_| Err::<Frame<Bytes>, Failure>("fault proxy: connection cut".into())),
    ));
    http_body_util::BodyExt::boxed(StreamBody::new(stream))
}

/// `body`, counting its bytes, cut after `after` bytes if it gets that far and `left` allows:
/// the bytes up to the cut go on, then an error ends the connection.
fn cut_once(body: Body, counter: Arc<std::sync::atomic::AtomicU64>, after: u64, left: Arc<std::sync::atomic::AtomicUsize>) -> Body {
    use std::sync::atomic::{AtomicBool, Ordering};
    let cut = Arc::new(AtomicBool::new(false));
    let cutting = cut.clone();
    let stream = body.into_data_stream().map(move |chunk| {
        let mut chunk = chunk?;
        if cutting.load(Ordering::SeqCst) {
            return Err::<Frame<Bytes>, Failure>("fault proxy: connection cut".into());
        }
        let before = counter.load(Ordering::SeqCst);
        if before + chunk.len() as u64 > after && left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            cutting.store(true, Ordering::SeqCst);
            chunk = chunk.slice(..usize::try_from(after - before).unwrap_or(0));
        }
        counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Ok(Frame::data(chunk))
    });
    let tail = futures_util::stream::once(async move { cut.load(Ordering::SeqCst) })
        .filter_map(|cut| async move { cut.then(|| Err::<Frame<Bytes>, Failure>("fault proxy: connection cut".into())) });
    http_body_util::BodyExt::boxed(StreamBody::new(stream.chain(tail)))
}

/// A release whose images are reached through `proxy`.
fn through(release: &Release, source: &TestRegistry, proxy: &FaultProxy) {
    let yaml = std::fs::read_to_string(release.path("sealift.yaml")).unwrap();
    std::fs::write(release.path("sealift.yaml"), yaml.replace(&source.host, &proxy.host)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_registry_faults_are_retried_and_a_broken_download_resumes() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let proxy = FaultProxy::start(&source);
    let release = Release::new(&source, &images);
    through(&release, &source, &proxy);
    create_bundle(&release, &source, "direct.tar");
    proxy.clear();

    // 500 twice on a manifest, 429 with Retry-After once on another, a layer cut halfway.
    proxy.add(
        Method::GET,
        "/app/alpha/manifests/",
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        2,
    );
    proxy.add(
        Method::GET,
        "/app/beta/manifests/",
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
        1,
    );
    // A 401 (an expired token, say): the credentials are fetched again and the request redone.
    proxy.add(
        Method::GET,
        "/app/multi/manifests/",
        Fault::Status {
            status: 401,
            retry_after: None,
        },
        1,
    );
    let shared = crate::support::shared_layer();
    let blob_path = format!("/blobs/{}", shared.digest());
    let size = shared.bytes.len() as u64;
    let half = size / 2;
    proxy.add(Method::GET, &blob_path, Fault::CutBody { after: half }, 1);
    let started = Instant::now();
    let o = create(&release, &source, "sealift.yaml", "flaky.tar");
    assert!(o.status.success(), "{}", text(&o));
    assert!(started.elapsed() >= Duration::from_secs(1), "the Retry-After second was not waited");
    let alpha = proxy.requests(&Method::GET, "/app/alpha/manifests/1.0");
    assert!(alpha.len() >= 3, "alpha's manifest was asked for {} times", alpha.len());
    // The cut download was resumed from where it broke, not started again.
    let pulls = proxy.requests(&Method::GET, &blob_path);
    let sent = |s: &Seen| s.sent.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(sent(&pulls[0]), half, "{pulls:?}");
    let resumed: Vec<&Seen> = pulls.iter().filter(|p| p.range.is_some()).collect();
    assert_eq!(resumed.len(), 1, "{pulls:?}");
    // The proxy sent `half` bytes before cutting; under load the client may have read fewer
    // of them off the socket before the cut, and resumes from what it received.
    let from: u64 = resumed[0]
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
        .unwrap_or_else(|| panic!("not an open range from an offset: {:?}", resumed[0].range));
    assert!(from > 0 && from <= half, "resumed from {from}, the cut came after {half}");
    assert_eq!(sent(resumed[0]), size - from, "the resumed request sent only the rest");
    // Same digests as a bundle made without faults.
    let index = |file: &str| {
        let o = sealift(release.dir.path(), &["bundle", "inspect", file, "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["index"]["images"].clone()
    };
    let digests = |v: serde_json::Value| v.as_array().unwrap().iter().map(|i| i["digest"].clone()).collect::<Vec<_>>();
    assert_eq!(digests(index("flaky.tar")), digests(index("direct.tar")));

    // A fault that does not pass: the message names the request, the status and the tries.
    proxy.add(
        Method::GET,
        "/app/alpha/manifests/",
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        100,
    );
    let o = sealift(
        release.dir.path(),
        &[
            "bundle",
            "create",
            "-o",
            "never.tar",
            "--key",
            "keys/sealift.key",
            "--ca-file",
            source.ca().to_str().unwrap(),
            "--retries",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains("pulling manifest") && msg.contains("503") && msg.contains("after 3 attempts"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_and_oversized_responses_are_refused_at_the_limit() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let proxy = FaultProxy::start(&source);
    let release = Release::new(&source, &images);
    through(&release, &source, &proxy);
    for (name, path, fault, says) in [
        (
            "endless manifest",
            "/app/alpha/manifests/",
            Fault::Endless { status: 200 },
            "passed the 4194304-byte limit",
        ),
        (
            "endless error body",
            "/app/alpha/manifests/",
            Fault::Endless { status: 500 },
            "after 2 attempts",
        ),
        // A platform manifest longer than the index's descriptor says: refused at that size.
        (
            "padded manifest",
            "/app/multi/manifests/sha256:",
            Fault::Pad { extra: 100 },
            "-byte limit",
        ),
    ] {
        proxy.add(Method::GET, path, fault, 100);
        let o = sealift(
            release.dir.path(),
            &[
                "bundle",
                "create",
                "-o",
                "x.tar",
                "--key",
                "keys/sealift.key",
                "--ca-file",
                source.ca().to_str().unwrap(),
                "--retries",
                "1",
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        assert!(text(&o).contains(says), "{name}: {}", text(&o));
        let sent: Vec<u64> = proxy
            .requests(&Method::GET, path)
            .iter()
            .map(|s| s.sent.load(std::sync::atomic::Ordering::SeqCst))
            .collect();
        // The client stops reading at the 4 MiB manifest limit (or 4 KiB of an error body);
        // what the proxy sent beyond that is what the sockets buffered.
        let most = sent.iter().max().copied().unwrap_or(0);
        println!("{name}: refused; the proxy sent at most {most} bytes into one response");
        assert!(most < 32 << 20, "{name}: the proxy sent {most} bytes into one response");
        proxy.clear();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_loads_at_once_by_different_signers_both_keep_their_signatures() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    let dir = release.dir.path();
    let o = sealift(dir, &["keys", "generate", "--dir", "keys", "--name", "second"]);
    assert!(o.status.success(), "{}", text(&o));
    create_bundle(&release, &source, "first.tar");
    let ca = source.ca();
    let o = sealift(
        dir,
        &[
            "bundle",
            "create",
            "-o",
            "second.tar",
            "--key",
            "keys/second.key",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let repo: sealift::oci::Reference = format!("{}/app/alpha:1.0", source.host).parse().unwrap();
    for round in 0..10 {
        let target = TestRegistry::start();
        let loads: Vec<_> = [("first.tar", "keys/sealift.pub"), ("second.tar", "keys/second.pub")]
            .into_iter()
            .map(|(bundle, key)| {
                let (dir, host, ca) = (dir.to_path_buf(), target.host.clone(), target.ca());
                std::thread::spawn(move || {
                    sealift(
                        &dir,
                        &["load", bundle, "--key", key, "--registry", &host, "--ca-file", ca.to_str().unwrap()],
                    )
                })
            })
            .collect();
        for o in loads.into_iter().map(|t| t.join().unwrap()) {
            let said = text(&o);
            let errors: Vec<&str> = said.lines().filter(|l| l.contains("error") || l.contains("NOT")).collect();
            assert!(o.status.success(), "round {round}: {errors:?}");
        }
        let at = sealift::oci::Reference {
            registry: target.host.clone(),
            ..repo.clone()
        };
        for key in ["keys/sealift.pub", "keys/second.pub"] {
            assert!(
                crate::oracles::legacy_signature_by(&target, &at, &images.alpha.digest(), &release.path(key)).await,
                "round {round}: the .sig image lacks the signature of {key}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_load_that_fails_writing_signatures_moves_no_tag() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    create_bundle(&release, &source, "release.tar");
    let target = TestRegistry::start();
    let proxy = FaultProxy::start(&target);
    // Every write of alpha's `.sig` image fails for good.
    let sig = format!("/app/alpha/manifests/{}.sig", images.alpha.digest().tag_form());
    proxy.add(
        Method::PUT,
        &sig,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        usize::MAX,
    );
    let ca = target.ca();
    let o = load_at(&release, "release.tar", &proxy.host, &ca, &["--retries", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(".sig"), "{}", text(&o));
    // The load stopped part way (blobs, maybe manifests, are in), but no tag names an image:
    // tags move only once every image's signatures are in.
    assert!(!target.catalog().is_empty(), "nothing was pushed before the signature failed");
    let client = target.client();
    for repo in ["app/alpha", "app/multi"] {
        let at: sealift::oci::Reference = format!("{}/{repo}:x", target.host).parse().unwrap();
        // (A repository with manifests but no tag has no tag list at all: 404.)
        let tags = client.list_tags(&at).await.unwrap_or_default();
        assert!(!tags.iter().any(|t| t == "1.0" || t == "3.0"), "{repo}: {tags:?}");
    }
    // A rerun without the fault completes: tags and signatures.
    proxy.clear();
    let o = load_at(&release, "release.tar", &proxy.host, &ca, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(target.tags("app/alpha").contains(&"1.0".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_upload_resumes_and_nothing_unverified_is_committed() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    create_bundle(&release, &source, "release.tar");
    let shared = crate::support::shared_layer();
    let size = shared.bytes.len() as u64;
    // The upload of the shared layer (3 MiB, two chunks) breaks as its second chunk starts.
    // (docker-registry drops an upload session whose PATCH broke after some of its bytes were
    // written, so a break inside a chunk restarts the upload; one before them resumes it.)
    let proxy = load_with_cut_upload(&release, &target, 0);
    let patches = proxy.requests(&Method::PATCH, "/blobs/uploads/");
    let chunk = 2 * 1024 * 1024;
    let received = |s: &Seen| s.received.load(std::sync::atomic::Ordering::SeqCst);
    // The layer's second chunk was cut; the registry kept the first, and the upload went on
    // from there: the second chunk was sent again, the first one never.
    let second = format!("{chunk}-{}", size - 1);
    let first = format!("0-{}", chunk - 1);
    let tries: Vec<u64> = patches
        .iter()
        .filter(|p| p.range.as_deref() == Some(second.as_str()))
        .map(received)
        .collect();
    println!("PATCHes of the layer's second chunk, bytes forwarded: {tries:?}");
    assert_eq!(tries.iter().filter(|n| **n == 0).count(), 1, "{tries:?}");
    let uploads = tries.iter().filter(|n| **n == size - chunk).count();
    let firsts = patches.iter().filter(|p| p.range.as_deref() == Some(first.as_str())).count();
    assert_eq!(firsts, uploads, "a first chunk was sent twice: {patches:?}");
    let client = target.client();
    let repo: sealift::oci::Reference = format!("{}/app/alpha:1.0", target.host).parse().unwrap();
    assert!(client.blob_exists(&repo, &shared.digest()).await.unwrap());

    // A break inside a chunk: docker-registry drops the session, and the upload starts over.
    let target2 = TestRegistry::start();
    load_with_cut_upload(&release, &target2, 100_000);
    let repo2: sealift::oci::Reference = format!("{}/app/alpha:1.0", target2.host).parse().unwrap();
    assert!(target2.client().blob_exists(&repo2, &shared.digest()).await.unwrap());

    // Bytes that no longer hash to the verified digest are never committed.
    let changed = bytes::Bytes::from(vec![7u8; 1000]);
    let claimed = sealift::oci::Digest::of(b"what was verified");
    let err = client.push_blob_from(&repo, &claimed, 1000, Arc::new(changed)).await.unwrap_err();
    assert!(err.to_string().contains(&claimed.to_string()), "{err}");
    assert!(!client.blob_exists(&repo, &claimed).await.unwrap());
    assert!(!client.blob_exists(&repo, &sealift::oci::Digest::of(&[7u8; 1000])).await.unwrap());
}

/// `sealift ARGS` started in `dir`, not waited for.
fn spawn(dir: &std::path::Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_sealift"))
        .current_dir(dir)
        .args(args)
        .env("SEALIFT_PASSWORD", KEY_PASSWORD)
        .env("SEALIFT_REGISTRY_USERNAME", USER)
        .env("SEALIFT_REGISTRY_PASSWORD", PASSWORD)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("HOME", dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (up to 30 s) until `proxy` has seen a request of `method` whose path holds `path`.
fn wait_for(proxy: &FaultProxy, method: &Method, path: &str) {
    let start = Instant::now();
    while proxy.requests(method, path).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "no {method} {path} came");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_dirs(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".sealift-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_create_or_load_leaves_no_debris_and_a_rerun_completes() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let proxy = FaultProxy::start(&source);
    let release = Release::new(&source, &images);
    through(&release, &source, &proxy);
    let dir = release.dir.path();
    let ca = source.ca();
    let shared = crate::support::shared_layer();

    // kill -9 while a layer download hangs: the run directory stays behind, named as such.
    proxy.add(Method::GET, &format!("/blobs/{}", shared.digest()), Fault::Stall { ms: 60_000 }, 1);
    let mut child = spawn(
        dir,
        &[
            "bundle",
            "create",
            "-o",
            "release.tar",
            "--key",
            "keys/sealift.key",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    );
    wait_for(&proxy, &Method::GET, &format!("/blobs/{}", shared.digest()));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(run_dirs(dir).len(), 1, "{:?}", run_dirs(dir));
    assert!(!release.path("release.tar").exists());
    proxy.clear();
    // The next run removes it, and finishes.
    let o = create(&release, &source, "sealift.yaml", "release.tar");
    assert!(o.status.success(), "{}", text(&o));
    assert!(run_dirs(dir).is_empty(), "debris left: {:?}", run_dirs(dir));
    let o = sealift(dir, &["verify", "release.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));

    // A bundle cut short (a write killed half way) is not taken for one by inspect.
    let bytes = std::fs::read(release.path("release.tar")).unwrap();
    std::fs::write(release.path("partial.tar"), &bytes[..bytes.len() / 2 / 512 * 512]).unwrap();
    let o = sealift(dir, &["bundle", "inspect", "partial.tar"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("not a finished bundle"), "{}", text(&o));

    // kill -9 of load once its blobs are in, while a manifest push hangs; the rerun completes
    // and commits no blob twice.
    let target = TestRegistry::start();
    let to = FaultProxy::start(&target);
    to.add(Method::PUT, "/manifests/", Fault::Stall { ms: 60_000 }, 1);
    let tca = target.ca();
    let load = [
        "load",
        "release.tar",
        "--key",
        "keys/sealift.pub",
        "--registry",
        &to.host,
        "--ca-file",
        tca.to_str().unwrap(),
    ];
    let mut child = spawn(dir, &load);
    wait_for(&to, &Method::PUT, "/manifests/");
    child.kill().unwrap();
    child.wait().unwrap();
    to.state.rules.lock().unwrap().clear();
    let o = sealift(dir, &load);
    assert!(o.status.success(), "{}", text(&o));
    let mut commits: Vec<String> = to
        .requests(&Method::PUT, "digest=")
        .iter()
        .map(|s| {
            // Repository and digest: one commit of each blob per repository.
            let repo = s.path.split("/blobs/uploads/").next().unwrap_or_default();
            format!("{repo} {}", s.path.split("digest=").nth(1).unwrap_or_default())
        })
        .collect();
    let all = commits.len();
    commits.sort();
    commits.dedup();
    assert_eq!(commits.len(), all, "a blob was committed twice");
    let o = sealift(dir, &["verify", "release.tar", "--key", "keys/sealift.pub"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// `load` of the release's `release.tar` into `target` through a fault proxy that cuts one
/// upload chunk after `after` bytes (a chunk other than a blob's first); asserts the load
/// succeeded and a chunk was cut. Returns the proxy, for its request log.
fn load_with_cut_upload(release: &Release, target: &TestRegistry, after: u64) -> FaultProxy {
    let proxy = FaultProxy::start(target);
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    proxy.add(
        Method::PATCH,
        "/blobs/uploads/",
        Fault::CutRequest { after, left: left.clone() },
        usize::MAX,
    );
    let ca = target.ca();
    // 2 MiB chunks, so the 3 MiB layer goes in two.
    let o = load_at(release, "release.tar", &proxy.host, &ca, &["--upload-chunk", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(left.load(std::sync::atomic::Ordering::SeqCst), 0, "no upload was cut");
    proxy
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_tokens_are_fetched_per_scope_and_an_endless_token_answer_is_refused() {
    let source = TestRegistry::start();
    let images = push_source_images(&source).await;
    let proxy = FaultProxy::start(&source);
    let release = Release::new(&source, &images);
    through(&release, &source, &proxy);
    proxy.require_tokens(TokenService::Token);

    // Pulls and pushes through a registry that wants bearer tokens: the token service gets the
    // credentials and one scope per repository and operation.
    create_bundle(&release, &source, "tokens.tar");
    let ca = source.ca();
    let args = [
        "load",
        "tokens.tar",
        "--key",
        "keys/sealift.pub",
        "--registry",
        &proxy.host,
        "--ca-file",
        ca.to_str().unwrap(),
    ];
    let o = sealift(release.dir.path(), &args);
    assert!(o.status.success(), "{}", text(&o));
    let scopes: Vec<String> = proxy.requests(&Method::GET, "/token?").iter().map(|s| s.path.clone()).collect();
    for scope in [
        "scope=repository%3Aapp%2Falpha%3Apull&",
        "scope=repository%3Aapp%2Falpha%3Apull%2Cpush&",
    ] {
        assert!(scopes.iter().any(|s| s.contains(scope)), "no token asked with {scope}: {scopes:?}");
    }
    assert!(scopes.iter().all(|s| s.ends_with("&service=fault-proxy")), "{scopes:?}");
    // Tokens are kept, and fetched once even when several requests want one at the same moment:
    // one per repository and operation in each run (three repositories; `create` pulls, `load`
    // pulls and pushes), not one per request.
    println!("{} token requests", scopes.len());
    assert!(scopes.len() <= 9, "{} token requests: {scopes:?}", scopes.len());

    // A token service whose answer never ends: refused at 64 KiB.
    proxy.clear();
    proxy.require_tokens(TokenService::Endless);
    let o = sealift(
        release.dir.path(),
        &[
            "bundle",
            "create",
            "-o",
            "never.tar",
            "--key",
            "keys/sealift.key",
            "--ca-file",
            ca.to_str().unwrap(),
            "--retries",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let msg = text(&o);
    assert!(msg.contains("getting a token from") && msg.contains("65536-byte limit"), "{msg}");
    let most = proxy
        .requests(&Method::GET, "/token?")
        .iter()
        .map(|s| s.sent.load(std::sync::atomic::Ordering::SeqCst))
        .max()
        .unwrap();
    println!("endless token answer: refused; the proxy sent at most {most} bytes into one response");
    assert!(most < 32 << 20, "the proxy sent {most} bytes of token answer");
}

/// Two images in two repositories sharing one base layer, bundled: (release, base layer).
async fn shared_base_release(source: &TestRegistry) -> (Release, sealift::oci::Digest) {
    use crate::shapes::{gz_layer, push_image, repo_ref};
    let base = gz_layer(&[("etc/base", &[7u8; 300_000][..])]);
    for (repo, own) in [("app/one", b"one" as &[u8]), ("app/two", b"two")] {
        let layer = gz_layer(&[("srv/own", own)]);
        let m = push_image(source, repo, "linux", "amd64", &[&base, &layer]).await;
        push_manifest(&source.client(), &repo_ref(source, repo), &m, Some("1")).await;
    }
    let h = &source.host;
    let release = Release::with_yaml(&format!("name: shared\nimages:\n  - {h}/app/one:1\n  - {h}/app/two:1\n"));
    create_bundle(&release, source, "shared.tar");
    (release, base.digest())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_layer_is_mounted_not_uploaded_again_and_a_refused_mount_uploads() {
    let source = TestRegistry::start();
    let (release, base) = shared_base_release(&source).await;
    let committed = |proxy: &FaultProxy, repo: &str| -> usize {
        proxy
            .requests(&Method::PUT, &format!("/v2/{repo}/blobs/uploads/"))
            .iter()
            .filter(|s| s.path.contains(&format!("digest={base}")))
            .count()
    };

    // The second repository gets the base layer by a mount from the first: no upload of it.
    let target = TestRegistry::start();
    let proxy = FaultProxy::start(&target);
    let o = load_at(&release, "shared.tar", &proxy.host, &target.ca(), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let mounts: Vec<Seen> = cross_mounts(&proxy)
        .into_iter()
        .filter(|s| s.path.contains(&format!("mount={base}")))
        .collect();
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert!(
        mounts[0].path.starts_with("/v2/app/two/") && mounts[0].path.contains("from=app/one"),
        "{mounts:?}"
    );
    assert_eq!((committed(&proxy, "app/one"), committed(&proxy, "app/two")), (1, 0));
    assert!(text(&o).contains("mounted from another repository"), "{}", text(&o));
    // Every blob here is small: whether the repository has it is asked in the request that
    // opens its upload session, never by a `HEAD` of its own.
    assert!(
        proxy.requests(&Method::HEAD, "/").is_empty(),
        "{:?}",
        proxy.requests(&Method::HEAD, "/")
    );
    // Distribution has no referrers API: its 404 is taken as such for the rest of the run, so
    // the read-back rounds go straight to the `sha256-<hex>` tag (asked once, or once per
    // image whose first round started before the first answer came back).
    let asked = proxy.requests(&Method::GET, "/referrers/").len();
    assert!((1..=2).contains(&asked), "the referrers API was asked {asked} times");
    let client = target.client();
    for repo in ["app/one", "app/two"] {
        let at: sealift::oci::Reference = format!("{}/{repo}:1", target.host).parse().unwrap();
        assert!(client.blob_exists(&at, &base).await.unwrap(), "{repo} holds the base layer");
    }

    // A registry that answers the mount with an upload session (202), or refuses it (401, as
    // a token registry does when the push token does not cover the other repository; 403),
    // gets the blob uploaded, and is not asked again after the refusal.
    for status in [202, 401, 403] {
        let target = TestRegistry::start();
        let proxy = FaultProxy::start(&target);
        let into_two_from_one = "/v2/app/two/blobs/uploads/?mount=*&from=app/one";
        proxy.add(
            Method::POST,
            into_two_from_one,
            Fault::Status { status, retry_after: None },
            usize::MAX,
        );
        let o = load_at(&release, "shared.tar", &proxy.host, &target.ca(), &["--retries", "0"]);
        assert!(o.status.success(), "{status}: {}", text(&o));
        // Blobs go up four at a time (--jobs): the asks already on their way when the first
        // refusal comes back are all there are.
        let asked = cross_mounts(&proxy).len();
        assert!((1..=4).contains(&asked), "{status}: {asked} mounts asked");
        assert_eq!((committed(&proxy, "app/one"), committed(&proxy, "app/two")), (1, 1), "{status}");
        let client = target.client();
        let at: sealift::oci::Reference = format!("{}/app/two:1", target.host).parse().unwrap();
        assert!(client.blob_exists(&at, &base).await.unwrap(), "{status}");
        let pulled = client.fetch_manifest(&at).await.unwrap();
        assert_eq!(pulled.digest, release.bundle_json("shared.tar").images[1].digest);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_blob_the_repository_has_is_not_sent_again_and_a_refused_ask_uploads() {
    let source = TestRegistry::start();
    let (release, _) = shared_base_release(&source).await;
    // The first image's config and layers are in the target's repository already (an
    // earlier load stopped before its manifest, say); its manifest is not.
    let target = TestRegistry::start();
    let src_one: sealift::oci::Reference = format!("{}/app/one:1", source.host).parse().unwrap();
    let dst_one: sealift::oci::Reference = format!("{}/app/one:1", target.host).parse().unwrap();
    let m = source.client().fetch_manifest(&src_one).await.unwrap();
    let parsed = sealift::oci::Manifest::parse(&m.bytes, &m.media_type).unwrap();
    let there: Vec<sealift::oci::Descriptor> = parsed.children().into_iter().cloned().collect();
    assert!(there.len() >= 3, "{there:?}");
    for d in &there {
        let bytes = fetch_blob_bytes(&source.client(), &src_one, d).await;
        let pushed = target
            .client()
            .push_blob_from(&dst_one, &d.digest, d.size, Arc::new(Bytes::from(bytes)))
            .await
            .unwrap();
        assert_eq!(pushed, sealift::registry::Landed::Uploaded);
    }
    let proxy = FaultProxy::start(&target);
    let o = load_at(&release, "shared.tar", &proxy.host, &target.ca(), &["--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    // Each was asked about in the request that would have opened its upload, and none was
    // sent: no upload session of it was committed, no byte of it went.
    let mut sent = proxy.requests(&Method::PUT, "/v2/app/one/blobs/uploads/");
    sent.extend(proxy.requests(&Method::PATCH, "/v2/app/one/blobs/uploads/"));
    for d in &there {
        assert!(
            !sent.iter().any(|s| s.path.contains(&d.digest.to_string())),
            "{} was sent again",
            d.digest
        );
        let asked = proxy.requests(
            &Method::POST,
            &format!("/v2/app/one/blobs/uploads/?mount={}&from=app/one", d.digest),
        );
        assert_eq!(asked.len(), 1, "{}", d.digest);
    }
    assert!(
        proxy.requests(&Method::HEAD, "/").is_empty(),
        "{:?}",
        proxy.requests(&Method::HEAD, "/")
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let one = &report["load"]["images"][0];
    assert_eq!(one["blobs_skipped"], there.len(), "{one}");
    let pulled = target.client().fetch_manifest(&dst_one).await.unwrap();
    assert_eq!(pulled.digest, release.bundle_json("shared.tar").images[0].digest);

    // A registry that refuses the question (400 here) gets the blobs uploaded as usual, and
    // is not asked that way again: the asks on their way when the first refusal came back
    // (blobs go up four at a time) are all there are.
    let target = TestRegistry::start();
    let proxy = FaultProxy::start(&target);
    let ask_one = "/v2/app/one/blobs/uploads/?mount=";
    proxy.add(
        Method::POST,
        ask_one,
        Fault::Status {
            status: 400,
            retry_after: None,
        },
        usize::MAX,
    );
    let o = load_at(&release, "shared.tar", &proxy.host, &target.ca(), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let asked = proxy.requests(&Method::POST, ask_one).len();
    assert!((1..=4).contains(&asked), "{asked} asks refused");
    let asks_after = proxy
        .requests(&Method::POST, "/v2/app/two/blobs/uploads/?mount=")
        .iter()
        .filter(|s| s.path.ends_with("&from=app/two"))
        .count();
    assert!(asks_after <= 4, "{asks_after} asks after the refusal");
    let client = target.client();
    for (i, repo) in ["app/one", "app/two"].into_iter().enumerate() {
        let at: sealift::oci::Reference = format!("{}/{repo}:1", target.host).parse().unwrap();
        let pulled = client.fetch_manifest(&at).await.unwrap();
        assert_eq!(pulled.digest, release.bundle_json("shared.tar").images[i].digest);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_go_up_while_their_image_s_layers_still_upload() {
    let source = TestRegistry::start();
    let (release, base) = shared_base_release(&source).await;
    let target = TestRegistry::start();
    let proxy = FaultProxy::start(&target);
    // The shared layer's upload into the first repository hangs for a while.
    proxy.add(Method::PUT, &format!("digest={base}"), Fault::Stall { ms: 1500 }, 1);
    let o = load_at(&release, "shared.tar", &proxy.host, &target.ca(), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let image = release.bundle_json("shared.tar").images[0].digest.clone();
    let seen = proxy.seen();
    let at = |what: &str| seen.iter().position(|s| s.method == Method::PUT && s.path.contains(what));
    let signature = at(&format!("/v2/app/one/manifests/{}.sig", image.tag_form())).expect("the .sig tag was written");
    let manifest = at(&format!("/v2/app/one/manifests/{image}")).expect("the image manifest was pushed");
    let tag = at("/v2/app/one/manifests/1").expect("the tag was moved");
    // The signature went up during the stall; the image's manifest only once its layer was in,
    // and its tag last.
    assert!(
        signature < manifest && manifest < tag,
        "order: .sig {signature}, manifest {manifest}, tag {tag}"
    );
    let client = target.client();
    let at_tag: sealift::oci::Reference = format!("{}/app/one:1", target.host).parse().unwrap();
    assert_eq!(client.fetch_manifest(&at_tag).await.unwrap().digest, image);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_load_stopped_by_an_error_cancels_the_uploads_still_going() {
    let source = TestRegistry::start();
    let target = TestRegistry::start();
    let images = push_source_images(&source).await;
    let release = Release::new(&source, &images);
    create_bundle(&release, &source, "release.tar");
    let shared = crate::support::shared_layer();
    let proxy = FaultProxy::start(&target);
    // The 3 MiB layer goes up in 1 MiB PATCHes, the first of them slowly; meanwhile the
    // registry refuses the first manifest for good (a signature object's, which does not wait
    // for the layer).
    proxy.add(Method::PATCH, "/blobs/uploads/", Fault::Stall { ms: 1500 }, 1);
    proxy.add(
        Method::PUT,
        "/manifests/",
        Fault::Status {
            status: 400,
            retry_after: None,
        },
        1,
    );
    let o = load_at(&release, "release.tar", &proxy.host, &target.ca(), &["--upload-chunk", "1"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("400"), "{out}");
    // The layer's upload was not cut off mid-request and left open on the registry: it
    // stopped after the chunk it was sending and cancelled its session.
    let patches = proxy.requests(&Method::PATCH, "/blobs/uploads/");
    let session = patches
        .first()
        .expect("the layer went up in PATCHes")
        .path
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let cancelled = proxy.requests(&Method::DELETE, &session);
    assert_eq!(cancelled.len(), 1, "{session} was not cancelled");
    assert!(
        proxy.requests(&Method::PUT, &format!("digest={}", shared.digest())).is_empty(),
        "the layer was committed after the error"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_commit_waits_for_the_verdict_and_a_refused_one_leaves_nothing() {
    let target = TestRegistry::start();
    let proxy = FaultProxy::start(&target);
    let client = target.client();
    // Over the size sent whole: opened, sent by PATCH, then committed by a PUT.
    let bytes = Bytes::from(vec![7u8; 3 << 20]);
    let digest = sealift::oci::Digest::of(&bytes);
    for (repo, verdict) in [("held/refused", false), ("held/passed", true)] {
        let at: sealift::oci::Reference = format!("{}/{repo}:x", proxy.host).parse().unwrap();
        let (say, gate) = tokio::sync::watch::channel(None);
        client.hold_commits(gate);
        let uploads = format!("/v2/{repo}/blobs/uploads/");
        let push = client.push_blob_from(&at, &digest, bytes.len() as u64, Arc::new(bytes.clone()));
        let judge = async {
            let started = Instant::now();
            while proxy.requests(&Method::PATCH, &uploads).is_empty() {
                assert!(started.elapsed() < Duration::from_secs(20), "no PATCH: {:?}", proxy.seen());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // The bytes went up; the commit waits.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(
                proxy.requests(&Method::PUT, &uploads).is_empty(),
                "{repo}: committed before the verdict"
            );
            say.send(Some(verdict)).unwrap();
        };
        let (pushed, ()) = tokio::join!(push, judge);
        let direct: sealift::oci::Reference = format!("{}/{repo}:x", target.host).parse().unwrap();
        let there = target.client().blob_exists(&direct, &digest).await.unwrap();
        if verdict {
            pushed.unwrap();
            assert!(there, "{repo}: the blob was not committed");
        } else {
            let err = pushed.unwrap_err();
            assert!(matches!(err, sealift::registry::Error::CommitRefused { .. }), "{err}");
            assert!(err.to_string().contains(&digest.to_string()), "{err}");
            assert!(!there, "{repo}: a refused commit landed");
            assert!(proxy.requests(&Method::PUT, &uploads).is_empty(), "{repo}");
            assert_eq!(
                proxy.requests(&Method::DELETE, &uploads).len(),
                1,
                "{repo}: the session was not cancelled"
            );
            // Every other kind of commit is refused too, before it is sent: a blob small
            // enough to go whole, a mount, a manifest.
            let small = Bytes::from_static(b"small");
            let small_digest = sealift::oci::Digest::of(&small);
            let refused = |r: Result<(), sealift::registry::Error>| matches!(r, Err(sealift::registry::Error::CommitRefused { .. }));
            assert!(refused(
                client
                    .push_blob_from(&at, &small_digest, 5, Arc::new(small.clone()))
                    .await
                    .map(|_| ())
            ));
            assert!(refused(client.mount_blob(&at, &small_digest, "elsewhere").await.map(|_| ())));
            let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
            assert!(refused(
                client.push_manifest(&at, manifest, sealift::oci::media_type::OCI_INDEX).await
            ));
            let sent = proxy.seen().into_iter().filter(|s| s.path.starts_with(&format!("/v2/{repo}/")));
            // A `POST` that asks for a mount commits too.
            let committing =
                sent.filter(|s| s.path.contains("mount=") || ![Method::POST, Method::PATCH, Method::DELETE].contains(&s.method));
            assert_eq!(committing.count(), 0, "{repo}");
            assert!(target.catalog().is_empty(), "{:?}", target.catalog());
        }
    }
    // A small blob the repository has already: even the question (a mount from the same
    // repository, which could link it) waits for the verdict, and then nothing is sent.
    let small = Bytes::from_static(b"present");
    let small_digest = sealift::oci::Digest::of(&small);
    let direct: sealift::oci::Reference = format!("{}/held/present:x", target.host).parse().unwrap();
    target
        .client()
        .push_blob_from(&direct, &small_digest, 7, Arc::new(small.clone()))
        .await
        .unwrap();
    let at: sealift::oci::Reference = format!("{}/held/present:x", proxy.host).parse().unwrap();
    let (say, gate) = tokio::sync::watch::channel(None);
    client.hold_commits(gate);
    let push = client.push_blob_from(&at, &small_digest, 7, Arc::new(small));
    let judge = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let asked = proxy.requests(&Method::POST, "/v2/held/present/");
        assert!(asked.is_empty(), "asked before the verdict: {asked:?}");
        say.send(Some(true)).unwrap();
    };
    let (pushed, ()) = tokio::join!(push, judge);
    assert_eq!(pushed.unwrap(), sealift::registry::Landed::Present);
    assert!(proxy.requests(&Method::PUT, "/v2/held/present/").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_referrer_refused_before_its_image_goes_again_after_it() {
    let source = TestRegistry::start();
    let (release, base) = shared_base_release(&source).await;
    let index = release.bundle_json("shared.tar");
    let image = index.images[0].digest.clone();
    let referrer = index.images[0]
        .signatures
        .iter()
        .find(|s| s.format == sealift::sign::artifact::SignatureFormat::SigstoreBundle)
        .expect("a Sigstore bundle referrer")
        .manifest
        .clone();
    let target = TestRegistry::start();
    let proxy = FaultProxy::start(&target);
    // The image's layers take a while; the first push of its referrer is refused (as a
    // registry that will not take an unknown subject does).
    proxy.add(Method::PUT, &format!("digest={base}"), Fault::Stall { ms: 1500 }, 1);
    let at_referrer = format!("/v2/app/one/manifests/{referrer}");
    proxy.add(
        Method::PUT,
        &at_referrer,
        Fault::Status {
            status: 400,
            retry_after: None,
        },
        1,
    );
    let o = load_at(&release, "shared.tar", &proxy.host, &target.ca(), &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("pushing it again after the image"), "{}", text(&o));
    let seen = proxy.seen();
    let puts = |what: &str| -> Vec<usize> {
        seen.iter()
            .enumerate()
            .filter(|(_, s)| s.method == Method::PUT && s.path.contains(what))
            .map(|(n, _)| n)
            .collect()
    };
    let (tries, manifest) = (puts(&at_referrer), puts(&format!("/v2/app/one/manifests/{image}")));
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert!(
        tries[0] < manifest[0] && manifest[0] < tries[1],
        "referrer {tries:?}, image {manifest:?}"
    );
    // The referrer is in, and listed where a registry without the referrers API lists it.
    let client = target.client();
    let at: sealift::oci::Reference = format!("{}/app/one@{image}", target.host).parse().unwrap();
    let listed = client.referrers(&at, &image).await.unwrap();
    assert!(listed.iter().any(|d| d.digest == referrer), "{listed:?}");
}
