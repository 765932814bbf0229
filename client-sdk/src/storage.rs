//! Where the license key and the signed lease live.
//!
//! The default [`FileStorage`] keeps the key in the OS keyring (Keychain, Credential
//! Manager, Secret Service) and, where no keyring is available (headless Linux, CI,
//! containers), falls back automatically and quietly to a file next to the lease. The lease
//! cache (the signed token, the trusted-time high-water mark, the last verdict) is a file,
//! sealed with a MAC so that edits are detected. Its key lives in a second keyring entry,
//! the *anchor*, which also remembers the newest times seen online; where no keyring answers
//! the key is derived from the machine id instead. Files are written atomically (temporary
//! file, then rename) with mode 0600, in a directory created with mode 0700.
//!
//! Storage is pluggable: implement [`Storage`] (e.g. [`MemoryStorage`] in tests) or give
//! [`FileStorage`] other [`KeyVault`]s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Persistence of one product's license key and lease.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// The stored license key.
    fn load_key(&self) -> Result<Option<Zeroizing<String>>>;
    /// Stores the license key.
    fn save_key(&self, key: &str) -> Result<()>;
    /// Forgets the license key.
    fn delete_key(&self) -> Result<()>;
    /// The stored lease cache bytes.
    fn load_cache(&self) -> Result<Option<Vec<u8>>>;
    /// Stores the lease cache bytes (atomically).
    fn save_cache(&self, bytes: &[u8]) -> Result<()>;
    /// Forgets the lease cache.
    fn delete_cache(&self) -> Result<()>;

    /// The anchor: a small secret record the client keeps apart from the lease cache (in the
    /// OS keyring) to seal the cache and to notice an older cache put back. `Ok(None)` when
    /// none is stored, or when this storage has no place for one (the default: the client
    /// then seals the cache with a key derived from the machine id); `Err` when the secret
    /// store does not answer now.
    fn load_anchor(&self) -> Result<Option<Zeroizing<String>>, VaultUnavailable> {
        Ok(None)
    }

    /// Stores the anchor; `Err` when there is no place for it or the store does not answer.
    fn save_anchor(&self, _anchor: &str) -> Result<(), VaultUnavailable> {
        Err(VaultUnavailable("this storage keeps no anchor".into()))
    }

    /// Forgets the anchor (no error if there was none).
    fn delete_anchor(&self) -> Result<(), VaultUnavailable> {
        Ok(())
    }

    /// The air-gapped activation record: the pending activation request, or the offline
    /// seat, with its per-activation private key (a secret). `Ok(None)` when none is
    /// stored, and by default (a storage without a place for it).
    fn load_air_gap(&self) -> Result<Option<Zeroizing<String>>> {
        Ok(None)
    }

    /// Stores the air-gapped activation record (a secret: mode 0600 or a keyring).
    fn save_air_gap(&self, _record: &str) -> Result<()> {
        Err(Error::Storage(
            "this storage keeps no air-gapped activation record".into(),
        ))
    }

    /// Forgets the air-gapped activation record, destroying its private key (no error if
    /// there was none).
    fn delete_air_gap(&self) -> Result<()> {
        Ok(())
    }
}

/// Why a [`KeyVault`] could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("keyring unavailable: {0}")]
pub struct VaultUnavailable(pub String);

/// A store for one secret (the license key, the anchor), such as an OS keyring entry.
pub trait KeyVault: Send + Sync + std::fmt::Debug {
    /// The stored secret; `Ok(None)` when nothing is stored.
    fn get(&self) -> Result<Option<Zeroizing<String>>, VaultUnavailable>;
    /// Stores the secret.
    fn set(&self, secret: &str) -> Result<(), VaultUnavailable>;
    /// Deletes the secret (no error if there was none).
    fn delete(&self) -> Result<(), VaultUnavailable>;
}

/// The operating system's keyring, through the `keyring` crate (feature `os-keyring`).
#[cfg(feature = "os-keyring")]
#[derive(Debug)]
pub struct OsKeyring {
    service: String,
    user: String,
}

#[cfg(feature = "os-keyring")]
impl OsKeyring {
    /// The license key's entry, named by the app and product.
    pub fn new(app: &str, product: &str) -> Self {
        Self {
            service: format!("licet.{app}"),
            user: product.to_owned(),
        }
    }

    /// The anchor's entry, next to the license key's.
    pub fn anchor(app: &str, product: &str) -> Self {
        Self {
            service: format!("licet.{app}"),
            user: format!("{product}/anchor"),
        }
    }

    fn entry(&self) -> Result<keyring::Entry, VaultUnavailable> {
        keyring::Entry::new(&self.service, &self.user).map_err(|e| VaultUnavailable(e.to_string()))
    }
}

#[cfg(feature = "os-keyring")]
impl KeyVault for OsKeyring {
    fn get(&self) -> Result<Option<Zeroizing<String>>, VaultUnavailable> {
        match self.entry()?.get_password() {
            Ok(s) => Ok(Some(Zeroizing::new(s))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(VaultUnavailable(e.to_string())),
        }
    }

    fn set(&self, secret: &str) -> Result<(), VaultUnavailable> {
        self.entry()?
            .set_password(secret)
            .map_err(|e| VaultUnavailable(e.to_string()))
    }

    fn delete(&self) -> Result<(), VaultUnavailable> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(VaultUnavailable(e.to_string())),
        }
    }
}

/// Files in one directory, with the key (and the anchor) in a [`KeyVault`] when one is
/// available.
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    product: String,
    vault: Option<Box<dyn KeyVault>>,
    /// Where the anchor lives; without one the cache is sealed with the machine key.
    anchor: Option<Box<dyn KeyVault>>,
}

impl FileStorage {
    /// Storage in `dir` for `product`, key in `vault` (or in a file when `vault` is `None`
    /// or unavailable), and no anchor.
    pub fn new(dir: impl Into<PathBuf>, product: &str, vault: Option<Box<dyn KeyVault>>) -> Self {
        Self {
            dir: dir.into(),
            product: product.to_owned(),
            vault,
            anchor: None,
        }
    }

    /// Keeps the anchor in `vault` (the client builder uses `OsKeyring::anchor`). The
    /// anchor is never written to a file: where `vault` does not answer, there is none.
    pub fn with_anchor_vault(mut self, vault: Box<dyn KeyVault>) -> Self {
        self.anchor = Some(vault);
        self
    }

    /// The lease file.
    pub fn cache_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lease.json", self.product))
    }

    /// The key file used when no keyring is available.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join(format!("{}.key", self.product))
    }

    /// The air-gapped activation record's file (mode 0600).
    pub fn air_gap_path(&self) -> PathBuf {
        self.dir.join(format!("{}.airgap.json", self.product))
    }
}

impl Storage for FileStorage {
    fn load_key(&self) -> Result<Option<Zeroizing<String>>> {
        if let Some(Ok(Some(key))) = self.vault.as_ref().map(|v| v.get()) {
            return Ok(Some(key));
        }
        Ok(read_optional(&self.key_path())?
            .and_then(|b| String::from_utf8(b).ok())
            .map(|s| Zeroizing::new(s.trim().to_owned()))
            .filter(|s| !s.is_empty()))
    }

    fn save_key(&self, key: &str) -> Result<()> {
        if self.vault.as_ref().is_some_and(|v| v.set(key).is_ok()) {
            // The keyring has it; an older fallback copy must not linger.
            remove_optional(&self.key_path())?;
            return Ok(());
        }
        write_atomic(&self.dir, &self.key_path(), key.as_bytes())
    }

    fn delete_key(&self) -> Result<()> {
        if let Some(vault) = &self.vault {
            let _ = vault.delete();
        }
        remove_optional(&self.key_path())
    }

    fn load_cache(&self) -> Result<Option<Vec<u8>>> {
        read_optional(&self.cache_path())
    }

    fn save_cache(&self, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.dir, &self.cache_path(), bytes)
    }

    fn delete_cache(&self) -> Result<()> {
        remove_optional(&self.cache_path())
    }

    fn load_anchor(&self) -> Result<Option<Zeroizing<String>>, VaultUnavailable> {
        self.anchor.as_ref().map_or(Ok(None), |vault| vault.get())
    }

    fn save_anchor(&self, anchor: &str) -> Result<(), VaultUnavailable> {
        match &self.anchor {
            Some(vault) => vault.set(anchor),
            None => Err(VaultUnavailable("no keyring configured".into())),
        }
    }

    fn delete_anchor(&self) -> Result<(), VaultUnavailable> {
        self.anchor.as_ref().map_or(Ok(()), |vault| vault.delete())
    }

    fn load_air_gap(&self) -> Result<Option<Zeroizing<String>>> {
        Ok(read_optional(&self.air_gap_path())?
            .and_then(|b| String::from_utf8(b).ok())
            .map(Zeroizing::new))
    }

    fn save_air_gap(&self, record: &str) -> Result<()> {
        write_atomic(&self.dir, &self.air_gap_path(), record.as_bytes())
    }

    fn delete_air_gap(&self) -> Result<()> {
        remove_optional(&self.air_gap_path())
    }
}

/// Everything in memory: for tests, or apps that persist elsewhere. It keeps an anchor too,
/// like a keyring would.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    key: Mutex<Option<Zeroizing<String>>>,
    cache: Mutex<Option<Vec<u8>>>,
    anchor: Mutex<Option<Zeroizing<String>>>,
    air_gap: Mutex<Option<Zeroizing<String>>>,
}

impl Storage for MemoryStorage {
    fn load_air_gap(&self) -> Result<Option<Zeroizing<String>>> {
        Ok(self.air_gap.lock().map_err(poisoned)?.clone())
    }

    fn save_air_gap(&self, record: &str) -> Result<()> {
        *self.air_gap.lock().map_err(poisoned)? = Some(Zeroizing::new(record.to_owned()));
        Ok(())
    }

    fn delete_air_gap(&self) -> Result<()> {
        *self.air_gap.lock().map_err(poisoned)? = None;
        Ok(())
    }

    fn load_key(&self) -> Result<Option<Zeroizing<String>>> {
        Ok(self.key.lock().map_err(poisoned)?.clone())
    }

    fn save_key(&self, key: &str) -> Result<()> {
        *self.key.lock().map_err(poisoned)? = Some(Zeroizing::new(key.to_owned()));
        Ok(())
    }

    fn delete_key(&self) -> Result<()> {
        *self.key.lock().map_err(poisoned)? = None;
        Ok(())
    }

    fn load_cache(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.cache.lock().map_err(poisoned)?.clone())
    }

    fn save_cache(&self, bytes: &[u8]) -> Result<()> {
        *self.cache.lock().map_err(poisoned)? = Some(bytes.to_vec());
        Ok(())
    }

    fn delete_cache(&self) -> Result<()> {
        *self.cache.lock().map_err(poisoned)? = None;
        Ok(())
    }

    fn load_anchor(&self) -> Result<Option<Zeroizing<String>>, VaultUnavailable> {
        Ok(self.anchor.lock().map_err(vault_poisoned)?.clone())
    }

    fn save_anchor(&self, anchor: &str) -> Result<(), VaultUnavailable> {
        *self.anchor.lock().map_err(vault_poisoned)? = Some(Zeroizing::new(anchor.to_owned()));
        Ok(())
    }

    fn delete_anchor(&self) -> Result<(), VaultUnavailable> {
        *self.anchor.lock().map_err(vault_poisoned)? = None;
        Ok(())
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::Storage("storage lock poisoned".into())
}

fn vault_poisoned<T>(_: T) -> VaultUnavailable {
    VaultUnavailable("storage lock poisoned".into())
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Storage(format!("reading {}: {e}", path.display()))),
    }
}

fn remove_optional(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Storage(format!("removing {}: {e}", path.display()))),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory (mode 0600) and a
/// rename, so readers see the old content or the new, never a torn file.
pub(crate) fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let io =
        |what: &str, e: std::io::Error| Error::Storage(format!("{what} {}: {e}", path.display()));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| io("creating the directory of", e))?;
    let mut suffix = [0u8; 8];
    let _ = getrandom::fill(&mut suffix);
    let tmp = path.with_extension(format!(
        "tmp{}",
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("writing", e));
    }
    Ok(())
}
