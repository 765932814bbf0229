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
    let (dir, _, _) = h.activated(fpr, &clock());
    let token = read_cache(dir.path())["state"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let claims = claims_of(&token);
    (dir, token, claims)
}

/// What `activate` says when a server answers with `token` in place of the genuine lease it
/// would have sent; nothing may be stored.
fn served(h: &Harness, token: &str) -> licet::Error {
    let (_, key) = h.license();
    let mut body = h.genuine_lease(&key, "v1:m");
    body["token"] = token.into();
    let fake = FakeServer::start(h, &body, None);
    let dir = tempfile::tempdir().expect("dir");
    let err = h
        .builder_at(&fake.url, dir.path(), "v1:m", &clock())
        .build()
        .expect("client")
        .activate(&key)
        .expect_err("refused");
    assert_eq!(fake.requests(), 1);
    assert!(
        !lease_path(dir.path()).exists(),
        "a refused lease is not stored"
    );
    err
}

/// A stored cache with this token in place of its own is refused as tampered: the seal
/// catches the edit before the token is even looked at.
fn stored_in_place(h: &Harness, token: &str) -> licet::Result<licet::License> {
    let (dir, _, _) = activated(h, "v1:m");
    let mut cache = read_cache(dir.path());
    cache["state"]["token"] = token.into();
    write_cache(dir.path(), &cache);
    check_with(h, dir.path(), "v1:m")
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
    let (_, _, claims) = activated(&h, "v1:m");
    let forged = licet_proto::token::sign(&claims, &SigningKey::from_bytes(&[9u8; 32]));
    assert!(matches!(served(&h, &forged), licet::Error::InvalidToken(_)));
    assert!(matches!(
        stored_in_place(&h, &forged),
        Err(licet::Error::StateTampered(_))
    ));
}

#[test]
fn a_token_with_a_changed_claim_is_refused() {
    let h = Harness::start(3);
    let (_, token, mut claims) = activated(&h, "v1:m");
    claims.ent.push("enterprise".into());
    claims.exp += 365 * 86_400;
    let parts: Vec<&str> = token.split('.').collect();
    let body = B64.encode(serde_json::to_vec(&claims).expect("json"));
    let altered = format!("{}.{}.{}", parts[0], body, parts[2]);
    assert!(matches!(
        served(&h, &altered),
        licet::Error::InvalidToken(_)
    ));
    assert!(matches!(
        stored_in_place(&h, &altered),
        Err(licet::Error::StateTampered(_))
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
    // The copy's seal binds it to "photo"; the genuine token inside says why it fails.
    std::fs::copy(lease_path(dir.path()), dir.path().join("video.lease.json")).expect("copy");
    assert!(matches!(video.check(), Err(licet::Error::InvalidToken(_))));
}

#[test]
fn a_token_copied_from_another_machine_is_refused() {
    let h = Harness::start(3);
    let (dir, _, _) = activated(&h, "v1:machine-a");
    // The seal binds the cache to machine a; the genuine token inside says why it fails.
    assert_eq!(
        check_with(&h, dir.path(), "v1:machine-b"),
        Err(licet::Error::FingerprintMismatch)
    );
}

#[test]
fn alg_none_and_hmac_confusion_tokens_are_refused() {
    let h = Harness::start(3);
    let (_, token, claims) = activated(&h, "v1:m");
    let kid = header_of(&token)["kid"].as_str().expect("kid").to_owned();
    let body = B64.encode(serde_json::to_vec(&claims).expect("json"));

    let none_header =
        B64.encode(json!({ "alg": "none", "kid": kid, "typ": "licet-lease+jwt" }).to_string());
    for t in [
        format!("{none_header}.{body}."),
        format!("{none_header}.{body}"),
    ] {
        assert!(
            matches!(served(&h, &t), licet::Error::InvalidToken(_)),
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
        assert!(matches!(
            served(&h, &format!("{input}.{sig}")),
            licet::Error::InvalidToken(_)
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

/// If this fails, a clock set back stretches a lease offline, or a clock that is behind
/// stays unusable after the server has vouched for the time in a signed lease.
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
    h.server.clock.advance(1200);
    client.check().expect("valid later");

    // Set back an hour (e.g. to stretch an expiring lease).
    clock.advance(-3600);
    let err = client.check().expect_err("tampering");
    assert!(
        matches!(err, licet::Error::ClockTampered { behind_secs } if behind_secs >= 3000),
        "{err:?}"
    );
    // Also in a fresh process: the high-water mark was persisted.
    let fresh = h
        .builder(dir.path(), "v1:m", &clock)
        .auto_refresh(false)
        .build()
        .expect("client");
    assert!(matches!(
        fresh.check(),
        Err(licet::Error::ClockTampered { .. })
    ));

    // An online validation brings a lease signed at the server's time, ahead of this clock:
    // the SDK's time moves forward to it, and the app works with the wrong clock.
    let license = client.validate().expect("validates online");
    assert!(license.offline_secs_left() > 3000, "{license:?}");
    client.check().expect("valid, with time moved forward");
    fresh
        .check()
        .expect_err("the other process has not seen that lease yet");
    h.builder(dir.path(), "v1:m", &clock)
        .auto_refresh(false)
        .build()
        .expect("client")
        .check()
        .expect("a new process reads the forward offset");
    // And the clock put right works too.
    clock.advance(3600);
    client.check().expect("valid with the right clock");
}

/// If this fails, a clock once set ahead and then put right leaves the app refused until a
/// person deletes its files.
#[test]
fn a_clock_set_ahead_then_corrected_recovers_at_the_next_online_validation() {
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
    // Eight days ahead (the server's clock stays right): the SDK's trusted time follows.
    clock.advance(8 * 86_400);
    assert_eq!(client.check(), Err(licet::Error::LeaseExpired));
    // Put right: behind trusted time now, so offline the protection holds...
    clock.advance(-8 * 86_400);
    let err = client.check().expect_err("behind trusted time");
    assert!(matches!(err, licet::Error::ClockTampered { .. }), "{err:?}");
    assert!(
        err.to_string().contains("online validation resets"),
        "{err}"
    );
    // ...and a lease the server signs now, agreeing with this clock, resets it.
    client.validate().expect("validates online");
    client.check().expect("valid again with the right clock");
    h.builder(dir.path(), "v1:m", &clock)
        .auto_refresh(false)
        .build()
        .expect("client")
        .check()
        .expect("and in a new process");
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
    let (_, key) = h.license();
    // Activated while this machine's clock was half an hour ahead: so is trusted time.
    let ahead = clock();
    ahead.advance(1800);
    let dir = tempfile::tempdir().expect("dir");
    h.client(dir.path(), "v1:m", &ahead)
        .activate(&key)
        .expect("activates");
    let other = tempfile::tempdir().expect("dir");
    std::fs::copy(lease_path(dir.path()), lease_path(other.path())).expect("copy");
    // Auto-refresh is on and the server is up, but there is no key to refresh with: the
    // offline verdict stands instead of turning into "not activated".
    let client = h.client(other.path(), "v1:m", &clock());
    assert!(matches!(
        client.check(),
        Err(licet::Error::ClockTampered { .. })
    ));
}

/// The attack the seal exists for: lower the stored high-water mark, set the clock back, and
/// run an old lease on. If this fails, editing one number in a JSON file undoes clock
/// tampering detection; a silent reset instead of the verdict would hide the attempt.
#[test]
fn an_edited_trusted_time_is_tampering_not_a_pass_nor_a_reset() {
    let h = Harness::start(3);
    let clock = clock();
    let (dir, _, _) = h.activated("v1:m", &clock);
    clock.advance(1200);
    h.server.clock.advance(1200);
    h.client(dir.path(), "v1:m", &clock)
        .check()
        .expect("valid; the high-water mark is stored");

    let mut cache = read_cache(dir.path());
    let iat = claims_of(cache["state"]["token"].as_str().expect("token")).iat;
    cache["state"]["trusted_time"] = iat.into();
    write_cache(dir.path(), &cache);
    clock.advance(-1000);
    for auto_refresh in [false, true] {
        let client = h
            .builder(dir.path(), "v1:m", &clock)
            .auto_refresh(auto_refresh)
            .build()
            .expect("client");
        let err = client.check().expect_err("tampered");
        assert!(matches!(err, licet::Error::StateTampered(_)), "{err:?}");
        assert_eq!(err.code(), "STATE_TAMPERED");
        assert!(err.is_verdict());
        assert!(
            client.check().is_err(),
            "it stays refused, online or not ({auto_refresh})"
        );
    }

    // The way back: a lease from the server newer than anything seen replaces the state.
    clock.advance(1000);
    let client = h.client(dir.path(), "v1:m", &clock);
    client
        .validate()
        .expect("a fresh lease replaces tampered state");
    client.check().expect("valid again");
    client.forget().expect("forgets");
    assert!(matches!(
        client.check(),
        Err(licet::Error::NotActivated(
            licet::NotActivatedReason::NoLicense
        ))
    ));
}

/// Every other edit of the sealed state is caught the same way. If this fails, one of them
/// (dropping a revocation, swapping in another lease, removing the seal) gets through.
#[test]
fn any_edit_of_the_stored_state_is_tampering() {
    let h = Harness::start(3);
    let clock = clock();
    let (dir, _, id) = h.activated("v1:m", &clock);
    let client = h.client(dir.path(), "v1:m", &clock);
    let valid = read_cache(dir.path());
    // Another genuine lease for this very machine, from a second license.
    let (_, key2) = h.license();
    let other_token = h.genuine_lease(&key2, "v1:m")["token"].clone();
    h.admin(
        "POST",
        &format!("/v1/admin/licenses/{id}/revoke"),
        Some(json!({})),
    );
    assert_eq!(client.validate(), Err(licet::Error::Revoked));
    let revoked = read_cache(dir.path());
    assert_eq!(revoked["state"]["verdict"], "LICENSE_REVOKED");

    type Edit = fn(&mut serde_json::Value, &serde_json::Value);
    let edits: [(&str, &serde_json::Value, Edit); 7] = [
        ("verdict removed", &revoked, |c, _| {
            c["state"]["verdict"] = serde_json::Value::Null
        }),
        ("verdict field deleted", &revoked, |c, _| {
            c["state"].as_object_mut().expect("state").remove("verdict");
        }),
        ("token swapped", &valid, |c, t| {
            c["state"]["token"] = t.clone()
        }),
        ("mac stripped", &valid, |c, _| {
            c.as_object_mut().expect("file").remove("mac");
        }),
        ("mac of another file", &valid, |c, _| {
            c["mac"] = "AAAA".into()
        }),
        ("clock offset added", &valid, |c, _| {
            c["state"]["clock_offset"] = (-86_400).into()
        }),
        ("seal kind changed", &valid, |c, _| {
            c["state"]["seal"] = "keyring".into()
        }),
    ];
    for (what, base, edit) in edits {
        let mut cache = base.clone();
        edit(&mut cache, &other_token);
        write_cache(dir.path(), &cache);
        let got = h
            .builder(dir.path(), "v1:m", &clock)
            .auto_refresh(false)
            .build()
            .expect("client")
            .check();
        assert!(
            matches!(got, Err(licet::Error::StateTampered(_))),
            "{what}: {got:?}"
        );
    }
}
