//! Listing a repository's tags (OCI distribution spec v1.1, "Listing Tags"): `GET
//! /v2/<name>/tags/list?n=<page>`, and the registry's repositories (distribution's `_catalog`
//! extension), following the `Link: <…>; rel="next"` header page by page.
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
/// Most names one listing may hold before it is refused.
pub const MAX_TAGS: usize = 100_000;
/// Most pages followed (a registry may send small pages, or link a page to itself).
const MAX_PAGES: usize = 1000;

/// One page: its names and where the next one is.
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
        let path = format!("/v2/{}/tags/list?n={PAGE}", r.repository());
        let target = format!("{}/{}", r.registry(), r.repository());
        self.unless_unauthorized(&r, Operation::Pull, || {
            self.list_pages(&r, Operation::Pull, &path, "tags", "listing tags of", &target)
        })
        .await
    }

    /// Every repository the registry lists (`GET /v2/_catalog`, distribution's catalog
    /// extension), paginated and bounded like tags. A registry without the catalog is an error.
    pub async fn list_repositories(&self, registry: &str) -> Result<Vec<String>, Error> {
        let r = Repo::of(&Reference {
            registry: registry.to_owned(),
            repository: String::new(),
            tag: None,
            digest: None,
        });
        let path = format!("/v2/_catalog?n={PAGE}");
        self.unless_unauthorized(&r, Operation::Catalog, || {
            self.list_pages(
                &r,
                Operation::Catalog,
                &path,
                "repositories",
                "listing the repositories of",
                registry,
            )
        })
        .await
    }

    /// The strings under `field` of every page from `path` on, following `Link` headers on
    /// the same registry only.
    async fn list_pages(
        &self,
        r: &Repo,
        op: Operation,
        path: &str,
        field: &'static str,
        what: &'static str,
        target: &str,
    ) -> Result<Vec<String>, Error> {
        let auth = self.auth_header(r, op).await?;
        let host = r.resolve_registry();
        let fail = |status: Option<u16>, reason: String, attempts: usize| Error::Http {
            what,
            target: target.to_owned(),
            status,
            reason,
            attempts,
        };
        let mut url = format!("https://{host}{path}");
        let mut out: Vec<String> = Vec::new();
        for page_number in 0..MAX_PAGES {
            let (http, page_url, auth) = (&self.http, &url, &auth);
            // A repository that does not exist has no tags; a page after the first that is
            // not there is a listing cut short, an error.
            let absent_is_empty = field == "tags" && page_number == 0;
            let outcome = retry::run(&self.retry, move || async move {
                let mut request = http.get(page_url).header(ACCEPT, "application/json");
                if let Some(a) = auth {
                    request = request.header(AUTHORIZATION, a.clone());
                }
                let response = request.send().await.map_err(|e| Failed::network(&e))?;
                match response.status() {
                    StatusCode::NOT_FOUND if absent_is_empty => Ok(None),
                    s if s.is_success() => {
                        let next = response.headers().get(LINK).and_then(|v| v.to_str().ok()).and_then(next_link);
                        let body = read_limited(response, PAGE_LIMIT).await?;
                        let list: serde_json::Value =
                            serde_json::from_slice(&body).map_err(|e| Failed::fatal(None, format!("the list is not JSON: {e}")))?;
                        let names = match &list[field] {
                            serde_json::Value::Null => Vec::new(),
                            serde_json::Value::Array(items) => items
                                .iter()
                                .map(|v| v.as_str().map(str::to_owned))
                                .collect::<Option<Vec<String>>>()
                                .ok_or_else(|| Failed::fatal(None, format!("`{field}` holds something other than names")))?,
                            _ => return Err(Failed::fatal(None, format!("`{field}` is not a list"))),
                        };
                        Ok(Some(Page { tags: names, next }))
                    }
                    _ => Err(failure(response).await),
                }
            })
            .await;
            let page = outcome.map_err(|(failed, attempts)| fail(failed.status, failed.reason, attempts))?;
            let Some(page) = page else { return Ok(out) };
            out.extend(page.tags);
            if out.len() > MAX_TAGS {
                return Err(fail(None, format!("more than {MAX_TAGS} {field}"), 1));
            }
            match page.next {
                // A next page on the same registry only: a link elsewhere is not followed.
                Some(next) if next.starts_with('/') => url = format!("https://{host}{next}"),
                Some(next) if next.starts_with(&format!("https://{host}/")) => url = next,
                Some(next) => return Err(fail(None, format!("the next page is on another host: {next}"), 1)),
                None => return Ok(out),
            }
        }
        Err(fail(None, format!("still more pages after {MAX_PAGES}"), 1))
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
