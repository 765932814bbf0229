//! Stable, machine-readable error codes and the JSON error body.
//!
//! Every non-2xx response of the Licet server has the body
//! `{"error":{"code":"…","message":"…"}}`. The `code` is part of the API contract and never
//! changes meaning; the `message` is for humans and may change.

use serde::{Deserialize, Serialize};

/// Every error code the server can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: malformed JSON, a missing or mistyped field, an unknown field.
    InvalidRequest,
    /// 400: the license key is not of Licet's shape or its check segment is wrong.
    InvalidKeyFormat,
    /// 400: a webhook's signature is missing, stale or wrong; nothing was recorded.
    InvalidSignature,
    /// 404: no license has this key.
    LicenseNotFound,
    /// 404: this fingerprint has no live activation on the license.
    NotActivated,
    /// 403: the license is suspended.
    LicenseSuspended,
    /// 403: the license is revoked.
    LicenseRevoked,
    /// 403: the license is past its expiry.
    LicenseExpired,
    /// 403: every seat of the license is taken.
    ActivationLimitReached,
    /// 404: the product offers no trial (or there is no such product).
    TrialNotAvailable,
    /// 403: this machine's trial of the product has ended (or a license took over).
    TrialExpired,
    /// 401: missing or wrong admin credentials.
    Unauthorized,
    /// 403: the request is not allowed (e.g. a signed URL whose signature is wrong).
    Forbidden,
    /// 404: no such route or admin resource.
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 409: the resource already exists (e.g. a product slug).
    Conflict,
    /// 410: a download link has expired; ask for a new one.
    LinkExpired,
    /// 403: the purchase has used all its downloads.
    DownloadLimitReached,
    /// 403: the purchase was refunded or is disputed; its downloads are closed.
    PurchaseNotActive,
    /// 416: the requested byte range is outside the file.
    RangeNotSatisfiable,
    /// 413: the request body is larger than the endpoint accepts.
    PayloadTooLarge,
    /// 415: the request body is not `application/json`.
    UnsupportedMediaType,
    /// 429: too many requests; see the `Retry-After` header.
    RateLimited,
    /// 409: every seat of a floating license is held; `Retry-After` says when the earliest
    /// seat lease ends.
    NoFreeSeat,
    /// 404: the product has no published release on the caller's channel.
    ReleaseNotFound,
    /// 404: the product's releases have no artifact for the caller's platform.
    PlatformNotFound,
    /// 500: something failed on the server; details are in its log, never in the response.
    Internal,
    /// 503: the server cannot answer now (its database is unreachable, or it is at its
    /// connection limit); retry later, after `Retry-After` seconds when given.
    Unavailable,
}

impl ErrorCode {
    /// The wire spelling, e.g. `"ACTIVATION_LIMIT_REACHED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::InvalidKeyFormat => "INVALID_KEY_FORMAT",
            Self::InvalidSignature => "INVALID_SIGNATURE",
            Self::LicenseNotFound => "LICENSE_NOT_FOUND",
            Self::NotActivated => "NOT_ACTIVATED",
            Self::LicenseSuspended => "LICENSE_SUSPENDED",
            Self::LicenseRevoked => "LICENSE_REVOKED",
            Self::LicenseExpired => "LICENSE_EXPIRED",
            Self::ActivationLimitReached => "ACTIVATION_LIMIT_REACHED",
            Self::TrialNotAvailable => "TRIAL_NOT_AVAILABLE",
            Self::TrialExpired => "TRIAL_EXPIRED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::Conflict => "CONFLICT",
            Self::LinkExpired => "LINK_EXPIRED",
            Self::DownloadLimitReached => "DOWNLOAD_LIMIT_REACHED",
            Self::PurchaseNotActive => "PURCHASE_NOT_ACTIVE",
            Self::RangeNotSatisfiable => "RANGE_NOT_SATISFIABLE",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RateLimited => "RATE_LIMITED",
            Self::NoFreeSeat => "NO_FREE_SEAT",
            Self::ReleaseNotFound => "RELEASE_NOT_FOUND",
            Self::PlatformNotFound => "PLATFORM_NOT_FOUND",
            Self::Internal => "INTERNAL",
            Self::Unavailable => "UNAVAILABLE",
        }
    }

    /// The HTTP status the server answers this code with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::InvalidKeyFormat | Self::InvalidSignature => 400,
            Self::Unauthorized => 401,
            Self::LicenseSuspended
            | Self::LicenseRevoked
            | Self::LicenseExpired
            | Self::ActivationLimitReached
            | Self::TrialExpired
            | Self::DownloadLimitReached
            | Self::PurchaseNotActive
            | Self::Forbidden => 403,
            Self::LinkExpired => 410,
            Self::RangeNotSatisfiable => 416,
            Self::LicenseNotFound
            | Self::NotActivated
            | Self::NotFound
            | Self::TrialNotAvailable
            | Self::ReleaseNotFound
            | Self::PlatformNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict | Self::NoFreeSeat => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// True for codes that are a definite verdict about the license (as opposed to a
    /// problem with the request, the credentials or the server). Clients cache verdicts.
    pub fn is_license_verdict(self) -> bool {
        matches!(
            self,
            Self::LicenseNotFound
                | Self::NotActivated
                | Self::LicenseSuspended
                | Self::LicenseRevoked
                | Self::LicenseExpired
                | Self::TrialExpired
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error response: `{"error":{"code":"…","message":"…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// The code and human-readable message of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation; not part of the contract.
    pub message: String,
}

impl ErrorBody {
    /// Builds an error body.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_matches_serde() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::ActivationLimitReached,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_string(&code).expect("serialises");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
