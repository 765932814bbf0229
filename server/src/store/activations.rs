//! Activations: one machine bound to one license seat.

use super::Store;

/// An activation row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActivationRow {
    pub id: String,
    pub license_id: String,
    /// Machine fingerprint.
    pub fingerprint: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    /// Machine facts (JSON).
    pub machine: Option<String>,
    /// Client IP at activation.
    pub ip: Option<String>,
    /// Unix seconds.
    pub first_seen_at: i64,
    /// Unix seconds.
    pub last_seen_at: i64,
    /// Unix seconds; `None` while live.
    pub deactivated_at: Option<i64>,
}

macro_rules! select_activation {
    ($where:literal) => {
        concat!(
            "SELECT id, license_id, fingerprint, name, platform, machine, ip, first_seen_at, \
             last_seen_at, deactivated_at FROM activations ",
            $where
        )
    };
}

/// Inserts a live activation: `$1` id … `$9` last seen (also run natively by `SqliteWrites`).
pub(super) const INSERT_ACTIVATION: &str = "INSERT INTO activations \
     (id, license_id, fingerprint, name, platform, machine, ip, first_seen_at, last_seen_at, \
     deactivated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)";

/// Refreshes an activation `$1`: last seen, name, platform, machine facts (only when given),
/// IP (also run natively by `SqliteWrites`).
pub(super) const TOUCH_ACTIVATION: &str = "UPDATE activations SET last_seen_at = $2, \
     name = $3, platform = $4, machine = COALESCE($5, machine), ip = $6 WHERE id = $1";

/// Brings back the latest deactivated activation of license `$1` on fingerprint `$2` for a
/// machine activating again: last seen `$3`, name `$4`, platform `$5`, machine facts `$6`
/// (only when given), IP `$7`; answers its id and first-seen time (no row: there was none).
/// A machine that deactivates and activates again, however often, keeps one row (also run
/// natively by `SqliteWrites`).
pub(super) const REVIVE_ACTIVATION: &str = "UPDATE activations SET deactivated_at = NULL, \
     last_seen_at = $3, name = $4, platform = $5, machine = COALESCE($6, machine), ip = $7 \
     WHERE id = (SELECT id FROM activations WHERE license_id = $1 AND fingerprint = $2 \
     AND deactivated_at IS NOT NULL ORDER BY deactivated_at DESC, id DESC LIMIT 1) \
     RETURNING id, first_seen_at";

/// PostgreSQL only: a new seat for a machine in one statement, where the portable path takes
/// three round trips (trial conversion, revive, insert). Ends the machine's unconverted
/// trial of product `$9` (converted to license `$1` at `$3`), brings back the machine's
/// latest deactivated row of license `$1` on fingerprint `$2` as [`REVIVE_ACTIVATION`]
/// does, or else inserts row `$8` as [`INSERT_ACTIVATION`] does. Answers the seat's id, its
/// first-seen time, whether it was brought back, and whether a trial was converted.
/// (Data-modifying `WITH` is PostgreSQL's; all parts see one snapshot, taken under the
/// license's row lock.)
pub(super) const SEAT_NEW_MACHINE_PG: &str = "WITH trial AS (UPDATE trials SET converted_at = $3, \
     converted_license_id = $1 WHERE product_id = $9 AND fingerprint = $2 \
     AND converted_at IS NULL RETURNING id), \
     revived AS (UPDATE activations SET deactivated_at = NULL, \
     last_seen_at = $3, name = $4, platform = $5, machine = COALESCE($6, machine), ip = $7 \
     WHERE id = (SELECT id FROM activations WHERE license_id = $1 AND fingerprint = $2 \
     AND deactivated_at IS NOT NULL ORDER BY deactivated_at DESC, id DESC LIMIT 1) \
     RETURNING id, first_seen_at), \
     inserted AS (INSERT INTO activations (id, license_id, fingerprint, name, platform, \
     machine, ip, first_seen_at, last_seen_at, deactivated_at) \
     SELECT $8, $1, $2, $4, $5, $6, $7, $3, $3, NULL WHERE NOT EXISTS (SELECT 1 FROM revived) \
     RETURNING id, first_seen_at) \
     SELECT id, first_seen_at, TRUE AS revived, EXISTS (SELECT 1 FROM trial) AS converted \
     FROM revived \
     UNION ALL SELECT id, first_seen_at, FALSE, EXISTS (SELECT 1 FROM trial) FROM inserted";

impl Store {
    /// Takes a seat for `a`: the machine's own deactivated row brought back when it has
    /// one (its id and first-seen time are then `a`'s), a new row otherwise. `Ok(true)`
    /// when a row was brought back.
    pub(super) async fn seat_activation(
        &self,
        tx: &mut sqlx::AnyConnection,
        a: &mut ActivationRow,
    ) -> Result<bool, sqlx::Error> {
        let revived: Option<(String, i64)> = sqlx::query_as(REVIVE_ACTIVATION)
            .bind(&a.license_id)
            .bind(&a.fingerprint)
            .bind(a.last_seen_at)
            .bind(a.name.as_deref())
            .bind(a.platform.as_deref())
            .bind(a.machine.as_deref())
            .bind(a.ip.as_deref())
            .fetch_optional(&mut *tx)
            .await?;
        match revived {
            Some((id, first_seen_at)) => {
                a.id = id;
                a.first_seen_at = first_seen_at;
                Ok(true)
            }
            None => {
                self.insert_activation(tx, a).await?;
                Ok(false)
            }
        }
    }

    /// [`SEAT_NEW_MACHINE_PG`]: a seat for `a` (a new machine on the license of product
    /// `product_id`) in one round trip on PostgreSQL. Answers `(brought back, trial
    /// converted)`; a brought-back row's id and first-seen time become `a`'s.
    pub(super) async fn seat_new_machine_pg(
        &self,
        tx: &mut sqlx::AnyConnection,
        product_id: &str,
        a: &mut ActivationRow,
    ) -> Result<(bool, bool), sqlx::Error> {
        let (id, first_seen_at, revived, converted): (String, i64, bool, bool) =
            sqlx::query_as(SEAT_NEW_MACHINE_PG)
                .bind(&a.license_id)
                .bind(&a.fingerprint)
                .bind(a.last_seen_at)
                .bind(a.name.as_deref())
                .bind(a.platform.as_deref())
                .bind(a.machine.as_deref())
                .bind(a.ip.as_deref())
                .bind(&a.id)
                .bind(product_id)
                .fetch_one(&mut *tx)
                .await?;
        a.id = id;
        a.first_seen_at = first_seen_at;
        Ok((revived, converted))
    }

    /// One activation of a license by id.
    pub(super) async fn activation_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        license_id: &str,
        id: &str,
    ) -> Result<Option<ActivationRow>, sqlx::Error> {
        sqlx::query_as(select_activation!("WHERE license_id = $1 AND id = $2"))
            .bind(license_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
    }

    /// Every activation of a license, oldest first.
    pub async fn activations_of(
        &self,
        license_id: &str,
    ) -> Result<Vec<ActivationRow>, sqlx::Error> {
        sqlx::query_as(select_activation!(
            "WHERE license_id = $1 ORDER BY first_seen_at, id"
        ))
        .bind(license_id)
        .fetch_all(self.pool())
        .await
    }

    /// Inserts a live activation.
    pub(super) async fn insert_activation(
        &self,
        tx: &mut sqlx::AnyConnection,
        a: &ActivationRow,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(INSERT_ACTIVATION)
            .bind(&a.id)
            .bind(&a.license_id)
            .bind(&a.fingerprint)
            .bind(a.name.as_deref())
            .bind(a.platform.as_deref())
            .bind(a.machine.as_deref())
            .bind(a.ip.as_deref())
            .bind(a.first_seen_at)
            .bind(a.last_seen_at)
            .execute(&mut *tx)
            .await
            .map(|_| ())
    }

    /// Refreshes last-seen and the descriptive fields (machine facts only when given).
    pub(super) async fn touch_activation<'e, E>(
        &self,
        executor: E,
        a: &ActivationRow,
    ) -> Result<(), sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query(TOUCH_ACTIVATION)
            .bind(&a.id)
            .bind(a.last_seen_at)
            .bind(a.name.as_deref())
            .bind(a.platform.as_deref())
            .bind(a.machine.as_deref())
            .bind(a.ip.as_deref())
            .execute(executor)
            .await
            .map(|_| ())
    }

    /// Records that an activation was seen now, from `ip`.
    pub async fn touch_last_seen(&self, id: &str, now: i64, ip: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE activations SET last_seen_at = $2, ip = $3 WHERE id = $1")
            .bind(id)
            .bind(now)
            .bind(ip)
            .execute(self.writer())
            .await
            .map(|_| ())
    }

    /// Ends a live activation (and its air-gapped key, if any); `Ok(false)` if it was not
    /// live.
    pub(super) async fn deactivate(
        &self,
        tx: &mut sqlx::AnyConnection,
        id: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE activations SET deactivated_at = $2 WHERE id = $1 AND deactivated_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // An air-gapped seat's key ends with it: its deactivation proof then does nothing.
        sqlx::query(
            "UPDATE offline_activations SET ended_at = $2 \
             WHERE activation_id = $1 AND ended_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
