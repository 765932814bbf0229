//! A native read path for the hottest query on SQLite: validation's license-and-activation
//! lookup.
//!
//! sqlx's SQLite driver runs every connection on a worker thread of its own, so each query
//! costs two cross-thread hand-offs; under a validation load that was about half of the
//! server's CPU. The lookup itself (two indexed probes) takes a few microseconds in WAL
//! mode, less than the hand-off, so here it runs on the calling thread over a read-only
//! connection that each runtime thread opens once and keeps. WAL readers do not wait for
//! the writer, and each statement sees the last committed state, as through the pool.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::licenses::LICENSE_WITH_ACTIVATION;
use super::states::StateText;
use super::{LicenseAndActivation, LicenseRow};

/// Connections one thread keeps (more than one only when a process opens several
/// databases, as the test suite does).
const PER_THREAD: usize = 4;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CONNECTIONS: RefCell<Vec<(u64, Connection)>> = const { RefCell::new(Vec::new()) };
}

/// Read-only native access to one SQLite database file.
#[derive(Debug)]
pub struct SqliteReads {
    id: u64,
    path: PathBuf,
    closed: AtomicBool,
}

impl SqliteReads {
    /// Native reads of the database file at `path`.
    pub fn new(path: &Path) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            path: path.to_owned(),
            closed: AtomicBool::new(false),
        }
    }

    /// Refuses every later read, like a closed pool (threads' connections are dropped as
    /// they are replaced).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    fn with_connection<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
                Some("the store is closed".into()),
            ));
        }
        CONNECTIONS.with(|cell| {
            let mut connections = cell.borrow_mut();
            let index = match connections.iter().position(|(id, _)| *id == self.id) {
                Some(i) => i,
                None => {
                    let conn = Connection::open_with_flags(
                        &self.path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    conn.busy_timeout(Duration::from_secs(2))?;
                    if connections.len() >= PER_THREAD {
                        connections.remove(0);
                    }
                    connections.push((self.id, conn));
                    connections.len() - 1
                }
            };
            let (_, conn) = &connections[index];
            f(conn)
        })
    }

    /// [`super::Store::license_with_activation`], natively.
    pub fn license_with_activation(
        &self,
        key: &str,
        fingerprint: &str,
    ) -> rusqlite::Result<Option<LicenseAndActivation>> {
        self.with_connection(|conn| license_with_activation(conn, key, fingerprint))
    }
}

/// The license with this key and the live activation of `fingerprint` on it, on `conn`.
pub(super) fn license_with_activation(
    conn: &Connection,
    key: &str,
    fingerprint: &str,
) -> rusqlite::Result<Option<LicenseAndActivation>> {
    let mut stmt = conn.prepare_cached(LICENSE_WITH_ACTIVATION)?;
    // By name: SQLite numbers `$n` parameters in order of appearance, not by `n`.
    stmt.query_row(
        rusqlite::named_params! { "$1": key, "$2": fingerprint },
        |r| {
            Ok(LicenseAndActivation {
                license: LicenseRow {
                    id: r.get(0)?,
                    license_key: r.get(1)?,
                    product_id: r.get(2)?,
                    email: r.get(3)?,
                    status: StateText::from(r.get::<_, String>(4)?).into(),
                    expires_at: r.get(5)?,
                    max_activations: r.get(6)?,
                    token_lifetime_secs: r.get(7)?,
                    entitlements: r.get(8)?,
                    metadata: r.get(9)?,
                    created_at: r.get(10)?,
                    updated_at: r.get(11)?,
                    product_slug: r.get(12)?,
                    product_max_activations: r.get(13)?,
                    product_token_lifetime_secs: r.get(14)?,
                    product_entitlements: r.get(15)?,
                    active_count: r.get(16)?,
                    sub_status: r.get(17)?,
                    sub_period_end: r.get(18)?,
                    sub_cancel_at_period_end: r.get(19)?,
                    updates_until_at: r.get(20)?,
                    product_floating_lease_secs: r.get(21)?,
                },
                act_id: r.get(22)?,
                act_name: r.get(23)?,
                act_platform: r.get(24)?,
                act_first_seen_at: r.get(25)?,
                act_last_seen_at: r.get(26)?,
            })
        },
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of the hottest query, on a database migrated like the server's.
    fn plan_of(sql: &str) -> Vec<String> {
        let conn = Connection::open_in_memory().expect("open");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("migrations")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        for f in files {
            conn.execute_batch(&std::fs::read_to_string(f).expect("read"))
                .expect("migrate");
        }
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        stmt.query_map(rusqlite::named_params! { "$1": "K", "$2": "F" }, |r| {
            r.get::<_, String>(3)
        })
        .expect("plan")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
    }

    #[test]
    fn the_lookup_probes_indexes_and_counts_seats_from_one_index_alone() {
        let plan = plan_of(LICENSE_WITH_ACTIVATION);
        assert!(
            plan.iter().all(|step| !step.starts_with("SCAN")),
            "no table scan: {plan:?}"
        );
        assert!(
            plan.iter()
                .any(|step| step.contains("COVERING INDEX activations_seats")),
            "live seats are counted without reading activation rows: {plan:?}"
        );
    }

    #[test]
    fn a_heartbeat_renewal_probes_indexes_and_counts_live_seats_from_one_index_alone() {
        let plan = plan_of(super::super::floating::RENEW_SEAT);
        assert!(
            plan.iter().all(|step| !step.starts_with("SCAN")),
            "no table scan: {plan:?}"
        );
        assert!(
            plan.iter()
                .any(|step| step.contains("COVERING INDEX floating_seats_ends")),
            "live seats are counted without reading seat rows: {plan:?}"
        );
    }

    #[test]
    fn a_licenses_seat_history_is_one_range_of_one_index() {
        let plan = plan_of(super::super::floating::SEAT_SPANS);
        assert_eq!(
            plan,
            [
                "SEARCH floating_seats USING COVERING INDEX floating_seats_ends \
              (license_id=? AND lease_ends_at>?)"
            ],
            "ended holdings older than the window are not read"
        );
    }
}
