//! Licenses, read together with their product's policy and the live seat count.

use licet_proto::LicenseStatus;

use super::states::StateText;
use super::{ActivationRow, Store};

/// A license joined with the policy of its product and its live seat count.
#[derive(Debug, Clone, sqlx::FromRow)]
// A row mirrors its table: some columns are read only by some paths (or by tests).
#[allow(dead_code)]
pub struct LicenseRow {
    pub id: String,
    pub license_key: String,
    pub product_id: String,
    pub email: String,
    /// Whether the license may be used.
    #[sqlx(try_from = "StateText")]
    pub status: LicenseStatus,
    /// Unix seconds or `None` (perpetual).
    pub expires_at: Option<i64>,
    /// Seat override.
    pub max_activations: Option<i64>,
    /// Token lifetime override.
    pub token_lifetime_secs: Option<i64>,
    /// Entitlements override (JSON list).
    pub entitlements: Option<String>,
    /// The vendor's metadata (JSON object of strings).
    pub metadata: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// The product's slug.
    pub product_slug: String,
    /// The product's seats.
    pub product_max_activations: i64,
    /// The product's token lifetime.
    pub product_token_lifetime_secs: i64,
    /// The product's entitlements (JSON list).
    pub product_entitlements: String,
    /// Live activations now.
    pub active_count: i64,
    /// The status of the subscription that pays for it (none: not sold by subscription);
    /// decoded by [`LicenseRow::subscription`].
    pub sub_status: Option<String>,
    /// The subscription's current period end.
    pub sub_period_end: Option<i64>,
    /// 1 when the subscription ends at its period's end.
    pub sub_cancel_at_period_end: Option<i64>,
    /// Explicit end of updates (Unix seconds); `None`: the expiry (see
    /// [`LicenseRow::updates_until`]).
    #[sqlx(rename = "updates_until")]
    pub updates_until_at: Option<i64>,
    /// The product's seat lease when it is floating (seats are checked out, not
    /// activated); `None`: node-locked.
    pub product_floating_lease_secs: Option<i64>,
}

/// A license with the live activation of one fingerprint (if any), read in one query: the
/// validation hot path.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LicenseAndActivation {
    #[sqlx(flatten)]
    pub license: LicenseRow,
    /// Activation id, when the fingerprint holds a seat.
    pub act_id: Option<String>,
    pub act_name: Option<String>,
    pub act_platform: Option<String>,
    /// Unix seconds.
    pub act_first_seen_at: Option<i64>,
    /// Unix seconds.
    pub act_last_seen_at: Option<i64>,
}

impl LicenseAndActivation {
    /// Splits into the license and the live activation of the fingerprint.
    pub fn split(self, fingerprint: &str) -> (LicenseRow, Option<ActivationRow>) {
        let activation = match (self.act_id, self.act_first_seen_at, self.act_last_seen_at) {
            (Some(id), Some(first), Some(last)) => Some(ActivationRow {
                id,
                license_id: self.license.id.clone(),
                fingerprint: fingerprint.to_owned(),
                name: self.act_name,
                platform: self.act_platform,
                machine: None,
                ip: None,
                first_seen_at: first,
                last_seen_at: last,
                deactivated_at: None,
            }),
            _ => None,
        };
        (self.license, activation)
    }
}

macro_rules! select_license {
    ($where:literal) => {
        concat!(
            "SELECT l.id, l.license_key, l.product_id, l.email, l.status, l.expires_at, \
             l.max_activations, l.token_lifetime_secs, l.entitlements, l.metadata, l.created_at, \
             l.updated_at, p.slug AS product_slug, p.max_activations AS product_max_activations, \
             p.token_lifetime_secs AS product_token_lifetime_secs, \
             p.entitlements AS product_entitlements, \
             (SELECT COUNT(*) FROM activations a WHERE a.license_id = l.id \
              AND a.deactivated_at IS NULL) AS active_count, \
             s.status AS sub_status, s.period_end AS sub_period_end, \
             s.cancel_at_period_end AS sub_cancel_at_period_end, l.updates_until, \
             p.floating_lease_secs AS product_floating_lease_secs \
             FROM licenses l JOIN products p ON p.id = l.product_id \
             LEFT JOIN subscriptions s ON s.purchase_id = l.purchase_id ",
            $where
        )
    };
}

/// The license read with its policy, for a query to finish with its `WHERE`.
pub(super) const SELECT_LICENSE: &str = select_license!("");

/// The license with key `$1`, its policy and seat count, and the live activation of
/// fingerprint `$2` on it (`act_*`, null without one). Also run natively by `sqlite_reads`,
/// which reads the columns by position.
///
/// The machine's activation is looked up by license id *and* fingerprint through the
/// `activations_live` index. The license id is restated as a subquery on the key so that it
/// is known before the join: PostgreSQL's generic plan for this prepared statement (used
/// after five executions), on tables without statistics yet, scanned `activations_live` by
/// fingerprint alone and filtered by license afterwards, reading every live seat of that
/// fingerprint on every license (a machine with many licenses, or the benchmark's one
/// fingerprint across 500 licenses: a fifth of validation's throughput).
pub(super) const LICENSE_WITH_ACTIVATION: &str = "SELECT l.id, l.license_key, l.product_id, l.email, l.status, l.expires_at, \
             l.max_activations, l.token_lifetime_secs, l.entitlements, l.metadata, l.created_at, \
             l.updated_at, p.slug AS product_slug, p.max_activations AS product_max_activations, \
             p.token_lifetime_secs AS product_token_lifetime_secs, \
             p.entitlements AS product_entitlements, \
             (SELECT COUNT(*) FROM activations c WHERE c.license_id = l.id \
              AND c.deactivated_at IS NULL) AS active_count, \
             s.status AS sub_status, s.period_end AS sub_period_end, \
             s.cancel_at_period_end AS sub_cancel_at_period_end, l.updates_until, \
             p.floating_lease_secs AS product_floating_lease_secs, \
             a.id AS act_id, a.name AS act_name, a.platform AS act_platform, \
             a.first_seen_at AS act_first_seen_at, a.last_seen_at AS act_last_seen_at \
             FROM licenses l JOIN products p ON p.id = l.product_id \
             LEFT JOIN subscriptions s ON s.purchase_id = l.purchase_id \
             LEFT JOIN activations a ON a.license_id = l.id AND a.fingerprint = $2 \
             AND a.deactivated_at IS NULL \
             AND a.license_id = (SELECT k.id FROM licenses k WHERE k.license_key = $1) \
             WHERE l.license_key = $1";

/// A license to insert.
#[derive(Debug, Clone)]
pub struct NewLicense<'a> {
    pub id: &'a str,
    pub product_id: &'a str,
    pub email: &'a str,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Seat override.
    pub max_activations: Option<i64>,
    /// Token lifetime override.
    pub token_lifetime_secs: Option<i64>,
    /// Entitlements override (JSON list).
    pub entitlements: Option<String>,
    /// The vendor's metadata (JSON object of strings).
    pub metadata: String,
    /// The purchase that minted it, if any.
    pub purchase_id: Option<&'a str>,
    /// Explicit end of updates.
    pub updates_until: Option<i64>,
    /// Unix seconds.
    pub now: i64,
}

/// Search criteria for the admin list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct LicenseFilter {
    /// Exact key.
    pub key: Option<String>,
    /// Exact email (case-insensitive).
    pub email: Option<String>,
    pub product: Option<String>,
    pub limit: i64,
    /// Offset into the result.
    pub offset: i64,
}

impl Store {
    /// The license with this key and the live activation of `fingerprint` on it, if any.
    pub(super) async fn license_with_activation<'e, E>(
        &self,
        executor: E,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<LicenseAndActivation>, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query_as(LICENSE_WITH_ACTIVATION)
            .bind(key)
            .bind(fingerprint)
            .fetch_optional(executor)
            .await
    }

    /// [`Store::license_with_activation`] outside any transaction, for validation: natively
    /// on the calling thread on SQLite (see `sqlite_reads`), through the pool on PostgreSQL.
    pub async fn license_with_activation_now(
        &self,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<LicenseAndActivation>, sqlx::Error> {
        match &self.reads {
            Some(reads) => reads
                .license_with_activation(key, fingerprint)
                .map_err(|e| sqlx::Error::Protocol(format!("sqlite read: {e}"))),
            None => {
                self.license_with_activation(self.pool(), key, fingerprint)
                    .await
            }
        }
    }

    /// The license with this key.
    pub async fn license_by_key(&self, key: &str) -> Result<Option<LicenseRow>, sqlx::Error> {
        sqlx::query_as(select_license!("WHERE l.license_key = $1"))
            .bind(key)
            .fetch_optional(self.pool())
            .await
    }

    /// The license with this id, inside a transaction.
    pub(super) async fn license_by_id_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        id: &str,
    ) -> Result<Option<LicenseRow>, sqlx::Error> {
        sqlx::query_as(select_license!("WHERE l.id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
    }

    /// The license with this id.
    pub async fn license_by_id(&self, id: &str) -> Result<Option<LicenseRow>, sqlx::Error> {
        sqlx::query_as(select_license!("WHERE l.id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
    }

    /// Licenses matching the filter, newest first.
    pub async fn licenses(&self, f: &LicenseFilter) -> Result<Vec<LicenseRow>, sqlx::Error> {
        sqlx::query_as(select_license!(
            "WHERE ($1 IS NULL OR l.license_key = $1) AND ($2 IS NULL OR lower(l.email) = lower($2)) \
             AND ($3 IS NULL OR p.slug = $3) ORDER BY l.created_at DESC, l.id DESC LIMIT $4 OFFSET $5"
        ))
        .bind(f.key.as_deref())
        .bind(f.email.as_deref())
        .bind(f.product.as_deref())
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(self.pool())
        .await
    }

    /// Takes the lock that serialises seat changes of one license until the transaction
    /// ends. PostgreSQL: a row lock. SQLite: the transaction already holds the database's
    /// write lock (`BEGIN IMMEDIATE`), so this is a no-op there.
    pub(super) async fn lock_license(
        &self,
        tx: &mut sqlx::AnyConnection,
        key: &str,
    ) -> Result<(), sqlx::Error> {
        if self.backend() == super::Backend::Postgres {
            sqlx::query("SELECT id FROM licenses WHERE license_key = $1 FOR UPDATE")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
        }
        Ok(())
    }

    /// Inserts a license; `Ok(false)` if the key already exists.
    pub(super) async fn insert_license(
        &self,
        tx: &mut sqlx::AnyConnection,
        l: &NewLicense<'_>,
        key: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO licenses (id, license_key, product_id, email, status, expires_at, \
             max_activations, token_lifetime_secs, entitlements, metadata, purchase_id, created_at, \
             updated_at, updates_until) \
             VALUES ($1, $2, $3, $4, 'ACTIVE', $5, $6, $7, $8, $9, $10, $11, $11, $12) \
             ON CONFLICT (license_key) DO NOTHING",
        )
        .bind(l.id)
        .bind(key)
        .bind(l.product_id)
        .bind(l.email)
        .bind(l.expires_at)
        .bind(l.max_activations)
        .bind(l.token_lifetime_secs)
        .bind(l.entitlements.as_deref())
        .bind(&l.metadata)
        .bind(l.purchase_id)
        .bind(l.now)
        .bind(l.updates_until)
        .execute(&mut *tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets the status of every license a purchase minted (refunds, disputes); returns the
    /// ids changed.
    pub(super) async fn set_purchase_license_status(
        &self,
        tx: &mut sqlx::AnyConnection,
        purchase_id: &str,
        from: &[LicenseStatus],
        to: LicenseStatus,
        now: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        let mut changed = Vec::new();
        for (id, status) in self.licenses_of_purchase_in(tx, purchase_id).await? {
            if from.iter().any(|f| f.as_str() == status) {
                self.set_license_status(tx, &id, to, now).await?;
                changed.push(id);
            }
        }
        Ok(changed)
    }

    /// Sets the status.
    pub(super) async fn set_license_status(
        &self,
        tx: &mut sqlx::AnyConnection,
        id: &str,
        status: LicenseStatus,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE licenses SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(status.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map(|_| ())
    }

    /// Sets the expiry (`None`: perpetual).
    pub(super) async fn set_license_expiry(
        &self,
        tx: &mut sqlx::AnyConnection,
        id: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE licenses SET expires_at = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map(|_| ())
    }

    /// Writes the per-license overrides and email.
    pub(super) async fn update_license_overrides(
        &self,
        tx: &mut sqlx::AnyConnection,
        row: &LicenseRow,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE licenses SET email = $2, max_activations = $3, token_lifetime_secs = $4, \
             entitlements = $5, metadata = $6, updated_at = $7, updates_until = $8 WHERE id = $1",
        )
        .bind(&row.id)
        .bind(&row.email)
        .bind(row.max_activations)
        .bind(row.token_lifetime_secs)
        .bind(row.entitlements.as_deref())
        .bind(&row.metadata)
        .bind(now)
        .bind(row.updates_until_at)
        .execute(&mut *tx)
        .await
        .map(|_| ())
    }
}
