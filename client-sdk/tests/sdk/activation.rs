//! Activation, refresh, verdicts and deactivation, online.

use serde_json::json;

use crate::support::*;

#[test]
fn activation_then_check_then_reactivation_on_the_same_machine() {
    let h = Harness::start(1);
    let (id, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:machine-a", &clock);
    assert!(matches!(
        client.check(),
        Err(licet::Error::NotActivated(
            licet::NotActivatedReason::NoLicense
        ))
    ));

    let license = client.activate(&key).expect("activates");
    assert_eq!(license.product, "photo");
    assert_eq!(license.id, id);
    assert!(license.has_entitlement("pro") && !license.has_entitlement("enterprise"));
    assert_eq!(license.email.as_deref(), Some("ada@example.com"));
    assert!((3500..=3600).contains(&license.offline_secs_left()));

    let checked = client.check().expect("valid offline");
    assert_eq!(checked.entitlements, ["pro"]);
    assert!(client.has_entitlement("pro"));

    // A second client in a new process (same storage) reads the lease from disk.
    let again = h.client(dir.path(), "v1:machine-a", &clock);
    assert_eq!(again.check().expect("valid").id, id);
    again.activate(&key).expect("re-activation is idempotent");
    assert_eq!(h.seats_in_use(&id), 1);
}

#[test]
fn the_vendors_license_metadata_is_read_offline_and_follows_changes_online() {
    let mut h = Harness::start(1);
    let (id, key) = h.license();
    h.admin(
        "PATCH",
        &format!("/v1/admin/licenses/{id}"),
        Some(json!({ "metadata": { "edition": "studio", "crm_id": "C-1042" } })),
    );
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:machine-a", &clock);
    let license = client.activate(&key).expect("activates");
    assert_eq!(license.metadata_value("edition"), Some("studio"));
    assert_eq!(license.metadata.len(), 2);
    assert_eq!(license.metadata_value("missing"), None);

    h.stop();
    let offline = client.check().expect("valid offline");
    assert_eq!(
        offline.metadata_value("crm_id"),
        Some("C-1042"),
        "from the signed lease"
    );

    h.restart();
    h.admin(
        "PATCH",
        &format!("/v1/admin/licenses/{id}"),
        Some(json!({ "metadata": {} })),
    );
    let refreshed = client.validate().expect("validates");
    assert!(refreshed.metadata.is_empty(), "{:?}", refreshed.metadata);
}

#[test]
fn validating_a_lease_that_still_stands_keeps_it_and_nothing_is_signed() {
    let h = Harness::start(1);
    let (id, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:machine-a", &clock);
    client.activate(&key).expect("activates");
    let stored = std::fs::read(lease_path(dir.path())).expect("lease stored");

    clock.advance(300);
    let license = client.validate().expect("validates");
    assert_eq!(license.id, id);
    assert_eq!(h.metric("licet_validations_unchanged_total"), 1);
    assert_eq!(
        std::fs::read(lease_path(dir.path())).expect("lease"),
        stored,
        "the stored lease stays as it was"
    );
    assert_eq!(client.check().expect("valid offline").id, id);

    // A change on the server is a fresh lease at once.
    h.admin(
        "PATCH",
        &format!("/v1/admin/licenses/{id}"),
        Some(json!({ "entitlements": ["pro", "beta"] })),
    );
    assert!(
        client
            .validate()
            .expect("validates")
            .has_entitlement("beta")
    );
    assert_eq!(h.metric("licet_validations_unchanged_total"), 1);
    // And so is a verdict.
    h.admin(
        "POST",
        &format!("/v1/admin/licenses/{id}/suspend"),
        Some(json!({})),
    );
    assert_eq!(client.validate(), Err(licet::Error::Suspended));
}

#[test]
fn a_second_and_third_machine_hit_the_activation_limit() {
    let h = Harness::start(1);
    let (id, key) = h.license();
    let clock = clock();
    let first = tempfile::tempdir().expect("dir");
    h.client(first.path(), "v1:one", &clock)
        .activate(&key)
        .expect("first seat");
    for fpr in ["v1:two", "v1:three"] {
        let dir = tempfile::tempdir().expect("dir");
        let client = h.client(dir.path(), fpr, &clock);
        let err = client.activate(&key).expect_err("no seat left");
        assert_eq!(err, licet::Error::ActivationLimitReached);
        assert_eq!(err.code(), "ACTIVATION_LIMIT_REACHED");
        assert!(
            !lease_path(dir.path()).exists(),
            "nothing stored after a refusal"
        );
    }
    assert_eq!(h.seats_in_use(&id), 1);
}

#[test]
fn wrong_keys_are_refused() {
    let h = Harness::start(1);
    let dir = tempfile::tempdir().expect("dir");
    let client = h.client(dir.path(), "v1:m", &clock());
    assert_eq!(
        client.activate("PHOTO-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"),
        Err(licet::Error::InvalidKey)
    );
}

#[test]
fn revocation_on_the_server_is_seen_at_the_next_refresh_and_cached() {
    let mut h = Harness::start(2);
    let (id, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:m", &clock);
    client.activate(&key).expect("activates");
    h.admin(
        "POST",
        &format!("/v1/admin/licenses/{id}/revoke"),
        Some(json!({})),
    );
    assert!(
        client.check().is_ok(),
        "offline, the lease is still valid before its refresh window"
    );

    // Into the last quarter of the lease: check refreshes and learns the verdict.
    clock.advance(2800);
    assert_eq!(client.check(), Err(licet::Error::Revoked));
    // The verdict is cached: offline, in a new process, it holds.
    h.stop();
    let later = h.client(dir.path(), "v1:m", &clock);
    assert_eq!(later.check(), Err(licet::Error::Revoked));
    h.restart();
}

#[test]
fn suspension_is_seen_by_validate_and_lifted_by_reinstatement() {
    let h = Harness::start(2);
    let (id, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let client = h.client(dir.path(), "v1:m", &clock());
    client.activate(&key).expect("activates");
    h.admin(
        "POST",
        &format!("/v1/admin/licenses/{id}/suspend"),
        Some(json!({})),
    );
    assert_eq!(client.validate(), Err(licet::Error::Suspended));
    assert_eq!(client.check(), Err(licet::Error::Suspended));
    h.admin(
        "POST",
        &format!("/v1/admin/licenses/{id}/reinstate"),
        Some(json!({})),
    );
    client.validate().expect("valid again");
    client.check().expect("the cached verdict is cleared");
}

#[test]
fn a_reinstated_license_works_at_the_next_check_without_validate() {
    let h = Harness::start(2);
    let (id, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), "v1:m", &clock);
    client.activate(&key).expect("activates");
    h.admin(
        "POST",
        &format!("/v1/admin/licenses/{id}/suspend"),
        Some(json!({})),
    );
    assert_eq!(client.validate(), Err(licet::Error::Suspended));
    h.admin(
        "POST",
        &format!("/v1/admin/licenses/{id}/reinstate"),
        Some(json!({})),
    );
    // The verdict was just learned: within the minute, check answers from it, offline.
    assert_eq!(client.check(), Err(licet::Error::Suspended));
    // A minute on, check asks the server again and learns the reinstatement.
    clock.advance(61);
    client.check().expect("reinstated at the next check");
    client.check().expect("and offline afterwards");
}

#[test]
fn deactivation_frees_the_seat_and_forgets_the_license_locally() {
    let h = Harness::start(1);
    let (id, key) = h.license();
    let clock = clock();
    let old = tempfile::tempdir().expect("dir");
    let old_pc = h.client(old.path(), "v1:old-pc", &clock);
    old_pc.activate(&key).expect("activates");
    old_pc.deactivate().expect("deactivates");
    assert_eq!(h.seats_in_use(&id), 0);
    assert!(matches!(old_pc.check(), Err(licet::Error::NotActivated(_))));
    assert!(!lease_path(old.path()).exists());

    let new = tempfile::tempdir().expect("dir");
    h.client(new.path(), "v1:new-pc", &clock)
        .activate(&key)
        .expect("the seat is free");
}

#[test]
fn deactivation_succeeds_when_the_server_already_forgot_the_machine() {
    let h = Harness::start(1);
    let (id, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let client = h.client(dir.path(), "v1:m", &clock());
    let lic = client.activate(&key).expect("activates");
    let shown = h.admin("GET", &format!("/v1/admin/licenses/{}", lic.id), None);
    let act = shown["activations"][0]["id"]
        .as_str()
        .expect("activation id")
        .to_owned();
    h.admin(
        "DELETE",
        &format!("/v1/admin/licenses/{id}/activations/{act}"),
        None,
    );
    assert!(matches!(
        client.validate(),
        Err(licet::Error::NotActivated(
            licet::NotActivatedReason::ServerForgot
        ))
    ));
    client.deactivate().expect("forgets locally anyway");
    assert!(!lease_path(dir.path()).exists());
}

#[test]
fn one_client_serves_many_threads() {
    let h = Harness::start(1);
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let client = h.client(dir.path(), "v1:m", &clock());
    client.activate(&key).expect("activates");
    std::thread::scope(|s| {
        for _ in 0..8 {
            let c = client.clone();
            s.spawn(move || {
                for _ in 0..200 {
                    assert!(c.check().expect("valid").has_entitlement("pro"));
                }
            });
        }
    });
}
