//! HTTP only: each route parses, calls the domain, and replies. Routes are assembled here.

mod admin;
mod body;
mod dashboard;
mod downloads;
mod license;
mod meta;
mod portal;
pub mod reply;
mod sales;
mod web;

use std::convert::Infallible;
use std::sync::Arc;

use warp::Filter;
use warp::http::HeaderMap;

use crate::app::App;
use crate::error::{Error, Result};
use crate::http_server::PeerAddr;
use crate::licensing::Caller;
use crate::metrics::route_label;
use licet_proto::ErrorCode;

/// Every route, with JSON errors for unmatched requests and request metrics.
pub fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone {
    let observed = app.clone();
    meta::routes(app.clone())
        .or(license::routes(app.clone()))
        .unify()
        .or(admin::routes(app.clone()))
        .unify()
        .or(sales::routes(app.clone()))
        .unify()
        .or(downloads::routes(app.clone()))
        .unify()
        .or(portal::routes(app.clone()))
        .unify()
        .or(dashboard::routes(app.clone()))
        .unify()
        .or(web::routes(app))
        .unify()
        .recover(reply::recover)
        .unify()
        .with(warp::log::custom(move |info| {
            let method = match *info.method() {
                warp::http::Method::GET => "GET",
                warp::http::Method::POST => "POST",
                warp::http::Method::PATCH => "PATCH",
                warp::http::Method::DELETE => "DELETE",
                warp::http::Method::HEAD => "HEAD",
                _ => "OTHER",
            };
            let route = route_label(info.path());
            observed
                .metrics
                .observe(method, route, info.status().as_u16(), info.elapsed());
            tracing::debug!(
                method,
                route,
                status = info.status().as_u16(),
                micros = info.elapsed().as_micros() as u64,
                "request"
            );
        }))
}

/// Hands the app to a handler.
fn with_app(app: Arc<App>) -> impl Filter<Extract = (Arc<App>,), Error = Infallible> + Clone {
    warp::any().map(move || app.clone())
}

/// The caller's IP: the socket peer, or the last `X-Forwarded-For` hop when configured.
fn client(app: Arc<App>) -> impl Filter<Extract = (Caller,), Error = Infallible> + Clone {
    warp::ext::optional::<PeerAddr>()
        .and(warp::header::headers_cloned())
        .map(move |peer: Option<PeerAddr>, headers: HeaderMap| {
            let forwarded = app
                .config
                .trust_forwarded_for
                .then(|| headers.get("x-forwarded-for"))
                .flatten()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .map(|v| v.trim().to_owned())
                .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
            let ip = forwarded
                .or_else(|| peer.map(|PeerAddr(p)| p.ip().to_string()))
                .unwrap_or_else(|| "unknown".into());
            Caller { ip }
        })
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

/// Resolves the bearer token to an audit actor (`admin:<token id>`), or `UNAUTHORIZED`.
fn authorized(
    app: Arc<App>,
) -> impl Filter<Extract = (Result<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::headers_cloned().then(move |headers: HeaderMap| {
        let app = app.clone();
        async move { authorize(&app, &headers).await }
    })
}

async fn authorize(app: &App, headers: &HeaderMap) -> Result<String> {
    let presented = headers
        .get(warp::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    crate::admin_auth::actor_for_token(app, presented)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::Unauthorized, "a valid admin token is required"))
}
