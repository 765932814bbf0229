//! The append-only audit log of every state change.

use sqlx::{Any, Executor};

use super::Store;

/// One audit entry as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    /// Sequence number.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who: `admin:<token id>`, `cli`, `public`, `system`.
    pub actor: String,
    /// What, e.g. `license.revoked`.
    pub action: String,
    /// Kind of subject.
    pub subject_type: String,
    /// Subject id.
    pub subject_id: String,
    /// JSON details (never secrets).
    pub details: String,
}

/// The one statement that appends to the audit log (also run natively by `SqliteWrites`).
pub(super) const INSERT_AUDIT: &str = "INSERT INTO audit_log \
     (at, actor, action, subject_type, subject_id, details) VALUES ($1, $2, $3, $4, $5, $6)";

/// An audit entry to append, described by the domain and written by the store inside the
/// operation it describes.
#[derive(Debug, Clone)]
pub struct NewAudit {
    /// Unix seconds.
    pub at: i64,
    /// Who: `admin:<token id>`, `cli`, `public`, `system`.
    pub actor: String,
    /// What, e.g. `license.revoked`.
    pub action: String,
    /// Kind of subject, e.g. `license`.
    pub subject_type: String,
    /// The subject's id.
    pub subject_id: String,
    /// JSON details (never secrets).
    pub details: serde_json::Value,
}

impl NewAudit {
    /// An entry of `actor` doing `action` to `subject` (kind, id) at `at`.
    pub fn new(
        at: i64,
        actor: &str,
        action: &str,
        subject: (&str, &str),
        details: serde_json::Value,
    ) -> Self {
        Self {
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject_type: subject.0.to_owned(),
            subject_id: subject.1.to_owned(),
            details,
        }
    }

    /// Appends this entry with `executor` (a transaction's connection or the writer).
    pub(super) async fn write<'e, E>(&self, executor: E) -> Result<(), sqlx::Error>
    where
        E: Executor<'e, Database = Any>,
    {
        record(
            executor,
            self.at,
            &self.actor,
            &self.action,
            (&self.subject_type, &self.subject_id),
            &self.details,
        )
        .await
    }
}

/// Appends an entry inside the caller's transaction (or on the pool).
pub(super) async fn record<'e, E>(
    executor: E,
    at: i64,
    actor: &str,
    action: &str,
    subject: (&str, &str),
    details: &serde_json::Value,
) -> Result<(), sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query(INSERT_AUDIT)
        .bind(at)
        .bind(actor)
        .bind(action)
        .bind(subject.0)
        .bind(subject.1)
        .bind(details.to_string())
        .execute(executor)
        .await
        .map(|_| ())
}

impl Store {
    /// Appends one entry on its own (an event with no other write in its transaction).
    pub async fn audit(&self, entry: &NewAudit) -> Result<(), sqlx::Error> {
        entry.write(self.writer()).await
    }

    /// Deletes entries older than `before`, at most `batch` of them (the oldest), so one
    /// pass never holds the write lock for long; the number deleted.
    pub async fn prune_audit(&self, before: i64, batch: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM audit_log WHERE id IN \
             (SELECT id FROM audit_log WHERE at < $1 ORDER BY at, id LIMIT $2)",
        )
        .bind(before)
        .bind(batch)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }

    /// Newest entries first, optionally for one subject.
    pub async fn audit_entries(
        &self,
        subject_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, at, actor, action, subject_type, subject_id, details FROM audit_log \
             WHERE ($1 IS NULL OR subject_id = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(subject_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await
    }
}
