//! Sales routes: the Stripe webhook, purchases in the admin API, and access queries.

use std::sync::Arc;

use bytes::BytesMut;
use licet_proto::admin::{CreatePurchase, Page, PurchaseStatus};
use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{any_of, authorized, body, query, reply, with_app};
use crate::app::App;
use crate::auth::{Actor, Admin};
use crate::commerce::sales;
use crate::commerce::webhooks;
use crate::platform::error::Result;
use crate::store::PurchaseFilter;

/// Largest webhook body accepted (Stripe events are tens of kilobytes).
const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// Every sales route: one line each, `path, method, filters => handler`.
#[rustfmt::skip]
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    let admin = || with_app(app.clone()).and(authorized(app.clone()));
    any_of([
        warp::path!("v1" / "webhooks" / "stripe").and(warp::post()).and(with_app(app.clone())).and(warp::header::optional("stripe-signature")).and(body::raw(WEBHOOK_BODY_LIMIT)).then(stripe).boxed(),
        warp::path!("v1" / "admin" / "purchases").and(warp::post()).and(admin()).and(body::json(limit)).then(grant).boxed(),
        warp::path!("v1" / "admin" / "purchases").and(warp::get()).and(admin()).and(query()).then(list).boxed(),
        warp::path!("v1" / "admin" / "purchases" / String).and(warp::get()).and(admin()).then(show).boxed(),
        warp::path!("v1" / "admin" / "purchases" / String / "fulfil").and(warp::post()).and(admin()).then(fulfil).boxed(),
        warp::path!("v1" / "access").and(warp::get()).and(admin()).and(query()).then(access).boxed(),
    ])
}

/// `POST /v1/webhooks/stripe`: Stripe events, signed with the endpoint secret.
async fn stripe(app: Arc<App>, signature: Option<String>, body: Result<BytesMut>) -> Response {
    let r = async { webhooks::stripe(&app, signature.as_deref(), &body?).await };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/admin/purchases`: a completed purchase by hand, fulfilled like a paid one.
async fn grant(app: Arc<App>, admin: Result<Admin>, req: Result<CreatePurchase>) -> Response {
    let r = async { sales::grant(&app, &admin?, req?).await };
    reply::result(StatusCode::CREATED, r.await)
}

/// `GET /v1/admin/purchases?email=&status=&failed=&since=&until=&limit=&offset=`
async fn list(app: Arc<App>, admin: Result<Admin>, q: Result<PurchaseQuery>) -> Response {
    let r = async {
        admin?;
        let q = q?;
        let status = match q.status {
            None => None,
            Some(text) => match PurchaseStatus::parse(&text.to_ascii_uppercase()) {
                Some(status) => Some(status),
                // A status no purchase can have matches nothing.
                None => return Ok(Page { items: Vec::new() }),
            },
        };
        let filter = PurchaseFilter {
            email: q.email,
            status,
            failed_only: q.failed.unwrap_or(false),
            since: q.since,
            until: q.until,
            limit: q.limit.unwrap_or(50).clamp(1, 500),
            offset: q.offset.unwrap_or(0).max(0),
        };
        Ok(Page {
            items: sales::list(&app, &filter).await?,
        })
    };
    reply::result(StatusCode::OK, r.await)
}

/// `GET /v1/admin/purchases/{id}`
async fn show(id: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        admin?;
        sales::show(&app, &id).await
    };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/admin/purchases/{id}/fulfil`: retry a failed fulfilment (idempotent).
async fn fulfil(id: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        sales::fulfil(&app, Actor::Admin(&admin?), &id).await?;
        sales::show(&app, &id).await
    };
    reply::result(StatusCode::OK, r.await)
}

/// `GET /v1/access?email=&product=`: does this customer have access (admin token)?
async fn access(app: Arc<App>, admin: Result<Admin>, q: Result<AccessQuery>) -> Response {
    let r = async {
        admin?;
        let q = q?;
        sales::access(&app, &q.email, &q.product).await
    };
    reply::result(StatusCode::OK, r.await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseQuery {
    email: Option<String>,
    status: Option<String>,
    failed: Option<bool>,
    since: Option<i64>,
    until: Option<i64>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessQuery {
    email: String,
    product: String,
}
