//! Trials: one per machine and product, ever, and what became of them.

use licet_proto::trials::TrialState;

use super::{NewAudit, Store};

/// A trial, with its product's slug.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrialRow {
    pub id: String,
    pub product_id: String,
    /// The product's slug (read with the trial; ignored when inserting).
    pub product_slug: String,
    pub fingerprint: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    /// Machine facts (JSON).
    pub machine: Option<String>,
    pub ip: Option<String>,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds: the trial's end.
    pub ends_at: i64,
    /// Unix seconds.
    pub last_seen_at: i64,
    /// When a license took over on the machine.
    pub converted_at: Option<i64>,
    /// The license that took over.
    pub converted_license_id: Option<String>,
}

impl TrialRow {
    /// Where the trial stands at `now`.
    pub fn state(&self, now: i64) -> TrialState {
        if self.converted_at.is_some() {
            TrialState::Converted
        } else if now >= self.ends_at {
            TrialState::Expired
        } else {
            TrialState::Active
        }
    }
}

/// Trials of one product, counted at one instant.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct TrialCounts {
    pub product_slug: String,
    pub started: i64,
    pub active: i64,
    pub expired: i64,
    pub converted: i64,
}

/// Search criteria for the trial list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct TrialFilter {
    /// Product slug.
    pub product: Option<String>,
    /// Where the trials stand at `now`.
    pub state: Option<TrialState>,
    /// The instant `state` is judged at.
    pub now: i64,
    pub limit: i64,
    /// Offset into the result.
    pub offset: i64,
}

const SELECT_TRIAL: &str = "SELECT t.id, t.product_id, p.slug AS product_slug, t.fingerprint, \
     t.name, t.platform, t.machine, t.ip, t.started_at, t.ends_at, t.last_seen_at, \
     t.converted_at, t.converted_license_id FROM trials t JOIN products p ON p.id = t.product_id ";

/// Ends the unconverted trial of machine `$2` on product `$1`: license `$4` took over at
/// `$3`. Also run natively by `sqlite_writes` (parameters bound by name).
pub(super) const CONVERT_TRIAL: &str = "UPDATE trials SET converted_at = $3, \
     converted_license_id = $4 WHERE product_id = $1 AND fingerprint = $2 \
     AND converted_at IS NULL";

impl Store {
    /// Starts the trial `t` (its machine and product), or finds the one the machine had:
    /// `(the trial, whether it started now)`. A new trial is audited with `audit`; a known
    /// one gets its last-seen time and address refreshed. Concurrent starts from one machine
    /// meet at the unique index: one row, and every caller reads it.
    pub async fn start_trial(
        &self,
        t: &TrialRow,
        audit: impl FnOnce(&TrialRow) -> NewAudit,
    ) -> Result<(TrialRow, bool), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO trials (id, product_id, fingerprint, name, platform, machine, ip, \
             started_at, ends_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8) \
             ON CONFLICT (product_id, fingerprint) DO NOTHING",
        )
        .bind(&t.id)
        .bind(&t.product_id)
        .bind(&t.fingerprint)
        .bind(t.name.as_deref())
        .bind(t.platform.as_deref())
        .bind(t.machine.as_deref())
        .bind(t.ip.as_deref())
        .bind(t.started_at)
        .bind(t.ends_at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            audit(t).write(&mut *tx).await?;
        } else {
            sqlx::query(
                "UPDATE trials SET last_seen_at = $3, ip = $4 \
                 WHERE product_id = $1 AND fingerprint = $2",
            )
            .bind(&t.product_id)
            .bind(&t.fingerprint)
            .bind(t.started_at)
            .bind(t.ip.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        let row: TrialRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_TRIAL} WHERE t.product_id = $1 AND t.fingerprint = $2"
        )))
        .bind(&t.product_id)
        .bind(&t.fingerprint)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((row, inserted))
    }

    /// Ends the trial of `fingerprint` on `product_id` (if it has one not yet converted):
    /// license `license_id` took over. `Ok(true)` when a trial was converted now.
    pub(super) async fn convert_trial(
        &self,
        tx: &mut sqlx::AnyConnection,
        product_id: &str,
        fingerprint: &str,
        license_id: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(CONVERT_TRIAL)
            .bind(product_id)
            .bind(fingerprint)
            .bind(now)
            .bind(license_id)
            .execute(&mut *tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The trial of `fingerprint` on product `product_id`, if it ever had one.
    pub async fn trial_of(
        &self,
        product_id: &str,
        fingerprint: &str,
    ) -> Result<Option<TrialRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_TRIAL} WHERE t.product_id = $1 AND t.fingerprint = $2"
        )))
        .bind(product_id)
        .bind(fingerprint)
        .fetch_optional(self.pool())
        .await
    }

    /// Records that the machine of trial `id` was seen at `now` from `ip`.
    pub async fn touch_trial(&self, id: &str, now: i64, ip: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE trials SET last_seen_at = $2, ip = $3 WHERE id = $1")
            .bind(id)
            .bind(now)
            .bind(ip)
            .execute(self.pool())
            .await
            .map(|_| ())
    }

    /// Trials matching the filter, newest first.
    pub async fn trials(&self, f: &TrialFilter) -> Result<Vec<TrialRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_TRIAL} WHERE ($1 IS NULL OR p.slug = $1) AND ($2 IS NULL \
             OR ($2 = 'converted' AND t.converted_at IS NOT NULL) \
             OR ($2 = 'active' AND t.converted_at IS NULL AND t.ends_at > $3) \
             OR ($2 = 'expired' AND t.converted_at IS NULL AND t.ends_at <= $3)) \
             ORDER BY t.started_at DESC, t.id DESC LIMIT $4 OFFSET $5"
        )))
        .bind(f.product.as_deref())
        .bind(f.state.map(TrialState::as_str))
        .bind(f.now)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(self.pool())
        .await
    }

    /// Trials per product (products that had any), counted at `now`.
    pub async fn trial_counts(&self, now: i64) -> Result<Vec<TrialCounts>, sqlx::Error> {
        sqlx::query_as(
            "SELECT p.slug AS product_slug, COUNT(t.id) AS started, \
             CAST(COALESCE(SUM(CASE WHEN t.converted_at IS NULL AND t.ends_at > $1 \
               THEN 1 ELSE 0 END), 0) AS BIGINT) AS active, \
             CAST(COALESCE(SUM(CASE WHEN t.converted_at IS NULL AND t.ends_at <= $1 \
               THEN 1 ELSE 0 END), 0) AS BIGINT) AS expired, \
             CAST(COALESCE(SUM(CASE WHEN t.converted_at IS NOT NULL \
               THEN 1 ELSE 0 END), 0) AS BIGINT) AS converted \
             FROM trials t JOIN products p ON p.id = t.product_id \
             GROUP BY p.slug ORDER BY p.slug",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await
    }
}
