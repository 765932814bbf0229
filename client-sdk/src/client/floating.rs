//! Floating licenses on the client: taking, renewing, borrowing and giving back a seat
//! (the [`Seat`] guard does the renewing). The HTTP calls are async at their core; the
//! blocking versions run them on the transport's runtime.

use std::time::Duration;

use licet_proto::floating::{
    CheckoutRequest, CheckoutResponse, ReleaseSeatRequest, ReleaseSeatResponse,
};
use licet_proto::key::KeyShape;

use super::Client;
use crate::error::{Error, NotActivatedReason, Result};
use crate::fingerprint;
use crate::seat::Seat;

impl Client {
    /// Takes one of a floating license's seats for this machine (or for this process, with
    /// [`crate::ClientBuilder::seat_instance`]) with the stored license key, and returns the
    /// [`Seat`] guard that holds it: a background thread renews the seat's lease, and the
    /// seat is given back when the guard is dropped. The seat's lease is verified against the
    /// pinned keys and stored like any lease, so [`Client::check`] works (offline too) while
    /// the guard holds it; once the seat is released it no longer does.
    ///
    /// Errors: [`Error::NoFreeSeat`] (every seat is held; `retry_after` says when the
    /// earliest lease ends), [`Error::NotActivated`] (no key stored: use
    /// [`Client::checkout_with_key`]), the license's verdicts, and network failures. A
    /// node-locked license answers [`Error::Server`] with code `CONFLICT`.
    ///
    /// ```no_run
    /// # fn run(client: &licet::Client) -> licet::Result<()> {
    /// let seat = client.checkout()?;
    /// seat.on_lost(Box::new(|status| eprintln!("license lost: {status:?}")));
    /// // … the app runs, licensed, while `seat` lives …
    /// seat.release()
    /// # }
    /// ```
    pub fn checkout(&self) -> Result<Seat> {
        let key = self.stored_key()?;
        let answer = self.request_seat(&key, None)?;
        Seat::start_thread(self.clone(), key, answer)
    }

    /// [`Client::checkout`] with `key`, which is stored once a seat is taken.
    pub fn checkout_with_key(&self, key: &str) -> Result<Seat> {
        let key = parse_key(key)?;
        let answer = self.request_seat(&key, None)?;
        // The guard first: if the key cannot be stored, dropping it gives the seat back.
        let seat = Seat::start_thread(self.clone(), key.clone(), answer)?;
        self.inner.storage.save_key(&key)?;
        Ok(seat)
    }

    /// [`Client::checkout`] for async code: the seat is renewed by a task spawned on the
    /// calling Tokio runtime instead of a thread. Give it back with
    /// [`Seat::release_async`]; dropping the guard also releases it, through a task spawned
    /// on that runtime, which a runtime shutting down may never run (the seat is then held
    /// until its lease ends). Fails with [`Error::Config`] outside a Tokio runtime.
    ///
    /// ```no_run
    /// # async fn run(client: &licet::Client) -> licet::Result<()> {
    /// let seat = client.checkout_async().await?;
    /// // … the app runs, licensed, while `seat` lives …
    /// seat.release_async().await
    /// # }
    /// ```
    pub async fn checkout_async(&self) -> Result<Seat> {
        let key = self.stored_key()?;
        let runtime = current_runtime()?;
        let answer = self.request_seat_async(&key, None).await?;
        Ok(Seat::start_task(self.clone(), key, answer, &runtime))
    }

    /// [`Client::checkout_with_key`] for async code (see [`Client::checkout_async`]).
    pub async fn checkout_with_key_async(&self, key: &str) -> Result<Seat> {
        let key = parse_key(key)?;
        let runtime = current_runtime()?;
        let answer = self.request_seat_async(&key, None).await?;
        let seat = Seat::start_task(self.clone(), key.clone(), answer, &runtime);
        self.inner.storage.save_key(&key)?;
        Ok(seat)
    }

    /// The stored license key, for a checkout without one.
    fn stored_key(&self) -> Result<String> {
        self.inner
            .storage
            .load_key()?
            .map(|k| k.to_string())
            .ok_or(Error::NotActivated(NotActivatedReason::NoLicense))
    }

    /// Checks out (or renews, or borrows for `borrow`) the seat and adopts its lease.
    pub(crate) fn request_seat(
        &self,
        key: &str,
        borrow: Option<Duration>,
    ) -> Result<CheckoutResponse> {
        self.inner
            .transport
            .block_on(self.request_seat_async(key, borrow))?
    }

    /// [`Client::request_seat`] for async code.
    pub(crate) async fn request_seat_async(
        &self,
        key: &str,
        borrow: Option<Duration>,
    ) -> Result<CheckoutResponse> {
        let answer = self.post_checkout_async(key, borrow).await?;
        self.accept_lease(answer.token.clone())?;
        Ok(answer)
    }

    /// [`Client::post_checkout_async`], blocking.
    pub(crate) fn post_checkout(&self, key: &str) -> Result<CheckoutResponse> {
        self.inner
            .transport
            .block_on(self.post_checkout_async(key, None))?
    }

    /// Asks the server for the seat (a checkout, a renewal or a borrow) without adopting
    /// its lease: a renewal adopts it only if its guard still wants it (see
    /// [`Client::adopt_seat_lease`]).
    pub(crate) async fn post_checkout_async(
        &self,
        key: &str,
        borrow: Option<Duration>,
    ) -> Result<CheckoutResponse> {
        let info = fingerprint::machine_info();
        let req = CheckoutRequest {
            key: key.to_owned(),
            fingerprint: self.inner.fingerprint.clone()?,
            instance: self.inner.seat_instance.clone(),
            name: self.inner.machine_name.clone().or(info.hostname.clone()),
            platform: Some(fingerprint::platform()),
            machine: Some(info),
            borrow_secs: borrow.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        };
        let answer = self
            .inner
            .transport
            .post::<_, CheckoutResponse>("/v1/licenses/checkout", &req)
            .await;
        if let Err(e @ (Error::Revoked | Error::Suspended | Error::Expired)) = &answer {
            // The license's own verdicts are cached as `validate` does, so `check` refuses
            // offline too.
            self.record_verdict(e)?;
        }
        answer
    }

    /// Verifies and stores a seat's lease.
    pub(crate) fn adopt_seat_lease(&self, token: String) -> Result<()> {
        self.accept_lease(token).map(|_| ())
    }

    /// Gives the seat back; whether a live seat was released.
    pub(crate) fn release_seat(&self, key: &str) -> Result<bool> {
        self.inner
            .transport
            .block_on(self.release_seat_async(key))?
    }

    /// [`Client::release_seat`] for async code.
    pub(crate) async fn release_seat_async(&self, key: &str) -> Result<bool> {
        let req = ReleaseSeatRequest {
            key: key.to_owned(),
            fingerprint: self.inner.fingerprint.clone()?,
            instance: self.inner.seat_instance.clone(),
        };
        let answer = self
            .inner
            .transport
            .post::<_, ReleaseSeatResponse>("/v1/licenses/release", &req)
            .await?;
        Ok(answer.released)
    }

    /// Forgets the stored lease if it is seat `seat_id`'s (keeping the key, the trusted
    /// time and any verdict), so that a seat given back no longer licenses the app until
    /// its lease would have ended.
    pub(crate) fn forget_seat_lease(&self, seat_id: &str) -> Result<()> {
        let mut st = self.state()?;
        if !st.loaded {
            self.load(&mut st)?;
        }
        let is_this_seat = st.lease.as_ref().is_some_and(|(_, claims)| {
            claims
                .lic
                .seat
                .as_ref()
                .is_some_and(|seat| seat.id == seat_id)
        });
        if !is_this_seat {
            return Ok(());
        }
        st.lease = None;
        self.persist(&mut st)
    }

    /// The client's clock (the test clock in tests).
    pub(crate) fn local_now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// The fixed seat renewal interval, if one was configured.
    pub(crate) fn seat_renew_interval(&self) -> Option<Duration> {
        self.inner.seat_renew_interval
    }
}

/// A key as typed, refused offline when it is not shaped like one.
fn parse_key(key: &str) -> Result<String> {
    Ok(KeyShape::parse(key).ok_or(Error::InvalidKey)?.into_string())
}

/// The Tokio runtime an async seat's renewals run on.
fn current_runtime() -> Result<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current()
        .map_err(|_| Error::Config("an async checkout must run inside a Tokio runtime".into()))
}
