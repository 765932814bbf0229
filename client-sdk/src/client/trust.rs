//! What the client trusts: its notion of "now", the offline verdict on the stored lease,
//! and which leases and verdicts from the server it accepts (see "Time and stored-state trust
//! in the SDK" in docs/architecture.md).

use super::{
    Client, LEASE_GRID_SECS, Offline, State, VERDICT_RETRY_SECS, lease_error, status_error,
    token_error, verdict_error,
};
use crate::error::{Error, NotActivatedReason, Result};
use crate::license::License;
use licet_proto::token::TokenError;
use licet_proto::{ErrorCode, LicenseKind};

impl Client {
    /// The SDK's time at `local_now`: the local clock plus the forward offset, never before
    /// trusted time.
    pub(super) fn trusted_now(&self, st: &State, local_now: i64) -> i64 {
        local_now
            .saturating_add(st.clock_offset)
            .max(st.trusted_time)
    }

    pub(super) fn evaluate(&self, st: &mut State, local_now: i64) -> Offline {
        if let Err(e) = &self.inner.fingerprint {
            return Offline::Refused(e.clone());
        }
        match &st.load_error {
            Some(e @ Error::NotActivated(NotActivatedReason::LegacyCache)) => {
                return Offline::NeedsOnline(e.clone());
            }
            Some(e) => return Offline::Refused(e.clone()),
            None => {}
        }
        if let Some(code) = &st.verdict {
            let verdict = verdict_error(code);
            // A suspension can be lifted and an expiry extended: ask again, now and then.
            let liftable = matches!(verdict, Error::Suspended | Error::Expired);
            if liftable && local_now >= st.next_verdict_retry {
                return Offline::NeedsOnline(verdict);
            }
            return Offline::Refused(verdict);
        }
        if let Some(e) = &st.token_error {
            return Offline::Refused(e.clone());
        }
        let tolerance = self.inner.clock_tolerance;
        if st.clock_offset != 0 && local_now.saturating_add(tolerance) >= st.trusted_time {
            // The local clock looks right again on its own: stop correcting it.
            st.clock_offset = 0;
        }
        let clock = local_now.saturating_add(st.clock_offset);
        if clock.saturating_add(tolerance) < st.trusted_time {
            return Offline::NeedsOnline(Error::ClockTampered {
                behind_secs: st.trusted_time - clock,
            });
        }
        let now = self.trusted_now(st, local_now);
        st.trusted_time = now;
        let Some((_, claims)) = &st.lease else {
            return Offline::Refused(Error::NotActivated(NotActivatedReason::NoLicense));
        };
        if claims.iat < st.lease_floor {
            // A newer lease or a verdict was seen (the anchor remembers it): this one, put
            // back from an older copy of the cache or left by a concurrent process, is over.
            return Offline::NeedsOnline(Error::LeaseExpired);
        }
        match claims.check(&self.expectations(now)) {
            Ok(()) => {}
            // A trial's end never moves: past it, no lease will come.
            Err(TokenError::Expired)
                if claims.lic.kind == LicenseKind::Trial
                    && claims.lic.expires_at.is_some_and(|end| now >= end) =>
            {
                return Offline::Refused(Error::TrialExpired);
            }
            // A floating seat's lease is renewed by its `Seat` guard (a checkout), never by
            // `validate`, which knows only node-locked activations.
            Err(TokenError::Expired) if claims.lic.seat.is_some() => {
                return Offline::Refused(Error::LeaseExpired);
            }
            // Only the lease ran out: the license may be fine, the network can renew it.
            Err(TokenError::Expired) => return Offline::NeedsOnline(Error::LeaseExpired),
            Err(e) => return Offline::Refused(lease_error(e, claims)),
        }
        if let Some(e) = status_error(claims.lic.status) {
            return Offline::Refused(e);
        }
        let lifetime = (claims.exp - claims.iat).max(0);
        let window = (lifetime as f64 * self.inner.refresh_window) as i64;
        let refresh_due = self.inner.auto_refresh
            && claims.lic.seat.is_none()
            && now >= claims.exp - window
            && now >= st.next_refresh_attempt;
        Offline::Valid {
            license: License::from_claims(claims, now),
            refresh_due,
        }
    }

    /// Verifies a lease from the server, adopts it and stores it.
    ///
    /// Whatever sent it, a lease can only move the SDK's time forward: its signed `iat`,
    /// when ahead of the local clock, becomes a forward offset (a clock that is behind works
    /// again), and it is refused when older than a lease or a verdict already seen (a
    /// replay). Nothing else from the server (no `Date` header) is used.
    pub(super) fn accept_lease(&self, token: String) -> Result<License> {
        let claims = self.inner.keys.verify(&token).map_err(token_error)?.claims;
        let local_now = self.inner.clock.now();
        let tolerance = self.inner.clock_tolerance;
        let mut st = self.state()?;
        if !st.loaded {
            self.load(&mut st)?;
        }
        if claims.iat < st.lease_floor {
            return Err(Error::InvalidToken(
                "the server sent a lease older than one already accepted or than a verdict \
                 already learned (a replay?)"
                    .into(),
            ));
        }
        let ahead = claims.iat.saturating_sub(local_now);
        let offset = if ahead > tolerance { ahead } else { 0 };
        let clock = local_now.saturating_add(offset);
        // A lease newer than every lease and verdict seen (checked above), signed at a time
        // that agrees with the local clock, vouches for that clock: trusted time that ran
        // ahead of it (a clock once set ahead, then corrected) comes back down to it.
        let vouched = ahead.abs() <= tolerance.saturating_add(LEASE_GRID_SECS);
        if !vouched && clock.saturating_add(tolerance) < st.trusted_time {
            return Err(Error::ClockTampered {
                behind_secs: st.trusted_time - clock,
            });
        }
        let now = if vouched {
            clock.max(claims.iat)
        } else {
            clock.max(st.trusted_time).max(claims.iat)
        };
        claims
            .check(&self.expectations(now))
            .map_err(|e| lease_error(e, &claims))?;
        let seal = match st.seal.take() {
            Some(key) => key,
            None => self.new_seal(&st)?,
        };
        let license = License::from_claims(&claims, now);
        let lease_floor = st.lease_floor.max(claims.iat);
        *st = State {
            loaded: true,
            trusted_time: now,
            clock_offset: offset,
            lease_floor,
            lease: Some((token, claims)),
            seal: Some(seal),
            ..State::default()
        };
        self.persist(&mut st)?;
        self.update_anchor(&st);
        Ok(license)
    }

    /// Records a definite verdict from the server. Leases signed before it was learned
    /// (less the allowed skew) are refused from now on.
    pub(super) fn record_verdict(&self, e: &Error) -> Result<()> {
        let code = match e {
            Error::NotActivated(_) => ErrorCode::NotActivated,
            Error::InvalidKey => ErrorCode::LicenseNotFound,
            Error::Expired => ErrorCode::LicenseExpired,
            Error::TrialExpired => ErrorCode::TrialExpired,
            Error::Suspended => ErrorCode::LicenseSuspended,
            Error::Revoked => ErrorCode::LicenseRevoked,
            _ => return Ok(()),
        };
        let mut st = self.state()?;
        if !st.loaded {
            self.load(&mut st)?;
        }
        let now = self.trusted_now(&st, self.inner.clock.now());
        st.trusted_time = now;
        st.verdict = Some(code.as_str().to_owned());
        let skew = self.inner.clock_tolerance.saturating_add(LEASE_GRID_SECS);
        st.lease_floor = st.lease_floor.max(now.saturating_sub(skew));
        // Just learned online: no need to ask again within the minute.
        st.next_verdict_retry = self.inner.clock.now().saturating_add(VERDICT_RETRY_SECS);
        // The verdict replaces whatever could not be used: the cache is written anew.
        st.load_error = None;
        if st.seal.is_none() {
            st.seal = Some(self.new_seal(&st)?);
        }
        self.persist(&mut st)?;
        self.update_anchor(&st);
        Ok(())
    }
}
