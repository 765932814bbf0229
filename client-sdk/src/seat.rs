//! The [`Seat`] guard: one held floating seat, renewed by a background thread while it is
//! held, given back when dropped.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use licet_proto::floating::CheckoutResponse;

use crate::client::Client;
use crate::error::{Error, Result};

/// Where a [`Seat`] stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatStatus {
    /// The seat is held and its lease runs.
    Held,
    /// The seat was lost: a renewal was refused (no free seat, license suspended, revoked
    /// or expired) or its lease ended without a successful renewal. The app should stop
    /// the licensed features.
    Lost {
        /// Why.
        reason: Error,
    },
    /// The seat was given back.
    Released,
}

/// The callback [`Seat::on_lost`] takes.
pub type LostCallback = Box<dyn Fn(&SeatStatus) + Send + Sync>;

/// A held floating seat (from [`Client::checkout`]).
///
/// A background thread renews the seat's lease (a heartbeat: a checkout again) at half of
/// its remaining time, or at [`crate::ClientBuilder::seat_renew_interval`]. A network
/// failure is retried at the next tick while the lease still runs; a refused renewal, or a
/// lease that ends without one, makes [`Seat::status`] [`SeatStatus::Lost`] and calls the
/// [`Seat::on_lost`] callback once. While the seat is borrowed ([`Seat::borrow`]) it is not
/// renewed.
///
/// Dropping the guard stops the thread and gives the seat back (best effort; see
/// [`Seat::release`] to learn of errors). A process that dies without dropping it
/// (`std::mem::forget`, a crash) holds the seat only until its lease ends.
pub struct Seat {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Seat")
            .field("id", &st.id)
            .field("lease_ends_at", &st.lease_ends_at)
            .field("borrowed", &st.borrowed)
            .field("status", &st.status)
            .finish_non_exhaustive()
    }
}

struct Shared {
    client: Client,
    key: String,
    state: Mutex<SeatState>,
    wake: Condvar,
    on_lost: Mutex<Option<LostCallback>>,
}

struct SeatState {
    id: String,
    token: String,
    lease_ends_at: i64,
    borrowed: bool,
    status: SeatStatus,
    stop: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SeatState> {
        // A panic elsewhere must not take the seat's state with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn adopt(&self, answer: CheckoutResponse) {
        let mut st = self.lock();
        st.id = answer.seat.id;
        st.token = answer.token;
        st.lease_ends_at = answer.seat.lease_ends_at;
        st.borrowed = answer.seat.borrowed;
    }

    /// Marks the seat lost (once) and calls the callback, outside the state's lock but
    /// under the callback's (taken first, as [`Seat::on_lost`] does), so that it runs once.
    fn lose(&self, reason: Error) {
        let callback = self.on_lost.lock().unwrap_or_else(|e| e.into_inner());
        let status = {
            let mut st = self.lock();
            if st.status != SeatStatus::Held {
                return;
            }
            st.status = SeatStatus::Lost { reason };
            st.status.clone()
        };
        if let Some(f) = callback.as_ref() {
            f(&status);
        }
    }

    /// The renewal loop.
    fn run(&self) {
        loop {
            let wait = self.next_wait();
            {
                let st = self.lock();
                let (st, _) = self
                    .wake
                    .wait_timeout_while(st, wait, |s| !s.stop)
                    .unwrap_or_else(|e| e.into_inner());
                if st.stop || st.status != SeatStatus::Held {
                    return;
                }
                if st.borrowed && self.client.local_now() < st.lease_ends_at {
                    continue;
                }
            }
            match self.client.request_seat(&self.key, None) {
                Ok(answer) => self.adopt(answer),
                Err(e) if refuses_seat(&e) => {
                    self.lose(e);
                    return;
                }
                // A failure to reach the server: try again at the next tick, while the
                // lease still runs.
                Err(_) => {
                    if self.client.local_now() >= self.lock().lease_ends_at {
                        self.lose(Error::LeaseExpired);
                        return;
                    }
                }
            }
        }
    }

    /// How long to sleep before the next renewal.
    fn next_wait(&self) -> Duration {
        if let Some(every) = self.client.seat_renew_interval() {
            return every;
        }
        let remaining = self.lock().lease_ends_at - self.client.local_now();
        Duration::from_secs(u64::try_from(remaining / 2).unwrap_or(0).max(1))
    }
}

/// Whether a renewal's error means the seat is gone (rather than a failure to ask).
fn refuses_seat(e: &Error) -> bool {
    e.is_verdict()
        || matches!(
            e,
            Error::Server {
                code: licet_proto::ErrorCode::Conflict,
                ..
            }
        )
}

impl Seat {
    /// Starts the guard on a checkout's answer.
    pub(crate) fn start(client: Client, key: String, answer: CheckoutResponse) -> Result<Self> {
        let shared = Arc::new(Shared {
            client,
            key,
            state: Mutex::new(SeatState {
                id: answer.seat.id,
                token: answer.token,
                lease_ends_at: answer.seat.lease_ends_at,
                borrowed: answer.seat.borrowed,
                status: SeatStatus::Held,
                stop: false,
            }),
            wake: Condvar::new(),
            on_lost: Mutex::new(None),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("licet-seat".into())
            .spawn(move || worker.run())
            .map_err(|e| Error::Config(format!("cannot start the seat's renewal thread: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// The seat's id on the server.
    pub fn id(&self) -> String {
        self.shared.lock().id.clone()
    }

    /// Unix seconds (server time): the seat is free after this unless renewed.
    pub fn lease_ends_at(&self) -> i64 {
        self.shared.lock().lease_ends_at
    }

    /// Whether the seat is borrowed for offline use.
    pub fn is_borrowed(&self) -> bool {
        self.shared.lock().borrowed
    }

    /// Held, lost (and why), or released.
    pub fn status(&self) -> SeatStatus {
        self.shared.lock().status.clone()
    }

    /// The seat's current signed lease (verified against the pinned keys; `lic.seat` names
    /// the seat, `exp` is its end). Secret-ish: do not log it.
    pub fn token(&self) -> String {
        self.shared.lock().token.clone()
    }

    /// Calls `callback` once when the seat is lost (from the renewal thread; keep it
    /// short, and do not call `on_lost` from it). Replaces any earlier callback. If the seat
    /// is already lost it is called now.
    pub fn on_lost(&self, callback: LostCallback) {
        // Under the callback's lock, so that a loss racing with this call sees either no
        // callback (and it is called here) or this one (and the loss calls it): once.
        let mut slot = self
            .shared
            .on_lost
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let status = self.status();
        if matches!(status, SeatStatus::Lost { .. }) {
            callback(&status);
        }
        *slot = Some(callback);
    }

    /// Borrows the seat for `duration` of offline use (up to the product's maximum): a
    /// longer lease, not renewed in the background until it ends. The lease is stored, so
    /// [`Client::check`] works offline until the borrow ends. Give it back early with
    /// [`Seat::return_borrowed`].
    pub fn borrow(&self, duration: Duration) -> Result<()> {
        let answer = self
            .shared
            .client
            .request_seat(&self.shared.key, Some(duration))?;
        self.shared.adopt(answer);
        Ok(())
    }

    /// Gives a borrowed seat back before the borrow ends (the same as [`Seat::release`]).
    pub fn return_borrowed(self) -> Result<()> {
        self.release()
    }

    /// Stops the renewals and gives the seat back now, reporting errors (dropping the guard
    /// does the same silently).
    pub fn release(mut self) -> Result<()> {
        self.finish()
    }

    /// Stops the thread and, if the seat is still held, releases it.
    fn finish(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        let _ = thread.join();
        let held = self.shared.lock().status == SeatStatus::Held;
        if !held {
            return Ok(());
        }
        let released = self.shared.client.release_seat(&self.shared.key);
        if released.is_ok() {
            self.shared.lock().status = SeatStatus::Released;
        }
        released.map(|_| ())
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
