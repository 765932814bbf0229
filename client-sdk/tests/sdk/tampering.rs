//! Forged, altered, foreign and replayed tokens, and clocks set back.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use licet_proto::Claims;
use serde_json::json;
use sha2::Sha256;

use crate::support::*;

/// Activates, then returns the directory, the valid token and its claims.
fn activated(h: &Harness, fpr: &str) -> (tempfile::TempDir, String, Claims) {
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    h.client(dir.path(), fpr, &clock())
        .activate(&key)
        .expect("activates");
    let cache: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lease_path(dir.path())).expect("lease"))
            .expect("json");
    let token = cache["token"].as_str().expect("token").to_owned();
    let claims: Claims = serde_json::from_slice(
        &B64.decode(token.split('.').nth(1).expect("claims"))
            .expect("b64"),
    )
    .expect("claims");
    (dir, token, claims)
}

fn store_token(dir: &std::path::Path, token: &str) {
    let cache = json!({ "version": 1, "token": token, "trusted_time": 0, "clock_offset": 0, "verdict": null });
    std::fs::write(lease_path(dir), cache.to_string()).expect("write");
}

fn check_with(h: &Harness, dir: &std::path::Path, fpr: &str) -> licet::Result<licet::License> {
    h.builder(dir, fpr, &clock())
        .auto_refresh(false)
        .build()
        .expect("client")
        .check()
}

fn header_of(token: &str) -> serde_json::Value {
    serde_json::from_slice(
        &B64.decode(token.split('.').next().expect("h"))
            .expect("b64"),
    )
    .expect("json")
}

#[test]
fn a_token_signed_by_another_key_is_refused() {
    let h = Harness::start(3);
    let (dir, _, claims) = activated(&h, "v1:m");
    let forged = licet_proto::token::sign(&claims, &SigningKey::from_bytes(&[9u8; 32]));
    store_token(dir.path(), &forged);
    assert!(matches!(
        check_with(&h, dir.path(), "v1:m"),
        Err(licet::Error::InvalidToken(_))
    ));
}

#[test]
fn a_token_with_a_changed_claim_is_refused() {
    let h = Harness::start(3);
    let (dir, token, mut claims) = activated(&h, "v1:m");
    claims.ent.push("enterprise".into());
    claims.exp += 365 * 86_400;
    let parts: Vec<&str> = token.split('.').collect();
    let body = B64.encode(serde_json::to_vec(&claims).expect("json"));
    store_token(dir.path(), &format!("{}.{}.{}", parts[0], body, parts[2]));
    assert!(matches!(
        check_with(&h, dir.path(), "v1:m"),
        Err(licet::Error::InvalidToken(_))
    ));
}

#[test]
fn a_token_for_another_product_is_refused() {
    let h = Harness::start(3);
    let (dir, _, _) = activated(&h, "v1:m");
    // A genuine lease, but the client is for another product (a vendor's other app).
    let other = h
        .builder(dir.path(), "v1:m", &clock())
        .auto_refresh(false)
        .build()
        .expect("client");
    assert!(other.check().is_ok());
    let video = licet::Client::builder(&h.server.url, "video")
        .pinned_jwks(&h.jwks)
        .expect("jwks")
        .storage_dir(dir.path())
        .use_keyring(false)
        .fingerprint_override("v1:m")
        .auto_refresh(false)
        .build()
        .expect("client");
    std::fs::copy(lease_path(dir.path()), dir.path().join("video.lease.json")).expect("copy");
    assert!(matches!(video.check(), Err(licet::Error::InvalidToken(_))));
}

#[test]
fn a_token_copied_from_another_machine_is_refused() {
    let h = Harness::start(3);
    let (dir, _, _) = activated(&h, "v1:machine-a");
    assert_eq!(
        check_with(&h, dir.path(), "v1:machine-b"),
        Err(licet::Error::FingerprintMismatch)
    );
}

#[test]
fn alg_none_and_hmac_confusion_tokens_are_refused() {
    let h = Harness::start(3);
    let (dir, token, claims) = activated(&h, "v1:m");
    let kid = header_of(&token)["kid"].as_str().expect("kid").to_owned();
    let body = B64.encode(serde_json::to_vec(&claims).expect("json"));

    let none_header =
        B64.encode(json!({ "alg": "none", "kid": kid, "typ": "licet-lease+jwt" }).to_string());
    for t in [
        format!("{none_header}.{body}."),
        format!("{none_header}.{body}"),
    ] {
        store_token(dir.path(), &t);
        assert!(
            matches!(
                check_with(&h, dir.path(), "v1:m"),
                Err(licet::Error::InvalidToken(_))
            ),
            "{t}"
        );
    }

    // HMAC keyed with the public key: the classic confusion attack on verifiers that let
    // the token choose the algorithm.
    let x = serde_json::from_str::<serde_json::Value>(&h.jwks).expect("jwks")["keys"][0]["x"]
        .as_str()
        .expect("x")
        .to_owned();
    let hs_header = B64.encode(json!({ "alg": "HS256", "kid": kid }).to_string());
    let input = format!("{hs_header}.{body}");
    for secret in [
        x.as_bytes().to_vec(),
        B64.decode(&x).expect("raw"),
        h.jwks.as_bytes().to_vec(),
    ] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret).expect("hmac");
        mac.update(input.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        store_token(dir.path(), &format!("{input}.{sig}"));
        assert!(matches!(
            check_with(&h, dir.path(), "v1:m"),
            Err(licet::Error::InvalidToken(_))
        ));
    }
}

#[test]
fn a_key_from_the_server_that_is_not_pinned_is_not_trusted() {
    let h = Harness::start(3);
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let stranger = SigningKey::from_bytes(&[5u8; 32]);
    let client = licet::Client::builder(&h.server.url, "photo")
        .pinned_key(stranger.verifying_key().as_bytes())
        .expect("key")
        .storage_dir(dir.path())
        .use_keyring(false)
        .fingerprint_override("v1:m")
        .build()
        .expect("client");
    assert!(matches!(
        client.activate(&key),
        Err(licet::Error::InvalidToken(_))
    ));
    assert!(
        !lease_path(dir.path()).exists(),
        "an unverifiable lease is not stored"
    );
}

#[test]
fn a_clock_set_back_is_detected_until_it_is_right_or_validated_online() {
    let h = Harness::start(3);
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h
        .builder(dir.path(), "v1:m", &clock)
        .auto_refresh(false)
        .build()
        .expect("client");
    client.activate(&key).expect("activates");
    clock.advance(1200);
    client.check().expect("valid later");

    // Set back an hour (e.g. to stretch an expiring lease).
    clock.advance(-3600);
    let err = client.check().expect_err("tampering");
    assert!(
        matches!(err, licet::Error::ClockTampered { behind_secs } if behind_secs >= 3000),
        "{err:?}"
    );
    // Also in a fresh process: the high-water mark was persisted... or derived from iat.
    let fresh = h
        .builder(dir.path(), "v1:m", &clock)
        .auto_refresh(false)
        .build()
        .expect("client");
    assert!(matches!(
        fresh.check(),
        Err(licet::Error::ClockTampered { .. })
    ));

    // An online validation anchors time to the server: usable again with the wrong clock.
    client.validate().expect("validates online");
    client.check().expect("valid, anchored to server time");
    // And the clock put right works too.
    clock.advance(3600);
    client.check().expect("valid with the right clock");
}

#[test]
fn a_small_clock_drift_is_tolerated() {
    let h = Harness::start(3);
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h
        .builder(dir.path(), "v1:m", &clock)
        .auto_refresh(false)
        .build()
        .expect("client");
    client.activate(&key).expect("activates");
    clock.advance(-120);
    client
        .check()
        .expect("two minutes behind is within the default tolerance");
}

#[test]
fn a_copied_lease_with_trusted_time_ahead_stays_refused_even_online_without_a_key() {
    let h = Harness::start(3);
    let (dir, _, _) = activated(&h, "v1:m");
    let mut cache: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lease_path(dir.path())).expect("lease"))
            .expect("json");
    cache["trusted_time"] = (cache["trusted_time"].as_i64().expect("time") + 3600).into();
    let other = tempfile::tempdir().expect("dir");
    std::fs::write(lease_path(other.path()), cache.to_string()).expect("write");
    // Auto-refresh is on and the server is up, but there is no key to refresh with: the
    // offline verdict stands instead of turning into "not activated".
    let client = h.client(other.path(), "v1:m", &clock());
    assert!(matches!(
        client.check(),
        Err(licet::Error::ClockTampered { .. })
    ));
}
