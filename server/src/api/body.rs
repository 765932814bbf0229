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
    use super::{is_media_type, read_limited};
    use licet_proto::ErrorCode;
    use warp::http::{HeaderMap, HeaderValue, header};

    /// The body `chunks` sent with these headers, read under a 10-byte limit.
    async fn read(
        content_type: Option<&str>,
        content_length: Option<usize>,
        chunks: &[&'static str],
    ) -> Result<String, ErrorCode> {
        let mut headers = HeaderMap::new();
        if let Some(t) = content_type {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(t).expect("type"),
            );
        }
        if let Some(n) = content_length {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        let stream = futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, warp::Error>(bytes::Bytes::from_static(c.as_bytes()))),
        );
        read_limited(&headers, stream, 10, "application/json")
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| e.code())
    }

    /// Content-Type, Content-Length, the chunks sent, and what reading them yields.
    type Case = (
        Option<&'static str>,
        Option<usize>,
        &'static [&'static str],
        Result<&'static str, ErrorCode>,
    );

    #[tokio::test]
    async fn bodies_map_to_the_error_a_matched_route_answers_with() {
        use ErrorCode::{PayloadTooLarge, UnsupportedMediaType};
        let json = Some("application/json");
        let cases: &[Case] = &[
            (json, Some(2), &["{}"], Ok("{}")),
            (json, None, &["{\"a\":", "1}"], Ok("{\"a\":1}")),
            (json, Some(10), &["0123456789"], Ok("0123456789")),
            // Declared too large: refused before reading.
            (json, Some(11), &[], Err(PayloadTooLarge)),
            // Chunked, no length: cut off where the stream passes the limit.
            (json, None, &["012345", "67890"], Err(PayloadTooLarge)),
            // A length that lies low does not help either.
            (json, Some(2), &["0123456789", "x"], Err(PayloadTooLarge)),
            (None, Some(2), &["{}"], Err(UnsupportedMediaType)),
            (
                Some("text/plain"),
                Some(2),
                &["{}"],
                Err(UnsupportedMediaType),
            ),
        ];
        for (content_type, length, chunks, want) in cases {
            let got = read(*content_type, *length, chunks).await;
            assert_eq!(
                got.as_deref().map_err(|c| *c),
                want.as_deref().map_err(|c| *c),
                "{content_type:?} {length:?} {chunks:?}"
            );
        }
    }

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
