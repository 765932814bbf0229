//! The offline lease: a compact JWS (RFC 7515) signed with Ed25519 (`alg: EdDSA`, RFC 8037).
//!
//! ```text
//! base64url(header) "." base64url(claims) "." base64url(signature)
//! header = {"alg":"EdDSA","typ":"licet-lease+jwt","kid":"<RFC 7638 thumbprint>"}
//! ```
//!
//! Signing has one code path ([`sign`]). Verification ([`KeySet::verify`]) accepts only
//! `EdDSA`, only the header fields Licet writes (so `jwk`, `jku`, `x5u` and `crit` tricks are
//! refused), only keys in the caller's key set, and checks with `verify_strict`. Claim checks
//! against an expected product, machine and time live in [`Claims::check`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::LicenseStatus;

/// The only algorithm Licet signs or accepts.
pub const ALG: &str = "EdDSA";
/// The `typ` header of a Licet lease.
pub const TYP: &str = "licet-lease+jwt";
/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url parts of JSON, or too long.
    #[error("token is malformed")]
    Malformed,
    /// `alg` is not `EdDSA` (this is where `none` and HMAC confusion end).
    #[error("token algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The header names a key that is not in the key set.
    #[error("token is signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
    /// `aud` is another product.
    #[error("token is for another product")]
    WrongAudience,
    /// `fpr` is another machine.
    #[error("token is for another machine")]
    FingerprintMismatch,
    /// `nbf` is in the future.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `exp` has passed: the offline lease ended.
    #[error("token has expired")]
    Expired,
    /// The license itself expired (`lic.expires_at`).
    #[error("license has expired")]
    LicenseExpired,
}

/// The JWS protected header. Unknown header fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always `EdDSA`.
    pub alg: String,
    /// Always [`TYP`] when Licet signs; optional when verifying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Key id: the RFC 7638 thumbprint of the signing key.
    pub kid: String,
}

/// The license part of the claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseClaim {
    /// Status when the token was signed.
    pub status: LicenseStatus,
    /// License expiry in Unix seconds; `null` for perpetual.
    pub expires_at: Option<i64>,
    /// Seats of the license.
    pub max_activations: u32,
    /// Customer email, when the license has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Seats in use when the lease was signed, this machine's included (absent from leases
    /// of servers before this claim existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_activations: Option<u32>,
    /// The vendor's metadata on the license (absent when empty).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metadata: crate::api::LicenseMetadata,
    /// A license or a trial (absent for a license). For a trial, `expires_at` is its end.
    #[serde(default, skip_serializing_if = "crate::LicenseKind::is_license")]
    pub kind: crate::LicenseKind,

    // --- Subscriptions (issue 13): absent from leases of licenses not sold by subscription,
    // and from leases of servers before subscriptions existed.
    /// The subscription that pays for the license, when it was sold by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<SubscriptionClaim>,
    /// End of the license's updates, when it has one of its own (issue 14); absent: until
    /// `expires_at`. Update checks authenticated by the lease read it from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates_until: Option<i64>,
    /// The floating seat this lease holds (issue 15); absent for node-locked licenses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<crate::floating::SeatClaim>,
}

impl LicenseClaim {
    /// Releases published until then are the license's: `updates_until`, else the
    /// license's expiry; `None`: every release.
    pub fn effective_updates_until(&self) -> Option<i64> {
        self.updates_until.or(self.expires_at)
    }
}

/// Where a subscription stands (Stripe's many states folded into the three an app cares
/// about).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionStatus {
    /// Paid up (or trialing): renews at the end of the period unless canceled.
    Active,
    /// A renewal payment failed; Stripe is retrying. The license keeps its paid period and
    /// grace, nothing is shortened.
    PastDue,
    /// Ended: the license runs to the end of what was paid, then expires.
    Canceled,
}

impl SubscriptionStatus {
    /// The stored and transmitted spelling (`ACTIVE`, `PAST_DUE`, `CANCELED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::PastDue => "PAST_DUE",
            Self::Canceled => "CANCELED",
        }
    }

    /// Parses the stored spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "PAST_DUE" => Some(Self::PastDue),
            "CANCELED" => Some(Self::Canceled),
            _ => None,
        }
    }
}

/// The subscription behind a license, as signed into its lease (`lic.subscription`).
///
/// ```
/// # use licet_proto::token::{SubscriptionClaim, SubscriptionStatus};
/// let s = SubscriptionClaim {
///     status: SubscriptionStatus::Active,
///     period_end: Some(1_760_000_000),
///     cancel_at_period_end: false,
/// };
/// assert_eq!(s.renews_at(), Some(1_760_000_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionClaim {
    /// Where the subscription stands.
    pub status: SubscriptionStatus,
    /// End of the current billing period (Unix seconds), when known: the next renewal, or
    /// the end when the subscription is canceled at period end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<i64>,
    /// True when the customer canceled and the subscription ends at `period_end`.
    #[serde(default)]
    pub cancel_at_period_end: bool,
}

impl SubscriptionClaim {
    /// When the subscription renews next; `None` once it is canceled (now or at period end).
    pub fn renews_at(&self) -> Option<i64> {
        match self.status {
            SubscriptionStatus::Canceled => None,
            _ if self.cancel_at_period_end => None,
            _ => self.period_end,
        }
    }

    /// When the subscription ends; `None` while it renews.
    pub fn ends_at(&self) -> Option<i64> {
        match self.status {
            SubscriptionStatus::Canceled => self.period_end,
            _ if self.cancel_at_period_end => self.period_end,
            _ => None,
        }
    }
}

/// The claims of a Licet lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the server's public URL.
    pub iss: String,
    /// Subject: the license id.
    pub sub: String,
    /// Audience: the product slug.
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    pub nbf: i64,
    /// Expiry of the offline lease, Unix seconds (never after the license's expiry).
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// The machine fingerprint this lease is bound to.
    pub fpr: String,
    /// Entitlements.
    pub ent: Vec<String>,
    /// License state.
    pub lic: LicenseClaim,
    /// Air-gapped activation only: the nonce of the activation request this lease answers
    /// (see [`crate::offline`]), so the machine accepts only the answer it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// What a verifier expects of a token's claims.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    /// The product slug (`aud`).
    pub audience: &'a str,
    /// This machine's fingerprint (`fpr`).
    pub fingerprint: &'a str,
    /// Current Unix time in seconds.
    pub now: i64,
    /// Allowed clock skew for `nbf`, in seconds.
    pub leeway: i64,
}

impl Claims {
    /// Checks audience, fingerprint, `nbf`, `exp` and license expiry, in that order.
    pub fn check(&self, expect: &Expectations<'_>) -> Result<(), TokenError> {
        if self.aud != expect.audience {
            return Err(TokenError::WrongAudience);
        }
        if !constant_time_eq(self.fpr.as_bytes(), expect.fingerprint.as_bytes()) {
            return Err(TokenError::FingerprintMismatch);
        }
        if self.nbf > expect.now.saturating_add(expect.leeway) {
            return Err(TokenError::NotYetValid);
        }
        if self
            .lic
            .expires_at
            .is_some_and(|license_exp| expect.now >= license_exp)
        {
            return Err(TokenError::LicenseExpired);
        }
        if expect.now >= self.exp {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// The RFC 7638 thumbprint of an Ed25519 public key, base64url: Licet's `kid`.
pub fn key_id(key: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    // Members in lexicographic order, no whitespace, as RFC 7638 requires.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Signs `claims` with `key` into a compact JWS. The `kid` is derived from the key.
pub fn sign(claims: &Claims, key: &SigningKey) -> String {
    let input = signing_input(claims, &key_id(&key.verifying_key()));
    let signature = key.sign(input.as_bytes());
    with_signature(input, &signature.to_bytes())
}

/// The JWS signing input of `claims` under the key named `kid`:
/// `base64url(header) "." base64url(claims)`, the exact bytes the signature covers.
pub fn signing_input(claims: &Claims, kid: &str) -> String {
    signing_input_of(claims, kid, TYP)
}

/// The JWS signing input of any claims set under the key named `kid`, with the `typ`
/// header that says what the token is (a lease, a release manifest…): one token can never
/// be taken for the other, since each verifier insists on its own `typ`.
pub fn signing_input_of<T: Serialize>(claims: &T, kid: &str, typ: &str) -> String {
    let header = Header {
        alg: ALG.to_owned(),
        typ: Some(typ.to_owned()),
        kid: kid.to_owned(),
    };
    // Serialising these plain structs cannot fail; fall back to empty objects regardless.
    let header_json = serde_json::to_vec(&header).unwrap_or_default();
    let claims_json = serde_json::to_vec(claims).unwrap_or_default();
    let mut input = String::with_capacity(512);
    URL_SAFE_NO_PAD.encode_string(header_json, &mut input);
    input.push('.');
    URL_SAFE_NO_PAD.encode_string(claims_json, &mut input);
    input
}

/// Completes a signing input with its Ed25519 signature: the compact JWS.
pub fn with_signature(mut input: String, signature: &[u8; 64]) -> String {
    input.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut input);
    input
}

/// A token whose signature verified; its claims are not checked yet (see [`Claims::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The protected header.
    pub header: Header,
    /// The claims.
    pub claims: Claims,
}

/// A set of trusted public keys, looked up by `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<(String, VerifyingKey)>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key under its RFC 7638 thumbprint.
    pub fn insert(&mut self, key: VerifyingKey) {
        let kid = key_id(&key);
        if !self.keys.iter().any(|(k, _)| *k == kid) {
            self.keys.push((kid, key));
        }
    }

    /// Builds a set from a JWKS document; every key must be a valid Ed25519 OKP key whose
    /// `kid` (when present) is its thumbprint.
    pub fn from_jwks(jwks: &Jwks) -> Result<Self, TokenError> {
        let mut set = Self::new();
        for jwk in &jwks.keys {
            set.insert(jwk.verifying_key()?);
        }
        Ok(set)
    }

    /// Builds a set from raw 32-byte Ed25519 public keys.
    pub fn from_raw_keys<'a>(
        keys: impl IntoIterator<Item = &'a [u8; 32]>,
    ) -> Result<Self, TokenError> {
        let mut set = Self::new();
        for raw in keys {
            set.insert(VerifyingKey::from_bytes(raw).map_err(|_| TokenError::Malformed)?);
        }
        Ok(set)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key with this id.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, v)| v)
    }

    /// Verifies the token's structure, algorithm, key and signature (strictly).
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let (header, claims) = self.verify_of::<Claims>(token, TYP, false)?;
        Ok(VerifiedToken { header, claims })
    }

    /// Verifies a token of type `typ` with claims of type `T`: structure, algorithm, key
    /// and signature (strictly). With `typ_required`, a token without `typ` is refused
    /// too (leases predate `typ` being checked and keep it optional; newer types do not).
    pub fn verify_of<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        typ_required: bool,
    ) -> Result<(Header, T), TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(c64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(h64)
            .map_err(|_| TokenError::Malformed)?;
        let header: Header =
            serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
        if header.alg != ALG {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        match header.typ.as_deref() {
            Some(t) if t == typ => {}
            None if !typ_required => {}
            _ => return Err(TokenError::Malformed),
        }
        let key = self.get(&header.kid).ok_or(TokenError::UnknownKey)?;
        let sig_bytes = URL_SAFE_NO_PAD
            .decode(s64)
            .map_err(|_| TokenError::Malformed)?;
        let signature = Signature::from_slice(&sig_bytes).map_err(|_| TokenError::BadSignature)?;
        let signing_input_len = h64.len() + 1 + c64.len();
        key.verify_strict(&token.as_bytes()[..signing_input_len], &signature)
            .map_err(|_| TokenError::BadSignature)?;
        let claims_json = URL_SAFE_NO_PAD
            .decode(c64)
            .map_err(|_| TokenError::Malformed)?;
        let claims: T = serde_json::from_slice(&claims_json).map_err(|_| TokenError::Malformed)?;
        Ok((header, claims))
    }
}

/// The protected header of a compact JWS, read without verifying anything: for a token
/// already verified (to name its key), never to decide trust.
pub fn header_of(token: &str) -> Option<Header> {
    let h64 = token.split('.').next()?;
    let json = URL_SAFE_NO_PAD.decode(h64).ok()?;
    serde_json::from_slice(&json).ok()
}

/// One public key as a JWK (RFC 7517, OKP/Ed25519 per RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Always `OKP`.
    pub kty: String,
    /// Always `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// Key id (RFC 7638 thumbprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `sig`.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    /// The JWK of a public key.
    pub fn from_key(key: &VerifyingKey) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(key.as_bytes()),
            kid: Some(key_id(key)),
            alg: Some(ALG.into()),
            use_: Some("sig".into()),
        }
    }

    /// The public key, after checking type, curve and (if present) that `kid` matches.
    pub fn verifying_key(&self) -> Result<VerifyingKey, TokenError> {
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        if self.alg.as_deref().is_some_and(|a| a != ALG) {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(&self.x)
            .map_err(|_| TokenError::Malformed)?;
        let raw: [u8; 32] = raw.try_into().map_err(|_| TokenError::Malformed)?;
        let key = VerifyingKey::from_bytes(&raw).map_err(|_| TokenError::Malformed)?;
        if self.kid.as_deref().is_some_and(|k| k != key_id(&key)) {
            return Err(TokenError::UnknownKey);
        }
        Ok(key)
    }
}

/// A JWKS document: `{"keys":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims() -> Claims {
        Claims {
            iss: "https://licet.example".into(),
            sub: "lic_1".into(),
            aud: "photo".into(),
            iat: 1_000,
            nbf: 1_000,
            exp: 2_000,
            jti: "t1".into(),
            fpr: "v1:abc".into(),
            ent: vec!["pro".into()],
            lic: LicenseClaim {
                status: LicenseStatus::Active,
                expires_at: None,
                max_activations: 3,
                email: None,
                active_activations: None,
                metadata: Default::default(),
                kind: Default::default(),
                subscription: None,
                updates_until: None,
                seat: None,
            },
            nonce: None,
        }
    }

    fn set_of(k: &SigningKey) -> KeySet {
        let mut s = KeySet::new();
        s.insert(k.verifying_key());
        s
    }

    fn expect(now: i64) -> Expectations<'static> {
        Expectations {
            audience: "photo",
            fingerprint: "v1:abc",
            now,
            leeway: 0,
        }
    }

    #[test]
    fn signed_token_verifies_and_round_trips_claims() {
        let k = key(7);
        let t = sign(&claims(), &k);
        let v = set_of(&k).verify(&t).expect("verifies");
        assert_eq!(v.claims, claims());
        assert_eq!(v.header.kid, key_id(&k.verifying_key()));
        v.claims.check(&expect(1_500)).expect("valid at 1500");
    }

    #[test]
    fn token_from_another_key_is_unknown() {
        let t = sign(&claims(), &key(8));
        assert_eq!(set_of(&key(7)).verify(&t), Err(TokenError::UnknownKey));
    }

    #[test]
    fn changed_claim_breaks_signature() {
        let k = key(7);
        let t = sign(&claims(), &k);
        let mut parts: Vec<&str> = t.split('.').collect();
        let mut c = claims();
        c.ent.push("enterprise".into());
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).expect("json"));
        parts[1] = &forged;
        assert_eq!(
            set_of(&k).verify(&parts.join(".")),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn alg_none_and_hmac_are_refused() {
        let k = key(7);
        let kid = key_id(&k.verifying_key());
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).expect("json"));
        for alg in ["none", "HS256", "ES256", "eddsa"] {
            let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#));
            let t = format!("{h}.{body}.");
            assert_eq!(
                set_of(&k).verify(&t),
                Err(TokenError::AlgorithmNotAllowed),
                "{alg}"
            );
        }
    }

    #[test]
    fn embedded_jwk_header_is_refused() {
        let k = key(7);
        let kid = key_id(&k.verifying_key());
        let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"EdDSA","kid":"{kid}","jwk":{{}}}}"#));
        let t = format!("{h}.e30.AAAA");
        assert_eq!(set_of(&k).verify(&t), Err(TokenError::Malformed));
    }

    #[test]
    fn claim_checks_in_order() {
        let c = claims();
        assert_eq!(c.check(&expect(2_000)), Err(TokenError::Expired));
        assert_eq!(c.check(&expect(999)), Err(TokenError::NotYetValid));
        let other = Expectations {
            audience: "video",
            ..expect(1_500)
        };
        assert_eq!(c.check(&other), Err(TokenError::WrongAudience));
        let other = Expectations {
            fingerprint: "v1:def",
            ..expect(1_500)
        };
        assert_eq!(c.check(&other), Err(TokenError::FingerprintMismatch));
        let mut c2 = claims();
        c2.lic.expires_at = Some(1_200);
        assert_eq!(c2.check(&expect(1_300)), Err(TokenError::LicenseExpired));
    }

    #[test]
    fn jwks_round_trip_and_kid_must_match() {
        let k = key(9);
        let jwks = Jwks {
            keys: vec![Jwk::from_key(&k.verifying_key())],
        };
        let set = KeySet::from_jwks(&jwks).expect("valid jwks");
        assert!(set.get(&key_id(&k.verifying_key())).is_some());
        let mut bad = jwks.clone();
        bad.keys[0].kid = Some("other".into());
        assert_eq!(KeySet::from_jwks(&bad).err(), Some(TokenError::UnknownKey));
    }
}
