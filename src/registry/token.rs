//! Registry authentication, the way the distribution project's "Token Authentication
//! Specification" describes it: `GET /v2/` answers 401 with a `WWW-Authenticate` challenge
//! (RFC 9110 §11.6.1). A `Bearer` challenge names a token service (`realm`, `service`), which
//! is asked for a token for one repository scope (`repository:<name>:pull`, or `pull,push`),
//! sending the basic credentials when there are any; a `Basic` challenge, or none, means the
//! credentials themselves are sent. Both requests are retried like every other
//! ([`super::retry`]), and the token response is read with a limit
//! ([`TOKEN_RESPONSE_LIMIT`]). Tokens are cached per registry, repository and operation.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use tokio::sync::OnceCell;

use super::auth::RegistryAuth;
use super::http::{failure, read_limited};
use super::retry::{self, Failed};
use super::{Error, Registry, Repo};

/// What a request does, which decides the token's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Operation {
    Pull,
    Push,
    /// Listing the registry's repositories.
    Catalog,
}

/// Largest token-service response read: a JSON object with a token (a JWT of a few KiB) and
/// perhaps a refresh token. A longer body is refused as soon as it passes this.
pub const TOKEN_RESPONSE_LIMIT: u64 = 64 << 10;

/// Auth headers per (registry, repository, operation). Each is fetched once however many
/// requests ask at the same moment: the first fills the cell, the others wait for it.
pub(super) type TokenCache = tokio::sync::Mutex<HashMap<(String, String, Operation), Arc<OnceCell<Option<HeaderValue>>>>>;

/// What the registry's `/v2/` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    /// No challenge (the registry is open, or answered without one).
    None,
    /// `Basic`: send the credentials with every request.
    Basic,
    /// `Bearer`: get a token from `realm`.
    Bearer { realm: String, service: Option<String> },
}

/// The first `Bearer` challenge of a `WWW-Authenticate` value, else `Basic` if one is offered.
/// A value that does not parse, or offers only other schemes, is an error naming it.
fn parse_challenge(value: &str) -> Result<Challenge, String> {
    let mut basic = false;
    for challenge in http_auth::parser::ChallengeParser::new(value) {
        let challenge = challenge.map_err(|e| format!("unreadable WWW-Authenticate `{value}`: {e}"))?;
        if challenge.scheme.eq_ignore_ascii_case("bearer") {
            let param = |name: &str| {
                challenge
                    .params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            let realm = param("realm").ok_or_else(|| format!("Bearer challenge without a realm: `{value}`"))?;
            return Ok(Challenge::Bearer {
                realm,
                service: param("service"),
            });
        }
        basic |= challenge.scheme.eq_ignore_ascii_case("basic");
    }
    if basic {
        Ok(Challenge::Basic)
    } else {
        Err(format!("no Bearer or Basic challenge in WWW-Authenticate `{value}`"))
    }
}

/// The token in a token service's answer: `token`, or OAuth 2's `access_token`.
fn token_from(body: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| format!("the token service's answer is not a token: {e}"))?;
    [answer.token, answer.access_token]
        .into_iter()
        .flatten()
        .find(|t| !t.is_empty())
        .ok_or_else(|| "the token service's answer holds no token".to_owned())
}

/// A failed auth step; the status goes into the words only (see [`Error::Auth`]). A 401 from
/// the token service means the credentials were refused, and says so.
fn auth_error(what: &'static str, target: &str, failed: Failed, attempts: usize) -> Error {
    let reason = match failed.status {
        Some(401) => format!(
            "{}: the credentials were refused (check --username and the password, or the auth file)",
            failed.reason
        ),
        _ => failed.reason,
    };
    Error::Auth {
        what,
        target: target.to_owned(),
        reason,
        attempts,
    }
}

fn basic_header(auth: &RegistryAuth) -> Option<HeaderValue> {
    use base64::Engine as _;
    match auth {
        RegistryAuth::Basic(user, password) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            HeaderValue::from_str(&format!("Basic {encoded}")).ok()
        }
        _ => None,
    }
}

fn cache_key(r: &Repo, op: Operation) -> (String, String, Operation) {
    (r.resolve_registry().to_string(), r.repository().to_string(), op)
}

impl Registry {
    /// The `Authorization` header for requests about `r`: a bearer token from the registry's
    /// token service, the basic credentials, or none.
    pub(super) async fn auth_header(&self, r: &Repo, op: Operation) -> Result<Option<HeaderValue>, Error> {
        let cell = Arc::clone(self.tokens.lock().await.entry(cache_key(r, op)).or_default());
        cell.get_or_try_init(|| self.fetch_auth_header(r, op)).await.cloned()
    }

    /// What [`Self::auth_header`] caches: asks the registry, and its token service.
    async fn fetch_auth_header(&self, r: &Repo, op: Operation) -> Result<Option<HeaderValue>, Error> {
        let auth = self.credentials.for_registry(r.registry())?;
        let registry = r.resolve_registry();
        let header = match self.challenge(registry).await? {
            Challenge::None | Challenge::Basic => basic_header(&auth),
            Challenge::Bearer { realm, service } => {
                let scope = match op {
                    Operation::Pull => format!("repository:{}:pull", r.repository()),
                    Operation::Push => format!("repository:{}:pull,push", r.repository()),
                    Operation::Catalog => "registry:catalog:*".to_owned(),
                };
                let token = self.token(&realm, service.as_deref(), &scope, &auth).await?;
                Some(HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| Error::Auth {
                    what: "getting a token from",
                    target: realm.clone(),
                    reason: "the token holds characters a header cannot".into(),
                    attempts: 1,
                })?)
            }
        };
        Ok(header)
    }

    /// Runs `op`; when the registry answers 401 (a bearer token expired, or the credentials
    /// were fetched while the registry was failing), forgets the cached credentials for `r`
    /// and runs it once more with new ones.
    pub(super) async fn unless_unauthorized<T, F, Fut>(&self, r: &Repo, op: Operation, run: F) -> Result<T, Error>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        match run().await {
            Err(e) if e.status() == Some(401) => {
                self.tokens.lock().await.remove(&cache_key(r, op));
                run().await
            }
            other => other,
        }
    }

    /// Can `registry` be reached, and does it answer as a distribution registry? (`GET /v2/`,
    /// retried; a 401 is an answer.)
    pub async fn ping(&self, registry: &str) -> Result<(), Error> {
        let host = Repo::of(&crate::oci::Reference {
            registry: registry.to_owned(),
            repository: String::new(),
            tag: None,
            digest: None,
        });
        self.challenge(host.resolve_registry()).await.map(|_| ())
    }

    /// `GET https://<registry>/v2/`, retried: the challenge of a 401, or none.
    async fn challenge(&self, registry: &str) -> Result<Challenge, Error> {
        let url = format!("https://{registry}/v2/");
        let http = &self.http;
        let url = &url;
        let outcome = retry::run(&self.retry, move || async move {
            let response = http.get(url).send().await.map_err(|e| Failed::network(&e))?;
            match response.status() {
                StatusCode::UNAUTHORIZED => match response.headers().get(WWW_AUTHENTICATE) {
                    None => Ok(Challenge::None),
                    Some(value) => {
                        let value = value
                            .to_str()
                            .map_err(|_| Failed::fatal(Some(401), "WWW-Authenticate is not text"))?;
                        parse_challenge(value).map_err(|reason| Failed::fatal(Some(401), reason))
                    }
                },
                s if s.is_success() => Ok(Challenge::None),
                _ => Err(failure(response).await),
            }
        })
        .await;
        outcome.map_err(|(failed, attempts)| auth_error("authenticating to", registry, failed, attempts))
    }

    /// A token for `scope` from the token service at `realm` (HTTPS only: credentials and
    /// tokens never cross in the clear), retried, its answer read with a limit.
    async fn token(&self, realm: &str, service: Option<&str>, scope: &str, auth: &RegistryAuth) -> Result<String, Error> {
        let fail = |reason: String| Error::Setup(format!("token service `{realm}`: {reason}"));
        let mut query = vec![("scope", scope)];
        query.extend(service.map(|s| ("service", s)));
        let url = reqwest::Url::parse_with_params(realm, &query).map_err(|e| fail(format!("the realm is not a URL: {e}")))?;
        if url.scheme() != "https" {
            return Err(fail(
                "the token service is not HTTPS, and tokens and credentials are never sent in the clear".into(),
            ));
        }
        let basic = basic_header(auth);
        let (http, url, basic) = (&self.http, &url, &basic);
        let outcome = retry::run(&self.retry, move || async move {
            let mut request = http.get(url.clone());
            if let Some(b) = basic {
                request = request.header(AUTHORIZATION, b.clone());
            }
            let response = request.send().await.map_err(|e| Failed::network(&e))?;
            if !response.status().is_success() {
                return Err(failure(response).await);
            }
            let body = read_limited(response, TOKEN_RESPONSE_LIMIT).await?;
            token_from(&body).map_err(|reason| Failed::fatal(None, reason))
        })
        .await;
        outcome.map_err(|(failed, attempts)| auth_error("getting a token from", realm, failed, attempts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_as_registries_send_them() {
        let hub = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#;
        assert_eq!(
            parse_challenge(hub),
            Ok(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#), Ok(Challenge::Basic));
        // Several challenges: Bearer wins wherever it is.
        let both = r#"Basic realm="x", Bearer realm="https://t.example/token""#;
        assert!(matches!(parse_challenge(both), Ok(Challenge::Bearer { service: None, .. })));
        assert!(parse_challenge(r#"Bearer service="x""#).unwrap_err().contains("without a realm"));
        assert!(parse_challenge("Negotiate").unwrap_err().contains("no Bearer or Basic"));
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_err());
    }

    #[test]
    fn a_token_answer_holds_token_or_access_token() {
        assert_eq!(token_from(br#"{"token":"abc","expires_in":300}"#), Ok("abc".into()));
        assert_eq!(token_from(br#"{"access_token":"xyz"}"#), Ok("xyz".into()));
        assert_eq!(token_from(br#"{"token":"","access_token":"xyz"}"#), Ok("xyz".into()));
        assert!(token_from(br#"{"token":""}"#).is_err());
        assert!(token_from(b"<html>").is_err());
    }
}
