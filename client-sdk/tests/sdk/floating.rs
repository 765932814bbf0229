//! Floating seats through the SDK: the `Seat` guard takes a seat, renews it in the
//! background (a thread, or a task of the caller's runtime for the async API), gives it
//! back when dropped, holds it only until its lease ends after a crash, reports a lost seat,
//! borrows one for offline use, and stops licensing the app once given back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use licet::{Clock, Error, NotActivatedReason, SeatStatus};

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

/// [`seat_client`] whose seats renew every `every` instead of at half the lease.
fn renewing_client(
    h: &Harness,
    fpr: &str,
    clock: &Arc<TestClock>,
    every: Duration,
) -> (tempfile::TempDir, licet::Client) {
    let dir = tempfile::tempdir().expect("dir");
    let client = h
        .floating_builder(dir.path(), fpr, clock)
        .seat_renew_interval(every)
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

/// [`eventually`] for async tests: polls without blocking a worker of the runtime.
async fn eventually_async(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// Runs harness code (which drives the server's own runtime) from an async test.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
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
    let (_a, a) = renewing_client(&h, "v1:machine-a", &clock, Duration::from_millis(200));
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
    let (_a, a) = renewing_client(&h, "v1:machine-a", &clock, Duration::from_millis(100));
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

#[test]
fn a_released_seat_no_longer_licenses_the_app_but_its_key_is_kept() {
    let h = Harness::start(1);
    let (_, key) = h.floating(1);
    let clock = clock();
    let (dir, a) = seat_client(&h, "v1:machine-a", &clock);
    let no_license = Some(Error::NotActivated(NotActivatedReason::NoLicense));

    let seat = a.checkout_with_key(&key).expect("seat");
    assert!(a.check().is_ok());
    seat.release().expect("released");
    // If this fails, an app that gave its seat back (and another machine took it) would
    // still run licensed from the stored lease until that lease ended.
    assert_eq!(a.check().err(), no_license);
    assert_eq!(a.license_key().expect("read"), Some(key.clone()));

    // Dropping the guard does the same, and the next checkout needs no key.
    let seat = a.checkout().expect("the stored key checks out again");
    assert!(a.check().is_ok());
    drop(seat);
    assert_eq!(a.check().err(), no_license);
    // Written down, not only in memory: a restarted app agrees.
    let restarted = h
        .floating_builder(dir.path(), "v1:machine-a", &clock)
        .build()
        .expect("client");
    assert_eq!(restarted.check().err(), no_license);
}

#[test]
fn seat_instances_share_a_machine_but_each_holds_its_own_seat() {
    let h = Harness::start(1);
    let (_, key) = h.floating(2);
    let clock = clock();
    let instance = |id: &str| {
        let dir = tempfile::tempdir().expect("dir");
        let client = h
            .floating_builder(dir.path(), "v1:shared-runner", &clock)
            .seat_instance(id)
            .build()
            .expect("client");
        (dir, client)
    };
    let (_w1, worker1) = instance("worker-1");
    let (_w2, worker2) = instance("worker-2");
    let (_w1b, worker1_again) = instance("worker-1");
    let (_w3, worker3) = instance("worker-3");

    let seat1 = worker1.checkout_with_key(&key).expect("worker-1");
    let seat2 = worker2
        .checkout_with_key(&key)
        .expect("worker-2 on the same machine");
    assert_ne!(seat1.id(), seat2.id(), "two instances, two seats");
    let same = worker1_again
        .checkout_with_key(&key)
        .expect("the same instance again");
    assert_eq!(same.id(), seat1.id(), "the same instance holds one seat");
    assert!(
        matches!(
            worker3.checkout_with_key(&key),
            Err(Error::NoFreeSeat { .. })
        ),
        "two seats are in use, not three"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_async_seat_is_renewed_by_a_task_and_release_async_frees_it() {
    let h = blocking(|| Harness::start(1));
    let (_, key) = blocking(|| h.floating(1));
    let clock = clock();
    let (_a, a) = renewing_client(&h, "v1:machine-a", &clock, Duration::from_millis(200));
    let (_b, b) = seat_client(&h, "v1:machine-b", &clock);

    let seat = a.checkout_with_key_async(&key).await.expect("seat");
    assert_eq!(seat.status(), SeatStatus::Held);
    let first_end = seat.lease_ends_at();
    h.server.clock.advance(100);
    clock.advance(100);
    assert!(
        eventually_async(|| seat.lease_ends_at() >= first_end + 100).await,
        "renewed: {} vs {first_end}",
        seat.lease_ends_at()
    );
    // Past the first lease's end, the seat is still held thanks to the renewal.
    h.server.clock.advance(100);
    clock.advance(100);
    assert!(matches!(
        b.checkout_with_key_async(&key).await,
        Err(Error::NoFreeSeat { .. })
    ));

    seat.release_async().await.expect("released");
    assert_eq!(
        a.check().err(),
        Some(Error::NotActivated(NotActivatedReason::NoLicense))
    );
    let other = b
        .checkout_with_key_async(&key)
        .await
        .expect("the released seat is free at once");
    other.release_async().await.expect("released");
    blocking(move || drop(h));
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_an_async_seat_releases_it_from_its_runtime() {
    let h = blocking(|| Harness::start(1));
    let (_, key) = blocking(|| h.floating(1));
    let clock = clock();
    let (_a, a) = seat_client(&h, "v1:machine-a", &clock);
    let (_b, b) = seat_client(&h, "v1:machine-b", &clock);

    let seat = a.checkout_with_key_async(&key).await.expect("seat");
    assert!(matches!(
        b.checkout_with_key_async(&key).await,
        Err(Error::NoFreeSeat { .. })
    ));
    drop(seat);
    // The release runs on a task of this runtime: soon, not at once.
    let start = Instant::now();
    let other = loop {
        match b.checkout_with_key_async(&key).await {
            Ok(seat) => break seat,
            Err(Error::NoFreeSeat { .. }) if start.elapsed() < Duration::from_secs(3) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the dropped seat was not released: {e:?}"),
        }
    };
    assert_eq!(other.status(), SeatStatus::Held);
    assert!(a.check().is_err(), "the dropped seat's lease is forgotten");
    other.release_async().await.expect("released");
    blocking(move || drop(h));
}
