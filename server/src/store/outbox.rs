//! The email outbox: messages are written in the same transaction as what they announce,
//! and sent afterwards by a worker that survives crashes and shares work across replicas.

use super::Store;

/// A message waiting to be (or already) sent.
#[derive(Debug, Clone, sqlx::FromRow)]
// A row mirrors its table: some columns are read only by some paths (or by tests).
#[allow(dead_code)]
pub struct OutboxRow {
    /// Id; also the message's `Message-ID` local part, so a resend is recognisable.
    pub id: String,
    /// What the message is for (`delivery:<purchase id>`); one message per key.
    pub dedupe_key: String,
    /// Recipient address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Plain-text part.
    pub body_text: String,
    /// HTML part.
    pub body_html: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Not before this time.
    pub next_attempt_at: i64,
    /// When the mail server accepted it.
    pub sent_at: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was given up (the mail server kept refusing it); `None` while it is sent or
    /// still being tried.
    pub failed_at: Option<i64>,
}

macro_rules! select_outbox {
    ($rest:literal) => {
        concat!(
            "SELECT id, dedupe_key, recipient, subject, body_text, body_html, created_at, \
             attempts, next_attempt_at, sent_at, last_error, failed_at FROM outbox ",
            $rest
        )
    };
}

impl Store {
    /// Queues a message unless one with the same key exists.
    pub(super) async fn enqueue_mail(
        &self,
        tx: &mut sqlx::AnyConnection,
        m: &OutboxRow,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO outbox (id, dedupe_key, recipient, subject, body_text, body_html, created_at, \
             attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $7) \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(&m.id)
        .bind(&m.dedupe_key)
        .bind(&m.recipient)
        .bind(&m.subject)
        .bind(&m.body_text)
        .bind(&m.body_html)
        .bind(m.created_at)
        .execute(&mut *tx)
        .await
        .map(|_| ())
    }

    /// Ids of unsent messages that are due.
    pub async fn due_mail(&self, now: i64, limit: i64) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await
    }

    /// Claims a message for `lease` seconds; `None` if another worker has it or it was sent.
    pub async fn claim_mail(
        &self,
        id: &str,
        now: i64,
        lease: i64,
    ) -> Result<Option<OutboxRow>, sqlx::Error> {
        let claimed = sqlx::query(
            "UPDATE outbox SET claimed_until = $3 WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL \
             AND (claimed_until IS NULL OR claimed_until < $2)",
        )
        .bind(id)
        .bind(now)
        .bind(now + lease)
        .execute(self.writer())
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        sqlx::query_as(select_outbox!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
    }

    /// Records acceptance by the mail server. The bodies are dropped: they may carry
    /// download links, whose tokens are otherwise stored only as hashes.
    pub async fn mail_sent(&self, id: &str, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE outbox SET sent_at = $2, claimed_until = NULL, attempts = attempts + 1, \
             body_text = '(delivered)', body_html = '(delivered)' WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(self.writer())
        .await
        .map(|_| ())
    }

    /// Records a failed attempt and when to try again.
    pub async fn mail_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, \
             claimed_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(retry_at)
        .execute(self.writer())
        .await
        .map(|_| ())
    }

    /// Gives a message up after its last failed attempt: it stays unsent, is no longer
    /// tried, and is listed among the failed messages.
    pub async fn mail_given_up(&self, id: &str, error: &str, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, failed_at = $3, \
             claimed_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(now)
        .execute(self.writer())
        .await
        .map(|_| ())
    }

    /// Messages given up, newest first.
    pub async fn failed_mail(&self, limit: i64) -> Result<Vec<OutboxRow>, sqlx::Error> {
        sqlx::query_as(select_outbox!(
            "WHERE failed_at IS NOT NULL ORDER BY failed_at DESC, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await
    }

    /// Puts a given-up message back in the queue with a fresh retry schedule; `Ok(false)`
    /// when it is not a failed message.
    pub async fn retry_mail(&self, id: &str, now: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE outbox SET failed_at = NULL, attempts = 0, next_attempt_at = $2 \
             WHERE id = $1 AND failed_at IS NOT NULL AND sent_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    #[cfg(feature = "testkit")]
    /// Every message to one recipient, newest first (admin and tests).
    pub async fn mail_to(&self, recipient: &str) -> Result<Vec<OutboxRow>, sqlx::Error> {
        sqlx::query_as(select_outbox!(
            "WHERE lower(recipient) = lower($1) ORDER BY created_at DESC"
        ))
        .bind(recipient)
        .fetch_all(self.pool())
        .await
    }
}
