//! Offline behaviour: the server is down, the lease runs its course.

use crate::support::*;

#[test]
fn check_works_offline_until_the_lease_ends_then_reports_expired() {
    let mut h = Harness::start(1);
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:m", &clock);
    client.activate(&key).expect("activates");
    h.stop();

    let fresh = h.client(dir.path(), "v1:m", &clock);
    assert!(fresh.check().is_ok(), "valid offline from a fresh process");
    clock.advance(3000);
    let license = fresh
        .check()
        .expect("in the refresh window a network failure keeps the lease");
    assert!(license.offline_secs_left() <= 600);
    assert!(
        matches!(fresh.validate(), Err(licet::Error::Network(_))),
        "network errors stay apart from verdicts"
    );
    clock.advance(700);
    assert_eq!(fresh.check(), Err(licet::Error::LeaseExpired));
    assert_eq!(licet::Error::LeaseExpired.code(), "LEASE_EXPIRED");
    assert!(licet::Error::LeaseExpired.is_verdict());
}

#[test]
fn an_expired_lease_is_renewed_online_when_the_server_is_back() {
    let mut h = Harness::start(1);
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:m", &clock);
    client.activate(&key).expect("activates");
    h.stop();
    clock.advance(4000);
    h.server.clock.advance(4000);
    assert_eq!(client.check(), Err(licet::Error::LeaseExpired));
    h.restart();
    // After the refresh back-off, check goes online again and renews the lease.
    clock.advance(400);
    h.server.clock.advance(400);
    let renewed = client.check().expect("renewed online");
    assert!(renewed.offline_secs_left() > 3000);
}

#[test]
fn a_mistyped_key_is_reported_as_such_even_offline() {
    let mut h = Harness::start(1);
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:m", &clock);
    h.stop();
    for typo in [
        "PHOTO-7KQ2M-XW9RT-D4HNP-38FZC",
        "photo-7kq2m-xw9rt-d4hnp-38fzc-uj6v0",
        "PHOTO 7KQ2M XW9RT D4HNP 38FZC UJ6VB",
        "",
    ] {
        let err = client.activate(typo).expect_err("refused");
        assert_eq!(err, licet::Error::InvalidKey, "{typo:?}");
        assert_eq!(err.code(), "INVALID_KEY_FORMAT");
    }
    // A well-shaped key needs the server to judge it: offline that is a network failure.
    assert!(matches!(
        client.activate(" photo-7kq2m-xw9rt-d4hnp-38fzc-uj6vb "),
        Err(licet::Error::Network(_))
    ));
}

#[test]
fn a_lease_that_ran_out_is_told_apart_from_a_license_that_expired() {
    let mut h = Harness::start(1);
    // The license has two hours left; its leases last one hour.
    let expires_at = h.server.clock_now() + 2 * 3600;
    let lic = h.admin(
        "POST",
        "/v1/admin/licenses",
        Some(serde_json::json!({
            "product": "photo", "email": "ada@example.com", "expires_at": expires_at
        })),
    );
    let key = lic["key"].as_str().expect("key");
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:m", &clock);
    assert_eq!(client.last_license(), Ok(None), "nothing stored yet");
    client.activate(key).expect("activates");
    h.stop();

    clock.advance(3600 + 1800);
    let lease_over = client.check().expect_err("the lease ran out");
    assert_eq!(
        lease_over,
        licet::Error::LeaseExpired,
        "not 'the license expired'"
    );
    assert_eq!(lease_over.code(), "LEASE_EXPIRED");
    assert!(lease_over.to_string().contains("connect"), "{lease_over}");
    // What ran out, for the message to the user: the lease, with the license's end ahead.
    let last = client
        .last_license()
        .expect("read")
        .expect("a stored lease");
    assert_eq!(last.expires_at, Some(expires_at));
    assert_eq!(last.activations_in_use, Some(1), "this machine's seat");
    assert!(last.offline_valid_until < expires_at);
    assert_eq!(last.offline_secs_left(), 0);

    clock.advance(3600);
    let license_over = client.check().expect_err("the license expired");
    assert_eq!(license_over, licet::Error::Expired);
    assert_eq!(license_over.code(), "LICENSE_EXPIRED");
}
