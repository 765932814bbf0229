//! Air-gapped activation on the client: the request, the import of its response, and the
//! deactivation proof (the formats are in [`licet_proto::offline`] and docs/protocol.md).
//!
//! The per-activation key pair is made here, its private half kept in the storage's
//! air-gapped record (a 0600 file by default) from the request until the proof, and
//! destroyed with the proof.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use licet_proto::key::KeyShape;
use licet_proto::offline::{
    Document, NONCE_LEN, ProofClaims, RequestClaims, VERSION, decode_text, public_key_text,
    sign_proof, sign_request,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Client, token_error};
use crate::air_gapped::OfflineDocument;
use crate::error::{Error, Result};
use crate::fingerprint;
use crate::license::License;

/// What the storage keeps from the request to the proof (and the proof after). Secret while
/// it holds the private key; it always holds the license key.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    v: u32,
    /// The license key the request was made with.
    key: String,
    /// The request's nonce.
    nonce: String,
    /// The request itself (a token), to show again while it waits.
    request: String,
    /// The per-activation private key's seed, base64url; gone once the proof is made.
    secret: Option<String>,
    /// The license id, once the response was imported (the seat is then held offline).
    license: Option<String>,
    /// The deactivation proof, once made (to show again until the next activation).
    proof: Option<String>,
}

impl Record {
    fn signing_key(&self) -> Result<SigningKey> {
        let seed: Zeroizing<Vec<u8>> = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(self.secret.as_deref().ok_or_else(broken_record)?)
                .map_err(|_| broken_record())?,
        );
        let seed: &[u8; 32] = seed.as_slice().try_into().map_err(|_| broken_record())?;
        Ok(SigningKey::from_bytes(seed))
    }

    fn pending(&self) -> bool {
        self.secret.is_some() && self.license.is_none()
    }
}

fn broken_record() -> Error {
    Error::Storage("the air-gapped activation record is damaged".into())
}

impl Client {
    /// Makes an activation request for this machine with `key`, for a machine that cannot
    /// reach the server: carry its [`OfflineDocument::text`] (or file) to any connected
    /// device, where the customer pastes or uploads it in the portal ("Activate an offline
    /// machine"), or the vendor in the dashboard or with `licet-server offline activate`.
    /// Then import the answer with [`Client::import_offline_activation`].
    ///
    /// A fresh per-activation key pair is made and its private half stored (it signs the
    /// deactivation proof later). A new request replaces one still waiting: the older
    /// request's response is then refused.
    pub fn offline_activation_request(&self, key: &str) -> Result<OfflineDocument> {
        let key = KeyShape::parse(key).ok_or(Error::InvalidKey)?.into_string();
        let fingerprint = self.inner.fingerprint.clone()?;
        let mut seed = Zeroizing::new([0u8; 32]);
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut *seed)
            .and_then(|()| getrandom::fill(&mut nonce))
            .map_err(|e| Error::Config(format!("no randomness for the request's key: {e}")))?;
        let signing = SigningKey::from_bytes(&seed);
        let info = fingerprint::machine_info();
        let claims = RequestClaims {
            v: VERSION,
            aud: self.inner.product.clone(),
            key: key.clone(),
            fpr: fingerprint,
            name: self.inner.machine_name.clone().or(info.hostname.clone()),
            platform: Some(fingerprint::platform()),
            machine: Some(info),
            public_key: public_key_text(&signing.verifying_key()),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            iat: self.inner.clock.now(),
        };
        let token = sign_request(&claims, &signing);
        self.save_record(&Record {
            v: VERSION,
            key,
            nonce: claims.nonce,
            request: token.clone(),
            secret: Some(URL_SAFE_NO_PAD.encode(*seed)),
            license: None,
            proof: None,
        })?;
        Ok(OfflineDocument::new(Document::Request, token))
    }

    /// The activation request this machine waits for a response to, if any (to show it
    /// again, e.g. after a restart).
    pub fn pending_offline_request(&self) -> Result<Option<OfflineDocument>> {
        Ok(self
            .record()?
            .filter(Record::pending)
            .map(|r| OfflineDocument::new(Document::Request, r.request)))
    }

    /// Imports the activation response to this machine's pending request (its text block,
    /// file content, or bare token). It is verified against the pinned keys, this product,
    /// this machine's fingerprint, the clock, and the pending request's nonce; then the key
    /// and lease are stored and [`Client::check`] works as after an online activation.
    ///
    /// Refused: text that does not read ([`Error::OfflineText`]); a response to another or an
    /// older request, or with none pending ([`Error::OfflineMismatch`]); an altered or forged
    /// response ([`Error::InvalidToken`]); one for another machine
    /// ([`Error::FingerprintMismatch`]).
    pub fn import_offline_activation(&self, response: &str) -> Result<License> {
        let token = decode_text(Document::Response, response)
            .map_err(|e| Error::OfflineText(e.to_string()))?;
        let mut record = self.record()?.ok_or_else(|| {
            Error::OfflineMismatch(
                "no offline activation request is waiting on this machine: make one first".into(),
            )
        })?;
        let claims = self.inner.keys.verify(&token).map_err(token_error)?.claims;
        if !record.pending() || claims.nonce.as_deref() != Some(record.nonce.as_str()) {
            return Err(Error::OfflineMismatch(
                "this response answers another activation request (an older one, or another \
                 machine's); use the response to this machine's latest request"
                    .into(),
            ));
        }
        let license = self.accept_lease(token)?;
        self.inner.storage.save_key(&record.key)?;
        record.license = Some(claims.sub);
        self.save_record(&record)?;
        Ok(license)
    }

    /// Deactivates this air-gapped machine without a network: deletes its lease and key,
    /// signs a deactivation proof with the per-activation private key, then destroys that
    /// key. Carry the proof to the portal, dashboard or `licet-server offline deactivate`;
    /// it frees the seat (once). Asked again, it answers the same proof (until the next
    /// activation), so a proof the user lost can be shown again. Error
    /// [`Error::OfflineMismatch`] when this machine holds no air-gapped activation.
    pub fn offline_deactivation_proof(&self) -> Result<OfflineDocument> {
        let no_activation = || {
            Error::OfflineMismatch(
                "this machine holds no air-gapped activation to deactivate".into(),
            )
        };
        let mut record = self.record()?.ok_or_else(no_activation)?;
        if let Some(proof) = &record.proof {
            return Ok(OfflineDocument::new(Document::Proof, proof.clone()));
        }
        let license = record.license.clone().ok_or_else(no_activation)?;
        let claims = ProofClaims {
            v: VERSION,
            aud: self.inner.product.clone(),
            sub: license,
            fpr: self.inner.fingerprint.clone()?,
            nonce: record.nonce.clone(),
            iat: self.inner.clock.now(),
        };
        let token = sign_proof(&claims, &record.signing_key()?);
        // `forget` deletes the record (and with it the private key), the key and the lease;
        // the proof alone is kept, to be shown again.
        self.forget()?;
        record.secret = None;
        record.key.clear();
        record.proof = Some(token.clone());
        self.save_record(&record)?;
        Ok(OfflineDocument::new(Document::Proof, token))
    }

    /// Whether this machine waits for the response to an activation request.
    pub fn offline_activation_pending(&self) -> Result<bool> {
        Ok(self.record()?.is_some_and(|r| r.pending()))
    }

    fn record(&self) -> Result<Option<Record>> {
        match self.inner.storage.load_air_gap()? {
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|_| broken_record()),
            None => Ok(None),
        }
    }

    fn save_record(&self, record: &Record) -> Result<()> {
        let text = Zeroizing::new(
            serde_json::to_string(record).map_err(|e| Error::Storage(e.to_string()))?,
        );
        self.inner.storage.save_air_gap(&text)
    }
}
