//! Where things are stored, and what happens when storage misbehaves.

use std::sync::{Arc, Mutex};

use licet::storage::{FileStorage, KeyVault, Storage, VaultUnavailable};
use serde_json::json;
use zeroize::Zeroizing;

use crate::support::*;

/// A keyring that is never there, like Secret Service on a headless machine.
#[derive(Debug)]
struct NoKeyring;

impl KeyVault for NoKeyring {
    fn get(&self) -> Result<Option<Zeroizing<String>>, VaultUnavailable> {
        Err(VaultUnavailable("no secret service".into()))
    }
    fn set(&self, _: &str) -> Result<(), VaultUnavailable> {
        Err(VaultUnavailable("no secret service".into()))
    }
    fn delete(&self) -> Result<(), VaultUnavailable> {
        Err(VaultUnavailable("no secret service".into()))
    }
}

/// A keyring entry that works, shared by the clients (the "processes") of a test.
#[derive(Debug, Clone, Default)]
struct MemoryVault(Arc<Mutex<Option<String>>>);

impl KeyVault for MemoryVault {
    fn get(&self) -> Result<Option<Zeroizing<String>>, VaultUnavailable> {
        Ok(self.0.lock().expect("vault").clone().map(Zeroizing::new))
    }
    fn set(&self, secret: &str) -> Result<(), VaultUnavailable> {
        *self.0.lock().expect("vault") = Some(secret.to_owned());
        Ok(())
    }
    fn delete(&self) -> Result<(), VaultUnavailable> {
        *self.0.lock().expect("vault") = None;
        Ok(())
    }
}

/// Files in `dir` with the anchor in `anchor` (the key in a file).
fn with_anchor(dir: &std::path::Path, anchor: &MemoryVault) -> Arc<FileStorage> {
    Arc::new(FileStorage::new(dir, "photo", None).with_anchor_vault(Box::new(anchor.clone())))
}

#[test]
fn without_a_keyring_the_key_falls_back_to_a_private_file() {
    let h = Harness::start(1);
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let storage = Arc::new(FileStorage::new(
        dir.path(),
        "photo",
        Some(Box::new(NoKeyring)),
    ));
    let client = h
        .builder(dir.path(), "v1:m", &clock())
        .storage(storage.clone())
        .build()
        .expect("client");
    client
        .activate(&key)
        .expect("activates quietly without a keyring");
    assert_eq!(
        storage
            .load_key()
            .expect("load")
            .as_deref()
            .map(String::as_str),
        Some(key.as_str())
    );
    client.validate().expect("the fallback key is used online");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for path in [storage.key_path(), storage.cache_path()] {
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
    }
    client.deactivate().expect("deactivates");
    assert!(!storage.key_path().exists());
}

#[test]
fn the_default_storage_works_on_this_machine_whatever_its_keyring() {
    let h = Harness::start(1);
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let client = h
        .builder(dir.path(), "v1:default-storage", &clock())
        .use_keyring(true)
        .build()
        .expect("client");
    client.activate(&key).expect("activates");
    client
        .validate()
        .expect("the key is found again, in the keyring or the file");
    client.deactivate().expect("deactivates");
}

#[test]
fn corrupt_or_truncated_cache_files_read_as_not_activated() {
    let h = Harness::start(1);
    let clock = clock();
    let (dir, key, _) = h.activated("v1:m", &clock);
    let good = std::fs::read(lease_path(dir.path())).expect("lease");
    for bad in [
        good[..good.len() / 2].to_vec(),
        b"".to_vec(),
        b"\x00\xff garbage".to_vec(),
        br#"{"version":99,"token":null,"trusted_time":0,"verdict":null}"#.to_vec(),
    ] {
        std::fs::write(lease_path(dir.path()), &bad).expect("write");
        let client = h.client(dir.path(), "v1:m", &clock);
        let err = client.check().expect_err("refused");
        assert!(
            matches!(
                err,
                licet::Error::NotActivated(licet::NotActivatedReason::CorruptCache(_))
            ),
            "{err:?}"
        );
        assert!(err.is_verdict());
    }
    // Activating again repairs it.
    let client = h.client(dir.path(), "v1:m", &clock);
    client.activate(&key).expect("re-activates");
    client.check().expect("valid");
}

#[test]
fn memory_storage_is_pluggable() {
    let h = Harness::start(1);
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let storage = Arc::new(licet::storage::MemoryStorage::default());
    let client = h
        .builder(dir.path(), "v1:m", &clock())
        .storage(storage.clone())
        .build()
        .expect("client");
    client.activate(&key).expect("activates");
    assert!(storage.load_cache().expect("cache").is_some());
    assert!(!lease_path(dir.path()).exists(), "nothing written to disk");
}

/// An SDK upgrade must not trust the unsealed files of the SDK before it (anyone could have
/// edited them), nor strand their users. If this fails, either an edited old file is a way
/// around the seal, or every user has to activate again after the upgrade.
#[test]
fn a_lease_file_from_the_previous_sdk_is_trusted_only_after_an_online_validation() {
    let mut h = Harness::start(1);
    let clock = clock();
    let (dir, _, _) = h.activated("v1:m", &clock);
    let token = read_cache(dir.path())["state"]["token"].clone();
    // What SDK 0.1 wrote: no seal, so its high-water mark may have been lowered at will.
    let old = json!({ "version": 1, "token": token, "trusted_time": 0, "clock_offset": 0, "verdict": null });
    write_cache(dir.path(), &old);

    h.stop();
    assert_eq!(
        h.client(dir.path(), "v1:m", &clock).check(),
        Err(licet::Error::NotActivated(
            licet::NotActivatedReason::LegacyCache
        )),
        "offline, the old file is not trusted"
    );
    h.restart();
    let client = h.client(dir.path(), "v1:m", &clock);
    client
        .check()
        .expect("online, check validates with the stored key and carries on");
    assert_eq!(read_cache(dir.path())["version"], 2, "rewritten, sealed");
    h.stop();
    h.client(dir.path(), "v1:m", &clock)
        .check()
        .expect("and is trusted offline from then on");
    h.restart();
}

/// With a keyring, the cache is sealed by a random secret kept there, and the keyring entry
/// remembers the newest state seen online. If this fails, a copy of the cache saved before a
/// revocation and put back afterwards runs the revoked license on, offline.
#[test]
fn with_a_keyring_an_older_copy_of_the_cache_put_back_is_not_trusted() {
    let h = Harness::start(1);
    let (id, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    let anchor = MemoryVault::default();
    let client = |auto_refresh| {
        h.builder(dir.path(), "v1:m", &clock)
            .storage(with_anchor(dir.path(), &anchor))
            .auto_refresh(auto_refresh)
            .build()
            .expect("client")
    };
    client(true).activate(&key).expect("activates");
    assert_eq!(read_cache(dir.path())["state"]["seal"], "keyring");
    let secret = anchor.get().expect("anchor").expect("stored");
    assert!(
        !std::fs::read_to_string(lease_path(dir.path()))
            .expect("lease")
            .contains(secret.as_str()),
        "the secret never reaches the file"
    );
    let backup = std::fs::read(lease_path(dir.path())).expect("lease");

    clock.advance(1200);
    h.server.clock.advance(1200);
    h.admin(
        "POST",
        &format!("/v1/admin/licenses/{id}/revoke"),
        Some(json!({})),
    );
    assert_eq!(client(true).validate(), Err(licet::Error::Revoked));

    std::fs::write(lease_path(dir.path()), &backup).expect("put the copy back");
    assert_eq!(
        client(false).check(),
        Err(licet::Error::LeaseExpired),
        "offline, the older lease counts as over"
    );
    assert_eq!(
        client(true).check(),
        Err(licet::Error::Revoked),
        "online, check learns the verdict again"
    );

    // Without the keyring entry, a cache sealed by it cannot be trusted at all.
    anchor.delete().expect("delete");
    let got = client(false).check();
    assert!(
        matches!(got, Err(licet::Error::StateTampered(_))),
        "{got:?}"
    );
}

#[test]
fn an_air_gapped_activation_keeps_its_private_key_in_a_private_file_until_the_proof() {
    let h = Harness::start(1);
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let storage = Arc::new(FileStorage::new(
        dir.path(),
        "photo",
        Some(Box::new(NoKeyring)),
    ));
    let client = h
        .builder(dir.path(), "v1:air", &clock())
        .storage(storage.clone())
        .build()
        .expect("client");
    let request = client.offline_activation_request(&key).expect("request");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(storage.air_gap_path())
            .expect("the record exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let record = std::fs::read_to_string(storage.air_gap_path()).expect("record");
    assert!(record.contains("\"secret\":\""), "the private key is kept");
    assert_eq!(
        client
            .pending_offline_request()
            .expect("pending")
            .map(|r| r.text()),
        Some(request.text()),
        "the waiting request can be shown again"
    );
    // Forgetting the machine destroys the private key with everything else.
    client.forget().expect("forget");
    assert!(!storage.air_gap_path().exists());
    assert_eq!(client.pending_offline_request().expect("pending"), None);
}
