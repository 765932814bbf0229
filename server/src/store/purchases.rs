//! Purchases, payment flags and provider events.

use sqlx::{Any, Executor};

use licet_proto::admin::PurchaseStatus;

use super::Store;
use super::states::StateText;

/// A purchase row.
#[derive(Debug, Clone, sqlx::FromRow)]
// A row mirrors its table: some columns are read only by some paths (or by tests).
#[allow(dead_code)]
pub struct PurchaseRow {
    pub id: String,
    pub email: String,
    /// JSON list of product slugs.
    pub products: String,
    /// Amount in the currency's smallest unit.
    pub amount: Option<i64>,
    /// ISO currency, lower case.
    pub currency: Option<String>,
    /// `stripe` or `manual`.
    pub provider: String,
    /// Checkout session id.
    pub provider_session_id: Option<String>,
    /// Payment (intent) id.
    pub provider_payment_id: Option<String>,
    /// Where the payment stands.
    #[sqlx(try_from = "StateText")]
    pub status: PurchaseStatus,
    /// When fulfilment committed.
    pub fulfilled_at: Option<i64>,
    /// Why the last fulfilment attempt failed.
    pub fulfilment_error: Option<String>,
    /// When the delivery email was accepted by the mail server.
    pub delivered_at: Option<i64>,
    /// Downloads used.
    pub download_count: i64,
    /// Downloads allowed.
    pub download_limit: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

macro_rules! select_purchase {
    ($where:literal) => {
        concat!(
            "SELECT id, email, products, amount, currency, provider, provider_session_id, \
             provider_payment_id, status, fulfilled_at, fulfilment_error, delivered_at, \
             download_count, download_limit, created_at, updated_at FROM purchases ",
            $where
        )
    };
}

/// Search criteria for purchases.
#[derive(Debug, Clone, Default)]
pub struct PurchaseFilter {
    /// Customer email (case-insensitive).
    pub email: Option<String>,
    /// Only purchases in this status.
    pub status: Option<PurchaseStatus>,
    /// Only purchases whose fulfilment failed.
    pub failed_only: bool,
    /// Created at or after.
    pub since: Option<i64>,
    /// Created before.
    pub until: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// Where a payment's dispute stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeStatus {
    /// Opened by the cardholder's bank; undecided.
    Open,
    /// Closed in the vendor's favour.
    Won,
    /// Closed in the cardholder's favour (the money is gone, as with a refund).
    Lost,
}

impl DisputeStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }

    /// Decodes a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "won" => Some(Self::Won),
            "lost" => Some(Self::Lost),
            _ => None,
        }
    }
}

/// What is known of a payment apart from its purchase: refunds and disputes can arrive
/// before the completion they concern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentFlags {
    /// When it was refunded in full.
    pub refunded_at: Option<i64>,
    /// Its dispute, if one was opened.
    pub dispute: Option<DisputeStatus>,
}

impl Store {
    /// Inserts a purchase unless one exists for the same provider session or payment;
    /// returns the purchase now stored for those keys.
    pub(super) async fn upsert_purchase(
        &self,
        tx: &mut sqlx::AnyConnection,
        p: &PurchaseRow,
    ) -> Result<PurchaseRow, sqlx::Error> {
        sqlx::query(
            "INSERT INTO purchases (id, email, products, amount, currency, provider, \
             provider_session_id, provider_payment_id, status, download_limit, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) ON CONFLICT DO NOTHING",
        )
        .bind(&p.id)
        .bind(&p.email)
        .bind(&p.products)
        .bind(p.amount)
        .bind(p.currency.as_deref())
        .bind(&p.provider)
        .bind(p.provider_session_id.as_deref())
        .bind(p.provider_payment_id.as_deref())
        .bind(p.status.as_str())
        .bind(p.download_limit)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await?;
        let found: Option<PurchaseRow> = sqlx::query_as(select_purchase!(
            "WHERE id = $1 OR (provider = $2 AND (provider_session_id = $3 OR provider_payment_id = $4)) \
             ORDER BY created_at LIMIT 1"
        ))
        .bind(&p.id)
        .bind(&p.provider)
        .bind(p.provider_session_id.as_deref())
        .bind(p.provider_payment_id.as_deref())
        .fetch_optional(&mut *tx)
        .await?;
        found.ok_or(sqlx::Error::RowNotFound)
    }

    /// A purchase by id.
    pub(super) async fn purchase_in<'e, E: Executor<'e, Database = Any>>(
        &self,
        executor: E,
        id: &str,
    ) -> Result<Option<PurchaseRow>, sqlx::Error> {
        sqlx::query_as(select_purchase!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(executor)
            .await
    }

    /// The purchase of a provider payment or session.
    pub(super) async fn purchase_by_provider<'e, E: Executor<'e, Database = Any>>(
        &self,
        executor: E,
        provider: &str,
        session_id: Option<&str>,
        payment_id: Option<&str>,
    ) -> Result<Option<PurchaseRow>, sqlx::Error> {
        sqlx::query_as(select_purchase!(
            "WHERE provider = $1 AND (provider_session_id = $2 OR provider_payment_id = $3) \
             ORDER BY created_at LIMIT 1"
        ))
        .bind(provider)
        .bind(session_id)
        .bind(payment_id)
        .fetch_optional(executor)
        .await
    }

    /// Locks a purchase row until the transaction ends (PostgreSQL; SQLite's write
    /// transaction already excludes other writers).
    pub(super) async fn lock_purchase(
        &self,
        tx: &mut sqlx::AnyConnection,
        id: &str,
    ) -> Result<(), sqlx::Error> {
        if self.backend() == super::Backend::Postgres {
            sqlx::query("SELECT id FROM purchases WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        Ok(())
    }

    /// Purchases matching a filter, newest first.
    pub async fn purchases(&self, f: &PurchaseFilter) -> Result<Vec<PurchaseRow>, sqlx::Error> {
        sqlx::query_as(select_purchase!(
            "WHERE ($1 IS NULL OR lower(email) = lower($1)) AND ($2 IS NULL OR status = $2) \
             AND ($3 = 0 OR fulfilment_error IS NOT NULL) AND ($4 IS NULL OR created_at >= $4) \
             AND ($7 IS NULL OR created_at < $7) ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6"
        ))
        .bind(f.email.as_deref())
        .bind(f.status.map(PurchaseStatus::as_str))
        .bind(i64::from(f.failed_only))
        .bind(f.since)
        .bind(f.limit)
        .bind(f.offset)
        .bind(f.until)
        .fetch_all(self.pool())
        .await
    }

    /// Sets the status (and, when given, the payment id learned later).
    pub(super) async fn set_purchase_status(
        &self,
        tx: &mut sqlx::AnyConnection,
        id: &str,
        status: PurchaseStatus,
        payment_id: Option<&str>,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE purchases SET status = $2, provider_payment_id = COALESCE(provider_payment_id, $3), \
             updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(payment_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map(|_| ())
    }

    /// Marks a purchase fulfilled (clearing any earlier failure).
    pub(super) async fn mark_fulfilled(
        &self,
        tx: &mut sqlx::AnyConnection,
        id: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE purchases SET fulfilled_at = $2, fulfilment_error = NULL, updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map(|_| ())
    }

    /// Records why fulfilment failed, for the vendor to see and retry.
    pub async fn mark_fulfilment_failed(
        &self,
        id: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE purchases SET fulfilment_error = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(reason)
            .bind(now)
            .execute(self.writer())
            .await
            .map(|_| ())
    }

    /// Records that the delivery email went out.
    pub async fn mark_delivered(&self, id: &str, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE purchases SET delivered_at = COALESCE(delivered_at, $2) WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(self.writer())
            .await
            .map(|_| ())
    }

    /// Notes a refund or dispute of a payment, whether or not its purchase exists yet. A
    /// dispute that has closed stays closed: a late, out-of-order "opened" does not reopen it.
    pub(super) async fn flag_payment(
        &self,
        tx: &mut sqlx::AnyConnection,
        provider: &str,
        payment_id: &str,
        refunded_at: Option<i64>,
        dispute: Option<(i64, DisputeStatus)>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO payment_flags (provider, payment_id, refunded_at, disputed_at, dispute_status) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, payment_id) DO UPDATE SET \
             refunded_at = COALESCE(payment_flags.refunded_at, excluded.refunded_at), \
             disputed_at = COALESCE(payment_flags.disputed_at, excluded.disputed_at), \
             dispute_status = CASE WHEN excluded.dispute_status = 'open' \
             AND payment_flags.dispute_status IN ('won', 'lost') THEN payment_flags.dispute_status \
             ELSE COALESCE(excluded.dispute_status, payment_flags.dispute_status) END",
        )
        .bind(provider)
        .bind(payment_id)
        .bind(refunded_at)
        .bind(dispute.map(|d| d.0))
        .bind(dispute.map(|d| d.1.as_str()))
        .execute(&mut *tx)
        .await
        .map(|_| ())
    }

    /// What is known of a payment's refund and dispute, if anything.
    pub(super) async fn payment_flags(
        &self,
        tx: &mut sqlx::AnyConnection,
        provider: &str,
        payment_id: &str,
    ) -> Result<Option<PaymentFlags>, sqlx::Error> {
        let row: Option<(Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT refunded_at, dispute_status FROM payment_flags WHERE provider = $1 AND payment_id = $2",
        )
        .bind(provider)
        .bind(payment_id)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(row.map(|(refunded_at, dispute)| PaymentFlags {
            refunded_at,
            dispute: dispute.as_deref().and_then(DisputeStatus::parse),
        }))
    }

    /// Stores a provider event once; `Ok(true)` if it was new.
    pub async fn record_event(
        &self,
        id: &str,
        provider: &str,
        kind: &str,
        payload: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO webhook_events (id, provider, event_type, payload, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(provider)
        .bind(kind)
        .bind(payload)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether an event was processed already.
    pub async fn event_processed(&self, id: &str) -> Result<bool, sqlx::Error> {
        let at: Option<Option<i64>> =
            sqlx::query_scalar("SELECT processed_at FROM webhook_events WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(at.flatten().is_some())
    }

    /// Marks an event processed (or records why it failed).
    pub async fn finish_event(
        &self,
        id: &str,
        now: i64,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE webhook_events SET processed_at = CASE WHEN $3 IS NULL THEN $2 ELSE processed_at END, \
             error = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(error)
        .execute(self.writer())
        .await
        .map(|_| ())
    }
}
