//! Sales routes: the Stripe webhook, purchases in the admin API, and access queries.

use std::sync::Arc;

use licet_proto::admin::{CreatePurchase, Page};
use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{authorized, body, query, reply, with_app};
use crate::app::App;
use crate::commerce::sales;
use crate::commerce::webhooks;
use crate::platform::error::Result;
use crate::store::PurchaseFilter;

/// Largest webhook body accepted (Stripe events are tens of kilobytes).
const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// Every sales route.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    let admin = || with_app(app.clone()).and(authorized(app.clone()));

    // POST /v1/webhooks/stripe: Stripe events, signed with the endpoint secret.
    let stripe = warp::path!("v1" / "webhooks" / "stripe")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(warp::header::optional::<String>("stripe-signature"))
        .and(body::raw(WEBHOOK_BODY_LIMIT))
        .then(
            |app: Arc<App>, signature: Option<String>, body: Result<bytes::BytesMut>| async move {
                let r = async { webhooks::stripe(&app, signature.as_deref(), &body?).await }.await;
                reply::result(StatusCode::OK, r)
            },
        );
    // POST /v1/admin/purchases: a completed purchase by hand, fulfilled like a paid one.
    let create = warp::path!("v1" / "admin" / "purchases")
        .and(warp::post())
        .and(admin())
        .and(body::json::<CreatePurchase>(limit))
        .then(
            |app: Arc<App>, actor: Result<String>, req: Result<CreatePurchase>| async move {
                let r = async { sales::grant(&app, &actor?, req?).await }.await;
                reply::result(StatusCode::CREATED, r)
            },
        );
    // GET /v1/admin/purchases?email=&status=&failed=&since=&until=&limit=&offset=
    let list = warp::path!("v1" / "admin" / "purchases")
        .and(warp::get())
        .and(admin())
        .and(query::<PurchaseQuery>())
        .then(
            |app: Arc<App>, actor: Result<String>, q: Result<PurchaseQuery>| async move {
                let r = async {
                    actor?;
                    let q = q?;
                    let filter = PurchaseFilter {
                        email: q.email,
                        status: q.status.map(|s| s.to_ascii_uppercase()),
                        failed_only: q.failed.unwrap_or(false),
                        since: q.since,
                        until: q.until,
                        limit: q.limit.unwrap_or(50).clamp(1, 500),
                        offset: q.offset.unwrap_or(0).max(0),
                    };
                    Ok(Page {
                        items: sales::list(&app, &filter).await?,
                    })
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    // GET /v1/admin/purchases/{id}
    let show = warp::path!("v1" / "admin" / "purchases" / String)
        .and(warp::get())
        .and(admin())
        .then(
            |id: String, app: Arc<App>, actor: Result<String>| async move {
                let r = async {
                    actor?;
                    sales::show(&app, &id).await
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    // POST /v1/admin/purchases/{id}/fulfil: retry a failed fulfilment (idempotent).
    let fulfil = warp::path!("v1" / "admin" / "purchases" / String / "fulfil")
        .and(warp::post())
        .and(admin())
        .then(
            |id: String, app: Arc<App>, actor: Result<String>| async move {
                let r = async {
                    sales::fulfil(&app, &actor?, &id).await?;
                    sales::show(&app, &id).await
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    // GET /v1/access?email=&product=: does this customer have access (admin token)?
    let access = warp::path!("v1" / "access")
        .and(warp::get())
        .and(admin())
        .and(query::<AccessQuery>())
        .then(
            |app: Arc<App>, actor: Result<String>, q: Result<AccessQuery>| async move {
                let r = async {
                    actor?;
                    let q = q?;
                    sales::access(&app, &q.email, &q.product).await
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    stripe
        .or(create)
        .unify()
        .or(list)
        .unify()
        .or(show)
        .unify()
        .or(fulfil)
        .unify()
        .or(access)
        .unify()
        .boxed()
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
