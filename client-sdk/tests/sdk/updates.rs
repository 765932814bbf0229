//! Updates through the SDK: the newest release of the client's channel and platform that
//! the license covers, word of the newer ones it does not, and downloads that are verified
//! against the signed manifest before they land, resume after interruptions, and leave
//! nothing behind when refused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use sha2::Digest;

use crate::support::*;

const DAY: i64 = 86_400;
const MACHINE: &str = "v1:machine-a";

/// This machine's platform: the one `check_for_update` asks for.
fn own() -> String {
    licet::fingerprint::update_platform()
}

/// A platform this machine is not.
fn other() -> &'static str {
    if own() == "windows-x86_64" {
        "linux-x86_64"
    } else {
        "windows-x86_64"
    }
}

/// The bytes of a version's file for a platform (~125 KB: many chunks).
fn bytes_of(version: &str, platform: &str) -> Vec<u8> {
    format!("{version} for {platform}. ")
        .repeat(5000)
        .into_bytes()
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A published release with this machine's file only.
fn release_here(h: &Harness, version: &str) -> String {
    h.release(
        version,
        "stable",
        &[(&own(), &bytes_of(version, &own()))],
        json!({}),
    )
}

/// Files in `dir` whose name ends with `.part`.
fn partial_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect()
}

/// Every `(downloaded, total)` a progress callback was called with.
type Calls = Arc<Mutex<Vec<(u64, u64)>>>;

/// A progress callback that records every call.
fn recorder() -> (Calls, impl FnMut(u64, u64) + Send + 'static) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let sink = calls.clone();
    (calls, move |done, total| {
        sink.lock().expect("calls").push((done, total))
    })
}

/// Machine A, activated with a new license, its client, and the update it is offered from
/// 1.0.0.
fn offered(
    h: &Harness,
    clock: &Arc<TestClock>,
) -> (tempfile::TempDir, licet::Client, licet::Update) {
    let (dir, _, _) = h.activated(MACHINE, clock);
    let client = h.client(dir.path(), MACHINE, clock);
    let update = update_from_1_0_0(&client);
    (dir, client, update)
}

/// The update `client` is offered from 1.0.0 (there must be one).
fn update_from_1_0_0(client: &licet::Client) -> licet::Update {
    client
        .check_for_update("1.0.0", None)
        .expect("checked")
        .expect("an update")
}

fn downloads_of(h: &Harness, release_id: &str) -> u64 {
    h.admin("GET", &format!("/v1/admin/releases/{release_id}"), None)["artifacts"][0]["downloads"]
        .as_u64()
        .expect("downloads")
}

fn verification_error(e: licet::Error) -> String {
    match e {
        licet::Error::UpdateVerification { reason } => reason,
        other => panic!("expected a verification error, got {other:?}"),
    }
}

#[test]
fn the_newest_release_of_the_clients_channel_and_platform_is_offered() {
    let h = Harness::start(2);
    let (own, other) = (own(), other());
    h.release(
        "1.0.0",
        "stable",
        &[
            (&own, &bytes_of("1.0.0", &own)),
            (other, &bytes_of("1.0.0", other)),
        ],
        json!({}),
    );
    let stable = release_here(&h, "1.1.0");
    h.release(
        "1.2.0-beta.1",
        "beta",
        &[(&own, &bytes_of("1.2.0-beta.1", &own))],
        json!({}),
    );
    // Only for the other platform: never offered here.
    h.release(
        "1.3.0",
        "stable",
        &[(other, &bytes_of("1.3.0", other))],
        json!({}),
    );
    let clock = clock();
    let (dir, _, _) = h.activated(MACHINE, &clock);
    let client = h.client(dir.path(), MACHINE, &clock);
    assert_eq!(client.update_platform(), own);

    let update = client
        .check_for_update("1.0.0", None)
        .expect("checked")
        .expect("an update");
    let expected = bytes_of("1.1.0", &own);
    assert!(update.is_allowed());
    assert_eq!(update.version(), "1.1.0");
    assert_eq!(update.channel(), "stable");
    assert_eq!(update.notes(), "What is new in 1.1.0");
    assert_eq!(update.platform(), own);
    assert_eq!(update.file_name(), format!("Photo-{own}.bin"));
    assert_eq!(update.size(), expected.len() as u64);
    assert_eq!(update.sha256(), sha256_hex(&expected));
    let published = h.admin("GET", &format!("/v1/admin/releases/{stable}"), None)["published_at"]
        .as_i64()
        .expect("published");
    assert_eq!(update.published_at(), published);
    assert_eq!(update.not_allowed_reason(), None);
    assert!(update.newer_not_allowed().is_none());
    // The Debug form leaves out the download URL (a short-lived credential).
    assert!(!format!("{update:?}").contains("sig="));

    assert!(
        client
            .check_for_update("1.1.0", None)
            .expect("checked")
            .is_none(),
        "up to date: 1.3.0 has no file for this platform"
    );

    // A beta client is offered beta and stable releases, the newest of them.
    let beta = client
        .check_for_update("1.0.0", Some("beta"))
        .expect("checked")
        .expect("an update");
    assert_eq!((beta.version(), beta.channel()), ("1.2.0-beta.1", "beta"));

    // A client that asks for the other platform gets that platform's newest.
    let elsewhere = h
        .builder(dir.path(), MACHINE, &clock)
        .update_platform(other)
        .build()
        .expect("client")
        .check_for_update("1.0.0", None)
        .expect("checked")
        .expect("an update");
    assert_eq!(
        (elsewhere.version(), elsewhere.platform()),
        ("1.3.0", other)
    );

    // A yanked release is offered to no one.
    h.admin(
        "POST",
        &format!("/v1/admin/releases/{stable}/yank"),
        Some(json!({})),
    );
    assert!(
        client
            .check_for_update("1.0.0", None)
            .expect("checked")
            .is_none()
    );

    // What the server cannot answer, the SDK names.
    let nowhere = h
        .builder(dir.path(), MACHINE, &clock)
        .update_platform("plan9-mips")
        .build()
        .expect("client");
    assert_eq!(
        nowhere.check_for_update("1.0.0", None).expect_err("none"),
        licet::Error::PlatformNotFound
    );
    assert!(matches!(
        client.check_for_update("1.0", None),
        Err(licet::Error::Config(_))
    ));
    assert!(matches!(
        client.check_for_update("1.0.0", Some("Beta!")),
        Err(licet::Error::Config(_))
    ));
    assert!(matches!(
        h.builder(dir.path(), MACHINE, &clock)
            .update_platform("linux")
            .build(),
        Err(licet::Error::Config(_))
    ));
}

#[test]
fn a_product_with_nothing_published_says_so() {
    let h = Harness::start(1);
    let clock = clock();
    let (dir, _, _) = h.activated(MACHINE, &clock);
    let e = h
        .client(dir.path(), MACHINE, &clock)
        .check_for_update("1.0.0", None)
        .expect_err("nothing published");
    assert_eq!(e, licet::Error::ReleaseNotFound);
    assert_eq!(e.code(), "RELEASE_NOT_FOUND");
    assert!(!e.is_verdict(), "says nothing about the license");
}

#[test]
fn a_perpetual_license_keeps_the_releases_of_its_maintenance_and_hears_of_the_rest() {
    let h = Harness::start(1);
    let now = h.server.clock_now();
    h.release(
        "1.1.0",
        "stable",
        &[(&own(), &bytes_of("1.1.0", &own()))],
        json!({ "published_at": now - 20 * DAY }),
    );
    release_here(&h, "2.0.0");
    // Maintenance ended ten days ago: 1.1.0 is the license's, 2.0.0 is not.
    let (id, key) = h.license();
    h.admin(
        "PATCH",
        &format!("/v1/admin/licenses/{id}"),
        Some(json!({ "updates_until": now - 10 * DAY })),
    );
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let client = h.client(dir.path(), MACHINE, &clock);
    client.activate(&key).expect("activates");

    let update = client
        .check_for_update("1.0.0", None)
        .expect("checked")
        .expect("an update");
    assert!(update.is_allowed());
    assert_eq!(update.version(), "1.1.0");
    let newer = update.newer_not_allowed().expect("word of 2.0.0");
    assert_eq!(newer.version, "2.0.0");
    assert_eq!(newer.reason, licet::NotAllowedReason::UpdatesEnded);
    assert_eq!(newer.updates_until, Some(now - 10 * DAY));

    let beyond = client
        .check_for_update("1.1.0", None)
        .expect("checked")
        .expect("word of 2.0.0");
    assert!(!beyond.is_allowed());
    assert_eq!(beyond.version(), "2.0.0");
    assert!(beyond.published_at() >= now);
    assert_eq!(
        beyond.not_allowed_reason(),
        Some(licet::NotAllowedReason::UpdatesEnded)
    );
    assert_eq!(
        (beyond.size(), beyond.sha256(), beyond.notes()),
        (0, "", "")
    );
    let path = dir.path().join("Photo.bin");
    assert_eq!(
        beyond
            .download_to(&path, |_, _| {})
            .expect_err("not covered"),
        licet::Error::UpdateNotAllowed
    );
    assert!(!path.exists());
}

#[test]
fn a_trial_is_offered_releases_only_when_the_product_says_so() {
    for trial_updates in [false, true] {
        let h = Harness::start(1);
        h.admin(
            "PATCH",
            "/v1/admin/products/photo",
            Some(
                json!({ "trial": { "duration_secs": 14 * DAY, "entitlements": [] },
                         "trial_updates": trial_updates }),
            ),
        );
        let id = release_here(&h, "1.1.0");
        let dir = tempfile::tempdir().expect("dir");
        let clock = clock();
        let client = h.client(dir.path(), MACHINE, &clock);
        client.start_trial().expect("a trial");

        let update = client
            .check_for_update("1.0.0", None)
            .expect("checked")
            .expect("an update, or word of it");
        assert_eq!(update.version(), "1.1.0");
        let path = dir.path().join("Photo.bin");
        if !trial_updates {
            assert!(!update.is_allowed());
            assert_eq!(
                update.not_allowed_reason(),
                Some(licet::NotAllowedReason::TrialExcluded)
            );
            continue;
        }
        // A trial has no key: what it is offered comes by its lease.
        assert!(update.is_allowed());
        update.download_to(&path, |_, _| {}).expect("downloads");
        assert_eq!(
            std::fs::read(&path).expect("file"),
            bytes_of("1.1.0", &own())
        );
        assert_eq!(downloads_of(&h, &id), 1);
    }
}

#[test]
fn the_license_is_proven_by_the_lease_while_it_holds_then_by_the_key() {
    let h = Harness::start(1);
    release_here(&h, "1.1.0");
    let clock = clock();
    let (dir, _, id) = h.activated(MACHINE, &clock);
    let client = h.client(dir.path(), MACHINE, &clock);
    h.admin(
        "POST",
        &format!("/v1/admin/licenses/{id}/suspend"),
        Some(json!({})),
    );
    // The lease still holds (offline too): the server takes its word until it ends.
    assert!(client.check().is_ok());
    let by_lease = client.check_for_update("1.0.0", None).expect("by lease");
    assert_eq!(by_lease.expect("an update").version(), "1.1.0");

    // The lease ran out: the key is sent, and the server reads the license as it is now.
    clock.advance(2 * 3600);
    h.server.clock.advance(2 * 3600);
    assert_eq!(
        client.check_for_update("1.0.0", None).expect_err("by key"),
        licet::Error::Suspended
    );
    h.admin(
        "POST",
        &format!("/v1/admin/licenses/{id}/reinstate"),
        Some(json!({})),
    );
    let update = client
        .check_for_update("1.0.0", None)
        .expect("by key")
        .expect("an update");
    let path = dir.path().join("Photo.bin");
    update.download_to(&path, |_, _| {}).expect("downloads");
    assert_eq!(
        std::fs::read(&path).expect("file"),
        bytes_of("1.1.0", &own())
    );
}

#[test]
fn a_download_is_verified_reported_and_then_put_in_place() {
    let h = Harness::start(1);
    let id = release_here(&h, "1.1.0");
    let (dir, _, update) = offered(&h, &clock());
    let path = dir.path().join("Photo.bin");
    std::fs::write(&path, b"the running version").expect("write");

    let (calls, progress) = recorder();
    update.download_to(&path, progress).expect("downloads");
    let expected = bytes_of("1.1.0", &own());
    assert_eq!(std::fs::read(&path).expect("file"), expected);
    let calls = calls.lock().expect("calls").clone();
    let total = expected.len() as u64;
    assert!(calls.len() > 1, "progress as bytes arrive: {calls:?}");
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "{calls:?}");
    assert!(calls.iter().all(|&(_, t)| t == total));
    assert_eq!(calls.last(), Some(&(total, total)));
    assert!(partial_files(dir.path()).is_empty());
    assert_eq!(downloads_of(&h, &id), 1);

    // The async form does the same.
    let again = dir.path().join("Photo-again.bin");
    h.rt.block_on(update.download_to_async(&again, |_, _| {}))
        .expect("downloads");
    assert_eq!(std::fs::read(&again).expect("file"), expected);
}

#[test]
fn a_file_altered_on_the_server_is_refused_and_nothing_lands() {
    let h = Harness::start(1);
    release_here(&h, "1.1.0");
    let expected = bytes_of("1.1.0", &own());
    // One flipped byte in the middle of the stored file: same size, other bytes.
    let blob = h.blob_path(&sha256_hex(&expected));
    let mut stored = std::fs::read(&blob).expect("stored file");
    assert_eq!(stored, expected);
    let middle = stored.len() / 2;
    stored[middle] ^= 0x01;
    std::fs::write(&blob, &stored).expect("tamper");

    let (dir, _, update) = offered(&h, &clock());
    let path = dir.path().join("Photo.bin");
    std::fs::write(&path, b"the running version").expect("write");
    let fresh = dir.path().join("Fresh.bin");

    for target in [&path, &fresh] {
        let e = update.download_to(target, |_, _| {}).expect_err("refused");
        assert_eq!(e.code(), "UPDATE_VERIFICATION");
        let reason = verification_error(e);
        assert!(reason.contains("SHA-256"), "{reason}");
        assert!(
            partial_files(dir.path()).is_empty(),
            "nothing kept to resume"
        );
    }
    assert_eq!(
        std::fs::read(&path).expect("file"),
        b"the running version",
        "the file already there is untouched"
    );
    assert!(!fresh.exists(), "nothing new at the destination");
}

#[test]
fn an_interrupted_download_resumes_from_its_partial_file() {
    let h = Harness::start(1);
    let id = release_here(&h, "1.1.0");
    let expected = bytes_of("1.1.0", &own());
    let sha = sha256_hex(&expected);
    let (dir, _, update) = offered(&h, &clock());
    let path = dir.path().join("Photo.bin");
    let part = dir.path().join(format!("Photo.bin.{}.part", &sha[..16]));
    let half = expected.len() / 2;
    std::fs::write(&part, &expected[..half]).expect("first half");

    let (calls, progress) = recorder();
    update.download_to(&path, progress).expect("resumes");
    assert_eq!(std::fs::read(&path).expect("file"), expected);
    assert!(!part.exists());
    let first = calls.lock().expect("calls")[0];
    assert_eq!(first.0, half as u64, "starts where the partial file ends");
    // Only a range from the middle was asked for, which the server does not count as a
    // download: had the SDK started over, this would be 1.
    assert_eq!(downloads_of(&h, &id), 0);

    // A partial file that is not the start of the release is found out at the end, and
    // the download is done again from the first byte.
    std::fs::remove_file(&path).expect("remove");
    std::fs::write(&part, vec![b'x'; half]).expect("bad half");
    update.download_to(&path, |_, _| {}).expect("starts over");
    assert_eq!(std::fs::read(&path).expect("file"), expected);
    assert_eq!(downloads_of(&h, &id), 1);
}

#[test]
fn a_connection_that_drops_mid_download_is_resumed() {
    let h = Harness::start(1);
    let id = release_here(&h, "1.1.0");
    let proxy = CuttingProxy::start(&h, 2, 20_000);
    let clock = clock();
    let (dir, _, _) = h.activated(MACHINE, &clock);
    let client = h
        .builder(dir.path(), MACHINE, &clock)
        .proxy(&proxy.url)
        .build()
        .expect("client");
    let update = update_from_1_0_0(&client);
    let path = dir.path().join("Photo.bin");
    let (calls, progress) = recorder();
    update.download_to(&path, progress).expect("downloads");
    assert_eq!(proxy.cuts_left(), 0, "both downloads were cut");
    assert_eq!(
        std::fs::read(&path).expect("file"),
        bytes_of("1.1.0", &own())
    );
    let calls = calls.lock().expect("calls").clone();
    assert!(
        calls.windows(2).all(|w| w[0].0 < w[1].0),
        "never back to zero: {calls:?}"
    );
    assert_eq!(downloads_of(&h, &id), 1, "one download, resumed twice");
}

#[test]
fn an_expired_manifest_is_refused() {
    let h = Harness::start(1);
    release_here(&h, "1.1.0");
    let clock = clock();
    let (dir, _, update) = offered(&h, &clock);
    // Manifests live an hour.
    clock.advance(2 * 3600);
    let path = dir.path().join("Photo.bin");
    let reason = verification_error(update.download_to(&path, |_, _| {}).expect_err("expired"));
    assert!(reason.contains("expired"), "{reason}");
    assert!(!path.exists());
    assert!(partial_files(dir.path()).is_empty());
}

/// What `check_for_update` would get for machine `fpr`, taken without the SDK.
fn answer_for(h: &Harness, key: &str, fpr: &str) -> Value {
    h.rt.block_on(async {
        let url = h.server.url(&format!(
            "/v1/releases/latest?product=photo&platform={}&version=1.0.0",
            own()
        ));
        let res = h
            .http
            .get(url)
            .header("licet-license-key", key)
            .header("licet-fingerprint", fpr)
            .send()
            .await
            .expect("check");
        res.json().await.expect("json")
    })
}

#[test]
fn a_manifest_for_another_machine_or_altered_or_not_matching_its_file_is_refused() {
    let h = Harness::start(2);
    release_here(&h, "1.1.0");
    let (_dir_a, key, _) = h.activated(MACHINE, &clock());
    let for_a = answer_for(&h, &key, MACHINE);
    let dir = tempfile::tempdir().expect("dir");
    h.client(dir.path(), "v1:machine-b", &clock())
        .activate(&key)
        .expect("machine B activates");
    let for_b = answer_for(&h, &key, "v1:machine-b");

    // B's claims edited (another file's hash), the signature kept.
    let mut altered = for_b.clone();
    let manifest = for_b["manifest"].as_str().expect("manifest");
    let parts: Vec<&str> = manifest.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&B64.decode(parts[1]).expect("base64")).expect("claims");
    let other_sha = sha256_hex(b"something else");
    claims["rel"]["sha256"] = other_sha.clone().into();
    altered["manifest"] = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    )
    .into();
    altered["artifact"]["sha256"] = other_sha.into();

    // B's manifest genuine, the file offered beside it another.
    let mut mismatched = for_b.clone();
    mismatched["artifact"]["size"] = 12.into();

    for (answer, why) in [
        (&for_a, "another machine"),
        (&altered, "not one the vendor signed"),
        (&mismatched, "another size"),
    ] {
        // A server (or a mirror, or a proxy) that answers B with this.
        let fake = FakeServer::start(&h, answer, None);
        let client = h
            .builder_at(&fake.url, dir.path(), "v1:machine-b", &clock())
            .build()
            .expect("client");
        let update = update_from_1_0_0(&client);
        let path = dir.path().join("Photo.bin");
        let reason = verification_error(update.download_to(&path, |_, _| {}).expect_err(why));
        assert!(reason.contains(why), "{why}: {reason}");
        assert!(!path.exists());
        assert!(partial_files(dir.path()).is_empty());
        assert_eq!(fake.requests(), 1, "{why}: nothing was downloaded");
    }
    // The genuine answer for B downloads.
    let update = h
        .client(dir.path(), "v1:machine-b", &clock())
        .check_for_update("1.0.0", None)
        .expect("checked")
        .expect("an update");
    update
        .download_to(dir.path().join("Photo.bin"), |_, _| {})
        .expect("downloads");
}
