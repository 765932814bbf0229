//! Admin API tokens, stored as SHA-256 hashes only.

use super::Store;

impl Store {
    /// Stores a new token hash.
    pub(super) async fn insert_admin_token(
        &self,
        tx: &mut sqlx::AnyConnection,
        id: &str,
        hash: &str,
        label: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO admin_tokens (id, token_hash, label, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(hash)
        .bind(label)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map(|_| ())
    }

    /// `(id, hash)` of every token not revoked.
    pub async fn live_admin_tokens(&self) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as("SELECT id, token_hash FROM admin_tokens WHERE revoked_at IS NULL")
            .fetch_all(self.pool())
            .await
    }

    /// Number of admin tokens ever created.
    pub async fn admin_token_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM admin_tokens")
            .fetch_one(self.pool())
            .await
    }

    /// Revokes every live token (used when a new one replaces them).
    pub(super) async fn revoke_admin_tokens_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        now: i64,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("UPDATE admin_tokens SET revoked_at = $1 WHERE revoked_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        Ok(done.rows_affected())
    }
}
