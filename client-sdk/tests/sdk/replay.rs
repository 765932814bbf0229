//! What a server the SDK cannot authenticate can do to its clock: nothing. A `Date` header is
//! unsigned, and an `http://` URL or a certificate authority the user controls puts a fake
//! server in front of the app; the only times the SDK trusts are its own clock and the signed
//! `iat` of a lease, and neither may move its time back.

use serde_json::json;

use crate::support::*;

fn revoke(h: &Harness, id: &str) {
    h.admin(
        "POST",
        &format!("/v1/admin/licenses/{id}/revoke"),
        Some(json!({})),
    );
}

/// The attack of issue 10: a fake server replays an old genuine lease with `Date` set to the
/// lease's `iat`. If this fails, a revoked license activates from a replay and every later
/// check passes (the SDK used to move its clock back to the `Date` it was sent).
#[test]
fn a_fake_server_replaying_an_old_lease_cannot_activate_a_revoked_license() {
    let h = Harness::start(3);
    let (id, key) = h.license();
    // Early on, the attacker activates once and keeps the server's answer.
    let captured = h.genuine_lease(&key, "v1:m");
    let iat = claims_of(captured["token"].as_str().expect("token")).iat;
    // Two days later the vendor revokes the license.
    let clock = clock();
    clock.advance(2 * 86_400);
    h.server.clock.advance(2 * 86_400);
    revoke(&h, &id);

    let fake = FakeServer::start(&h, &captured, Some(iat));
    let dir = tempfile::tempdir().expect("dir");
    let client = h
        .builder_at(&fake.url, dir.path(), "v1:m", &clock)
        .build()
        .expect("client");
    assert_eq!(client.activate(&key), Err(licet::Error::LeaseExpired));
    assert_eq!(
        fake.paths(),
        ["/v1/licenses/activate"],
        "the fake was asked"
    );
    assert!(!lease_path(dir.path()).exists(), "nothing was stored");
    for _ in 0..3 {
        assert!(client.check().is_err(), "and no later check passes");
    }
    let later = h
        .builder_at(&fake.url, dir.path(), "v1:m", &clock)
        .build()
        .expect("client");
    assert!(later.check().is_err(), "nor in a new process");
}

/// A machine that learned "revoked" keeps it against a replay of a lease signed before the
/// verdict, still within its lifetime, with or without the clock set back to the lease's
/// time. If this fails, a fake server (or anyone who can answer for it) lifts a revocation.
#[test]
fn a_replayed_lease_cannot_clear_a_recorded_revocation() {
    let h = Harness::start(3);
    let (id, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let captured = h.genuine_lease(&key, "v1:m");
    let iat = claims_of(captured["token"].as_str().expect("token")).iat;
    let client = h.client(dir.path(), "v1:m", &clock);
    client.activate(&key).expect("activates");

    // Twenty minutes later the license is revoked and the app learns it online.
    clock.advance(1200);
    h.server.clock.advance(1200);
    revoke(&h, &id);
    assert_eq!(client.validate(), Err(licet::Error::Revoked));

    let fake = FakeServer::start(&h, &captured, Some(iat));
    for set_back in [0, -1200] {
        clock.advance(set_back);
        let faked = h
            .builder_at(&fake.url, dir.path(), "v1:m", &clock)
            .build()
            .expect("client");
        let activated = faked.activate(&key);
        assert!(
            matches!(activated, Err(licet::Error::InvalidToken(_))),
            "an older lease than the verdict is refused: {activated:?}"
        );
        assert!(
            matches!(faked.validate(), Err(licet::Error::InvalidToken(_))),
            "validate does not accept it either"
        );
        assert_eq!(faked.check(), Err(licet::Error::Revoked));
        assert_eq!(
            h.client(dir.path(), "v1:m", &clock).check(),
            Err(licet::Error::Revoked),
            "the verdict is still on disk"
        );
    }
    assert_eq!(fake.requests(), 4, "every refusal followed a real answer");
}

/// A fresh, genuine lease is judged by its own signed times whatever `Date` comes with it. If
/// this fails, an unsigned header shifts the SDK's clock: forward it expires valid leases,
/// back it extends old ones.
#[test]
fn the_date_header_never_moves_the_sdks_clock() {
    let h = Harness::start(3);
    let (_, key) = h.license();
    let genuine = h.genuine_lease(&key, "v1:m");
    let clock = clock();
    let now = licet::Clock::now(clock.as_ref());
    for skew in [10 * 86_400, -10 * 86_400] {
        let fake = FakeServer::start(&h, &genuine, Some(now + skew));
        let dir = tempfile::tempdir().expect("dir");
        let client = h
            .builder_at(&fake.url, dir.path(), "v1:m", &clock)
            .auto_refresh(false)
            .build()
            .expect("client");
        let license = client
            .activate(&key)
            .unwrap_or_else(|e| panic!("Date {skew:+} s: {e:?}"));
        assert!(
            (3500..=3600).contains(&license.offline_secs_left()),
            "{license:?}"
        );
        let checked = client.check().expect("valid");
        assert!((checked.checked_at - now).abs() < 5, "{checked:?}");
        assert_eq!(fake.requests(), 1);
    }
}
