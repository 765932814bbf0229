//! The JSON API: the license API, the admin API, payment webhooks and downloads. Each route
//! parses, calls the domain, and replies. Also the request filters the web pages share
//! (the app, the caller, queries, bodies).

mod admin;
pub(crate) mod body;
mod downloads;
mod license;
mod meta;
mod releases;
pub mod reply;
mod sales;

use std::convert::Infallible;
use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::HeaderMap;
use warp::reply::Response;

use crate::app::App;
use crate::auth::Admin;
use crate::http_server::PeerAddr;
use crate::licensing::Caller;
use crate::platform::error::{Error, Result};

/// Every API route.
pub(crate) fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    any_of([
        meta::routes(app.clone()),
        license::routes(app.clone()),
        admin::routes(app.clone()),
        sales::routes(app.clone()),
        releases::routes(app.clone()),
        downloads::routes(app),
    ])
}

/// Tries each route in turn. Once a route's path and method match, it answers (errors are
/// JSON error replies, not rejections): a rejection inside `.or()` lets warp try the next
/// route and can surface as a 405 instead of the real error. Only what no route takes
/// reaches [`reply::recover`].
pub(crate) fn any_of<const N: usize>(
    routes: [BoxedFilter<(Response,)>; N],
) -> BoxedFilter<(Response,)> {
    routes
        .into_iter()
        .reduce(|a, b| a.or(b).unify().boxed())
        .expect("a route table lists at least one route")
}

/// Hands the app to a handler.
pub(crate) fn with_app(
    app: Arc<App>,
) -> impl Filter<Extract = (Arc<App>,), Error = Infallible> + Clone {
    warp::any().map(move || app.clone())
}

/// The caller's IP: the socket peer, or, behind a trusted reverse proxy
/// (`LICET_TRUST_FORWARDED_FOR`), the address that proxy appended to `X-Forwarded-For`.
pub(crate) fn client(
    app: Arc<App>,
) -> impl Filter<Extract = (Caller,), Error = Infallible> + Clone {
    warp::ext::optional::<PeerAddr>()
        .and(warp::header::headers_cloned())
        .map(move |peer: Option<PeerAddr>, headers: HeaderMap| {
            let forwarded = app
                .config
                .trust_forwarded_for
                .then(|| forwarded_client(&headers))
                .flatten();
            let ip = forwarded
                .or_else(|| peer.map(|PeerAddr(p)| p.ip().to_string()))
                .unwrap_or_else(|| "unknown".into());
            Caller { ip }
        })
}

/// The client address a trusted proxy added to `X-Forwarded-For`: the last value of the
/// last header line. Everything before it came from the client (which can send its own
/// header, or several) and proves nothing; a proxy appends its peer at the very end, on
/// the same line or on a line of its own. `None` when that value is not an IP address.
pub(crate) fn forwarded_client(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .and_then(|v| v.parse::<std::net::IpAddr>().ok())
        .map(|ip| ip.to_string())
}

/// The query string parsed as `T` (an empty query is all defaults), errors as values.
pub(crate) fn query<T>()
-> impl Filter<Extract = (Result<T>,), Error = std::convert::Infallible> + Clone
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .map(|raw: String| {
            serde_urlencoded::from_str::<T>(&raw)
                .map_err(|e| Error::invalid(format!("invalid query: {e}")))
        })
}

/// Resolves the bearer token to the vendor's [`Admin`] proof (audit actor
/// `admin:<token id>` or `admin:env`), or `UNAUTHORIZED`; failed tokens are rate-limited
/// per client IP. An error stays a value (see [`reply`]) so the handler answers it.
fn authorized(
    app: Arc<App>,
) -> impl Filter<Extract = (Result<Admin>,), Error = std::convert::Infallible> + Clone {
    client(app.clone())
        .and(warp::header::headers_cloned())
        .then(move |caller: Caller, headers: HeaderMap| {
            let app = app.clone();
            async move {
                let presented = headers
                    .get(warp::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default();
                crate::auth::admin::authorize_bearer(&app, &caller.ip, presented).await
            }
        })
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;
    use warp::http::{HeaderMap, HeaderValue};

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", HeaderValue::from_str(l).expect("header"));
        }
        h
    }

    #[test]
    fn the_client_is_the_last_address_the_trusted_proxy_appended() {
        let cases: [(&[&str], Option<&str>); 7] = [
            (&["203.0.113.9"], Some("203.0.113.9")),
            // A client's own header, then the address the proxy appended on the same line.
            (&["1.2.3.4, 203.0.113.9"], Some("203.0.113.9")),
            // A client's own header line, then a line the proxy added.
            (&["1.2.3.4", "203.0.113.9"], Some("203.0.113.9")),
            (
                &["1.2.3.4, 5.6.7.8", "10.0.0.1, 203.0.113.9"],
                Some("203.0.113.9"),
            ),
            (&["2001:db8::1"], Some("2001:db8::1")),
            (&["1.2.3.4", "not-an-ip"], None),
            (&[], None),
        ];
        for (lines, want) in cases {
            assert_eq!(
                forwarded_client(&headers(lines)).as_deref(),
                want,
                "{lines:?}"
            );
        }
    }
}
