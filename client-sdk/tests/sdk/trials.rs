//! Trials through the SDK: started without a key, checked offline like a license, never
//! restarted on the same machine, refused offline once they end, and converted by a key.

use serde_json::json;

use crate::support::*;

const DAY: i64 = 86_400;

/// The harness's product, offering a 14-day trial.
fn with_trial(seats: u32) -> Harness {
    let h = Harness::start(seats);
    h.admin(
        "PATCH",
        "/v1/admin/products/photo",
        Some(json!({ "trial": { "duration_secs": 14 * DAY, "entitlements": ["trial-pro"] } })),
    );
    h
}

#[test]
fn a_trial_starts_without_a_key_and_checks_offline_like_a_license() {
    let mut h = with_trial(1);
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:machine-a", &clock);
    assert!(matches!(client.check(), Err(licet::Error::NotActivated(_))));
    let trial = client.start_trial().expect("a trial");
    assert!(trial.is_trial());
    let ends = trial.trial_ends_at().expect("an end");
    assert!((13 * DAY..=14 * DAY).contains(&(ends - trial.checked_at)));
    assert!(trial.has_entitlement("trial-pro") && !trial.has_entitlement("pro"));
    assert_eq!(
        client.license_key().expect("read"),
        None,
        "no key is stored"
    );

    h.stop();
    let offline = client.check().expect("valid offline");
    assert!(offline.is_trial());
    assert_eq!(offline.trial_ends_at(), Some(ends));

    // The lease (an hour) ran out: renewed online from the trial endpoint, same end.
    h.restart();
    clock.advance(2 * 3600);
    h.server.clock.advance(2 * 3600);
    let renewed = client.check().expect("renewed online");
    assert_eq!(renewed.trial_ends_at(), Some(ends));
    assert!(renewed.offline_valid_until > offline.offline_valid_until);
}

#[test]
fn reinstalling_the_app_resumes_the_same_trial() {
    let h = with_trial(1);
    let clock = clock();
    let first_dir = tempfile::tempdir().expect("dir");
    let first = h
        .client(first_dir.path(), "v1:machine-a", &clock)
        .start_trial()
        .expect("a trial");
    // Everything the app stored is gone; the machine is the same.
    drop(first_dir);
    let dir = tempfile::tempdir().expect("dir");
    let again = h
        .client(dir.path(), "v1:machine-a", &clock)
        .start_trial()
        .expect("the same trial");
    assert_eq!(again.id, first.id);
    assert_eq!(again.trial_ends_at(), first.trial_ends_at());
}

#[test]
fn an_ended_trial_is_reported_offline_and_online() {
    let mut h = with_trial(1);
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:machine-a", &clock);
    client.start_trial().expect("a trial");

    h.stop();
    clock.advance(14 * DAY + 60);
    assert_eq!(
        client.check().expect_err("ended"),
        licet::Error::TrialExpired,
        "offline, without the server"
    );

    h.restart();
    h.server.clock.advance(14 * DAY + 60);
    let fresh = h.client(
        tempfile::tempdir().expect("dir").path(),
        "v1:machine-a",
        &clock,
    );
    assert_eq!(
        fresh.start_trial().expect_err("never restarted"),
        licet::Error::TrialExpired
    );
    assert_eq!(licet::Error::TrialExpired.code(), "TRIAL_EXPIRED");
}

#[test]
fn a_license_key_takes_over_from_the_trial() {
    let h = with_trial(1);
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:machine-a", &clock);
    client.start_trial().expect("a trial");
    let license = client.activate(&key).expect("activates");
    assert!(!license.is_trial());
    assert_eq!(license.trial_ends_at(), None);
    let checked = client.check().expect("licensed");
    assert!(!checked.is_trial() && checked.has_entitlement("pro"));
    // With a key stored, asking for a trial answers the license.
    assert!(!client.start_trial().expect("the license").is_trial());
    let stats = h.admin("GET", "/v1/admin/trials/stats", None);
    assert_eq!(stats["items"][0]["converted"], 1);
}

#[test]
fn a_product_without_a_trial_says_so() {
    let h = Harness::start(1);
    let dir = tempfile::tempdir().expect("dir");
    let client = h.client(dir.path(), "v1:machine-a", &clock());
    assert_eq!(
        client.start_trial().expect_err("none offered"),
        licet::Error::TrialNotAvailable
    );
}
