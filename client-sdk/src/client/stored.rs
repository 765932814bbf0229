//! The client's stored state: reading it (anchor first, then the sealed cache), sealing and
//! writing it, and the keyring anchor that remembers its high-water marks.

use super::{AnchorRead, Client, State, token_error};
use crate::cache::{self, Parsed, Sealed, Unusable};
use crate::error::{Error, NotActivatedReason, Result};
use crate::fingerprint;
use crate::seal::{Anchor, SealKey, SealKind};
use licet_proto::token::TokenError;

impl Client {
    /// Reads the stored state: the anchor's marks first (they hold even when the cache is
    /// gone or unusable), then the cache, trusted only if its seal verifies.
    pub(super) fn load(&self, st: &mut State) -> Result<()> {
        let bytes = self.inner.storage.load_cache()?;
        let anchor = match self.inner.storage.load_anchor() {
            // A record that is not ours is as good as none: the next state gets a new one.
            Ok(Some(text)) => Anchor::parse(&text).map_or(AnchorRead::Missing, |(record, key)| {
                AnchorRead::Present(record, key)
            }),
            Ok(None) => AnchorRead::Missing,
            Err(e) => AnchorRead::Unavailable(e.0),
        };
        *st = State {
            loaded: true,
            ..State::default()
        };
        match &anchor {
            AnchorRead::Present(record, key) => {
                st.trusted_time = record.trusted_time;
                st.lease_floor = record.lease_floor;
                st.seal = Some(key.clone());
            }
            AnchorRead::Missing => st.anchor_missing = true,
            AnchorRead::Unavailable(_) => {}
        }
        st.persisted_trusted_time = st.trusted_time;
        let Some(bytes) = bytes else {
            return Ok(());
        };
        let (sealed, mac) = match cache::parse(&bytes) {
            Ok(Parsed::Current { state, mac }) => (state, mac),
            Ok(Parsed::Legacy) => {
                st.load_error = Some(Error::NotActivated(NotActivatedReason::LegacyCache));
                return Ok(());
            }
            Err(Unusable::Corrupt(why)) => {
                st.load_error = Some(Error::NotActivated(NotActivatedReason::CorruptCache(why)));
                return Ok(());
            }
            Err(Unusable::Tampered(why)) => {
                st.load_error = Some(Error::StateTampered(why));
                return Ok(());
            }
        };
        let key = match (sealed.seal, &anchor) {
            (SealKind::Keyring, AnchorRead::Present(_, key)) => key.clone(),
            (SealKind::Keyring, AnchorRead::Unavailable(why)) => {
                // Not a verdict: the keyring may answer next time.
                *st = State::default();
                return Err(Error::Storage(format!(
                    "the keyring holding the lease cache's seal did not answer: {why}"
                )));
            }
            (SealKind::Keyring, AnchorRead::Missing) => {
                st.load_error = Some(tampered(
                    "it was sealed with a keyring secret this machine no longer has",
                ));
                return Ok(());
            }
            (SealKind::Machine, AnchorRead::Present(..)) => {
                st.load_error = Some(tampered(
                    "it was sealed without the keyring secret this machine has",
                ));
                return Ok(());
            }
            (SealKind::Machine, _) => match self.machine_seal() {
                Some(key) => key.clone(),
                // No fingerprint: `evaluate` reports why.
                None => return Ok(()),
            },
        };
        if !key.verify(
            &self.inner.product,
            self.fingerprint_str(),
            &sealed.content(),
            &mac,
        ) {
            st.load_error = Some(self.foreign_token(sealed.token.as_deref()).unwrap_or_else(
                || tampered("the lease cache was edited, or comes from another machine or product"),
            ));
            return Ok(());
        }
        st.trusted_time = st.trusted_time.max(sealed.trusted_time);
        st.persisted_trusted_time = sealed.trusted_time;
        st.clock_offset = sealed.clock_offset.max(0);
        st.verdict = sealed.verdict;
        st.lease_floor = st.lease_floor.max(sealed.lease_floor);
        st.seal = Some(key);
        if let Some(token) = sealed.token {
            match self.inner.keys.verify(&token) {
                Ok(v) => {
                    st.trusted_time = st.trusted_time.max(v.claims.iat);
                    st.lease = Some((token, v.claims));
                }
                Err(e) => st.token_error = Some(token_error(e)),
            }
        }
        Ok(())
    }

    /// When a cache's seal does not verify because it was copied from another machine or
    /// product, its genuine token says so more precisely than "tampered".
    pub(super) fn foreign_token(&self, token: Option<&str>) -> Option<Error> {
        let claims = self.inner.keys.verify(token?).ok()?.claims;
        match claims.check(&self.expectations(claims.iat)) {
            Err(e @ (TokenError::WrongAudience | TokenError::FingerprintMismatch)) => {
                Some(token_error(e))
            }
            _ => None,
        }
    }

    /// The machine key, derived on first use (it reads the machine id); `None` without a
    /// fingerprint.
    pub(super) fn machine_seal(&self) -> Option<&SealKey> {
        if let Some(key) = self.inner.machine_seal.get() {
            return Some(key);
        }
        let fingerprint = self.inner.fingerprint.as_deref().ok()?;
        let id = fingerprint::machine_id().ok();
        Some(
            self.inner.machine_seal.get_or_init(|| {
                SealKey::for_machine(&self.inner.product, fingerprint, id.as_deref())
            }),
        )
    }

    /// The key for a new state: a new anchor in the keyring when its store answered that it
    /// has none and takes one, else the machine key.
    pub(super) fn new_seal(&self, st: &State) -> Result<SealKey> {
        if st.anchor_missing
            && let Some(key) = SealKey::random()
            && self
                .inner
                .storage
                .save_anchor(&Anchor::record(&key, st.trusted_time, st.lease_floor))
                .is_ok()
        {
            return Ok(key);
        }
        match self.machine_seal() {
            Some(key) => Ok(key.clone()),
            None => Err(self
                .inner
                .fingerprint
                .clone()
                .err()
                .unwrap_or_else(|| Error::Storage("no key to seal the lease cache".into()))),
        }
    }

    /// Writes the sealed state to the cache.
    pub(super) fn persist(&self, st: &mut State) -> Result<()> {
        let key = st
            .seal
            .as_ref()
            .ok_or_else(|| Error::Storage("no key to seal the lease cache".into()))?;
        let sealed = Sealed {
            token: st.lease.as_ref().map(|(t, _)| t.clone()),
            trusted_time: st.trusted_time,
            clock_offset: st.clock_offset,
            verdict: st.verdict.clone(),
            lease_floor: st.lease_floor,
            seal: key.kind,
        };
        let mac = key.tag(
            &self.inner.product,
            self.fingerprint_str(),
            &sealed.content(),
        );
        self.inner.storage.save_cache(&sealed.to_bytes(mac))?;
        st.persisted_trusted_time = st.trusted_time;
        Ok(())
    }

    /// After an online answer is stored, the anchor learns its marks (best effort: an anchor
    /// behind the cache only protects less).
    pub(super) fn update_anchor(&self, st: &State) {
        if let Some(key) = st.seal.as_ref().filter(|k| k.kind == SealKind::Keyring) {
            let _ = self.inner.storage.save_anchor(&Anchor::record(
                key,
                st.trusted_time,
                st.lease_floor,
            ));
        }
    }
}

pub(super) fn tampered(why: &str) -> Error {
    Error::StateTampered(why.to_owned())
}
