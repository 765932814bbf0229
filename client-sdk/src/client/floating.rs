//! Floating licenses on the client: taking, renewing, borrowing and giving back a seat
//! (the [`Seat`] guard does the renewing).

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
    /// [`Seat`] guard that holds it: it renews the seat's lease in the background and gives
    /// the seat back when dropped. The seat's lease is verified against the pinned keys and
    /// stored like any lease, so [`Client::check`] works (offline too) while it runs.
    ///
    /// Errors: [`Error::NoFreeSeat`] (every seat is held; `retry_after` says when the
    /// earliest lease ends), [`Error::NotActivated`] (no key stored: use
    /// [`Client::checkout_with_key`]), the license's verdicts, and network failures. A
    /// node-locked license answers [`Error::Server`] with code `CONFLICT`.
    pub fn checkout(&self) -> Result<Seat> {
        let key = self
            .inner
            .storage
            .load_key()?
            .ok_or(Error::NotActivated(NotActivatedReason::NoLicense))?;
        self.checkout_key(key.to_string())
    }

    /// [`Client::checkout`] with `key`, which is stored once a seat is taken.
    pub fn checkout_with_key(&self, key: &str) -> Result<Seat> {
        let key = KeyShape::parse(key).ok_or(Error::InvalidKey)?.into_string();
        let seat = self.checkout_key(key.clone())?;
        self.inner.storage.save_key(&key)?;
        Ok(seat)
    }

    fn checkout_key(&self, key: String) -> Result<Seat> {
        let answer = self.request_seat(&key, None)?;
        Seat::start(self.clone(), key, answer)
    }

    /// Checks out (or renews, or borrows for `borrow`) the seat and adopts its lease.
    pub(crate) fn request_seat(
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
        let transport = &self.inner.transport;
        let answer = transport
            .block_on(transport.post::<_, CheckoutResponse>("/v1/licenses/checkout", &req))?
            .or_else(|e| {
                // The license's own verdicts are cached as `validate` does, so `check`
                // refuses offline too.
                if matches!(e, Error::Revoked | Error::Suspended | Error::Expired) {
                    self.record_verdict(&e)?;
                }
                Err(e)
            })?;
        self.accept_lease(answer.token.clone())?;
        Ok(answer)
    }

    /// Gives the seat back; whether a live seat was released.
    pub(crate) fn release_seat(&self, key: &str) -> Result<bool> {
        let req = ReleaseSeatRequest {
            key: key.to_owned(),
            fingerprint: self.inner.fingerprint.clone()?,
            instance: self.inner.seat_instance.clone(),
        };
        let transport = &self.inner.transport;
        let answer = transport
            .block_on(transport.post::<_, ReleaseSeatResponse>("/v1/licenses/release", &req))??;
        Ok(answer.released)
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
