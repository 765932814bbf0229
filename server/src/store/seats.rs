//! Seat changes of one license under its lock: activation under the seat limit,
//! deactivation by the machine, removal by the vendor.
//!
//! The engine decides how the lock is taken. On SQLite with a database file, an activation
//! is a job of the native writer's group commit (`SqliteWrites`), whose jobs run one after
//! another inside `BEGIN IMMEDIATE`. Elsewhere it is a transaction that holds the write lock
//! from its first statement on SQLite (`BEGIN IMMEDIATE`) and the license's row lock on
//! PostgreSQL (`SELECT … FOR UPDATE`). Either way two requests for the last seat cannot both
//! see it free. The decision itself is the caller's, passed in as a pure function. A license
//! activated on a machine that had a trial of the product ends that trial in the same
//! transaction: one machine, one record of which is in force.

use crate::platform::error::Error;

use super::sqlite_writes::{NativeTx, Writes};
use super::{ActivationRow, LicenseRow, NewAudit, Store};

/// Where an activation lands, as the caller decided.
#[derive(Debug)]
pub enum SeatDecision {
    /// The machine already holds this seat: refresh it (last seen, descriptive fields).
    Held(ActivationRow),
    /// Take a new seat: the machine's own deactivated row brought back if it has one, a new
    /// row otherwise.
    New(ActivationRow),
}

impl SeatDecision {
    /// When the machine was seen: the time of the decision.
    fn at(&self) -> i64 {
        match self {
            Self::Held(a) | Self::New(a) => a.last_seen_at,
        }
    }
}

/// The audit entry of a trial that ended because a license was activated on its machine.
fn converted_audit(license: &LicenseRow, now: i64) -> NewAudit {
    NewAudit::new(
        now,
        "public",
        "trial.converted",
        ("license", &license.id),
        serde_json::json!({ "product": license.product_slug }),
    )
}

/// The outcome of an activation that was admitted.
#[derive(Debug)]
pub struct Activated {
    /// The license as read under the lock (its count not yet including a new seat).
    pub license: LicenseRow,
    /// The machine's seat as written.
    pub activation: ActivationRow,
    /// Whether a seat was taken now (`false`: the machine held one already).
    pub created: bool,
}

/// What a machine releasing its seat found.
#[derive(Debug)]
// Returned once per deactivation and matched at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum SeatRelease {
    /// No license has this key.
    NoLicense,
    /// The license exists but the machine holds no live seat on it; nothing was written.
    NotActivated,
    /// The seat was released (the license as read before).
    Released(LicenseRow, ActivationRow),
}

impl Store {
    /// Activates `fingerprint` on the license with `key` under the license's lock: `decide`
    /// sees the license and the machine's live activation and answers the seat to take (or
    /// refuses, which writes nothing); a new seat is audited with the entry `audit` makes
    /// (the license, the seat, whether an old row of the machine was brought back).
    /// `Ok(None)`: no license has this key.
    pub async fn activate_under_seat_limit<D, A>(
        &self,
        key: String,
        fingerprint: String,
        decide: D,
        audit: A,
    ) -> Result<Option<Activated>, Error>
    where
        D: FnOnce(&LicenseRow, Option<ActivationRow>) -> Result<SeatDecision, Error>
            + Send
            + 'static,
        A: FnOnce(&LicenseRow, &ActivationRow, bool) -> NewAudit + Send + 'static,
    {
        match self.sqlite_writes() {
            Some(writes) => {
                writes
                    .write(move |tx: &NativeTx<'_>| {
                        let Some(found) = tx.license_with_activation(&key, &fingerprint)? else {
                            return Ok(Writes::Undo(Ok(None)));
                        };
                        let (license, existing) = found.split(&fingerprint);
                        let decision = match decide(&license, existing) {
                            Err(e) => return Ok(Writes::Undo(Err(e))),
                            Ok(d) => d,
                        };
                        let now = decision.at();
                        if tx.convert_trial(&license.product_id, &fingerprint, &license.id, now)? {
                            let e = converted_audit(&license, now);
                            tx.audit(
                                e.at,
                                &e.actor,
                                &e.action,
                                (&e.subject_type, &e.subject_id),
                                &e.details,
                            )?;
                        }
                        match decision {
                            SeatDecision::Held(a) => {
                                tx.touch_activation(&a)?;
                                Ok(Writes::Keep(Ok(Some(Activated {
                                    license,
                                    activation: a,
                                    created: false,
                                }))))
                            }
                            SeatDecision::New(mut a) => {
                                let revived = tx.seat_activation(&mut a)?;
                                let entry = audit(&license, &a, revived);
                                tx.audit(
                                    entry.at,
                                    &entry.actor,
                                    &entry.action,
                                    (&entry.subject_type, &entry.subject_id),
                                    &entry.details,
                                )?;
                                Ok(Writes::Keep(Ok(Some(Activated {
                                    license,
                                    activation: a,
                                    created: true,
                                }))))
                            }
                        }
                    })
                    .await?
            }
            None => {
                let mut tx = self.begin_write().await?;
                let outcome = self
                    .activate_in(&mut tx, &key, &fingerprint, decide, audit)
                    .await?;
                tx.commit().await?;
                Ok(outcome)
            }
        }
    }

    /// The portable activation under the license's lock, in the caller's transaction (which
    /// commits it): see [`Store::activate_under_seat_limit`].
    pub(super) async fn activate_in<D, A>(
        &self,
        tx: &mut sqlx::AnyConnection,
        key: &str,
        fingerprint: &str,
        decide: D,
        audit: A,
    ) -> Result<Option<Activated>, Error>
    where
        D: FnOnce(&LicenseRow, Option<ActivationRow>) -> Result<SeatDecision, Error>,
        A: FnOnce(&LicenseRow, &ActivationRow, bool) -> NewAudit,
    {
        self.lock_license(tx, key).await?;
        let Some(found) = self
            .license_with_activation(&mut *tx, key, fingerprint)
            .await?
        else {
            return Ok(None);
        };
        let (license, existing) = found.split(fingerprint);
        let decision = decide(&license, existing)?;
        let now = decision.at();
        let decision = match (decision, self.backend()) {
            (SeatDecision::New(mut a), super::Backend::Postgres) => {
                // One statement for the trial, the seat and its row (SEAT_NEW_MACHINE_PG).
                let (revived, converted) = self
                    .seat_new_machine_pg(tx, &license.product_id, &mut a)
                    .await?;
                if converted {
                    converted_audit(&license, now).write(&mut *tx).await?;
                }
                audit(&license, &a, revived).write(&mut *tx).await?;
                return Ok(Some(Activated {
                    license,
                    activation: a,
                    created: true,
                }));
            }
            (decision, _) => decision,
        };
        if self
            .convert_trial(tx, &license.product_id, fingerprint, &license.id, now)
            .await?
        {
            converted_audit(&license, now).write(&mut *tx).await?;
        }
        let outcome = match decision {
            SeatDecision::Held(a) => {
                self.touch_activation(&mut *tx, &a).await?;
                Activated {
                    license,
                    activation: a,
                    created: false,
                }
            }
            SeatDecision::New(mut a) => {
                let revived = self.seat_activation(tx, &mut a).await?;
                audit(&license, &a, revived).write(&mut *tx).await?;
                Activated {
                    license,
                    activation: a,
                    created: true,
                }
            }
        };
        Ok(Some(outcome))
    }

    /// Releases the seat `fingerprint` holds on the license with `key`, under the license's
    /// lock, audited with the entry `audit` makes of the license and the seat.
    pub async fn release_seat(
        &self,
        key: &str,
        fingerprint: &str,
        now: i64,
        audit: impl FnOnce(&LicenseRow, &ActivationRow) -> NewAudit,
    ) -> Result<SeatRelease, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.lock_license(&mut tx, key).await?;
        let Some(found) = self
            .license_with_activation(&mut *tx, key, fingerprint)
            .await?
        else {
            return Ok(SeatRelease::NoLicense);
        };
        let (license, activation) = found.split(fingerprint);
        let Some(activation) = activation else {
            return Ok(SeatRelease::NotActivated);
        };
        self.deactivate(&mut tx, &activation.id, now).await?;
        audit(&license, &activation).write(&mut *tx).await?;
        tx.commit().await?;
        Ok(SeatRelease::Released(license, activation))
    }

    /// Ends activation `activation_id` of the license (`license_key`, `license_id`) under the
    /// license's lock, audited with the entry `audit` makes when it was live. `Ok(false)`: the
    /// license has no such activation.
    pub async fn remove_activation(
        &self,
        license_key: &str,
        license_id: &str,
        activation_id: &str,
        now: i64,
        audit: impl FnOnce(&ActivationRow) -> NewAudit,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.lock_license(&mut tx, license_key).await?;
        let Some(activation) = self
            .activation_in(&mut tx, license_id, activation_id)
            .await?
        else {
            return Ok(false);
        };
        if self.deactivate(&mut tx, &activation.id, now).await? {
            audit(&activation).write(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
