//! Where things are stored, and what happens when storage misbehaves.

use std::sync::Arc;

use licet::storage::{FileStorage, KeyVault, Storage, VaultUnavailable};
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
    let (_, key) = h.license();
    let dir = tempfile::tempdir().expect("dir");
    let clock = clock();
    h.client(dir.path(), "v1:m", &clock)
        .activate(&key)
        .expect("activates");
    let good = std::fs::read(lease_path(dir.path())).expect("lease");
    for bad in [
        good[..good.len() / 2].to_vec(),
        b"".to_vec(),
        b"\x00\xff garbage".to_vec(),
        br#"{"version":99,"token":null,"trusted_time":0,"verdict":null}"#.to_vec(),
        br#"{"version":1,"token":"not.a.token","trusted_time":0,"verdict":null}"#.to_vec(),
    ] {
        std::fs::write(lease_path(dir.path()), &bad).expect("write");
        let client = h.client(dir.path(), "v1:m", &clock);
        let err = client.check().expect_err("refused");
        assert!(
            matches!(
                err,
                licet::Error::NotActivated(licet::NotActivatedReason::CorruptCache(_))
                    | licet::Error::InvalidToken(_)
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
