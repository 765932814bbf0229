//! Air-gapped activations: the per-activation public key a seat was taken with by an
//! activation request, and the deactivation proof that frees that seat once.
//!
//! A request's seat is taken exactly as an online activation's (the same decision under the
//! same lock, [`Store::activate_in`]) and its key is written in the same transaction. A row
//! ends (`ended_at`) when a proof frees the seat, when the activation ends by any other way
//! ([`Store::deactivate`]), or when the same machine is activated by a newer request; a
//! request whose row has ended is spent.

use crate::platform::error::Error;

use super::{Activated, ActivationRow, LicenseRow, NewAudit, SeatDecision, Store};

/// The key and nonce of an activation request.
#[derive(Debug, Clone)]
pub struct OfflineKey {
    /// The request's nonce (base64url).
    pub nonce: String,
    /// The per-activation public key (base64url).
    pub public_key: String,
}

/// What an activation request found.
#[derive(Debug)]
// Returned once per request and matched at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum OfflineActivated {
    /// No license has the request's key.
    NoLicense,
    /// The request was used before and its seat has since been freed (or its nonce came
    /// with another key): it cannot take a seat again.
    Spent,
    /// The seat (taken now, or held already by this request or this machine).
    Activated(Activated),
}

/// An offline activation with what checking its deactivation proof needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfflineSeat {
    /// The request's nonce.
    pub nonce: String,
    /// The activation the request took.
    pub activation_id: String,
    /// The per-activation public key (base64url).
    pub public_key: String,
    /// Unix seconds; set once the seat was freed (or superseded).
    pub ended_at: Option<i64>,
    /// The activation's machine.
    pub fingerprint: String,
    /// Its license.
    pub license_id: String,
    /// Its license's key (for the license's lock).
    pub license_key: String,
    /// Its product's slug.
    pub product_slug: String,
}

const SELECT_OFFLINE_SEAT: &str = "SELECT o.nonce, o.activation_id, o.public_key, o.ended_at, a.fingerprint, a.license_id, l.license_key, p.slug AS product_slug \
     FROM offline_activations o JOIN activations a ON a.id = o.activation_id \
     JOIN licenses l ON l.id = a.license_id JOIN products p ON p.id = l.product_id \
     WHERE o.nonce = $1";

impl Store {
    /// Takes (or keeps) the seat of an activation request under the license's lock, as
    /// [`Store::activate_under_seat_limit`] does, and records the request's key with it in
    /// the same transaction. The same request again lands on the same seat.
    pub async fn activate_offline_under_seat_limit<D, A>(
        &self,
        key: &str,
        fingerprint: &str,
        binding: &OfflineKey,
        now: i64,
        decide: D,
        audit: A,
    ) -> Result<OfflineActivated, Error>
    where
        D: FnOnce(&LicenseRow, Option<ActivationRow>) -> Result<SeatDecision, Error>,
        A: FnOnce(&LicenseRow, &ActivationRow, bool) -> NewAudit,
    {
        let mut tx = self.begin_write().await?;
        let known: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT public_key, ended_at FROM offline_activations WHERE nonce = $1")
                .bind(&binding.nonce)
                .fetch_optional(&mut *tx)
                .await?;
        if known.is_some_and(|(public_key, ended_at)| {
            ended_at.is_some() || public_key != binding.public_key
        }) {
            return Ok(OfflineActivated::Spent);
        }
        let Some(outcome) = self
            .activate_in(&mut tx, key, fingerprint, decide, audit)
            .await?
        else {
            return Ok(OfflineActivated::NoLicense);
        };
        // A newer request from the machine supersedes its older ones.
        sqlx::query(
            "UPDATE offline_activations SET ended_at = $3 \
             WHERE activation_id = $1 AND nonce <> $2 AND ended_at IS NULL",
        )
        .bind(&outcome.activation.id)
        .bind(&binding.nonce)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO offline_activations (nonce, activation_id, public_key, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(&binding.nonce)
        .bind(&outcome.activation.id)
        .bind(&binding.public_key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(OfflineActivated::Activated(outcome))
    }

    /// The offline activation of the request with `nonce`, ended or not.
    pub async fn offline_seat(&self, nonce: &str) -> Result<Option<OfflineSeat>, sqlx::Error> {
        sqlx::query_as(SELECT_OFFLINE_SEAT)
            .bind(nonce)
            .fetch_optional(self.pool())
            .await
    }

    /// Frees the seat of `seat` for its (verified) deactivation proof, under the license's
    /// lock, audited with `audit`. `Ok(false)`: the proof was used already (or the seat had
    /// ended otherwise); nothing was written.
    pub async fn redeem_deactivation_proof(
        &self,
        seat: &OfflineSeat,
        now: i64,
        audit: NewAudit,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.lock_license(&mut tx, &seat.license_key).await?;
        let ended = sqlx::query(
            "UPDATE offline_activations SET ended_at = $2 WHERE nonce = $1 AND ended_at IS NULL",
        )
        .bind(&seat.nonce)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if ended.rows_affected() == 0 {
            return Ok(false);
        }
        self.deactivate(&mut tx, &seat.activation_id, now).await?;
        audit.write(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }
}
