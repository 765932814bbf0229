//! Turning results into responses, and the one `recover` for real rejections.

use std::convert::Infallible;

use licet_proto::{ErrorBody, ErrorCode};
use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use crate::platform::error::Error;

/// JSON with a status.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut res = warp::reply::with_status(warp::reply::json(body), status).into_response();
    res.headers_mut().insert(
        warp::http::header::CACHE_CONTROL,
        warp::http::HeaderValue::from_static("no-store"),
    );
    res
}

/// The JSON error response for an error. Server-side causes are logged here and replaced
/// by a generic message.
pub fn error(err: &Error) -> Response {
    let code = err.code();
    if matches!(code, ErrorCode::Internal | ErrorCode::Unavailable) {
        tracing::error!(error = %err, "request failed");
    }
    let status =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = json(status, &ErrorBody::new(code, err.public_message()));
    if let Error::RateLimited { retry_after } | Error::Later { retry_after, .. } = err {
        res.headers_mut().insert(
            warp::http::header::RETRY_AFTER,
            warp::http::HeaderValue::from(*retry_after),
        );
    }
    res
}

/// 200 (or `status`) with the value, or the error response.
pub fn result<T: Serialize>(status: StatusCode, r: Result<T, Error>) -> Response {
    match r {
        Ok(v) => json(status, &v),
        Err(e) => error(&e),
    }
}

/// Answers what no route took: unknown paths (404), wrong methods (405), and anything else
/// warp rejected, always in the JSON error shape.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, Infallible> {
    let err = if rejection.is_not_found() {
        Error::new(ErrorCode::NotFound, "no such endpoint")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        Error::new(
            ErrorCode::MethodNotAllowed,
            "this endpoint does not take that method",
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        Error::new(ErrorCode::PayloadTooLarge, "request body too large")
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        Error::invalid("invalid query string")
    } else {
        tracing::debug!(?rejection, "unhandled rejection");
        Error::invalid("the request could not be understood")
    };
    Ok(error(&err))
}
