//! The [`Seat`] guard: one held floating seat, renewed in the background while it is held
//! (by a thread, or by a task for seats of the async API; see [`renewal`]), given back when
//! dropped.

mod renewal;

use std::sync::Arc;
use std::time::Duration;

use licet_proto::floating::CheckoutResponse;

use crate::client::Client;
use crate::error::{Error, Result};
use renewal::{Shared, Worker};

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

/// A held floating seat (from [`Client::checkout`] or [`Client::checkout_async`]).
///
/// In the background (a thread for [`Client::checkout`], a task on the caller's Tokio
/// runtime for [`Client::checkout_async`]) the guard renews the seat's lease (a heartbeat:
/// a checkout again) at half of its remaining time, or at
/// [`crate::ClientBuilder::seat_renew_interval`]. A network failure is retried at the next
/// renewal while the lease still runs; a refused renewal, or a lease that ends without
/// one, makes [`Seat::status`] [`SeatStatus::Lost`] and calls the [`Seat::on_lost`]
/// callback once. While the seat is borrowed ([`Seat::borrow`]) it is not renewed.
///
/// Giving the seat back ([`Seat::release`], [`Seat::release_async`], or dropping the
/// guard, best effort) stops the renewals, forgets the seat's stored lease, so that
/// [`Client::check`] no longer answers valid from it, and releases the seat on the server.
/// A process that dies without giving it back (`std::mem::forget`, a crash) holds the seat
/// only until its lease ends.
pub struct Seat {
    shared: Arc<Shared>,
    /// `None` once the seat was given back.
    worker: Option<Worker>,
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

impl Seat {
    /// Starts the guard on a checkout's answer, renewing on a thread.
    pub(crate) fn start_thread(
        client: Client,
        key: String,
        answer: CheckoutResponse,
    ) -> Result<Self> {
        let shared = Arc::new(Shared::new(client, key, answer));
        let worker = Worker::thread(&shared)?;
        Ok(Self {
            shared,
            worker: Some(worker),
        })
    }

    /// Starts the guard on a checkout's answer, renewing on a task on `runtime`.
    pub(crate) fn start_task(
        client: Client,
        key: String,
        answer: CheckoutResponse,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let shared = Arc::new(Shared::new(client, key, answer));
        let worker = Worker::task(&shared, runtime);
        Self {
            shared,
            worker: Some(worker),
        }
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

    /// Calls `callback` once when the seat is lost, from the renewal thread or task (keep it
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

    /// [`Seat::borrow`] for async code.
    pub async fn borrow_async(&self, duration: Duration) -> Result<()> {
        let answer = self
            .shared
            .client
            .request_seat_async(&self.shared.key, Some(duration))
            .await?;
        self.shared.adopt(answer);
        Ok(())
    }

    /// Gives a borrowed seat back before the borrow ends (the same as [`Seat::release`]).
    pub fn return_borrowed(self) -> Result<()> {
        self.release()
    }

    /// Stops the renewals and gives the seat back now, reporting errors (dropping the guard
    /// does the same silently). Whatever the outcome, the seat's stored lease is forgotten:
    /// after a failure the server frees the seat when its lease ends.
    pub fn release(mut self) -> Result<()> {
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        self.shared.stop();
        worker.join();
        self.shared.give_back()
    }

    /// [`Seat::release`] for async code: it first waits for a renewal task's request in
    /// flight, so that the release reaches the server after it.
    pub async fn release_async(mut self) -> Result<()> {
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        self.shared.stop();
        worker.join_async().await;
        self.shared.give_back_async().await
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        self.shared.stop();
        match worker {
            Worker::Task { task, runtime } => {
                // Not blocking an async caller: the release runs on the seat's runtime.
                let shared = Arc::clone(&self.shared);
                runtime.spawn(async move {
                    let _ = task.await;
                    let _ = shared.give_back_async().await;
                });
            }
            thread => {
                thread.join();
                let _ = self.shared.give_back();
            }
        }
    }
}
