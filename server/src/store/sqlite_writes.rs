//! Group commit of license writes on SQLite.
//!
//! SQLite admits one writer at a time, and through sqlx every statement of a transaction
//! is a round trip to the connection's worker thread and back to a runtime thread: an
//! activation (begin, read, two inserts, commit) spent about a millisecond holding the write
//! lock, mostly waiting for threads to wake, which capped activations near a thousand a
//! second. Here one thread owns a native write connection. It takes every job waiting,
//! runs each inside its own savepoint of one `BEGIN IMMEDIATE` transaction (a job that
//! fails or refuses rolls back to its savepoint without touching the others), commits once,
//! and only then answers each job. A job sees the writes of the jobs before it, so a seat
//! counted by one is counted by the next.
//!
//! Savepoint journals stay in memory (`temp_store = MEMORY`): a batch's journal outgrows
//! SQLite's in-memory threshold, and spilling it to a temporary file was a `pwrite` for
//! every page a job touched.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use super::floating::RenewedSeat;
use super::{ActivationRow, LicenseAndActivation};

/// Most jobs committed together.
const MAX_BATCH: usize = 128;

/// What a job asks for its writes: kept (released into the transaction) or undone.
#[derive(Debug)]
pub enum Writes<T> {
    /// Keep this job's writes; `T` is answered once the transaction commits.
    Keep(T),
    /// Undo this job's writes (a refusal); `T` is answered after the commit all the same.
    Undo(T),
}

/// A queued job: run once inside the transaction, answered once after it.
trait Job: Send {
    /// Runs the job; whether to keep its writes.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller with the job's value, or the commit's error.
    fn answer(self: Box<Self>, committed: Result<(), String>);
}

struct Pending<T, F> {
    job: Option<F>,
    value: Option<Result<T, String>>,
    reply: oneshot::Sender<Result<T, String>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&NativeTx<'_>) -> rusqlite::Result<Writes<T>> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(job) = self.job.take() else {
            return false;
        };
        let (keep, value) = match job(&NativeTx(conn)) {
            Ok(Writes::Keep(v)) => (true, Ok(v)),
            Ok(Writes::Undo(v)) => (false, Ok(v)),
            Err(e) => (false, Err(e.to_string())),
        };
        self.value = Some(value);
        keep
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let value = self
            .value
            .unwrap_or_else(|| Err("the batch was not committed".into()));
        let _ = self.reply.send(committed.and(value));
    }
}

/// The handle to the writer thread.
#[derive(Debug)]
pub struct SqliteWrites {
    jobs: mpsc::Sender<Box<dyn Job>>,
    closed: std::sync::atomic::AtomicBool,
}

impl SqliteWrites {
    /// Opens the write connection to `path` and starts the writer thread.
    pub fn start(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA temp_store = MEMORY;",
        )?;
        let (jobs, inbox) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("licet-sqlite-writer".into())
            .spawn(move || run(conn, inbox))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Self {
            jobs,
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Refuses every later job, like a closed pool.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Runs `job` in the next group commit; its answer once the transaction has committed
    /// (or the commit's error).
    pub async fn write<T, F>(&self, job: F) -> Result<T, sqlx::Error>
    where
        T: Send + 'static,
        F: FnOnce(&NativeTx<'_>) -> rusqlite::Result<Writes<T>> + Send + 'static,
    {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(sqlx::Error::PoolClosed);
        }
        let (reply, rx) = oneshot::channel::<Result<T, String>>();
        let pending: Box<dyn Job> = Box::new(Pending {
            job: Some(job),
            value: None,
            reply,
        });
        self.jobs
            .send(pending)
            .map_err(|_| sqlx::Error::PoolClosed)?;
        rx.await
            .map_err(|_| sqlx::Error::PoolClosed)?
            .map_err(|e| sqlx::Error::Protocol(format!("sqlite write: {e}")))
    }
}

fn run(mut conn: Connection, inbox: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = inbox.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for job in batch.iter_mut() {
                // Prepared once per connection: three statements a job, parsed every time
                // otherwise.
                tx.prepare_cached("SAVEPOINT job")?.execute([])?;
                if !job.run(&tx) {
                    tx.prepare_cached("ROLLBACK TO job")?.execute([])?;
                }
                tx.prepare_cached("RELEASE job")?.execute([])?;
            }
            tx.commit()
        })()
        .map_err(|e| e.to_string());
        for job in batch {
            job.answer(committed.clone());
        }
    }
}

/// A job's view of the write transaction: the statements license writes need.
pub struct NativeTx<'c>(&'c Connection);

impl NativeTx<'_> {
    /// The license with this key and the live activation of `fingerprint` on it.
    pub fn license_with_activation(
        &self,
        key: &str,
        fingerprint: &str,
    ) -> rusqlite::Result<Option<LicenseAndActivation>> {
        super::sqlite_reads::license_with_activation(self.0, key, fingerprint)
    }

    /// Renews a live floating seat ([`super::floating::RENEW_SEAT`]); `None` when none was.
    pub fn renew_seat(
        &self,
        key: &str,
        fingerprint: &str,
        instance: &str,
        now: i64,
    ) -> rusqlite::Result<Option<RenewedSeat>> {
        self.0
            .prepare_cached(super::floating::RENEW_SEAT)?
            .query_row(
                rusqlite::named_params! { "$1": key, "$2": fingerprint, "$3": instance, "$4": now },
                |r| {
                    Ok(RenewedSeat {
                        seat_id: r.get(0)?,
                        seat_name: r.get(2)?,
                        seat_platform: r.get(3)?,
                        seat_ip: r.get(4)?,
                        seat_checked_out_at: r.get(5)?,
                        seat_lease_ends_at: r.get(6)?,
                        seat_borrowed: r.get(7)?,
                        seats_in_use: r.get(8)?,
                    })
                },
            )
            .optional()
    }

    /// Inserts a live activation.
    pub fn insert_activation(&self, a: &ActivationRow) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(super::activations::INSERT_ACTIVATION)?
            .execute(rusqlite::named_params! {
                "$1": a.id,
                "$2": a.license_id,
                "$3": a.fingerprint,
                "$4": a.name,
                "$5": a.platform,
                "$6": a.machine,
                "$7": a.ip,
                "$8": a.first_seen_at,
                "$9": a.last_seen_at,
            })
            .map(|_| ())
    }

    /// Takes a seat for `a` like [`super::Store::seat_activation`]: the machine's own
    /// deactivated row brought back, or a new row. `Ok(true)` when one was brought back.
    pub fn seat_activation(&self, a: &mut ActivationRow) -> rusqlite::Result<bool> {
        let revived = self
            .0
            .prepare_cached(super::activations::REVIVE_ACTIVATION)?
            .query_row(
                rusqlite::named_params! {
                    "$1": a.license_id,
                    "$2": a.fingerprint,
                    "$3": a.last_seen_at,
                    "$4": a.name,
                    "$5": a.platform,
                    "$6": a.machine,
                    "$7": a.ip,
                },
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
            );
        match revived {
            Ok((id, first_seen_at)) => {
                a.id = id;
                a.first_seen_at = first_seen_at;
                Ok(true)
            }
            Err(rusqlite::Error::QueryReturnedNoRows) => {
                self.insert_activation(a)?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Refreshes last-seen and the descriptive fields (machine facts only when given).
    pub fn touch_activation(&self, a: &ActivationRow) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(super::activations::TOUCH_ACTIVATION)?
            .execute(rusqlite::named_params! {
                "$1": a.id,
                "$2": a.last_seen_at,
                "$3": a.name,
                "$4": a.platform,
                "$5": a.machine,
                "$6": a.ip,
            })
            .map(|_| ())
    }

    /// Ends the unconverted trial of `fingerprint` on `product_id`: `license_id` took over.
    /// `Ok(true)` when a trial was converted now.
    pub fn convert_trial(
        &self,
        product_id: &str,
        fingerprint: &str,
        license_id: &str,
        now: i64,
    ) -> rusqlite::Result<bool> {
        self.0
            .prepare_cached(super::trials::CONVERT_TRIAL)?
            .execute(rusqlite::named_params! {
                "$1": product_id,
                "$2": fingerprint,
                "$3": now,
                "$4": license_id,
            })
            .map(|n| n == 1)
    }

    /// Appends to the audit log (see [`super::audit::record`]).
    pub fn audit(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        subject: (&str, &str),
        details: &serde_json::Value,
    ) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(super::audit::INSERT_AUDIT)?
            .execute(rusqlite::named_params! {
                "$1": at,
                "$2": actor,
                "$3": action,
                "$4": subject.0,
                "$5": subject.1,
                "$6": details.to_string(),
            })
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer on a fresh database file in `dir` holding one table `t` of `columns`.
    fn writer_with_table(
        dir: &tempfile::TempDir,
        columns: &str,
    ) -> (std::path::PathBuf, std::sync::Arc<SqliteWrites>) {
        let path = dir.path().join("t.db");
        Connection::open(&path)
            .and_then(|c| {
                c.execute_batch(&format!(
                    "PRAGMA journal_mode = WAL; CREATE TABLE t ({columns})"
                ))
            })
            .expect("schema");
        let writes = SqliteWrites::start(&path).expect("writer");
        (path, std::sync::Arc::new(writes))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_a_steady_stream_of_commits() {
        let dir = tempfile::tempdir().expect("dir");
        let (_, writes) = writer_with_table(&dir, "b BLOB");
        // 48 MiB of rows from 8 writers that never pause: twelve times the checkpoint threshold.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let writes = writes.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..384 {
                    writes
                        .write(|tx: &NativeTx<'_>| {
                            tx.0.execute("INSERT INTO t (b) VALUES (zeroblob(16384))", [])
                                .map(|_| Writes::Keep(()))
                        })
                        .await
                        .expect("write");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let wal = std::fs::metadata(dir.path().join("t.db-wal"))
            .expect("wal")
            .len();
        // SQLite checkpoints after a commit that leaves 1000 pages or more in the WAL.
        let bound = (1000 + MAX_BATCH as u64 * 8) * 4096;
        assert!(wal <= bound, "WAL of {wal} bytes, more than {bound}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_job_keeps_or_undoes_only_its_own_writes() {
        let dir = tempfile::tempdir().expect("dir");
        let (path, writes) = writer_with_table(&dir, "n INTEGER PRIMARY KEY");
        let mut tasks = Vec::new();
        for n in 0..60i64 {
            let writes = writes.clone();
            tasks.push(tokio::spawn(async move {
                writes
                    .write(move |tx: &NativeTx<'_>| {
                        tx.0.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                        match n % 3 {
                            0 => Ok(Writes::Keep(n)),
                            1 => Ok(Writes::Undo(n)),
                            // A failing statement after a write: the job's write is undone.
                            _ => {
                                tx.0.execute("INSERT INTO t (n) VALUES (?1)", [n])
                                    .map(|_| Writes::Keep(n))
                            }
                        }
                    })
                    .await
            }));
        }
        let mut failed = 0;
        for (n, t) in tasks.into_iter().enumerate() {
            match t.await.expect("task") {
                Ok(v) => assert_eq!(v, n as i64),
                Err(_) => {
                    assert_eq!(n % 3, 2);
                    failed += 1;
                }
            }
        }
        assert_eq!(failed, 20);
        let kept: Vec<i64> = Connection::open(&path)
            .expect("open")
            .prepare("SELECT n FROM t ORDER BY n")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("rows");
        assert_eq!(kept, (0..60).filter(|n| n % 3 == 0).collect::<Vec<_>>());
    }
}
