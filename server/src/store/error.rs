//! How a database failure becomes the server's error: the platform error knows nothing of
//! sqlx, so the mapping lives with the queries.

use crate::platform::error::Error;

impl From<sqlx::Error> for Error {
    /// A pool that had no connection free in time is `Busy` (the client may retry);
    /// anything else is an internal failure whose cause is kept for the log.
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut => Error::Busy,
            other => Error::Database(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use licet_proto::ErrorCode;

    use super::*;

    #[test]
    fn a_timed_out_pool_asks_the_client_to_retry() {
        let e = Error::from(sqlx::Error::PoolTimedOut);
        assert_eq!(e.code(), ErrorCode::Unavailable);
        assert_eq!(e.public_message(), "the server is busy; retry shortly");
    }

    #[test]
    fn other_database_failures_are_internal_and_say_nothing() {
        let e = Error::from(sqlx::Error::RowNotFound);
        assert_eq!(e.code(), ErrorCode::Internal);
        assert_eq!(e.public_message(), "internal server error");
    }
}
