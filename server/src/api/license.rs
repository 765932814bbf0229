//! The public license API.

use std::sync::Arc;

use licet_proto::api::{ActivateRequest, KeyAndFingerprint};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{body, client, reply, with_app};
use crate::app::App;
use crate::licensing::{self, Caller};
use crate::platform::error::Error;

/// `POST /v1/licenses/activate`, `…/validate`, `…/deactivate`.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    // POST /v1/licenses/activate: take (or refresh) this machine's seat.
    let activate = warp::path!("v1" / "licenses" / "activate")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(client(app.clone()))
        .and(body::json::<ActivateRequest>(limit))
        .then(
            |app: Arc<App>, caller: Caller, req: Result<ActivateRequest, Error>| async move {
                let r = match req {
                    Ok(req) => licensing::activate(&app, &caller, req).await,
                    Err(e) => Err(e),
                };
                reply::result(StatusCode::OK, r)
            },
        );
    // POST /v1/licenses/validate: license state and a fresh lease.
    let validate = warp::path!("v1" / "licenses" / "validate")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(client(app.clone()))
        .and(body::json::<KeyAndFingerprint>(limit))
        .then(
            |app: Arc<App>, caller: Caller, req: Result<KeyAndFingerprint, Error>| async move {
                let r = match req {
                    Ok(req) => licensing::validate(&app, &caller, req).await,
                    Err(e) => Err(e),
                };
                reply::result(StatusCode::OK, r)
            },
        );
    // POST /v1/licenses/deactivate: free this machine's seat.
    let deactivate = warp::path!("v1" / "licenses" / "deactivate")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(client(app))
        .and(body::json::<KeyAndFingerprint>(limit))
        .then(
            |app: Arc<App>, caller: Caller, req: Result<KeyAndFingerprint, Error>| async move {
                let r = match req {
                    Ok(req) => licensing::deactivate(&app, &caller, req).await,
                    Err(e) => Err(e),
                };
                reply::result(StatusCode::OK, r)
            },
        );
    activate.or(validate).unify().or(deactivate).unify().boxed()
}
