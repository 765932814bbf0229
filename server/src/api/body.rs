//! Request bodies: size-limited before parsing, JSON only, errors as values (not
//! rejections), so a matched route always answers with its own JSON error.

use bytes::{Buf, BufMut, BytesMut};
use futures_util::{Stream, StreamExt};
use licet_proto::ErrorCode;
use serde::de::DeserializeOwned;
use warp::Filter;
use warp::http::HeaderMap;

use crate::platform::error::Error;

/// Extracts the body parsed as `T`, or the error to answer with: `PAYLOAD_TOO_LARGE` when
/// the declared or actual size exceeds `limit` (the stream is cut off there, so a chunked
/// body cannot get around it), `UNSUPPORTED_MEDIA_TYPE` unless the `Content-Type` is
/// `application/json` (parameters such as `charset` allowed; missing is refused),
/// `INVALID_REQUEST` for malformed JSON, unknown fields or wrong types.
pub fn json<T>(
    limit: usize,
) -> impl Filter<Extract = (Result<T, Error>,), Error = warp::Rejection> + Clone
where
    T: DeserializeOwned + Send + 'static,
{
    warp::header::headers_cloned()
        .and(warp::body::stream())
        .then(move |headers: HeaderMap, stream| async move {
            let bytes = read_limited(&headers, stream, limit, "application/json").await?;
            serde_json::from_slice::<T>(&bytes)
                .map_err(|e| Error::invalid(format!("invalid JSON body: {e}")))
        })
}

/// Extracts the raw body (for signed payloads, whose bytes must not be re-serialised), with
/// the same size and content-type rules as [`json`].
pub fn raw(
    limit: usize,
) -> impl Filter<Extract = (Result<BytesMut, Error>,), Error = warp::Rejection> + Clone {
    warp::header::headers_cloned()
        .and(warp::body::stream())
        .then(move |headers: HeaderMap, stream| async move {
            read_limited(&headers, stream, limit, "application/json").await
        })
}

/// Extracts an HTML form (`application/x-www-form-urlencoded`) parsed as `T`.
pub fn form<T>(
    limit: usize,
) -> impl Filter<Extract = (Result<T, Error>,), Error = warp::Rejection> + Clone
where
    T: DeserializeOwned + Send + 'static,
{
    warp::header::headers_cloned()
        .and(warp::body::stream())
        .then(move |headers: HeaderMap, stream| async move {
            let bytes =
                read_limited(&headers, stream, limit, "application/x-www-form-urlencoded").await?;
            serde_urlencoded::from_bytes::<T>(&bytes)
                .map_err(|e| Error::invalid(format!("invalid form: {e}")))
        })
}

async fn read_limited<S, B>(
    headers: &HeaderMap,
    stream: S,
    limit: usize,
    media_type: &str,
) -> Result<BytesMut, Error>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let declared_type = headers
        .get(warp::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !is_media_type(declared_type, media_type) {
        return Err(Error::new(
            ErrorCode::UnsupportedMediaType,
            format!("send the body as {media_type} (with a Content-Type header saying so)"),
        ));
    }
    let too_large = || {
        Error::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(warp::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut buf = BytesMut::with_capacity(declared.map_or(1024, |n| n as usize));
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| Error::invalid("could not read the request body"))?;
        if buf.len() + chunk.remaining() > limit {
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            buf.put_slice(part);
            chunk.advance(n);
        }
    }
    Ok(buf)
}

/// Whether a `Content-Type` value names exactly `expected`, parameters allowed
/// (`application/json; charset=utf-8`), case-insensitively. A missing header or a type that
/// merely starts the same (`application/jsonp`) does not.
fn is_media_type(declared: Option<&str>, expected: &str) -> bool {
    declared
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(expected))
}

#[cfg(test)]
mod tests {
    use super::is_media_type;

    #[test]
    fn only_the_exact_media_type_with_optional_parameters_is_json() {
        let json = "application/json";
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            " application/json ;charset=UTF-8",
        ] {
            assert!(is_media_type(Some(ok), json), "{ok}");
        }
        for refused in [
            "application/jsonp",
            "application/json-seq",
            "application/x-json",
            "text/json",
            "text/plain",
            "",
            "application/json,text/plain",
        ] {
            assert!(!is_media_type(Some(refused), json), "{refused}");
        }
        assert!(
            !is_media_type(None, json),
            "a missing Content-Type is refused"
        );
    }
}
