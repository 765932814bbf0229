//! The list pages' query strings, the store filters they map to, and the links to their
//! other pages.

use serde::Deserialize;

use licet_proto::admin::PurchaseStatus;

use crate::platform::error::{Error, Result};
use crate::store::{LicenseFilter, PurchaseFilter, TrialFilter};
use crate::web::shell::parse_date;
use licet_proto::trials::TrialState;

/// Rows per list page.
pub(super) const PAGE_SIZE: i64 = 50;
/// The deepest page a list goes to.
const MAX_PAGE: i64 = 100_000;

/// `?saved=1` after a form was saved.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SavedQuery {
    saved: Option<String>,
}

impl SavedQuery {
    /// Whether the page says "Saved."; a query it cannot read says nothing.
    pub(super) fn saved(q: &Result<Self>) -> bool {
        q.as_ref().is_ok_and(|q| q.saved.is_some())
    }
}

/// `GET /admin/purchases?email=&status=&from=&to=&failed=&page=`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PurchaseQuery {
    pub(super) email: Option<String>,
    pub(super) status: Option<String>,
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) failed: Option<String>,
    pub(super) page: Option<i64>,
}

impl PurchaseQuery {
    /// The store filter: one row more than a page, to know whether there is a next one;
    /// `to` includes the whole day.
    pub(super) fn filter(&self) -> Result<PurchaseFilter> {
        let day = |d: &Option<String>, what: &str| -> Result<Option<i64>> {
            match d.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(t) => parse_date(t)
                    .map(Some)
                    .ok_or_else(|| Error::invalid(format!("{what} must be a date (YYYY-MM-DD)"))),
            }
        };
        let status = self
            .status
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(PurchaseStatus::parse);
        Ok(PurchaseFilter {
            email: self.email.clone().filter(|e| !e.trim().is_empty()),
            // A status no purchase can have matches nothing (an empty page).
            limit: if matches!(status, Some(None)) {
                0
            } else {
                PAGE_SIZE + 1
            },
            status: status.flatten(),
            failed_only: self.failed_only(),
            since: day(&self.from, "From")?,
            until: day(&self.to, "To")?.map(|t| t + 86_400),
            offset: offset(self.page),
        })
    }

    /// Whether "failed only" is ticked.
    pub(super) fn failed_only(&self) -> bool {
        self.failed.as_deref().is_some_and(|f| !f.is_empty())
    }

    /// The link to another page of the same search.
    pub(super) fn page_link(&self, page: i64) -> String {
        link(
            "/admin/purchases",
            [
                ("email", self.email.clone()),
                ("status", self.status.clone()),
                ("from", self.from.clone()),
                ("to", self.to.clone()),
                ("failed", self.failed.clone()),
                ("page", Some(page.to_string())),
            ],
        )
    }
}

/// `GET /admin/licenses?q=&product=&page=`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LicenseQuery {
    pub(super) q: Option<String>,
    pub(super) product: Option<String>,
    pub(super) page: Option<i64>,
}

impl LicenseQuery {
    /// The store filter: text with an `@` searches emails, other text is a key, in any
    /// spelling `parse_key` recognises (else as typed).
    pub(super) fn filter(&self, parse_key: impl Fn(&str) -> Option<String>) -> LicenseFilter {
        let text = self.q.as_deref().map(str::trim).unwrap_or_default();
        let (key, email) = if text.is_empty() {
            (None, None)
        } else if text.contains('@') {
            (None, Some(text.to_owned()))
        } else {
            (
                Some(parse_key(text).unwrap_or_else(|| text.to_owned())),
                None,
            )
        };
        LicenseFilter {
            key,
            email,
            product: self.product.clone().filter(|p| !p.is_empty()),
            limit: PAGE_SIZE + 1,
            offset: offset(self.page),
        }
    }

    /// The link to another page of the same search.
    pub(super) fn page_link(&self, page: i64) -> String {
        link(
            "/admin/licenses",
            [
                ("q", self.q.clone()),
                ("product", self.product.clone()),
                ("page", Some(page.to_string())),
            ],
        )
    }
}

/// The page shown: the first for none or a negative number.
/// `GET /admin/trials?product=&state=&page=`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrialQuery {
    pub(super) product: Option<String>,
    pub(super) state: Option<String>,
    pub(super) page: Option<i64>,
}

impl TrialQuery {
    /// The store filter at `now` (one row more than a page, to tell whether more follow).
    pub(super) fn filter(&self, now: i64) -> Result<TrialFilter> {
        Ok(TrialFilter {
            product: self.product.clone().filter(|p| !p.is_empty()),
            state: crate::catalogue::trials::state_filter(self.state.as_deref())?,
            now,
            limit: PAGE_SIZE + 1,
            offset: offset(self.page),
        })
    }

    /// The link to the same list with `state` (`None`: every state), first page.
    pub(super) fn state_link(&self, state: Option<TrialState>) -> String {
        link(
            "/admin/trials",
            [
                ("product", self.product.clone()),
                ("state", state.map(|s| s.as_str().to_owned())),
            ],
        )
    }

    /// The link to another page of the same list.
    pub(super) fn page_link(&self, page: i64) -> String {
        link(
            "/admin/trials",
            [
                ("product", self.product.clone()),
                ("state", self.state.clone()),
                ("page", Some(page.to_string())),
            ],
        )
    }
}

/// `base` with the pairs that have a non-empty value as its query string.
fn link<const N: usize>(base: &str, pairs: [(&str, Option<String>); N]) -> String {
    let kept: Vec<(&str, String)> = pairs
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
    if kept.is_empty() {
        return base.to_owned();
    }
    format!(
        "{base}?{}",
        serde_urlencoded::to_string(kept).unwrap_or_default()
    )
}

pub(super) fn page_no(page: Option<i64>) -> i64 {
    page.unwrap_or(0).max(0)
}

fn offset(page: Option<i64>) -> i64 {
    page.unwrap_or(0).clamp(0, MAX_PAGE) * PAGE_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purchases(query: &str) -> Result<PurchaseFilter> {
        serde_urlencoded::from_str::<PurchaseQuery>(query)
            .map_err(|e| Error::invalid(e.to_string()))?
            .filter()
    }

    type PurchaseRow = (
        Option<&'static str>,
        Option<&'static str>,
        bool,
        Option<i64>,
        Option<i64>,
        i64,
    );

    #[test]
    fn purchase_queries_map_to_filters() {
        // (query, (email, status, failed_only, since, until, offset))
        let table: &[(&str, PurchaseRow)] = &[
            ("", (None, None, false, None, None, 0)),
            (
                "email=&status=&from=&to=&failed=",
                (None, None, false, None, None, 0),
            ),
            ("email=+", (None, None, false, None, None, 0)),
            (
                "email=ada%40example.com",
                (Some("ada@example.com"), None, false, None, None, 0),
            ),
            (
                "status=REFUNDED",
                (None, Some("REFUNDED"), false, None, None, 0),
            ),
            ("failed=1", (None, None, true, None, None, 0)),
            (
                "from=1970-01-02",
                (None, None, false, Some(86_400), None, 0),
            ),
            ("to=1970-01-02", (None, None, false, None, Some(172_800), 0)),
            (
                "from=+1970-01-01+&to=1970-01-01",
                (None, None, false, Some(0), Some(86_400), 0),
            ),
            ("page=2", (None, None, false, None, None, 100)),
            ("page=-3", (None, None, false, None, None, 0)),
            (
                "page=999999999",
                (None, None, false, None, None, MAX_PAGE * PAGE_SIZE),
            ),
        ];
        for (query, want) in table {
            let f = purchases(query).expect(query);
            let got = (
                f.email.as_deref(),
                f.status.map(PurchaseStatus::as_str),
                f.failed_only,
                f.since,
                f.until,
                f.offset,
            );
            let want = (want.0, want.1, want.2, want.3, want.4, want.5);
            assert_eq!(got, want, "{query}");
            assert_eq!(
                f.limit,
                PAGE_SIZE + 1,
                "one extra row tells whether a next page exists"
            );
        }
    }

    #[test]
    fn bad_purchase_queries_say_which_field() {
        let table: &[(&str, &str)] = &[
            ("from=yesterday", "From must be a date (YYYY-MM-DD)"),
            ("to=2026-02-31", "To must be a date (YYYY-MM-DD)"),
        ];
        for (query, want) in table {
            let e = purchases(query).expect_err(query);
            assert_eq!(e.public_message(), *want, "{query}");
        }
        for query in ["page=x", "sort=date"] {
            assert!(
                serde_urlencoded::from_str::<PurchaseQuery>(query).is_err(),
                "{query}"
            );
        }
    }

    #[test]
    fn license_queries_search_emails_or_keys() {
        let parse = |t: &str| (t == "abcd-efgh").then(|| "ABCD-EFGH".to_owned());
        // (query, (key, email, product, offset))
        type Row = (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            i64,
        );
        let table: &[(&str, Row)] = &[
            ("", (None, None, None, 0)),
            ("q=+&product=", (None, None, None, 0)),
            (
                "q=ada%40example.com",
                (None, Some("ada@example.com"), None, 0),
            ),
            ("q=+abcd-efgh+", (Some("ABCD-EFGH"), None, None, 0)),
            ("q=not-a-key", (Some("not-a-key"), None, None, 0)),
            (
                "product=photo&page=1",
                (None, None, Some("photo"), PAGE_SIZE),
            ),
            ("page=-1", (None, None, None, 0)),
        ];
        for (query, want) in table {
            let q: LicenseQuery = serde_urlencoded::from_str(query).expect(query);
            let f = q.filter(parse);
            let got = (
                f.key.as_deref(),
                f.email.as_deref(),
                f.product.as_deref(),
                f.offset,
            );
            assert_eq!(got, *want, "{query}");
            assert_eq!(f.limit, PAGE_SIZE + 1);
        }
    }

    #[test]
    fn page_links_keep_the_search_and_drop_empty_fields() {
        let table: &[(&str, i64, &str)] = &[
            ("", 1, "/admin/purchases?page=1"),
            (
                "email=&status=COMPLETED&page=3",
                2,
                "/admin/purchases?status=COMPLETED&page=2",
            ),
            (
                "email=a%2Bb%40x.io&from=2026-01-01&to=2026-02-01&failed=1",
                1,
                "/admin/purchases?email=a%2Bb%40x.io&from=2026-01-01&to=2026-02-01&failed=1&page=1",
            ),
        ];
        for (query, page, want) in table {
            let q: PurchaseQuery = serde_urlencoded::from_str(query).expect(query);
            assert_eq!(q.page_link(*page), *want, "{query}");
        }
        let table: &[(&str, i64, &str)] = &[
            ("", 1, "/admin/licenses?page=1"),
            ("q=&product=", 0, "/admin/licenses?page=0"),
            (
                "q=ada+l&product=photo&page=4",
                3,
                "/admin/licenses?q=ada+l&product=photo&page=3",
            ),
        ];
        for (query, page, want) in table {
            let q: LicenseQuery = serde_urlencoded::from_str(query).expect(query);
            assert_eq!(q.page_link(*page), *want, "{query}");
        }
    }

    #[test]
    fn pages_shown_start_at_the_first() {
        for (page, want) in [(None, 0), (Some(-5), 0), (Some(0), 0), (Some(7), 7)] {
            assert_eq!(page_no(page), want, "{page:?}");
        }
    }
}
