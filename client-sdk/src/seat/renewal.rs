//! How a held seat is renewed: the state the guard shares with its worker, what each wake
//! of the worker does (one decision for both kinds), and the two workers: a thread for
//! seats checked out by the blocking API, a task on the caller's Tokio runtime for seats
//! checked out by the async one.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use licet_proto::floating::CheckoutResponse;
use tokio::sync::Notify;

use super::{LostCallback, SeatStatus};
use crate::client::Client;
use crate::error::{Error, Result};

/// What a [`super::Seat`] and its worker share.
pub(super) struct Shared {
    pub(super) client: Client,
    /// The license key the seat was checked out with (renewals and the release send it).
    pub(super) key: String,
    state: Mutex<SeatState>,
    /// Wakes a sleeping thread worker when the guard stops it.
    wake_thread: Condvar,
    /// Wakes a sleeping task worker when the guard stops it (a permit is kept if the task
    /// is not waiting yet, so the wake is never lost).
    wake_task: Notify,
    /// Taken before the state's lock whenever both are needed, so that the callback runs
    /// once (see [`Shared::lose`]).
    pub(super) on_lost: Mutex<Option<LostCallback>>,
}

/// The seat as last renewed.
pub(super) struct SeatState {
    pub(super) id: String,
    pub(super) token: String,
    pub(super) lease_ends_at: i64,
    pub(super) borrowed: bool,
    pub(super) status: SeatStatus,
    /// The guard stopped the worker: from then on no renewal's lease is adopted and no loss
    /// is reported (the guard is giving the seat back).
    stop: bool,
}

impl SeatState {
    fn apply(&mut self, answer: CheckoutResponse) {
        self.id = answer.seat.id;
        self.token = answer.token;
        self.lease_ends_at = answer.seat.lease_ends_at;
        self.borrowed = answer.seat.borrowed;
    }
}

/// What a worker does when it wakes.
enum Tick {
    /// Renew the seat now.
    Renew,
    /// Nothing yet (the seat is borrowed and its borrow still runs): sleep again.
    Sleep,
    /// The guard stopped it, or the seat is gone: end the worker.
    Stop,
}

impl Shared {
    /// The shared state of a seat just checked out with `answer`.
    pub(super) fn new(client: Client, key: String, answer: CheckoutResponse) -> Self {
        let mut state = SeatState {
            id: String::new(),
            token: String::new(),
            lease_ends_at: 0,
            borrowed: false,
            status: SeatStatus::Held,
            stop: false,
        };
        state.apply(answer);
        Self {
            client,
            key,
            state: Mutex::new(state),
            wake_thread: Condvar::new(),
            wake_task: Notify::new(),
            on_lost: Mutex::new(None),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, SeatState> {
        // A panic elsewhere must not take the seat's state with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adopts the answer of a checkout whose lease the client already stored (a borrow).
    pub(super) fn adopt(&self, answer: CheckoutResponse) {
        self.lock().apply(answer);
    }

    /// How long the worker sleeps before its next wake: the fixed interval if one was
    /// configured, else half of the lease's remaining time (at least a second).
    fn next_wait(&self) -> Duration {
        if let Some(every) = self.client.seat_renew_interval() {
            return every;
        }
        let remaining = self.lock().lease_ends_at - self.client.local_now();
        Duration::from_secs(u64::try_from(remaining / 2).unwrap_or(0).max(1))
    }

    /// What the worker does on waking.
    fn tick(&self) -> Tick {
        let st = self.lock();
        if st.stop || st.status != SeatStatus::Held {
            Tick::Stop
        } else if st.borrowed && self.client.local_now() < st.lease_ends_at {
            Tick::Sleep
        } else {
            Tick::Renew
        }
    }

    /// Takes a renewal's answer: adopts its lease, or learns that the seat is lost.
    /// Whether the worker goes on.
    fn renewed(&self, answer: Result<CheckoutResponse>) -> bool {
        let failure = match answer {
            Ok(answer) => {
                let mut st = self.lock();
                if st.stop {
                    return false;
                }
                // Under the seat's lock, so that a guard stopping now cannot see this lease
                // stored after it forgot the seat's lease.
                match self.client.adopt_seat_lease(answer.token.clone()) {
                    Ok(()) => {
                        st.apply(answer);
                        return true;
                    }
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        if refuses_seat(&failure) {
            self.lose(failure);
            return false;
        }
        // A failure to reach the server: try again at the next wake, while the lease runs.
        if self.client.local_now() >= self.lock().lease_ends_at {
            self.lose(Error::LeaseExpired);
            return false;
        }
        true
    }

    /// Marks the seat lost (once, and not once the guard stopped the worker) and calls the
    /// callback, outside the state's lock but under the callback's (taken first, as
    /// [`super::Seat::on_lost`] does), so that it runs once.
    fn lose(&self, reason: Error) {
        let callback = self.on_lost.lock().unwrap_or_else(|e| e.into_inner());
        let status = {
            let mut st = self.lock();
            if st.stop || st.status != SeatStatus::Held {
                return;
            }
            st.status = SeatStatus::Lost { reason };
            st.status.clone()
        };
        if let Some(f) = callback.as_ref() {
            f(&status);
        }
    }

    /// Stops the worker: it wakes, adopts no lease and reports no loss from now on.
    pub(super) fn stop(&self) {
        self.lock().stop = true;
        self.wake_thread.notify_all();
        self.wake_task.notify_one();
    }

    /// Gives a stopped seat back: forgets its stored lease (so that [`Client::check`] no
    /// longer answers from it), and releases it on the server if it is still held.
    pub(super) fn give_back(&self) -> Result<()> {
        let (forgot, held) = self.forget();
        if held {
            self.released(self.client.release_seat(&self.key))?;
        }
        forgot
    }

    /// [`Shared::give_back`] for async code.
    pub(super) async fn give_back_async(&self) -> Result<()> {
        let (forgot, held) = self.forget();
        if held {
            self.released(self.client.release_seat_async(&self.key).await)?;
        }
        forgot
    }

    /// Forgets the seat's stored lease; whether the seat is still held.
    fn forget(&self) -> (Result<()>, bool) {
        let (id, held) = {
            let st = self.lock();
            (st.id.clone(), st.status == SeatStatus::Held)
        };
        (self.client.forget_seat_lease(&id), held)
    }

    fn released(&self, answer: Result<bool>) -> Result<()> {
        answer?;
        self.lock().status = SeatStatus::Released;
        Ok(())
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

/// What renews a seat.
pub(super) enum Worker {
    /// A thread, for a seat of the blocking API.
    Thread(JoinHandle<()>),
    /// A task on the runtime the async checkout ran on.
    Task {
        task: tokio::task::JoinHandle<()>,
        /// Where the release of a dropped seat is spawned.
        runtime: tokio::runtime::Handle,
    },
}

impl Worker {
    /// Starts a renewal thread.
    pub(super) fn thread(shared: &Arc<Shared>) -> Result<Self> {
        let shared = Arc::clone(shared);
        std::thread::Builder::new()
            .name("licet-seat".into())
            .spawn(move || run_thread(&shared))
            .map(Self::Thread)
            .map_err(|e| Error::Config(format!("cannot start the seat's renewal thread: {e}")))
    }

    /// Starts a renewal task on `runtime`.
    pub(super) fn task(shared: &Arc<Shared>, runtime: &tokio::runtime::Handle) -> Self {
        Self::Task {
            task: runtime.spawn(run_task(Arc::clone(shared))),
            runtime: runtime.clone(),
        }
    }

    /// Waits for a stopped thread to end (an answer it is waiting for is then in before
    /// the release goes out). A task is not waited for from blocking code, which may be
    /// running on the task's own runtime: its late answer is dropped (see
    /// [`Shared::renewed`]).
    pub(super) fn join(self) {
        // A seat dropped from its own `on_lost` callback runs on its thread: no self-join.
        if let Self::Thread(thread) = self
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }

    /// [`Worker::join`] for async code: waits for a stopped task; a thread ends on its own.
    pub(super) async fn join_async(self) {
        if let Self::Task { task, .. } = self {
            let _ = task.await;
        }
    }
}

/// The renewal loop of a thread.
fn run_thread(shared: &Shared) {
    loop {
        let wait = shared.next_wait();
        let st = shared.lock();
        let sleeping = shared
            .wake_thread
            .wait_timeout_while(st, wait, |s| !s.stop)
            .unwrap_or_else(|e| e.into_inner());
        drop(sleeping);
        match shared.tick() {
            Tick::Stop => return,
            Tick::Sleep => continue,
            Tick::Renew => {}
        }
        if !shared.renewed(shared.client.post_checkout(&shared.key)) {
            return;
        }
    }
}

/// The renewal loop of a task.
async fn run_task(shared: Arc<Shared>) {
    loop {
        let wait = shared.next_wait();
        // Woken early only by a stop; either way `tick` decides.
        let _ = tokio::time::timeout(wait, shared.wake_task.notified()).await;
        match shared.tick() {
            Tick::Stop => return,
            Tick::Sleep => continue,
            Tick::Renew => {}
        }
        let answer = shared.client.post_checkout_async(&shared.key, None).await;
        if !shared.renewed(answer) {
            return;
        }
    }
}
