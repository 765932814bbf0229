//! The server's error type: a stable [`ErrorCode`] plus a message safe to show clients.
//! Internal causes (database errors, I/O) are logged where they happen and surface to
//! clients only as `INTERNAL` with a generic message.

use licet_proto::ErrorCode;

/// An error a request (or CLI command) ends with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A client-visible failure with a stable code.
    #[error("{code}: {message}")]
    Api {
        /// Stable machine-readable code (`docs/protocol.md` lists them).
        code: ErrorCode,
        /// Message safe to send.
        message: String,
    },
    /// Too many requests; retry after this many seconds.
    #[error("rate limited, retry after {retry_after}s")]
    RateLimited {
        /// Seconds until the window resets.
        retry_after: u64,
    },
    /// A client-visible failure that may pass: retry after this many seconds
    /// (`Retry-After`), e.g. `NO_FREE_SEAT` until the earliest seat lease ends.
    #[error("{code}: {message} (retry after {retry_after}s)")]
    Later {
        /// Stable machine-readable code.
        code: ErrorCode,
        /// Message safe to send.
        message: String,
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// The database failed; the cause, for the log.
    #[error("database error: {0}")]
    Database(String),
    /// The database had no connection free in time: the client may retry shortly.
    #[error("database busy: no connection free in time")]
    Busy,
    /// Anything else that is the server's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A client-visible error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Api {
            code,
            message: message.into(),
        }
    }

    /// `INVALID_REQUEST` with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Api { code, .. } | Self::Later { code, .. } => *code,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Busy => ErrorCode::Unavailable,
            Self::Database(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The message sent to clients: never internal detail.
    pub fn public_message(&self) -> String {
        match self {
            Self::Api { message, .. } | Self::Later { message, .. } => message.clone(),
            Self::RateLimited { retry_after } => {
                format!("too many requests; retry in {retry_after} seconds")
            }
            Self::Busy => "the server is busy; retry shortly".into(),
            Self::Database(_) | Self::Internal(_) => "internal server error".into(),
        }
    }
}
