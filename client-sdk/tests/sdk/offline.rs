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
    assert_eq!(fresh.check(), Err(licet::Error::Expired));
    assert!(licet::Error::Expired.is_verdict());
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
    assert_eq!(client.check(), Err(licet::Error::Expired));
    h.restart();
    // After the refresh back-off, check goes online again and renews the lease.
    clock.advance(400);
    h.server.clock.advance(400);
    let renewed = client.check().expect("renewed online");
    assert!(renewed.offline_secs_left() > 3000);
}
