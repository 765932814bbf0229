//! Configuring a client: server, product, pinned keys, storage, network and time options.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use licet_proto::clock::{Clock, SystemClock};
use licet_proto::{Jwks, KeySet};

use super::{Client, Inner, State};
use crate::error::{Error, Result};
use crate::fingerprint;
use crate::seal::SealKey;
use crate::storage::{FileStorage, KeyVault, Storage};
use crate::transport::Transport;

/// Configures a [`Client`]. Start with [`Client::builder`].
#[derive(Debug)]
pub struct ClientBuilder {
    server_url: String,
    product: String,
    keys: KeySet,
    app_name: Option<String>,
    storage_dir: Option<PathBuf>,
    storage: Option<Arc<dyn Storage>>,
    use_keyring: bool,
    timeout: Duration,
    extra_root_pem: Option<Vec<u8>>,
    proxy: Option<String>,
    machine_name: Option<String>,
    fingerprint: Option<String>,
    refresh_window: f64,
    clock_tolerance: i64,
    clock: Arc<dyn Clock>,
    auto_refresh: bool,
    update_platform: Option<String>,
    seat_instance: Option<String>,
    seat_renew_interval: Option<Duration>,
}

impl ClientBuilder {
    /// The defaults (see [`Client::builder`]).
    pub(super) fn new(server_url: &str, product_slug: &str) -> Self {
        Self {
            server_url: server_url.trim_end_matches('/').to_owned(),
            product: product_slug.to_owned(),
            keys: KeySet::new(),
            app_name: None,
            storage_dir: None,
            storage: None,
            use_keyring: true,
            timeout: Duration::from_secs(10),
            extra_root_pem: None,
            proxy: None,
            machine_name: None,
            fingerprint: None,
            refresh_window: 0.25,
            clock_tolerance: 300,
            clock: Arc::new(SystemClock),
            auto_refresh: true,
            update_platform: None,
            seat_instance: None,
            seat_renew_interval: None,
        }
    }

    /// Pins every key of a JWKS document (e.g. the server's `/.well-known/jwks.json`,
    /// compiled into the app). Only pinned keys are ever trusted.
    pub fn pinned_jwks(mut self, jwks_json: &str) -> Result<Self> {
        let jwks: Jwks = serde_json::from_str(jwks_json)
            .map_err(|e| Error::Config(format!("pinned JWKS is not valid JSON: {e}")))?;
        for jwk in &jwks.keys {
            let key = jwk
                .verifying_key()
                .map_err(|e| Error::Config(format!("pinned JWKS has an unusable key: {e}")))?;
            self.keys.insert(key);
        }
        Ok(self)
    }

    /// Pins a raw 32-byte Ed25519 public key.
    pub fn pinned_key(mut self, raw: &[u8; 32]) -> Result<Self> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(raw)
            .map_err(|_| Error::Config("pinned key is not an Ed25519 public key".into()))?;
        self.keys.insert(key);
        Ok(self)
    }

    /// The app's name, used for the storage directory and the keyring entry.
    pub fn app_name(mut self, name: &str) -> Self {
        self.app_name = Some(name.to_owned());
        self
    }

    /// Stores the lease (and, without a keyring, the key) in this directory instead of the
    /// platform's data directory.
    pub fn storage_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage_dir = Some(dir.into());
        self
    }

    /// Replaces the storage entirely (e.g. [`crate::storage::MemoryStorage`] in tests).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Whether to keep the key, and the anchor that seals the lease cache, in the OS keyring
    /// (default true; where the keyring is unavailable or not compiled in, feature
    /// `os-keyring`, the key goes to a file and the cache is sealed with a key derived from
    /// the machine id).
    pub fn use_keyring(mut self, yes: bool) -> Self {
        self.use_keyring = yes;
        self
    }

    /// Timeout of every request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts this root certificate (PEM) besides the platform's, for self-hosted servers.
    pub fn extra_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.extra_root_pem = Some(pem.to_vec());
        self
    }

    /// Sends every request through this HTTP(S) proxy (`http://host:port`, optionally with
    /// `user:password@`). Without it the usual environment variables apply (`HTTPS_PROXY`,
    /// `HTTP_PROXY`, `NO_PROXY`).
    pub fn proxy(mut self, url: &str) -> Self {
        self.proxy = Some(url.to_owned());
        self
    }

    /// The machine name sent at activation (the vendor and the customer see it in the
    /// dashboard and the portal) instead of the host name.
    pub fn machine_name(mut self, name: &str) -> Self {
        self.machine_name = Some(name.to_owned());
        self
    }

    /// Uses this fingerprint instead of deriving one from the machine id (containers without
    /// a stable machine id, tests).
    pub fn fingerprint_override(mut self, fingerprint: &str) -> Self {
        self.fingerprint = Some(fingerprint.to_owned());
        self
    }

    /// The last fraction of a lease in which `check` refreshes it online (default 0.25).
    pub fn refresh_window(mut self, fraction: f64) -> Self {
        self.refresh_window = fraction.clamp(0.0, 1.0);
        self
    }

    /// How far the clock may be behind trusted time before `check` reports tampering
    /// (default 5 minutes). Also how far a lease's signed `iat` may be ahead of the clock
    /// before the SDK moves its time forward to it.
    pub fn clock_tolerance(mut self, tolerance: Duration) -> Self {
        self.clock_tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Replaces the clock (tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether `check` may go online to refresh a lease (default true).
    pub fn auto_refresh(mut self, yes: bool) -> Self {
        self.auto_refresh = yes;
        self
    }

    /// The platform update checks ask for (default: this machine's, see
    /// [`fingerprint::update_platform`]), e.g. `windows-x86_64` for a 32-bit app on 64-bit
    /// Windows that wants 64-bit updates. Must be `os-arch` in the Tauri updater's names.
    pub fn update_platform(mut self, platform: &str) -> Self {
        self.update_platform = Some(platform.to_owned());
        self
    }

    /// A per-process id for floating seats ([`Client::checkout`]): each instance of one
    /// machine (containers, CI runners sharing a machine id) then holds its own seat.
    /// Without it a machine holds one seat however many processes check out.
    pub fn seat_instance(mut self, id: &str) -> Self {
        self.seat_instance = Some(id.to_owned());
        self
    }

    /// How often a [`crate::Seat`] renews its lease in the background, instead of the
    /// default (half of the lease's remaining time, on the client's clock). Meant for tests
    /// and for apps that want a shorter heartbeat; at least 50 ms.
    pub fn seat_renew_interval(mut self, every: Duration) -> Self {
        self.seat_renew_interval = Some(every.max(Duration::from_millis(50)));
        self
    }

    /// Builds the client. Fails without pinned keys, with a malformed URL, or without a
    /// storage location.
    pub fn build(self) -> Result<Client> {
        if self.keys.is_empty() {
            return Err(Error::Config(
                "no pinned public keys: use pinned_jwks or pinned_key".into(),
            ));
        }
        if !(self.server_url.starts_with("https://") || self.server_url.starts_with("http://")) {
            return Err(Error::Config(
                "the server URL must start with https:// (or http://)".into(),
            ));
        }
        if self.product.is_empty() {
            return Err(Error::Config("the product slug is empty".into()));
        }
        let update_platform = match self.update_platform {
            Some(p) if licet_proto::releases::valid_platform(&p) => p,
            Some(p) => {
                return Err(Error::Config(format!(
                    "update platform {p:?} is not os-arch (e.g. linux-x86_64, darwin-aarch64)"
                )));
            }
            None => fingerprint::update_platform(),
        };
        let app = self
            .app_name
            .clone()
            .unwrap_or_else(|| self.product.clone());
        let storage: Arc<dyn Storage> = match self.storage {
            Some(s) => s,
            None => {
                let dir = match self.storage_dir {
                    Some(d) => d,
                    None => directories::ProjectDirs::from("", "", &app)
                        .map(|p| p.data_dir().join("licet"))
                        .ok_or_else(|| {
                            Error::Config("no data directory for this user; set storage_dir".into())
                        })?,
                };
                Arc::new(match os_vaults(self.use_keyring, &app, &self.product) {
                    Some([key, anchor]) => {
                        FileStorage::new(dir, &self.product, Some(key)).with_anchor_vault(anchor)
                    }
                    None => FileStorage::new(dir, &self.product, None),
                })
            }
        };
        // The machine key that seals the cache without a keyring needs the raw machine id;
        // without an override it is read here anyway, with one only when first needed.
        let machine_seal = OnceLock::new();
        let fingerprint = match self.fingerprint {
            Some(f) if !f.is_empty() && f.len() <= licet_proto::api::MAX_FINGERPRINT_LEN => Ok(f),
            Some(_) => Err(Error::Config(
                "fingerprint override must be 1 to 256 characters".into(),
            )),
            None => fingerprint::machine_id().map(|id| {
                let fpr = fingerprint::derive(&self.product, &id);
                let _ = machine_seal.set(SealKey::for_machine(&self.product, &fpr, Some(&id)));
                fpr
            }),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                transport: Transport::new(&self.server_url, self.timeout, self.extra_root_pem)
                    .with_proxy(self.proxy),
                machine_name: self.machine_name,
                product: self.product,
                keys: self.keys,
                fingerprint,
                machine_seal,
                storage,
                refresh_window: self.refresh_window,
                clock_tolerance: self.clock_tolerance,
                clock: self.clock,
                auto_refresh: self.auto_refresh,
                update_platform,
                seat_instance: self.seat_instance,
                seat_renew_interval: self.seat_renew_interval,
                state: Mutex::new(State::default()),
            }),
        })
    }
}

/// The OS keyring's entries for the key and the anchor, when wanted and compiled in.
#[cfg(feature = "os-keyring")]
pub(super) fn os_vaults(wanted: bool, app: &str, product: &str) -> Option<[Box<dyn KeyVault>; 2]> {
    use crate::storage::OsKeyring;
    wanted.then(|| -> [Box<dyn KeyVault>; 2] {
        [
            Box::new(OsKeyring::new(app, product)),
            Box::new(OsKeyring::anchor(app, product)),
        ]
    })
}

/// Without the `os-keyring` feature the key always lives in the file store, and the machine
/// key seals the cache.
#[cfg(not(feature = "os-keyring"))]
pub(super) fn os_vaults(
    _wanted: bool,
    _app: &str,
    _product: &str,
) -> Option<[Box<dyn KeyVault>; 2]> {
    None
}
