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

use crate::crypto::{MasterKey, random_bytes};
use crate::error::{Error, Result};
use crate::store::{SigningKeyRow, Store, audit};

/// A snapshot of the keys a replica uses.
#[derive(Default)]
struct Ring {
    current: Option<SigningKey>,
    published: Vec<VerifyingKey>,
}

/// The keys this replica signs with and publishes; cheap to read from many threads.
#[derive(Default)]
pub struct KeyRing {
    ring: RwLock<Arc<Ring>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing(<redacted>)")
    }
}

impl KeyRing {
    /// Loads the ring from the database.
    pub async fn load(store: &Store, master: &MasterKey) -> Result<Self> {
        let ring = Self::default();
        ring.reload(store, master).await?;
        Ok(ring)
    }

    /// Re-reads keys from the database (after a rotation, or periodically).
    pub async fn reload(&self, store: &Store, master: &MasterKey) -> Result<()> {
        let rows = store.signing_keys().await?;
        let mut ring = Ring::default();
        for row in rows.iter().filter(|r| r.state != "retired") {
            ring.published.push(public_key(row)?);
            if row.state == "current" {
                ring.current = Some(unseal(row, master)?);
            }
        }
        let mut guard = self.ring.write().unwrap_or_else(|p| p.into_inner());
        *guard = Arc::new(ring);
        Ok(())
    }

    fn snapshot(&self) -> Arc<Ring> {
        self.ring.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Signs a lease with the current key.
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let ring = self.snapshot();
        let key = ring
            .current
            .as_ref()
            .ok_or_else(|| Error::Internal("no current signing key".into()))?;
        Ok(token::sign(claims, key))
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
        self.snapshot()
            .current
            .as_ref()
            .map(|k| token::key_id(&k.verifying_key()))
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
    actor: &str,
    make_current: bool,
) -> Result<String> {
    let key = SigningKey::from_bytes(&random_bytes());
    let kid = token::key_id(&key.verifying_key());
    let row = SigningKeyRow {
        kid: kid.clone(),
        public_key: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
        private_key: master.seal(key.as_bytes())?,
        state: "published".into(),
        created_at: now,
        activated_at: None,
        retired_at: None,
    };
    let mut tx = store.begin_write().await?;
    store.insert_signing_key(&mut tx, &row).await?;
    audit::record(
        &mut *tx,
        now,
        actor,
        "signing_key.generated",
        ("signing_key", &kid),
        &serde_json::json!({}),
    )
    .await?;
    if make_current {
        store.make_current(&mut tx, &kid, now).await?;
        audit::record(
            &mut *tx,
            now,
            actor,
            "signing_key.current",
            ("signing_key", &kid),
            &serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(kid)
}

/// Makes a key current: the newest published key generated after the current one, or a new
/// key if there is none. The old current key stays published. Returns the new current id.
pub async fn rotate(store: &Store, master: &MasterKey, now: i64, actor: &str) -> Result<String> {
    let rows = store.signing_keys().await?;
    let current_created = rows
        .iter()
        .find(|r| r.state == "current")
        .map(|r| r.created_at);
    let pending = rows
        .iter()
        .rev()
        .find(|r| r.state == "published" && current_created.is_none_or(|c| r.created_at >= c))
        .map(|r| r.kid.clone());
    match pending {
        Some(kid) => {
            // Proves the sealed key opens before it becomes the signing key.
            if let Some(row) = rows.iter().find(|r| r.kid == kid) {
                unseal(row, master)?;
            }
            let mut tx = store.begin_write().await?;
            store.make_current(&mut tx, &kid, now).await?;
            audit::record(
                &mut *tx,
                now,
                actor,
                "signing_key.current",
                ("signing_key", &kid),
                &serde_json::json!({}),
            )
            .await?;
            tx.commit().await?;
            Ok(kid)
        }
        None => generate(store, master, now, actor, true).await,
    }
}

/// Withdraws a published key from the JWKS. The current key cannot be retired.
pub async fn retire(store: &Store, kid: &str, now: i64, actor: &str) -> Result<()> {
    let mut tx = store.begin_write().await?;
    if !store.retire_key(&mut tx, kid, now).await? {
        return Err(Error::new(
            licet_proto::ErrorCode::Conflict,
            "no published (non-current) key with that id",
        ));
    }
    audit::record(
        &mut *tx,
        now,
        actor,
        "signing_key.retired",
        ("signing_key", kid),
        &serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Makes sure a current key exists (first start). Returns the id of a key created now.
pub async fn ensure_current(store: &Store, master: &MasterKey, now: i64) -> Result<Option<String>> {
    let rows = store.signing_keys().await?;
    if rows.iter().any(|r| r.state == "current") {
        return Ok(None);
    }
    rotate(store, master, now, "system").await.map(Some)
}
