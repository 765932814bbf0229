//! Floating seats: holdings of a floating license's seats, each live while its lease runs.

use super::{NewAudit, Store};

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

const COLUMNS: &str = "id, license_id, fingerprint, instance, name, platform, ip, \
     checked_out_at, lease_ends_at, borrowed, released_at";

impl Store {
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
}
