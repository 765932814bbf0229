//! Health, public keys and metrics.

use std::sync::Arc;

use licet_proto::api::Health;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use super::with_app;
use crate::app::App;
use crate::platform::error::Error;

/// `GET /healthz`, `GET /.well-known/jwks.json`, `GET /metrics`.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    // GET /healthz: 200 when the database answers.
    let health = warp::path!("healthz")
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move {
            let r = app
                .store
                .ping()
                .await
                .map_err(Error::from)
                .map(|()| Health {
                    status: "ok".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                });
            super::reply::result(StatusCode::OK, r)
        });
    // GET /.well-known/jwks.json: every published public key (RFC 7517 / 8037).
    let jwks = warp::path!(".well-known" / "jwks.json")
        .and(warp::get())
        .and(with_app(app.clone()))
        .map(|app: Arc<App>| {
            let mut res = warp::reply::json(&app.keys.jwks()).into_response();
            res.headers_mut().insert(
                warp::http::header::CACHE_CONTROL,
                warp::http::HeaderValue::from_static("public, max-age=300"),
            );
            res
        });
    // GET /metrics: Prometheus text format.
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_app(app))
        .map(|app: Arc<App>| {
            warp::reply::with_header(
                app.metrics.render(),
                "content-type",
                "text/plain; version=0.0.4",
            )
            .into_response()
        });
    health.or(jwks).unify().or(metrics).unify().boxed()
}
