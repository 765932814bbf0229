//! Floating seats through the SDK: the `Seat` guard takes a seat, renews it in the
//! background, gives it back when dropped, holds it only until its lease ends after a
//! crash, reports a lost seat, and borrows one for offline use.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use licet::{Clock, Error, SeatStatus};

use crate::support::*;

/// A client of the floating product for machine `fpr`, in a new directory.
fn seat_client(
    h: &Harness,
    fpr: &str,
    clock: &Arc<TestClock>,
) -> (tempfile::TempDir, licet::Client) {
    let dir = tempfile::tempdir().expect("dir");
    let client = h
        .floating_builder(dir.path(), fpr, clock)
        .build()
        .expect("client");
    (dir, client)
}

/// Polls `cond` for up to 3 s.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

#[test]
fn two_seats_two_holders_and_the_third_waits_until_one_is_dropped() {
    let h = Harness::start(1);
    let (_, key) = h.floating(2);
    let clock = clock();
    let (_a, a) = seat_client(&h, "v1:machine-a", &clock);
    let (_b, b) = seat_client(&h, "v1:machine-b", &clock);
    let (_c, c) = seat_client(&h, "v1:machine-c", &clock);

    let seat_a = a.checkout_with_key(&key).expect("seat a");
    let seat_b = b.checkout_with_key(&key).expect("seat b");
    assert_eq!(seat_a.status(), SeatStatus::Held);
    assert!(!seat_a.is_borrowed());
    assert_ne!(seat_a.id(), seat_b.id());
    assert!(seat_a.lease_ends_at() > h.server.clock.now());
    // The seat's lease is stored like any lease: the app checks offline.
    assert!(a.check().is_ok());
    // The key was stored: a later checkout needs none.
    assert_eq!(a.license_key().expect("read"), Some(key.clone()));

    match c.checkout_with_key(&key) {
        Err(Error::NoFreeSeat { retry_after }) => {
            let secs = retry_after.expect("a Retry-After");
            assert!((1..=120).contains(&secs), "{secs}");
        }
        other => panic!("expected NoFreeSeat, got {other:?}"),
    }

    drop(seat_a);
    let seat_c = c
        .checkout_with_key(&key)
        .expect("the dropped seat is free at once");
    assert_eq!(seat_c.status(), SeatStatus::Held);
    seat_c.release().expect("released");
    drop(seat_b);
}

#[test]
fn a_crashed_holder_keeps_its_seat_only_until_the_lease_ends() {
    let h = Harness::start(1);
    let (_, key) = h.floating(1);
    let clock = clock();
    let (_a, a) = seat_client(&h, "v1:machine-a", &clock);
    let (_b, b) = seat_client(&h, "v1:machine-b", &clock);

    let seat = a.checkout_with_key(&key).expect("seat");
    // A crash: no release, no more renewals.
    std::mem::forget(seat);
    // (The forgotten guard's thread still sleeps toward its next renewal, a minute away on
    // the real clock; the test ends long before.)
    assert!(matches!(
        b.checkout_with_key(&key),
        Err(Error::NoFreeSeat { .. })
    ));
    h.server.clock.advance(60);
    assert!(matches!(
        b.checkout_with_key(&key),
        Err(Error::NoFreeSeat { .. })
    ));
    h.server.clock.advance(61);
    clock.advance(121);
    let seat = b
        .checkout_with_key(&key)
        .expect("free once the lease ended");
    assert_eq!(seat.status(), SeatStatus::Held);
}

#[test]
fn the_guard_renews_its_seat_in_the_background() {
    let h = Harness::start(1);
    let (_, key) = h.floating(1);
    let clock = clock();
    let dir = tempfile::tempdir().expect("dir");
    let a = h
        .floating_builder(dir.path(), "v1:machine-a", &clock)
        .seat_renew_interval(Duration::from_millis(200))
        .build()
        .expect("client");
    let (_b, b) = seat_client(&h, "v1:machine-b", &clock);

    let seat = a.checkout_with_key(&key).expect("seat");
    let first_end = seat.lease_ends_at();
    h.server.clock.advance(100);
    clock.advance(100);
    assert!(
        eventually(|| seat.lease_ends_at() >= first_end + 100),
        "renewed: {} vs {first_end}",
        seat.lease_ends_at()
    );
    // Past the first lease's end, the seat is still held thanks to the renewal.
    h.server.clock.advance(100);
    clock.advance(100);
    assert!(matches!(
        b.checkout_with_key(&key),
        Err(Error::NoFreeSeat { .. })
    ));
    assert_eq!(seat.status(), SeatStatus::Held);
}

#[test]
fn a_revoked_license_makes_the_next_renewal_report_the_seat_lost() {
    let h = Harness::start(1);
    let (id, key) = h.floating(1);
    let clock = clock();
    let dir = tempfile::tempdir().expect("dir");
    let a = h
        .floating_builder(dir.path(), "v1:machine-a", &clock)
        .seat_renew_interval(Duration::from_millis(100))
        .build()
        .expect("client");
    let seat = a.checkout_with_key(&key).expect("seat");
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    seat.on_lost(Box::new(move |status| {
        assert!(matches!(status, SeatStatus::Lost { .. }));
        seen.fetch_add(1, Ordering::SeqCst);
    }));

    h.admin("POST", &format!("/v1/admin/licenses/{id}/revoke"), None);
    assert!(
        eventually(|| matches!(seat.status(), SeatStatus::Lost { .. })),
        "{:?}",
        seat.status()
    );
    assert_eq!(
        seat.status(),
        SeatStatus::Lost {
            reason: Error::Revoked
        }
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "called once");
    // The verdict is cached: the app is refused offline too.
    assert_eq!(a.check().err(), Some(Error::Revoked));
    // Nothing to give back: release reports no error.
    seat.release().expect("nothing to release");
}

#[test]
fn a_borrowed_seat_works_offline_and_is_returned_early() {
    let mut h = Harness::start(1);
    let (_, key) = h.floating(1);
    let clock = clock();
    let (_a, a) = seat_client(&h, "v1:machine-a", &clock);
    let (_b, b) = seat_client(&h, "v1:machine-b", &clock);

    let seat = a.checkout_with_key(&key).expect("seat");
    seat.borrow(Duration::from_secs(3 * 86_400))
        .expect("borrowed");
    assert!(seat.is_borrowed());
    assert!(seat.lease_ends_at() >= h.server.clock.now() + 3 * 86_400 - 60);
    let claims = claims_of(&seat.token());
    assert!(claims.lic.seat.expect("a seat claim").borrowed);

    // Offline for two days: the stored borrow still licenses the app.
    h.stop();
    clock.advance(2 * 86_400);
    assert!(a.check().is_ok(), "{:?}", a.check());
    h.restart();
    h.server.clock.advance(2 * 86_400);
    // In the borrow's last quarter, online: `check` leaves the seat's lease to the guard
    // (the server's `validate` knows no floating seats) and still answers valid.
    clock.advance(86_400 / 2);
    h.server.clock.advance(86_400 / 2);
    assert!(a.check().is_ok(), "{:?}", a.check());
    assert!(matches!(
        b.checkout_with_key(&key),
        Err(Error::NoFreeSeat { .. })
    ));

    seat.return_borrowed().expect("returned");
    b.checkout_with_key(&key)
        .expect("the returned seat is free");
}
