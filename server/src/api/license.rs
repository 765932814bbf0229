//! The public license API.

use std::sync::Arc;

use licet_proto::api::{ActivateRequest, KeyAndFingerprint, ValidateRequest};
use licet_proto::floating::{CheckoutRequest, ReleaseSeatRequest};
use licet_proto::offline::{OfflineActivateRequest, OfflineDeactivateRequest};
use licet_proto::trials::StartTrialRequest;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{any_of, body, client, reply, with_app};
use crate::app::App;
use crate::licensing::offline::Scope;
use crate::licensing::{self, Caller};
use crate::platform::error::Result;

/// `POST /v1/licenses/activate`, `…/validate`, `…/deactivate`, the floating seats', the
/// air-gapped activation's and `POST /v1/trials/activate`: one line each.
#[rustfmt::skip]
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    let caller = || with_app(app.clone()).and(client(app.clone()));
    any_of([
        warp::path!("v1" / "licenses" / "activate").and(warp::post()).and(caller()).and(body::json(limit)).then(activate).boxed(),
        warp::path!("v1" / "licenses" / "validate").and(warp::post()).and(caller()).and(body::json(limit)).then(validate).boxed(),
        warp::path!("v1" / "licenses" / "deactivate").and(warp::post()).and(caller()).and(body::json(limit)).then(deactivate).boxed(),
        warp::path!("v1" / "trials" / "activate").and(warp::post()).and(caller()).and(body::json(limit)).then(start_trial).boxed(),
        warp::path!("v1" / "licenses" / "checkout").and(warp::post()).and(caller()).and(body::json(limit)).then(checkout).boxed(),
        warp::path!("v1" / "licenses" / "heartbeat").and(warp::post()).and(caller()).and(body::json(limit)).then(checkout).boxed(),
        warp::path!("v1" / "licenses" / "release").and(warp::post()).and(caller()).and(body::json(limit)).then(release).boxed(),
        warp::path!("v1" / "licenses" / "offline" / "activate").and(warp::post()).and(caller()).and(body::json(limit)).then(offline_activate).boxed(),
        warp::path!("v1" / "licenses" / "offline" / "deactivate").and(warp::post()).and(caller()).and(body::json(limit)).then(offline_deactivate).boxed(),
    ])
}

/// `POST /v1/licenses/activate`: take (or refresh) this machine's seat.
async fn activate(app: Arc<App>, caller: Caller, req: Result<ActivateRequest>) -> Response {
    let r = async { licensing::activate(&app, &caller, req?).await };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/licenses/validate`: license state and a fresh lease (or "unchanged").
async fn validate(app: Arc<App>, caller: Caller, req: Result<ValidateRequest>) -> Response {
    let r = async { licensing::validate(&app, &caller, req?).await };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/licenses/deactivate`: free this machine's seat.
async fn deactivate(app: Arc<App>, caller: Caller, req: Result<KeyAndFingerprint>) -> Response {
    let r = async { licensing::deactivate(&app, &caller, req?).await };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/licenses/checkout` and `…/heartbeat` (the same operation): take or renew this
/// holder's floating seat, with a lease that ends with it.
async fn checkout(app: Arc<App>, caller: Caller, req: Result<CheckoutRequest>) -> Response {
    let r = async { licensing::floating::checkout(&app, &caller, req?).await };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/licenses/release`: give the floating seat back.
async fn release(app: Arc<App>, caller: Caller, req: Result<ReleaseSeatRequest>) -> Response {
    let r = async { licensing::floating::release(&app, &caller, req?).await };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/trials/activate`: start (or resume) this machine's trial, with a lease.
async fn start_trial(app: Arc<App>, caller: Caller, req: Result<StartTrialRequest>) -> Response {
    let r = async { licensing::trials::start(&app, &caller, req?).await };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/licenses/offline/activate`: take a seat for an air-gapped machine's activation
/// request (which carries the key) and answer its activation response.
async fn offline_activate(
    app: Arc<App>,
    caller: Caller,
    req: Result<OfflineActivateRequest>,
) -> Response {
    let r = async {
        licensing::offline::activate(&app, &caller, Scope::Any, "public", &req?.request).await
    };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/licenses/offline/deactivate`: free an air-gapped machine's seat with its
/// deactivation proof (which only that machine's per-activation key can sign).
async fn offline_deactivate(
    app: Arc<App>,
    caller: Caller,
    req: Result<OfflineDeactivateRequest>,
) -> Response {
    let r = async {
        licensing::offline::deactivate(&app, &caller, Scope::Any, "public", &req?.proof).await
    };
    reply::result(StatusCode::OK, r.await)
}
