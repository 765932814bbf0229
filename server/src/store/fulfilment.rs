//! Purchase fulfilment as one unit of work: the domain decides what a paid purchase
//! grants, the store runs every step inside one transaction that holds the purchase's lock.

use licet_proto::LicenseStatus;
use licet_proto::admin::PurchaseStatus;

use super::writes::NewLink;
use super::{
    FileRow, LicenseEffect, NewAudit, NewLicense, OutboxRow, PaymentFlags, PurchaseRow, Store,
    SubscriptionRow,
};

/// A fulfilment in progress: one write transaction holding the purchase's lock (its row
/// lock on PostgreSQL, the database's write lock on SQLite). Every step runs inside it;
/// nothing is kept unless [`Fulfilling::commit`] is called (dropping it rolls back).
pub struct Fulfilling {
    /// The store the steps run on.
    store: Store,
    /// The transaction; private so no caller sees the engine.
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// The purchase being fulfilled.
    purchase_id: String,
}

impl std::fmt::Debug for Fulfilling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fulfilling")
            .field("purchase_id", &self.purchase_id)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Starts fulfilling a purchase: a write transaction that takes the purchase's lock
    /// first, so two fulfilments of one purchase run one after the other.
    pub async fn fulfil_purchase(&self, purchase_id: &str) -> Result<Fulfilling, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.lock_purchase(&mut tx, purchase_id).await?;
        Ok(Fulfilling {
            store: self.clone(),
            tx,
            purchase_id: purchase_id.to_owned(),
        })
    }
}

impl Fulfilling {
    /// The purchase as read under the lock.
    pub async fn purchase(&mut self) -> Result<Option<PurchaseRow>, sqlx::Error> {
        self.store
            .purchase_in(&mut *self.tx, &self.purchase_id)
            .await
    }

    /// What is known of a payment's refund and dispute, if anything.
    pub async fn payment_flags(
        &mut self,
        provider: &str,
        payment_id: &str,
    ) -> Result<Option<PaymentFlags>, sqlx::Error> {
        self.store
            .payment_flags(&mut self.tx, provider, payment_id)
            .await
    }

    /// Sets the purchase's status.
    pub async fn set_status(
        &mut self,
        status: PurchaseStatus,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        self.store
            .set_purchase_status(&mut self.tx, &self.purchase_id, status, None, now)
            .await
    }

    /// Appends an audit entry.
    pub async fn audit(&mut self, entry: &NewAudit) -> Result<(), sqlx::Error> {
        entry.write(&mut *self.tx).await
    }

    /// Mints a license under the first key of `generate_key` not taken yet and audits it
    /// (see [`Store::issue_license`]); `Ok(false)` when every key tried was taken.
    pub async fn mint_license(
        &mut self,
        new: &NewLicense<'_>,
        mut generate_key: impl FnMut() -> String + Send,
        audit: &NewAudit,
    ) -> Result<bool, sqlx::Error> {
        self.store
            .mint_license_in(&mut self.tx, new, &mut generate_key, audit)
            .await
    }

    /// Grants access to a product (once per purchase and product).
    pub async fn grant_access(
        &mut self,
        id: &str,
        product_id: &str,
        email: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        self.store
            .grant_access(&mut self.tx, id, &self.purchase_id, product_id, email, now)
            .await
    }

    /// `(product name, license key)` of the licenses the purchase minted.
    pub async fn keys(&mut self) -> Result<Vec<(String, String)>, sqlx::Error> {
        self.store
            .keys_of_purchase(&mut self.tx, &self.purchase_id)
            .await
    }

    /// New download links, made by `mint`, for every file of the purchase's products (see
    /// [`Store::mint_download_links`]).
    pub async fn mint_download_links<L: Send>(
        &mut self,
        purchase: &PurchaseRow,
        now: i64,
        mut mint: impl FnMut(&FileRow) -> (NewLink, L) + Send,
    ) -> Result<Vec<L>, sqlx::Error> {
        self.store
            .mint_links_in(&mut self.tx, purchase, now, &mut mint)
            .await
    }

    /// Queues a message unless one with the same dedupe key exists.
    pub async fn queue_mail(&mut self, message: &OutboxRow) -> Result<(), sqlx::Error> {
        self.store.enqueue_mail(&mut self.tx, message).await
    }

    /// Marks the purchase fulfilled (clearing any earlier failure).
    pub async fn mark_fulfilled(&mut self, now: i64) -> Result<(), sqlx::Error> {
        self.store
            .mark_fulfilled(&mut self.tx, &self.purchase_id, now)
            .await
    }

    /// Suspends the purchase's active licenses; the ids suspended.
    pub async fn suspend_licenses(&mut self, now: i64) -> Result<Vec<String>, sqlx::Error> {
        self.store
            .set_purchase_license_status(
                &mut self.tx,
                &self.purchase_id,
                &[LicenseStatus::Active],
                LicenseStatus::Suspended,
                now,
            )
            .await
    }

    /// The subscription that pays for the purchase, if it is one (read, not locked: a
    /// subscription change that commits after this fulfilment waits for the purchase's lock
    /// and then updates the licenses minted here).
    pub async fn subscription(&mut self) -> Result<Option<SubscriptionRow>, sqlx::Error> {
        self.store
            .subscription_of_purchase_in(&mut self.tx, &self.purchase_id)
            .await
    }

    /// Applies a subscription's effect to the licenses minted so far; the ids changed.
    pub async fn apply_subscription(
        &mut self,
        effect: &LicenseEffect,
        now: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        self.store
            .apply_license_effect(&mut self.tx, &self.purchase_id, effect, now)
            .await
    }

    /// Keeps every step.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}
