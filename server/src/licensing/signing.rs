//! Signing keys: generation, rotation, retirement, and the in-memory key ring each replica
//! signs with.
//!
//! Keys live in the shared database (private halves sealed with the master key), so every
//! replica signs with the same current key and publishes the same JWKS. A replica reloads the
//! ring every `key_refresh_secs`; after a rotation, replicas that have not reloaded yet keep
//! signing with the previous key, which stays published, so their tokens keep verifying.
//!
//! Key states: `current` (signs and is published), `published` (verifies only: the previous
//! current key, or a key generated ahead of a rotation so clients can pin it early), and
//! `retired` (withdrawn from the JWKS; tokens it signed stop verifying).

use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use licet_proto::token::{self, Claims, Jwk, Jwks};
use sha2::Digest;

use crate::auth::Admin;
use crate::platform::crypto::{MasterKey, random_bytes};
use crate::platform::error::{Error, Result};
use crate::store::{KeyChange, KeyState, NewAudit, SigningKeyRow, Store};

/// A snapshot of the keys a replica uses.
#[derive(Default)]
struct Ring {
    /// The current key and its `kid`.
    current: Option<(SigningKey, String)>,
    published: Vec<VerifyingKey>,
    /// The published keys as a verifier's key set.
    verifier: token::KeySet,
}

/// The keys this replica signs with and publishes; cheap to read from many threads.
#[derive(Default)]
pub struct KeyRing {
    ring: RwLock<Arc<Ring>>,
    /// Signatures of recent signing inputs (see [`sign_remembered`]).
    signatures: Remembered<[u8; 64]>,
    /// Claims of leases whose signature verified (see [`VERIFIED_LEASES`]).
    verified: Remembered<Arc<Claims>>,
}

/// Values remembered by a 32-byte digest, in shards so threads rarely meet; bounded (a
/// full shard is emptied and refills). With no room at all it remembers nothing.
struct Remembered<V> {
    shards: Vec<std::sync::Mutex<std::collections::HashMap<[u8; 32], V>>>,
    per_shard: usize,
}

const SHARDS: usize = 16;

impl<V: Clone> Remembered<V> {
    fn new(entries: usize) -> Self {
        Self {
            shards: (0..if entries == 0 { 0 } else { SHARDS })
                .map(|_| Default::default())
                .collect(),
            per_shard: entries.div_ceil(SHARDS),
        }
    }

    fn shard(
        &self,
        digest: &[u8; 32],
    ) -> Option<&std::sync::Mutex<std::collections::HashMap<[u8; 32], V>>> {
        (!self.shards.is_empty()).then(|| &self.shards[usize::from(digest[0]) % self.shards.len()])
    }

    /// The value remembered for `digest`, else `make`'s (remembered when it succeeds).
    fn get_or<E>(&self, digest: [u8; 32], make: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        let Some(shard) = self.shard(&digest) else {
            return make();
        };
        if let Some(v) = shard.lock().unwrap_or_else(|p| p.into_inner()).get(&digest) {
            return Ok(v.clone());
        }
        let v = make()?;
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.per_shard {
            map.clear();
        }
        map.insert(digest, v.clone());
        Ok(v)
    }

    fn clear(&self) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }
}

impl<V: Clone> Default for Remembered<V> {
    fn default() -> Self {
        Self::new(0)
    }
}

/// Leases whose signature verified, by the SHA-256 of the token: an app checking for
/// updates with the same lease again costs a hash instead of an Ed25519 verification
/// (about 40 µs). Only the signature's verdict is remembered, against the key set it was
/// made under (a reload that changes the published keys empties it); claims are checked
/// on every use.
const VERIFIED_LEASES: usize = SHARDS * 1024;

/// Signatures of recent signing inputs, by the inputs' SHA-256.
///
/// Ed25519 signatures are deterministic: the same key over the same bytes always gives the
/// same signature. Leases are built on a one-minute grid (see `licensing::lease`), so a
/// machine that validates several times in a minute asks for the same bytes again; this
/// returns the signature computed the first time instead of computing it again (18 µs).
/// What is returned is byte for byte what signing would return.
fn sign_remembered(signatures: &Remembered<[u8; 64]>, key: &SigningKey, input: &[u8]) -> [u8; 64] {
    use ed25519_dalek::Signer;
    let digest: [u8; 32] = sha2::Sha256::digest(input).into();
    let Ok(sig) =
        signatures.get_or::<std::convert::Infallible>(digest, || Ok(key.sign(input).to_bytes()));
    sig
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing(<redacted>)")
    }
}

impl KeyRing {
    /// Loads the ring from the database, remembering up to `cached_signatures` signatures
    /// (0: none).
    pub async fn load(store: &Store, master: &MasterKey, cached_signatures: usize) -> Result<Self> {
        let ring = Self {
            ring: RwLock::default(),
            signatures: Remembered::new(cached_signatures),
            verified: Remembered::new(VERIFIED_LEASES),
        };
        ring.reload(store, master).await?;
        Ok(ring)
    }

    /// Re-reads keys from the database (after a rotation, or periodically).
    pub async fn reload(&self, store: &Store, master: &MasterKey) -> Result<()> {
        let rows = store.signing_keys().await?;
        let mut ring = Ring::default();
        for row in rows.iter().filter(|r| r.state != KeyState::Retired) {
            let key = public_key(row)?;
            ring.verifier.insert(key);
            ring.published.push(key);
            if row.state == KeyState::Current {
                let key = unseal(row, master)?;
                let kid = token::key_id(&key.verifying_key());
                ring.current = Some((key, kid));
            }
        }
        let mut guard = self.ring.write().unwrap_or_else(|p| p.into_inner());
        let changed = guard.published != ring.published;
        *guard = Arc::new(ring);
        drop(guard);
        if changed {
            self.verified.clear();
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<Ring> {
        self.ring.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Signs a lease with the current key.
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        self.sign_as(claims, token::TYP)
    }

    /// Whether `kid` names the key this replica signs with now.
    pub fn signs_with(&self, kid: &str) -> bool {
        self.snapshot()
            .current
            .as_ref()
            .is_some_and(|(_, current)| current == kid)
    }

    /// Signs any claims set as a compact JWS of type `typ` with the current key (release
    /// manifests; leases go through [`KeyRing::sign`]).
    pub fn sign_as<T: serde::Serialize>(&self, claims: &T, typ: &str) -> Result<String> {
        let ring = self.snapshot();
        let (key, kid) = ring
            .current
            .as_ref()
            .ok_or_else(|| Error::Internal("no current signing key".into()))?;
        let input = token::signing_input_of(claims, kid, typ);
        let signature = sign_remembered(&self.signatures, key, input.as_bytes());
        Ok(token::with_signature(input, &signature))
    }

    /// Verifies a lease this server (or another replica) signed with a published key; its
    /// claims are not checked (see [`Claims::check`]).
    pub fn verify_lease(&self, lease: &str) -> std::result::Result<Arc<Claims>, token::TokenError> {
        if lease.len() > token::MAX_TOKEN_LEN {
            return Err(token::TokenError::Malformed);
        }
        let digest: [u8; 32] = sha2::Sha256::digest(lease.as_bytes()).into();
        self.verified.get_or(digest, || {
            Ok(Arc::new(self.snapshot().verifier.verify(lease)?.claims))
        })
    }

    /// The JWKS document of every published key.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .snapshot()
                .published
                .iter()
                .map(Jwk::from_key)
                .collect(),
        }
    }

    /// The id of the current key.
    pub fn current_kid(&self) -> Option<String> {
        self.snapshot().current.as_ref().map(|(_, kid)| kid.clone())
    }
}

fn public_key(row: &SigningKeyRow) -> Result<VerifyingKey> {
    let raw = URL_SAFE_NO_PAD
        .decode(&row.public_key)
        .map_err(|_| Error::Internal(format!("key {} has a corrupt public key", row.kid)))?;
    let raw: [u8; 32] = raw
        .try_into()
        .map_err(|_| Error::Internal(format!("key {} has a corrupt public key", row.kid)))?;
    VerifyingKey::from_bytes(&raw)
        .map_err(|_| Error::Internal(format!("key {} has an invalid public key", row.kid)))
}

fn unseal(row: &SigningKeyRow, master: &MasterKey) -> Result<SigningKey> {
    let secret = master.open(&row.private_key)?;
    let bytes: [u8; 32] = secret
        .as_slice()
        .try_into()
        .map_err(|_| Error::Internal(format!("key {} has a corrupt private key", row.kid)))?;
    let key = SigningKey::from_bytes(&bytes);
    if token::key_id(&key.verifying_key()) != row.kid {
        return Err(Error::Internal(format!(
            "key {} does not match its id",
            row.kid
        )));
    }
    Ok(key)
}

/// Generates a new key in state `published` (or `current` if `make_current`); returns its id.
pub async fn generate(
    store: &Store,
    master: &MasterKey,
    now: i64,
    admin: &Admin,
    make_current: bool,
) -> Result<String> {
    generate_as(store, master, now, admin.actor(), make_current).await
}

/// [`generate`] for whoever the caller vouches for (the vendor, or the server at first start).
async fn generate_as(
    store: &Store,
    master: &MasterKey,
    now: i64,
    actor: &str,
    make_current: bool,
) -> Result<String> {
    let (row, generated) = new_key(master, now, actor, KeyState::Published)?;
    let kid = row.kid.clone();
    let current = make_current.then(|| current_audit(now, actor, &kid));
    let change = store
        .add_signing_key(&row, &generated, current.as_ref())
        .await?;
    settled(change, kid)
}

/// A new key's row in `state` (sealed with the master key) and its audit entry.
fn new_key(
    master: &MasterKey,
    now: i64,
    actor: &str,
    state: KeyState,
) -> Result<(SigningKeyRow, NewAudit)> {
    let key = SigningKey::from_bytes(&random_bytes());
    let kid = token::key_id(&key.verifying_key());
    let generated = NewAudit::new(
        now,
        actor,
        "signing_key.generated",
        ("signing_key", &kid),
        serde_json::json!({}),
    );
    let row = SigningKeyRow {
        public_key: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
        private_key: master.seal(key.as_bytes())?,
        activated_at: (state == KeyState::Current).then_some(now),
        kid,
        state,
        created_at: now,
        retired_at: None,
    };
    Ok((row, generated))
}

/// Makes a key current: the newest published key that was never current (generated ahead of
/// the rotation so clients could pin it), or a new key if there is none. The old current
/// key stays published. Returns the new current id; `CONFLICT` if another rotation made
/// another key current at the same moment (at most one key is ever current).
pub async fn rotate(store: &Store, master: &MasterKey, now: i64, admin: &Admin) -> Result<String> {
    rotate_as(store, master, now, admin.actor()).await
}

/// [`rotate`] for whoever the caller vouches for (the vendor, or the server at first start).
async fn rotate_as(store: &Store, master: &MasterKey, now: i64, actor: &str) -> Result<String> {
    let rows = store.signing_keys().await?;
    // Pending: published ahead of a rotation and never current. A key that was current
    // once (activated_at set) never comes back by rotation, whatever its age.
    let pending = rows
        .iter()
        .rev()
        .find(|r| r.state == KeyState::Published && r.activated_at.is_none())
        .map(|r| r.kid.clone());
    match pending {
        Some(kid) => {
            // Proves the sealed key opens before it becomes the signing key.
            if let Some(row) = rows.iter().find(|r| r.kid == kid) {
                unseal(row, master)?;
            }
            let change = store
                .make_signing_key_current(&kid, now, &current_audit(now, actor, &kid))
                .await?;
            settled(change, kid)
        }
        None => generate_as(store, master, now, actor, true).await,
    }
}

/// The new current key, or `CONFLICT` when another rotation won at the same moment.
fn settled(change: KeyChange, kid: String) -> Result<String> {
    match change {
        KeyChange::Done => Ok(kid),
        KeyChange::LostToAnother => Err(Error::new(
            licet_proto::ErrorCode::Conflict,
            "another signing key became current at the same moment; list the keys and retry",
        )),
    }
}

/// The audit entry of `kid` becoming the signing key.
fn current_audit(now: i64, actor: &str, kid: &str) -> NewAudit {
    NewAudit::new(
        now,
        actor,
        "signing_key.current",
        ("signing_key", kid),
        serde_json::json!({}),
    )
}

/// Withdraws a published key from the JWKS. The current key cannot be retired.
pub async fn retire(store: &Store, kid: &str, now: i64, admin: &Admin) -> Result<()> {
    let audit = NewAudit::new(
        now,
        admin.actor(),
        "signing_key.retired",
        ("signing_key", kid),
        serde_json::json!({}),
    );
    if !store.retire_signing_key(kid, now, &audit).await? {
        return Err(Error::new(
            licet_proto::ErrorCode::Conflict,
            "no published (non-current) key with that id",
        ));
    }
    Ok(())
}

/// Makes sure a current key exists (first start). Returns the id of a key created now.
pub async fn ensure_current(store: &Store, master: &MasterKey, now: i64) -> Result<Option<String>> {
    let rows = store.signing_keys().await?;
    if rows.iter().any(|r| r.state == KeyState::Current) {
        return Ok(None);
    }
    let (row, generated) = new_key(master, now, "system", KeyState::Current)?;
    let kid = row.kid.clone();
    let current = current_audit(now, "system", &kid);
    match store
        .add_first_signing_key(&row, &[&generated, &current])
        .await?
    {
        KeyChange::Done => Ok(Some(kid)),
        // Another replica starting at the same moment made the first key: that one signs.
        KeyChange::LostToAnother => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer;

    #[test]
    fn remembered_signatures_are_the_signatures() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let cache = Remembered::<[u8; 64]>::new(32);
        for i in 0..200u32 {
            let input = format!("input {}", i % 50);
            assert_eq!(
                sign_remembered(&cache, &key, input.as_bytes()),
                key.sign(input.as_bytes()).to_bytes()
            );
        }
        let held: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum();
        assert!(held <= 32 + SHARDS, "bounded: {held}");
        let off = Remembered::<[u8; 64]>::new(0);
        assert_eq!(sign_remembered(&off, &key, b"x"), key.sign(b"x").to_bytes());
        assert!(off.shards.is_empty());
    }
}
