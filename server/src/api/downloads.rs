//! Download routes: the customer's link, file uploads and links in the admin API.

use std::sync::Arc;

use base64::Engine;
use licet_proto::admin::Page;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::{Reply, Response};

use super::{any_of, authorized, body, client, query, reply, with_app};
use crate::app::App;
use crate::auth::Admin;
use crate::commerce::blobs::Location;
use crate::commerce::downloads::content_disposition;
use crate::commerce::downloads::{self, Grant};
use crate::licensing::Caller;
use crate::platform::error::{Error, Result};

/// Every download route: one line each, `path, method, filters => handler`.
#[rustfmt::skip]
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let admin = || with_app(app.clone()).and(authorized(app.clone()));
    let get_or_head = || warp::get().or(warp::head()).unify().and(warp::method());
    any_of([
        warp::path!("v1" / "downloads" / String).and(get_or_head()).and(with_app(app.clone())).and(client(app.clone())).and(warp::header::headers_cloned()).then(download).boxed(),
        warp::path!("v1" / "admin" / "products" / String / "files").and(warp::post()).and(admin()).and(query()).and(warp::header::optional("content-type")).and(warp::body::stream()).then(upload).boxed(),
        warp::path!("v1" / "admin" / "products" / String / "files").and(warp::get()).and(admin()).then(list_files).boxed(),
        warp::path!("v1" / "admin" / "purchases" / String / "links").and(warp::post()).and(admin()).then(new_links).boxed(),
        warp::path!("v1" / "files" / String).and(get_or_head()).and(with_app(app.clone())).and(query()).and(warp::header::optional("range")).then(signed_file).boxed(),
        warp::path!("v1" / "admin" / "files" / String / "signed-url").and(warp::post()).and(admin()).and(body::json(app.config.max_body_bytes)).then(signed_url).boxed(),
    ])
}

/// `GET|HEAD /v1/downloads/{token}`: the file (HEAD: its headers, taking no download).
async fn download(
    token: String,
    method: Method,
    app: Arc<App>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    let head = method == Method::HEAD;
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let r = async {
        let grant = downloads::open(
            &app,
            &token,
            head,
            text(header::RANGE),
            &caller.ip,
            text(header::USER_AGENT),
        )
        .await?;
        send(grant, head).await
    };
    r.await.unwrap_or_else(|e| reply::error(&e))
}

/// `POST /v1/admin/products/{slug}/files?name=…`: upload a file (streamed, any size).
async fn upload<S, B>(
    slug: String,
    app: Arc<App>,
    admin: Result<Admin>,
    q: Result<UploadQuery>,
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
        downloads::add_file(
            &app,
            &admin,
            &slug,
            &q.name,
            ct.as_deref(),
            body_chunks(body),
        )
        .await
    };
    reply::result(StatusCode::CREATED, r.await)
}

/// `GET /v1/admin/products/{slug}/files`
async fn list_files(slug: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        admin?;
        Ok(Page {
            items: downloads::files(&app, &slug).await?,
        })
    };
    reply::result(StatusCode::OK, r.await)
}

/// `POST /v1/admin/purchases/{id}/links`: new download links while downloads are left.
async fn new_links(id: String, app: Arc<App>, admin: Result<Admin>) -> Response {
    let r = async {
        admin?;
        Ok(Page {
            items: downloads::new_links(&app, &id).await?,
        })
    };
    reply::result(StatusCode::OK, r.await)
}

/// `GET|HEAD /v1/files/{id}?expires=&kid=&sig=`: a free or public file by signed URL.
async fn signed_file(
    id: String,
    method: Method,
    app: Arc<App>,
    q: Result<SignedQuery>,
    range: Option<String>,
) -> Response {
    let r = async {
        let q = q.map_err(|_| {
            Error::new(
                licet_proto::ErrorCode::Forbidden,
                "the link's signature is not valid",
            )
        })?;
        let grant =
            downloads::open_signed(&app, &id, q.expires, &q.kid, &q.sig, range.as_deref()).await?;
        send(grant, method == Method::HEAD).await
    };
    r.await.unwrap_or_else(|e| reply::error(&e))
}

/// `POST /v1/admin/files/{id}/signed-url {"expires_in": seconds}`: a stateless URL.
async fn signed_url(
    id: String,
    app: Arc<App>,
    admin: Result<Admin>,
    req: Result<SignRequest>,
) -> Response {
    let r = async {
        admin?;
        downloads::signed_url(&app, &id, req?.expires_in).await
    };
    reply::result(StatusCode::OK, r.await)
}

/// The query of a stateless signed URL (`/v1/files/…`, `/v1/releases/artifacts/…`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignedQuery {
    pub(super) expires: i64,
    pub(super) kid: String,
    pub(super) sig: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignRequest {
    expires_in: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    name: String,
}

/// Adapts warp's body stream to byte chunks.
pub(super) fn body_chunks<S, B>(
    body: S,
) -> impl futures_util::Stream<Item = std::result::Result<bytes::Bytes, warp::Error>>
where
    S: futures_util::Stream<Item = std::result::Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use futures_util::StreamExt;
    body.map(|chunk| chunk.map(|mut b| b.copy_to_bytes(b.remaining())))
}

/// The file (or a range of it) with the headers a download needs.
pub(super) async fn send(grant: Grant, head: bool) -> Result<Response> {
    let size = u64::try_from(grant.file.size).unwrap_or(0);
    let (status, start, len) = match grant.range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.end - r.start + 1),
        None => (StatusCode::OK, 0, size),
    };
    let mut res = if head {
        Response::new(Default::default())
    } else {
        let path = match &grant.location {
            Location::Local(path) => path,
            Location::Redirect(url) => {
                // S3: the presigned URL serves the bytes (ranges included); the download was
                // counted here by the same rules.
                let mut res = Response::new(Default::default());
                *res.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                res.headers_mut().insert(
                    header::LOCATION,
                    HeaderValue::from_str(url).map_err(|e| Error::Internal(e.to_string()))?,
                );
                res.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return Ok(res);
            }
        };
        let io = |e: std::io::Error| Error::Internal(format!("reading a stored file: {e}"));
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(io)?;
        }
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 * 1024);
        warp::reply::stream(stream).into_response()
    };
    *res.status_mut() = status;
    let h = res.headers_mut();
    let value = |s: String| HeaderValue::from_str(&s).map_err(|e| Error::Internal(e.to_string()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_TYPE,
        value(grant.file.content_type.clone())
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        value(content_disposition(&grant.file.name))?,
    );
    h.insert(header::ETAG, value(format!("\"{}\"", grant.file.sha256))?);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    let raw: Vec<u8> = (0..grant.file.sha256.len() / 2)
        .filter_map(|i| u8::from_str_radix(&grant.file.sha256[2 * i..2 * i + 2], 16).ok())
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    // RFC 9530 (and the older RFC 3230 form many download managers read).
    h.insert("repr-digest", value(format!("sha-256=:{b64}:"))?);
    h.insert("digest", value(format!("sha-256={b64}"))?);
    if let Some(r) = grant.range {
        h.insert(
            header::CONTENT_RANGE,
            value(format!("bytes {}-{}/{size}", r.start, r.end))?,
        );
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use crate::commerce::downloads::content_disposition;

    #[test]
    fn file_names_are_safe_in_headers() {
        assert_eq!(
            content_disposition("Photo Pro 2.dmg"),
            "attachment; filename=\"Photo Pro 2.dmg\"; filename*=UTF-8''Photo%20Pro%202.dmg"
        );
        assert_eq!(
            content_disposition("naïve \"x\".zip"),
            "attachment; filename=\"na_ve _x_.zip\"; filename*=UTF-8''na%C3%AFve%20%22x%22.zip"
        );
    }
}
