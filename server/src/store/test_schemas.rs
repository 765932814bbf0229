//! PostgreSQL schemas for test runs: each run gets its own, so runs never see each other.

use super::Store;

/// Prefix of every test schema; the name goes on `_<unix seconds>_<random>`.
const PREFIX: &str = "licet_t_";

impl Store {
    /// Creates the PostgreSQL schema `schema` (named `licet_t_<now>_<random>`) for a test
    /// run, first dropping the schemas of earlier runs over an hour old, so the database does
    /// not fill up.
    pub async fn create_test_schema(&self, schema: &str, now: i64) -> Result<(), sqlx::Error> {
        let old: Vec<String> = sqlx::query_scalar(
            "SELECT schema_name::text FROM information_schema.schemata WHERE schema_name LIKE 'licet_t_%'",
        )
        .fetch_all(self.pool())
        .await?;
        for name in old {
            let stamp = name
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.split('_').next())
                .and_then(|s| s.parse::<i64>().ok());
            if stamp.is_none_or(|t| now - t > 3600) {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(self.pool())
                .await;
            }
        }
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(self.pool())
            .await
            .map(|_| ())
    }

    /// PostgreSQL's generic plan (the one a prepared statement settles on after five runs)
    /// of validation's license-and-activation lookup, as `EXPLAIN` text; `None` on SQLite
    /// (its plan is checked in `sqlite_reads`).
    pub async fn generic_plan_of_license_lookup(&self) -> Result<Option<String>, sqlx::Error> {
        if self.backend() != super::Backend::Postgres {
            return Ok(None);
        }
        let mut conn = self.pool().acquire().await?;
        sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
            .execute(&mut *conn)
            .await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "PREPARE licet_lookup_plan(text, text) AS {}",
            super::licenses::LICENSE_WITH_ACTIVATION
        )))
        .execute(&mut *conn)
        .await?;
        let plan: Result<Vec<String>, sqlx::Error> =
            sqlx::query_scalar("EXPLAIN EXECUTE licet_lookup_plan('K', 'F')")
                .fetch_all(&mut *conn)
                .await;
        sqlx::raw_sql("DEALLOCATE licet_lookup_plan; RESET plan_cache_mode")
            .execute(&mut *conn)
            .await?;
        Ok(Some(plan?.join("\n")))
    }

    /// Holds a write lock on the sign-in link table until the returned guard is released:
    /// the whole database on SQLite, the table on PostgreSQL. For tests that show a request
    /// does not wait on that table.
    pub async fn lock_sign_in_links(&self) -> Result<HeldLock, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        if self.backend() == super::Backend::Postgres {
            sqlx::query("LOCK TABLE sign_in_links IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        Ok(HeldLock { tx })
    }
}

/// A write lock held for a test; released by [`HeldLock::release`] (or on drop).
pub struct HeldLock {
    /// The transaction that holds the lock.
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

impl std::fmt::Debug for HeldLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeldLock")
    }
}

impl HeldLock {
    /// Releases the lock, writing nothing.
    pub async fn release(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}
