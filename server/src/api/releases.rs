//! Release routes: the update check (Licet's and Tauri's shape), artifact downloads, and the
//! vendor's release management in the admin API.

use std::sync::Arc;

use licet_proto::admin::Page;
use licet_proto::releases::{
    CreateRelease, FINGERPRINT_HEADER, LICENSE_KEY_HEADER, LatestQuery, PublishRelease,
};
use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, Method, StatusCode, header};
use warp::reply::{Reply, Response};

use super::downloads::{SignedQuery, body_chunks, send};
use super::{any_of, authorized, body, client, query, reply, with_app};
use crate::app::App;
use crate::auth::Admin;
use crate::licensing::Caller;
use crate::platform::error::{Error, Result};
use crate::releases::updates::{self, Check, Credentials};
use crate::releases::{self, NewArtifact};

/// Every release route: one line each.
#[rustfmt::skip]
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    let admin = || with_app(app.clone()).and(authorized(app.clone()));
    let caller = || with_app(app.clone()).and(client(app.clone())).and(warp::header::headers_cloned());
    let get_or_head = || warp::get().or(warp::head()).unify().and(warp::method());
    any_of([
        warp::path!("v1" / "releases" / "latest").and(warp::get()).and(caller()).and(query()).then(latest).boxed(),
        warp::path!("v1" / "releases" / "tauri" / String / String / String / String).and(warp::get()).and(caller()).and(query()).then(tauri).boxed(),
        warp::path!("v1" / "releases" / "artifacts" / String).and(get_or_head()).and(with_app(app.clone())).and(query()).and(warp::header::optional("range")).then(artifact).boxed(),
        warp::path!("v1" / "admin" / "products" / String / "releases").and(warp::post()).and(admin()).and(body::json(limit)).then(create).boxed(),
        warp::path!("v1" / "admin" / "products" / String / "releases").and(warp::get()).and(admin()).then(list).boxed(),
        warp::path!("v1" / "admin" / "releases" / String).and(warp::get()).and(admin()).then(show).boxed(),
        warp::path!("v1" / "admin" / "releases" / String / "artifacts").and(warp::post()).and(admin()).and(query()).and(warp::header::optional("content-type")).and(warp::body::stream()).then(attach).boxed(),
        warp::path!("v1" / "admin" / "releases" / String / "publish").and(warp::post()).and(admin()).and(body::json(limit)).then(publish).boxed(),
        warp::path!("v1" / "admin" / "releases" / String / "yank").and(warp::post()).and(admin()).then(yank).boxed(),
    ])
}

/// The caller's proof of license: a lease as `Authorization: Bearer`, else the license key
/// and fingerprint headers.
fn credentials(headers: &HeaderMap) -> Result<Credentials> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(lease) =
        text(header::AUTHORIZATION.as_str()).and_then(|v| v.strip_prefix("Bearer "))
    {
        return Ok(Credentials::Lease(lease.trim().to_owned()));
    }
    match (text(LICENSE_KEY_HEADER), text(FINGERPRINT_HEADER)) {
        (Some(key), Some(fingerprint)) => Ok(Credentials::Key {
            key: key.to_owned(),
            fingerprint: fingerprint.to_owned(),
        }),
        _ => Err(Error::new(
            licet_proto::ErrorCode::Unauthorized,
            "send the lease as `Authorization: Bearer …`, or the license key and fingerprint \
             as `Licet-License-Key` and `Licet-Fingerprint`",
        )),
    }
}

/// `GET /v1/releases/latest?product=&platform=&channel=&version=`: 204 when up to date.
async fn latest(
    app: Arc<App>,
    caller: Caller,
    headers: HeaderMap,
    q: Result<LatestQuery>,
) -> Response {
    let r = async {
        let q = q?;
        let check = Check {
            product: &q.product,
            platform: &q.platform,
            channel: q.channel.as_deref(),
            version: &q.version,
        };
        updates::latest(&app, &caller, credentials(&headers)?, check).await
    };
    match r.await {
        Ok(Some(update)) => reply::json(StatusCode::OK, &update),
        Ok(None) => no_content(),
        Err(e) => reply::error(&e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TauriQuery {
    #[serde(default)]
    channel: Option<String>,
}

/// `GET /v1/releases/tauri/{product}/{target}/{arch}/{current_version}[?channel=]`: Tauri
/// v2's dynamic update server shape (`{version, notes, pub_date, url, signature}` or 204).
// Warp hands each path segment and filter output over as its own argument.
#[allow(clippy::too_many_arguments)]
async fn tauri(
    product: String,
    target: String,
    arch: String,
    version: String,
    app: Arc<App>,
    caller: Caller,
    headers: HeaderMap,
    q: Result<TauriQuery>,
) -> Response {
    let r = async {
        let q = q?;
        let platform = format!("{target}-{arch}");
        let check = Check {
            product: &product,
            platform: &platform,
            channel: q.channel.as_deref(),
            version: &version,
        };
        updates::tauri(&app, &caller, credentials(&headers)?, check).await
    };
    match r.await {
        Ok(Some(update)) => reply::json(StatusCode::OK, &update),
        Ok(None) => no_content(),
        Err(e) => reply::error(&e),
    }
}

fn no_content() -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        warp::http::HeaderValue::from_static("no-store"),
    );
    res
}

/// `GET|HEAD /v1/releases/artifacts/{id}?expires=&kid=&sig=`: a release file by signed URL.
async fn artifact(
    id: String,
    method: Method,
    app: Arc<App>,
    q: Result<SignedQuery>,
    range: Option<String>,
) -> Response {
    let head = method == Method::HEAD;
    let r = async {
        let q = q.map_err(|_| {
            Error::new(
                licet_proto::ErrorCode::Forbidden,
                "the link's signature is not valid",
            )
        })?;
        let grant =
            releases::links::open(&app, &id, q.expires, &q.kid, &q.sig, range.as_deref(), head)
                .await?;
        send(grant, head).await
    };
    r.await.unwrap_or_else(|e| reply::error(&e))
}

/// `POST /v1/admin/products/{slug}/releases`: a draft release.
async fn create(
    slug: String,
    app: Arc<App>,
    admin: Result<Admin>,
    req: Result<CreateRelease>,
) -> Response {
    let r = async { releases::create(&app, &admin?, &slug, req?).await };
    reply::result(StatusCode::CREATED, r.await)
}

/// `GET /v1/admin/products/{slug}/releases`: every release, newest version first.
async fn list(slug: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        admin?;
        Ok(Page {
            items: releases::list(&app, &slug).await?,
        })
    };
    reply::result(StatusCode::OK, r.await)
}

/// `GET /v1/admin/releases/{id}`
async fn show(id: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        admin?;
        releases::show(&app, &id).await
    };
    reply::result(StatusCode::OK, r.await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachQuery {
    platform: String,
    name: String,
    #[serde(default)]
    signature: Option<String>,
}

/// `POST /v1/admin/releases/{id}/artifacts?platform=&name=[&signature=]`: upload a file
/// (streamed) for one platform of a draft.
async fn attach<S, B>(
    id: String,
    app: Arc<App>,
    admin: Result<Admin>,
    q: Result<AttachQuery>,
    content_type: Option<String>,
    body: S,
) -> Response
where
    S: futures_util::Stream<Item = std::result::Result<B, warp::Error>>,
    B: bytes::Buf,
{
    let r = async {
        let admin = admin?;
        let q = q?;
        let ct = content_type.filter(|c| !c.starts_with("application/x-www-form-urlencoded"));
        let new = NewArtifact {
            platform: &q.platform,
            name: &q.name,
            content_type: ct.as_deref(),
            signature: q.signature.as_deref(),
        };
        releases::attach(&app, &admin, &id, new, body_chunks(body)).await
    };
    reply::result(StatusCode::CREATED, r.await)
}

/// `POST /v1/admin/releases/{id}/publish {"published_at"?}`
async fn publish(
    id: String,
    app: Arc<App>,
    admin: Result<Admin>,
    req: Result<PublishRelease>,
) -> Response {
    let r = async { releases::publish(&app, &admin?, &id, req?).await };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/admin/releases/{id}/yank`
async fn yank(id: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async { releases::yank(&app, &admin?, &id).await };
    reply::result(StatusCode::OK, r.await)
}
