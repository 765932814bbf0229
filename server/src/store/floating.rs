//! Floating seats: holdings of a floating license's seats, each live while its lease runs.

use std::sync::LazyLock;

use super::sqlite_writes::{NativeTx, Writes};
use super::{Backend, LicenseRow, NewAudit, Store};

/// One holding of a seat.
#[derive(Debug, Clone, sqlx::FromRow)]
// A row mirrors its table: some columns are read only by some paths.
#[allow(dead_code)]
pub struct FloatingSeatRow {
    pub id: String,
    pub license_id: String,
    pub fingerprint: String,
    /// `''` for a per-machine seat.
    pub instance: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub ip: Option<String>,
    /// Unix seconds.
    pub checked_out_at: i64,
    /// Unix seconds: the seat is free after this unless renewed.
    pub lease_ends_at: i64,
    /// 1 when borrowed for offline use.
    pub borrowed: i64,
    /// Unix seconds, once given back.
    pub released_at: Option<i64>,
}

/// What a checkout asks for.
#[derive(Debug, Clone)]
pub struct SeatWanted<'a> {
    /// A fresh id, used when a new holding starts.
    pub id: &'a str,
    pub license_id: &'a str,
    pub fingerprint: &'a str,
    /// `''` for a per-machine seat.
    pub instance: &'a str,
    pub name: Option<&'a str>,
    pub platform: Option<&'a str>,
    pub ip: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// The lease's end this checkout asks for.
    pub lease_ends_at: i64,
    /// A borrow rather than a heartbeat lease.
    pub borrowed: bool,
    /// Seats of the license.
    pub max_seats: i64,
}

/// How a checkout went.
#[derive(Debug, Clone)]
pub enum Checkout {
    /// The holder has the seat (new, or renewed); live seats now, this one included.
    Held { seat: FloatingSeatRow, in_use: i64 },
    /// Every seat is held by others; the earliest of their leases ends then.
    Full { in_use: i64, earliest_end: i64 },
}

/// A heartbeat's renewal, as one statement.
#[derive(Debug, Clone)]
pub struct Renewed {
    /// The license as it stands (usable: active and not expired).
    pub license: LicenseRow,
    /// The seat, its lease renewed.
    pub seat: FloatingSeatRow,
    /// Live seats of the license now, this one included.
    pub in_use: i64,
}

const COLUMNS: &str = "id, license_id, fingerprint, instance, name, platform, ip, \
     checked_out_at, lease_ends_at, borrowed, released_at";

/// Renews the live seat of machine `$2`, instance `$3` on the license with key `$1` at `$4`
/// (now), if the license is usable (active, not expired) and floating: the lease runs the
/// product's seat lease from now, never past the license's expiry and never shorter than
/// it was (a heartbeat does not end a borrow), as `licensing::floating::checkout` decides
/// for a new seat. No row: no such live seat, or a license that refuses it; the caller
/// then goes the locked way, which says why. Renewing a seat that is live already leaves
/// the number of live seats alone, so it needs no lock. The same text runs on both
/// engines; SQLite's `RETURNING` sees only the updated table, so the license is read after
/// it (natively, in the same transaction) there, and joined to it in a CTE on PostgreSQL.
pub(super) const RENEW_SEAT: &str = "UPDATE floating_seats SET lease_ends_at = CASE \
     WHEN floating_seats.lease_ends_at > (CASE WHEN l.expires_at < $4 + p.floating_lease_secs \
     THEN l.expires_at ELSE $4 + p.floating_lease_secs END) THEN floating_seats.lease_ends_at \
     ELSE (CASE WHEN l.expires_at < $4 + p.floating_lease_secs \
     THEN l.expires_at ELSE $4 + p.floating_lease_secs END) END \
     FROM licenses l JOIN products p ON p.id = l.product_id \
     WHERE l.license_key = $1 AND floating_seats.license_id = l.id \
     AND floating_seats.fingerprint = $2 AND floating_seats.instance = $3 \
     AND floating_seats.released_at IS NULL AND floating_seats.lease_ends_at > $4 \
     AND l.status = 'ACTIVE' AND (l.expires_at IS NULL OR l.expires_at > $4) \
     AND p.floating_lease_secs IS NOT NULL \
     RETURNING floating_seats.id AS seat_id, floating_seats.license_id AS seat_license_id, \
     floating_seats.name AS seat_name, floating_seats.platform AS seat_platform, \
     floating_seats.ip AS seat_ip, floating_seats.checked_out_at AS seat_checked_out_at, \
     floating_seats.lease_ends_at AS seat_lease_ends_at, floating_seats.borrowed AS seat_borrowed, \
     (SELECT COUNT(*) FROM floating_seats c WHERE c.license_id = floating_seats.license_id \
      AND c.released_at IS NULL AND c.lease_ends_at > $4) AS seats_in_use";

/// The spans of use of license `$1`'s seats that overlap `[$2, $3)` (see
/// [`Store::floating_seat_spans`]).
pub(super) const SEAT_SPANS: &str = "SELECT checked_out_at, CASE WHEN released_at < lease_ends_at \
     THEN released_at ELSE lease_ends_at END AS ended_at FROM floating_seats \
     WHERE license_id = $1 AND lease_ends_at > $2 AND checked_out_at < $3 \
     AND (released_at IS NULL OR released_at > $2)";

/// [`RENEW_SEAT`] with the license joined, on PostgreSQL: one round trip.
static RENEW_SEAT_WITH_LICENSE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH renewed AS ({RENEW_SEAT}), \
         license AS ({} WHERE l.id = (SELECT seat_license_id FROM renewed)) \
         SELECT license.*, renewed.* FROM license, renewed",
        super::licenses::SELECT_LICENSE
    )
});

/// A row of [`RENEW_SEAT_WITH_LICENSE`].
#[derive(Debug, sqlx::FromRow)]
struct RenewedRow {
    #[sqlx(flatten)]
    license: LicenseRow,
    #[sqlx(flatten)]
    seat: RenewedSeat,
}

/// What [`RENEW_SEAT`] returns.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct RenewedSeat {
    pub seat_id: String,
    pub seat_name: Option<String>,
    pub seat_platform: Option<String>,
    pub seat_ip: Option<String>,
    pub seat_checked_out_at: i64,
    pub seat_lease_ends_at: i64,
    pub seat_borrowed: i64,
    pub seats_in_use: i64,
}

impl RenewedSeat {
    fn with_license(self, license: LicenseRow, fingerprint: &str, instance: &str) -> Renewed {
        Renewed {
            seat: FloatingSeatRow {
                id: self.seat_id,
                license_id: license.id.clone(),
                fingerprint: fingerprint.to_owned(),
                instance: instance.to_owned(),
                name: self.seat_name,
                platform: self.seat_platform,
                ip: self.seat_ip,
                checked_out_at: self.seat_checked_out_at,
                lease_ends_at: self.seat_lease_ends_at,
                borrowed: self.seat_borrowed,
                released_at: None,
            },
            in_use: self.seats_in_use,
            license,
        }
    }
}

impl Store {
    /// A heartbeat's fast path: renews the live seat of `fingerprint` and `instance` on the
    /// license with `key` in one round trip ([`RENEW_SEAT`]: on SQLite one job of the
    /// writer's group commit, on PostgreSQL one statement). `Ok(None)` when it renewed
    /// nothing (a new seat, an ended lease, an unusable or node-locked license, no such
    /// key): [`Store::checkout_floating_seat`] then decides. An in-memory SQLite database has
    /// no native writer and always answers `None`.
    pub async fn renew_floating_seat(
        &self,
        key: &str,
        fingerprint: &str,
        instance: &str,
        now: i64,
    ) -> Result<Option<Renewed>, sqlx::Error> {
        let (key, fingerprint, instance) =
            (key.to_owned(), fingerprint.to_owned(), instance.to_owned());
        match (self.sqlite_writes(), self.backend()) {
            (Some(writes), _) => {
                writes
                    .write(move |tx: &NativeTx<'_>| {
                        let Some(seat) = tx.renew_seat(&key, &fingerprint, &instance, now)? else {
                            return Ok(Writes::Keep(None));
                        };
                        let license = tx
                            .license_with_activation(&key, &fingerprint)?
                            .map(|found| seat.with_license(found.license, &fingerprint, &instance));
                        Ok(Writes::Keep(license))
                    })
                    .await
            }
            (None, Backend::Postgres) => {
                let row: Option<RenewedRow> = sqlx::query_as(RENEW_SEAT_WITH_LICENSE.as_str())
                    .bind(&key)
                    .bind(&fingerprint)
                    .bind(&instance)
                    .bind(now)
                    .fetch_optional(self.writer())
                    .await?;
                Ok(row.map(|r| r.seat.with_license(r.license, &fingerprint, &instance)))
            }
            (None, Backend::Sqlite) => Ok(None),
        }
    }

    /// Takes or renews a seat of a floating license under the license's lock (the SQLite
    /// write lock, or the license row's on PostgreSQL), so concurrent checkouts never hold
    /// more than `max_seats` live seats. A renewal never shortens the lease (a heartbeat
    /// does not end a borrow). `audit` is written when a new holding starts.
    pub async fn checkout_floating_seat(
        &self,
        key: &str,
        want: &SeatWanted<'_>,
        audit: impl FnOnce(&FloatingSeatRow) -> NewAudit,
    ) -> Result<Checkout, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        self.lock_license(&mut tx, key).await?;
        let live: Vec<FloatingSeatRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM floating_seats WHERE license_id = $1 \
             AND released_at IS NULL AND lease_ends_at > $2"
        )))
        .bind(want.license_id)
        .bind(want.now)
        .fetch_all(&mut *tx)
        .await?;
        let in_use = i64::try_from(live.len()).unwrap_or(i64::MAX);
        if let Some(mine) = live
            .iter()
            .find(|s| s.fingerprint == want.fingerprint && s.instance == want.instance)
        {
            let mut seat = mine.clone();
            seat.lease_ends_at = seat.lease_ends_at.max(want.lease_ends_at);
            seat.borrowed = i64::from(seat.borrowed != 0 || want.borrowed);
            sqlx::query(
                "UPDATE floating_seats SET lease_ends_at = $2, borrowed = $3 WHERE id = $1",
            )
            .bind(&seat.id)
            .bind(seat.lease_ends_at)
            .bind(seat.borrowed)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Checkout::Held { seat, in_use });
        }
        if in_use >= want.max_seats {
            let earliest_end = live
                .iter()
                .map(|s| s.lease_ends_at)
                .min()
                .unwrap_or(want.now);
            return Ok(Checkout::Full {
                in_use,
                earliest_end,
            });
        }
        // An ended, never released holding of this machine closes where its lease ended,
        // so the open-holding index admits the new one.
        sqlx::query(
            "UPDATE floating_seats SET released_at = lease_ends_at WHERE license_id = $1 \
             AND fingerprint = $2 AND instance = $3 AND released_at IS NULL",
        )
        .bind(want.license_id)
        .bind(want.fingerprint)
        .bind(want.instance)
        .execute(&mut *tx)
        .await?;
        let seat = FloatingSeatRow {
            id: want.id.to_owned(),
            license_id: want.license_id.to_owned(),
            fingerprint: want.fingerprint.to_owned(),
            instance: want.instance.to_owned(),
            name: want.name.map(str::to_owned),
            platform: want.platform.map(str::to_owned),
            ip: Some(want.ip.to_owned()),
            checked_out_at: want.now,
            lease_ends_at: want.lease_ends_at,
            borrowed: i64::from(want.borrowed),
            released_at: None,
        };
        sqlx::query(
            "INSERT INTO floating_seats (id, license_id, fingerprint, instance, name, platform, \
             ip, checked_out_at, lease_ends_at, borrowed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&seat.id)
        .bind(&seat.license_id)
        .bind(&seat.fingerprint)
        .bind(&seat.instance)
        .bind(seat.name.as_deref())
        .bind(seat.platform.as_deref())
        .bind(seat.ip.as_deref())
        .bind(seat.checked_out_at)
        .bind(seat.lease_ends_at)
        .bind(seat.borrowed)
        .execute(&mut *tx)
        .await?;
        audit(&seat).write(&mut *tx).await?;
        tx.commit().await?;
        Ok(Checkout::Held {
            seat,
            in_use: in_use + 1,
        })
    }

    /// Gives back the live seat of a machine and instance; `Ok(false)` when it held none.
    pub async fn release_floating_seat(
        &self,
        license_id: &str,
        fingerprint: &str,
        instance: &str,
        now: i64,
        audit: &NewAudit,
    ) -> Result<bool, sqlx::Error> {
        let query = sqlx::query(
            "UPDATE floating_seats SET released_at = $4 WHERE license_id = $1 \
             AND fingerprint = $2 AND instance = $3 AND released_at IS NULL \
             AND lease_ends_at > $4",
        )
        .bind(license_id.to_owned())
        .bind(fingerprint.to_owned())
        .bind(instance.to_owned())
        .bind(now);
        self.end_live_seat(query, audit).await
    }

    /// Ends live seat `seat_id` of license `license_id` (the vendor or customer freeing a
    /// stuck seat); `Ok(false)` when no such live seat.
    pub async fn end_floating_seat(
        &self,
        license_id: &str,
        seat_id: &str,
        now: i64,
        audit: &NewAudit,
    ) -> Result<bool, sqlx::Error> {
        let query = sqlx::query(
            "UPDATE floating_seats SET released_at = $3 WHERE license_id = $1 AND id = $2 \
             AND released_at IS NULL AND lease_ends_at > $3",
        )
        .bind(license_id.to_owned())
        .bind(seat_id.to_owned())
        .bind(now);
        self.end_live_seat(query, audit).await
    }

    /// Runs `query` (which ends at most one live seat) and, when it ended one, writes
    /// `audit` in the same transaction.
    async fn end_live_seat(
        &self,
        query: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
        audit: &NewAudit,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        if query.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(false);
        }
        audit.write(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The live seats of a license, earliest first.
    pub async fn live_floating_seats(
        &self,
        license_id: &str,
        now: i64,
    ) -> Result<Vec<FloatingSeatRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM floating_seats WHERE license_id = $1 \
             AND released_at IS NULL AND lease_ends_at > $2 ORDER BY checked_out_at, id"
        )))
        .bind(license_id)
        .bind(now)
        .fetch_all(self.pool())
        .await
    }

    /// When each seat of a license that overlaps `[since, until)` was in use: `(from, to)`
    /// in Unix seconds, from its checkout to its release or its lease's end, whichever came
    /// first (a live seat's `to` is its lease's end).
    pub async fn floating_seat_spans(
        &self,
        license_id: &str,
        since: i64,
        until: i64,
    ) -> Result<Vec<(i64, i64)>, sqlx::Error> {
        sqlx::query_as(SEAT_SPANS)
            .bind(license_id)
            .bind(since)
            .bind(until)
            .fetch_all(self.pool())
            .await
    }
}
