//! Every route of the server, API and pages, with JSON errors for unmatched requests and
//! request metrics.

use std::convert::Infallible;
use std::sync::Arc;

use warp::Filter;

use crate::app::App;
use crate::platform::metrics::route_label;

/// Every route, with JSON errors for unmatched requests and request metrics.
pub(crate) fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone {
    let observed = app.clone();
    crate::api::routes(app.clone())
        .or(crate::web::routes(app))
        .unify()
        .recover(crate::api::reply::recover)
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
