//! The vendor's admin API under `/v1/admin/`, behind `Authorization: Bearer <admin token>`.

use std::sync::Arc;

use licet_proto::ErrorCode;
use licet_proto::admin::{
    AuditEntry, CreateProduct, ExtendLicense, IssueLicense, Page, UpdateLicense, UpdateProduct,
};
use serde::{Deserialize, Serialize};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{any_of, authorized, body, query, reply, with_app};
use crate::app::App;
use crate::auth::{Actor, Admin};
use crate::catalogue::{self, StatusChange};
use crate::licensing::signing;
use crate::platform::error::{Error, Result};
use crate::store::{LicenseFilter, TrialFilter};

/// Every admin route: one line each, `path, method, filters => handler`.
#[rustfmt::skip]
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    let admin = || with_app(app.clone()).and(authorized(app.clone()));
    any_of([
        warp::path!("v1" / "admin" / "products").and(warp::post()).and(admin()).and(body::json(limit)).then(create_product).boxed(),
        warp::path!("v1" / "admin" / "products").and(warp::get()).and(admin()).then(list_products).boxed(),
        warp::path!("v1" / "admin" / "products" / String).and(warp::get()).and(admin()).then(get_product).boxed(),
        warp::path!("v1" / "admin" / "products" / String).and(warp::patch()).and(admin()).and(body::json(limit)).then(update_product).boxed(),
        warp::path!("v1" / "admin" / "licenses").and(warp::post()).and(admin()).and(body::json(limit)).then(issue_license).boxed(),
        warp::path!("v1" / "admin" / "licenses").and(warp::get()).and(admin()).and(query()).then(list_licenses).boxed(),
        warp::path!("v1" / "admin" / "licenses" / String).and(warp::get()).and(admin()).then(show_license).boxed(),
        warp::path!("v1" / "admin" / "trials").and(warp::get()).and(admin()).and(query()).then(list_trials).boxed(),
        warp::path!("v1" / "admin" / "trials" / "stats").and(warp::get()).and(admin()).then(trial_stats).boxed(),
        warp::path!("v1" / "admin" / "licenses" / String).and(warp::patch()).and(admin()).and(body::json(limit)).then(update_license).boxed(),
        warp::path!("v1" / "admin" / "licenses" / String / "extend").and(warp::post()).and(admin()).and(body::json(limit)).then(extend).boxed(),
        warp::path!("v1" / "admin" / "licenses" / String / String).and(warp::post()).and(admin()).then(change_status).boxed(),
        warp::path!("v1" / "admin" / "licenses" / String / "activations" / String).and(warp::delete()).and(admin()).then(remove_activation).boxed(),
        warp::path!("v1" / "admin" / "licenses" / String / "seats").and(warp::get()).and(admin()).then(seats).boxed(),
        warp::path!("v1" / "admin" / "licenses" / String / "seats" / String).and(warp::delete()).and(admin()).then(kick_seat).boxed(),
        warp::path!("v1" / "admin" / "keys").and(warp::get()).and(admin()).then(keys).boxed(),
        warp::path!("v1" / "admin" / "keys" / String).and(warp::post()).and(admin()).then(key_action).boxed(),
        warp::path!("v1" / "admin" / "keys" / String / "retire").and(warp::post()).and(admin()).then(retire_key).boxed(),
        warp::path!("v1" / "admin" / "audit").and(warp::get()).and(admin()).and(query()).then(audit).boxed(),
    ])
}

// Every handler takes the bearer check as `Result<Admin>`: the vendor's operations need the
// `Admin` inside, and a read-only handler that never looked at it would not pass the
// unused-variable lint.

/// `POST /v1/admin/products`: create a product.
async fn create_product(
    app: Arc<App>,
    admin: Result<Admin>,
    req: Result<CreateProduct>,
) -> Response {
    let r = async { catalogue::create_product(&app, &admin?, req?).await };
    reply::result(StatusCode::CREATED, r.await)
}

/// `GET /v1/admin/products`: every product.
async fn list_products(app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        admin?;
        let rows = app.store.products().await?;
        Ok(Page {
            items: rows.iter().map(|p| p.to_wire()).collect(),
        })
    };
    reply::result(StatusCode::OK, r.await)
}

/// `GET /v1/admin/products/{slug}`: one product.
async fn get_product(slug: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        admin?;
        Ok(catalogue::product(&app, &slug).await?.to_wire())
    };
    reply::result(StatusCode::OK, r.await)
}

/// `PATCH /v1/admin/products/{slug}`: change the policy.
async fn update_product(
    slug: String,
    app: Arc<App>,
    admin: Result<Admin>,
    req: Result<UpdateProduct>,
) -> Response {
    let r = async { crate::releases::update_product(&app, &admin?, &slug, req?).await };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/admin/licenses`: issue a license.
async fn issue_license(app: Arc<App>, admin: Result<Admin>, req: Result<IssueLicense>) -> Response {
    let r = async { catalogue::issue_license(&app, &admin?, req?).await };
    reply::result(StatusCode::CREATED, r.await)
}

/// `GET /v1/admin/licenses?key=&email=&product=&limit=&offset=`: find licenses.
async fn list_licenses(app: Arc<App>, admin: Result<Admin>, q: Result<LicenseQuery>) -> Response {
    let r = async {
        admin?;
        let q = q?;
        let key = q.key.map(|k| app.key_format.parse(&k).unwrap_or(k));
        let filter = LicenseFilter {
            key,
            email: q.email,
            product: q.product,
            limit: q.limit.unwrap_or(50).clamp(1, 500),
            offset: q.offset.unwrap_or(0).max(0),
        };
        Ok(Page {
            items: catalogue::list_licenses(&app, filter).await?,
        })
    };
    reply::result(StatusCode::OK, r.await)
}

/// `GET /v1/admin/trials?product=&state=active|expired|converted&limit=&offset=`: trials,
/// newest first.
async fn list_trials(app: Arc<App>, admin: Result<Admin>, q: Result<TrialQuery>) -> Response {
    let r = async {
        admin?;
        let q = q?;
        let filter = TrialFilter {
            state: catalogue::trials::state_filter(q.state.as_deref())?,
            product: q.product,
            now: app.now(),
            limit: q.limit.unwrap_or(50).clamp(1, 500),
            offset: q.offset.unwrap_or(0).max(0),
        };
        Ok(Page {
            items: catalogue::trials::list_trials(&app, filter).await?,
        })
    };
    reply::result(StatusCode::OK, r.await)
}

/// `GET /v1/admin/trials/stats`: trials started, active, expired and converted per product.
async fn trial_stats(app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        admin?;
        Ok(Page {
            items: catalogue::trials::trial_stats(&app, app.now()).await?,
        })
    };
    reply::result(StatusCode::OK, r.await)
}

/// `GET /v1/admin/licenses/{id or key}`: one license with its activations.
async fn show_license(id: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        admin?;
        catalogue::show_license(&app, &id).await
    };
    reply::result(StatusCode::OK, r.await)
}

/// `PATCH /v1/admin/licenses/{id}`: per-license overrides and email.
async fn update_license(
    id: String,
    app: Arc<App>,
    admin: Result<Admin>,
    req: Result<UpdateLicense>,
) -> Response {
    let r = async { catalogue::update_license(&app, &admin?, &id, req?).await };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/admin/licenses/{id}/extend`: new expiry.
async fn extend(
    id: String,
    app: Arc<App>,
    admin: Result<Admin>,
    req: Result<ExtendLicense>,
) -> Response {
    let r = async { catalogue::extend(&app, &admin?, &id, req?).await };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/admin/licenses/{id}/{suspend|reinstate|revoke}`: status changes.
async fn change_status(
    id: String,
    action: String,
    app: Arc<App>,
    admin: Result<Admin>,
) -> Response {
    let r = async {
        let admin = admin?;
        let change: StatusChange = action
            .parse()
            .map_err(|_| Error::new(ErrorCode::NotFound, "no such license action"))?;
        catalogue::change_status(&app, &admin, &id, change).await
    };
    reply::result(StatusCode::OK, r.await)
}

/// `DELETE /v1/admin/licenses/{id}/activations/{activation id}`: free a seat.
async fn remove_activation(
    id: String,
    activation: String,
    app: Arc<App>,
    admin: Result<Admin>,
) -> Response {
    let r = async {
        let admin = admin?;
        catalogue::remove_activation(&app, Actor::Admin(&admin), &id, &activation).await
    };
    reply::result(StatusCode::OK, r.await)
}

/// `GET /v1/admin/keys`: signing keys (public halves and states).
async fn keys(app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        admin?;
        key_list(&app).await
    };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/admin/keys/{generate|rotate}`.
async fn key_action(action: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        let admin = admin?;
        let now = app.now();
        match action.as_str() {
            "generate" => signing::generate(&app.store, &app.master, now, &admin, false).await?,
            "rotate" => signing::rotate(&app.store, &app.master, now, &admin).await?,
            _ => return Err(Error::new(ErrorCode::NotFound, "no such key action")),
        };
        app.keys.reload(&app.store, &app.master).await?;
        key_list(&app).await
    };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/admin/keys/{kid}/retire`.
async fn retire_key(kid: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        signing::retire(&app.store, &kid, app.now(), &admin?).await?;
        app.keys.reload(&app.store, &app.master).await?;
        key_list(&app).await
    };
    reply::result(StatusCode::OK, r.await)
}

/// `GET /v1/admin/audit?subject=&limit=`: the audit log, newest first.
async fn audit(app: Arc<App>, admin: Result<Admin>, q: Result<AuditQuery>) -> Response {
    let r = async {
        admin?;
        let q = q?;
        let rows = app
            .store
            .audit_entries(q.subject.as_deref(), q.limit.unwrap_or(100).clamp(1, 1000))
            .await?;
        let items = rows
            .into_iter()
            .map(|a| AuditEntry {
                id: a.id,
                at: a.at,
                actor: a.actor,
                action: a.action,
                subject_type: a.subject_type,
                subject_id: a.subject_id,
                details: serde_json::from_str(&a.details).unwrap_or_default(),
            })
            .collect();
        Ok(Page { items })
    };
    reply::result(StatusCode::OK, r.await)
}

/// A signing key as the admin API lists it.
#[derive(Debug, Serialize)]
struct KeyView {
    kid: String,
    public_key: String,
    state: String,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
}

async fn key_list(app: &App) -> Result<Page<KeyView>> {
    let rows = app.store.signing_keys().await?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(|k| KeyView {
                kid: k.kid,
                public_key: k.public_key,
                state: k.state.as_str().to_owned(),
                created_at: k.created_at,
                activated_at: k.activated_at,
                retired_at: k.retired_at,
            })
            .collect(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseQuery {
    key: Option<String>,
    email: Option<String>,
    product: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrialQuery {
    product: Option<String>,
    state: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    subject: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/admin/licenses/{id or key}/seats`: the live seats of a floating license.
async fn seats(id: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        admin?;
        let license = catalogue::find_license(&app, &id).await?;
        Ok(Page {
            items: crate::licensing::floating::live_seats(&app, &license.id).await?,
        })
    };
    reply::result(StatusCode::OK, r.await)
}

/// `DELETE /v1/admin/licenses/{id or key}/seats/{seat}`: free a floating seat at once.
async fn kick_seat(id: String, seat: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        let admin = admin?;
        let license = catalogue::find_license(&app, &id).await?;
        crate::licensing::floating::end_seat(&app, (&admin).into(), &license.id, &seat).await?;
        Ok(Page {
            items: crate::licensing::floating::live_seats(&app, &license.id).await?,
        })
    };
    reply::result(StatusCode::OK, r.await)
}
