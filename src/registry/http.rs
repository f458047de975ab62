//! The distribution-API requests sealift makes itself (OCI distribution spec v1.1, "Pulling
//! manifests", "Pulling blobs", "Checking if content exists", "Listing referrers"), so that
//! every body is read with a limit, every safe request is retried ([`super::retry`]), and a
//! blob download cut short resumes with a `Range` request where it stopped. Auth headers come
//! from [`super::token`].

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderValue, RANGE};
use reqwest::{Method, StatusCode};

use super::retry::{self, Failed, RetryPolicy};
use super::{ByteStream, Error, Registry};
use crate::oci::Descriptor;

/// How much of an error response is kept for the message.
pub const ERROR_BODY_LIMIT: usize = 4096;

/// The longest a request for a small document (a manifest, a referrers list) may take in all.
const SMALL_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The `Authorization` header, when there is one, as a header map.
fn auth_map(auth: Option<&HeaderValue>) -> reqwest::header::HeaderMap {
    let mut map = reqwest::header::HeaderMap::new();
    if let Some(a) = auth {
        map.insert(AUTHORIZATION, a.clone());
    }
    map
}

/// A bounded GET's outcome.
pub(super) enum Got {
    Body(Bytes),
    /// 404; `error_document` when its body is the distribution spec's error JSON
    /// (`{"errors": [...]}`, e.g. `NAME_UNKNOWN`) rather than a bare "not found" of a path the
    /// registry does not serve at all.
    NotFound {
        error_document: bool,
    },
}

impl Registry {
    /// `GET url` with retries, reading at most `limit` bytes of the body (a longer body is an
    /// error, found as soon as it passes the limit). 404 is [`Got::NotFound`].
    pub(super) async fn get_bounded(
        &self,
        what: &'static str,
        target: &str,
        auth: Option<&HeaderValue>,
        url: &str,
        accept: &str,
        limit: u64,
    ) -> Result<Got, Error> {
        let http = &self.http;
        let outcome = retry::run(&self.retry, move || async move {
            // A small document: a registry trickling it out is cut off after this long.
            let response = http
                .get(url)
                .header(ACCEPT, accept)
                .headers(auth_map(auth))
                .timeout(SMALL_REQUEST_TIMEOUT)
                .send()
                .await
                .map_err(|e| Failed::network(&e))?;
            let status = response.status();
            if status == StatusCode::NOT_FOUND {
                let body = read_limited(response, 64 * 1024).await.unwrap_or_default();
                let error_document = serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v["errors"].is_array());
                return Ok(Got::NotFound { error_document });
            }
            if !status.is_success() {
                return Err(failure(response).await);
            }
            read_limited(response, limit).await.map(Got::Body)
        })
        .await;
        outcome.map_err(|(failed, attempts)| http_error(what, target, failed, attempts))
    }

    /// `PUT url` of `body` (a manifest) with retries; 201 is success.
    pub(super) async fn put_bytes(
        &self,
        what: &'static str,
        target: &str,
        auth: Option<&HeaderValue>,
        url: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<(), Error> {
        self.may_commit(target).await?;
        let http = &self.http;
        let outcome = retry::run(&self.retry, move || {
            let body = body.clone();
            async move {
                if let Some(refused) = self.refused_try() {
                    return Err(refused);
                }
                let mut request = http.put(url).header(CONTENT_TYPE, content_type).body(body);
                if let Some(a) = auth {
                    request = request.header(AUTHORIZATION, a.clone());
                }
                let response = request.send().await.map_err(|e| Failed::network(&e))?;
                if response.status() == StatusCode::CREATED {
                    Ok(())
                } else {
                    let mut failed = failure(response).await;
                    // A blob another writer is committing at this moment may not be linked
                    // yet (docker-registry under concurrent loads of the same image): retry.
                    failed.transient |= failed.status == Some(400) && failed.reason.contains("BLOB_UNKNOWN");
                    Err(failed)
                }
            }
        })
        .await;
        outcome.map_err(|(failed, attempts)| self.commit_failure(target, || http_error(what, target, failed, attempts)))
    }

    /// `HEAD url` with retries: true for 200, false for 404.
    pub(super) async fn head(
        &self,
        what: &'static str,
        target: &str,
        auth: Option<&HeaderValue>,
        url: &str,
        headers: &[(reqwest::header::HeaderName, &str)],
    ) -> Result<bool, Error> {
        let http = &self.http;
        let outcome = retry::run(&self.retry, move || async move {
            let response = send(http, Method::HEAD, url, auth, headers).await?;
            match response.status() {
                s if s.is_success() => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                _ => Err(failure(response).await),
            }
        })
        .await;
        outcome.map_err(|(failed, attempts)| http_error(what, target, failed, attempts))
    }

    /// A blob's bytes as a stream that resumes: when the transfer breaks, the rest is asked for
    /// with `Range: bytes=<received>-` (a registry that answers 200 instead is read again from
    /// its start, skipping what was already delivered). Never yields more than `desc.size`
    /// bytes. The caller hashes and checks the digest, as before.
    pub(super) async fn blob_stream(
        &self,
        target: String,
        auth: Option<HeaderValue>,
        urls: Vec<String>,
        desc: &Descriptor,
    ) -> Result<ByteStream, Error> {
        let mut state = Download {
            http: self.http.clone(),
            retry: self.retry.clone(),
            target,
            auth,
            urls,
            url: 0,
            size: desc.size,
            delivered: 0,
            body: None,
            reopened: 0,
        };
        state.open().await.map_err(|(status, reason, attempts)| Error::Http {
            what: "pulling blob",
            target: state.target.clone(),
            status,
            reason,
            attempts,
        })?;
        let stream = futures_util::stream::unfold(state, |mut state| async move {
            match state.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), state)),
                Ok(None) => None,
                Err(e) => {
                    state.body = None;
                    state.size = state.delivered; // ends the stream after this error
                    Some((Err(std::io::Error::other(e)), state))
                }
            }
        });
        Ok(Box::pin(stream))
    }
}

/// One blob download in progress.
struct Download {
    http: reqwest::Client,
    retry: RetryPolicy,
    target: String,
    auth: Option<HeaderValue>,
    /// The registry's blob URL first, then a foreign layer's own URLs.
    urls: Vec<String>,
    /// Which of `urls` serves it.
    url: usize,
    size: u64,
    delivered: u64,
    body: Option<(BoxStream<'static, reqwest::Result<Bytes>>, u64)>,
    reopened: usize,
}

impl Download {
    /// Start (or restart, from `delivered`) the transfer. The body comes with how many of its
    /// first bytes to skip. Fails with the last status, the reason and the tries made.
    async fn open(&mut self) -> Result<(), (Option<u16>, String, usize)> {
        let from = self.delivered;
        let (urls, first) = (self.urls.clone(), self.url);
        let mut last = (None, String::from("no URL to fetch it from"), 0);
        for (i, url) in urls.iter().enumerate().skip(first) {
            // Credentials go to the registry only, never to a foreign layer's URL.
            let auth = if i == 0 { self.auth.clone() } else { None };
            let outcome = retry::run(&self.retry, || {
                let (http, url, auth) = (self.http.clone(), url.clone(), auth.clone());
                async move {
                    let range = format!("bytes={from}-");
                    let headers: Vec<(reqwest::header::HeaderName, &str)> = if from > 0 { vec![(RANGE, range.as_str())] } else { vec![] };
                    let response = send(&http, Method::GET, &url, auth.as_ref(), &headers).await?;
                    let status = response.status();
                    if status == StatusCode::NOT_FOUND {
                        return Ok(None);
                    }
                    if !status.is_success() {
                        return Err(failure(response).await);
                    }
                    let skip = if status == StatusCode::PARTIAL_CONTENT {
                        let start = response
                            .headers()
                            .get(CONTENT_RANGE)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.strip_prefix("bytes "))
                            .and_then(|v| v.split('-').next())
                            .and_then(|v| v.parse::<u64>().ok());
                        if start != Some(from) {
                            return Err(Failed::fatal(Some(206), format!("asked for bytes from {from}, got {start:?}")));
                        }
                        0
                    } else {
                        from
                    };
                    Ok(Some((response.bytes_stream().boxed(), skip)))
                }
            })
            .await;
            match outcome {
                Ok(Some(body)) => {
                    self.url = i;
                    self.body = Some(body);
                    return Ok(());
                }
                Ok(None) if i == 0 => last = (Some(404), "404 Not Found".into(), 1),
                Ok(None) => last = (Some(404), format!("404 Not Found, also at {url}"), 1),
                Err((failed, attempts)) => return Err((failed.status, failed.reason, attempts)),
            }
        }
        Err(last)
    }

    /// The next bytes for the caller; reconnects when the transfer breaks.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            if self.body.is_none() {
                if self.delivered >= self.size {
                    return Ok(None);
                }
                self.open().await.map_err(|(_, reason, attempts)| {
                    format!(
                        "{}: resuming at byte {}: {reason} (after {attempts} attempt{})",
                        self.target,
                        self.delivered,
                        plural(attempts)
                    )
                })?;
            }
            let Some((body, skip)) = self.body.as_mut() else {
                continue;
            };
            match body.next().await {
                Some(Ok(mut chunk)) => {
                    if *skip > 0 {
                        let n = usize::try_from((*skip).min(chunk.len() as u64)).unwrap_or(chunk.len());
                        *skip -= n as u64;
                        chunk = chunk.slice(n..);
                        if chunk.is_empty() {
                            continue;
                        }
                    }
                    let len = chunk.len() as u64;
                    if self.delivered + len > self.size {
                        return Err(format!("{}: more bytes than the {} the descriptor gives", self.target, self.size));
                    }
                    self.delivered += len;
                    return Ok(Some(chunk));
                }
                Some(Err(e)) => {
                    let failed = Failed::network(&e);
                    self.reconnect_or(failed.reason)?;
                }
                None if self.delivered < self.size => {
                    self.reconnect_or(format!("the transfer ended after {} of {} bytes", self.delivered, self.size))?;
                }
                None => return Ok(None),
            }
        }
    }

    /// Drop the broken body so the next call resumes, unless resumes are spent.
    fn reconnect_or(&mut self, reason: String) -> Result<(), String> {
        self.body = None;
        self.reopened += 1;
        if self.reopened >= self.retry.attempts {
            return Err(format!(
                "{}: {reason} (resumed {} time{}, at byte {})",
                self.target,
                self.reopened - 1,
                plural(self.reopened - 1),
                self.delivered
            ));
        }
        Ok(())
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Sends one bodiless request, once, and ignores what comes back but the status.
pub(super) async fn send_plain(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    auth: Option<&HeaderValue>,
) -> Result<StatusCode, Failed> {
    send(http, method, url, auth, &[]).await.map(|r| r.status())
}

/// Sends one request.
async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    auth: Option<&HeaderValue>,
    headers: &[(reqwest::header::HeaderName, &str)],
) -> Result<reqwest::Response, Failed> {
    let mut request = http.request(method, url);
    if let Some(a) = auth {
        request = request.header(AUTHORIZATION, a.clone());
    }
    for (name, value) in headers {
        request = request.header(name.clone(), *value);
    }
    request.send().await.map_err(|e| Failed::network(&e))
}

/// A failed response, with at most [`ERROR_BODY_LIMIT`] bytes of its body read for the message.
pub(super) async fn failure(response: reqwest::Response) -> Failed {
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = ERROR_BODY_LIMIT - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= ERROR_BODY_LIMIT {
            break;
        }
    }
    Failed::status(status, &headers, &body)
}

/// The body, refused as soon as it passes `limit` bytes (or says it will).
pub(super) async fn read_limited(response: reqwest::Response, limit: u64) -> Result<Bytes, Failed> {
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > limit) {
        return Err(Failed::fatal(
            None,
            format!("the response is {n} bytes, over the {limit}-byte limit"),
        ));
    }
    let mut body = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Failed::network(&e))?;
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(Failed::fatal(
                None,
                format!("the response passed the {limit}-byte limit; stopped reading"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn http_error(what: &'static str, target: &str, failed: Failed, attempts: usize) -> Error {
    Error::Http {
        what,
        target: target.to_string(),
        status: failed.status,
        reason: failed.reason,
        attempts,
    }
}

/// `https://<registry>/v2/<repository>/<kind>/<reference>`.
pub(super) fn v2_url(r: &super::Repo, kind: &str, reference: &str) -> String {
    format!("https://{}/v2/{}/{kind}/{reference}", r.resolve_registry(), r.repository())
}

/// The registry's blob URL for `desc`, then its foreign URLs when the caller kept them.
pub(super) fn blob_urls(r: &super::Repo, desc: &Descriptor) -> Vec<String> {
    let mut urls = vec![v2_url(r, "blobs", &desc.digest.to_string())];
    urls.extend(desc.urls.iter().filter(|u| u.starts_with("https://")).cloned());
    urls
}
