//! The domain's multi-step writes, each one named operation: one transaction that takes the
//! locks it needs and appends its audit entry (described by the caller as a [`NewAudit`]).

use crate::platform::error::Error;
use licet_proto::LicenseStatus;
use licet_proto::admin::PurchaseStatus;

use super::{
    DisputeStatus, FileRow, LicenseRow, NewAudit, NewLicense, OutboxRow, ProductRow, PurchaseRow,
    SigningKeyRow, Store, parse_list,
};

/// Most keys tried for one license before minting gives up (100 random bits make even a
/// second attempt practically impossible; the bound makes the loop finite).
const MINT_ATTEMPTS: usize = 6;

/// A download link to store, by the hash of its token (the token itself is never stored).
#[derive(Debug, Clone)]
pub struct NewLink {
    /// SHA-256 (hex) of the link's secret token.
    pub token_hash: String,
    /// Unix seconds after which the link no longer works.
    pub expires_at: i64,
}

/// What changed when a purchase's licenses moved status together (refund, dispute).
#[derive(Debug, Clone)]
pub struct PurchaseChange {
    /// The purchase, as read under its lock before the change.
    pub purchase: PurchaseRow,
    /// Ids of the licenses whose status changed.
    pub licenses: Vec<String>,
}

/// How a payment event moves a purchase and the licenses it minted.
struct PurchaseMove {
    /// The purchase's new status.
    status: PurchaseStatus,
    /// The licenses that change: those in one of these statuses.
    licenses_from: &'static [LicenseStatus],
    /// Their new status.
    licenses_to: LicenseStatus,
}

/// A refund: the purchase is refunded, its licenses revoked for good.
const REFUND: PurchaseMove = PurchaseMove {
    status: PurchaseStatus::Refunded,
    licenses_from: &[LicenseStatus::Active, LicenseStatus::Suspended],
    licenses_to: LicenseStatus::Revoked,
};

/// A dispute opened: the purchase is disputed, its active licenses suspended meanwhile.
const DISPUTE: PurchaseMove = PurchaseMove {
    status: PurchaseStatus::Disputed,
    licenses_from: &[LicenseStatus::Active],
    licenses_to: LicenseStatus::Suspended,
};

/// A dispute won: the purchase is completed again, its suspended licenses active.
const DISPUTE_WON: PurchaseMove = PurchaseMove {
    status: PurchaseStatus::Completed,
    licenses_from: &[LicenseStatus::Suspended],
    licenses_to: LicenseStatus::Active,
};

impl Store {
    /// Inserts a product and audits it; `Ok(false)` (nothing written) when its slug exists.
    pub async fn create_product(
        &self,
        row: &ProductRow,
        audit: &NewAudit,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        if !self.insert_product(&mut tx, row).await? {
            return Ok(false);
        }
        audit.write(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Writes every mutable column of an existing product and audits it.
    pub async fn save_product(
        &self,
        row: &ProductRow,
        audit: &NewAudit,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.update_product(&mut tx, row).await?;
        audit.write(&mut *tx).await?;
        tx.commit().await
    }

    /// Inserts a license under the first key of `generate_key` not taken yet and audits it;
    /// `Ok(false)` when every key tried was taken.
    pub(super) async fn mint_license_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        new: &NewLicense<'_>,
        generate_key: &mut (impl FnMut() -> String + Send),
        audit: &NewAudit,
    ) -> Result<bool, sqlx::Error> {
        for _ in 0..MINT_ATTEMPTS {
            let key = generate_key();
            if self.insert_license(tx, new, &key).await? {
                audit.write(&mut *tx).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Issues a license under a fresh key from `generate_key` and audits it; the license as
    /// stored, or `Ok(None)` (nothing written) when no key tried was free.
    pub async fn issue_license(
        &self,
        new: &NewLicense<'_>,
        mut generate_key: impl FnMut() -> String + Send,
        audit: &NewAudit,
    ) -> Result<Option<LicenseRow>, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        if !self
            .mint_license_in(&mut tx, new, &mut generate_key, audit)
            .await?
        {
            return Ok(None);
        }
        let row = self
            .license_by_id_in(&mut tx, new.id)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        tx.commit().await?;
        Ok(Some(row))
    }

    /// Changes a license's status as `decide` answers from the license read inside the
    /// transaction: a new status and its audit entry, nothing (no change), or a refusal.
    /// `Ok(false)`: no license has this id.
    pub async fn change_license_status(
        &self,
        id: &str,
        now: i64,
        decide: impl FnOnce(&LicenseRow) -> Result<Option<(LicenseStatus, NewAudit)>, Error>,
    ) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let Some(current) = self.license_by_id_in(&mut tx, id).await? else {
            return Ok(false);
        };
        if let Some((to, audit)) = decide(&current)? {
            self.set_license_status(&mut tx, id, to, now).await?;
            audit.write(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Sets a license's expiry (`None`: perpetual) and audits it.
    pub async fn extend_license(
        &self,
        id: &str,
        expires_at: Option<i64>,
        now: i64,
        audit: &NewAudit,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.set_license_expiry(&mut tx, id, expires_at, now)
            .await?;
        audit.write(&mut *tx).await?;
        tx.commit().await
    }

    /// Writes a license's per-license overrides and email and audits it.
    pub async fn update_license(
        &self,
        row: &LicenseRow,
        now: i64,
        audit: &NewAudit,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.update_license_overrides(&mut tx, row, now).await?;
        audit.write(&mut *tx).await?;
        tx.commit().await
    }

    /// Records a purchase unless one exists for the same provider session or payment, and
    /// audits it when it is new; returns the purchase now stored for those keys.
    pub async fn record_purchase(
        &self,
        row: &PurchaseRow,
        audit: &NewAudit,
    ) -> Result<PurchaseRow, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let stored = self.upsert_purchase(&mut tx, row).await?;
        if stored.id == row.id {
            audit.write(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Moves a purchase to `status` under its lock (learning its payment id if it was not
    /// known) and audits it.
    pub async fn change_purchase_status(
        &self,
        id: &str,
        status: PurchaseStatus,
        payment_id: Option<&str>,
        now: i64,
        audit: &NewAudit,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.lock_purchase(&mut tx, id).await?;
        self.set_purchase_status(&mut tx, id, status, payment_id, now)
            .await?;
        audit.write(&mut *tx).await?;
        tx.commit().await
    }

    /// The purchase of a provider payment, locked until `tx` ends and read after the lock, so
    /// decisions on its status cannot race another event for the same payment.
    async fn locked_purchase_of_payment(
        &self,
        tx: &mut sqlx::AnyConnection,
        provider: &str,
        payment_id: &str,
    ) -> Result<Option<PurchaseRow>, sqlx::Error> {
        let id = match self
            .purchase_by_provider(&mut *tx, provider, None, Some(payment_id))
            .await?
        {
            Some(found) => found.id,
            // A subscription's payments are not the purchase's own: its invoices name them.
            None => match self
                .purchase_of_subscription_payment(tx, payment_id)
                .await?
            {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        self.lock_purchase(tx, &id).await?;
        self.purchase_in(&mut *tx, &id).await
    }

    /// Moves a purchase (locked by `tx`) and its licenses as `change` says, audited with the
    /// entry `audit` makes of what changed.
    async fn move_purchase(
        &self,
        tx: &mut sqlx::AnyConnection,
        purchase: PurchaseRow,
        change: &PurchaseMove,
        now: i64,
        audit: impl FnOnce(&PurchaseChange) -> NewAudit,
    ) -> Result<(), sqlx::Error> {
        self.set_purchase_status(tx, &purchase.id, change.status, None, now)
            .await?;
        let licenses = self
            .set_purchase_license_status(
                tx,
                &purchase.id,
                change.licenses_from,
                change.licenses_to,
                now,
            )
            .await?;
        audit(&PurchaseChange { purchase, licenses })
            .write(&mut *tx)
            .await
    }

    /// A full refund of a payment: remembered for the payment (so a purchase recorded later
    /// grants nothing), and its purchase, if any, becomes `REFUNDED` with its licenses
    /// revoked and its access ended, audited with the entry `audit` makes of the change.
    pub async fn refund_payment(
        &self,
        provider: &str,
        payment_id: &str,
        now: i64,
        audit: impl FnOnce(&PurchaseChange) -> NewAudit,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.flag_payment(&mut tx, provider, payment_id, Some(now), None)
            .await?;
        if let Some(p) = self
            .locked_purchase_of_payment(&mut tx, provider, payment_id)
            .await?
        {
            self.set_access_revoked(&mut tx, &p.id, Some(now)).await?;
            self.move_purchase(&mut tx, p, &REFUND, now, audit).await?;
        }
        tx.commit().await
    }

    /// A dispute of a payment opened: remembered for the payment, and while it is still open
    /// a completed purchase of it becomes `DISPUTED` with its active licenses suspended,
    /// audited with the entry `audit` makes of the change.
    pub async fn open_dispute(
        &self,
        provider: &str,
        payment_id: &str,
        now: i64,
        audit: impl FnOnce(&PurchaseChange) -> NewAudit,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.flag_payment(
            &mut tx,
            provider,
            payment_id,
            None,
            Some((now, DisputeStatus::Open)),
        )
        .await?;
        let still_open = self
            .payment_flags(&mut tx, provider, payment_id)
            .await?
            .is_some_and(|f| f.dispute == Some(DisputeStatus::Open));
        if still_open
            && let Some(p) = self
                .locked_purchase_of_payment(&mut tx, provider, payment_id)
                .await?
            && p.status == PurchaseStatus::Completed
        {
            self.move_purchase(&mut tx, p, &DISPUTE, now, audit).await?;
        }
        tx.commit().await
    }

    /// A dispute of a payment closed with `outcome` (won or lost), remembered for the
    /// payment. Won: a disputed purchase of it is `COMPLETED` again with its suspended
    /// licenses reinstated, audited with the entry `audit` makes of the change. Lost changes
    /// nothing else here: the caller refunds ([`Store::refund_payment`]).
    pub async fn close_dispute(
        &self,
        provider: &str,
        payment_id: &str,
        now: i64,
        outcome: DisputeStatus,
        audit: impl FnOnce(&PurchaseChange) -> NewAudit,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.flag_payment(&mut tx, provider, payment_id, None, Some((now, outcome)))
            .await?;
        if outcome == DisputeStatus::Won
            && let Some(p) = self
                .locked_purchase_of_payment(&mut tx, provider, payment_id)
                .await?
            && p.status == PurchaseStatus::Disputed
        {
            self.move_purchase(&mut tx, p, &DISPUTE_WON, now, audit)
                .await?;
        }
        tx.commit().await
    }

    /// Stores a new link, made by `mint`, for every file of the purchase's products, inside
    /// `tx`; the values `mint` paired with the links, in file order.
    pub(super) async fn mint_links_in<L>(
        &self,
        tx: &mut sqlx::AnyConnection,
        purchase: &PurchaseRow,
        now: i64,
        mint: &mut (impl FnMut(&FileRow) -> (NewLink, L) + Send),
    ) -> Result<Vec<L>, sqlx::Error> {
        let mut minted = Vec::new();
        for slug in parse_list(&purchase.products) {
            let Some(product) = self.product_by_slug(&slug).await? else {
                continue;
            };
            for file in self.files_of_in(&mut *tx, &product.id).await? {
                let (link, value) = mint(&file);
                self.insert_link(
                    tx,
                    &link.token_hash,
                    &purchase.id,
                    &file.id,
                    link.expires_at,
                    now,
                )
                .await?;
                minted.push(value);
            }
        }
        Ok(minted)
    }

    /// New download links, made by `mint`, for every file of the purchase's products, in one
    /// transaction; the values `mint` paired with the links.
    pub async fn mint_download_links<L: Send>(
        &self,
        purchase: &PurchaseRow,
        now: i64,
        mut mint: impl FnMut(&FileRow) -> (NewLink, L) + Send,
    ) -> Result<Vec<L>, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let links = self
            .mint_links_in(&mut tx, purchase, now, &mut mint)
            .await?;
        tx.commit().await?;
        Ok(links)
    }

    /// Queues a message unless one with the same dedupe key exists.
    pub async fn queue_mail(&self, message: &OutboxRow) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.enqueue_mail(&mut tx, message).await?;
        tx.commit().await
    }

    /// Stores a new admin token (by its hash) and audits it.
    pub async fn create_admin_token(
        &self,
        id: &str,
        hash: &str,
        label: &str,
        now: i64,
        audit: &NewAudit,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.insert_admin_token(&mut tx, id, hash, label, now)
            .await?;
        audit.write(&mut *tx).await?;
        tx.commit().await
    }

    /// Revokes every live admin token; how many.
    pub async fn revoke_admin_tokens(&self, now: i64) -> Result<u64, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let n = self.revoke_admin_tokens_in(&mut tx, now).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Stores a new signing key, audited with `audit`; with `current` (its audit entry) the
    /// key also becomes the only current one in the same transaction, activated at its
    /// creation time.
    pub async fn add_signing_key(
        &self,
        row: &SigningKeyRow,
        audit: &NewAudit,
        current: Option<&NewAudit>,
    ) -> Result<KeyChange, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.insert_signing_key(&mut tx, row).await?;
        audit.write(&mut *tx).await?;
        if let Some(current) = current {
            if let Err(e) = self.make_current(&mut tx, &row.kid, row.created_at).await {
                return lost_to_another(e);
            }
            current.write(&mut *tx).await?;
        }
        commit_key_change(tx).await
    }

    /// Inserts `row` as the current signing key only if no key is current (committed or
    /// being committed by another replica: the one-current-key index makes the two meet),
    /// with its audit entries. Replicas starting together on an empty database agree on one
    /// first key this way.
    pub async fn add_first_signing_key(
        &self,
        row: &SigningKeyRow,
        audits: &[&NewAudit],
    ) -> Result<KeyChange, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        if let Err(e) = self.insert_signing_key(&mut tx, row).await {
            return lost_to_another(e);
        }
        for audit in audits {
            audit.write(&mut *tx).await?;
        }
        commit_key_change(tx).await
    }

    /// Makes `kid` the only current signing key (the previous one stays published) and
    /// audits it.
    pub async fn make_signing_key_current(
        &self,
        kid: &str,
        now: i64,
        audit: &NewAudit,
    ) -> Result<KeyChange, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        if let Err(e) = self.make_current(&mut tx, kid, now).await {
            return lost_to_another(e);
        }
        audit.write(&mut *tx).await?;
        commit_key_change(tx).await
    }

    /// Retires a published (not current) signing key and audits it; `Ok(false)` (nothing
    /// written) when there is no such key.
    pub async fn retire_signing_key(
        &self,
        kid: &str,
        now: i64,
        audit: &NewAudit,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        if !self.retire_key(&mut tx, kid, now).await? {
            return Ok(false);
        }
        audit.write(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A purchase by id.
    pub async fn purchase(&self, id: &str) -> Result<Option<PurchaseRow>, sqlx::Error> {
        self.purchase_in(self.pool(), id).await
    }

    /// Files of a product, by name.
    pub async fn files_of(&self, product_id: &str) -> Result<Vec<FileRow>, sqlx::Error> {
        self.files_of_in(self.pool(), product_id).await
    }

    /// `(id, status)` of the licenses a purchase minted, oldest first.
    pub async fn licenses_of_purchase(
        &self,
        purchase_id: &str,
    ) -> Result<Vec<(String, String)>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        self.licenses_of_purchase_in(&mut conn, purchase_id).await
    }
}

/// Whether a change of the current signing key took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChange {
    /// Committed.
    Done,
    /// Another key became current at the same time (another replica starting, another
    /// rotation); nothing was written. At most one key is current (a unique index).
    LostToAnother,
}

/// A unique violation of the one-current-key index is [`KeyChange::LostToAnother`] (the
/// transaction is dropped, so rolled back); anything else fails.
fn lost_to_another(e: sqlx::Error) -> Result<KeyChange, sqlx::Error> {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Ok(KeyChange::LostToAnother),
        _ => Err(e),
    }
}

/// Commits a key change; a unique violation at commit (deferred on some engines) is lost
/// to another too.
async fn commit_key_change(
    tx: sqlx::Transaction<'static, sqlx::Any>,
) -> Result<KeyChange, sqlx::Error> {
    match tx.commit().await {
        Ok(()) => Ok(KeyChange::Done),
        Err(e) => lost_to_another(e),
    }
}
