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

use super::{authorized, body, query, reply, with_app};
use crate::app::App;
use crate::catalogue::{self, StatusChange};
use crate::licensing::signing;
use crate::platform::error::{Error, Result};
use crate::store::LicenseFilter;

/// Every admin route.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    let admin = || with_app(app.clone()).and(authorized(app.clone()));

    // POST /v1/admin/products: create a product.
    let create_product = warp::path!("v1" / "admin" / "products")
        .and(warp::post())
        .and(admin())
        .and(body::json::<CreateProduct>(limit))
        .then(
            |app: Arc<App>, actor: Result<String>, req: Result<CreateProduct>| async move {
                let r = async { catalogue::create_product(&app, &actor?, req?).await }.await;
                reply::result(StatusCode::CREATED, r)
            },
        );
    // GET /v1/admin/products: every product.
    let list_products = warp::path!("v1" / "admin" / "products")
        .and(warp::get())
        .and(admin())
        .then(|app: Arc<App>, actor: Result<String>| async move {
            let r = async {
                actor?;
                let rows = app.store.products().await?;
                Ok(Page {
                    items: rows.iter().map(|p| p.view()).collect(),
                })
            }
            .await;
            reply::result(StatusCode::OK, r)
        });
    // GET /v1/admin/products/{slug}: one product.
    let get_product = warp::path!("v1" / "admin" / "products" / String)
        .and(warp::get())
        .and(admin())
        .then(
            |slug: String, app: Arc<App>, actor: Result<String>| async move {
                let r = async {
                    actor?;
                    Ok(catalogue::product(&app, &slug).await?.view())
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    // PATCH /v1/admin/products/{slug}: change the policy.
    let update_product = warp::path!("v1" / "admin" / "products" / String)
        .and(warp::patch())
        .and(admin())
        .and(body::json::<UpdateProduct>(limit))
        .then(|slug: String, app: Arc<App>, actor: Result<String>, req: Result<UpdateProduct>| async move {
            let r = async { catalogue::update_product(&app, &actor?, &slug, req?).await }.await;
            reply::result(StatusCode::OK, r)
        });
    // POST /v1/admin/licenses: issue a license.
    let issue = warp::path!("v1" / "admin" / "licenses")
        .and(warp::post())
        .and(admin())
        .and(body::json::<IssueLicense>(limit))
        .then(
            |app: Arc<App>, actor: Result<String>, req: Result<IssueLicense>| async move {
                let r = async { catalogue::issue_license(&app, &actor?, req?).await }.await;
                reply::result(StatusCode::CREATED, r)
            },
        );
    // GET /v1/admin/licenses?key=&email=&product=&limit=&offset=: find licenses.
    let list_licenses = warp::path!("v1" / "admin" / "licenses")
        .and(warp::get())
        .and(admin())
        .and(query::<LicenseQuery>())
        .then(
            |app: Arc<App>, actor: Result<String>, q: Result<LicenseQuery>| async move {
                let r = async {
                    actor?;
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
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    // GET /v1/admin/licenses/{id or key}: one license with its activations.
    let show = warp::path!("v1" / "admin" / "licenses" / String)
        .and(warp::get())
        .and(admin())
        .then(
            |id: String, app: Arc<App>, actor: Result<String>| async move {
                let r = async {
                    actor?;
                    catalogue::show_license(&app, &id).await
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    // PATCH /v1/admin/licenses/{id}: per-license overrides and email.
    let update = warp::path!("v1" / "admin" / "licenses" / String)
        .and(warp::patch())
        .and(admin())
        .and(body::json::<UpdateLicense>(limit))
        .then(|id: String, app: Arc<App>, actor: Result<String>, req: Result<UpdateLicense>| async move {
            let r = async { catalogue::update_license(&app, &actor?, &id, req?).await }.await;
            reply::result(StatusCode::OK, r)
        });
    // POST /v1/admin/licenses/{id}/extend: new expiry.
    let extend = warp::path!("v1" / "admin" / "licenses" / String / "extend")
        .and(warp::post())
        .and(admin())
        .and(body::json::<ExtendLicense>(limit))
        .then(|id: String, app: Arc<App>, actor: Result<String>, req: Result<ExtendLicense>| async move {
            let r = async { catalogue::extend(&app, &actor?, &id, req?).await }.await;
            reply::result(StatusCode::OK, r)
        });
    // POST /v1/admin/licenses/{id}/{suspend|reinstate|revoke}: status changes.
    let status = warp::path!("v1" / "admin" / "licenses" / String / String)
        .and(warp::post())
        .and(admin())
        .then(
            |id: String, action: String, app: Arc<App>, actor: Result<String>| async move {
                let r = async {
                    let actor = actor?;
                    let change = match action.as_str() {
                        "suspend" => StatusChange::Suspend,
                        "reinstate" => StatusChange::Reinstate,
                        "revoke" => StatusChange::Revoke,
                        _ => return Err(Error::new(ErrorCode::NotFound, "no such license action")),
                    };
                    catalogue::change_status(&app, &actor, &id, change).await
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    // DELETE /v1/admin/licenses/{id}/activations/{activation id}: free a seat.
    let remove_activation =
        warp::path!("v1" / "admin" / "licenses" / String / "activations" / String)
            .and(warp::delete())
            .and(admin())
            .then(
                |id: String, act: String, app: Arc<App>, actor: Result<String>| async move {
                    let r = async { catalogue::remove_activation(&app, &actor?, &id, &act).await }
                        .await;
                    reply::result(StatusCode::OK, r)
                },
            );
    // GET /v1/admin/keys: signing keys (public halves and states).
    let keys = warp::path!("v1" / "admin" / "keys")
        .and(warp::get())
        .and(admin())
        .then(|app: Arc<App>, actor: Result<String>| async move {
            let r = async {
                actor?;
                key_list(&app).await
            }
            .await;
            reply::result(StatusCode::OK, r)
        });
    // POST /v1/admin/keys/{generate|rotate}, POST /v1/admin/keys/{kid}/retire.
    let key_action = warp::path!("v1" / "admin" / "keys" / String)
        .and(warp::post())
        .and(admin())
        .then(
            |action: String, app: Arc<App>, actor: Result<String>| async move {
                let r = async {
                    let actor = actor?;
                    let now = app.now();
                    match action.as_str() {
                        "generate" => {
                            signing::generate(&app.store, &app.master, now, &actor, false).await?
                        }
                        "rotate" => signing::rotate(&app.store, &app.master, now, &actor).await?,
                        _ => return Err(Error::new(ErrorCode::NotFound, "no such key action")),
                    };
                    app.keys.reload(&app.store, &app.master).await?;
                    key_list(&app).await
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    let retire = warp::path!("v1" / "admin" / "keys" / String / "retire")
        .and(warp::post())
        .and(admin())
        .then(
            |kid: String, app: Arc<App>, actor: Result<String>| async move {
                let r = async {
                    let actor = actor?;
                    signing::retire(&app.store, &kid, app.now(), &actor).await?;
                    app.keys.reload(&app.store, &app.master).await?;
                    key_list(&app).await
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    // GET /v1/admin/audit?subject=&limit=: the audit log, newest first.
    let audit = warp::path!("v1" / "admin" / "audit")
        .and(warp::get())
        .and(admin())
        .and(query::<AuditQuery>())
        .then(
            |app: Arc<App>, actor: Result<String>, q: Result<AuditQuery>| async move {
                let r = async {
                    actor?;
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
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );

    create_product
        .or(list_products)
        .unify()
        .or(get_product)
        .unify()
        .or(update_product)
        .unify()
        .boxed()
        .or(issue
            .or(list_licenses)
            .unify()
            .or(show)
            .unify()
            .or(update)
            .unify()
            .boxed())
        .unify()
        .or(extend
            .or(status)
            .unify()
            .or(remove_activation)
            .unify()
            .boxed())
        .unify()
        .or(keys
            .or(key_action)
            .unify()
            .or(retire)
            .unify()
            .or(audit)
            .unify()
            .boxed())
        .unify()
        .boxed()
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
                state: k.state,
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
struct AuditQuery {
    subject: Option<String>,
    limit: Option<i64>,
}
