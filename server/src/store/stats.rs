//! Aggregates for the dashboard's overview (portable SQL: integer day buckets in UTC).

use super::Store;

/// Counts for the overview's cards.
#[derive(Debug, Clone, Default)]
// A row mirrors its table: some columns are read only by some paths (or by tests).
#[allow(dead_code)]
pub struct Totals {
    /// Products in the catalogue.
    pub products: i64,
    /// Licenses ever issued.
    pub licenses: i64,
    /// Licenses that are `ACTIVE` and not expired.
    pub active_licenses: i64,
    /// Machines activated now.
    pub active_machines: i64,
    /// Purchases ever recorded.
    pub purchases: i64,
    /// Purchases whose fulfilment failed and waits for a retry.
    pub failed_fulfilments: i64,
    /// Emails given up after their retry schedule.
    pub failed_mail: i64,
}

impl Store {
    /// `(day number since the epoch, completed sales)` from `since` on.
    pub async fn sales_per_day(&self, since: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT created_at / 86400 AS day, COUNT(*) FROM purchases \
             WHERE created_at >= $1 AND status IN ('COMPLETED', 'REFUNDED', 'DISPUTED') \
             GROUP BY created_at / 86400 ORDER BY day",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await
    }

    /// `(currency, amount in its smallest unit)` of completed sales from `since` on. Exact
    /// and overflow-free however large the amounts: the database sums the high and the low
    /// 32 bits of each amount separately (each sum fits 64 bits for up to 2^31 rows) and
    /// they are joined here in 128 bits, where SQLite's `SUM` would fail with "integer
    /// overflow" and PostgreSQL's cast back to `BIGINT` with "out of range".
    pub async fn revenue_since(&self, since: i64) -> Result<Vec<(String, i128)>, sqlx::Error> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT COALESCE(currency, ''), CAST(COALESCE(SUM(amount >> 32), 0) AS BIGINT), \
             CAST(COALESCE(SUM(amount & 4294967295), 0) AS BIGINT) FROM purchases \
             WHERE created_at >= $1 AND status = 'COMPLETED' AND amount IS NOT NULL \
             GROUP BY COALESCE(currency, '') ORDER BY 1",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(currency, high, low)| (currency, (i128::from(high) << 32) + i128::from(low)))
            .collect())
    }

    /// `(day number since the epoch, new activations)` from `since` on.
    pub async fn activations_per_day(&self, since: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT first_seen_at / 86400 AS day, COUNT(*) FROM activations \
             WHERE first_seen_at >= $1 GROUP BY first_seen_at / 86400 ORDER BY day",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await
    }

    /// `(product name, active licenses)`, largest first.
    pub async fn active_licenses_by_product(
        &self,
        now: i64,
    ) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT p.name, COUNT(*) AS n FROM licenses l JOIN products p ON p.id = l.product_id \
             WHERE l.status = 'ACTIVE' AND (l.expires_at IS NULL OR l.expires_at > $1) \
             GROUP BY p.name ORDER BY n DESC, p.name LIMIT 12",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await
    }

    /// The overview's counts.
    pub async fn totals(&self, now: i64) -> Result<Totals, sqlx::Error> {
        let row: (i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM products), (SELECT COUNT(*) FROM licenses), \
             (SELECT COUNT(*) FROM licenses WHERE status = 'ACTIVE' AND (expires_at IS NULL OR expires_at > $1)), \
             (SELECT COUNT(*) FROM activations WHERE deactivated_at IS NULL), \
             (SELECT COUNT(*) FROM purchases), \
             (SELECT COUNT(*) FROM purchases WHERE fulfilment_error IS NOT NULL), \
             (SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL)",
        )
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(Totals {
            products: row.0,
            licenses: row.1,
            active_licenses: row.2,
            active_machines: row.3,
            purchases: row.4,
            failed_fulfilments: row.5,
            failed_mail: row.6,
        })
    }
}
