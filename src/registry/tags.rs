//! Listing a repository's tags (OCI distribution spec v1.1, "Listing Tags"): `GET
//! /v2/<name>/tags/list?n=<page>`, following the `Link: <…>; rel="next"` header page by page.
//! Every page is read with a limit and retried like every other request; the number of pages
//! and of tags is bounded too, so a registry cannot keep a check listing forever.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, LINK};

use super::http::{failure, read_limited};
use super::retry::{self, Failed};
use super::token::Operation;
use super::{Error, Registry, Repo};
use crate::oci::Reference;

/// Tags asked for per page.
const PAGE: usize = 1000;
/// Largest page read: a thousand tags of up to 128 characters, with room to spare.
const PAGE_LIMIT: u64 = 1 << 20;
/// Most tags one repository may list before the listing is refused.
pub const MAX_TAGS: usize = 100_000;
/// Most pages followed (a registry may send small pages, or link a page to itself).
const MAX_PAGES: usize = 1000;

/// One page: its tags and where the next one is.
struct Page {
    tags: Vec<String>,
    next: Option<String>,
}

/// The `rel="next"` target of a `Link` header (RFC 8288), relative to the registry.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

impl Registry {
    /// Every tag of `repo`'s repository, in the order the registry lists them; an empty list
    /// when the repository does not exist. More than [`MAX_TAGS`] is an error.
    pub async fn list_tags(&self, repo: &Reference) -> Result<Vec<String>, Error> {
        let r = Repo::of(repo);
        self.unless_unauthorized(&r, Operation::Pull, || self.list_tags_once(&r)).await
    }

    async fn list_tags_once(&self, r: &Repo) -> Result<Vec<String>, Error> {
        let auth = self.auth_header(r, Operation::Pull).await?;
        let host = r.resolve_registry();
        let target = format!("{}/{}", r.registry(), r.repository());
        let mut url = format!("https://{host}/v2/{}/tags/list?n={PAGE}", r.repository());
        let mut tags: Vec<String> = Vec::new();
        for _ in 0..MAX_PAGES {
            let (http, page_url, auth) = (&self.http, &url, &auth);
            let outcome = retry::run(&self.retry, move || async move {
                let mut request = http.get(page_url).header(ACCEPT, "application/json");
                if let Some(a) = auth {
                    request = request.header(AUTHORIZATION, a.clone());
                }
                let response = request.send().await.map_err(|e| Failed::network(&e))?;
                match response.status() {
                    StatusCode::NOT_FOUND => Ok(None),
                    s if s.is_success() => {
                        let next = response.headers().get(LINK).and_then(|v| v.to_str().ok()).and_then(next_link);
                        let body = read_limited(response, PAGE_LIMIT).await?;
                        #[derive(serde::Deserialize)]
                        struct List {
                            tags: Option<Vec<String>>,
                        }
                        let list: List =
                            serde_json::from_slice(&body).map_err(|e| Failed::fatal(None, format!("the tag list is not JSON: {e}")))?;
                        Ok(Some(Page {
                            tags: list.tags.unwrap_or_default(),
                            next,
                        }))
                    }
                    _ => Err(failure(response).await),
                }
            })
            .await;
            let page = outcome.map_err(|(failed, attempts)| Error::Http {
                what: "listing tags of",
                target: target.clone(),
                status: failed.status,
                reason: failed.reason,
                attempts,
            })?;
            let Some(page) = page else { return Ok(tags) };
            tags.extend(page.tags);
            if tags.len() > MAX_TAGS {
                return Err(Error::Http {
                    what: "listing tags of",
                    target,
                    status: None,
                    reason: format!("more than {MAX_TAGS} tags"),
                    attempts: 1,
                });
            }
            match page.next {
                // A next page on the same registry only: a link elsewhere is not followed.
                Some(next) if next.starts_with('/') => url = format!("https://{host}{next}"),
                Some(next) if next.starts_with(&format!("https://{host}/")) => url = next,
                Some(next) => {
                    return Err(Error::Http {
                        what: "listing tags of",
                        target,
                        status: None,
                        reason: format!("the next page is on another host: {next}"),
                        attempts: 1,
                    });
                }
                None => return Ok(tags),
            }
        }
        Err(Error::Http {
            what: "listing tags of",
            target,
            status: None,
            reason: format!("still more pages after {MAX_PAGES}"),
            attempts: 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_comes_from_the_link_header() {
        let link = r#"</v2/app/tags/list?last=b&n=1000>; rel="next""#;
        assert_eq!(next_link(link).as_deref(), Some("/v2/app/tags/list?last=b&n=1000"));
        assert_eq!(next_link(r#"<https://x/a>; rel="prev", </b>; rel=next"#).as_deref(), Some("/b"));
        assert_eq!(next_link(r#"</a>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
