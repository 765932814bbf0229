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

use super::{authorized, client, query, reply, with_app};
use crate::app::App;
use crate::commerce::blobs::Location;
use crate::commerce::downloads::content_disposition;
use crate::commerce::downloads::{self, Grant};
use crate::licensing::Caller;
use crate::platform::error::{Error, Result};

/// Every download route.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let admin = || with_app(app.clone()).and(authorized(app.clone()));

    // GET|HEAD /v1/downloads/{token}: the file (HEAD: its headers, taking no download).
    let download =
        warp::path!("v1" / "downloads" / String)
            .and(warp::get().or(warp::head()).unify())
            .and(warp::method())
            .and(with_app(app.clone()))
            .and(client(app.clone()))
            .and(warp::header::headers_cloned())
            .then(
                |token: String,
                 method: Method,
                 app: Arc<App>,
                 caller: Caller,
                 headers: HeaderMap| async move {
                    let head = method == Method::HEAD;
                    let text =
                        |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
                    let r = downloads::open(
                        &app,
                        &token,
                        head,
                        text(header::RANGE),
                        &caller.ip,
                        text(header::USER_AGENT),
                    )
                    .await;
                    match r {
                        Ok(grant) => match send(grant, head).await {
                            Ok(res) => res,
                            Err(e) => reply::error(&e),
                        },
                        Err(e) => reply::error(&e),
                    }
                },
            );
    // POST /v1/admin/products/{slug}/files?name=…: upload a file (streamed, any size).
    let upload = warp::path!("v1" / "admin" / "products" / String / "files")
        .and(warp::post())
        .and(admin())
        .and(query::<UploadQuery>())
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::stream())
        .then(
            |slug: String,
             app: Arc<App>,
             actor: Result<String>,
             q: Result<UploadQuery>,
             ct: Option<String>,
             body| async move {
                let r = async {
                    let actor = actor?;
                    let q = q?;
                    let ct = ct.filter(|c| !c.starts_with("application/x-www-form-urlencoded"));
                    downloads::add_file(
                        &app,
                        &actor,
                        &slug,
                        &q.name,
                        ct.as_deref(),
                        body_chunks(body),
                    )
                    .await
                }
                .await;
                reply::result(StatusCode::CREATED, r)
            },
        );
    // GET /v1/admin/products/{slug}/files
    let list = warp::path!("v1" / "admin" / "products" / String / "files")
        .and(warp::get())
        .and(admin())
        .then(
            |slug: String, app: Arc<App>, actor: Result<String>| async move {
                let r = async {
                    actor?;
                    Ok(Page {
                        items: downloads::files(&app, &slug).await?,
                    })
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    // POST /v1/admin/purchases/{id}/links: new download links while downloads are left.
    let links = warp::path!("v1" / "admin" / "purchases" / String / "links")
        .and(warp::post())
        .and(admin())
        .then(
            |id: String, app: Arc<App>, actor: Result<String>| async move {
                let r = async {
                    actor?;
                    Ok(Page {
                        items: downloads::new_links(&app, &id).await?,
                    })
                }
                .await;
                reply::result(StatusCode::OK, r)
            },
        );
    // GET|HEAD /v1/files/{id}?expires=&kid=&sig=: a free or public file by signed URL.
    let signed = warp::path!("v1" / "files" / String)
        .and(warp::get().or(warp::head()).unify())
        .and(warp::method())
        .and(with_app(app.clone()))
        .and(query::<SignedQuery>())
        .and(warp::header::optional::<String>("range"))
        .then(
            |id: String,
             method: Method,
             app: Arc<App>,
             q: Result<SignedQuery>,
             range: Option<String>| async move {
                let r = async {
                    let q = q.map_err(|_| {
                        Error::new(
                            licet_proto::ErrorCode::Forbidden,
                            "the link's signature is not valid",
                        )
                    })?;
                    let grant = downloads::open_signed(
                        &app,
                        &id,
                        q.expires,
                        &q.kid,
                        &q.sig,
                        range.as_deref(),
                    )
                    .await?;
                    send(grant, method == Method::HEAD).await
                }
                .await;
                r.unwrap_or_else(|e| reply::error(&e))
            },
        );
    // POST /v1/admin/files/{id}/signed-url {"expires_in": seconds}: a stateless URL.
    let sign = warp::path!("v1" / "admin" / "files" / String / "signed-url")
        .and(warp::post())
        .and(admin())
        .and(super::body::json::<SignRequest>(app.config.max_body_bytes))
        .then(|id: String, app: Arc<App>, actor: Result<String>, req: Result<SignRequest>| async move {
            let r = async {
                actor?;
                downloads::signed_url(&app, &id, req?.expires_in).await
            }
            .await;
            reply::result(StatusCode::OK, r)
        });
    download
        .or(upload)
        .unify()
        .or(list)
        .unify()
        .or(links)
        .unify()
        .or(signed)
        .unify()
        .or(sign)
        .unify()
        .boxed()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedQuery {
    expires: i64,
    kid: String,
    sig: String,
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
fn body_chunks<S, B>(
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
async fn send(grant: Grant, head: bool) -> Result<Response> {
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
