//! Emails the outbox gave up on, as the vendor handles them: listed, and sent again.

use licet_proto::ErrorCode;

use crate::commerce::mail::Mailer;
use crate::platform::error::{Error, Result};
use crate::store::{OutboxRow, Store};

/// The messages given up after their retry schedule, newest first, at most `limit`.
pub(crate) async fn failed(store: &Store, limit: i64) -> Result<Vec<OutboxRow>> {
    Ok(store.failed_mail(limit).await?)
}

/// Sends a failed message again with a fresh retry schedule starting `now`, or
/// `NOT_FOUND` when no failed message has this id (it was sent, or never failed).
pub(crate) async fn resend(store: &Store, mailer: &Mailer, id: &str, now: i64) -> Result<()> {
    if !store.retry_mail(id, now).await? {
        return Err(Error::new(
            ErrorCode::NotFound,
            "no failed message with this id",
        ));
    }
    mailer.wake();
    Ok(())
}
