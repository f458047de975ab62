//! Blob uploads that resume, and commit only what hashes to the digest (OCI distribution spec
//! v1.1, "Pushing a blob in chunks": `POST` opens an upload session, `PATCH` sends bytes, `GET`
//! on the session says how many it holds, `PUT ?digest=` commits).
//!
//! The bytes come from a [`BlobSource`] that can be read again from any offset (a verified
//! bundle's open file, or bytes in memory). Everything sent is hashed on the way out; when a
//! `PATCH` breaks, the session's own count says where to go on (the prefix is hashed again from
//! the source), and when the registry has lost the session the upload starts over. The final
//! `PUT` is sent only if the bytes sent hash to the expected digest: a bundle file changed
//! while `load` runs is an error before anything is committed, not after. A blob no larger
//! than one chunk is read whole, checked, and sent with the commit ("Pushing a blob
//! monolithically"): a `POST` and a `PUT`.
//!
//! The `POST` that opens a small blob's session also asks whether the repository has the
//! blob already: it asks to mount the blob from the same repository ("Mounting a blob from
//! another repository", `?mount=<digest>&from=<name>`). A registry holding it there answers
//! 201 and nothing is sent; one without it opens the session as usual (202). So a small blob
//! costs one request when present and two when not, with no separate `HEAD`. A registry
//! without mounts answers 202 and so gets every small blob sent (the spec's fallback). A
//! registry that refuses the question (an answer no retry changes, other than 401), or answers
//! it with a 201 naming another digest, gets a plain `POST` instead and is not asked that way
//! again. A 401 goes to the caller like any other, so that expired credentials are renewed and
//! the question asked again; so does a failure a retry could fix (5xx, 408, 429, the network)
//! once the retries are spent: a registry failing that way fails the plain `POST` as well,
//! and should not take twice as long to say so.

use std::io::Read;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderValue, LOCATION, RANGE};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use super::retry::{self, Failed};
use super::{Error, Registry, http};
use crate::oci::{Digest, Reference};

/// Bytes read per read from the source.
const CHUNK: usize = 256 * 1024;

/// Bytes per `PATCH` by default: a break at a chunk's boundary loses nothing, since the
/// registry keeps the chunks it has acknowledged (docker-registry drops a session whose
/// `PATCH` broke part-way; others keep what they got). Each `PATCH` is a request with its own
/// cost on the registry (64 MiB in 4 requests instead of 32 pushes a 256 MiB layer ~25%
/// faster into docker-registry here); `--upload-chunk` lowers it for proxies that limit
/// request bodies.
pub const UPLOAD_CHUNK: u64 = 64 * 1024 * 1024;

/// The smallest `PATCH` size accepted.
pub const MIN_UPLOAD_CHUNK: u64 = 64 * 1024;

/// Blobs up to this size are read whole, checked, and sent with the commit: one request
/// instead of two.
pub const WHOLE_UPLOAD_MAX: u64 = 2 * 1024 * 1024;

/// Where a blob's bytes come from: readable again from any offset, so a broken upload can go
/// on without holding the blob in memory.
pub trait BlobSource: Send + Sync {
    /// The bytes from `offset` to the end.
    fn open_at(&self, offset: u64) -> std::io::Result<Box<dyn Read + Send>>;
}

/// Bytes in memory (configs, signature manifests).
impl BlobSource for Bytes {
    fn open_at(&self, offset: u64) -> std::io::Result<Box<dyn Read + Send>> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.len());
        Ok(Box::new(std::io::Cursor::new(self.slice(start..))))
    }
}

/// What a blob push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landed {
    /// The bytes were sent and committed.
    Uploaded,
    /// The repository had the blob already (it said so when the upload session was asked
    /// for, see the module): nothing was sent.
    Present,
}

/// How an upload session was asked for.
enum Opened {
    /// The repository has the blob.
    Present,
    /// A session to send it into.
    Session(Answer),
}

impl Registry {
    /// Upload a blob of `size` bytes that must hash to `digest`, resuming a broken transfer,
    /// unless the repository says it has it (small blobs, see the module).
    /// Fails without committing when the source's bytes do not hash to `digest`.
    pub async fn push_blob_from(&self, repo: &Reference, digest: &Digest, size: u64, source: Arc<dyn BlobSource>) -> Result<Landed, Error> {
        let r = super::Repo::of(repo);
        self.unless_unauthorized(&r, super::token::Operation::Push, || {
            self.upload(repo, digest, size, source.clone())
        })
        .await
    }

    /// Ask the registry to mount `digest` into `repo` from `from`, another repository of the
    /// same registry that holds it (distribution spec, "Mounting a blob from another
    /// repository": `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repository>`).
    /// `true` when it answered 201 Created: the blob is in `repo` and nothing was uploaded.
    /// `false` when it opened an upload session instead (202: no access to `from`, no mount
    /// support, or the blob is gone there); that session is cancelled and the caller uploads.
    ///
    /// Asked once, not retried, and a 401 does not drop the cached push credentials: a mount
    /// is only a shortcut. (A bearer token scoped to `repo` alone does not grant pull on
    /// `from`, so token registries answer 401; the caller then uploads.)
    ///
    /// # Errors
    /// Any other answer.
    pub async fn mount_blob(&self, repo: &Reference, digest: &Digest, from: &str) -> Result<bool, Error> {
        self.may_commit(&format!("{}@{digest}", repo.name())).await?;
        let r = super::Repo::of(repo);
        let auth = self.auth_header(&r, super::token::Operation::Push).await?;
        let base = format!("https://{}", r.resolve_registry());
        let url = format!("{base}/v2/{}/blobs/uploads/?mount={digest}&from={from}", r.repository());
        let once = retry::RetryPolicy {
            attempts: 1,
            ..self.retry.clone()
        };
        let (answer, status) = self
            .upload_request_any(
                &once,
                Method::POST,
                &url,
                auth.as_ref(),
                None,
                &[StatusCode::CREATED, StatusCode::ACCEPTED],
            )
            .await
            .map_err(|(failed, attempts)| Error::Http {
                what: "mounting blob",
                target: format!("{}@{digest} from {from}", repo.name()),
                status: failed.status,
                reason: failed.reason,
                attempts,
            })?;
        if status == StatusCode::CREATED {
            return Ok(true);
        }
        if let Ok(location) = answer.location(&base)
            && location.starts_with(&format!("{base}/"))
        {
            let _ = http::send_plain(&self.http, Method::DELETE, &location, auth.as_ref()).await;
        }
        Ok(false)
    }

    /// One upload with the cached credentials.
    async fn upload(&self, repo: &Reference, digest: &Digest, size: u64, source: Arc<dyn BlobSource>) -> Result<Landed, Error> {
        let r = super::Repo::of(repo);
        let auth = self.auth_header(&r, super::token::Operation::Push).await?;
        let target = format!("{}@{digest}", repo.name());
        let base = format!("https://{}", r.resolve_registry());
        // Credentials go only to the registry, not to an upload location on another host.
        let own = |url: &str| url.starts_with(&format!("{base}/"));
        let auth_for = |url: &str| if own(url) { auth.as_ref() } else { None };
        let fail = |failed: Failed, attempts: usize| Error::Http {
            what: "pushing blob",
            target: target.clone(),
            status: failed.status,
            reason: failed.reason,
            attempts,
        };
        // A small blob opens its session only when it may commit: it goes up in one request,
        // and asking for the session may already link it (a mount).
        let small = size <= self.whole_upload_max();
        if small {
            self.may_commit(&target).await?;
        }
        let mut sessions = 0;
        'session: loop {
            sessions += 1;
            let start = format!("{base}/v2/{}/blobs/uploads/", r.repository());
            let opened = self
                .open_session(&r, &start, digest, auth_for(&start), small)
                .await
                .map_err(|(f, n)| fail(f, n))?;
            let Opened::Session(answer) = opened else {
                return Ok(Landed::Present);
            };
            let mut location = answer.location(&base).map_err(|f| fail(f, 1))?;
            if small {
                // Small enough to hold: checked first, then sent and committed in one `PUT`.
                match self
                    .put_whole(repo, digest, size, source.clone(), &location, auth_for(&location))
                    .await
                {
                    Ok(()) => return Ok(Landed::Uploaded),
                    Err(Whole::Failed(failed)) if failed.transient && sessions < self.retry.attempts => {
                        // The session is dropped, and a new one opened after a wait (while
                        // commits are still allowed).
                        let _ = http::send_plain(&self.http, Method::DELETE, &location, auth_for(&location)).await;
                        tokio::time::sleep(self.retry.wait_after(sessions, &failed)).await;
                        self.may_commit(&target).await?;
                        continue 'session;
                    }
                    Err(Whole::Failed(failed)) => {
                        let _ = http::send_plain(&self.http, Method::DELETE, &location, auth_for(&location)).await;
                        return Err(fail(failed, sessions));
                    }
                    Err(Whole::Mismatch(found)) => {
                        let _ = http::send_plain(&self.http, Method::DELETE, &location, auth_for(&location)).await;
                        return Err(Error::SourceChanged {
                            target,
                            expected: digest.clone(),
                            found,
                        });
                    }
                }
            }
            let mut offset = 0u64;
            let mut hasher = Sha256::new();
            let mut breaks = 0;
            while offset < size {
                if self.commits_refused() {
                    // It could never be committed: stop sending.
                    let _ = http::send_plain(&self.http, Method::DELETE, &location, auth_for(&location)).await;
                    return Err(Error::CommitRefused { target });
                }
                let end = (offset + self.upload_chunk).min(size);
                let before = hasher.clone();
                let sent = Arc::new(Mutex::new((hasher.clone(), offset, false)));
                let body = body_from(source.clone(), offset, end, sent.clone()).map_err(|e| fail(Failed::fatal(None, e.to_string()), 1))?;
                match self.patch(&location, auth_for(&location), offset, end, body).await {
                    Ok(next) => {
                        location = next.location(&base).map_err(|f| fail(f, 1))?;
                        let (h, o, _) = sent.lock().map(|g| g.clone()).unwrap_or_else(|g| g.into_inner().clone());
                        if o != end {
                            return Err(fail(
                                Failed::fatal(None, format!("the bundle gave {o} of the blob's {size} bytes")),
                                1,
                            ));
                        }
                        (hasher, offset) = (h, o);
                    }
                    // The bundle ran out of bytes (it shrank since it was verified): no try
                    // will do better.
                    Err(_) if sent.lock().is_ok_and(|g| g.2) => {
                        let o = sent.lock().map_or(offset, |g| g.1);
                        let _ = http::send_plain(&self.http, Method::DELETE, &location, auth_for(&location)).await;
                        return Err(fail(
                            Failed::fatal(None, format!("the bundle gave {o} of the blob's {size} bytes")),
                            1,
                        ));
                    }
                    Err(failed) if failed.transient && breaks + 1 < self.retry.attempts => {
                        breaks += 1;
                        // Where does the session stand? Go on from there, or start over.
                        match self.upload_status(&location, auth_for(&location)).await {
                            Some((held, next)) if held <= end => {
                                location = next.unwrap_or(location);
                                hasher = if held == offset {
                                    before
                                } else {
                                    prefix_hash(source.as_ref(), held).map_err(|e| fail(Failed::fatal(None, e.to_string()), 1))?
                                };
                                offset = held;
                            }
                            _ if sessions < self.retry.attempts => continue 'session,
                            _ => return Err(fail(failed, breaks + 1)),
                        }
                    }
                    Err(failed) => return Err(fail(failed, breaks + 1)),
                }
            }
            let sent = Digest::from_hex(&hex::encode(hasher.finalize())).map_err(|e| fail(Failed::fatal(None, e.to_string()), 1))?;
            if sent != *digest {
                // Abandon the session; nothing is committed.
                let _ = http::send_plain(&self.http, Method::DELETE, &location, auth_for(&location)).await;
                return Err(Error::SourceChanged {
                    target,
                    expected: digest.clone(),
                    found: sent,
                });
            }
            if let Err(refused) = self.may_commit(&target).await {
                let _ = http::send_plain(&self.http, Method::DELETE, &location, auth_for(&location)).await;
                return Err(refused);
            }
            let commit = with_query(&location, &format!("digest={digest}"));
            return match self
                .upload_request(Method::PUT, &commit, auth_for(&commit), Some(0), StatusCode::CREATED)
                .await
            {
                Ok(_) => Ok(Landed::Uploaded),
                Err(_) if self.commits_refused() => {
                    let _ = http::send_plain(&self.http, Method::DELETE, &location, auth_for(&location)).await;
                    Err(Error::CommitRefused { target })
                }
                // A commit whose answer was lost may have landed: the blob is there or not.
                Err((failed, attempts)) => {
                    if self.blob_exists(repo, digest).await.unwrap_or(false) {
                        Ok(Landed::Uploaded)
                    } else {
                        Err(fail(failed, attempts))
                    }
                }
            };
        }
    }

    /// A blob of at most [`Registry::whole_upload_max`] bytes, read whole, checked against `digest`, and sent
    /// with the commit (distribution spec, "Pushing a blob monolithically", `PUT
    /// <location>?digest=` with the bytes): one request instead of a `PATCH` and a `PUT`. A
    /// commit whose answer was lost may have landed: the blob is there or not.
    async fn put_whole(
        &self,
        repo: &Reference,
        digest: &Digest,
        size: u64,
        source: Arc<dyn BlobSource>,
        location: &str,
        auth: Option<&HeaderValue>,
    ) -> Result<(), Whole> {
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            source.open_at(0)?.take(size).read_to_end(&mut bytes)?;
            Ok(bytes)
        })
        .await;
        let bytes = match read {
            Ok(Ok(b)) if b.len() as u64 == size => b,
            Ok(Ok(b)) => {
                return Err(Whole::Failed(Failed::fatal(
                    None,
                    format!("the bundle gave {} of the blob's {size} bytes", b.len()),
                )));
            }
            Ok(Err(e)) => return Err(Whole::Failed(Failed::fatal(None, e.to_string()))),
            Err(e) => return Err(Whole::Failed(Failed::fatal(None, e.to_string()))),
        };
        let found = Digest::of(&bytes);
        if found != *digest {
            return Err(Whole::Mismatch(found));
        }
        let commit = with_query(location, &format!("digest={digest}"));
        let mut request = self
            .http
            .request(Method::PUT, &commit)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(bytes);
        if let Some(a) = auth {
            request = request.header(reqwest::header::AUTHORIZATION, a.clone());
        }
        let failed = match request.send().await {
            Ok(response) if response.status() == StatusCode::CREATED => return Ok(()),
            Ok(response) => http::failure(response).await,
            Err(e) => Failed::network(&e),
        };
        if self.blob_exists(repo, digest).await.unwrap_or(false) {
            return Ok(());
        }
        Err(Whole::Failed(failed))
    }

    /// Open an upload session in `r` at `start` (`POST`), retried. With `ask`, and unless
    /// its host refused it before, the same request asks for `digest` to be mounted from `r`
    /// itself: a 201 says the repository has it (see the module).
    async fn open_session(
        &self,
        r: &super::Repo,
        start: &str,
        digest: &Digest,
        auth: Option<&HeaderValue>,
        ask: bool,
    ) -> Result<Opened, (Failed, usize)> {
        let host = r.resolve_registry();
        let refused = || self.no_mount_asks.lock().is_ok_and(|hosts| hosts.contains(host));
        if ask && !refused() {
            let url = format!("{start}?mount={digest}&from={}", r.repository());
            let expect = [StatusCode::CREATED, StatusCode::ACCEPTED];
            match self.upload_request_any(&self.retry, Method::POST, &url, auth, None, &expect).await {
                Ok((answer, StatusCode::CREATED)) if answer.digest.as_ref().is_none_or(|d| d == &digest.to_string()) => {
                    return Ok(Opened::Present);
                }
                Ok((answer, StatusCode::ACCEPTED)) => return Ok(Opened::Session(answer)),
                Err(failed) if failed.0.transient || failed.0.status.is_none_or(|s| s == 401) => return Err(failed),
                // A refusal of the question, or a 201 about another blob: open it plainly.
                _ => {
                    if let Ok(mut hosts) = self.no_mount_asks.lock() {
                        hosts.insert(host.to_owned());
                    }
                }
            }
        }
        self.upload_request(Method::POST, start, auth, None, StatusCode::ACCEPTED)
            .await
            .map(Opened::Session)
    }

    /// A bodiless upload request (`POST` to open, `PUT` to commit), retried.
    async fn upload_request(
        &self,
        method: Method,
        url: &str,
        auth: Option<&HeaderValue>,
        length: Option<u64>,
        expect: StatusCode,
    ) -> Result<Answer, (Failed, usize)> {
        self.upload_request_any(&self.retry, method, url, auth, length, &[expect])
            .await
            .map(|(answer, _)| answer)
    }

    /// A bodiless upload request answered with one of `expect`, retried; the answer and its
    /// status.
    async fn upload_request_any(
        &self,
        policy: &retry::RetryPolicy,
        method: Method,
        url: &str,
        auth: Option<&HeaderValue>,
        length: Option<u64>,
        expect: &[StatusCode],
    ) -> Result<(Answer, StatusCode), (Failed, usize)> {
        let client = &self.http;
        retry::run(policy, move || {
            let method = method.clone();
            async move {
                // A `PUT` here is a blob's commit: none once commits are refused.
                if method == Method::PUT
                    && let Some(refused) = self.refused_try()
                {
                    return Err(refused);
                }
                let mut request = client.request(method, url);
                if let Some(a) = auth {
                    request = request.header(reqwest::header::AUTHORIZATION, a.clone());
                }
                if let Some(n) = length {
                    request = request.header(CONTENT_LENGTH, n);
                }
                let response = request.send().await.map_err(|e| Failed::network(&e))?;
                let status = response.status();
                if !expect.contains(&status) {
                    return Err(http::failure(response).await);
                }
                Ok((Answer::of(&response), status))
            }
        })
        .await
    }

    /// One `PATCH` of bytes `start..end`. Not retried here: the caller asks the session where
    /// it stands first.
    async fn patch(&self, location: &str, auth: Option<&HeaderValue>, start: u64, end: u64, body: reqwest::Body) -> Result<Answer, Failed> {
        let mut request = self
            .http
            .request(Method::PATCH, location)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, end - start)
            .header(CONTENT_RANGE, format!("{start}-{}", end - 1))
            .body(body);
        if let Some(a) = auth {
            request = request.header(reqwest::header::AUTHORIZATION, a.clone());
        }
        let response = request.send().await.map_err(|e| Failed::network(&e))?;
        if response.status() == StatusCode::RANGE_NOT_SATISFIABLE {
            // The session holds other bytes than we thought: ask it where it stands.
            let mut failed = http::failure(response).await;
            failed.transient = true;
            return Err(failed);
        }
        if response.status() != StatusCode::ACCEPTED {
            return Err(http::failure(response).await);
        }
        Ok(Answer::of(&response))
    }

    /// How many bytes the upload session holds (its `Range: 0-<last>`), and its next location;
    /// `None` when the registry no longer knows the session.
    async fn upload_status(&self, location: &str, auth: Option<&HeaderValue>) -> Option<(u64, Option<String>)> {
        let base = location.split("/v2/").next().unwrap_or_default().to_string();
        let answer = self
            .upload_request(Method::GET, location, auth, None, StatusCode::NO_CONTENT)
            .await
            .ok()?;
        // Without a Range the count is unknown: start over.
        Some((answer.held?, answer.location(&base).ok()))
    }
}

/// Why a whole-blob `PUT` did not land.
enum Whole {
    /// The request failed (transient or not).
    Failed(Failed),
    /// The source's bytes hash to this, not to the digest: nothing was sent.
    Mismatch(Digest),
}

/// What an upload response says.
struct Answer {
    location: Option<String>,
    /// `Docker-Content-Digest`, when given.
    digest: Option<String>,
    /// Bytes the session holds, from `Range: 0-<last>`.
    held: Option<u64>,
}

impl Answer {
    fn of(response: &reqwest::Response) -> Self {
        let header = |name: reqwest::header::HeaderName| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        // `Range: 0-<last byte>`. Distribution writes `0-0` for an empty session (and for one
        // holding a single byte): read as empty, since chunks are never one byte long.
        let held = header(RANGE).and_then(|r| match r.trim().strip_prefix("0-").and_then(|last| last.parse::<u64>().ok()) {
            Some(0) => Some(0),
            Some(last) => last.checked_add(1),
            None => None,
        });
        Self {
            location: header(LOCATION),
            digest: header(reqwest::header::HeaderName::from_static("docker-content-digest")),
            held,
        }
    }

    /// The session's URL, made absolute against `base` (registries may answer with a path).
    fn location(&self, base: &str) -> Result<String, Failed> {
        match self.location.as_deref() {
            Some(l) if l.starts_with("https://") => Ok(l.to_string()),
            Some(l) if l.starts_with('/') => Ok(format!("{base}{l}")),
            Some(l) => Err(Failed::fatal(None, format!("the registry gave the upload location `{l}`"))),
            None => Err(Failed::fatal(None, "the registry gave no upload location")),
        }
    }
}

/// `url` with `query` added.
fn with_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

/// SHA-256 state over the first `len` bytes of `source`.
fn prefix_hash(source: &dyn BlobSource, len: u64) -> std::io::Result<Sha256> {
    let mut hasher = Sha256::new();
    let mut reader = source.open_at(0)?.take(len);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher)
}

/// The body of one `PATCH`: bytes `offset..end` of `source`, hashed into `sent` (hasher,
/// offset reached, and whether the source ended before `end`) as they are read. Reads happen
/// on a blocking thread, a few chunks ahead at most.
fn body_from(source: Arc<dyn BlobSource>, offset: u64, end: u64, sent: Arc<Mutex<(Sha256, u64, bool)>>) -> std::io::Result<reqwest::Body> {
    let mut reader = source.open_at(offset)?.take(end - offset);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buf = vec![0u8; CHUNK];
            match reader.read(&mut buf) {
                Ok(0) => {
                    let short = sent.lock().is_ok_and(|mut g| {
                        g.2 = g.1 < end;
                        g.2
                    });
                    if short {
                        let _ = tx.blocking_send(Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the source ended early",
                        )));
                    }
                    break;
                }
                Ok(n) => {
                    buf.truncate(n);
                    if let Ok(mut state) = sent.lock() {
                        state.0.update(&buf);
                        state.1 += n as u64;
                    }
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    let mut rx = rx;
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed();
    Ok(reqwest::Body::wrap_stream(stream))
}
