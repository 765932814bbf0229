//! `licet_client`: the operations.

use std::ffi::c_char;

use crate::boundary::{fail, str_arg, write_str};
use crate::config::{config_ref, licet_config};
use crate::license::{License, licet_license};
use crate::result::licet_result;

/// A license client for one product. Thread-safe: one client may be used from several
/// threads at once. Create with `licet_client_new`, free with `licet_client_free`.
pub struct licet_client {
    _private: [u8; 0],
}

/// The client behind a handle; NULL records the detail for `licet_last_error_message`.
pub(crate) fn client_ref<'a>(client: *const licet_client) -> Option<&'a licet::Client> {
    // SAFETY: every licet_client pointer comes from licet_client_new (a Box<licet::Client>),
    // and the caller promises it is live; licet::Client is Sync.
    let found = unsafe { client.cast::<licet::Client>().as_ref() };
    if found.is_none() {
        crate::boundary::set_last_error("argument `client` is NULL");
    }
    found
}

/// Creates a client from a configuration (which stays owned by the caller and may be freed
/// right after). On success `*client_out` owns the client.
///
/// # Safety
/// `config` from `licet_config_new`; `client_out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_new(
    config: *const licet_config,
    client_out: *mut *mut licet_client,
) -> licet_result {
    ffi_boundary!({
        require_non_null!(config, client_out);
        let Some(config) = config_ref(config) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        match config.build() {
            Ok(client) => {
                // SAFETY: checked non-NULL above.
                unsafe { *client_out = Box::into_raw(Box::new(client)).cast() };
                licet_result::LICET_OK
            }
            Err(e) => fail(&e),
        }
    })
}

/// Frees a client. NULL is ignored.
///
/// # Safety
/// `client` from `licet_client_new`, not in use by another thread, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_free(client: *mut licet_client) {
    let _ = std::panic::catch_unwind(|| {
        if !client.is_null() {
            // SAFETY: created by Box::into_raw in licet_client_new; ownership returns here.
            drop(unsafe { Box::from_raw(client.cast::<licet::Client>()) });
        }
    });
}

/// Hands a license to the caller if they asked for it.
fn deliver(license: licet::License, license_out: *mut *mut licet_license) -> licet_result {
    if !license_out.is_null() {
        // SAFETY: non-NULL, and the caller promises it is writable.
        unsafe { *license_out = Box::into_raw(Box::new(License(license))).cast() };
    }
    licet_result::LICET_OK
}

/// Runs a license operation and delivers its license.
pub(crate) fn run(
    client: *const licet_client,
    license_out: *mut *mut licet_license,
    op: impl FnOnce(&licet::Client) -> Result<licet::License, licet::Error>,
) -> licet_result {
    let Some(client) = client_ref(client) else {
        return licet_result::LICET_INVALID_ARGUMENT;
    };
    match op(client) {
        Ok(license) => deliver(license, license_out),
        Err(e) => fail(&e),
    }
}

/// Runs an operation that answers nothing but success or an error.
fn run_unit(
    client: *const licet_client,
    op: impl FnOnce(&licet::Client) -> licet::Result<()>,
) -> licet_result {
    let Some(client) = client_ref(client) else {
        return licet_result::LICET_INVALID_ARGUMENT;
    };
    match op(client) {
        Ok(()) => licet_result::LICET_OK,
        Err(e) => fail(&e),
    }
}

/// Activates this machine with `key` (network). On `LICET_OK`, if `license_out` is not
/// NULL, `*license_out` receives the license (free it with `licet_license_free`).
///
/// # Safety
/// `client` from `licet_client_new`; `key` NUL-terminated; `license_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_activate(
    client: *const licet_client,
    key: *const c_char,
    license_out: *mut *mut licet_license,
) -> licet_result {
    ffi_boundary!({
        // SAFETY: caller guarantees.
        let key = match unsafe { str_arg("key", key) } {
            Ok(k) => k,
            Err(e) => return e,
        };
        run(client, license_out, |c| c.activate(key))
    })
}

/// Starts this machine's trial of the product, or resumes the one it had (network): one
/// trial per machine and product, ever, with the same end however often it is asked for.
/// The trial's lease is then checked by `licet_client_check` like a license's. Errors:
/// `LICET_TRIAL_NOT_AVAILABLE` (the product offers none), `LICET_TRIAL_EXPIRED` (it ended, or
/// a license took over). With a license key stored it starts nothing and answers
/// `licet_client_check`. On `LICET_OK`, if `license_out` is not NULL, `*license_out`
/// receives the trial (`licet_license_is_trial` is true; free it with `licet_license_free`).
///
/// # Safety
/// `client` from `licet_client_new`; `license_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_start_trial(
    client: *const licet_client,
    license_out: *mut *mut licet_license,
) -> licet_result {
    ffi_boundary!({ run(client, license_out, licet::Client::start_trial) })
}

/// Is this machine licensed? Offline-first (microseconds, no network) from the stored signed
/// lease. It goes online only to refresh the lease near its end, to renew a lease that ran
/// out (`LICET_LEASE_EXPIRED`), or to ask again about a cached suspension or expiry (at most
/// once a minute), and never within 5 minutes of a failed attempt; a network failure never
/// takes a valid lease away. `LICET_OK` means valid; a 1xxx code is the license's state.
///
/// # Safety
/// `client` from `licet_client_new`; `license_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_check(
    client: *const licet_client,
    license_out: *mut *mut licet_license,
) -> licet_result {
    ffi_boundary!({ run(client, license_out, licet::Client::check) })
}

/// Refreshes the lease online now and learns any verdict (revoked, suspended, …).
///
/// # Safety
/// As `licet_client_check`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_validate(
    client: *const licet_client,
    license_out: *mut *mut licet_license,
) -> licet_result {
    ffi_boundary!({ run(client, license_out, licet::Client::validate) })
}

/// Frees this machine's seat on the server and forgets the local key and lease.
///
/// # Safety
/// `client` from `licet_client_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_deactivate(client: *const licet_client) -> licet_result {
    ffi_boundary!({ run_unit(client, licet::Client::deactivate) })
}

/// Checks the license (like `licet_client_check`) and, when it is valid, writes whether it
/// grants `entitlement` to `*has_out`.
///
/// # Safety
/// `client` from `licet_client_new`; `entitlement` NUL-terminated; `has_out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_has_entitlement(
    client: *const licet_client,
    entitlement: *const c_char,
    has_out: *mut bool,
) -> licet_result {
    ffi_boundary!({
        require_non_null!(has_out);
        // SAFETY: caller guarantees.
        let name = match unsafe { str_arg("entitlement", entitlement) } {
            Ok(n) => n,
            Err(e) => return e,
        };
        let mut has = false;
        let result = run(client, std::ptr::null_mut(), |c| {
            let l = c.check()?;
            has = l.has_entitlement(name);
            Ok(l)
        });
        if result == licet_result::LICET_OK {
            // SAFETY: checked non-NULL above.
            unsafe { *has_out = has };
        }
        result
    })
}

/// Copies this machine's fingerprint into `buf` (NUL-terminated; see `licet_result` for the
/// buffer rules: `LICET_BUFFER_TOO_SMALL` reports the needed length in `*out_len`).
///
/// # Safety
/// `client` from `licet_client_new`; `buf` valid for `len` bytes; `out_len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_fingerprint(
    client: *const licet_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    ffi_boundary!({
        let Some(client) = client_ref(client) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        match client.fingerprint() {
            // SAFETY: caller guarantees.
            Ok(f) => unsafe { write_str(&f, buf, len, out_len) },
            Err(e) => fail(&e),
        }
    })
}

/// Copies the license key this machine was activated with into `buf` (buffer rules as
/// `licet_client_fingerprint`): masked for display (`PHOTO-*****-*****-*****-*****-UJ6VB`)
/// when `masked` is true, in full otherwise. An empty string before activation.
///
/// # Safety
/// As `licet_client_fingerprint`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_license_key(
    client: *const licet_client,
    masked: bool,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    ffi_boundary!({
        let Some(client) = client_ref(client) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        match client.license_key() {
            Ok(key) => {
                let key = key.unwrap_or_default();
                let shown = if masked { licet::mask_key(&key) } else { key };
                // SAFETY: caller guarantees.
                unsafe { write_str(&shown, buf, len, out_len) }
            }
            Err(e) => fail(&e),
        }
    })
}

/// Forgets the local key, lease and cached verdict without contacting the server (a local
/// sign-out). The seat stays taken on the server; `licet_client_deactivate` frees it.
///
/// # Safety
/// `client` from `licet_client_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_forget(client: *const licet_client) -> licet_result {
    ffi_boundary!({ run_unit(client, licet::Client::forget) })
}

/// The license as the stored lease last described it, valid or not, for telling the user
/// what ran out after `licet_client_check` refused (its getters work as usual:
/// `licet_license_offline_valid_until`, `licet_license_expires_at`, …). Grants nothing.
/// On success `*license_out` is a license to free with `licet_license_free`, or NULL when no
/// verified lease is stored.
///
/// # Safety
/// `client` from `licet_client_new`; `license_out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_last_license(
    client: *const licet_client,
    license_out: *mut *mut licet_license,
) -> licet_result {
    ffi_boundary!({
        require_non_null!(license_out);
        let Some(client) = client_ref(client) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        match client.last_license() {
            Ok(found) => {
                let raw = found.map_or(std::ptr::null_mut(), |l| {
                    Box::into_raw(Box::new(License(l))).cast::<licet_license>()
                });
                // SAFETY: checked non-NULL above.
                unsafe { *license_out = raw };
                licet_result::LICET_OK
            }
            Err(e) => fail(&e),
        }
    })
}

/// Copies the machine name this client sends at activation (the
/// `licet_config_set_machine_name` override, or the host name; empty if unknown).
///
/// # Safety
/// As `licet_client_fingerprint`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_machine_name(
    client: *const licet_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    ffi_boundary!({
        let Some(client) = client_ref(client) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        let name = client.machine_name().unwrap_or_default();
        // SAFETY: caller guarantees.
        unsafe { write_str(&name, buf, len, out_len) }
    })
}

/// Copies the platform this client sends at activation (`linux-x86_64`, …).
///
/// # Safety
/// As `licet_client_fingerprint`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_platform(
    client: *const licet_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    ffi_boundary!({
        let Some(client) = client_ref(client) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        // SAFETY: caller guarantees.
        unsafe { write_str(&client.platform(), buf, len, out_len) }
    })
}
