//! Health, public keys and metrics.

use std::sync::Arc;

use licet_proto::api::Health;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use super::{any_of, reply, with_app};
use crate::app::App;

/// `GET /healthz`, `GET /.well-known/jwks.json`, `GET /metrics`: one line each.
#[rustfmt::skip]
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let app = || with_app(app.clone());
    any_of([
        warp::path!("healthz").and(warp::get()).and(app()).then(health).boxed(),
        warp::path!(".well-known" / "jwks.json").and(warp::get()).and(app()).map(jwks).boxed(),
        warp::path!("metrics").and(warp::get()).and(app()).map(metrics).boxed(),
    ])
}

/// `GET /healthz`: 200 when the database answers.
async fn health(app: Arc<App>) -> Response {
    let r = app.store.ping().await.map(|()| Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    });
    reply::result(StatusCode::OK, r)
}

/// `GET /.well-known/jwks.json`: every published public key (RFC 7517 / 8037).
fn jwks(app: Arc<App>) -> Response {
    let mut res = warp::reply::json(&app.keys.jwks()).into_response();
    res.headers_mut().insert(
        warp::http::header::CACHE_CONTROL,
        warp::http::HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// `GET /metrics`: Prometheus text format.
fn metrics(app: Arc<App>) -> Response {
    warp::reply::with_header(
        app.metrics.render(),
        "content-type",
        "text/plain; version=0.0.4",
    )
    .into_response()
}
