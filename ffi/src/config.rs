//! `licet_config`: what a client is built from.

use std::ffi::c_char;

use crate::boundary::{set_last_error, str_arg};
use crate::result::licet_result;

/// Client configuration: server URL, product, pinned keys and options. Create with
/// `licet_config_new`, free with `licet_config_free`.
pub struct licet_config {
    _private: [u8; 0],
}

/// The real configuration behind a `licet_config` pointer.
#[derive(Debug, Default)]
pub(crate) struct Config {
    pub server_url: String,
    pub product: String,
    pub pinned: Option<String>,
    pub app_name: Option<String>,
    pub storage_dir: Option<String>,
    pub fingerprint: Option<String>,
    pub root_ca_pem: Option<String>,
    pub proxy: Option<String>,
    pub machine_name: Option<String>,
    pub timeout_ms: Option<u32>,
    pub use_keyring: bool,
    pub update_platform: Option<String>,
}

impl Config {
    /// Builds an SDK client.
    pub fn build(&self) -> Result<licet::Client, licet::Error> {
        let pinned = self.pinned.as_deref().ok_or_else(|| {
            licet::Error::Config("no pinned keys: call licet_config_set_pinned_keys".into())
        })?;
        let mut b =
            licet::Client::builder(&self.server_url, &self.product).use_keyring(self.use_keyring);
        b = if pinned.trim_start().starts_with('{') {
            b.pinned_jwks(pinned)?
        } else {
            pin_raw_keys(b, pinned)?
        };
        if let Some(a) = &self.app_name {
            b = b.app_name(a);
        }
        if let Some(d) = &self.storage_dir {
            b = b.storage_dir(d);
        }
        if let Some(f) = &self.fingerprint {
            b = b.fingerprint_override(f);
        }
        if let Some(pem) = &self.root_ca_pem {
            b = b.extra_root_certificate_pem(pem.as_bytes());
        }
        if let Some(p) = &self.proxy {
            b = b.proxy(p);
        }
        if let Some(n) = &self.machine_name {
            b = b.machine_name(n);
        }
        if let Some(p) = &self.update_platform {
            b = b.update_platform(p);
        }
        if let Some(ms) = self.timeout_ms {
            b = b.timeout(std::time::Duration::from_millis(u64::from(ms)));
        }
        b.build()
    }
}

/// Pins base64url Ed25519 public keys separated by whitespace or commas.
fn pin_raw_keys(
    mut b: licet::ClientBuilder,
    text: &str,
) -> Result<licet::ClientBuilder, licet::Error> {
    for word in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
    {
        let jwk = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{word}"}}]}}"#);
        b = b.pinned_jwks(&jwk)?;
    }
    Ok(b)
}

fn config_mut<'a>(config: *mut licet_config) -> Option<&'a mut Config> {
    // SAFETY: every licet_config pointer comes from licet_config_new (a Box<Config>);
    // the caller promises it is live and not used concurrently while being changed.
    unsafe { config.cast::<Config>().as_mut() }
}

pub(crate) fn config_ref<'a>(config: *const licet_config) -> Option<&'a Config> {
    // SAFETY: as config_mut, shared.
    unsafe { config.cast::<Config>().as_ref() }
}

/// Creates a configuration for `product` (its slug) on the server at `server_url`.
/// On success `*config_out` owns it; release it with `licet_config_free`.
///
/// # Safety
/// Strings must be NUL-terminated; `config_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_new(
    server_url: *const c_char,
    product: *const c_char,
    config_out: *mut *mut licet_config,
) -> licet_result {
    ffi_boundary!({
        require_non_null!(config_out);
        // SAFETY: caller guarantees.
        let (url, product) = match unsafe {
            (
                str_arg("server_url", server_url),
                str_arg("product", product),
            )
        } {
            (Ok(u), Ok(p)) => (u, p),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let config = Box::new(Config {
            server_url: url.to_owned(),
            product: product.to_owned(),
            use_keyring: true,
            ..Config::default()
        });
        // SAFETY: checked non-NULL above.
        unsafe { *config_out = Box::into_raw(config).cast() };
        licet_result::LICET_OK
    })
}

/// Pins the vendor's public keys: a JWKS document (`{"keys":[…]}`) or base64url Ed25519
/// keys separated by whitespace or commas. Only pinned keys are ever trusted.
///
/// # Safety
/// `config` from `licet_config_new`; `keys` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_set_pinned_keys(
    config: *mut licet_config,
    keys: *const c_char,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe { set_string(config, "keys", keys, |c, v| c.pinned = Some(v)) }
}

/// Names the app (storage directory and keyring entry).
///
/// # Safety
/// As `licet_config_set_pinned_keys`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_set_app_name(
    config: *mut licet_config,
    name: *const c_char,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe { set_string(config, "name", name, |c, v| c.app_name = Some(v)) }
}

/// Keeps the lease (and, without a keyring, the key) in this directory.
///
/// # Safety
/// As `licet_config_set_pinned_keys`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_set_storage_dir(
    config: *mut licet_config,
    dir: *const c_char,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe { set_string(config, "dir", dir, |c, v| c.storage_dir = Some(v)) }
}

/// Uses this fingerprint instead of the one derived from the machine id.
///
/// # Safety
/// As `licet_config_set_pinned_keys`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_set_fingerprint(
    config: *mut licet_config,
    fingerprint: *const c_char,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe {
        set_string(config, "fingerprint", fingerprint, |c, v| {
            c.fingerprint = Some(v)
        })
    }
}

/// Trusts this root certificate (PEM text) besides the platform's: for a server whose
/// certificate comes from the vendor's own CA.
///
/// # Safety
/// As `licet_config_set_pinned_keys`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_set_root_ca_pem(
    config: *mut licet_config,
    pem: *const c_char,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe { set_string(config, "pem", pem, |c, v| c.root_ca_pem = Some(v)) }
}

/// Sends every request through this HTTP(S) proxy (`http://host:port`, optionally with
/// `user:password@`). Without it the usual environment variables apply (`HTTPS_PROXY`,
/// `HTTP_PROXY`, `NO_PROXY`).
///
/// # Safety
/// As `licet_config_set_pinned_keys`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_set_proxy(
    config: *mut licet_config,
    url: *const c_char,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe { set_string(config, "url", url, |c, v| c.proxy = Some(v)) }
}

/// The machine name sent at activation (shown to the vendor and the customer) instead of
/// the host name.
///
/// # Safety
/// As `licet_config_set_pinned_keys`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_set_machine_name(
    config: *mut licet_config,
    name: *const c_char,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe { set_string(config, "name", name, |c, v| c.machine_name = Some(v)) }
}

/// The platform update checks ask for (`licet_client_check_update`) instead of this
/// machine's: `os-arch` in the Tauri updater's names, e.g. `windows-x86_64` for a 32-bit
/// app on 64-bit Windows that wants 64-bit updates. Checked by `licet_client_new`
/// (`LICET_CONFIG` if it is not of that shape).
///
/// # Safety
/// As `licet_config_set_pinned_keys`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_set_update_platform(
    config: *mut licet_config,
    platform: *const c_char,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe {
        set_string(config, "platform", platform, |c, v| {
            c.update_platform = Some(v)
        })
    }
}

/// Timeout of every request in milliseconds (default 10000; 0 is refused).
///
/// # Safety
/// `config` from `licet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_set_timeout_ms(
    config: *mut licet_config,
    timeout_ms: u32,
) -> licet_result {
    ffi_boundary!({
        require_non_null!(config);
        if timeout_ms == 0 {
            set_last_error("timeout_ms must be positive");
            return licet_result::LICET_INVALID_ARGUMENT;
        }
        match config_mut(config) {
            Some(c) => {
                c.timeout_ms = Some(timeout_ms);
                licet_result::LICET_OK
            }
            None => licet_result::LICET_INVALID_ARGUMENT,
        }
    })
}

/// Whether to keep the key, and the secret that seals the stored lease, in the OS keyring
/// (default true; where there is no keyring either way, the key goes to a file and the lease
/// is sealed with a key derived from the machine id).
///
/// # Safety
/// `config` from `licet_config_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_set_use_keyring(
    config: *mut licet_config,
    use_keyring: bool,
) -> licet_result {
    ffi_boundary!({
        require_non_null!(config);
        match config_mut(config) {
            Some(c) => {
                c.use_keyring = use_keyring;
                licet_result::LICET_OK
            }
            None => licet_result::LICET_INVALID_ARGUMENT,
        }
    })
}

/// Frees a configuration. NULL is ignored.
///
/// # Safety
/// `config` from `licet_config_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_config_free(config: *mut licet_config) {
    let _ = std::panic::catch_unwind(|| {
        if !config.is_null() {
            // SAFETY: created by Box::into_raw in licet_config_new; ownership returns here.
            drop(unsafe { Box::from_raw(config.cast::<Config>()) });
        }
    });
}

/// Sets one string field.
///
/// # Safety
/// `config` from `licet_config_new`; `value` NUL-terminated.
unsafe fn set_string(
    config: *mut licet_config,
    name: &str,
    value: *const c_char,
    apply: impl FnOnce(&mut Config, String),
) -> licet_result {
    ffi_boundary!({
        require_non_null!(config);
        // SAFETY: caller guarantees.
        let value = match unsafe { str_arg(name, value) } {
            Ok(v) => v.to_owned(),
            Err(e) => return e,
        };
        match config_mut(config) {
            Some(c) => {
                apply(c, value);
                licet_result::LICET_OK
            }
            None => licet_result::LICET_INVALID_ARGUMENT,
        }
    })
}
