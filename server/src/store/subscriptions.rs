//! Subscriptions and the invoices that paid them, and what they do to the licenses of their
//! purchase.
//!
//! Every change is one transaction that first makes sure the subscription's row exists,
//! then locks it (`FOR UPDATE` on PostgreSQL; SQLite's write transaction excludes other
//! writers), lets the domain decide the new state from the row as locked, and writes it.
//! When licenses change too, the purchase row is locked after the subscription row, the
//! same order fulfilment never contradicts (fulfilment locks the purchase and only reads
//! the subscription), so two events of one subscription, or an event and the fulfilment of
//! its purchase, run one after the other and neither is lost.

use licet_proto::SubscriptionStatus;
use licet_proto::token::SubscriptionClaim;

use super::states::StateText;
use super::{LicenseRow, NewAudit, Store};

/// A subscription row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionRow {
    /// The provider's id (`sub_…`).
    pub id: String,
    /// `stripe`.
    pub provider: String,
    /// The purchase it belongs to, once its checkout was seen.
    pub purchase_id: Option<String>,
    /// Where it stands.
    #[sqlx(try_from = "StateText")]
    pub status: SubscriptionStatus,
    /// End of the current billing period, as the latest subscription event said.
    pub period_end: Option<i64>,
    /// End of the latest paid period.
    pub paid_through: Option<i64>,
    /// 1 when it ends at `period_end` instead of renewing.
    pub cancel_at_period_end: i64,
    /// The provider's price id.
    pub price_id: Option<String>,
    /// Monthly recurring revenue, smallest currency unit.
    pub monthly_amount: Option<i64>,
    /// ISO currency, lower case.
    pub currency: Option<String>,
    /// When the unpaid renewal's payment failed.
    pub payment_failed_at: Option<i64>,
    /// The end of the period the unpaid renewal was for.
    pub failed_period_end: Option<i64>,
    /// Provider time of the latest subscription event applied.
    pub state_at: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, provider, purchase_id, status, period_end, paid_through, \
     cancel_at_period_end, price_id, monthly_amount, currency, payment_failed_at, \
     failed_period_end, state_at, created_at, updated_at";

/// A paid invoice of a subscription, recorded once by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidInvoice {
    /// The provider's invoice id (`in_…`).
    pub id: String,
    /// End of the period it paid for.
    pub period_end: i64,
    /// Amount paid, smallest currency unit.
    pub amount_paid: Option<i64>,
    /// Why it was issued (`subscription_create`, `subscription_cycle`, …).
    pub billing_reason: Option<String>,
}

/// What an event does to a subscription's licenses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseEffect {
    /// Nothing.
    None,
    /// Paid through this instant: each license runs to it plus its product's grace, never
    /// earlier than it already ran (expiry only moves forward).
    PaidThrough(i64),
    /// Ended: each license runs to this instant at most.
    EndAt(i64),
    /// A plan change: these entitlements replace the licenses' own.
    Entitlements(Vec<String>),
}

/// The domain's answer for a subscription read under its lock.
#[derive(Debug, Clone)]
pub struct SubscriptionWrite {
    /// The row to store.
    pub row: SubscriptionRow,
    /// What happens to the purchase's licenses.
    pub licenses: LicenseEffect,
    /// The audit entry, if the change is worth one.
    pub audit: Option<NewAudit>,
    /// An email to queue with the change (a renewal receipt), if any.
    pub mail: Option<super::OutboxRow>,
}

/// What a subscription change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// The invoice had been recorded before: nothing changed.
    Duplicate,
    /// The domain saw nothing to change.
    Unchanged,
    /// Written; the licenses whose expiry or entitlements changed.
    Changed(Vec<String>),
}

impl SubscriptionRow {
    /// The row of a subscription nothing is known of yet.
    pub fn new(id: &str, provider: &str, now: i64) -> Self {
        Self {
            id: id.to_owned(),
            provider: provider.to_owned(),
            purchase_id: None,
            status: SubscriptionStatus::Active,
            period_end: None,
            paid_through: None,
            cancel_at_period_end: 0,
            price_id: None,
            monthly_amount: None,
            currency: None,
            payment_failed_at: None,
            failed_period_end: None,
            state_at: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// True when it ends at the period's end instead of renewing.
    pub fn cancels_at_period_end(&self) -> bool {
        self.cancel_at_period_end != 0
    }
}

impl LicenseRow {
    /// The subscription behind the license, as a lease states it; `None` when the license
    /// was not sold by one.
    pub fn subscription(&self) -> Option<SubscriptionClaim> {
        let status = self.sub_status.as_deref()?;
        Some(SubscriptionClaim {
            status: StateText::from(status.to_owned()).into(),
            period_end: self.sub_period_end,
            cancel_at_period_end: self.sub_cancel_at_period_end.unwrap_or(0) != 0,
        })
    }
}

impl Store {
    /// Attaches a subscription to its purchase (creating its row if no event about it came
    /// first). A purchase keeps the first subscription attached.
    pub async fn link_subscription(
        &self,
        id: &str,
        provider: &str,
        purchase_id: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let row = SubscriptionRow::new(id, provider, now);
        let mut tx = self.begin_write().await?;
        self.ensure_subscription(&mut tx, &row).await?;
        sqlx::query(
            "UPDATE subscriptions SET purchase_id = $2, updated_at = $3 \
             WHERE id = $1 AND purchase_id IS NULL \
             AND NOT EXISTS (SELECT 1 FROM subscriptions o WHERE o.purchase_id = $2)",
        )
        .bind(id)
        .bind(purchase_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Changes a subscription as `decide` answers from its row read under its lock (a
    /// fresh row when nothing was known of it). With `invoice`, the invoice is recorded
    /// first and a repeat of it changes nothing; `decide` is told whether the invoice
    /// `known_invoice` was recorded as paid before.
    pub async fn change_subscription(
        &self,
        id: &str,
        provider: &str,
        now: i64,
        invoice: Option<&PaidInvoice>,
        known_invoice: Option<&str>,
        decide: impl FnOnce(&SubscriptionRow, bool) -> Option<SubscriptionWrite>,
    ) -> Result<SubscriptionChange, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.ensure_subscription(&mut tx, &SubscriptionRow::new(id, provider, now))
            .await?;
        let lock = match self.backend() {
            super::Backend::Postgres => " FOR UPDATE",
            super::Backend::Sqlite => "",
        };
        let current: SubscriptionRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE id = $1{lock}"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(inv) = invoice {
            let fresh = sqlx::query(
                "INSERT INTO subscription_invoices (invoice_id, subscription_id, period_end, \
                 amount_paid, billing_reason, paid_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (invoice_id) DO NOTHING",
            )
            .bind(&inv.id)
            .bind(id)
            .bind(inv.period_end)
            .bind(inv.amount_paid)
            .bind(inv.billing_reason.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                return Ok(SubscriptionChange::Duplicate);
            }
        }
        let paid_before = match known_invoice {
            Some(invoice_id) => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM subscription_invoices WHERE invoice_id = $1",
            )
            .bind(invoice_id)
            .fetch_one(&mut *tx)
            .await?
            .gt(&0),
            None => false,
        };
        let Some(write) = decide(&current, paid_before) else {
            // An invoice recorded above is kept even when nothing else changes.
            tx.commit().await?;
            return Ok(SubscriptionChange::Unchanged);
        };
        self.write_subscription(&mut tx, &write.row).await?;
        let changed = match &write.row.purchase_id {
            Some(purchase) => {
                self.lock_purchase(&mut tx, purchase).await?;
                self.apply_license_effect(&mut tx, purchase, &write.licenses, now)
                    .await?
            }
            None => Vec::new(),
        };
        if let Some(audit) = &write.audit {
            audit.write(&mut *tx).await?;
        }
        if let Some(mail) = &write.mail {
            self.enqueue_mail(&mut tx, mail).await?;
        }
        tx.commit().await?;
        Ok(SubscriptionChange::Changed(changed))
    }

    /// Inserts the row unless it exists.
    async fn ensure_subscription(
        &self,
        tx: &mut sqlx::AnyConnection,
        row: &SubscriptionRow,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO subscriptions (id, provider, status, cancel_at_period_end, state_at, \
             created_at, updated_at) VALUES ($1, $2, $3, 0, 0, $4, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.provider)
        .bind(row.status.as_str())
        .bind(row.created_at)
        .execute(&mut *tx)
        .await
        .map(|_| ())
    }

    /// Writes every mutable column.
    async fn write_subscription(
        &self,
        tx: &mut sqlx::AnyConnection,
        r: &SubscriptionRow,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE subscriptions SET status = $2, period_end = $3, paid_through = $4, \
             cancel_at_period_end = $5, price_id = $6, monthly_amount = $7, currency = $8, \
             payment_failed_at = $9, failed_period_end = $10, state_at = $11, updated_at = $12 \
             WHERE id = $1",
        )
        .bind(&r.id)
        .bind(r.status.as_str())
        .bind(r.period_end)
        .bind(r.paid_through)
        .bind(r.cancel_at_period_end)
        .bind(r.price_id.as_deref())
        .bind(r.monthly_amount)
        .bind(r.currency.as_deref())
        .bind(r.payment_failed_at)
        .bind(r.failed_period_end)
        .bind(r.state_at)
        .bind(r.updated_at)
        .execute(&mut *tx)
        .await
        .map(|_| ())
    }

    /// Applies an effect to the licenses a purchase minted; the ids changed. Each update is
    /// one conditional statement, so an expiry never moves back under concurrency.
    pub(super) async fn apply_license_effect(
        &self,
        tx: &mut sqlx::AnyConnection,
        purchase_id: &str,
        effect: &LicenseEffect,
        now: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        let grace =
            "(SELECT p.subscription_grace_secs FROM products p WHERE p.id = licenses.product_id)";
        let query = match effect {
            LicenseEffect::None => return Ok(Vec::new()),
            LicenseEffect::PaidThrough(at) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE licenses SET expires_at = $2 + {grace}, updated_at = $3 \
                 WHERE purchase_id = $1 AND expires_at IS NOT NULL AND expires_at < $2 + {grace} \
                 RETURNING id"
            )))
            .bind(purchase_id)
            .bind(*at),
            LicenseEffect::EndAt(at) => sqlx::query(
                "UPDATE licenses SET expires_at = $2, updated_at = $3 \
                 WHERE purchase_id = $1 AND (expires_at IS NULL OR expires_at > $2) RETURNING id",
            )
            .bind(purchase_id)
            .bind(*at),
            LicenseEffect::Entitlements(list) => sqlx::query(
                "UPDATE licenses SET entitlements = $2, updated_at = $3 \
                 WHERE purchase_id = $1 RETURNING id",
            )
            .bind(purchase_id)
            .bind(super::json_list(list)),
        };
        let rows = query.bind(now).fetch_all(&mut *tx).await?;
        rows.iter()
            .map(|r| sqlx::Row::try_get::<String, _>(r, 0))
            .collect()
    }

    /// Remembers that payment `payment_id` paid invoice `invoice_id` (of `subscription_id`,
    /// when the event said), so a refund or dispute naming the payment finds its purchase.
    /// Repeated deliveries change nothing; a later one may add the subscription.
    pub async fn link_subscription_payment(
        &self,
        payment_id: &str,
        invoice_id: &str,
        subscription_id: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO subscription_payments (payment_id, invoice_id, subscription_id) \
             VALUES ($1, $2, $3) ON CONFLICT (payment_id) DO UPDATE SET subscription_id = \
             COALESCE(subscription_payments.subscription_id, excluded.subscription_id)",
        )
        .bind(payment_id)
        .bind(invoice_id)
        .bind(subscription_id)
        .execute(self.pool())
        .await
        .map(|_| ())
    }

    /// The purchase whose subscription payment `payment_id` paid an invoice, if known.
    pub(super) async fn purchase_of_subscription_payment(
        &self,
        tx: &mut sqlx::AnyConnection,
        payment_id: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT s.purchase_id FROM subscription_payments p \
             LEFT JOIN subscription_invoices i ON i.invoice_id = p.invoice_id \
             JOIN subscriptions s ON s.id = COALESCE(p.subscription_id, i.subscription_id) \
             WHERE p.payment_id = $1 AND s.purchase_id IS NOT NULL",
        )
        .bind(payment_id)
        .fetch_optional(&mut *tx)
        .await
    }

    /// The purchase a subscription is attached to, once its checkout was seen.
    pub async fn purchase_of_subscription(
        &self,
        id: &str,
    ) -> Result<Option<super::PurchaseRow>, sqlx::Error> {
        let purchase: Option<Option<String>> =
            sqlx::query_scalar("SELECT purchase_id FROM subscriptions WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        match purchase.flatten() {
            Some(p) => self.purchase(&p).await,
            None => Ok(None),
        }
    }

    /// The subscription of a purchase, inside a transaction.
    pub(super) async fn subscription_of_purchase_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        purchase_id: &str,
    ) -> Result<Option<SubscriptionRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE purchase_id = $1"
        )))
        .bind(purchase_id)
        .fetch_optional(&mut *tx)
        .await
    }

    /// The subscription of a purchase.
    pub async fn subscription_of_purchase(
        &self,
        purchase_id: &str,
    ) -> Result<Option<SubscriptionRow>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        self.subscription_of_purchase_in(&mut conn, purchase_id)
            .await
    }

    /// Subscriptions that are not canceled: `(currency, count, monthly amount)` per
    /// currency, for the overview.
    pub async fn recurring_revenue(&self) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT COALESCE(currency, ''), CAST(COUNT(*) AS BIGINT), \
             CAST(COALESCE(SUM(monthly_amount), 0) AS BIGINT) \
             FROM subscriptions WHERE status <> $1 AND purchase_id IS NOT NULL \
             GROUP BY COALESCE(currency, '') ORDER BY 2 DESC",
        )
        .bind(SubscriptionStatus::Canceled.as_str())
        .fetch_all(self.pool())
        .await
    }
}
