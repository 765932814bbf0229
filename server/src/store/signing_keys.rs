//! Ed25519 signing keys, shared by every replica through the database. Private keys are
//! stored sealed with the master key (see `crypto`), never in the clear.

use super::Store;
use super::states::{KeyState, StateText};

/// A signing-key row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Public key, base64url.
    pub public_key: String,
    /// Private key sealed with the master key.
    pub private_key: String,
    /// Whether it signs, only verifies, or neither.
    #[sqlx(try_from = "StateText")]
    pub state: KeyState,
    /// Unix seconds.
    pub created_at: i64,
    /// When it became current.
    pub activated_at: Option<i64>,
    /// When it was retired.
    pub retired_at: Option<i64>,
}

const SELECT: &str = "SELECT kid, public_key, private_key, state, created_at, activated_at, \
                      retired_at FROM signing_keys ORDER BY created_at, kid";

impl Store {
    /// Every key, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, sqlx::Error> {
        sqlx::query_as(SELECT).fetch_all(self.pool()).await
    }

    /// Inserts a key.
    pub(super) async fn insert_signing_key(
        &self,
        tx: &mut sqlx::AnyConnection,
        k: &SigningKeyRow,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, public_key, private_key, state, created_at, \
             activated_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&k.kid)
        .bind(&k.public_key)
        .bind(&k.private_key)
        .bind(k.state.as_str())
        .bind(k.created_at)
        .bind(k.activated_at)
        .bind(k.retired_at)
        .execute(&mut *tx)
        .await
        .map(|_| ())
    }

    /// Makes `kid` the only current key; the previous current key stays published.
    pub(super) async fn make_current(
        &self,
        tx: &mut sqlx::AnyConnection,
        kid: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE signing_keys SET state = 'published' WHERE state = 'current'")
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE signing_keys SET state = 'current', activated_at = $2 WHERE kid = $1")
            .bind(kid)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map(|_| ())
    }

    /// Retires a published (not current) key; `Ok(false)` if there was none such.
    pub(super) async fn retire_key(
        &self,
        tx: &mut sqlx::AnyConnection,
        kid: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $2 \
             WHERE kid = $1 AND state = 'published'",
        )
        .bind(kid)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
