//! Web sessions and sign-in links.

use super::Store;
use super::states::{SessionKind, StateText};

/// A live web session.
#[derive(Debug, Clone, sqlx::FromRow)]
// A row mirrors its table: some columns are read only by some paths (or by tests).
#[allow(dead_code)]
pub struct SessionRow {
    /// Whose kind of session: a customer's or the vendor's.
    #[sqlx(try_from = "StateText")]
    pub kind: SessionKind,
    /// Whose session.
    pub email: String,
    /// The session's CSRF token (compared with each form's).
    pub csrf: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Store {
    /// Stores a sign-in link.
    pub async fn insert_sign_in_link(
        &self,
        token_hash: &str,
        email: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO sign_in_links (token_hash, email, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(email)
            .bind(now)
            .bind(expires_at)
            .execute(self.writer())
            .await
            .map(|_| ())
    }

    /// Uses a sign-in link once: the email it signs in, if the link is live and unused.
    pub async fn use_sign_in_link(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<String>, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let used = sqlx::query(
            "UPDATE sign_in_links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let email = if used.rows_affected() == 1 {
            sqlx::query_scalar("SELECT email FROM sign_in_links WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?
        } else {
            None
        };
        tx.commit().await?;
        Ok(email)
    }

    /// Stores a session.
    pub async fn insert_session(
        &self,
        id_hash: &str,
        kind: SessionKind,
        email: &str,
        csrf: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, kind, email, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash)
        .bind(kind.as_str())
        .bind(email)
        .bind(csrf)
        .bind(now)
        .bind(expires_at)
        .execute(self.writer())
        .await
        .map(|_| ())
    }

    /// A live session by the hash of its id.
    pub async fn session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<SessionRow>, sqlx::Error> {
        sqlx::query_as("SELECT kind, email, csrf, expires_at FROM web_sessions WHERE id_hash = $1 AND expires_at > $2")
            .bind(id_hash)
            .bind(now)
            .fetch_optional(self.pool())
            .await
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.writer())
            .await
            .map(|_| ())
    }

    /// Whether a sign-in link exists, is unused and has not expired.
    pub async fn sign_in_link_usable(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sign_in_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    /// Whether an email has any purchase.
    pub async fn has_purchases(&self, email: &str) -> Result<bool, sqlx::Error> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM purchases WHERE lower(email) = lower($1)")
                .bind(email)
                .fetch_one(self.pool())
                .await?;
        Ok(n > 0)
    }

    /// Drops expired sessions and sign-in links that expired a day ago (used ones included).
    pub async fn prune_sessions(&self, now: i64) -> Result<u64, sqlx::Error> {
        let sessions = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.writer())
            .await?;
        let links = sqlx::query("DELETE FROM sign_in_links WHERE expires_at <= $1")
            .bind(now - 86_400)
            .execute(self.writer())
            .await?;
        Ok(sessions.rows_affected() + links.rows_affected())
    }
}
